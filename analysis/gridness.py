r"""Spatial autocorrelogram and gridness score of a rate map, and its shuffle null.

Plain numpy/scipy (no torch, no Brian2). Maps come from :mod:`analysis.rate_maps`.

Gridness (Sargolini et al. 2006, Science)
-----------------------------------------
The autocorrelogram is rotated by 30, 60, 90, 120 and 150 degrees and Pearson-correlated with
itself inside an annulus around its centre:

.. math:: G = \min(r_{60}, r_{120}) - \max(r_{30}, r_{90}, r_{150}) \in [-2, 2].

Annulus: the inner radius excludes the central peak (the first radius at which the ring-mean
autocorrelation falls to ``inner_threshold``, default 0); the outer radius runs from
``max(inner + min_width, 2 inner)`` bins (room for the ring of peaks around the central one)
to the largest circle inside the valid autocorrelogram, in steps of one bin, and the maximum
score is kept (the "max over annuli" of Langston et al. 2010 and Brandon et al. 2011). A map
with nothing beyond its central peak (a single broad field, a ramp, a flat map) scores 0; see
:func:`gridness_details`. A perfect hexagonal grid scores about 1.3-2; place fields, stripes
and square grids score near or below 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, signal

from analysis._spatial_checks import _array, _positive_int, _real
from analysis.rate_maps import RateMap, rasterise_nodes

__all__ = [
    "GRIDNESS_ANGLES",
    "GridnessResult",
    "autocorrelogram",
    "gridness",
    "gridness_details",
    "shuffled_gridness",
]

GRIDNESS_ANGLES = (30, 60, 90, 120, 150)  # degrees (Sargolini et al. 2006)


# --------------------------------------------------------------------------- autocorrelogram
def _xcorr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Full 2-D cross-correlation: out[lag] = sum_x a[x] b[x + lag]."""
    return signal.fftconvolve(a[::-1, ::-1], b, mode="full")


def autocorrelogram(rate_map: Any, *, min_overlap: int = 20) -> np.ndarray:
    r"""NaN-aware spatial autocorrelogram (Pearson correlation at every 2-D lag).

    .. math::

        r(\tau) = \frac{n \sum \lambda_x \lambda_{x+\tau} - \sum \lambda_x \sum \lambda_{x+\tau}}
        {\sqrt{n \sum \lambda_x^2 - (\sum \lambda_x)^2}\,
         \sqrt{n \sum \lambda_{x+\tau}^2 - (\sum \lambda_{x+\tau})^2}}

    over the :math:`n` bin pairs at lag :math:`\tau` where both bins are valid (not NaN).
    Lags with fewer than ``min_overlap`` pairs, or zero variance, are NaN (Sargolini et al.
    2006 used 20).

    Parameters
    ----------
    rate_map
        ``(ny, nx)`` or ``(U, ny, nx)`` (a :class:`RateMap`'s ``rate``), NaN for masked bins.

    Returns
    -------
    numpy.ndarray
        ``(2 ny - 1, 2 nx - 1)`` (or with a leading U axis); zero lag at the centre
        ``(ny - 1, nx - 1)``, where the value is 1.
    """
    arr = _array("rate_map", rate_map.rate if isinstance(rate_map, RateMap) else rate_map,
                 ndim=(2, 3), allow_nan=False)
    min_overlap = _positive_int("min_overlap", min_overlap, minimum=2)
    if arr.ndim == 3:
        return np.stack([autocorrelogram(m, min_overlap=min_overlap) for m in arr])
    valid = np.isfinite(arr)
    m = valid.astype(np.float64)
    x = np.where(valid, arr, 0.0)
    x = x - (x.sum() / max(m.sum(), 1.0)) * m  # centre: better conditioned sums
    n = np.rint(_xcorr(m, m))
    s1, s2 = _xcorr(x, m), _xcorr(m, x)
    s11, s22 = _xcorr(x * x, m), _xcorr(m, x * x)
    s12 = _xcorr(x, x)
    num = n * s12 - s1 * s2
    var1, var2 = n * s11 - s1 * s1, n * s22 - s2 * s2
    scale = max(float(np.nanmax(np.abs(x))) ** 2, 1e-300) * n.max() ** 2
    ok = (n >= min_overlap) & (var1 > 1e-10 * scale) & (var2 > 1e-10 * scale)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(ok, num / np.sqrt(np.where(ok, var1 * var2, 1.0)), np.nan)
    return np.clip(r, -1.0, 1.0)


