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

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from circuits.hippocampus.loop import HippocampusReadout
from models.attention import beta_softmax
from models.worlds import Walk, World

__all__ = [
    "AttentionComparison",
    "TEMTOnWalk",
    "compare_with_attention",
    "effective_beta_cosine",
    "memory_similarity",
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
                 min_memories: int, min_count: int) -> tuple[float, list[int]]:
    """Least squares of log spike count on similarity with a per-step intercept.

    Also returns the steps with enough memories and at least one memory spike.
    """
    xs, ys = [], []
    steps = []
    for k in range(counts.shape[0]):
        stored = slot[:k]
        if len(np.unique(stored)) < min_memories or counts[k].sum() == 0:
            continue
        steps.append(k)
        fired = stored[counts[k, stored] >= min_count]
        if len(fired) >= 2:
            # within-step deviations: the interneurons scale every rate of a step by the
            # same factor, which a per-step intercept absorbs
            x_k, y_k = similarity[k, fired], np.log(counts[k, fired])
            xs.append(x_k - x_k.mean())
            ys.append(y_k - y_k.mean())
    x, y = (np.concatenate(xs), np.concatenate(ys)) if xs else (np.zeros(1), np.zeros(1))
    beta = float(np.cov(x, y, bias=True)[0, 1] / np.var(x)) if np.var(x) > 0 else float("nan")
    return beta, steps


def effective_beta_cosine(readout: HippocampusReadout, *, min_memories: int = 3,
                          min_count: int = 3) -> float:
    """The memory neurons' effective beta in cosine units (see :func:`memory_similarity`).

    Fitted exactly as in :func:`compare_with_attention`.
    """
    beta, _ = _pooled_beta(memory_similarity(readout, cosine=True), readout.memory_counts,
                           readout.inputs.memory_slot, min_memories, min_count)
    return beta


def compare_with_attention(readout: HippocampusReadout, *, top: int = 10,
                           min_memories: int = 3, min_count: int = 3) -> AttentionComparison:
    """Effective beta, top-``top`` Spearman and prediction agreement per step.

    Steps compared: those with at least ``min_memories`` memories stored before them and
    at least one memory spike in the retrieval window. Beta is fitted on memories with at
    least ``min_count`` spikes (integer counts of 1-2 spikes are mostly rounding).
    """
    counts = readout.memory_counts
    T1 = counts.shape[0]
    symbols = stored_symbols(readout)
    slot = readout.inputs.memory_slot
    similarity = memory_similarity(readout)
    beta, steps = _pooled_beta(similarity, counts, slot, min_memories, min_count)
    spearman = np.full(len(steps), np.nan)
    agreement = np.zeros(len(steps), dtype=bool)
    attention = np.full(T1, -1)
    for j, k in enumerate(steps):
        stored = np.unique(slot[:k])
        weights = beta_softmax(similarity[k, stored], beta)
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
    return AttentionComparison(beta=beta, spearman=spearman, agreement=agreement,
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
