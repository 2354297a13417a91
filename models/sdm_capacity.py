r"""Read signal-to-noise ratio and memory capacity of an SDM radius.

:func:`snr_squared` / :func:`memory_capacity` evaluate, with exact rationals, how well a
Hamming radius (activation probability :math:`p`, :mod:`models.intersection_binary`) reads
``m`` stored random patterns; :func:`models.radius.optimal_radius` picks the best radius.
"""

from __future__ import annotations

import math
from fractions import Fraction

from scipy import stats

from models._checks import check_int, check_real
from models.intersection_binary import (
    _ball_sizes,
    _check_n_radius,
    _check_neurons,
    _ratio_to_float,
)

__all__ = [
    "memory_capacity",
    "retrieval_z_score",
    "snr_optimal_probability",
    "snr_squared",
]


# --------------------------------------------------------------------------------------------
# optimal radius
# --------------------------------------------------------------------------------------------

def _neuron_count(n: int, neurons: int | float | None) -> Fraction:
    scale = _check_neurons(neurons)
    return Fraction(1 << n) if scale is None else scale


def snr_optimal_probability(m: int, neurons: int | float) -> float:
    r"""Activation probability that maximises the read signal-to-noise ratio.

    .. math:: p^* = (2 m r)^{-1/3}

    (maximum of :math:`\mathrm{SNR}^2 = (pr)^2 / (pr + m(p^2 r + p^4 r^2))`).
    """
    m = check_int("m", m, minimum=1)
    r = _check_neurons(neurons)
    if r is None:
        raise ValueError("neurons must be a number here, got None")
    return math.exp(-(math.log(2 * m) + math.log(r.numerator) - math.log(r.denominator)) / 3.0)


def snr_squared(n: int, m: int, radius: int, neurons: int | float | None = None) -> float:
    r"""Squared signal-to-noise ratio of a noise-free read with ``m`` stored random patterns.

    .. math:: \mathrm{SNR}^2 = \frac{(pr)^2}{pr + m (p^2 r + p^4 r^2)},
              \quad p = P(\mathrm{Binomial}(n, 1/2) \le d)

    Evaluated with exact rationals (``neurons=None`` means :math:`r = 2^n`).
    """
    n, radius = _check_n_radius(n, radius)
    m = check_int("m", m, minimum=1)
    r = _neuron_count(n, neurons)
    p = Fraction(_ball_sizes(n)[radius], 1 << n)
    pr = p * r
    value = pr * pr / (pr + m * (p * p * r + p ** 4 * r * r))
    return float(value)


def retrieval_z_score(n: int, retrieval_probability: float = 0.5) -> float:
    r"""Per-bit z-score for whole-pattern retrieval with probability :math:`P`.

    .. math:: z = \Phi^{-1}(P^{1/n})

    with :math:`P` = ``retrieval_probability``.
    """
    n = check_int("n", n, minimum=1)
    prob = check_real("retrieval_probability", retrieval_probability, minimum=0.0,
                      maximum=1.0, strict_minimum=True)
    if prob >= 1.0:
        raise ValueError("retrieval_probability must be < 1")
    return float(stats.norm.ppf(prob ** (1.0 / n)))


def _memory_capacity_exact(p: Fraction, r: Fraction, z: Fraction) -> Fraction:
    pr = p * r
    p2r = p * p * r
    return (pr * pr / (z * z) - pr) / (p2r + p2r * p2r)


def memory_capacity(n: int, radius: int, neurons: int | float | None = None, *,
                    retrieval_probability: float = 0.5) -> float:
    r"""Maximum number of stored patterns retrievable with the given probability.

    .. math:: m_\max(p) = \frac{(pr)^2 / z^2 - pr}{p^2 r + (p^2 r)^2},
              \quad z = \Phi^{-1}(P^{1/n}),

    from requiring :math:`\mathrm{SNR} \ge z` (SCIENCE.md §1). Evaluated with exact
    rationals; negative where even one pattern cannot reach the required SNR
    (:math:`pr < z^2`).
    """
    n, radius = _check_n_radius(n, radius)
    r = _neuron_count(n, neurons)
    z = Fraction(retrieval_z_score(n, retrieval_probability))
    p = Fraction(_ball_sizes(n)[radius], 1 << n)
    value = _memory_capacity_exact(p, r, z)
    return _ratio_to_float(value.numerator, value.denominator)
