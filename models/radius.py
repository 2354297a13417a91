r"""The optimal Hamming radius of sparse distributed memory, by three criteria.

:func:`optimal_radius` picks the radius that maximises the read signal-to-noise ratio
(:func:`models.intersection.snr_squared`), the memory capacity
(:func:`models.intersection.memory_capacity`), or the critical distance (query noise
tolerated by iterated pattern-based reads, :func:`models.pattern_sdm.critical_distance_sweep`).

It sits above both :mod:`models.intersection` and :mod:`models.pattern_sdm` (the
pattern-based SDM reads with exact intersections), so neither imports the other in a cycle.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from models._checks import check_choice, check_int
from models.intersection_binary import _ball_sizes
from models.pattern_sdm import critical_distance_sweep
from models.sdm_capacity import _memory_capacity_exact, _neuron_count, retrieval_z_score

__all__ = ["CRITERIA", "optimal_radius"]

#: The criteria :func:`optimal_radius` knows.
CRITERIA = ("snr", "memory", "critical_distance")


def _optimal_snr(n: int, m: int, r: Fraction) -> int:
    log_target = -(math.log(2 * m) + math.log(r.numerator) - math.log(r.denominator)) / 3.0
    log_p = np.array([math.log(b) - n * math.log(2.0) for b in _ball_sizes(n)])
    gaps = np.abs(log_p - log_target)
    return int(np.argmin(gaps))  # ties: the smaller radius (first minimum)


def _optimal_memory(n: int, r: Fraction, retrieval_probability: float) -> int:
    z = Fraction(retrieval_z_score(n, retrieval_probability))
    best, best_value = None, None
    for radius, ball in enumerate(_ball_sizes(n)):
        value = _memory_capacity_exact(Fraction(ball, 1 << n), r, z)
        if value > 0 and (best_value is None or value > best_value):
            best, best_value = radius, value
    if best is None:
        raise ValueError(f"neurons: no radius lets even one pattern reach the required "
                         f"signal-to-noise ratio (z = {float(z):.3g}); use more neurons")
    return best


def optimal_radius(n: int, m: int, neurons: int | float | None, criterion: str,
                   **options: Any) -> int:
    r"""The Hamming radius that is optimal for ``m`` stored random patterns.

    Parameters
    ----------
    n
        Address length (bits).
    m
        Number of stored patterns.
    neurons
        Number of random hard locations :math:`r` (``None``: :math:`r = 2^n`).
    criterion
        - ``"snr"``: the radius whose activation probability
          :math:`p = P(\mathrm{Bin}(n, 1/2) \le d)` is nearest in log to
          :math:`p^* = (2 m r)^{-1/3}` (ties: the smaller radius).
        - ``"memory"``: the radius that maximises :math:`m_\max(p)` of
          :func:`models.intersection.memory_capacity` over integer :math:`d` (exact
          rationals; ties: the smaller radius; ``m`` is not used). Option
          ``retrieval_probability`` (default 0.5).
        - ``"critical_distance"``: the radius with the largest critical distance, computed
          numerically by iterated pattern-based reads
          (:func:`models.pattern_sdm.critical_distance_sweep`, which see for the definition
          and the tie-breaking). Options: ``radii`` (default ``0..n//2``), ``trials``,
          ``max_iterations``, ``threshold``, ``seed``, ``sample_neurons``, ``device``.

    Returns
    -------
    int
        The optimal radius.
    """
    n = check_int("n", n, minimum=1)
    m = check_int("m", m, minimum=1)
    r = _neuron_count(n, neurons)
    check_choice("criterion", criterion, CRITERIA)
    allowed = {
        "snr": set(),
        "memory": {"retrieval_probability"},
        "critical_distance": {"radii", "trials", "max_iterations", "threshold", "seed",
                              "sample_neurons", "device", "noise_levels"},
    }[criterion]
    unknown = sorted(set(options) - allowed)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        raise ValueError(f"options: unknown option {unknown[0]!r} for criterion "
                         f"{criterion!r}; known: {known}")
    if criterion == "snr":
        return _optimal_snr(n, m, r)
    if criterion == "memory":
        return _optimal_memory(n, r, options.get("retrieval_probability", 0.5))
    sweep = critical_distance_sweep(n, m, options.pop("radii", None), neurons, **options)
    return sweep.optimal_radius
