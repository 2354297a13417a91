r"""Rate maps of units on a world: binned, node-wise, and node maps rasterised to images.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, sparse

from analysis._spatial_checks import _array, _positive_int, _real

__all__ = [
    "NodeRateMap",
    "RateMap",
    "lattice_spacing",
    "node_rate_map",
    "rasterise_nodes",
    "rate_map",
]


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
        \quad\text{if } O_{ij} \ge \mathtt{min\_occupancy}, \text{ else NaN},

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
