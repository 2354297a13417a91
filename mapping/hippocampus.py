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

__all__ = ["AttentionComparison", "compare_with_attention", "stored_symbols"]


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


def compare_with_attention(readout: HippocampusReadout, *, top: int = 10,
                           min_memories: int = 3, min_count: int = 3) -> AttentionComparison:
    """Effective beta, top-``top`` Spearman and prediction agreement per step.

    Steps compared: those with at least ``min_memories`` memories stored before them and
    at least one memory spike in the retrieval window. Beta is fitted on memories with at
    least ``min_count`` spikes (integer counts of 1-2 spikes are mostly rounding).
    """
    counts = readout.memory_counts
    T1 = counts.shape[0]
    keys = readout.keys  # (n_grid, n_memory)
    symbols = stored_symbols(readout)
    slot = readout.inputs.memory_slot
    # the drive u of each memory at each step: bump-code key . query / bump_peak
    peak = readout.params.mec.bump_peak
    similarity = readout.query @ keys / peak  # (T+1, n_memory)
    xs, ys = [], []
    steps = []
    for k in range(T1):
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
    spearman = np.full(len(steps), np.nan)
    agreement = np.zeros(len(steps), dtype=bool)
    attention = np.full(T1, -1)
    for j, k in enumerate(steps):
        stored = np.unique(slot[:k])
        logits = beta * similarity[k, stored]
        weights = np.exp(logits - logits.max())
        weights /= weights.sum()
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
