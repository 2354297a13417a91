r"""Selected-coordinate SDM (Jaeckel 1989): expected overlaps, effective beta, optimal ``k``.

In the selected-coordinate design each neuron (a granule cell with ``k`` dendritic claws)
samples ``k`` of the ``n`` address bits, with a target value for each, and fires as a
function of how many of them the input matches. This module is the counterpart of
:mod:`models.intersection_binary` (Kanerva's Hamming balls) for that design.

**Matched inputs.** For a cell with ``k`` distinct random coordinates and uniform random
targets, and a key and a query at Hamming distance :math:`d_v`, let :math:`j` be the number
of the cell's coordinates on which key and query differ,
:math:`j \sim \mathrm{Hypergeometric}(n, d_v, k)`. On the :math:`k - j` shared coordinates
both match together (:math:`s \sim \mathrm{Bin}(k - j, 1/2)`); on the :math:`j` differing
ones exactly one of them matches (:math:`b \sim \mathrm{Bin}(j, 1/2)` for the key). The
matched counts are :math:`M_x = s + b` and :math:`M_y = s + j - b`.

**Activation.** A cell fires with probability :math:`g(M)` given :math:`M` matched inputs,
independently in separate presentations: the deterministic threshold of Jaeckel's design,
:math:`g(M) = [M \ge k - t]` with :math:`t` tolerated mismatches
(:func:`threshold_activation`); Golgi k-winners-take-all at a coding level
(:func:`kwta_activation`); unreliable synapses (:func:`release_activation`); or any measured
or derived firing probability (the stochastic regime of asynchronous mossy fibres). Then

.. math::

    h(j) = \sum_{s, b} \binom{k-j}{s} \binom{j}{b} 2^{-k}\, g(s + b)\, g(s + j - b),
    \qquad
    q(d_v) = \sum_{j} \frac{\binom{d_v}{j} \binom{n - d_v}{k - j}}{\binom{n}{k}}\, h(j),

and the expected number of cells active for both key and query among :math:`r` cells is
:math:`E(d_v) = r\, q(d_v)` (:func:`selected_intersection`). For the all-inputs-match rule
(:math:`t = 0`) this is :math:`r\, 2^{-k} \binom{n - d_v}{k} / \binom{n}{k}
\approx r\, 2^{-k} \left(\tfrac{1 + \cos}{2}\right)^k`, so
:math:`\log E \approx k \log\frac{1 + \cos}{2}`: a softmax in the cosine with an effective
:math:`\beta` near :math:`k/2` at small distances (:func:`fit_beta_selected` fits it over
the distances that hold most of the weight).

**Capacity.** With :math:`m` stored random patterns and :math:`d \sim \mathrm{Bin}(n, 1/2)`
the distance of a stored key to an unrelated query, the read signal-to-noise ratio is

.. math::

    \mathrm{SNR}^2 = \frac{(r\, q(0))^2}{r\, q(0) + m\, \mathbb{E}_d\!\left[r\, q(d)
                     + r^2 q(d)^2\right]},

which reduces to Kanerva's :math:`(pr)^2 / (pr + m(p^2 r + p^4 r^2))` when :math:`q(0) = p`
and :math:`q(d)^2` is replaced by its mean squared (:math:`\mathbb{E}_d\, q(d) = p^2` for
any rule). :func:`optimal_inputs` picks the ``k`` that maximises it (or the memory capacity,
the largest :math:`m` with :math:`\mathrm{SNR} \ge z`): the counterpart of
:func:`models.radius.optimal_radius`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
from scipy.stats import binom

from models._checks import check_choice, check_int, check_real
from models.intersection_beta import _ESTIMATORS, _check_fit_range, _fit_line
from models.intersection_binary import (
    _check_distances,
    _check_neurons,
    _ratio_to_float,
    hamming_to_cosine,
)
from models.sdm_capacity import retrieval_z_score

__all__ = [
    "SelectedBetaFit",
    "fit_beta_selected",
    "kwta_activation",
    "log_selected_intersection",
    "optimal_inputs",
    "release_activation",
    "release_for_coding_level",
    "selected_activation_probability",
    "selected_intersection",
    "selected_memory_capacity",
    "selected_snr_squared",
    "selected_weights",
    "threshold_activation",
]

#: The criteria :func:`optimal_inputs` knows.
CRITERIA = ("snr", "memory")


# --------------------------------------------------------------------------------------------
# activation rules
# --------------------------------------------------------------------------------------------

def threshold_activation(k: int, mismatches: int = 0) -> np.ndarray:
    r"""Jaeckel's rule: :math:`g(M) = 1` if :math:`M \ge k - t` matched inputs, else 0.

    Parameters
    ----------
    k
        Inputs (claws) per cell.
    mismatches
        :math:`t`, inputs that may mismatch (0: all ``k`` must match).

    Returns
    -------
    numpy.ndarray
        ``(k + 1,)`` integer firing indicator for :math:`M = 0..k`.
    """
    k = check_int("k", k, minimum=1)
    mismatches = check_int("mismatches", mismatches, minimum=0, maximum=k - 1)
    return (np.arange(k + 1) >= k - mismatches).astype(np.int64)


def kwta_activation(k: int, coding_level: float) -> np.ndarray:
    r"""Golgi k-winners-take-all: the cells with the most matched inputs fire.

    For a random input the matched count is :math:`M \sim \mathrm{Bin}(k, 1/2)`. The rule
    fires every cell above a threshold :math:`\theta` and a fraction of the cells at
    :math:`\theta` (random tie-breaking, independent between presentations) such that the
    expected coding level is exactly ``coding_level``:
    :math:`g(M) = 1` for :math:`M > \theta`,
    :math:`g(\theta) = (f - P(M > \theta)) / P(M = \theta)`, 0 below.

    Parameters
    ----------
    k
        Inputs per cell.
    coding_level
        :math:`f`, the fraction of cells active, in :math:`(0, 1]`.

    Returns
    -------
    numpy.ndarray
        ``(k + 1,)`` firing probabilities for :math:`M = 0..k`.
    """
    k = check_int("k", k, minimum=1)
    level = check_real("coding_level", coding_level, minimum=0.0, maximum=1.0,
                       strict_minimum=True)
    pmf = binom.pmf(np.arange(k + 1), k, 0.5)
    g = np.zeros(k + 1)
    above = 0.0
    for count in range(k, -1, -1):
        if above + pmf[count] >= level:
            g[count] = min(1.0, (level - above) / pmf[count])
            break
        g[count] = 1.0
        above += pmf[count]
    return g


def release_activation(k: int, threshold: int, release_probability: float) -> np.ndarray:
    r"""Unreliable synapses: each matched input transmits with probability :math:`P_{rel}`.

    A cell fires when at least :math:`\theta` of its matched inputs release in the volley,
    independently in each presentation:
    :math:`g(M) = P(\mathrm{Bin}(M, P_{rel}) \ge \theta)`. Mossy fibre -> granule cell
    synapses release with probability about 0.5 (Sargent et al. 2005).

    Parameters
    ----------
    k
        Inputs per cell.
    threshold
        :math:`\theta`, released inputs needed to fire (``1..k``).
    release_probability
        :math:`P_{rel}` in :math:`(0, 1]` (1: Jaeckel's deterministic threshold).

    Returns
    -------
    numpy.ndarray
        ``(k + 1,)`` firing probabilities for :math:`M = 0..k`.
    """
    k = check_int("k", k, minimum=1)
    threshold = check_int("threshold", threshold, minimum=1, maximum=k)
    p = check_real("release_probability", release_probability, minimum=0.0, maximum=1.0,
                   strict_minimum=True)
    return binom.sf(threshold - 1, np.arange(k + 1), p)  # 0 below the threshold


def release_for_coding_level(k: int, coding_level: float) -> tuple[int, float]:
    r"""Mismatches :math:`t` and release probability giving a coding level with ``k`` inputs.

    With unreliable synapses a cell fires when at least :math:`k - t` of its matched inputs
    release, so a random key activates a fraction
    :math:`f = P(\mathrm{Bin}(k, P_{rel}/2) \ge k - t)` of the cells. The smallest
    :math:`t` that reaches ``coding_level`` with :math:`P_{rel} \le 1` is taken (the most
    selective rule), and :math:`P_{rel}` solved for (bisection, to 1e-12).

    Returns
    -------
    tuple
        ``(mismatches, release_probability)``.
    """
    k = check_int("k", k, minimum=1)
    level = check_real("coding_level", coding_level, minimum=0.0, maximum=1.0,
                       strict_minimum=True)

    def fraction(t: int, p: float) -> float:  # each input matched (1/2) and released (p)
        return float(binom.sf(k - t - 1, k, p / 2))

    for t in range(k):
        if fraction(t, 1.0) >= level:
            low, high = 0.0, 1.0
            while high - low > 1e-12:
                middle = (low + high) / 2
                low, high = (middle, high) if fraction(t, middle) < level else (low, middle)
            return t, high
    raise ValueError(f"coding_level {level:g} is above what {k} inputs can give with one "
                     f"matched input enough ({fraction(k - 1, 1.0):.4g})")


def _activation(k: Any, mismatches: Any, activation: Any) -> tuple[int, np.ndarray]:
    """``(k, g)``: the rule from ``mismatches`` or an explicit ``activation`` array."""
    k = check_int("k", k, minimum=1)
    if activation is None:
        return k, threshold_activation(k, mismatches)
    if mismatches not in (0, None):
        raise ValueError("give either mismatches or activation, not both")
    g = np.asarray(activation)
    if g.shape != (k + 1,):
        raise ValueError(f"activation must hold k + 1 = {k + 1} firing probabilities "
                         f"(M = 0..k matched inputs), got shape {g.shape}")
    if not np.issubdtype(g.dtype, np.number) or np.issubdtype(g.dtype, np.complexfloating):
        raise ValueError(f"activation must be real numbers, got dtype {g.dtype}")
    if not np.all(np.isfinite(g)) or np.any(g < 0) or np.any(g > 1):
        raise ValueError("activation must hold probabilities in [0, 1]")
    if not np.any(g > 0):
        raise ValueError("activation is zero for every matched count: no cell ever fires")
    if np.issubdtype(g.dtype, np.integer) or np.all(g == np.round(g)):
        return k, g.astype(np.int64)
    return k, g.astype(float)


def selected_activation_probability(k: int, mismatches: int = 0, *,
                                    activation: Any = None) -> float:
    r"""Coding level :math:`p = \sum_M g(M) \binom{k}{M} 2^{-k}` of a random input.

    Parameters
    ----------
    k, mismatches
        Inputs per cell and tolerated mismatches (Jaeckel's threshold rule).
    activation
        Firing probability per matched count, ``(k + 1,)``, instead of the threshold rule.
    """
    k, g = _activation(k, mismatches, activation)
    weights = [math.comb(k, i) for i in range(k + 1)]
    if g.dtype == np.int64:
        return float(Fraction(sum(int(gi) * w for gi, w in zip(g, weights, strict=True)),
                              1 << k))
    return float(np.dot(g, weights) / 2.0 ** k)


# --------------------------------------------------------------------------------------------
# expected overlaps
# --------------------------------------------------------------------------------------------

def _overlap_given_differing(k: int, g: np.ndarray) -> list:
    r""":math:`2^k h(j)` for :math:`j = 0..k` (exact integers for a 0/1 rule)."""
    exact = g.dtype == np.int64
    values = []
    for j in range(k + 1):
        total = 0 if exact else 0.0
        for s in range(k - j + 1):
            ways_s = math.comb(k - j, s)
            for b in range(j + 1):
                term = g[s + b] * g[s + j - b]
                if term:
                    total += ways_s * math.comb(j, b) * (int(term) if exact else float(term))
        values.append(total)
    return values


def _hypergeometric_numerators(n: int, k: int, distance: int) -> list[int]:
    r"""Hypergeometric numerators :math:`\binom{d}{j}\binom{n-d}{k-j}`, :math:`j = 0..k`.

    The denominator is :math:`\binom{n}{k}`.
    """
    return [math.comb(distance, j) * math.comb(n - distance, k - j) for j in range(k + 1)]


def _check_n_k(n: Any, k: Any) -> tuple[int, int]:
    n = check_int("n", n, minimum=1)
    k = check_int("k", k, minimum=1)
    if k > n:
        raise ValueError(f"k (inputs per cell, {k}) must be <= n (address bits, {n})")
    return n, k


def _overlaps(n: int, k: int, g: np.ndarray, distances: np.ndarray, *, log: bool,
              scale: Fraction | None) -> np.ndarray:
    """``q(d)`` or ``log q(d)`` (times ``scale`` when given) for each distance."""
    h = _overlap_given_differing(k, g)
    exact = g.dtype == np.int64
    denominator = math.comb(n, k) << k
    out = np.empty(len(distances))
    for index, d in enumerate(distances):
        numerators = _hypergeometric_numerators(n, k, int(d))
        if exact:
            total = sum(a * b for a, b in zip(numerators, h, strict=True))
            if total == 0:
                out[index] = -math.inf if log else 0.0
                continue
            value = Fraction(total, denominator) * (scale if scale is not None else 1)
            out[index] = (math.log(value.numerator) - math.log(value.denominator) if log
                          else _ratio_to_float(value.numerator, value.denominator))
        else:
            total = sum((a / math.comb(n, k)) * b for a, b in zip(numerators, h, strict=True))
            total /= 2.0 ** k
            if scale is not None:
                total *= float(scale)
            out[index] = (math.log(total) if total > 0 else -math.inf) if log else total
    return out


def selected_intersection(n: int, k: int, distance: Any, neurons: int | float | None = None,
                          *, mismatches: int = 0, activation: Any = None) -> Any:
    r"""Expected number of selected-coordinate cells active for both a key and a query.

    .. math:: E(d_v) = r\, q(d_v) = r \sum_j
              \frac{\binom{d_v}{j}\binom{n-d_v}{k-j}}{\binom{n}{k}}\, h(j)

    (module docstring). Exact rational arithmetic for a 0/1 rule (Jaeckel's threshold).

    Parameters
    ----------
    n
        Address length (bits).
    k
        Inputs (claws) per cell, ``1 <= k <= n``.
    distance
        Key-query Hamming distance(s) :math:`d_v` in ``0..n`` (int or array).
    neurons
        Number of cells :math:`r`; ``None`` gives the probability :math:`q(d_v)` that one
        random cell is active for both.
    mismatches
        Tolerated mismatches :math:`t` of the threshold rule.
    activation
        Firing probability per matched count, ``(k + 1,)``, instead of the threshold rule
        (:func:`kwta_activation`, or a stochastic regime's measured rule).

    Returns
    -------
    float or numpy.ndarray
        :math:`E(d_v)`, shaped like ``distance``.
    """
    return _intersection(n, k, distance, neurons, mismatches, activation, log=False)


def log_selected_intersection(n: int, k: int, distance: Any,
                              neurons: int | float | None = None, *, mismatches: int = 0,
                              activation: Any = None) -> Any:
    """Natural log of :func:`selected_intersection` (``-inf`` where it is 0).

    Exact integers for the threshold rule: it never underflows.
    """
    return _intersection(n, k, distance, neurons, mismatches, activation, log=True)


def _intersection(n: Any, k: Any, distance: Any, neurons: Any, mismatches: Any,
                  activation: Any, *, log: bool) -> Any:
    """Checked arguments, then :func:`_overlaps` shaped like ``distance``."""
    n, k = _check_n_k(n, k)
    k, g = _activation(k, mismatches, activation)
    scale = _check_neurons(neurons)
    distances, scalar = _check_distances("distance", distance, n)
    out = _overlaps(n, k, g, distances.ravel(), log=log, scale=scale)
    return float(out[0]) if scalar else out.reshape(distances.shape)


def selected_weights(n: int, k: int, *, mismatches: int = 0,
                     activation: Any = None) -> np.ndarray:
    r"""Normalised read weights :math:`w(d_v) = q(d_v) / \sum_{d'=0}^{n} q(d')`, ``(n + 1,)``.

    The weight a stored pattern at distance :math:`d_v` from the query receives, relative to
    the other distances (the selected-design counterpart of the normalised intersection
    weights compared with :math:`\mathrm{softmax}(\beta\cos)`).
    """
    n, k = _check_n_k(n, k)
    log_q = log_selected_intersection(n, k, np.arange(n + 1), mismatches=mismatches,
                                      activation=activation)
    weights = np.exp(log_q - np.max(log_q))
    return weights / weights.sum()


# --------------------------------------------------------------------------------------------
# effective beta
# --------------------------------------------------------------------------------------------

class SelectedBetaFit(NamedTuple):
    r"""Line :math:`\log E(d_v) \approx \beta \cos(d_v) + b` over :math:`d_v = 0..D`."""

    beta: float  #: slope :math:`\beta` (the softmax inverse temperature)
    intercept: float  #: :math:`b` (natural log; shifts by :math:`\log r`)
    r_squared: float  #: coefficient of determination of the line over the fitted distances
    last_distance: int  #: :math:`D`, the last fitted distance


def weight_mass_distance(weights: np.ndarray, weight_mass: float) -> int:
    r"""Smallest :math:`D` with :math:`\sum_{d \le D} w(d) \ge` ``weight_mass``."""
    mass = check_real("weight_mass", weight_mass, minimum=0.0, maximum=1.0,
                      strict_minimum=True)
    cumulative = np.cumsum(weights)
    return int(min(np.searchsorted(cumulative, mass * cumulative[-1] * (1 - 1e-12)),
                   len(weights) - 1))


def fit_beta_selected(n: int, k: int, *, mismatches: int = 0, activation: Any = None,
                      weight_mass: float = 0.99, fit_range: Sequence[int] | None = None,
                      estimator: str = "ols") -> SelectedBetaFit:
    r"""The softmax :math:`\beta` fitted to the selected-coordinate overlaps.

    Least squares of :math:`\log q(d_v)` on :math:`\cos(d_v) = 1 - 2 d_v / n` (as
    :func:`models.intersection_beta.fit_beta_line`), over :math:`d_v = 0..D`, the distances
    that hold ``weight_mass`` of the normalised weights (:func:`selected_weights`), or over
    ``fit_range``.

    Parameters
    ----------
    n, k, mismatches, activation
        The design and the activation rule (see :func:`selected_intersection`).
    weight_mass
        Fraction of the weight whose distances are fitted (default 0.99).
    fit_range
        Inclusive ``(first, last)`` distances instead of the weight-mass range.
    estimator
        ``"ols"`` or ``"bricken2021"`` (see :func:`models.intersection_beta.fit_beta_line`).

    Returns
    -------
    SelectedBetaFit
        ``(beta, intercept, r_squared, last_distance)``.
    """
    n, k = _check_n_k(n, k)
    check_choice("estimator", estimator, _ESTIMATORS)
    log_q = log_selected_intersection(n, k, np.arange(n + 1), mismatches=mismatches,
                                      activation=activation)
    if fit_range is None:
        weights = np.exp(log_q - np.max(log_q))
        first, last = 0, weight_mass_distance(weights / weights.sum(), weight_mass)
    else:
        first, last = _check_fit_range(n, fit_range)
    if last - first < 1:
        raise ValueError(f"the fit needs at least two distances, got {first}..{last} "
                         f"(the weight is concentrated at d = 0: raise weight_mass or give "
                         f"fit_range)")
    distances = np.arange(first, last + 1)
    y = log_q[distances]
    if not np.all(np.isfinite(y)):
        raise ValueError(f"distances {first}..{last} include some where no cell is active "
                         f"for both key and query; fit a shorter range")
    x = hamming_to_cosine(distances, n)
    fit = _fit_line(x, y, estimator)
    residual = y - (fit.beta * x + fit.intercept)
    total = float(np.sum((y - y.mean()) ** 2))
    r_squared = 1.0 - float(np.sum(residual ** 2)) / total if total > 0 else 1.0
    return SelectedBetaFit(fit.beta, fit.intercept, r_squared, last)


# --------------------------------------------------------------------------------------------
# capacity and the optimal number of inputs
# --------------------------------------------------------------------------------------------

def _crosstalk_moments(n: int, k: int, g: np.ndarray) -> tuple[float, float, float]:
    r"""Moments :math:`q(0)`, :math:`\mathbb{E}_d q(d)`, :math:`\mathbb{E}_d q(d)^2`.

    Over :math:`d \sim \mathrm{Bin}(n, 1/2)`, the distance of an unrelated stored key.
    """
    distances = np.arange(n + 1)
    log_q = _overlaps(n, k, g, distances, log=True, scale=None)
    log_binomial = np.array([math.lgamma(n + 1) - math.lgamma(d + 1) - math.lgamma(n - d + 1)
                             for d in distances]) - n * math.log(2.0)
    q = np.exp(log_q)
    mean = float(np.sum(np.exp(log_binomial + log_q)))
    mean_square = float(np.sum(np.exp(log_binomial + 2 * log_q)))
    return float(q[0]), mean, mean_square


def _neuron_number(neurons: Any) -> float:
    scale = _check_neurons(neurons)
    if scale is None:
        raise ValueError("neurons must be a number here (the count of cells), got None")
    return float(scale)


def selected_snr_squared(n: int, m: int, k: int, neurons: int | float, *,
                         mismatches: int = 0, activation: Any = None) -> float:
    r"""Squared read signal-to-noise ratio of the selected design with ``m`` stored patterns.

    .. math:: \mathrm{SNR}^2 = \frac{(r q_0)^2}{r q_0 + m (r\,\mathbb{E} q
              + r^2\,\mathbb{E} q^2)}

    (module docstring), with the moments over :math:`d \sim \mathrm{Bin}(n, 1/2)` exact.
    """
    n, k = _check_n_k(n, k)
    m = check_int("m", m, minimum=1)
    r = _neuron_number(neurons)
    k, g = _activation(k, mismatches, activation)
    q0, mean, mean_square = _crosstalk_moments(n, k, g)
    signal = r * q0
    return signal * signal / (signal + m * (r * mean + r * r * mean_square))


def selected_memory_capacity(n: int, k: int, neurons: int | float, *, mismatches: int = 0,
                             activation: Any = None,
                             retrieval_probability: float = 0.5) -> float:
    r"""Largest number of stored patterns read back with the given probability.

    .. math:: m_\max = \frac{(r q_0)^2 / z^2 - r q_0}{r\,\mathbb{E} q + r^2\,\mathbb{E} q^2},
              \quad z = \Phi^{-1}(P^{1/n})

    (requiring :math:`\mathrm{SNR} \ge z`, as :func:`models.sdm_capacity.memory_capacity`);
    negative where even one pattern cannot reach it.
    """
    n, k = _check_n_k(n, k)
    r = _neuron_number(neurons)
    k, g = _activation(k, mismatches, activation)
    z = retrieval_z_score(n, retrieval_probability)
    q0, mean, mean_square = _crosstalk_moments(n, k, g)
    signal = r * q0
    return (signal * signal / (z * z) - signal) / (r * mean + r * r * mean_square)


def optimal_inputs(n: int, m: int, neurons: int | float, criterion: str = "snr", *,
                   mismatches: int = 0, max_inputs: int | None = None,
                   retrieval_probability: float = 0.5) -> int:
    r"""The number of inputs per cell ``k`` that is best for ``m`` stored random patterns.

    The selected-coordinate counterpart of :func:`models.radius.optimal_radius`: ``k`` sets
    the coding level (:math:`p = 2^{-k}` for the all-match rule) as the radius does for
    Kanerva's design.

    Parameters
    ----------
    n, m
        Address length and number of stored patterns.
    neurons
        Number of cells :math:`r`.
    criterion
        ``"snr"``: the ``k`` that maximises :func:`selected_snr_squared`; ``"memory"``:
        the ``k`` that maximises :func:`selected_memory_capacity` (``m`` unused). Ties go to
        the smaller ``k``.
    mismatches
        Tolerated mismatches :math:`t` (``k`` starts at ``t + 1``).
    max_inputs
        Largest ``k`` tried (default: ``n``, and never beyond the ``k`` at which fewer than
        one cell is expected to fire, :math:`r p < 1`).
    retrieval_probability
        Whole-pattern retrieval probability of the memory criterion.

    Returns
    -------
    int
        The optimal ``k``.
    """
    n = check_int("n", n, minimum=1)
    m = check_int("m", m, minimum=1)
    r = _neuron_number(neurons)
    check_choice("criterion", criterion, CRITERIA)
    mismatches = check_int("mismatches", mismatches, minimum=0)
    high = n if max_inputs is None else check_int("max_inputs", max_inputs, minimum=1,
                                                  maximum=n)
    best, best_value = None, None
    for k in range(mismatches + 1, high + 1):
        if r * selected_activation_probability(k, mismatches) < 1:
            break
        if criterion == "snr":
            value = selected_snr_squared(n, m, k, r, mismatches=mismatches)
        else:
            value = selected_memory_capacity(n, k, r, mismatches=mismatches,
                                             retrieval_probability=retrieval_probability)
        if best_value is None or value > best_value:
            best, best_value = k, value
    if best is None or (criterion == "memory" and best_value <= 0):
        raise ValueError(f"neurons: no k in {mismatches + 1}..{high} gives a usable memory "
                         f"with {r:g} cells; use more cells")
    return best
