r"""``memcircuits figures ca3``: the spiking CA3 network against the classic Hopfield equation.

The circuit (:mod:`circuits.hippocampus.ca3`) runs one synchronous update
:math:`s \leftarrow \operatorname{sign}(W s)` per gamma cycle with Hebbian weights
:math:`W = \frac1N \sum_\mu x^\mu {x^\mu}^\top` (zero diagonal). This experiment runs it and
the equation (:func:`models.hopfield.sync_update`, same patterns, same cues, same number of
updates) side by side.

Protocol
--------
All networks below are blocks of **one** Brian2 simulation (:class:`CA3Circuit` with
``n_blocks``), so the whole sweep costs one build and one run.

1. **Capacity (random patterns).** For each load :math:`\alpha` in ``loads`` and each of
   ``pattern_sets`` sets, :math:`m = \operatorname{round}(\alpha N)` random bipolar patterns
   are stored (offline Hebbian rule). Probe ``p`` (``p < min(probes, m)``) is pattern ``p``
   with exactly ``round(probe_flip N)`` bits flipped; the network runs ``cycles`` cycles.
   Every set is simulated twice: noise-free and with membrane noise ``noise`` (Glauber-like
   temperature :math:`\sigma / g_h` in units of the local field).
2. **Position-only cue (conjunctions)**, ``position_sets`` networks per load in
   ``position_loads``. Memories are
   :math:`p = \operatorname{flatten}(g \otimes x)` with a random bipolar position code
   :math:`g` (``position_bits``) and a random symbol out of the 45 two-hot stimulus codes of
   length ``stimulus_bits`` = 10 (TEM's code); :math:`N = n_g n_x`. The cue is
   :math:`g \otimes \bar x` with :math:`\bar x` the sign of the mean stimulus code (all
   -1): the stimulus unknown. The symbol is decoded from the final state by projecting on
   the known position (:func:`~circuits.hippocampus.ca3.decode_stimulus`).
3. **Online write.** ``round(write_load N)`` patterns are written by the spiking write
   protocol (clamp, activity tags, write gate); the learned weights, inhibition and
   thresholds are compared with the offline Hebbian values.

Measures
--------
- **Agreement**: fraction of bits where the circuit's state after ``cycles`` cycles equals
  the equation's from the same cue (mean over the valid probes of a load). **Decision
  agreement**: fraction of single updates (every cell, cycle and probe) where the circuit's
  next state equals :func:`models.hopfield.sync_update` of the circuit's current state.
- **Retrieval quality**: final overlap :math:`m = x^\mu \cdot s / N` with the probe's own
  pattern, averaged over probes; for reference the asynchronous dynamics of
  :func:`models.hopfield.classic_retrieve` (the AGS dynamics) on the same patterns and cues.
- **Breakdown load** :math:`\alpha_b`: where the mean final overlap first drops below
  ``overlap_threshold``, interpolated linearly
  (:func:`mapping.measures.estimate_alpha_c`). The default 0.967 is the
  overlap of the AGS retrieval state at :math:`\alpha_c = 0.138` (1.65% wrong bits), the
  last retrieval state of the infinite network; the 0.9 criterion of ``figures hopfield``
  is reported as well (``_m0.9``). Finite :math:`N` smooths the transition and moves the
  0.9 crossing above 0.138.
- **Fields**: the local fields read from the membrane against :math:`W s` of the same
  states (maximum absolute error).

Metrics (``metrics.json``)
--------------------------
``agreement_vs_hopfield_alpha{a}`` (noise-free circuit, final state),
``decision_agreement_alpha{a}``, ``agreement_noisy_alpha{a}``,
``decision_agreement_noisy_alpha{a}``;
``min_agreement_below_0.1N`` (over loads <= 0.1), ``min_agreement_below_0.1N_noisy``,
``min_agreement_all_loads``; ``overlap_circuit_alpha{a}``, ``overlap_equation_alpha{a}``,
``overlap_async_alpha{a}``, ``overlap_noisy_alpha{a}``; ``breakdown_alpha_circuit``,
``breakdown_alpha_equation``, ``breakdown_alpha_async``, ``breakdown_alpha_circuit_noisy``
and their ``_m0.9`` versions; ``position_accuracy_circuit_alpha{a}``,
``position_accuracy_equation_alpha{a}``, ``position_agreement_alpha{a}``;
``online_weight_max_abs_diff`` (:math:`W`), ``online_threshold_max_abs_diff``,
``online_inhibition_max_abs_diff``, ``online_patterns``; ``field_max_abs_error``;
``stray_spikes``; ``n_units``, ``networks``, ``synapses``; ``run_s`` (Brian2 run of the
sweep), ``write_run_s``, ``wall_s``.

Data: ``ca3_curves.csv``. Figure: ``ca3_vs_hopfield``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from brian2 import Quantity, mV, volt

from circuits.hippocampus.ca3 import (
    CA3Circuit,
    CA3Params,
    conjunction,
    decode_stimulus,
    hebbian_state,
    position_cue,
    stimulus_prior,
    two_hot_codes,
)
from mapping.measures import AGS_ALPHA_C, estimate_alpha_c
from models._checks import check_int, check_probability, check_real
from models.hopfield import classic_retrieve, hebbian_weights, sync_update
from models.patterns import flip_exact, random_bipolar
from models.rundir import RunDirectory, atomic_write_text
from models.seeding import child_seed, numpy_rng

__all__ = ["Config", "bit_agreement", "decision_agreement", "equation_final", "run",
           "summarize"]


@dataclass(frozen=True)
class Config:
    """Parameters of the CA3 experiment (see the module docstring for the protocol)."""

    circuit: CA3Params = field(default_factory=CA3Params)  # N = n_units = 300; its
    # `noise` is not used: every network gets 0 mV or `noise` below
    loads: tuple[float, ...] = (0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2,
                                0.25)  # alpha = m / N, random patterns
    pattern_sets: int = 2  # independent pattern sets (networks) per load
    probes: int = 16  # probes per network (patterns 0..probes-1, at most m)
    probe_flip: float = 0.1  # fraction of bits flipped (exactly) in a probe
    cycles: int = 12  # gamma cycles = synchronous updates per probe
    noise: Quantity = field(default_factory=lambda: 2 * mV)  # sigma of the noisy circuit
    # (0 mV: no noisy networks); temperature sigma / field_gain in units of h
    overlap_threshold: float = 0.967  # breakdown criterion (AGS overlap at alpha_c)
    position_bits: int = 30  # n_g: position code length (n_g * n_x must equal n_units)
    stimulus_bits: int = 10  # n_x: two-hot stimulus code length (10: TEM's 45 symbols)
    position_loads: tuple[float, ...] = (0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14)
    position_sets: int = 4  # independent conjunction sets (networks) per position load
    write_load: float = 0.1  # alpha of the online-write check
    num_threads: int = 1  # torch CPU threads for the equation side (applied by the CLI)
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming the first bad field."""
        self.circuit.validate()
        n = self.circuit.n_units
        for name in ("loads", "position_loads"):
            values = getattr(self, name)
            if len(values) == 0:
                raise ValueError(f"{name} must hold at least one load")
            for alpha in values:
                check_real(name, alpha, minimum=0.0, strict_minimum=True, maximum=1.0)
                if round(alpha * n) < 1:
                    raise ValueError(f"{name}: load {alpha} stores no pattern at "
                                     f"n_units={n}")
            if list(values) != sorted(set(values)):
                raise ValueError(f"{name} must be strictly increasing, got {values}")
        check_int("pattern_sets", self.pattern_sets, minimum=1)
        check_int("position_sets", self.position_sets, minimum=1)
        check_int("probes", self.probes, minimum=1)
        check_probability("probe_flip", self.probe_flip)
        check_int("cycles", self.cycles, minimum=1)
        if not isinstance(self.noise, Quantity) or not self.noise.has_same_dimensions(mV):
            raise ValueError(f"noise must be a voltage such as '2 mV', got {self.noise!r}")
        if float(self.noise) < 0:
            raise ValueError(f"noise must be >= 0 mV, got {self.noise}")
        check_real("overlap_threshold", self.overlap_threshold, minimum=0.0,
                   strict_minimum=True, maximum=1.0)
        check_int("position_bits", self.position_bits, minimum=1)
        check_int("stimulus_bits", self.stimulus_bits, minimum=3)
        if self.position_bits * self.stimulus_bits != n:
            raise ValueError(f"position_bits * stimulus_bits must equal circuit.n_units "
                             f"({n}), got {self.position_bits} * {self.stimulus_bits}")
        check_real("write_load", self.write_load, minimum=0.0, strict_minimum=True,
                   maximum=1.0)
        if round(self.write_load * n) < 1:
            raise ValueError(f"write_load {self.write_load} stores no pattern at n_units={n}")
        check_int("num_threads", self.num_threads, minimum=0)
        check_int("seed", self.seed, minimum=0)


