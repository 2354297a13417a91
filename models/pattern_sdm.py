r"""Pattern-based sparse distributed memory: reads weighted by exact ball intersections.

In Kanerva's SDM a read sums the counters of every hard location within Hamming radius
:math:`d` of the query. Because each location's counters hold the sum of the (bipolar)
values written to it, the read equals a weighted vote over the stored patterns,

.. math::

    \hat v_i = \mathbb{1}\Big[\sum_{\mu=1}^{m} w_\mu \, (2 v_{\mu i} - 1) > 0\Big],
    \qquad w_\mu = \frac{r}{2^n} I\big(n, d, d_H(\xi, k_\mu)\big),

where :math:`I` is the number of points in the intersection of the radius-:math:`d` balls
around the query :math:`\xi` and the key :math:`k_\mu` (:func:`models.intersection.
binary_intersection`). This module implements that "pattern-based" read with the *expected*
weights (the limit of many random hard locations, or the average over their placement),
batched in torch, and the numerical critical distance of iterated autoassociative reads.

Ties (a sum of exactly zero, including a query whose radius-:math:`d` ball meets no key's
ball) give a 0 bit. The vote uses the exact integer counts when its partial sums fit the
float mantissa (then ties are exact), else weights relative to :math:`I(0)`, else the
softmax of :math:`\log I`, so nothing overflows for any ``n``; positive rescaling does
not change the sign of any sum (see :class:`PatternSDM`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from models._checks import (
    check_batch,
    check_binary,
    check_bool,
    check_int,
    check_probability,
)
from models.intersection_binary import (
    _check_neurons,
    binary_intersection,
    log_binary_intersection,
)
from models.patterns import flip_exact, random_binary
from models.seeding import SeedLike, child_seed, torch_generator

__all__ = [
    "CriticalDistanceCurve",
    "CriticalDistanceSweep",
    "PatternSDM",
    "critical_distance",
    "critical_distance_curve",
    "critical_distance_sweep",
    "log_intersection_table",
    "pattern_read",
    "pattern_weights",
]

#: Above this expected count a Poisson draw is replaced by its normal approximation
#: (torch.poisson overflows int64 near 1e19; the relative error of the approximation there
#: is far below float64 resolution of the count's spread).
_POISSON_NORMAL_ABOVE = 1e12


def log_intersection_table(n: int, radius: int, neurons: int | float | None = None, *,
                           device: torch.device | str = "cpu",
                           dtype: torch.dtype = torch.float64) -> torch.Tensor:
    r"""Log expected intersection :math:`\log E(d_v)` for :math:`d_v = 0..n` as a tensor.

    .. math:: \log E(d_v) = \log I(n, d, d_v) + \log r - n \log 2

    Shape ``(n + 1,)``; ``-inf`` where the balls do not meet (:math:`d_v > 2d`).
    """
    logs = log_binary_intersection(n, radius, np.arange(n + 1), neurons)
    return torch.as_tensor(logs, dtype=dtype, device=device)


def _bipolar32(bits: torch.Tensor) -> torch.Tensor:
    """Binary ``(..., n)`` -> bipolar float32 (integer dot products exact below 2**24 bits)."""
    work = torch.float32 if bits.shape[-1] < 2 ** 24 else torch.float64
    return bits.to(work) * 2 - 1


def _dot_indices(queries: torch.Tensor, keys_bipolar: torch.Tensor) -> torch.Tensor:
    r"""``(B, n)`` binary x ``(m, n)`` bipolar -> ``(B, m)`` int64 indices.

    The indices are :math:`s_\xi \cdot s_k + n`.

    The Hamming distance is :math:`d_H = (n - s_\xi \cdot s_k) / 2`; tables indexed by
    ``dot + n`` (see :func:`_by_dot`) skip that arithmetic on the ``(B, m)`` matrix.
    """
    n = queries.shape[-1]
    dots = _bipolar32(queries).to(keys_bipolar.dtype) @ keys_bipolar.T  # (B, m), exact ints
    return (dots + n).to(torch.int64)


def _by_dot(table: torch.Tensor, fill: float) -> torch.Tensor:
    """Re-index a per-distance table ``(n + 1,)`` by ``dot + n`` ``(2n + 1,)``."""
    n = table.shape[0] - 1
    out = torch.full((2 * n + 1,), fill, dtype=table.dtype, device=table.device)
    # dot = n - 2 d  ->  index = 2n - 2d
    out[2 * n - 2 * torch.arange(n + 1, device=table.device)] = table
    return out


def _gather(table: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    return table.index_select(0, indices.reshape(-1)).reshape(indices.shape)


def _normalise_log_weights(logits: torch.Tensor) -> torch.Tensor:
    """Row-wise softmax of log weights; rows that are all ``-inf`` give all zeros."""
    row_max = logits.max(dim=-1, keepdim=True).values  # (B, 1)
    empty = torch.isneginf(row_max)
    has_empty = bool(empty.any())
    if has_empty:
        row_max = torch.where(empty, torch.zeros_like(row_max), row_max)
    weights = torch.exp(logits - row_max)
    total = weights.sum(dim=-1, keepdim=True)
    if has_empty:
        total = torch.where(empty, torch.ones_like(total), total)
    return weights / total


def _sample_counts(log_expected: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Poisson counts with the given log means (normal approximation above 1e12), as logs."""
    rates = torch.exp(log_expected)
    small = rates <= _POISSON_NORMAL_ABOVE
    counts = torch.empty_like(rates)
    if bool(small.any()):
        counts[small] = torch.poisson(rates[small], generator=generator)
    if bool((~small).any()):
        big = rates[~small]
        noise = torch.randn(big.shape, generator=generator, dtype=big.dtype,
                            device=big.device)
        counts[~small] = torch.round(big + big.sqrt() * noise)
    return torch.log(counts)


