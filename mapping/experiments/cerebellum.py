r"""``memcircuits cerebellum``: write random patterns into the spiking cerebellum, read them back.

Protocol: ``patterns`` random key/value pairs are written (keys on the mossy fibres, value
bits on the climbing fibres), then the stored keys are read back (``read_clean``) and noisy
copies with ``round(query_noise * n)`` bits flipped. The same keys, values and queries go
through the abstract neuron-based SDM built on the circuit's own granule cells
(:func:`mapping.cerebellum_vs_sdm.abstract_sdm`).

Metrics (``metrics.json``):

- ``bit_agreement_vs_sdm``: fraction of decoded bits equal to the abstract SDM read, over
  every read (``_clean`` and ``_noisy`` separately);
- ``bit_accuracy_vs_stored``: fraction of decoded bits equal to the stored values;
- ``coding_level``: mean fraction of granule cells active per presentation (``_sd``;
  ``coding_level_expected`` is the activation probability of the radius);
- ``bit_agreement_vs_active_sets``: fraction of decoded bits equal to the SDM read on the
  circuit's own active sets (:func:`mapping.cerebellum_vs_sdm.active_set_read`; the
  abstract counterpart of a stochastic, asynchronous code), overall and per read kind
  (``active_set_accuracy_vs_stored``: that read's bits equal to the stored values);
- ``asynchronous``: whether the mossy fibres fire asynchronously (the level is then held by
  the Golgi loop, not given by a rule: ``coding_level_expected`` is the rule's);
- ``active_set_match``: fraction of presentations whose active granule set equals the
  abstract SDM's active set;
- ``sums_correlation``: Pearson r of the circuit's net PF drive (in counter units) and the
  abstract pre-threshold sums; ``counter_max_error``: largest
  :math:`|(w_0 - w)/\mathrm{ltp} - C|` over all PF->PC synapses.

Per-memory weights (:func:`memory_weights`): ``effective_beta`` fitted from the granule
cells shared by each read and each written key, next to ``theoretical_beta`` on the same
distances (``effective_beta_bins`` distances; ``weights.json`` holds the table).

Data: ``spikes.nwb`` (Units with a ``population`` column), ``readout.npz`` (patterns,
decoded and abstract bits, drives, active sets, PF->PC weights before and after).
Figures: ``raster``, ``weight_change``, ``coding_level``, ``sums``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from circuits.backend import STANDALONE_BACKENDS
from circuits.cerebellum.network import RUN_PARAMETERS
from circuits.cerebellum.params import CerebellumParams, biological
from circuits.cerebellum.protocol import CerebellarSDM, CerebellumReadout, counters_from_weights
from mapping.cerebellum_vs_sdm import abstract_sdm, active_set_read, compare_read, counter_error
from mapping.imaging import circuit_populations
from mapping.measures import (
    effective_beta,
    normalised_weights,
    overlap_by_distance,
    pair_overlaps,
    theoretical_beta,
    weight_error,
    write_inputs,
)
from models.intersection import binary_intersection, fit_beta_line
from models.patterns import flip_exact, random_binary
from models.rundir import RunDirectory, atomic_path, atomic_write_json
from models.seeding import child_seed

__all__ = ["Config", "memory_weights", "run", "summarize"]


@dataclass(frozen=True)
class Config:
    """Parameters of ``memcircuits cerebellum``."""

    #: the circuit: by default the biological granule layer (four-claw granule cells,
    #: asynchronous mossy fibres, Golgi loop); ``circuit.preset = "kanerva"`` for Kanerva's
    #: limit, whose spikes equal the abstract SDM exactly
    circuit: CerebellumParams = field(default_factory=biological)
    patterns: int = 20  #: m: key/value pairs written
    query_noise: float = 0.1  #: fraction of key bits flipped in the noisy queries
    read_clean: bool = True  #: also read the stored keys themselves
    raster_presentations: int = 3  #: presentations of each kind shown in the raster
    weight_mass: float = 0.99  #: exact-weight mass bounding the distances of the weights
    #: refuse configurations estimated above this many GiB (None: 80% of physical memory)
    memory_budget_gib: float | None = None
    seed: int = 0  #: seeds patterns, noise and the circuit (child seeds by name)
    #: seeds the circuit (wiring, connectivity, Poisson spikes) instead of ``seed``; fix it
    #: to sweep inputs over one circuit
    circuit_seed: int | None = None
    #: cpp_standalone only: run through this process's StandaloneRunner (one build per
    #: structure, cached on disk; the Golgi run parameters and the inputs change per run
    #: without recompiling), e.g. every run of a sweep worker after its first
    reuse_build: bool = False

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if self.patterns < 1:
            raise ValueError(f"patterns must be >= 1, got {self.patterns}")
        if not 0 <= self.query_noise <= 1:
            raise ValueError(f"query_noise must lie in [0, 1], got {self.query_noise}")
        if self.raster_presentations < 1:
            raise ValueError("raster_presentations must be >= 1")
        if not 0 < self.weight_mass <= 1:
            raise ValueError(f"weight_mass must lie in (0, 1], got {self.weight_mass}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        if self.circuit_seed is not None and self.circuit_seed < 0:
            raise ValueError(f"circuit_seed must be >= 0, got {self.circuit_seed}")
        self.circuit.validate()
        if self.reuse_build and self.circuit.backend != "cpp_standalone":
            raise ValueError(f"reuse_build = true needs circuit.backend = 'cpp_standalone' "
                             f"(got {self.circuit.backend!r}): only a compiled standalone "
                             f"build can be reused")
        # refuse sizes over the memory budget at load time, before anything is drawn: the
        # run writes `patterns` keys and reads them back once per read kind
        from circuits.memory import check_cerebellum

        proto = self.circuit.protocol
        reads = self.patterns * (2 if self.read_clean else 1)
        check_cerebellum(self.circuit, presentations=self.patterns + reads,
                         duration_s=float(self.patterns * proto.write_slot
                                          + reads * proto.read_slot),
                         budget_gib=self.memory_budget_gib, prefix="circuit.",
                         presentations_field="patterns", presentations_value=self.patterns)


def _field(params: CerebellumParams, name: str) -> Any:
    """The value of a dotted parameter name (``"golgi.inhibition"``)."""
    value: Any = params
    for part in name.split("."):
        value = getattr(value, part)
    return value


def memory_weights(circuit: CerebellarSDM, write: CerebellumReadout,
                   reads: dict[str, CerebellumReadout], keys: np.ndarray, *,
                   weight_mass: float = 0.99) -> tuple[dict[str, Any], dict[str, Any]]:
    r"""Per-memory weights of every read against every written key, in spikes.

    The spiking weight of memory :math:`\mu` in the read of query :math:`q` is the number
    of granule cells active in both presentations, :math:`|A_q \cap A_\mu|`
    (:func:`mapping.measures.pair_overlaps`). Pairs are binned by Hamming distance over the
    distances holding ``weight_mass`` of the exact intersection weight; the effective beta
    is fitted on the bins of ``0..radius-1`` that hold pairs with a positive mean, next to
    the same regression on the exact intersection at those distances (``theoretical_beta``).
    Random keys rarely lie within the radius of each other: the protocol's own reads give
    few bins (``effective_beta_bins``); ``figures cerebellum-beta`` measures every distance.

    Returns the metrics and a table (``weights.json``): per distance the mean spiking
    weight, its standard error, the number of pairs, and the exact expectation
    :math:`r\,I(n, d, d_v)/2^n`.
    """
    params = circuit.params
    n, cells, radius = params.address_bits, params.granule.n, circuit.derived.radius
    if radius is None:
        return {}, {}
    line = fit_beta_line(n, radius, cells)  # log E(d) ~ beta cos(d) + b over 0..radius-1
    _, last = weight_error(*normalised_weights(n, radius, line.beta), weight_mass)
    overlaps, distances = [], []
    for readout in reads.values():
        overlaps.append(pair_overlaps(readout.active_granule, write.active_granule, cells))
        distances.append((readout.patterns[:, None, :] != keys[None, :, :]).sum(-1))
    stats = overlap_by_distance(np.concatenate(overlaps), np.concatenate(distances), last)
    usable = [d for d in range(min(radius, last + 1))
              if stats["count"][d] > 0 and stats["mean"][d] > 0]
    out: dict[str, Any] = {"effective_beta_bins": len(usable),
                           "weight_pairs": int(stats["count"].sum())}
    if len(usable) >= 2:
        out["effective_beta"] = effective_beta(stats["mean"], n, usable).beta
        out["theoretical_beta"] = theoretical_beta(n, radius, usable)
        out["effective_beta_ratio"] = out["effective_beta"] / out["theoretical_beta"]
    table = {"n": n, "radius": radius, "n_granule": cells,
             "theoretical_beta_full_range": line.beta,
             "theoretical_intercept_full_range": line.intercept,
             "distance": np.arange(last + 1), "mean": stats["mean"], "sem": stats["sem"],
             "pairs": stats["count"],
             "expected": binary_intersection(n, radius, np.arange(last + 1), neurons=cells)}
    return out, table


def _save_readout(path, readouts: dict[str, CerebellumReadout],
                  abstract: dict[str, np.ndarray]) -> None:
    arrays: dict[str, Any] = {}
    for name, r in readouts.items():
        arrays[f"{name}_patterns"] = r.patterns
        arrays[f"{name}_onsets"] = r.onsets
        arrays[f"{name}_bits"] = r.bits
        arrays[f"{name}_pf_drive"] = r.pf_drive
        arrays[f"{name}_mli_drive"] = r.mli_drive
        arrays[f"{name}_active_indices"] = (np.concatenate(r.active_granule)
                                            if r.active_granule else np.array([], int))
        arrays[f"{name}_active_offsets"] = np.cumsum([0] + [len(a) for a in r.active_granule])
        if r.values is not None:
            arrays[f"{name}_values"] = r.values
    first = next(iter(readouts.values()))
    last = list(readouts.values())[-1]
    arrays["pf_pre"], arrays["pf_post"] = first.pf_pre, first.pf_post
    arrays["weights_before"], arrays["weights_after"] = first.weights_before, last.weights_after
    arrays.update(abstract)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def _figures(run_dir: RunDirectory, circuit: CerebellarSDM, config: Config,
             write: CerebellumReadout, reads: dict[str, CerebellumReadout],
             comparisons: dict, abstract_counters: np.ndarray) -> None:
    import matplotlib.pyplot as plt

    from analysis.plots import population_raster

    names = circuit.params.population_names
    k = config.raster_presentations
    first_read = next(iter(reads.values()))
    for label, readout in (("write", write), ("read", first_read)):
        shown = min(k, len(readout.onsets))
        window = (readout.onsets[0], readout.onsets[0] + shown * readout.slot)
        fig = population_raster(
            circuit_populations(circuit, [readout]), window,
            markers=[(t, f"{label} {i}") for i, t in enumerate(readout.onsets[:shown])],
            title=f"{label}: first {shown} presentations (climbing fibres fire for value 1)")
        run_dir.save_figure(fig, f"raster_{label}")

    params = circuit.params
    before = counters_from_weights(write.weights_before, params)
    after = counters_from_weights(write.weights_after, params)
    change = write.weights_after - write.weights_before
    active_any = np.zeros(params.granule.n, bool)
    for a in write.active_granule:
        active_any[a] = True
    touched = active_any[write.pf_pre]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    bins = np.linspace(change.min() - 0.01, change.max() + 0.01, 60)
    axes[0].hist(change[touched], bins=bins, color="tab:red", alpha=0.7,
                 label=f"{names['granule']} active in a write ({touched.sum()} synapses)")
    axes[0].hist(change[~touched], bins=bins, color="0.5", alpha=0.7,
                 label=f"never active ({(~touched).sum()})")
    axes[0].set_yscale("log")
    axes[0].set_xlabel(r"$\Delta w$ (units of $w_0$)")
    axes[0].set_ylabel("synapses")
    axes[0].legend(fontsize=8)
    axes[0].set_title(f"{names['granule']}->{names['purkinje']} weight change over the writes")
    order = np.argsort(-np.abs(after - before))[:2000]
    axes[1].scatter((after - before)[order], abstract_counters[order], s=4, alpha=0.5)
    axes[1].set_xlabel(r"circuit counter $(w_0 - w)/\mathrm{ltp}$")
    axes[1].set_ylabel("abstract SDM counter")
    axes[1].set_title("counters: circuit vs abstract (2000 largest)")
    fig.tight_layout()
    run_dir.save_figure(fig, "weight_change")

    fig, ax = plt.subplots(figsize=(9, 3.2))
    offset = 0
    for label, readout in [("write", write), *reads.items()]:
        levels = readout.coding_level * 100
        ax.bar(np.arange(offset, offset + len(levels)), levels, label=label, width=0.8)
        offset += len(levels)
    ax.axhline(circuit.derived.expected_coding_level * 100, color="k", ls="--", lw=1,
               label="activation probability of the radius")
    if params.granule.coding_level is not None:
        ax.axhline(params.granule.coding_level * 100, color="tab:red", ls=":", lw=1,
                   label="target")
    ax.set_xlabel("presentation")
    ax.set_ylabel(f"active {names['granule']} (%)")
    ax.legend(fontsize=8, ncol=3)
    ax.set_title("coding level per presentation")
    fig.tight_layout()
    run_dir.save_figure(fig, "coding_level")

    fig, axes = plt.subplots(1, len(comparisons), figsize=(4.2 * len(comparisons), 3.8),
                             squeeze=False)
    for ax, (label, cmp) in zip(axes[0], comparisons.items(), strict=True):
        ax.scatter(cmp.abstract_sums.ravel(), cmp.circuit_sums.ravel(), s=5, alpha=0.5,
                   c=np.where(cmp.circuit_bits.ravel() == cmp.abstract_bits.ravel(),
                              "tab:blue", "tab:red"))
        lim = np.abs(cmp.abstract_sums).max() * 1.05 + 1
        ax.plot([-lim, lim], [-lim, lim], "k", lw=0.5)
        ax.set_xlabel("abstract SDM sum of counters")
        ax.set_ylabel(f"circuit: -net PF drive / ltp ({names['purkinje']})")
        ax.set_title(f"{label} reads: r = {cmp.sums_correlation:.4f}, "
                     f"bits agree {cmp.bit_agreement:.1%}", fontsize=9)
    fig.tight_layout()
    run_dir.save_figure(fig, "sums")


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Write and read through the circuit and the abstract SDM; save data and figures."""
    config.validate()
    params = config.circuit
    n, v = params.address_bits, params.value_bits
    keys = random_binary(config.patterns, n, seed=child_seed(config.seed, "keys")).numpy()
    values = random_binary(config.patterns, v, seed=child_seed(config.seed, "values")).numpy()
    flips = round(config.query_noise * n)
    noisy = flip_exact(torch.as_tensor(keys), flips,
                       seed=child_seed(config.seed, "query_noise")).numpy()

    circuit_seed = (child_seed(config.seed, "circuit") if config.circuit_seed is None
                    else config.circuit_seed)
    labels = ["clean", "noisy"] if config.read_clean else ["noisy"]
    build: dict[str, Any] = {}
    if config.reuse_build:
        from circuits.cerebellum.standalone import process_runner

        runner = process_runner(params, [("write", len(keys)), ("read", len(keys) * len(labels))],
                                seed=circuit_seed, memory_budget_gib=config.memory_budget_gib)
        build["build_reused"] = runner.runs > 0 or not runner.compiled
        schedule = [("write", keys, values),
                    *[("read", keys if label == "clean" else noisy, None) for label in labels]]
        out = runner.run(schedule, parameters={name: _field(params, name)
                                               for name in RUN_PARAMETERS})
        circuit, write, reads = runner.reference, out[0], dict(zip(labels, out[1:], strict=True))
        build["build_s"] = float(write.timings["build_s"])  # one run: every readout holds it
    else:
        circuit = CerebellarSDM(params, seed=circuit_seed, report="text" if progress else None,
                                memory_budget_gib=config.memory_budget_gib)
        write = circuit.write(keys, values)
        reads = {label: circuit.read(keys if label == "clean" else noisy) for label in labels}
        if params.backend in STANDALONE_BACKENDS:  # one build per call
            build["build_s"] = float(sum(r.timings.get("build_s", 0.0)
                                         for r in [write, *reads.values()]))

    model = abstract_sdm(circuit)
    model.write(torch.as_tensor(keys), torch.as_tensor(values))
    comparisons = {label: compare_read(circuit, model, readout, stored=values)
                   for label, readout in reads.items()}

    metrics: dict[str, Any] = {}
    all_circuit = np.concatenate([c.circuit_bits for c in comparisons.values()])
    all_abstract = np.concatenate([c.abstract_bits for c in comparisons.values()])
    all_stored = np.concatenate([c.stored for c in comparisons.values()])
    metrics["bit_agreement_vs_sdm"] = float((all_circuit == all_abstract).mean())
    # the SDM on the circuit's own active sets: the abstract counterpart of a stochastic code
    own = {label: active_set_read(write.active_granule, values, readout.active_granule,
                                  params.granule.n, params.plasticity.counter_range)[0]
           for label, readout in reads.items()}
    all_own = np.concatenate(list(own.values()))
    metrics["bit_agreement_vs_active_sets"] = float((all_circuit == all_own).mean())
    metrics["bit_accuracy_vs_stored"] = float((all_circuit == all_stored).mean())
    metrics["abstract_accuracy_vs_stored"] = float((all_abstract == all_stored).mean())
    metrics["active_set_accuracy_vs_stored"] = float((all_own == all_stored).mean())
    for label, cmp in comparisons.items():
        metrics[f"bit_agreement_vs_sdm_{label}"] = cmp.bit_agreement
        metrics[f"bit_accuracy_vs_stored_{label}"] = cmp.circuit_accuracy
        metrics[f"abstract_accuracy_vs_stored_{label}"] = cmp.abstract_accuracy
        metrics[f"sums_correlation_{label}"] = cmp.sums_correlation
        metrics[f"sums_cosine_{label}"] = cmp.sums_cosine
        metrics[f"active_set_match_{label}"] = float(cmp.active_sets_equal.mean())
        metrics[f"bit_agreement_vs_active_sets_{label}"] = float(
            (cmp.circuit_bits == own[label]).mean())
        metrics[f"active_set_accuracy_vs_stored_{label}"] = float(
            (own[label] == cmp.stored).mean())
    levels = np.concatenate([write.coding_level, *[r.coding_level for r in reads.values()]])
    metrics["coding_level"] = float(levels.mean())
    metrics["coding_level_sd"] = float(levels.std())
    metrics["coding_level_expected"] = circuit.derived.expected_coding_level
    metrics["asynchronous"] = params.mossy.firing != "regular"
    if params.granule.coding_level is not None:
        metrics["coding_level_target"] = params.granule.coding_level
    metrics["radius"] = circuit.derived.radius
    metrics["counter_max_error"] = counter_error(circuit, model, reads["noisy"])
    metrics["query_noise_bits"] = flips
    metrics["n_granule"] = params.granule.n
    metrics["patterns"] = config.patterns
    simulated = sum(r.slot * len(r.onsets) for r in [write, *reads.values()])
    wall = sum(r.timings.get("wall_s", 0.0) for r in [write, *reads.values()])
    metrics["simulated_s"] = simulated
    metrics["simulation_wall_s"] = wall
    metrics["backend"] = params.backend
    metrics.update(build)
    weight_metrics, weight_table = memory_weights(circuit, write, reads, keys,
                                                  weight_mass=config.weight_mass)
    metrics.update(weight_metrics)
    if weight_table:
        atomic_write_json(run_dir.file("weights.json"), weight_table)
    write_inputs(run_dir, "cerebellum", {"keys": keys, "values": values, "queries": noisy},
                 seed=config.seed, patterns=config.patterns, query_noise=config.query_noise)

    from analysis.nwb import write_spikes

    write_spikes(run_dir.file("spikes.nwb"), circuit_populations(circuit, [write,
                                                                          *reads.values()]),
                 session_description="memcircuits cerebellum: SDM write/read protocol",
                 experiment_description=f"{config.patterns} writes, reads: "
                                        f"{', '.join(reads)}; seed {config.seed}")
    abstract_arrays = {f"{label}_abstract_bits": c.abstract_bits
                       for label, c in comparisons.items()}
    abstract_arrays["abstract_counters"] = model.counters.numpy()
    _save_readout(run_dir.file("readout.npz"), {"write": write, **reads}, abstract_arrays)
    _figures(run_dir, circuit, config, write, reads, comparisons,
             model.counters.numpy()[write.pf_pre, write.pf_post])
    return metrics


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [
        f"cerebellar SDM: {metrics['n_granule']} granule cells, radius {metrics['radius']}, "
        f"{metrics['patterns']} patterns written, {metrics['query_noise_bits']}-bit query noise",
        f"  coding level {metrics['coding_level']:.4f} (sd {metrics['coding_level_sd']:.4f}; "
        + (f"radius gives {metrics['coding_level_expected']:.4f})"
           if metrics.get("asynchronous") is not True else "held by the Golgi loop)"),
        f"  bits agree with the abstract SDM: {metrics['bit_agreement_vs_sdm']:.4f}"
        + (f", with the SDM on the circuit's own active sets "
           f"{metrics['bit_agreement_vs_active_sets']:.4f}"
           if "bit_agreement_vs_active_sets" in metrics else "") + "; "
        f"accuracy vs stored: circuit {metrics['bit_accuracy_vs_stored']:.4f}, "
        f"abstract {metrics['abstract_accuracy_vs_stored']:.4f}"
        + (f", own active sets {metrics['active_set_accuracy_vs_stored']:.4f}"
           if "active_set_accuracy_vs_stored" in metrics else ""),
    ]
    for label in ("clean", "noisy"):
        if f"bit_agreement_vs_sdm_{label}" in metrics:
            lines.append(f"  {label:5s} reads: agreement "
                         f"{metrics[f'bit_agreement_vs_sdm_{label}']:.4f}, accuracy "
                         f"{metrics[f'bit_accuracy_vs_stored_{label}']:.4f}, active sets "
                         f"equal {metrics[f'active_set_match_{label}']:.2f}, sums r "
                         f"{metrics[f'sums_correlation_{label}']:.5f}")
    lines.append(f"  simulated {metrics['simulated_s']:.2f} s in "
                 f"{metrics['simulation_wall_s']:.1f} s wall ({metrics['backend']})")
    return "\n".join(lines)
