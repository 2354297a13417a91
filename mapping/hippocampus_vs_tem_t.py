r"""The spiking entorhinal-hippocampal loop next to the attention it implements.

At each step the memory neurons' spike counts are compared with
:math:`\mathrm{softmax}(\beta\, k_\tau \cdot q)` computed from the same codes: the keys
:math:`k_\tau` are the learned MEC->HPC weights of each recruited memory neuron (bump-code
spike counts at storage), the query :math:`q` the bump-code spike counts of the step.
:math:`\beta` is fitted from the spikes by
least squares of :math:`\log n_\tau` on :math:`k_\tau \cdot q` (memories that fired),
pooled over steps with a per-step intercept (the shared inhibition scales every rate of a
step by one factor): the circuit's *effective beta*. The abstract prediction is
:math:`\arg\max_s \sum_\tau \mathrm{softmax}(\beta k_\tau \cdot q)\, [x_\tau = s]`
with :math:`x_\tau` the symbol stored in memory :math:`\tau`'s value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from circuits.hippocampus.loop import HippocampusReadout
from models.attention import beta_softmax
from models.worlds import Walk, World

__all__ = [
    "AttentionComparison",
    "BetaAlongWalk",
    "TEMTOnWalk",
    "beta_along_walk",
    "compare_with_attention",
    "effective_beta_cosine",
    "memories_stored",
    "memory_similarity",
    "softmax_beta",
    "softmax_beta_lower",
    "stored_symbols",
    "tem_t_on_walk",
]


def stored_symbols(readout: HippocampusReadout) -> np.ndarray:
    """Symbol whose LEC code best matches each memory's learned value (-1: unwritten)."""
    lec = readout.inputs.lec  # (n_symbols, per_symbol)
    member = np.zeros((lec.shape[0], readout.values.shape[1]))
    np.put_along_axis(member, lec, 1.0, axis=1)
    overlap = readout.values @ member.T  # (n_memory, n_symbols)
    return np.where(overlap.max(1) > 0, overlap.argmax(1), -1)


@dataclass(frozen=True)
class AttentionComparison:
    """Per-step comparison of memory-neuron spikes with softmax attention."""

    beta: float  # effective beta fitted from the spikes
    spearman: np.ndarray  # (steps,) Spearman over the 10 strongest memories (NaN: < 3)
    agreement: np.ndarray  # (steps,) circuit prediction == attention prediction
    attention_prediction: np.ndarray  # (T+1,) -1 where no memory existed
    steps: np.ndarray  # step indices compared

    @property
    def median_spearman(self) -> float:
        """Median over steps of the top-10 Spearman correlation."""
        return float(np.nanmedian(self.spearman))

    @property
    def agreement_fraction(self) -> float:
        """Fraction of compared steps where the predicted symbols agree."""
        return float(np.mean(self.agreement)) if len(self.agreement) else float("nan")


def memory_similarity(readout: HippocampusReadout, *, cosine: bool = False) -> np.ndarray:
    r"""Drive of every memory neuron at every step: ``(T + 1, n_memory)``.

    Default: :math:`k_\tau \cdot q / \mathrm{peak}` with bump-code keys and queries (the
    circuit's own units). ``cosine=True``: :math:`k_\tau \cdot q / (\lVert k_\tau\rVert
    \lVert q\rVert)`, the units of TEM-t's softmax (keys and queries normalised), so a beta
    fitted on it is comparable with TEM-t's :math:`\beta_t`. Unwritten memories (zero key)
    and silent queries get similarity 0.
    """
    keys = readout.keys  # (n_grid, n_memory)
    dots = readout.query @ keys
    if not cosine:
        return dots / readout.params.mec.bump_peak
    norms = np.outer(np.linalg.norm(readout.query, axis=1), np.linalg.norm(keys, axis=0))
    return np.divide(dots, norms, out=np.zeros_like(dots, dtype=float), where=norms > 0)