def _sampling_generator(generator: torch.Generator | SeedLike, device: torch.device
                        ) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    return torch_generator(generator, "pattern_sdm", "poisson", device=device)


class PatternSDM(torch.nn.Module):
    r"""Pattern-based SDM over stored (key, value) pairs with exact intersection weights.

    Parameters
    ----------
    keys
        ``(m, n)`` binary pattern addresses :math:`k_\mu` (``p_a`` in Bricken & Pehlevan).
    values
        ``(m, v)`` binary pattern values :math:`v_\mu` (``p_v``); ``values = keys`` for an
        autoassociative memory.
    radius
        Hamming radius :math:`d` of the read and write balls, ``0 <= radius <= n``.
    neurons
        Number of random hard locations :math:`r` (``None``: all :math:`2^n` addresses).
        With expected weights it only scales every weight by :math:`r/2^n`, which cancels;
        it matters when ``sample_neurons=True``.
    sample_neurons
        If true, each weight is a Poisson count with mean :math:`r I / 2^n`, drawn
        independently for every (query, pattern) pair and every read, mimicking random hard
        locations (independence across patterns is an approximation: real locations are
        shared). Means above 1e12 use the normal approximation.
    device, dtype
        Where the memory lives and the floating dtype of the weights (float64 by default).

    Notes
    -----
    Precision of the vote :math:`\sum_\mu w_\mu (2 v_\mu - 1)`: when
    :math:`m \, I(n, d, 0)` is below :math:`2^{53}` (float64; :math:`2^{24}` for float32),
    reads use the integer intersection counts themselves, so every sum is exact and ties
    are exact zeros. Otherwise they use weights relative to :math:`I(0)` (or, when those
    would underflow, the softmax of :math:`\log I`), with float rounding in near-ties.
    Without ``sample_neurons``, iterated reads stop early for a row that reaches a fixed
    point or a 2-cycle, returning exactly the state that ``iterations`` reads would give.

    Examples
    --------
    >>> keys = random_binary(100, 64, seed=0)                        # doctest: +SKIP
    >>> sdm = PatternSDM(keys, keys, radius=11)                      # doctest: +SKIP
    >>> sdm.read(flip_exact(keys[:5], 8, seed=1), iterations=5)      # doctest: +SKIP
    """

    keys: torch.Tensor
    values: torch.Tensor
    log_table: torch.Tensor

    def __init__(self, keys: Any, values: Any, radius: int,
                 neurons: int | float | None = None, *, sample_neurons: bool = False,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        keys = check_binary("keys", keys)
        values = check_binary("values", values)
        if keys.dim() != 2:
            raise ValueError(f"keys must be a (m, n) matrix, got shape {tuple(keys.shape)}")
        if values.dim() != 2:
            raise ValueError(f"values must be a (m, v) matrix, got shape "
                             f"{tuple(values.shape)}")
        m, n = keys.shape
        if m < 1 or n < 1:
            raise ValueError(f"keys must hold at least one pattern of at least one bit, "
                             f"got shape {tuple(keys.shape)}")
        if values.shape[0] != m:
            raise ValueError(f"values must have one row per key ({m}), got shape "
                             f"{tuple(values.shape)}")
        if values.shape[1] < 1:
            raise ValueError("values must have at least one column")
        self.n = int(n)
        self.m = int(m)
        self.radius = check_int("radius", radius, minimum=0, maximum=self.n)
        _check_neurons(neurons)
        self.neurons = neurons
        self.sample_neurons = check_bool("sample_neurons", sample_neurons)
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(f"dtype must be a floating torch dtype, got {dtype!r}")
        device = torch.device(device) if device is not None else keys.device
        self.register_buffer("keys", keys.to(device=device, dtype=torch.uint8))
        self.register_buffer("keys_bipolar", _bipolar32(self.keys))  # (m, n)
        self.register_buffer("values", values.to(device=device, dtype=torch.uint8))
        self.register_buffer("log_table", log_intersection_table(
            self.n, self.radius, neurons, device=device, dtype=dtype))  # (n + 1,)
        self.register_buffer("_log_by_dot", _by_dot(self.log_table, -math.inf))
        # Bipolar values (2 v - 1) as the read's vote matrix, (m, v).
        self.register_buffer("votes", values.to(device=device, dtype=dtype) * 2 - 1)
        # Linear weights for reads (the vote's sign ignores positive scaling): exact integer
        # counts I(d_v) when every partial sum is an exactly representable integer, else
        # weights relative to I(0) (the largest) when none of them underflows.
        counts = binary_intersection(self.n, self.radius, np.arange(self.n + 1))
        exact_limit = round(2.0 / torch.finfo(dtype).eps)  # 2**53 for float64
        linear: torch.Tensor | None
        if counts[0] * self.m < exact_limit:
            linear = torch.tensor([float(c) for c in counts], dtype=dtype, device=device)
        else:
            relative = torch.exp(self.log_table - self.log_table[0])
            finite = torch.isfinite(self.log_table)
            smallest = torch.finfo(dtype).tiny * 1e10
            linear = relative if bool((relative[finite] > smallest).all()) else None
        self._linear = linear is not None
        self.register_buffer("_weight_by_dot", _by_dot(linear, 0.0) if linear is not None
                             else torch.zeros(0, dtype=dtype, device=device))

    @property
    def value_length(self) -> int:
        """Length of the stored values (bits)."""
        return int(self.values.shape[1])

    def _check_queries(self, queries: Any) -> tuple[torch.Tensor, bool]:
        return check_batch("queries", queries, kind="binary", length=self.n,
                           what="the key length n", device=self.keys.device,
                           dtype=torch.uint8)

    def _log_weights(self, indices: torch.Tensor,
                     generator: torch.Generator | None) -> torch.Tensor:
        log_expected = _gather(self._log_by_dot, indices)  # (B, m)
        if self.sample_neurons:
            return _sample_counts(log_expected, generator)
        return log_expected

    def weights(self, queries: Any, *, generator: torch.Generator | SeedLike = None
                ) -> torch.Tensor:
        r"""Normalised read weights :math:`w_\mu / \sum_\nu w_\nu`, shape ``(batch, m)``.

        Computed as a softmax of :math:`\log E(d_H(\xi, k_\mu))`, so nothing overflows.
        A query whose ball meets no key's ball gets an all-zero row. ``generator`` (a seed or
        a torch Generator on the memory's device) drives ``sample_neurons``.
        """
        queries, squeeze = self._check_queries(queries)
        gen = (_sampling_generator(generator, self.keys.device) if self.sample_neurons
               else None)
        indices = _dot_indices(queries, self.keys_bipolar)  # (B, m)
        out = _normalise_log_weights(self._log_weights(indices, gen))
        return out[0] if squeeze else out

    def _read_indices(self, indices: torch.Tensor, gen: torch.Generator | None
                      ) -> torch.Tensor:
        """One read from precomputed ``dot + n`` indices ``(B, m)`` -> ``(B, v)`` uint8."""
        if self._linear and not self.sample_neurons:
            weights = _gather(self._weight_by_dot, indices)  # (B, m), unnormalised
        else:
            weights = _normalise_log_weights(self._log_weights(indices, gen))  # (B, m)
        sums = weights @ self.votes  # (B, v)
        return (sums > 0).to(torch.uint8)

    def _iterate(self, queries: torch.Tensor, iterations: int,
                 gen: torch.Generator | None,
                 first_indices: torch.Tensor | None = None) -> torch.Tensor:
        """``iterations`` reads of uint8 ``queries`` (B, n); see :meth:`read`."""
        if first_indices is None:
            first_indices = _dot_indices(queries, self.keys_bipolar)
        current = self._read_indices(first_indices, gen)  # x_1
        final = current.clone()
        if iterations == 1:
            return final
        rows = torch.arange(current.shape[0], device=current.device)
        previous = queries  # x_{t-1} is `current`, x_{t-2} is `previous`
        if not self.sample_neurons:
            moving = (current != previous).any(dim=1)  # x_1 == x_0: a fixed point
            rows, previous, current = rows[moving], previous[moving], current[moving]
        for step in range(2, iterations + 1):
            if rows.numel() == 0:
                break
            new = self._read_indices(_dot_indices(current, self.keys_bipolar), gen)  # x_t
            final[rows] = new
            if self.sample_neurons:
                previous, current = current, new
                continue
            fixed = (new == current).all(dim=1)
            cycle = (new == previous).all(dim=1) & ~fixed
            if (iterations - step) % 2 == 1 and bool(cycle.any()):
                # x_t == x_{t-2}: the row alternates, so x_T = x_{t-1} for odd T - t.
                final[rows[cycle]] = current[cycle]
            keep = ~(fixed | cycle)
            rows, previous, current = rows[keep], current[keep], new[keep]
        return final

    def read(self, queries: Any, iterations: int = 1, *,
             generator: torch.Generator | SeedLike = None) -> torch.Tensor:
        r"""Read ``iterations`` times, feeding each output back as the next query.

        Parameters
        ----------
        queries
            ``(batch, n)`` or ``(n,)`` binary queries :math:`\xi`.
        iterations
            Number of reads (>= 1). More than one needs an autoassociative memory (value
            length ``n``).
        generator
            Seed or torch Generator for ``sample_neurons``.

        Returns
        -------
        torch.Tensor
            ``(batch, v)`` (or ``(v,)``) uint8 bits: 1 where
            :math:`\sum_\mu w_\mu (2 v_\mu - 1) > 0`, 0 otherwise (ties give 0).
        """
        iterations = check_int("iterations", iterations, minimum=1)
        if iterations > 1 and self.value_length != self.n:
            raise ValueError(f"iterations must be 1 unless the memory is autoassociative "
                             f"(value length {self.value_length} != key length {self.n})")
        queries, squeeze = self._check_queries(queries)
        gen = (_sampling_generator(generator, self.keys.device) if self.sample_neurons
               else None)
        state = self._iterate(queries, iterations, gen)
        return state[0] if squeeze else state

    def forward(self, queries: Any, iterations: int = 1) -> torch.Tensor:
        """Same as :meth:`read`."""
        return self.read(queries, iterations)


def pattern_weights(queries: Any, keys: Any, radius: int,
                    neurons: int | float | None = None, *,
                    dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Functional form of :meth:`PatternSDM.weights` (expected weights), ``(batch, m)``."""
    keys = check_binary("keys", keys)
    memory = PatternSDM(keys, keys[:, :1] if keys.dim() == 2 else keys, radius, neurons,
                        dtype=dtype)
    return memory.weights(queries)


def pattern_read(queries: Any, keys: Any, values: Any, radius: int,
                 neurons: int | float | None = None, *, iterations: int = 1,
                 sample_neurons: bool = False, generator: torch.Generator | SeedLike = None,
                 dtype: torch.dtype = torch.float64) -> torch.Tensor:
    r"""Functional pattern-based SDM read; see :class:`PatternSDM` and :meth:`PatternSDM.read`.

    .. math:: \hat v = \mathbb{1}\Big[\sum_\mu I(n, d, d_H(\xi, k_\mu)) (2 v_\mu - 1) > 0\Big]

    Runs on the device of ``keys``.
    """
    memory = PatternSDM(keys, values, radius, neurons, sample_neurons=sample_neurons,
                        dtype=dtype)
    return memory.read(queries, iterations, generator=generator)


# --------------------------------------------------------------------------------------------
# critical distance
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CriticalDistanceCurve:
    """Convergence of iterated reads against query noise, for one radius.

    ``success[i]`` is the fraction of ``trials`` noisy queries, each ``noise[i]`` bits away
    from a stored pattern, whose iterated reads ended exactly on that pattern.
    """

    n: int  #: address length (bits)
    m: int  #: stored patterns
    radius: int  #: Hamming radius d
    noise: np.ndarray  #: (L,) query noise levels, bits flipped
    success: np.ndarray  #: (L,) fraction of trials converging to the stored pattern
    critical_distance: int  #: largest noise level passing (with all below it); -1: none
    critical_distance_interpolated: float  #: noise where success crosses the threshold
    trials: int  #: queries per noise level
    threshold: float  #: success fraction required


@dataclass(frozen=True)
class CriticalDistanceSweep:
    """Critical distance curves for several radii and the optimal radius among them."""

    curves: tuple[CriticalDistanceCurve, ...]  #: one per radius swept, in increasing order
    optimal_radius: int  #: radius with the largest interpolated critical distance

    @property
    def radii(self) -> np.ndarray:
        """The radii swept."""
        return np.array([c.radius for c in self.curves])

    @property
    def critical_distances(self) -> np.ndarray:
        """Integer critical distance for each radius."""
        return np.array([c.critical_distance for c in self.curves])

    @property
    def critical_distances_interpolated(self) -> np.ndarray:
        """Interpolated critical distance for each radius."""
        return np.array([c.critical_distance_interpolated for c in self.curves])


def _check_options(n: int, trials: Any, max_iterations: Any, threshold: Any,
                   noise_levels: Any) -> tuple[int, int, float, np.ndarray]:
    trials = check_int("trials", trials, minimum=1)
    max_iterations = check_int("max_iterations", max_iterations, minimum=1)
    threshold = check_probability("threshold", threshold)
    if threshold == 0.0:
        raise ValueError("threshold must be > 0")
    if noise_levels is None:
        levels = np.arange(n // 2 + 1)
    else:
        levels = np.asarray(noise_levels)
        if levels.ndim != 1 or levels.size == 0 or levels.dtype.kind not in "iu":
            raise ValueError(f"noise_levels must be a non-empty list of integers, "
                             f"got {noise_levels!r}")
        if levels.min() < 0 or levels.max() > n:
            raise ValueError(f"noise_levels must lie in 0..n ({n}), got {noise_levels!r}")
        if np.any(np.diff(levels) <= 0):
            raise ValueError("noise_levels must be strictly increasing")
    return trials, max_iterations, threshold, levels.astype(np.int64)


def _critical_from_success(levels: np.ndarray, success: np.ndarray,
                           threshold: float) -> tuple[int, float]:
    r"""Integer and interpolated critical distance of one convergence curve.

    Integer: the largest level :math:`h` such that the success fraction is at least
    ``threshold`` at :math:`h` and at every smaller level (-1 if the first level fails).
    Interpolated: the noise at which the curve, linear between consecutive levels, first
    falls below ``threshold`` (:math:`h_k + (s_k - \theta)/(s_k - s_{k+1})\,(h_{k+1} - h_k)`);
    the last level if it never does, and ``levels[0] - 1`` if the first level fails.
    """
    critical = -1
    for k, (level, fraction) in enumerate(zip(levels, success, strict=True)):
        if fraction < threshold:
            if k == 0:
                return -1, float(levels[0]) - 1.0
            drop = success[k - 1] - fraction
            step = (success[k - 1] - threshold) / drop
            return critical, float(levels[k - 1] + step * (level - levels[k - 1]))
        critical = int(level)
    return critical, float(levels[-1])


def _check_radii(n: int, radii: Any) -> list[int] | None:
    if radii is None:
        return None
    if isinstance(radii, numbers.Integral):
        radii = [radii]
    if isinstance(radii, str) or not isinstance(radii, Sequence | np.ndarray | range):
        raise TypeError(f"radii must be a list of integers, got {radii!r}")
    out = [check_int(f"radii[{i}]", r, minimum=0, maximum=n) for i, r in enumerate(radii)]
    if not out:
        raise ValueError("radii must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(f"radii must not repeat, got {list(radii)!r}")
    return sorted(out)


def critical_distance_sweep(n: int, m: int, radii: Sequence[int] | None = None,
                            neurons: int | float | None = None, *, trials: int = 100,
                            max_iterations: int = 10, threshold: float = 0.5,
                            noise_levels: Sequence[int] | None = None, seed: SeedLike = 0,
                            sample_neurons: bool = False,
                            device: torch.device | str = "cpu",
                            callback: Callable[[CriticalDistanceCurve], None] | None = None,
                            ) -> CriticalDistanceSweep:
    r"""Critical distance of iterated autoassociative pattern-based reads, for each radius.

    Protocol (common random numbers across radii, so curves are directly comparable):

    1. ``m`` random binary patterns of ``n`` bits are stored with keys = values
       (child seed ``"patterns"``).
    2. For each noise level :math:`h`, ``trials`` queries are made by flipping exactly
       :math:`h` random bits of a randomly chosen stored pattern (child seeds ``"targets"``,
       ``"noise", h``).
    3. Each query is read ``max_iterations`` times (:meth:`PatternSDM.read`; rows stop early
       at a fixed point or 2-cycle with the same result); it *converges* if the final state
       equals its target exactly.
    4. The critical distance of a radius is the largest :math:`h` such that at :math:`h` and
       at every smaller noise level at least ``threshold`` of the trials converge (-1 if the
       noise-free queries already fail); the interpolated critical distance is where the
       convergence curve, linear between levels, crosses ``threshold``.

    The optimal radius maximises the *interpolated* critical distance: the integer one has
    wide plateaus (for n = 64, m = 1024 it is 18 bits for every radius from 9 to 16), and
    the interpolation ranks radii on the same plateau by how many trials still converge
    at its edge. Remaining ties go to the smaller radius.

    Parameters
    ----------
    n, m
        Address length and number of stored patterns.
    radii
        Radii to sweep. Default: ``0, 1, ...`` up to ``n // 2``, stopping after two
        consecutive radii at which not even the noise-free queries converge (larger radii
        only add crosstalk).
    neurons, sample_neurons
        Hard-location count and whether weights are Poisson-sampled (see
        :class:`PatternSDM`); with expected weights ``neurons`` has no effect.
    trials, max_iterations, threshold, noise_levels
        Queries per noise level, read iterations, success fraction required, and the noise
        levels (default ``0..n//2``, increasing).
    seed
        Integer seed; the same seed gives the same patterns and queries for every radius.
    device
        Torch device for the reads.
    callback
        Called with each radius's curve as soon as it is computed (progress reporting).
    """
    n = check_int("n", n, minimum=1)
    m = check_int("m", m, minimum=1)
    radius_list = _check_radii(n, radii)
    _check_neurons(neurons)
    check_bool("sample_neurons", sample_neurons)
    trials, max_iterations, threshold, levels = _check_options(
        n, trials, max_iterations, threshold, noise_levels)
    if seed is None:
        seed = child_seed(None)
    device = torch.device(device)
    patterns = random_binary(m, n, seed=child_seed(seed, "patterns"), device=device)
    target_gen = torch_generator(child_seed(seed, "targets"))
    targets = torch.randint(0, m, (len(levels), trials), generator=target_gen)  # (L, T)
    queries = torch.cat([
        flip_exact(patterns[targets[i].to(device)], int(h),
                   seed=child_seed(seed, "noise", int(h)))
        for i, h in enumerate(levels)
    ])  # (L * T, n)
    expected = patterns[targets.reshape(-1).to(device)]  # (L * T, n)
    # The first read's query-key dot products are the same for every radius.
    first_indices = _dot_indices(queries, _bipolar32(patterns))  # (L * T, m)

    curves: list[CriticalDistanceCurve] = []
    failures_in_a_row = 0
    for radius in radius_list if radius_list is not None else range(n // 2 + 1):
        memory = PatternSDM(patterns, patterns, radius, neurons,
                            sample_neurons=sample_neurons, device=device)
        gen = (torch_generator(seed, "poisson", radius, device=device) if sample_neurons
               else None)
        final = memory._iterate(queries, max_iterations, gen, first_indices)
        converged = (final == expected).all(dim=1).reshape(len(levels), trials)
        success = converged.to(torch.float64).mean(dim=1).cpu().numpy()
        integer, interpolated = _critical_from_success(levels, success, threshold)
        curves.append(CriticalDistanceCurve(
            n=n, m=m, radius=radius, noise=levels.copy(), success=success,
            critical_distance=integer, critical_distance_interpolated=interpolated,
            trials=trials, threshold=threshold))
        if callback is not None:
            callback(curves[-1])
        if radius_list is None:
            peaked = max(c.critical_distance for c in curves) >= 0
            failures_in_a_row = failures_in_a_row + 1 if integer < 0 and peaked else 0
            if failures_in_a_row == 2:
                break
    best = max(curves, key=lambda c: (c.critical_distance_interpolated, -c.radius))
    return CriticalDistanceSweep(curves=tuple(curves), optimal_radius=best.radius)


def critical_distance_curve(n: int, m: int, radius: int, neurons: int | float | None = None,
                            *, trials: int = 100, max_iterations: int = 10,
                            threshold: float = 0.5, noise_levels: Sequence[int] | None = None,
                            seed: SeedLike = 0, sample_neurons: bool = False,
                            device: torch.device | str = "cpu") -> CriticalDistanceCurve:
    """Convergence curve and critical distance for one radius.

    Same protocol and random numbers as :func:`critical_distance_sweep` (so the result equals
    that radius's entry of a sweep with the same seed and options).
    """
    n = check_int("n", n, minimum=1)
    radius = check_int("radius", radius, minimum=0, maximum=n)
    sweep = critical_distance_sweep(n, m, [radius], neurons, trials=trials,
                                    max_iterations=max_iterations, threshold=threshold,
                                    noise_levels=noise_levels, seed=seed,
                                    sample_neurons=sample_neurons, device=device)
    return sweep.curves[0]


def critical_distance(n: int, m: int, radius: int, neurons: int | float | None = None, *,
                      trials: int = 100, max_iterations: int = 10, threshold: float = 0.5,
                      seed: SeedLike = 0, sample_neurons: bool = False,
                      device: torch.device | str = "cpu") -> int:
    """Largest query noise (bits) from which iterated reads converge in >= ``threshold``.

    See :func:`critical_distance_sweep` for the protocol; -1 if even noise-free queries fail.
    """
    return critical_distance_curve(n, m, radius, neurons, trials=trials,
                                   max_iterations=max_iterations, threshold=threshold,
                                   seed=seed, sample_neurons=sample_neurons,
                                   device=device).critical_distance