# ----------------------------------------------------------------------------------------
# the equation side
# ----------------------------------------------------------------------------------------


def _couplings(patterns: Any) -> torch.Tensor:
    """Integer couplings :math:`N W` (float64, exact) of :func:`models.hopfield.hebbian_weights`."""
    x = torch.as_tensor(np.asarray(patterns), dtype=torch.float64)
    return torch.round(hebbian_weights(x, dtype=torch.float64) * x.shape[1])


def equation_final(patterns: Any, cues: Any, cycles: int) -> np.ndarray:
    r"""State of the classic Hopfield equation after ``cycles`` synchronous updates.

    :math:`s(k+1) = \operatorname{sign}(W s(k))` from :math:`s(0)` = ``cues``, with
    :math:`W` = :func:`models.hopfield.hebbian_weights` of ``patterns`` and a zero field
    keeping the state (:func:`models.hopfield.classic_retrieve` with ``mode="sync"``; a
    probe that reaches a fixed point earlier stays there). Computed with the integer
    couplings :math:`N W` in float64, so every field is exact.

    Parameters
    ----------
    patterns
        ``(m, N)`` bipolar stored patterns.
    cues
        ``(P, N)`` bipolar initial states.
    cycles
        Number of updates (>= 1).

    Returns
    -------
    numpy.ndarray
        ``(P, N)`` int8 final states.
    """
    cycles = check_int("cycles", cycles, minimum=1)
    result = classic_retrieve(_couplings(patterns),
                              torch.as_tensor(np.asarray(cues), dtype=torch.float64),
                              mode="sync", max_sweeps=cycles)
    return result.states.numpy().astype(np.int8)


