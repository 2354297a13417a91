r"""The softmax :math:`\beta` fitted to SDM intersection weights (Bricken & Pehlevan 2021).

:func:`fit_beta` / :func:`fit_beta_line` / :func:`fit_beta_continuous` give the
:math:`\beta` for which :math:`\mathrm{softmax}(\beta \cos)` approximates the normalised
intersection weights (exact Hamming balls, :mod:`models.intersection_binary`, or
hyperspherical caps, :mod:`models.intersection_continuous`); :func:`taylor_beta_bound` is the
Taylor lower bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from models._checks import check_choice, check_int
from models.intersection_binary import (
    _check_n_radius,
    _check_neurons,
    hamming_to_cosine,
    log_binary_intersection,
)
from models.intersection_continuous import log_continuous_intersection_from_hamming

__all__ = [
    "BetaFit",
    "fit_beta",
    "fit_beta_continuous",
    "fit_beta_line",
    "taylor_beta_bound",
]


# --------------------------------------------------------------------------------------------
# fitted beta
# --------------------------------------------------------------------------------------------

class BetaFit(NamedTuple):
    r"""A least-squares line :math:`\log E(d_v) \approx \beta \cos(d_v) + b`."""

    beta: float  #: slope :math:`\beta` (the softmax inverse temperature)
    intercept: float  #: :math:`b`; shifts by :math:`\log(r / 2^n)` with the neuron count


_ESTIMATORS = ("ols", "bricken2021")


def _fit_line(x: np.ndarray, y: np.ndarray, estimator: str) -> BetaFit:
    x_mean, y_mean = x.mean(), y.mean()
    dx = x - x_mean
    var = float(np.sum(dx * dx))
    if var == 0.0:
        raise ValueError("fit_range must cover at least two distances")
    slope = float(np.sum(dx * (y - y_mean)) / var)
    if estimator == "bricken2021":
        # np.cov(x, y)[0, 1] / np.var(x): an unbiased (ddof=1) covariance over a biased
        # (ddof=0) variance, i.e. the OLS slope times N / (N - 1).
        slope *= len(x) / (len(x) - 1)
    intercept = float(y_mean - slope * x_mean)
    return BetaFit(slope, intercept)


def _check_fit_range(n: int, fit_range: Sequence[int]) -> tuple[int, int]:
    """``(first, last)`` distances of a user's ``fit_range``, each in ``0..n``."""
    if isinstance(fit_range, str) or len(fit_range) != 2:
        raise ValueError(f"fit_range must be a pair (first, last) of distances, "
                         f"got {fit_range!r}")
    return (check_int("fit_range[0]", fit_range[0], minimum=0, maximum=n),
            check_int("fit_range[1]", fit_range[1], minimum=0, maximum=n))


def _fit_distances(n: int, radius: int, fit_range: Sequence[int] | None) -> np.ndarray:
    if fit_range is None:
        if radius < 2:
            raise ValueError(f"radius must be >= 2 to fit beta over d_v = 0..radius-1 "
                             f"(at least two distances), got {radius}")
        low, high = 0, radius - 1
    else:
        low, high = _check_fit_range(n, fit_range)
    if high - low < 1:
        raise ValueError(f"fit_range must cover at least two distances, got {(low, high)}")
    return np.arange(low, high + 1)


