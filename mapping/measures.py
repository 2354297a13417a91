r"""The mapping API: one set of measures for spikes against equations.

Every comparison in :mod:`mapping` reduces to a few quantities, computed here from plain
arrays (no Brian2, no torch), so that the cerebellar SDM, the hippocampal loop and any
future circuit are measured the same way:

- **agreement** of decoded bits or symbols (:func:`agreement`);
- **similarity of pre-threshold sums**: cosine and Pearson correlation
  (:func:`sums_similarity`);
- **per-memory weights** by Hamming distance: the spiking estimate (granule cells active for
  both the query and the memory's key) against the exact intersection and the softmax
  (:func:`overlap_by_distance`, :func:`distance_weights`);
- the circuit's **effective beta**, fitted from the spikes by regressing the log per-memory
  weight on the key-query cosine (:func:`effective_beta`), next to the theoretical beta of
  its radius (:func:`models.intersection.fit_beta`, the same regression on the exact
  intersection);
- **capacity**: the largest load at which accuracy stays at a level
  (:func:`load_at_accuracy`).

Runs that can be compared record an **input fingerprint** (:func:`write_inputs`): SHA-256
digests of the arrays they were fed (keys, values, queries; world, walk, observations).
:func:`check_same_inputs` refuses to compare runs of one kind whose inputs differ.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.attention import beta_softmax
from models.intersection import BetaFit, hamming_to_cosine, log_binary_intersection
from models.rundir import RunDirectory, atomic_write_json

__all__ = [
    "AGS_ALPHA_C",
    "INPUTS_FILE",
    "DistanceWeights",
    "InputsDiffer",
    "RunInputs",
    "agreement",
    "array_digest",
    "check_same_inputs",
    "clustered_patterns",
    "distance_weights",
    "effective_beta",
    "estimate_alpha_c",
    "load_at_accuracy",
    "normalised_weights",
    "overlap_by_distance",
    "overlap_statistics",
    "pair_overlaps",
    "read_inputs",
    "sums_similarity",
    "theoretical_beta",
    "weight_error",
    "write_inputs",
]

#: file of a run directory that holds its input fingerprint
INPUTS_FILE = "inputs.json"


# --------------------------------------------------------------------------- fingerprints
def array_digest(value: Any) -> str:
    """SHA-256 of an array's dtype, shape and bytes (C order): equal iff the data are."""
    array = np.ascontiguousarray(np.asarray(value))
    digest = hashlib.sha256()
    digest.update(f"{array.dtype.str}|{array.shape}|".encode())
    digest.update(array.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class RunInputs:
    """What a run was fed: its kind (the command that made it) and per-array digests."""

    path: Path  #: the run directory
    kind: str  #: the experiment (``cerebellum``, ``hippocampus``, ...)
    digests: dict[str, str]  #: input name -> :func:`array_digest`
    description: dict[str, Any]  #: seed and human-readable facts (world, sizes)

    @property
    def fingerprint(self) -> str:
        """One digest over every input (sorted by name)."""
        joined = "|".join(f"{k}={v}" for k, v in sorted(self.digests.items()))
        return hashlib.sha256(joined.encode()).hexdigest()


def write_inputs(run_dir: RunDirectory, kind: str, arrays: Mapping[str, Any],
                 **description: Any) -> Path:
    """Record the input fingerprint of a run (``inputs.json``, written atomically).

    Parameters
    ----------
    run_dir
        The run directory.
    kind
        The experiment that made the run; only runs of one kind are compared input by input.
    arrays
        Name -> the array the run was fed (keys, values, queries, walk, observations...).
    description
        Facts shown when inputs differ (seed, world spec, sizes); JSON-serialisable.
    """
    if not arrays:
        raise ValueError("arrays must name at least one input")
    payload = {"kind": kind,
               "digests": {name: array_digest(a) for name, a in sorted(arrays.items())},
               "description": description}
    return atomic_write_json(run_dir.file(INPUTS_FILE), payload)


def read_inputs(path: str | Path) -> RunInputs:
    """The :class:`RunInputs` of a run directory.

    Raises
    ------
    FileNotFoundError
        If the directory or its ``inputs.json`` is missing: without a fingerprint a run can
        not be compared (runs of older versions must be re-run).
    ValueError
        If ``inputs.json`` is not valid JSON or not an input record (a damaged run).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"run directory {path} does not exist")
    file = path / INPUTS_FILE
    if not file.is_file():
        raise FileNotFoundError(
            f"{path} has no {INPUTS_FILE}: only runs that record their inputs can be "
            f"compared (memcircuits cerebellum, hippocampus, figures cerebellum-beta, "
            f"figures cerebellum-capacity); re-run it with this version")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file} is not valid JSON ({exc}); the run directory is damaged: "
                         f"run it again") from exc
    if not (isinstance(data, dict) and isinstance(data.get("kind"), str)
            and isinstance(data.get("digests"), dict)
            and isinstance(data.get("description", {}), dict)):
        raise ValueError(f"{file} is not an input record (a JSON object with 'kind', "
                         f"'digests' and 'description'); the run directory is damaged: "
                         f"run it again")
    return RunInputs(path=path, kind=data["kind"], digests=dict(data["digests"]),
                     description=dict(data.get("description", {})))


class InputsDiffer(ValueError):
    """Runs of one kind were fed different inputs: comparing them would be meaningless."""


def check_same_inputs(runs: Sequence[RunInputs]) -> None:
    """Refuse runs of the same kind whose inputs differ.

    Runs of different kinds (a cerebellar and a hippocampal run) are independent and pass;
    within a kind every input digest must be equal. Parameters of the circuit may differ
    (that is what a comparison is for); what it was fed may not.

    Raises
    ------
    InputsDiffer
        Naming the runs, the inputs that differ and the runs' descriptions (seeds).
    """
    by_kind: dict[str, list[RunInputs]] = {}
    for run in runs:
        by_kind.setdefault(run.kind, []).append(run)
    for kind, group in by_kind.items():
        first = group[0]
        for other in group[1:]:
            names = sorted(set(first.digests) | set(other.digests))
            differ = [n for n in names if first.digests.get(n) != other.digests.get(n)]
            if differ:
                raise InputsDiffer(
                    f"cannot compare {kind} runs {first.path} and {other.path}: their inputs "
                    f"differ ({', '.join(differ)}); {first.path.name}: "
                    f"{_describe(first)}; {other.path.name}: {_describe(other)}. Re-run "
                    f"with the same seed and inputs to compare them")


def _describe(run: RunInputs) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(run.description.items())) or "no details"


# --------------------------------------------------------------------------- readouts
def agreement(a: Any, b: Any) -> float:
    """Fraction of entries where two decoded readouts (bits or symbols) are equal."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"readouts must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("readouts are empty")
    return float(np.mean(a == b))


def sums_similarity(circuit: Any, abstract: Any) -> tuple[float, float]:
    r"""Cosine and Pearson correlation of the circuit's and the model's pre-threshold sums.

    .. math::

        \cos = \frac{\langle x, y\rangle}{\lVert x\rVert\,\lVert y\rVert}, \qquad
        r = \frac{\langle x - \bar x, y - \bar y\rangle}
                 {\lVert x - \bar x\rVert\,\lVert y - \bar y\rVert}

    over all entries (flattened). NaN where a norm is zero.
    """
    x = np.asarray(circuit, dtype=float).ravel()
    y = np.asarray(abstract, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"sums must have the same size, got {x.size} and {y.size}")
    if x.size < 2:
        raise ValueError("sums need at least two entries")

    def _cos(u: np.ndarray, v: np.ndarray) -> float:
        norm = np.linalg.norm(u) * np.linalg.norm(v)
        return float(u @ v / norm) if norm > 0 else float("nan")

    return _cos(x, y), _cos(x - x.mean(), y - y.mean())


# --------------------------------------------------------------------------- weights
def pair_overlaps(active_queries: Sequence[np.ndarray], active_memories: Sequence[np.ndarray],
                  n_cells: int) -> np.ndarray:
    r"""Spiking per-memory weights as a ``(queries, memories)`` count matrix.

    Cells active for both query :math:`i` and memory :math:`\mu`, :math:`|A_i \cap A_\mu|`.
    """
    def _mask(sets: Sequence[np.ndarray]) -> np.ndarray:
        mask = np.zeros((len(sets), n_cells), dtype=np.float32)
        for k, cells in enumerate(sets):
            mask[k, np.asarray(cells, dtype=np.int64)] = 1.0
        return mask

    return (_mask(active_queries) @ _mask(active_memories).T).round().astype(np.int64)


def overlap_by_distance(overlaps: Any, distances: Any, max_distance: int
                        ) -> dict[str, np.ndarray]:
    """Mean, standard error and count of pair overlaps per Hamming distance ``0..D``.

    Parameters
    ----------
    overlaps, distances
        Same-shape arrays: the overlap of each pair and its Hamming distance; pairs farther
        than ``max_distance`` are ignored.
    max_distance
        ``D``, the last distance binned.
    """
    o = np.asarray(overlaps, dtype=float).ravel()
    d = np.asarray(distances).ravel().astype(np.int64)
    if o.shape != d.shape:
        raise ValueError("overlaps and distances must have the same shape")
    keep = (d >= 0) & (d <= max_distance)
    counts = np.bincount(d[keep], minlength=max_distance + 1)
    sums = np.bincount(d[keep], weights=o[keep], minlength=max_distance + 1)
    squares = np.bincount(d[keep], weights=o[keep] ** 2, minlength=max_distance + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
        var = squares / counts - mean ** 2
        sem = np.sqrt(np.clip(var, 0, None) / np.maximum(counts - 1, 1))
    return {"mean": mean, "sem": sem, "count": counts}


def effective_beta(mean_weight: Any, n: int, distances: Sequence[int]) -> BetaFit:
    r"""The circuit's effective beta: least squares of :math:`\log \bar w(d)` on :math:`\cos(d)`.

    With :math:`\cos(d) = 1 - 2d/n`, over the given distances.

    .. math::

        \beta_\mathrm{eff} = \frac{\sum_d (x_d - \bar x)(y_d - \bar y)}
                                  {\sum_d (x_d - \bar x)^2},
        \qquad x_d = 1 - \frac{2d}{n},\quad y_d = \log \bar w(d)

    with :math:`\bar w(d)` the mean spiking per-memory weight of pairs at distance
    :math:`d` (``mean_weight[d]``). The same estimator on the exact intersection is the
    theoretical beta (over :math:`d = 0..d_r - 1` it equals
    :func:`models.intersection.fit_beta`), so the ratio of the two measures the circuit
    alone.

    Raises
    ------
    ValueError
        If fewer than two distinct distances are given, or a distance has no pairs or a
        zero mean weight (its log is undefined: measure more pairs or more cells, or fit
        fewer distances).
    """
    w = np.asarray(mean_weight, dtype=float)
    d = np.unique(np.asarray(distances, dtype=np.int64))
    if len(d) < 2:
        raise ValueError(f"distances must hold at least two distinct distances, got "
                         f"{d.tolist()}")
    if d[0] < 0 or d[-1] >= len(w):
        raise ValueError(f"distances must lie in 0..{len(w) - 1}, got {d.tolist()}")
    y = w[d]
    bad = d[~(np.isfinite(y) & (y > 0))]
    if len(bad):
        raise ValueError(f"no positive mean weight at distance(s) {bad.tolist()}: the "
                         f"effective beta needs a measured weight at every fitted distance")
    x = hamming_to_cosine(d, n)
    x_mean, y_log = x.mean(), np.log(y)
    slope = float(np.sum((x - x_mean) * (y_log - y_log.mean())) / np.sum((x - x_mean) ** 2))
    return BetaFit(slope, float(y_log.mean() - slope * x_mean))


def log_linearity(mean_weight: Any, n: int, distances: Sequence[int]) -> float:
    r""":math:`R^2` of the least-squares line of :math:`\log \bar w(d)` on :math:`\cos(d)`.

    How close the weights are to a softmax in the cosine over the given distances (1: a
    softmax exactly); the line is :func:`effective_beta`'s.
    """
    fit = effective_beta(mean_weight, n, distances)
    d = np.unique(np.asarray(distances, dtype=np.int64))
    x, y = hamming_to_cosine(d, n), np.log(np.asarray(mean_weight, dtype=float)[d])
    total = float(np.sum((y - y.mean()) ** 2))
    residual = float(np.sum((y - fit.beta * x - fit.intercept) ** 2))
    return 1.0 - residual / total if total > 0 else 1.0


def theoretical_beta(n: int, radius: int, distances: Sequence[int]) -> float:
    """The same regression as :func:`effective_beta` on the exact intersection.

    The exact intersection :math:`I(n, d_r, d)` at the same distances: what a perfect circuit would
    give.
    """
    d = np.unique(np.asarray(distances, dtype=np.int64))
    exact = np.exp(log_binary_intersection(n, radius, np.arange(n + 1)))
    return effective_beta(exact, n, d).beta


@dataclass(frozen=True)
class DistanceWeights:
    r"""Normalised per-memory weights over distances ``0..D`` for one radius.

    ``spiking`` is the measured mean overlap normalised to the exact weights' mass over
    ``0..D``; ``exact`` :math:`\propto I(n, d, d_v)`; ``softmax`` :math:`\propto
    e^{\beta \cos(d_v)}`; the last two normalised over all :math:`d_v = 0..n`.
    """

    distance: np.ndarray
    spiking: np.ndarray
    exact: np.ndarray
    softmax: np.ndarray

    @property
    def max_error_vs_softmax(self) -> float:
        r"""Largest :math:`|w_\mathrm{spiking} - w_\mathrm{softmax}|` over ``0..D``."""
        return float(np.max(np.abs(self.spiking - self.softmax)))

    @property
    def max_error_vs_exact(self) -> float:
        r"""Largest :math:`|w_\mathrm{spiking} - w_\mathrm{exact}|` over ``0..D``."""
        return float(np.max(np.abs(self.spiking - self.exact)))


def distance_weights(mean_overlap: Any, n: int, radius: int | None, beta: float, *,
                     log_exact: Any = None) -> DistanceWeights:
    """Spiking, exact and softmax per-memory weights over the measured distances ``0..D``.

    ``D = len(mean_overlap) - 1``; choose it as the distances holding 99% of the exact
    weight (:func:`weight_error`) to measure the largest error where the weight is. The
    exact weights are the Hamming-ball intersections of ``radius``, or ``log_exact``, the
    log of any exact expected overlap at every distance ``0..n`` (e.g. the
    selected-coordinate overlap; ``radius`` is then not used).
    """
    mean = np.asarray(mean_overlap, dtype=float)
    last = len(mean) - 1
    if last < 0 or not np.all(np.isfinite(mean)):
        raise ValueError("mean_overlap must be a finite weight for every distance 0..D")
    everywhere = np.arange(n + 1)
    if log_exact is None:
        log_exact = log_binary_intersection(n, radius, everywhere)
    elif np.shape(log_exact) != (n + 1,):
        raise ValueError(f"log_exact must hold one value per distance 0..n ({n + 1}), got "
                         f"shape {np.shape(log_exact)}")
    exact = beta_softmax(np.asarray(log_exact, dtype=float))
    softmax = beta_softmax(hamming_to_cosine(everywhere, n), beta)
    mass = exact[: last + 1].sum()
    total = mean.sum()
    if total <= 0:
        raise ValueError("mean_overlap is zero everywhere: no cell was active for two patterns")
    return DistanceWeights(distance=np.arange(last + 1), spiking=mean / total * mass,
                           exact=exact[: last + 1], softmax=softmax[: last + 1])


# --------------------------------------------------------------------------- capacity
def load_at_accuracy(loads: Any, accuracy: Any, level: float = 0.99) -> float:
    """The largest load at which accuracy is still at least ``level``.

    Linear interpolation between the last load at or above ``level`` (scanning upward from
    the smallest load, stopping at the first that falls below) and the next one. Returns
    the last load when accuracy never falls below ``level`` (a lower bound: load more), and
    NaN when even the smallest load is below it.
    """
    x = np.asarray(loads, dtype=float)
    y = np.asarray(accuracy, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) == 0:
        raise ValueError("loads and accuracy must be 1-d arrays of the same, non-zero length")
    if np.any(np.diff(x) <= 0):
        raise ValueError("loads must be strictly increasing")
    if not 0 < level <= 1:
        raise ValueError(f"level must lie in (0, 1], got {level}")
    below = np.flatnonzero(y < level)
    if len(below) == 0:
        return float(x[-1])
    k = int(below[0])
    if k == 0:
        return float("nan")
    x0, x1, y0, y1 = x[k - 1], x[k], y[k - 1], y[k]
    return float(x0 + (y0 - level) / (y0 - y1) * (x1 - x0))


# ------------------------------------------------- per-memory weights: exact vs softmax
def normalised_weights(n: int, radius: int, beta: float) -> tuple[np.ndarray, np.ndarray]:
    r"""SDM and softmax weights for one pattern at each distance :math:`d_v = 0..n`.

    Returns ``(w_I, w_S)``, each summing to 1 over :math:`d_v`: :math:`w_I \propto I(d_v)`
    (exact intersection, via its log) and :math:`w_S \propto e^{\beta (1 - 2 d_v / n)}`.
    """
    distances = np.arange(n + 1)
    w_sdm = beta_softmax(log_binary_intersection(n, radius, distances))
    w_softmax = beta_softmax(hamming_to_cosine(distances, n), beta)
    return w_sdm, w_softmax


def weight_error(w_sdm: np.ndarray, w_softmax: np.ndarray, mass: float) -> tuple[float, int]:
    """``max |w_I - w_S|`` over the distances holding ``mass`` of ``w_I``, and that distance.

    That last distance is ``D`` (``w_I`` is non-increasing, so these are ``0..D``).
    """
    cumulative = np.cumsum(w_sdm)
    last = int(np.searchsorted(cumulative, mass * (1.0 - 1e-12)))
    last = min(last, len(w_sdm) - 1)
    return float(np.max(np.abs(w_sdm[: last + 1] - w_softmax[: last + 1]))), last


# ------------------------------------------------ granule-cell overlaps by distance
def clustered_patterns(n: int, clusters: int, max_distance: int, seed: int, *,
                       repeat_base: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``clusters`` random base patterns, each with one variant at every distance.

    Distances ``0..max_distance`` (the distance-0 variant is the base itself); with
    ``repeat_base`` each cluster ends with a second copy of its base, so that distance 0
    also has a pair of two presentations (what a stochastic code needs: a cell's overlap
    with itself in one presentation is not its overlap across two). Returns
    ``(patterns, cluster index)``.
    """
    from models.patterns import flip_exact, random_binary
    from models.seeding import child_seed

    bases = random_binary(clusters, n, seed=child_seed(seed, "bases"))
    patterns, labels = [], []
    for c in range(clusters):
        for distance in range(max_distance + 1):
            variant = flip_exact(bases[c], distance, seed=child_seed(seed, c, distance))
            patterns.append(variant.numpy())
            labels.append(c)
        if repeat_base:
            patterns.append(bases[c].numpy())
            labels.append(c)
    return np.stack(patterns), np.array(labels)


def overlap_statistics(active: list[np.ndarray], patterns: np.ndarray, clusters: np.ndarray,
                       n_granule: int, max_distance: int, *,
                       include_self: bool = True) -> dict[str, np.ndarray]:
    """Mean, standard error and count of ``|A_i & A_j|`` per Hamming distance ``0..D``.

    Only pairs within the same cluster are used. With ``include_self`` distance 0 holds each
    presentation with itself (``|A_i|``: right for deterministic codes); without it only
    pairs of two presentations count (stochastic codes; present a pattern twice, e.g.
    :func:`clustered_patterns` with ``repeat_base``). Binning:
    :func:`mapping.measures.overlap_by_distance`.
    """
    overlaps, distances = [], []
    for c in np.unique(clusters):
        members = np.flatnonzero(clusters == c)
        sets = [active[k] for k in members]
        overlap = pair_overlaps(sets, sets, n_granule)
        distance = (patterns[members, None, :] != patterns[None, members, :]).sum(-1)
        iu = np.triu_indices(len(members), 0 if include_self else 1)  # 0: with itself
        overlaps.append(overlap[iu])
        distances.append(distance[iu])
    return overlap_by_distance(np.concatenate(overlaps), np.concatenate(distances),
                               max_distance)


# ------------------------------------------------------------- Hopfield capacity
#: Amit, Gutfreund & Sompolinsky (1985): critical load for N -> infinity (reference line).
AGS_ALPHA_C = 0.138


def estimate_alpha_c(loads: Any, mean_overlaps: Any, threshold: float = 0.9) -> float:
    r"""Load at which the mean final overlap first drops below ``threshold``.

    Scans the loads in increasing order; at the first grid load whose overlap is below the
    threshold, interpolates linearly between it and the previous load:

    .. math:: \alpha_c = \alpha_{k-1} + (\alpha_k - \alpha_{k-1})
              \frac{\bar m_{k-1} - \theta}{\bar m_{k-1} - \bar m_k}

    Parameters
    ----------
    loads
        Increasing loads :math:`\alpha_k`.
    mean_overlaps
        Mean final overlaps :math:`\bar m_k` at those loads.
    threshold
        :math:`\theta`.

    Returns
    -------
    float
        The estimate, or NaN when the overlap never drops below the threshold or is already
        below it at the first load.
    """
    alphas = np.asarray(loads, dtype=float)
    overlaps = np.asarray(mean_overlaps, dtype=float)
    if alphas.shape != overlaps.shape or alphas.ndim != 1:
        raise ValueError(f"mean_overlaps must match loads in shape, got {overlaps.shape} "
                         f"and {alphas.shape}")
    below = np.nonzero(overlaps < threshold)[0]
    if below.size == 0 or below[0] == 0:
        return math.nan
    k = int(below[0])
    m0, m1 = overlaps[k - 1], overlaps[k]
    return float(alphas[k - 1] + (alphas[k] - alphas[k - 1]) * (m0 - threshold) / (m0 - m1))
