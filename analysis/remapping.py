"""Remapping: per-unit correlation of rate maps across two worlds.

Plain numpy (no torch, no Brian2); maps come from :mod:`analysis.rate_maps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis._spatial_checks import _array, _positive_int

__all__ = ["RemappingResult", "remapping"]


@dataclass(frozen=True)
class RemappingResult:
    """Field correlation of each unit's maps across two worlds."""

    correlations: np.ndarray  # (U,) Pearson r of unit u's map in world A with its map in B
    mean: float  # nanmean of correlations
    median: float  # nanmedian of correlations
    shuffled_mean: float  # mean r between different units (u in A, v != u in B): the baseline
    n_units: int  # units with a finite correlation


def _row_pearson(a: np.ndarray, b: np.ndarray, min_bins: int) -> np.ndarray:
    """Pearson r of rows a[i] with b[i] over bins finite in both."""
    m = np.isfinite(a) & np.isfinite(b)
    n = m.sum(axis=1)
    a0, b0 = np.where(m, a, 0.0), np.where(m, b, 0.0)
    nn = np.maximum(n, 1)
    a0 = np.where(m, a0 - (a0.sum(axis=1) / nn)[:, None], 0.0)
    b0 = np.where(m, b0 - (b0.sum(axis=1) / nn)[:, None], 0.0)
    den = np.sqrt((a0 * a0).sum(axis=1) * (b0 * b0).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a0 * b0).sum(axis=1) / den
    return np.where((n >= min_bins) & (den > 0), np.clip(r, -1.0, 1.0), np.nan)


def remapping(maps_a: Any, maps_b: Any, *, min_bins: int = 3) -> RemappingResult:
    r"""Per-unit field correlation of rate maps across two worlds (remapping).

    .. math:: r_u = \mathrm{corr}\bigl(\lambda^A_u, \lambda^B_u\bigr)

    (Pearson, over the bins or nodes valid in both maps). Place cells that remap give
    :math:`r_u \approx 0`; grid cells keep their firing structure (high :math:`r_u` on worlds
    of the same structure up to a shift). ``shuffled_mean`` is the mean correlation of
    different units' maps, the level expected from chance and shared structure.

    Parameters
    ----------
    maps_a, maps_b
        ``(U, ...)`` one map per unit (binned ``(U, ny, nx)`` or node-wise ``(U, n_nodes)``),
        the same shape in both worlds; NaN for masked bins.
    min_bins
        Fewer common valid bins (or a flat map) give NaN for that unit.
    """
    a = _array("maps_a", maps_a, allow_nan=False)
    b = _array("maps_b", maps_b, allow_nan=False)
    if a.ndim < 2:
        raise ValueError(f"maps_a must be (U, ...) with one map per unit, got shape {a.shape}")
    if a.shape != b.shape:
        raise ValueError(f"maps_b must have the shape of maps_a {a.shape}, got {b.shape}")
    min_bins = _positive_int("min_bins", min_bins, minimum=2)
    a = a.reshape(a.shape[0], -1)
    b = b.reshape(b.shape[0], -1)
    r = _row_pearson(a, b, min_bins)
    U = a.shape[0]
    if U > 1:
        shuffled = []
        for shift in range(1, min(U, 11)):  # unit u in A against unit u+shift in B
            shuffled.append(_row_pearson(a, np.roll(b, -shift, axis=0), min_bins))
        sh = np.concatenate(shuffled)
        shuffled_mean = float(np.nanmean(sh)) if np.isfinite(sh).any() else np.nan
    else:
        shuffled_mean = np.nan
    finite = np.isfinite(r)
    return RemappingResult(
        correlations=r,
        mean=float(np.nanmean(r)) if finite.any() else np.nan,
        median=float(np.nanmedian(r)) if finite.any() else np.nan,
        shuffled_mean=shuffled_mean, n_units=int(finite.sum()))