def fit_beta_line(n: int, radius: int, neurons: int | float | None = None, *,
                  geometry: str = "binary", fit_range: Sequence[int] | None = None,
                  estimator: str = "ols") -> BetaFit:
    r"""Least-squares line of :math:`\log E(d_v)` on :math:`\cos(d_v) = 1 - 2 d_v / n`.

    .. math::

        \beta = \frac{\sum_k (x_k - \bar x)(y_k - \bar y)}{\sum_k (x_k - \bar x)^2},
        \quad b = \bar y - \beta \bar x,
        \quad x_k = 1 - \frac{2 k}{n},\ y_k = \log E(k),\ k = 0..d-1,

    so that the normalised intersection weights are approximately
    :math:`\mathrm{softmax}(\beta \cos)`.

    Parameters
    ----------
    n, radius
        Address length and Hamming radius :math:`d` (``radius >= 2`` with the default range).
    neurons
        Number of random hard locations; only adds :math:`\log(r/2^n)` to the intercept
        (``None``: all :math:`2^n` points, intercept of :math:`\log I`).
    geometry
        ``"binary"``: exact Hamming-ball intersections (:func:`log_binary_intersection`);
        ``"continuous"``: hyperspherical caps with :math:`t = 1 - 2d/n`
        (:func:`log_continuous_intersection_from_hamming`, as a fraction of the sphere
        times :math:`r`, or a fraction alone for ``neurons=None``).
    fit_range
        Inclusive ``(first, last)`` distances to fit; default ``(0, radius - 1)``, the range
        of SCIENCE.md and of Bricken & Pehlevan's public code (``dvs = arange(0, radius)``).
    estimator
        ``"ols"`` (default): the ordinary least-squares slope above. ``"bricken2021"``:
        what the public code of Bricken & Pehlevan computes, ``np.cov(x, y)[0][1] /
        np.var(x)``, which mixes ddof=1 and ddof=0 and equals the OLS slope times
        :math:`N/(N-1)` for :math:`N` fitted points (for n=64 it reproduces their published
        :math:`\beta \approx 35.5, 15.9, 10.1` at d = 5, 11, 15).

    Returns
    -------
    BetaFit
        ``(beta, intercept)`` in natural-log units.
    """
    n, radius = _check_n_radius(n, radius)
    check_choice("geometry", geometry, ("binary", "continuous"))
    check_choice("estimator", estimator, _ESTIMATORS)
    scale = _check_neurons(neurons)
    distances = _fit_distances(n, radius, fit_range)
    x = hamming_to_cosine(distances, n)
    if geometry == "binary":
        y = log_binary_intersection(n, radius, distances, neurons)
    else:
        if n < 3:
            raise ValueError(f"n must be >= 3 for geometry='continuous', got {n}")
        y = log_continuous_intersection_from_hamming(n, radius, distances)
        if scale is not None:
            y = y + math.log(scale.numerator) - math.log(scale.denominator)
    if not np.all(np.isfinite(y)):
        raise ValueError(f"fit_range includes distances with an empty intersection "
                         f"(radius {radius}); fit only where the intersection is non-empty")
    return _fit_line(x, y, estimator)


def fit_beta(n: int, radius: int, neurons: int | float | None = None, *,
             fit_range: Sequence[int] | None = None, estimator: str = "ols") -> float:
    r"""The softmax :math:`\beta` fitted to the exact binary SDM intersection.

    Least squares of :math:`\log I(d_v)` on :math:`\cos(d_v) = 1 - 2 d_v/n` over
    :math:`d_v = 0..d-1` (closed form slope = cov/var); see :func:`fit_beta_line` for the
    equations, ``fit_range`` and ``estimator``. ``neurons`` only shifts the intercept, so
    :math:`\beta` does not depend on it (it is accepted for symmetry and checked).

    For n = 64 this gives about 28.4, 14.4 and 9.4 at d = 5, 11, 15 with the default OLS
    estimator, and 35.5, 15.9 and 10.1 (the published values) with
    ``estimator="bricken2021"``.
    """
    return fit_beta_line(n, radius, neurons, fit_range=fit_range, estimator=estimator).beta


def fit_beta_continuous(n: int, radius: int, *, fit_range: Sequence[int] | None = None,
                        estimator: str = "ols") -> float:
    r"""The :math:`\beta` fitted to the continuous (hyperspherical cap) SDM intersection.

    Same estimator as :func:`fit_beta`, with :math:`\log` of the cap-intersection fraction
    (threshold :math:`1 - 2d/n`) in place of :math:`\log I`.
    """
    return fit_beta_line(n, radius, geometry="continuous", fit_range=fit_range,
                         estimator=estimator).beta


def taylor_beta_bound(n: int, radius: int) -> float:
    r"""The Taylor lower bound on the fitted beta, :math:`\beta \ge (n - 2d)^2 / (4n)`."""
    n, radius = _check_n_radius(n, radius)
    return (n - 2 * radius) ** 2 / (4.0 * n)