def decision_agreement(patterns: Any, states: Any) -> float:
    r"""Fraction of the circuit's decisions that the equation makes from the same state.

    For every probe and cycle, the circuit's state :math:`s(k+1)` is compared with
    :func:`models.hopfield.sync_update` applied to the circuit's own :math:`s(k)`; 1.0
    means every transition of the trajectory is the equation's update.

    Parameters
    ----------
    patterns
        ``(m, N)`` bipolar stored patterns.
    states
        ``(P, cycles + 1, N)`` bipolar circuit states (index 0 the cue).
    """
    s = np.asarray(states)
    if s.ndim != 3 or s.shape[1] < 2:
        raise ValueError(f"states must be (P, cycles + 1, N) with cycles >= 1, got {s.shape}")
    before = torch.as_tensor(s[:, :-1].reshape(-1, s.shape[2]), dtype=torch.float64)
    after = sync_update(_couplings(patterns), before).numpy()
    return bit_agreement(after.reshape(s[:, 1:].shape), s[:, 1:])


def bit_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of equal entries of two equally shaped bipolar arrays."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"b must have the shape of a {a.shape}, got {b.shape}")
    return float((a == b).mean())


def _async_final(patterns: np.ndarray, cues: np.ndarray, seed: int) -> np.ndarray:
    x = torch.as_tensor(patterns, dtype=torch.float64)
    couplings = torch.round(hebbian_weights(x, dtype=torch.float64) * x.shape[1])
    result = classic_retrieve(couplings, torch.as_tensor(cues, dtype=torch.float64),
                              mode="async", max_sweeps=100, seed=seed)
    return result.states.numpy().astype(np.int8)


# ----------------------------------------------------------------------------------------
# protocol
# ----------------------------------------------------------------------------------------


@dataclass
class _Block:
    kind: str  # "random" or "position"
    load: float
    set_index: int
    noise: float  # volts
    patterns: np.ndarray  # (m, N)
    cues: np.ndarray  # (P, N)
    valid: int  # probes 0..valid-1 are distinct memories
    targets: np.ndarray  # (P, N) the pattern each probe should retrieve
    positions: np.ndarray | None = None  # (P, n_g)
    symbols: np.ndarray | None = None  # (P,) stored symbol of each probe


