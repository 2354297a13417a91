r"""Geometry of firing fields: grid spacing and orientation, place fields.

Plain numpy/scipy on rate maps from :mod:`analysis.rate_maps`.

Grid scale (Hafting et al. 2005; Stensola et al. 2012): the six peaks of the spatial
autocorrelogram nearest its centre (:func:`analysis.gridness.autocorrelogram`) lie on a
hexagon; the *spacing* is their median distance from the centre and the *orientation* the
smallest angle, counter-clockwise from the x axis and modulo 60 degrees, of the lines to them.

Place fields (after Muller et al. 1987; Park, Dvorak & Fenton 2011): connected regions
(8-neighbourhood) of bins above ``threshold`` times the map's peak rate, with at least
``min_bins`` bins; their number, area and peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from analysis._spatial_checks import _array, _positive_int, _real
from analysis.gridness import autocorrelogram

__all__ = ["GridScale", "PlaceFields", "grid_scale", "place_fields"]


@dataclass(frozen=True)
class GridScale:
    """Spacing and orientation of a grid map (NaN when fewer than six peaks are found)."""

    spacing: float  # median distance of the six nearest autocorrelogram peaks (map units)
    orientation: float  # degrees in [0, 60)
    peaks: np.ndarray  # (6, 2) their (x, y) offsets from the centre, map units


def grid_scale(rate_map: np.ndarray, *, bin_size: float = 1.0, neighbourhood: int = 5,
               min_correlation: float = 0.0) -> GridScale:
    """Spacing and orientation from the six autocorrelogram peaks nearest the centre.

    Parameters
    ----------
    rate_map
        ``(ny, nx)`` rate map (NaN masked).
    bin_size
        Side of a bin, in the units the spacing is reported in (e.g. metres).
    neighbourhood
        Side, in bins, of the window a peak must be the maximum of.
    min_correlation
        Peaks with a lower autocorrelation are ignored.
    """
    values = _array("rate_map", rate_map, ndim=(2,))
    bin_size = _real("bin_size", bin_size, minimum=0.0, strict=True)
    neighbourhood = _positive_int("neighbourhood", neighbourhood)
    ac = autocorrelogram(values)
    filled = np.where(np.isfinite(ac), ac, -np.inf)
    is_peak = (filled == ndimage.maximum_filter(filled, size=neighbourhood, mode="constant",
                                                cval=-np.inf)) & (filled > min_correlation)
    cy, cx = (np.array(ac.shape) - 1) / 2
    ys, xs = np.nonzero(is_peak)
    offsets = np.c_[xs - cx, ys - cy] * bin_size
    distance = np.hypot(offsets[:, 0], offsets[:, 1])
    keep = distance > 0.5 * bin_size  # the central peak
    offsets, distance = offsets[keep], distance[keep]
    if len(distance) < 6:
        return GridScale(spacing=float("nan"), orientation=float("nan"),
                         peaks=np.full((6, 2), np.nan))
    nearest = np.argsort(distance, kind="stable")[:6]
    angles = np.degrees(np.arctan2(offsets[nearest, 1], offsets[nearest, 0])) % 60.0
    return GridScale(spacing=float(np.median(distance[nearest])),
                     orientation=float(angles.min()), peaks=offsets[nearest])


@dataclass(frozen=True)
class PlaceFields:
    """The place fields of one rate map."""

    count: int
    areas: np.ndarray  # (count,) area of each field (bin_size^2 units)
    peaks: np.ndarray  # (count,) peak rate in each field
    labels: np.ndarray  # (ny, nx) field index + 1 per bin, 0 outside fields


def place_fields(rate_map: np.ndarray, *, bin_size: float = 1.0, threshold: float = 0.2,
                 min_bins: int = 9) -> PlaceFields:
    """Fields of a rate map: connected bins above ``threshold`` x peak, >= ``min_bins``.

    Parameters
    ----------
    rate_map
        ``(ny, nx)`` rate map (NaN: unvisited, never in a field).
    bin_size
        Side of a bin; areas are in its square.
    threshold
        Fraction of the map's peak rate a field bin must exceed.
    min_bins
        Smallest field, in bins (9 bins of 2.5 cm: 56 cm^2).
    """
    values = _array("rate_map", rate_map, ndim=(2,))
    bin_size = _real("bin_size", bin_size, minimum=0.0, strict=True)
    threshold = _real("threshold", threshold, minimum=0.0)
    if threshold >= 1:
        raise ValueError(f"threshold must be a fraction of the peak rate below 1, got "
                         f"{threshold}")
    min_bins = _positive_int("min_bins", min_bins)
    peak = np.nanmax(values) if np.isfinite(values).any() else np.nan
    empty = PlaceFields(count=0, areas=np.zeros(0), peaks=np.zeros(0),
                        labels=np.zeros(values.shape, dtype=np.int64))
    if not peak > 0:
        return empty
    above = np.nan_to_num(values, nan=-np.inf) > threshold * peak
    labels, n = ndimage.label(above, structure=np.ones((3, 3), dtype=bool))
    sizes = ndimage.sum_labels(np.ones_like(values), labels, index=np.arange(1, n + 1))
    kept = np.flatnonzero(sizes >= min_bins) + 1
    if not len(kept):
        return empty
    relabelled = np.zeros_like(labels)
    for new, old in enumerate(kept, start=1):
        relabelled[labels == old] = new
    peaks = ndimage.maximum(np.nan_to_num(values), relabelled, index=np.arange(1, len(kept) + 1))
    return PlaceFields(count=len(kept), areas=sizes[kept - 1] * bin_size**2,
                       peaks=np.asarray(peaks, dtype=float), labels=relabelled)
