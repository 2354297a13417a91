r"""Spatial metrics of units on a world: rate maps, autocorrelograms, gridness, spatial
information and remapping.

Plain numpy/scipy (no torch, no Brian2): inputs are arrays of positions or node ids and of
activity (model unit activations, spike counts or rates).

Two kinds of rate map
---------------------
**Binned map** (:func:`rate_map`): positions visited at each sample are binned on a regular
grid; the map is the activity summed per bin over the occupancy per bin, both Gaussian
smoothed with the same kernel before dividing (occupancy-weighted smoothing); bins visited
fewer than ``min_occupancy`` times are masked (NaN):

.. math::

    \lambda_{ij} = \frac{(G_\sigma * S)_{ij}}{(G_\sigma * O)_{ij}}, \qquad
    S_{ij} = \sum_{t:\, x_t \in \mathrm{bin}_{ij}} a_t, \quad
    O_{ij} = \#\{t : x_t \in \mathrm{bin}_{ij}\}.

On a graph world pass node ids and the world's node positions; by default the bin size is the
lattice spacing (the shortest distance between two nodes), so on a square world each bin holds
exactly one node.

**Node-wise map** (:func:`node_rate_map`): the mean activity per node, NaN for nodes never
visited. It is exact on any graph. To compute image statistics (autocorrelogram, gridness) it
is rasterised with :func:`rasterise_nodes`: each bin of a fine regular grid (default bin size
a quarter of the lattice spacing) takes the value of its *nearest node* (a Voronoi tiling of
the plane by nodes), optionally smoothed NaN-aware. This is how hexagonal worlds become
images without the aliasing of binning a triangular lattice on a square grid (rows
:math:`\sqrt{3}/2` apart fall two to a bin or leave empty bins).

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
from scipy import ndimage, signal, sparse

__all__ = [
    "GridnessResult",
    "NodeRateMap",
    "RateMap",
    "RemappingResult",
    "autocorrelogram",
    "gridness",
    "gridness_details",
    "lattice_spacing",
    "node_rate_map",
    "rasterise_nodes",
    "rate_map",
    "remapping",
    "shuffled_gridness",
    "spatial_information",
]

GRIDNESS_ANGLES = (30, 60, 90, 120, 150)  # degrees (Sargolini et al. 2006)


# ------------------------------------------------------------------------------------ checks
def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _real(name: str, value: Any, *, minimum: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value}")
    return value


def _array(name: str, value: Any, *, ndim: tuple[int, ...] | None = None,
           finite: bool = False, allow_nan: bool = True) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers") from exc
    if ndim is not None and arr.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, "
                         f"got shape {arr.shape}")
    if finite and not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    if not allow_nan and np.isinf(arr).any():
        raise ValueError(f"{name} must not hold infinities")
    return arr


# ---------------------------------------------------------------------------------- rate maps
@dataclass(frozen=True, eq=False)
class RateMap:
    """A binned rate map on a regular grid (row ``i`` is ``y``, column ``j`` is ``x``)."""

    rate: np.ndarray  # (ny, nx) or (U, ny, nx) activity per occupancy, NaN where masked
    occupancy: np.ndarray  # (ny, nx) samples per bin (raw, unsmoothed)
    x_edges: np.ndarray  # (nx + 1,) bin edges along x
    y_edges: np.ndarray  # (ny + 1,) bin edges along y

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """``(x_min, x_max, y_min, y_max)``, as matplotlib's ``imshow(extent=...)`` expects."""
        return (float(self.x_edges[0]), float(self.x_edges[-1]),
                float(self.y_edges[0]), float(self.y_edges[-1]))

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``."""
        return (self.y_edges.size - 1, self.x_edges.size - 1)


@dataclass(frozen=True, eq=False)
class NodeRateMap:
    """Mean activity per node of a graph world."""

    rate: np.ndarray  # (n_nodes,) or (U, n_nodes) mean activity per node, NaN if never visited
    visits: np.ndarray  # (n_nodes,) samples per node
    positions: np.ndarray | None = None  # (n_nodes, 2) node coordinates, for rasterising

    def to_grid(self, *, bin_size: float | None = None, sigma: float = 0.0,
                max_distance: float | None = None) -> RateMap:
        """Rasterise with :func:`rasterise_nodes` (needs ``positions``)."""
        if self.positions is None:
            raise ValueError("positions must be given to node_rate_map to rasterise a node map")
        return rasterise_nodes(self.rate, self.positions, visits=self.visits,
                               bin_size=bin_size, sigma=sigma, max_distance=max_distance)


def lattice_spacing(positions: Any) -> float:
    """The shortest distance between two distinct points (the lattice constant of a world)."""
    pos = _array("positions", positions, ndim=(2,), finite=True)
    if pos.shape[1] != 2 or pos.shape[0] < 2:
        raise ValueError(f"positions must be (n >= 2, 2), got shape {pos.shape}")
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(pos).query(pos, k=2)
    spacing = float(dist[:, 1].min())
    if spacing <= 0:
        raise ValueError("positions must be distinct (two points coincide)")
    return spacing


def _edges(lo: float, hi: float, *, bins: int | None, bin_size: float | None) -> np.ndarray:
    if bin_size is not None:
        n = max(1, int(np.ceil((hi - lo) / bin_size - 1e-9)))
        centre = 0.5 * (lo + hi)
        return centre + (np.arange(n + 1) - n / 2) * bin_size
    assert bins is not None
    return np.linspace(lo, hi, bins + 1)


def _resolve_positions(positions: Any, node_positions: Any | None) -> tuple[np.ndarray,
                                                                           np.ndarray | None]:
    if node_positions is None:
        pos = _array("positions", positions, ndim=(2,), finite=True)
        if pos.shape[1] != 2:
            raise ValueError(f"positions must be (T, 2), got shape {pos.shape}")
        return pos, None
    nodes_pos = _array("node_positions", node_positions, ndim=(2,), finite=True)
    if nodes_pos.shape[1] != 2:
        raise ValueError(f"node_positions must be (n_nodes, 2), got shape {nodes_pos.shape}")
    nodes = np.asarray(positions)
    if nodes.ndim != 1 or not np.issubdtype(nodes.dtype, np.integer):
        raise ValueError("positions must be a (T,) array of node ids when node_positions is "
                         f"given, got dtype {nodes.dtype} shape {nodes.shape}")
    if nodes.size and (nodes.min() < 0 or nodes.max() >= nodes_pos.shape[0]):
        raise ValueError(f"positions holds node ids outside 0..{nodes_pos.shape[0] - 1}")
    return nodes_pos[nodes], nodes_pos


def _activity(activity: Any, T: int) -> tuple[np.ndarray, bool]:
    act = _array("activity", activity, ndim=(1, 2), finite=True)
    if act.shape[0] != T:
        raise ValueError(f"activity must have one row per sample (T={T}), got shape {act.shape}")
    return (act[:, None], True) if act.ndim == 1 else (act, False)


def rate_map(positions: Any, activity: Any, *, node_positions: Any | None = None,
             bins: int | tuple[int, int] | None = None, bin_size: float | None = None,
             extent: tuple[float, float, float, float] | None = None, sigma: float = 1.0,
             min_occupancy: int = 1) -> RateMap:
    r"""Occupancy-normalised, Gaussian-smoothed rate maps with unvisited bins masked.

    .. math::

        \lambda_{ij} = \frac{(G_\sigma * S)_{ij}}{(G_\sigma * O)_{ij}}
        \quad\text{if } O_{ij} \ge \text{min\_occupancy}, \text{ else NaN},

    with :math:`S` the summed activity and :math:`O` the number of samples per bin, and
    :math:`G_\sigma` a Gaussian of ``sigma`` bins (zero outside the map, so edges are
    normalised by the occupancy that is actually there).

    Parameters
    ----------
    positions
        ``(T, 2)`` coordinates per sample, or ``(T,)`` integer node ids with ``node_positions``.
    activity
        ``(T,)`` one unit or ``(T, U)`` U units.
    node_positions
        ``(n_nodes, 2)`` positions of a graph world's nodes (``World.positions``).
    bins, bin_size
        Number of bins (int, or ``(nx, ny)``) over ``extent``, or the side of a square bin.
        Default: ``bin_size`` = lattice spacing with ``node_positions``, else 20 bins.
    extent
        ``(x_min, x_max, y_min, y_max)``; samples outside are ignored. Default: the range of
        the positions (of all nodes when given), widened by half a bin with ``bin_size``.
    sigma
        Gaussian smoothing width in bins (0: none).
    min_occupancy
        Bins with fewer samples are NaN.

    Returns
    -------
    RateMap
        ``rate`` is ``(ny, nx)`` for a ``(T,)`` activity, ``(U, ny, nx)`` for ``(T, U)``.
    """
    pos, nodes_pos = _resolve_positions(positions, node_positions)
    act, single = _activity(activity, pos.shape[0])
    sigma = _real("sigma", sigma, minimum=0.0)
    min_occupancy = _positive_int("min_occupancy", min_occupancy)
    if bins is not None and bin_size is not None:
        raise ValueError("bins and bin_size are exclusive: give one of them")
    if bin_size is not None:
        bin_size = _real("bin_size", bin_size, minimum=0.0, strict=True)
    elif bins is None:
        if nodes_pos is not None and nodes_pos.shape[0] >= 2:
            bin_size = lattice_spacing(nodes_pos)
        else:
            bins = 20
    if bins is not None:
        nx_, ny_ = (bins, bins) if isinstance(bins, int | np.integer) else tuple(bins)
        nx_ = _positive_int("bins", nx_)
        ny_ = _positive_int("bins", ny_)
    if extent is None:
        ref = nodes_pos if nodes_pos is not None else pos
        if ref.shape[0] == 0:
            raise ValueError("positions must hold at least one sample")
        lo, hi = ref.min(axis=0), ref.max(axis=0)
        half = 0.5 * bin_size if bin_size is not None else 0.0
        xlo, xhi, ylo, yhi = lo[0] - half, hi[0] + half, lo[1] - half, hi[1] + half
        if xhi <= xlo:
            xlo, xhi = xlo - 0.5, xhi + 0.5
        if yhi <= ylo:
            ylo, yhi = ylo - 0.5, yhi + 0.5
    else:
        if len(extent) != 4:
            raise ValueError(f"extent must be (x_min, x_max, y_min, y_max), got {extent!r}")
        xlo, xhi, ylo, yhi = (_real("extent", e) for e in extent)
        if xhi <= xlo or yhi <= ylo:
            raise ValueError(f"extent must have x_min < x_max and y_min < y_max, got {extent!r}")
    if bin_size is not None:
        x_edges = _edges(xlo, xhi, bins=None, bin_size=bin_size)
        y_edges = _edges(ylo, yhi, bins=None, bin_size=bin_size)
    else:
        x_edges = _edges(xlo, xhi, bins=nx_, bin_size=None)
        y_edges = _edges(ylo, yhi, bins=ny_, bin_size=None)
    nx, ny = x_edges.size - 1, y_edges.size - 1

    # bin index per sample; the upper edge belongs to the last bin (as np.histogram)
    ix = np.searchsorted(x_edges, pos[:, 0], side="right") - 1
    iy = np.searchsorted(y_edges, pos[:, 1], side="right") - 1
    ix[pos[:, 0] == x_edges[-1]] = nx - 1
    iy[pos[:, 1] == y_edges[-1]] = ny - 1
    inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    flat = (iy * nx + ix)[inside]
    onehot = sparse.csr_matrix((np.ones(flat.size), (flat, np.arange(flat.size))),
                               shape=(ny * nx, flat.size))
    occupancy = np.asarray(onehot.sum(axis=1)).reshape(ny, nx)
    summed = (onehot @ act[inside]).T.reshape(-1, ny, nx)  # (U, ny, nx)

    if sigma > 0:
        occ_s = ndimage.gaussian_filter(occupancy, sigma, mode="constant", cval=0.0)
        sum_s = ndimage.gaussian_filter(summed, (0, sigma, sigma), mode="constant", cval=0.0)
    else:
        occ_s, sum_s = occupancy, summed
    mask = occupancy >= min_occupancy
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(mask, sum_s / np.where(occ_s > 0, occ_s, 1.0), np.nan)
    return RateMap(rate=rate[0] if single else rate, occupancy=occupancy, x_edges=x_edges,
                   y_edges=y_edges)


def node_rate_map(nodes: Any, activity: Any, n_nodes: int, *,
                  node_positions: Any | None = None, min_visits: int = 1) -> NodeRateMap:
    r"""Mean activity per node of a graph world (node-wise rate map).

    .. math:: \lambda_n = \frac{1}{V_n} \sum_{t:\, s_t = n} a_t, \quad V_n = \#\{t: s_t = n\},

    NaN where :math:`V_n <` ``min_visits``.

    Parameters
    ----------
    nodes
        ``(T,)`` node id per sample.
    activity
        ``(T,)`` or ``(T, U)``.
    n_nodes
        Number of nodes of the world.
    node_positions
        ``(n_nodes, 2)`` positions, kept for :meth:`NodeRateMap.to_grid`.
    min_visits
        Nodes with fewer samples are NaN.
    """
    n_nodes = _positive_int("n_nodes", n_nodes)
    min_visits = _positive_int("min_visits", min_visits)
    ids = np.asarray(nodes)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"nodes must be a (T,) integer array, got dtype {ids.dtype} "
                         f"shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= n_nodes):
        raise ValueError(f"nodes holds ids outside 0..{n_nodes - 1}")
    act, single = _activity(activity, ids.shape[0])
    pos = None
    if node_positions is not None:
        pos = _array("node_positions", node_positions, ndim=(2,), finite=True)
        if pos.shape != (n_nodes, 2):
            raise ValueError(f"node_positions must be ({n_nodes}, 2), got shape {pos.shape}")
    visits = np.bincount(ids, minlength=n_nodes).astype(np.float64)
    sums = np.stack([np.bincount(ids, weights=act[:, u], minlength=n_nodes)
                     for u in range(act.shape[1])])
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(visits >= min_visits, sums / np.where(visits > 0, visits, 1.0), np.nan)
    return NodeRateMap(rate=rate[0] if single else rate, visits=visits, positions=pos)


def _nan_smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """NaN-aware Gaussian smoothing over the last two axes (normalised convolution)."""
    if sigma <= 0:
        return values
    valid = np.isfinite(values)
    filled = np.where(valid, values, 0.0)
    s = (0,) * (values.ndim - 2) + (sigma, sigma)
    num = ndimage.gaussian_filter(filled, s, mode="constant", cval=0.0)
    den = ndimage.gaussian_filter(valid.astype(np.float64), s, mode="constant", cval=0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, num / np.where(den > 0, den, 1.0), np.nan)


def rasterise_nodes(node_values: Any, node_positions: Any, *, visits: Any | None = None,
                    bin_size: float | None = None, sigma: float = 0.0,
                    max_distance: float | None = None) -> RateMap:
    r"""Turn per-node values into an image: each bin takes the value of its nearest node.

    The grid covers the nodes' bounding box widened by half a lattice spacing; bin centres
    farther than ``max_distance`` from every node are NaN, and so are bins whose nearest node
    is NaN (never visited). Optional smoothing is NaN-aware (normalised convolution, ``sigma``
    in bins). ``occupancy`` of the result is the nearest node's ``visits`` (1 if not given),
    so :func:`spatial_information` on the image weighs bins by visits per unit area.

    Parameters
    ----------
    node_values
        ``(n_nodes,)`` or ``(U, n_nodes)``, NaN for unknown nodes.
    node_positions
        ``(n_nodes, 2)``.
    visits
        ``(n_nodes,)`` samples per node (default ones).
    bin_size
        Side of a bin (default: a quarter of the lattice spacing).
    sigma
        Smoothing in bins (0: none).
    max_distance
        Largest distance from a bin centre to its node (default: the lattice spacing).
    """
    from scipy.spatial import cKDTree

    pos = _array("node_positions", node_positions, ndim=(2,), finite=True)
    if pos.shape[1] != 2 or pos.shape[0] < 1:
        raise ValueError(f"node_positions must be (n_nodes, 2), got shape {pos.shape}")
    vals = _array("node_values", node_values, ndim=(1, 2), allow_nan=False)
    single = vals.ndim == 1
    vals = vals[None] if single else vals
    if vals.shape[1] != pos.shape[0]:
        raise ValueError(f"node_values must have {pos.shape[0]} nodes on its last axis, "
                         f"got shape {vals.shape}")
    vis = np.ones(pos.shape[0]) if visits is None else _array("visits", visits, ndim=(1,),
                                                             finite=True)
    if vis.shape != (pos.shape[0],):
        raise ValueError(f"visits must be ({pos.shape[0]},), got shape {vis.shape}")
    spacing = lattice_spacing(pos) if pos.shape[0] >= 2 else 1.0
    bin_size = spacing / 4 if bin_size is None else _real("bin_size", bin_size, minimum=0.0,
                                                          strict=True)
    max_distance = spacing if max_distance is None else _real("max_distance", max_distance,
                                                              minimum=0.0, strict=True)
    sigma = _real("sigma", sigma, minimum=0.0)
    lo, hi = pos.min(axis=0) - spacing / 2, pos.max(axis=0) + spacing / 2
    x_edges = _edges(lo[0], hi[0], bins=None, bin_size=bin_size)
    y_edges = _edges(lo[1], hi[1], bins=None, bin_size=bin_size)
    xc, yc = 0.5 * (x_edges[1:] + x_edges[:-1]), 0.5 * (y_edges[1:] + y_edges[:-1])
    gx, gy = np.meshgrid(xc, yc)  # (ny, nx)
    dist, nearest = cKDTree(pos).query(np.stack([gx.ravel(), gy.ravel()], axis=1))
    far = dist > max_distance
    image = vals[:, nearest]  # (U, ny*nx)
    image[:, far] = np.nan
    image = image.reshape(vals.shape[0], *gx.shape)
    occupancy = np.where(far, 0.0, vis[nearest]).reshape(gx.shape)
    image = _nan_smooth(image, sigma)
    return RateMap(rate=image[0] if single else image, occupancy=occupancy, x_edges=x_edges,
                   y_edges=y_edges)


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
       :math:`\max(r_\mathrm{in} + \text{min\_width},\ 2 r_\mathrm{in})`. This keeps a single
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


# ----------------------------------------------------------------------- spatial information
def spatial_information(rate_map: Any, occupancy: Any) -> float | np.ndarray:
    r"""Skaggs et al. (1993) spatial information in bits per spike (per unit of activity).

    .. math::

        I = \sum_i p_i \frac{\lambda_i}{\bar\lambda} \log_2 \frac{\lambda_i}{\bar\lambda},
        \qquad p_i = \frac{O_i}{\sum_j O_j}, \quad \bar\lambda = \sum_i p_i \lambda_i,

    over bins (or nodes) with positive occupancy and a finite rate; terms with
    :math:`\lambda_i = 0` are 0. Rates must be non-negative (shift or rectify model
    activations first). A unit with :math:`\bar\lambda = 0` gets NaN.

    Parameters
    ----------
    rate_map
        ``(...,)`` map whose trailing axes match ``occupancy``; leading axes are units.
    occupancy
        Samples (or time) per bin/node, e.g. ``RateMap.occupancy`` or ``NodeRateMap.visits``.

    Returns
    -------
    float or numpy.ndarray
        One value per unit (a float for a single map).
    """
    lam = _array("rate_map", rate_map.rate if isinstance(rate_map, RateMap) else rate_map,
                 allow_nan=False)
    occ = _array("occupancy", occupancy, finite=True)
    if occ.ndim == 0 or lam.shape[lam.ndim - occ.ndim:] != occ.shape:
        raise ValueError(f"occupancy shape {occ.shape} must match the trailing axes of "
                         f"rate_map {lam.shape}")
    if (occ < 0).any():
        raise ValueError("occupancy must be non-negative")
    lead = lam.shape[:lam.ndim - occ.ndim]
    lam = lam.reshape(-1, occ.size)
    occ = occ.ravel()
    if (lam[np.isfinite(lam)] < 0).any():
        raise ValueError("rate_map must be non-negative for Skaggs information "
                         "(shift or rectify the activity first)")
    use = (occ > 0)[None] & np.isfinite(lam)
    p = np.where(use, occ[None], 0.0)
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-300)
    lam0 = np.where(use, lam, 0.0)
    mean = (p * lam0).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = lam0 / mean
        terms = np.where(lam0 > 0, p * ratio * np.log2(np.where(lam0 > 0, ratio, 1.0)), 0.0)
    info = np.where(mean[:, 0] > 0, terms.sum(axis=1), np.nan)
    return float(info[0]) if not lead else info.reshape(lead)


# -------------------------------------------------------------------------------- remapping
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