def _key(value: float) -> str:
    return f"{value:g}"


def _blocks(config: Config) -> list[_Block]:
    n = config.circuit.n_units
    P = config.probes
    flips = round(config.probe_flip * n)
    noise_levels = [0.0] + ([float(config.noise / volt)] if float(config.noise) > 0 else [])
    blocks: list[_Block] = []
    for alpha in config.loads:
        m = round(alpha * n)
        for r in range(config.pattern_sets):
            patterns = random_bipolar(m, n, seed=child_seed(config.seed, "patterns",
                                                             _key(alpha), r))
            which = torch.arange(P) % m
            targets = patterns[which]
            cues = flip_exact(targets, flips, seed=child_seed(config.seed, "probes",
                                                              _key(alpha), r))
            for sigma in noise_levels:
                blocks.append(_Block("random", alpha, r, sigma,
                                     patterns.numpy().astype(np.int8),
                                     cues.numpy().astype(np.int8), min(P, m),
                                     targets.numpy().astype(np.int8)))
    codes = two_hot_codes(config.stimulus_bits)
    prior = stimulus_prior(codes)
    for alpha in config.position_loads:
        m = round(alpha * n)
        for r in range(config.position_sets):
            rng = numpy_rng(config.seed, "conjunctions", _key(alpha), r)
            g = np.where(rng.random((m, config.position_bits)) < 0.5, -1, 1).astype(np.int8)
            symbols = rng.integers(0, len(codes), size=m)
            patterns = conjunction(g, codes[symbols])
            which = np.arange(P) % m
            blocks.append(_Block("position", alpha, r, 0.0, patterns,
                                 position_cue(g[which], prior), min(P, m), patterns[which],
                                 positions=g[which], symbols=symbols[which]))
    return blocks


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Run the sweep, the online-write check and the figure; return the metrics."""
    config.validate()
    wall = time.perf_counter()
    params = config.circuit
    n = params.n_units
    blocks = _blocks(config)
    circuit = CA3Circuit(params, n_blocks=len(blocks), seed=child_seed(config.seed, "circuit"),
                         report="stderr" if progress else None)
    circuit.store([b.patterns for b in blocks])
    readout = circuit.retrieve(np.stack([b.cues for b in blocks]), cycles=config.cycles,
                               noise=[b.noise * volt for b in blocks])

    codes = two_hot_codes(config.stimulus_bits)
    rows = []
    field_error = 0.0
    for k, block in enumerate(blocks):
        v = block.valid
        states = readout.states[k, :v]                      # (v, cycles + 1, N)
        equation = equation_final(block.patterns, block.cues[:v], config.cycles)
        couplings = block.patterns.T.astype(np.float64) @ block.patterns  # N W, exact
        np.fill_diagonal(couplings, 0.0)
        fields = np.einsum("ij,pkj->pki", couplings, states[:, :-1].astype(np.float64)) / n
        field_error = max(field_error, float(np.abs(readout.fields[k, :v] - fields).max()))
        row = {"kind": block.kind, "load": block.load, "set": block.set_index,
               "noise_mv": block.noise * 1e3, "probes": v,
               "agreement": bit_agreement(states[:, -1], equation),
               "decision_agreement": decision_agreement(block.patterns, states),
               "overlap_circuit": float((states[:, -1] * block.targets[:v]).mean()),
               "overlap_equation": float((equation * block.targets[:v]).mean())}
        if block.kind == "random" and block.noise == 0:
            final = _async_final(block.patterns, block.cues[:v],
                                 child_seed(config.seed, "async", _key(block.load),
                                            block.set_index))
            row["overlap_async"] = float((final * block.targets[:v]).mean())
        if block.kind == "position":
            got, _ = decode_stimulus(states[:, -1], block.positions[:v], codes)
            expected, _ = decode_stimulus(equation, block.positions[:v], codes)
            row["accuracy_circuit"] = float((got == block.symbols[:v]).mean())
            row["accuracy_equation"] = float((expected == block.symbols[:v]).mean())
        rows.append(row)

    metrics = _summarise_rows(rows, config)
    metrics["field_max_abs_error"] = field_error
    metrics["stray_spikes"] = readout.stray_spikes
    metrics["n_units"] = n
    metrics["networks"] = len(blocks)
    metrics["synapses"] = len(blocks) * n * n
    metrics["run_s"] = readout.timings.get("run_s", math.nan)

    # online write: the spiking Hebbian protocol reproduces the offline matrix
    m_write = round(config.write_load * n)
    patterns = random_bipolar(m_write, n, seed=child_seed(config.seed, "write")).numpy()
    writer = CA3Circuit(params, n_blocks=1, seed=child_seed(config.seed, "writer"))
    written = writer.write(patterns.astype(np.int8))
    offline = hebbian_state([patterns], n)
    reference = hebbian_weights(torch.as_tensor(patterns), dtype=torch.float64).numpy()
    metrics["online_patterns"] = m_write
    metrics["online_weight_max_abs_diff"] = float(np.abs(writer.weights[0] - reference).max())
    metrics["online_threshold_max_abs_diff"] = float(
        np.abs(written.after.threshold - offline.threshold).max())
    metrics["online_inhibition_max_abs_diff"] = float(
        np.abs(written.after.inhibitory - offline.inhibitory).max())
    metrics["write_run_s"] = written.timings.get("run_s", math.nan)

    _write_csv(run_dir, rows)
    _figure(run_dir, rows, metrics, config, readout, blocks)
    metrics["wall_s"] = time.perf_counter() - wall
    return metrics


def _mean_by_load(rows: list[dict], kind: str, noisy: bool, column: str
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Loads and probe-weighted means of ``column`` over the pattern sets."""
    selected = [r for r in rows if r["kind"] == kind and (r["noise_mv"] > 0) == noisy
                and column in r]
    loads = sorted({r["load"] for r in selected})
    means = []
    for alpha in loads:
        at = [r for r in selected if r["load"] == alpha]
        weights = np.array([r["probes"] for r in at], dtype=float)
        means.append(float(np.average([r[column] for r in at], weights=weights)))
    return np.array(loads), np.array(means)