# ---------------------------------------------------------------------------------- gridness
@dataclass(frozen=True)
class GridnessResult:
    """Gridness score with the quantities it was computed from."""

    # G = min(r60, r120) - max(r30, r90, r150) at the best annulus; 0.0 where the map has no
    # structure beyond its central peak (see gridness_details); NaN only for too little data
    score: float
    correlations: dict[int, float]  # angle (deg) -> Pearson r at the best annulus (NaN: none)
    inner_radius: float  # bins; excludes the central peak (NaN: no peak boundary found)
    outer_radius: float  # bins; the annulus' outer radius that maximised G (NaN: none scored)


_FLAT_STD = 1e-9  # an annulus of autocorrelations (|r| <= 1) with a smaller std is constant


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two annuli; NaN-safe for constant ones (:func:`gridness_details`, rule 3)."""
    a = a - a.mean()
    b = b - b.mean()
    flat_a = np.sqrt((a * a).mean()) <= _FLAT_STD
    flat_b = np.sqrt((b * b).mean()) <= _FLAT_STD
    if flat_a and flat_b:
        return 1.0  # a constant annulus equals every rotation of itself
    if flat_a or flat_b:
        return 0.0  # a constant cannot covary with anything
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float(np.clip((a * b).sum() / den, -1.0, 1.0))


def _rotate(image: np.ndarray, angle_deg: float) -> np.ndarray:
    """Rotate about the array centre by bilinear interpolation; outside or NaN-touched -> NaN."""
    ny, nx = image.shape
    cy, cx = (ny - 1) / 2, (nx - 1) / 2
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    th = np.deg2rad(angle_deg)
    dy, dx = yy - cy, xx - cx
    sy = cy + np.cos(th) * dy - np.sin(th) * dx  # sample the source at R(-theta) p
    sx = cx + np.sin(th) * dy + np.cos(th) * dx
    return ndimage.map_coordinates(image, [sy, sx], order=1, cval=np.nan, mode="constant")


def gridness_details(rate_map: Any, *, kind: str = "rate_map", inner_radius: float | None = None,
                     outer_radii: Any | None = None, inner_threshold: float = 0.0,
                     min_width: int = 3, min_bins: int = 20,
                     min_overlap: int = 20) -> GridnessResult:
    r"""Gridness of one map (Sargolini et al. 2006) with the annulus it was measured in.

    .. math:: G = \max_{r_\mathrm{out}} \bigl[\min(r_{60}, r_{120})
              - \max(r_{30}, r_{90}, r_{150})\bigr]

    where :math:`r_\theta` is the Pearson correlation, over the bins of the annulus
    :math:`r_\mathrm{in} \le |\tau| \le r_\mathrm{out}` valid in both, of the autocorrelogram
    and its rotation by :math:`\theta`. The annulus excludes the central peak and must reach
    the ring of six peaks around it (Sargolini et al. 2006); the outer radius expands and the
    best score is kept (Langston et al. 2010; Brandon et al. 2011).

    Rules for maps without a ring of peaks (a single field, a ramp, a flat map):

    1. The central peak ends at :math:`r_\mathrm{in}`, the first radius whose ring-mean
       autocorrelation is :math:`\le` ``inner_threshold``. The neighbouring peaks of a lattice
       have the same shape as the central one, so their centres lie at
       :math:`|\tau| \ge 2 r_\mathrm{in}`: outer radii start at
       :math:`\max(r_\mathrm{in} + \mathtt{min\_width},\ 2 r_\mathrm{in})`. This keeps a single
       field's annulus off the sparse fringe of large lags, where a few overlapping bins
       correlate at random (a field near the edge of a 19 x 24 map scored 0.95 without it).
    2. If the central peak fills the autocorrelogram (no radius reaches ``inner_threshold``:
       a field as broad as the arena, a ramp) or leaves no room for that annulus inside the
       valid autocorrelogram (a small field near a wall: lags that miss it are flat), nothing
       periodic surrounds the peak and :math:`G = 0` ("no evidence of a grid"; correlations
       NaN). A flat map (zero variance; its autocorrelogram is undefined) also scores 0, with
       every :math:`r_\theta = 1`. BNT/opexebo return NaN in these cases; 0 keeps fractions
       and medians over units defined.
    3. An annulus that is constant (std :math:`\le 10^{-9}`) equals every rotation of itself:
       :math:`r_\theta = 1` if the rotated annulus is constant too, else 0.

    The score is NaN only when there is too little data: no valid autocorrelation beyond the
    centre (e.g. fewer than ``min_overlap`` valid bins), or no annulus with ``min_bins``.

    Parameters
    ----------
    rate_map
        ``(ny, nx)`` rate map (NaN masked), or an autocorrelogram with ``kind="autocorrelogram"``.
    kind
        ``"rate_map"`` or ``"autocorrelogram"``.
    inner_radius
        Radius (bins) of the excluded central peak. Default: rule 1.
    outer_radii
        Outer radii (bins) to try. Default: rule 1's start up to the largest circle inside the
        autocorrelogram, in steps of 1.
    inner_threshold
        Ring-mean autocorrelation that ends the central peak (rule 1).
    min_width
        Narrowest annulus (bins) tried by default.
    min_bins
        An annulus with fewer valid bin pairs gives no score.
    min_overlap
        Passed to :func:`autocorrelogram`.

    References
    ----------
    Sargolini F. et al. (2006) Science 312:758-762. Langston R. F. et al. (2010) Science
    328:1576-1580. Brandon M. P. et al. (2011) Science 332:595-599.
    """
    if kind not in ("rate_map", "autocorrelogram"):
        raise ValueError(f"kind must be 'rate_map' or 'autocorrelogram', got {kind!r}")
    arr = _array("rate_map", rate_map.rate if isinstance(rate_map, RateMap) else rate_map,
                 ndim=(2,), allow_nan=False)
    min_width = _positive_int("min_width", min_width)
    min_bins = _positive_int("min_bins", min_bins, minimum=3)
    inner_threshold = _real("inner_threshold", inner_threshold)
    acorr = autocorrelogram(arr, min_overlap=min_overlap) if kind == "rate_map" else arr
    ny, nx = acorr.shape
    cy, cx = (ny - 1) / 2, (nx - 1) / 2
    yy, xx = np.mgrid[0:ny, 0:nx]
    radius = np.hypot(yy - cy, xx - cx)
    r_max = float(min(cy, cx))
    no_corr = {a: np.nan for a in GRIDNESS_ANGLES}
    nan = GridnessResult(score=np.nan, correlations=no_corr, inner_radius=np.nan,
                         outer_radius=np.nan)
    finite_map = arr[np.isfinite(arr)]
    if kind == "rate_map" and finite_map.size and np.ptp(finite_map) == 0:
        # rule 2: a flat map is invariant under every rotation; no grid
        return GridnessResult(score=0.0, correlations={a: 1.0 for a in GRIDNESS_ANGLES},
                              inner_radius=np.nan, outer_radius=np.nan)
    valid = np.isfinite(acorr)
    if not (valid & (radius >= 1.0)).any():
        return nan  # too little data for any autocorrelation beyond the centre
    if inner_radius is None:
        ring = np.rint(radius).astype(np.int64)
        counts = np.bincount(ring[valid], minlength=int(r_max) + 2)
        sums = np.bincount(ring[valid], weights=acorr[valid], minlength=int(r_max) + 2)
        inner = None
        for r in range(1, int(r_max) + 1):
            if counts[r] and sums[r] / counts[r] <= inner_threshold:
                inner = float(r)
                break
        if inner is None:  # rule 2: the central peak fills the autocorrelogram
            return GridnessResult(score=0.0, correlations=no_corr, inner_radius=np.nan,
                                  outer_radius=np.nan)
    else:
        inner = _real("inner_radius", inner_radius, minimum=0.0)
    if outer_radii is None:
        r_top = min(r_max, float(radius[valid].max()))  # larger lags: no valid pairs
        outer = np.arange(max(inner + min_width, 2.0 * inner), r_top + 1e-9, 1.0)  # rule 1
        if outer.size == 0:  # rule 2: no room for a ring of peaks around the central one
            return GridnessResult(score=0.0, correlations=no_corr, inner_radius=inner,
                                  outer_radius=np.nan)
    else:
        outer = _array("outer_radii", outer_radii, ndim=(0, 1), finite=True).ravel()
        if (outer <= inner).any():
            raise ValueError(f"outer_radii must all exceed the inner radius {inner}")
    if outer.size == 0:
        return nan
    rotated = {a: _rotate(acorr, a) for a in GRIDNESS_ANGLES}
    best = nan
    for r_out in outer:
        ring_mask = valid & (radius >= inner) & (radius <= r_out)
        corr = {}
        for a, rot in rotated.items():
            m = ring_mask & np.isfinite(rot)
            corr[a] = _pearson(acorr[m], rot[m]) if m.sum() >= min_bins else np.nan
        g = min(corr[60], corr[120]) - max(corr[30], corr[90], corr[150])
        if np.isfinite(g) and not (np.isfinite(best.score) and g <= best.score):
            best = GridnessResult(score=float(g), correlations=corr, inner_radius=inner,
                                  outer_radius=float(r_out))
    return best


def gridness(rate_map: Any, *, kind: str = "rate_map", **kwargs: Any) -> float | np.ndarray:
    """Gridness score(s): a float for a ``(ny, nx)`` map, a ``(U,)`` array for ``(U, ny, nx)``.

    See :func:`gridness_details` for the definition and the keyword arguments. 0.0 for a map
    with nothing beyond its central peak (a single broad field, a ramp, a flat map); NaN only
    where there is too little data for any annulus.
    """
    arr = _array("rate_map", rate_map.rate if isinstance(rate_map, RateMap) else rate_map,
                 ndim=(2, 3), allow_nan=False)
    if arr.ndim == 3:
        return np.array([gridness_details(m, kind=kind, **kwargs).score for m in arr])
    return gridness_details(arr, kind=kind, **kwargs).score


def shuffled_gridness(node_values: Any, node_positions: Any, *, n_shuffles: int = 100,
                      seed: int = 0, bin_size: float | None = None, sigma: float = 0.0,
                      **kwargs: Any) -> np.ndarray:
    """Null distribution of gridness: node values permuted across nodes, then rasterised.

    On small worlds the maximum over annuli lets noise score high (random node values on an
    8x8 world exceed G = 0.3 about 20% of the time), so report grid cells against this null,
    e.g. the fraction of units above its 95th percentile.

    Parameters
    ----------
    node_values
        ``(n_nodes,)`` one unit's node-wise map (NaN nodes stay where they are), or
        ``(U, n_nodes)``: then each shuffle permutes a randomly chosen unit.
    node_positions
        ``(n_nodes, 2)``.
    n_shuffles
        Number of permutations.
    seed
        Seed of the permutations (numpy ``default_rng``).
    bin_size, sigma, **kwargs
        Passed to :func:`rasterise_nodes` and :func:`gridness_details`.

    Returns
    -------
    numpy.ndarray
        ``(n_shuffles,)`` gridness scores (NaN where undefined).
    """
    vals = _array("node_values", node_values, ndim=(1, 2), allow_nan=False)
    vals = vals[None] if vals.ndim == 1 else vals
    n_shuffles = _positive_int("n_shuffles", n_shuffles)
    rng = np.random.default_rng(_positive_int("seed", seed, minimum=0))
    out = np.empty(n_shuffles)
    for i in range(n_shuffles):
        v = vals[rng.integers(vals.shape[0])].copy()
        known = np.flatnonzero(np.isfinite(v))
        v[known] = v[rng.permutation(known)]
        img = rasterise_nodes(v, node_positions, bin_size=bin_size, sigma=sigma)
        out[i] = gridness_details(img.rate, **kwargs).score
    return out