def _pooled_beta(similarity: np.ndarray, counts: np.ndarray, slot: np.ndarray,
                 min_memories: int, min_count: int, *,
                 poisson: bool = False) -> tuple[float, list[int]]:
    """The beta of a walk's memory spikes, with the steps it was fitted on.

    Steps: those with enough memories and at least one memory spike. Deterministic memory
    neurons (counts are rounded integrated rates): least squares of log spike count on
    similarity with a per-step intercept, on the memories with at least ``min_count``
    spikes. Poisson memory neurons (``poisson``; counts are samples): :func:`softmax_beta`
    on every stored memory (log counts of samples are biased, silent memories informative).
    """
    xs, ys = [], []
    steps = []
    for k in range(counts.shape[0]):
        stored = slot[:k]
        if len(np.unique(stored)) < min_memories or counts[k].sum() == 0:
            continue
        steps.append(k)
        if poisson:
            memories = np.unique(stored)
            xs.append(similarity[k, memories])
            ys.append(counts[k, memories])
            continue
        fired = stored[counts[k, stored] >= min_count]
        if len(fired) >= 2:
            # within-step deviations: the interneurons scale every rate of a step by the
            # same factor, which a per-step intercept absorbs
            x_k, y_k = similarity[k, fired], np.log(counts[k, fired])
            xs.append(x_k - x_k.mean())
            ys.append(y_k - y_k.mean())
    if poisson:
        return softmax_beta(xs, ys)[0], steps
    x, y = (np.concatenate(xs), np.concatenate(ys)) if xs else (np.zeros(1), np.zeros(1))
    beta = float(np.cov(x, y, bias=True)[0, 1] / np.var(x)) if np.var(x) > 0 else float("nan")
    return beta, steps