def _summarise_rows(rows: list[dict], config: Config) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    has_noise = float(config.noise) > 0
    curves = {}
    for label, noisy, column in (("circuit", False, "overlap_circuit"),
                                 ("equation", False, "overlap_equation"),
                                 ("async", False, "overlap_async"),
                                 ("noisy", True, "overlap_circuit")):
        if noisy and not has_noise:
            continue
        loads, means = _mean_by_load(rows, "random", noisy, column)
        curves[label] = (loads, means)
        for alpha, value in zip(loads, means, strict=True):
            metrics[f"overlap_{label}_alpha{_key(alpha)}"] = value
    for label, noisy in (("", False), ("_noisy", True)):
        if noisy and not has_noise:
            continue
        loads, agree = _mean_by_load(rows, "random", noisy, "agreement")
        for alpha, value in zip(loads, agree, strict=True):
            name = "agreement_vs_hopfield" if not noisy else "agreement_noisy"
            metrics[f"{name}_alpha{_key(alpha)}"] = value
        below = agree[loads <= 0.1 + 1e-12]
        metrics[f"min_agreement_below_0.1N{label}"] = (float(below.min()) if below.size
                                                       else math.nan)
        _, decisions = _mean_by_load(rows, "random", noisy, "decision_agreement")
        for alpha, value in zip(loads, decisions, strict=True):
            metrics[f"decision_agreement{label}_alpha{_key(alpha)}"] = value
        if not noisy:
            metrics["min_agreement_all_loads"] = float(agree.min())
    for label, (loads, means) in curves.items():
        name = "circuit_noisy" if label == "noisy" else label
        metrics[f"breakdown_alpha_{name}"] = estimate_alpha_c(loads, means,
                                                              config.overlap_threshold)
        metrics[f"breakdown_alpha_{name}_m0.9"] = estimate_alpha_c(loads, means, 0.9)
    for column, label in (("accuracy_circuit", "position_accuracy_circuit"),
                          ("accuracy_equation", "position_accuracy_equation"),
                          ("agreement", "position_agreement")):
        loads, values = _mean_by_load(rows, "position", False, column)
        for alpha, value in zip(loads, values, strict=True):
            metrics[f"{label}_alpha{_key(alpha)}"] = value
    metrics["overlap_threshold"] = config.overlap_threshold
    metrics["ags_alpha_c"] = AGS_ALPHA_C
    return metrics


