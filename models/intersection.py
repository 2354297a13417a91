r"""Exact Hamming-ball and hyperspherical-cap intersections, the fitted softmax beta.

Sparse distributed memory (Kanerva 1988) reads a stored pattern with a weight equal to the
number of hard locations (neurons) that lie within Hamming radius :math:`d` of both the
pattern's key and the query. For neurons at random addresses the expected weight is

.. math:: E(d_v) = \frac{r}{2^n} \, I(n, d, d_v),

where :math:`I` counts the points of :math:`\{0,1\}^n` in the intersection of two Hamming
balls of radius :math:`d` whose centres are :math:`d_v` apart. This module computes

- :func:`binary_intersection` / :func:`log_binary_intersection`: :math:`I` exactly with
  Python integers (Kanerva's "ball minus lune" form, appendix B), vectorised over
  :math:`d_v`, exact for any ``n`` (checked to 4096 bits), and its natural logarithm;
- :func:`continuous_intersection` / :func:`log_continuous_intersection`: the continuous
  analogue, the overlap of two hyperspherical caps on :math:`S^{n-1}` (Lee & Kim 2014);
- :func:`fit_beta` / :func:`fit_beta_line` / :func:`fit_beta_continuous`: the
  :math:`\beta` for which :math:`\mathrm{softmax}(\beta \cos)` approximates the normalised
  intersection weights (Bricken & Pehlevan 2021), and the Taylor lower bound
  :func:`taylor_beta_bound`;
- :func:`snr_squared` / :func:`memory_capacity`: the read signal-to-noise ratio and the
  memory capacity of a radius (:func:`models.radius.optimal_radius` picks the best radius).

Hamming distance and cosine similarity of the corresponding bipolar, L2-normalised vectors
are related by :math:`\cos = 1 - 2 d_v / n` (:func:`hamming_to_cosine`).

This module gathers the public names of the modules that implement them (import from either):
:mod:`models.intersection_binary` (Hamming balls, :func:`hamming_to_cosine`),
:mod:`models.intersection_continuous` (hyperspherical caps), :mod:`models.intersection_beta`
(fitted beta) and :mod:`models.sdm_capacity` (SNR, memory capacity).
"""

from __future__ import annotations

from models.intersection_beta import (
    BetaFit,
    fit_beta,
    fit_beta_continuous,
    fit_beta_line,
    taylor_beta_bound,
)
from models.intersection_binary import (
    activation_probability,
    ball_size,
    binary_intersection,
    hamming_to_cosine,
    log_activation_probability,
    log_binary_intersection,
)
from models.intersection_continuous import (
    cap_fraction,
    continuous_intersection,
    continuous_intersection_from_hamming,
    log_cap_fraction,
    log_continuous_intersection,
    log_continuous_intersection_from_hamming,
)
from models.sdm_capacity import (
    memory_capacity,
    retrieval_z_score,
    snr_optimal_probability,
    snr_squared,
)

__all__ = [
    "BetaFit",
    "activation_probability",
    "ball_size",
    "binary_intersection",
    "cap_fraction",
    "continuous_intersection",
    "continuous_intersection_from_hamming",
    "fit_beta",
    "fit_beta_continuous",
    "fit_beta_line",
    "hamming_to_cosine",
    "log_activation_probability",
    "log_binary_intersection",
    "log_cap_fraction",
    "log_continuous_intersection",
    "log_continuous_intersection_from_hamming",
    "memory_capacity",
    "retrieval_z_score",
    "snr_optimal_probability",
    "snr_squared",
    "taylor_beta_bound",
]