def _informative_steps(similarity: list[np.ndarray],
                       counts: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The steps that say something about beta: two similarities or more, a spike or more."""
    return [(np.asarray(x, float), np.asarray(n, float)) for x, n in
            zip(similarity, counts, strict=True) if np.ptp(x) > 0 and np.sum(n) > 0]


def _bisect(above: Callable[[float], bool], low: float, high: float) -> float:
    """The point in ``[low, high]`` where ``above`` turns from True to False (80 halvings)."""
    for _ in range(80):
        mid = 0.5 * (low + high)
        if above(mid):
            low = mid
        else:
            high = mid
    return 0.5 * (low + high)


def memories_stored(readout: HippocampusReadout) -> np.ndarray:
    """``(T + 1,)`` distinct memories written before each step: TEM-t's :math:`N_t`."""
    slot = readout.inputs.memory_slot[:readout.memory_counts.shape[0]]
    first = np.zeros(len(slot), dtype=np.int64)
    first[np.unique(slot, return_index=True)[1]] = 1  # a memory's first write
    return np.concatenate([[0], np.cumsum(first)[:-1]])


def softmax_beta(similarity: list[np.ndarray], counts: list[np.ndarray], *,
                 upper: float = 1e3) -> tuple[float, float]:
    r"""Maximum-likelihood inverse temperature of spike counts read as softmax samples.

    Step :math:`k` offers memories with similarities :math:`x_{k\tau}` and its memory
    spikes fall on them with counts :math:`n_{k\tau}`. If the memory neurons fire as
    Poisson processes of rates :math:`\propto e^{\beta x_{k\tau}}` times a factor shared
    by the step (the inhibition), the counts given their total are multinomial with
    probabilities :math:`\mathrm{softmax}(\beta x_k)`, so :math:`\beta` maximises

    .. math:: \ell(\beta) = \sum_k \Big[\sum_\tau n_{k\tau}\, \beta x_{k\tau}
              - n_k \log \sum_\tau e^{\beta x_{k\tau}}\Big],

    a concave function; :math:`\ell'(\beta) = \sum_k n_k (\bar x_k^{obs} -
    E_\beta[x_k])` is solved by bisection. Silent memories count (as zeros), so the
    estimate holds however sharp the softmax, as long as some spikes fall off the best
    match.

    Parameters
    ----------
    similarity, counts
        One array per step: the similarities of the memories stored before it and their
        spike counts (same length).
    upper
        Largest beta searched.

    Returns
    -------
    beta, standard_error
        ``standard_error`` is :math:`1 / \sqrt{-\ell''(\beta)}` (Fisher information).
        ``(nan, nan)`` without a spike on a step offering two different similarities;
        ``(inf, nan)`` when no spike fell off the best matches (beta above ``upper``).
    """
    steps = _informative_steps(similarity, counts)
    if not steps:
        return float("nan"), float("nan")
    if not any(n[x < x.max()].sum() > 0 for x, n in steps):
        return float("inf"), float("nan")  # every spike on a best match

    def moments(beta: float) -> tuple[float, float]:
        gradient, information = 0.0, 0.0
        for x, n in steps:
            w = np.exp(beta * (x - x.max()))
            w /= w.sum()
            mean = float(w @ x)
            gradient += float(n @ x) - n.sum() * mean
            information += n.sum() * float(w @ (x - mean) ** 2)
        return gradient, information

    low, high = 0.0, upper
    if moments(high)[0] > 0:
        return float("inf"), float("nan")  # beta above the search range
    if moments(low)[0] < 0:
        low = -upper
    beta = _bisect(lambda b: moments(b)[0] > 0, low, high)  # the gradient decreases
    information = moments(beta)[1]
    return beta, (1.0 / np.sqrt(information) if information > 0 else float("nan"))


def softmax_beta_lower(similarity: list[np.ndarray], counts: list[np.ndarray], *,
                       level: float = 0.95, upper: float = 1e3) -> float:
    r"""One-sided lower confidence bound on :func:`softmax_beta`'s beta at ``level``.

    With spikes off the best matches: the estimate minus its standard error times the
    normal quantile. With none: the beta at which the expected number of spikes off the
    best matches, given each step's total, is :math:`-\ln(1 - level)` (3.0 at 95%): a
    larger expected number would have shown a spike with probability above ``level``.
    """
    from scipy.stats import norm

    steps = _informative_steps(similarity, counts)
    if not steps:
        return float("nan")
    off = sum(float(n[x < x.max()].sum()) for x, n in steps)
    if off > 0:
        beta, se = softmax_beta(similarity, counts, upper=upper)
        return max(0.0, beta - norm.ppf(level) * se) if np.isfinite(se) else float("nan")

    def expected_off(beta: float) -> float:
        total = 0.0
        for x, n in steps:
            w = np.exp(beta * (x - x.max()))
            total += n.sum() * float(w[x < x.max()].sum() / w.sum())
        return total

    bound = -np.log(1 - level)
    if expected_off(0.0) <= bound:
        return 0.0
    return _bisect(lambda b: expected_off(b) > bound, 0.0, upper)  # expected_off decreases


@dataclass(frozen=True)
class BetaAlongWalk:
    r"""The circuit's effective beta on the key-query cosine, block by block along a walk.

    ``target`` is the inverse temperature the circuit is compared with at each step
    (e.g. TEM-t's :math:`b \log(1 + N_t)`); per block the ratio :math:`\rho` of the
    circuit's beta to it is fitted (:func:`softmax_beta` on the similarities scaled by the
    target), and ``beta = ratio * target`` averaged over the block.
    """

    start: np.ndarray  # (blocks,) first step of each block
    stop: np.ndarray  # (blocks,) one past its last step
    target: np.ndarray  # (blocks,) mean target beta over the block's steps
    ratio: np.ndarray  # (blocks,) fitted circuit beta / target
    ratio_se: np.ndarray  # (blocks,) its standard error
    ratio_lower: np.ndarray  # (blocks,) its one-sided 95% lower bound
    # (softmax_beta_lower: the only bound when no spike fell off the best matches)
    spikes_off_best: np.ndarray  # (blocks,) memory spikes not on a best-matching memory

    @property
    def beta(self) -> np.ndarray:
        """The circuit's effective beta per block (``ratio * target``)."""
        return self.ratio * self.target


def beta_along_walk(readout: HippocampusReadout | Sequence[HippocampusReadout],
                    target: np.ndarray | Sequence[np.ndarray], *, block: int = 50,
                    min_memories: int = 3) -> BetaAlongWalk:
    """Fit the circuit's effective beta on the cosine per block of ``block`` steps.

    Parameters
    ----------
    readout
        The loop's readout (its ``memory_counts`` are the retrieval spikes), or the
        readouts of several walks: a block then pools its steps over the walks (walks of
        different lengths contribute the blocks they reach).
    target
        ``(T + 1,)`` the inverse temperature to compare with at each step (steps with
        fewer than ``min_memories`` stored memories are left out); one per readout.
    block
        Steps per block.

    Raises
    ------
    ValueError
        A target that is not one beta per step, or not one target per readout.
    """
    readouts = [readout] if isinstance(readout, HippocampusReadout) else list(readout)
    targets = [target] if isinstance(readout, HippocampusReadout) else list(target)
    if len(targets) != len(readouts):
        raise ValueError(f"target: one per readout, {len(readouts)}, got {len(targets)}")
    walks = []
    for r, t in zip(readouts, targets, strict=True):
        t = np.asarray(t, float)
        if t.shape != (r.memory_counts.shape[0],):
            raise ValueError(f"target: one beta per step, {r.memory_counts.shape[0]}, got "
                             f"shape {t.shape}")
        walks.append((memory_similarity(r, cosine=True), r.memory_counts,
                      r.inputs.memory_slot, t))
    length = max(counts.shape[0] for _, counts, _, _ in walks)
    rows = []
    for start in range(0, length, block):
        xs, ns, betas, off = [], [], [], 0.0
        for similarity, counts, slot, beta in walks:
            for k in range(start, min(start + block, counts.shape[0])):
                stored = np.unique(slot[:k])
                if len(stored) < min_memories:
                    continue
                x = similarity[k, stored]
                xs.append(beta[k] * x)
                ns.append(counts[k, stored])
                betas.append(beta[k])
                off += float(counts[k, stored][x < x.max()].sum())
        if not betas:
            continue
        ratio, se = softmax_beta(xs, ns)
        rows.append((start, min(start + block, length), np.mean(betas), ratio, se,
                     softmax_beta_lower(xs, ns), off))
    columns = np.array(rows, dtype=float).reshape(-1, 7).T
    return BetaAlongWalk(start=columns[0].astype(int), stop=columns[1].astype(int),
                         target=columns[2], ratio=columns[3], ratio_se=columns[4],
                         ratio_lower=columns[5], spikes_off_best=columns[6])


def effective_beta_cosine(readout: HippocampusReadout, *, min_memories: int = 3,
                          min_count: int = 3) -> float:
    """The memory neurons' effective beta in cosine units (see :func:`memory_similarity`).

    Fitted exactly as in :func:`compare_with_attention`.
    """
    beta, _ = _pooled_beta(memory_similarity(readout, cosine=True), readout.memory_counts,
                           readout.inputs.memory_slot, min_memories, min_count,
                           poisson=readout.params.memory.spiking == "poisson")
    return beta


def _attention_weights(similarity: np.ndarray, beta: float) -> np.ndarray:
    """``softmax(beta * similarity)``, or its limit for a beta too large to fit (inf, NaN).

    In the limit the best matches share the weight equally.
    """
    if np.isfinite(beta):
        return beta_softmax(similarity, beta)
    best = (similarity == similarity.max()).astype(float)
    return best / best.sum()


def compare_with_attention(readout: HippocampusReadout, *, top: int = 10,
                           min_memories: int = 3, min_count: int = 3,
                           beta: np.ndarray | None = None) -> AttentionComparison:
    r"""Effective beta, top-``top`` Spearman and prediction agreement per step.

    Steps compared: those with at least ``min_memories`` memories stored before them and
    at least one memory spike in the retrieval window. Beta is fitted as
    :func:`_pooled_beta` does: for deterministic memory neurons on the memories with at
    least ``min_count`` spikes (integer counts of 1-2 spikes are mostly rounding), for
    Poisson ones by :func:`softmax_beta`; where it cannot be fitted (a softmax too sharp
    for the spike counts) the attention is its sharp limit, the best matches.

    ``beta``, if given, is the attention's inverse temperature on the key-query *cosine*
    at each step, ``(T + 1,)`` (e.g. TEM-t's :math:`b \log(1 + N_t)` for a loop whose gain
    follows it), and replaces the fitted beta in the attention (the fitted one is still
    reported).
    """
    counts = readout.memory_counts
    T1 = counts.shape[0]
    symbols = stored_symbols(readout)
    slot = readout.inputs.memory_slot
    similarity = memory_similarity(readout)
    fitted, steps = _pooled_beta(similarity, counts, slot, min_memories, min_count,
                                 poisson=readout.params.memory.spiking == "poisson")
    if beta is not None:
        beta = np.asarray(beta, float)
        if beta.shape != (T1,):
            raise ValueError(f"beta: one inverse temperature per step, {T1}, got shape "
                             f"{beta.shape}")
        similarity = memory_similarity(readout, cosine=True)
    spearman = np.full(len(steps), np.nan)
    agreement = np.zeros(len(steps), dtype=bool)
    attention = np.full(T1, -1)
    for j, k in enumerate(steps):
        stored = np.unique(slot[:k])
        weights = _attention_weights(similarity[k, stored],
                                     fitted if beta is None else beta[k])
        votes = np.bincount(symbols[stored].clip(0), weights=weights,
                            minlength=readout.inputs.world.n_symbols)
        attention[k] = int(votes.argmax())
        agreement[j] = attention[k] == readout.predicted[k]
        order = np.argsort(-weights, kind="stable")[:top]
        if len(order) >= 3:
            observed = counts[k, stored[order]] / counts[k, stored].sum()
            if np.ptp(observed) > 0 and np.ptp(weights[order]) > 0:
                spearman[j] = spearmanr(observed, weights[order]).statistic
            elif np.ptp(observed) == 0 and np.ptp(weights[order]) == 0:
                spearman[j] = 1.0  # identical ranks: all tied on both sides
    return AttentionComparison(beta=fitted, spearman=spearman, agreement=agreement,
                               attention_prediction=attention, steps=np.array(steps))


@dataclass(frozen=True)
class TEMTOnWalk:
    r"""The shipped TEM-t checkpoint run on one walk (the walk the circuit took).

    ``beta`` holds :math:`\beta_t = b \log(1 + N_t)` at each prediction (``N_t`` memories
    stored before step ``t``), the inverse temperature of TEM-t's softmax over cosine
    similarities of normalised keys and queries.
    """

    correct: np.ndarray  # (T,) prediction of steps 1..T correct
    beta_scale: float  # b
    beta: np.ndarray  # (T,) beta_t
    wall_s: float  # forward time of the walk


def tem_t_on_walk(world: World, walk: Walk, *, checkpoint: str = "default",
                  window: int = 50) -> TEMTOnWalk:
    """Run a TEM-t checkpoint (default: the shipped one for the world's kind) on ``walk``.

    Raises
    ------
    ValueError
        If no checkpoint exists for the world's kind or the checkpoint's actions or
        symbols do not match the world.
    """
    import time

    import torch

    from models.tem_training import load_model

    model, _ = load_model(checkpoint, expected_type="tem-t", world_kind=world.kind,
                          device="cpu")
    if world.n_actions != model.n_actions or world.n_symbols != model.n_symbols:
        raise ValueError(f"checkpoint: trained with {model.n_actions} actions and "
                         f"{model.n_symbols} symbols, the {world.kind} world has "
                         f"{world.n_actions} and {world.n_symbols}")
    actions = torch.as_tensor(walk.actions)[None]
    observations = torch.as_tensor(walk.observations)[None]
    steps = len(walk.actions)
    start = time.perf_counter()
    hits = []
    with torch.no_grad():
        state = model.begin(observations[:, 0])
        for t0 in range(0, steps, window):
            output = model(state, actions[:, t0:t0 + window],
                           observations[:, t0 + 1:t0 + 1 + window])
            state = output.state
            hits.append(output.logits.argmax(-1) == observations[:, t0 + 1:t0 + 1 + window])
        b = float(model.beta_scale)
    wall = time.perf_counter() - start
    memories = np.arange(1, steps + 1)  # the prediction of step t+1 sees t+1 memories
    return TEMTOnWalk(correct=torch.cat(hits, 1)[0].numpy(), beta_scale=b,
                      beta=b * np.log1p(memories), wall_s=wall)