def _write_csv(run_dir: RunDirectory, rows: list[dict]) -> None:
    columns = ["kind", "load", "set", "noise_mv", "probes", "agreement",
               "decision_agreement", "overlap_circuit", "overlap_equation", "overlap_async",
               "accuracy_circuit", "accuracy_equation"]
    lines = [",".join(columns)]
    for row in rows:
        lines.append(",".join("" if row.get(c) is None else
                              (f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]))
                              for c in columns))
    atomic_write_text(run_dir.file("ca3_curves.csv"), "\n".join(lines) + "\n")


def _figure(run_dir: RunDirectory, rows: list[dict], metrics: dict[str, Any], config: Config,
            readout: Any, blocks: list[_Block]) -> None:
    import matplotlib.pyplot as plt

    has_noise = float(config.noise) > 0
    sigma_mv = float(config.noise / mV)
    temperature = float(config.noise / config.circuit.field_gain)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))

    ax = axes[0, 0]
    styles = [("circuit", False, "overlap_circuit", "tab:blue", "-", "o", "spiking CA3"),
              ("equation", False, "overlap_equation", "k", "--", "x",
               "Hopfield equation (sync)"),
              ("async", False, "overlap_async", "0.5", ":", "s", "Hopfield async (AGS)")]
    if has_noise:
        styles.append(("noisy", True, "overlap_circuit", "tab:red", "-", "^",
                       f"spiking CA3, noise {sigma_mv:g} mV (T={temperature:.2g})"))
    for label, noisy, column, colour, ls, marker, text in styles:
        loads, means = _mean_by_load(rows, "random", noisy, column)
        ax.plot(loads, means, color=colour, ls=ls, marker=marker, ms=5, label=text)
        name = "circuit_noisy" if label == "noisy" else label
        alpha_b = metrics.get(f"breakdown_alpha_{name}", math.nan)
        if alpha_b is not None and math.isfinite(alpha_b) and label in ("circuit", "noisy"):
            ax.axvline(alpha_b, color=colour, lw=0.8, alpha=0.6)
    ax.axvline(AGS_ALPHA_C, color="tab:green", lw=1.2, ls="-.", label="AGS 0.138")
    ax.axhline(config.overlap_threshold, color="0.7", lw=0.8)
    ax.set_xlabel("load alpha = m / N")
    ax.set_ylabel("mean final overlap with the stored pattern")
    ax.set_title(f"retrieval from {config.probe_flip:.0%}-flipped cues, N={config.circuit.n_units}"
                 f" (breakdown: overlap < {config.overlap_threshold:g})", fontsize=9)
    ax.legend(fontsize=7)

    ax = axes[0, 1]
    loads, agree = _mean_by_load(rows, "random", False, "agreement")
    ax.plot(loads, agree * 100, marker="o", color="tab:blue", label="noise-free, final state")
    _, decisions = _mean_by_load(rows, "random", False, "decision_agreement")
    ax.plot(loads, decisions * 100, marker=".", ls=":", color="tab:blue",
            label="noise-free, every decision")
    if has_noise:
        _, noisy = _mean_by_load(rows, "random", True, "agreement")
        ax.plot(loads, noisy * 100, marker="^", color="tab:red",
                label=f"noise {sigma_mv:g} mV, final state")
        _, noisy_decisions = _mean_by_load(rows, "random", True, "decision_agreement")
        ax.plot(loads, noisy_decisions * 100, marker=".", ls=":", color="tab:red",
                label=f"noise {sigma_mv:g} mV, every decision")
    ax.axhline(95, color="k", ls="--", lw=0.8, label="95%")
    ax.axvline(0.1, color="0.6", lw=0.8)
    ax.set_xlabel("load alpha = m / N")
    ax.set_ylabel("bit agreement circuit vs equation (%)")
    ax.set_title("same patterns, same cues, same number of updates", fontsize=9)
    ax.legend(fontsize=7)

    ax = axes[1, 0]
    loads, acc_c = _mean_by_load(rows, "position", False, "accuracy_circuit")
    _, acc_e = _mean_by_load(rows, "position", False, "accuracy_equation")
    ax.plot(loads, acc_c * 100, marker="o", color="tab:blue", label="spiking CA3")
    ax.plot(loads, acc_e * 100, marker="x", ls="--", color="k", label="Hopfield equation")
    ax.axhline(100 / len(two_hot_codes(config.stimulus_bits)), color="0.6", ls=":",
               label="chance")
    ax.set_xlabel("load alpha = m / N")
    ax.set_ylabel("symbol retrieved from position-only cue (%)")
    ax.set_title(f"conjunctions g (x) x: {config.position_bits} x {config.stimulus_bits}, "
                 f"cue g (x) mean(x)", fontsize=9)
    ax.set_ylim(-5, 105)
    ax.legend(fontsize=7)

    ax = axes[1, 1]
    target = min(range(len(blocks)), key=lambda k: (blocks[k].kind != "random",
                                                    blocks[k].noise > 0,
                                                    abs(blocks[k].load - 0.1)))
    n = config.circuit.n_units
    shown = min(n, 60)
    stop = readout.onsets[1] if len(readout.onsets) > 1 else math.inf
    spikes = readout.spikes["pyramidal"]
    sel = ((spikes.indices // n == target) & (spikes.indices % n < shown)
           & (spikes.times < stop))
    cells, times = spikes.indices[sel] % n, spikes.times[sel] * 1e3
    wrong = blocks[target].targets[0][cells] < 0
    ax.plot(times[~wrong], cells[~wrong], "|", color="tab:blue", ms=4,
            label="cell active in the stored pattern")
    ax.plot(times[wrong], cells[wrong], "|", color="tab:red", ms=6, mew=2,
            label="cell silent in the stored pattern")
    for k in range(config.cycles + 1):
        ax.axvline((k * readout.cycle) * 1e3, color="0.85", lw=0.5, zorder=0)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"pyramidal cell (first {shown})")
    ax.set_title(f"one probe at alpha={blocks[target].load:g} ({config.probe_flip:.0%} of "
                 f"bits flipped): one volley per gamma cycle ({readout.cycle * 1e3:g} ms)",
                 fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    run_dir.save_figure(fig, "ca3_vs_hopfield")


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    def fmt(value: Any, spec: str = ".3f") -> str:
        return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)
                                          ) else format(value, spec)

    agreement = {k.rsplit("alpha", 1)[1]: v for k, v in metrics.items()
                 if k.startswith("agreement_vs_hopfield_alpha")}
    lines = [
        f"spiking CA3 (N={metrics['n_units']}, {metrics['networks']} networks in one run, "
        f"{fmt(metrics['run_s'], '.1f')} s) vs classic Hopfield equation:",
        "  agreement per load: " + ", ".join(f"{a}: {fmt(v * 100, '.1f')}%"
                                             for a, v in agreement.items()),
        f"  min agreement below 0.1 N: {fmt(metrics['min_agreement_below_0.1N'] * 100, '.2f')}%"
        + (f" (noisy: {fmt(metrics['min_agreement_below_0.1N_noisy'] * 100, '.2f')}%)"
           if "min_agreement_below_0.1N_noisy" in metrics else ""),
        f"  breakdown alpha (overlap < {metrics['overlap_threshold']:g}): circuit "
        f"{fmt(metrics['breakdown_alpha_circuit'])}, equation "
        f"{fmt(metrics['breakdown_alpha_equation'])}, async "
        f"{fmt(metrics['breakdown_alpha_async'])}"
        + (f", noisy circuit {fmt(metrics['breakdown_alpha_circuit_noisy'])}"
           if "breakdown_alpha_circuit_noisy" in metrics else "")
        + f" (AGS {metrics['ags_alpha_c']})",
        f"  online write of {metrics['online_patterns']} patterns: max |W_online - W_hebb| = "
        f"{metrics['online_weight_max_abs_diff']:.3g}; fields max error "
        f"{metrics['field_max_abs_error']:.3g}",
    ]
    position = {k.rsplit("alpha", 1)[1]: v for k, v in metrics.items()
                if k.startswith("position_accuracy_circuit_alpha")}
    lines.append("  position-only cue, symbol accuracy (circuit): "
                 + ", ".join(f"{a}: {fmt(v * 100, '.0f')}%" for a, v in position.items()))
    return "\n".join(lines)
