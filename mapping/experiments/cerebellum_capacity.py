r"""``memcircuits figures cerebellum-capacity``: accuracy vs load, circuit and abstract SDM.

Protocol: random key/value pairs are written into the spiking cerebellum in increments up
to each load in ``loads``; after each increment up to ``reads_per_load`` of the keys stored
so far (a random sample) are read back at every ``query_noise`` level (that fraction of key
bits flipped). The abstract SDM on the circuit's own granule cells
(:func:`mapping.cerebellum_vs_sdm.abstract_sdm`) is written and read with the same keys, values
and queries; so is the SDM on the circuit's own active sets
(:func:`mapping.cerebellum_vs_sdm.active_set_read`: counters of the granule cells each write
activated, summed over the cells each read activated), the abstract counterpart of a
stochastic code (asynchronous mossy fibres), whose cells the Jaeckel rule does not name.
With ``cpp_standalone`` the whole schedule is one build and one run
(:meth:`circuits.cerebellum.protocol.CerebellarSDM.present`).

Metrics, per noise level ``q<percent>``: ``load_at_99_circuit`` and ``load_at_99_abstract``
(largest load with bit accuracy >= 99%, :func:`mapping.measures.load_at_accuracy`; the
largest load tried if accuracy never fell below, NaN if the smallest load already did),
and per load ``m<load>``: ``accuracy_circuit``, ``accuracy_abstract``, ``agreement``
(circuit bits equal to the abstract read), ``accuracy_active_sets`` and
``agreement_active_sets`` (circuit bits equal to the active-set read); per noise level also
``load_at_99_active_sets`` and ``agreement_active_sets_mean``. Data: ``capacity.json``.
Figure: ``capacity``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from circuits.cerebellum.params import CerebellumParams
from circuits.cerebellum.protocol import CerebellarSDM
from mapping.cerebellum_vs_sdm import abstract_sdm, active_set_read
from mapping.measures import agreement, load_at_accuracy, write_inputs
from models.patterns import flip_exact, random_binary
from models.rundir import RunDirectory, atomic_write_json
from models.seeding import child_seed, numpy_rng

__all__ = ["Config", "capacity_figure", "noise_label", "run", "schedule", "summarize"]


@dataclass(frozen=True)
class Config:
    """Parameters of the capacity sweep."""

    circuit: CerebellumParams = field(
        default_factory=lambda: CerebellumParams(backend="cpp_standalone"))
    loads: tuple[int, ...] = (10, 20, 30, 40, 60, 80, 100, 120, 160)  #: m after each increment
    query_noise: tuple[float, ...] = (0.0, 0.05, 0.1)  #: fractions of key bits flipped
    reads_per_load: int = 32  #: stored keys read back per load and noise level
    accuracy_level: float = 0.99  #: the capacity criterion
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if not self.loads or any(int(m) != m or m < 1 for m in self.loads):
            raise ValueError(f"loads must be positive integers, got {self.loads}")
        if any(b <= a for a, b in zip(self.loads, self.loads[1:], strict=False)):
            raise ValueError(f"loads must be strictly increasing, got {self.loads}")
        if not self.query_noise or any(not 0 <= q <= 1 for q in self.query_noise):
            raise ValueError(f"query_noise must be fractions in [0, 1], got {self.query_noise}")
        if self.reads_per_load < 1:
            raise ValueError("reads_per_load must be >= 1")
        if not 0 < self.accuracy_level <= 1:
            raise ValueError("accuracy_level must lie in (0, 1]")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        self.circuit.validate()
        # one circuit writes max(loads) keys and reads after each load: refuse sizes over
        # the memory budget (or runs of absurd length) before anything is drawn
        from circuits.memory import check_cerebellum

        total = max(self.loads)
        reads = sum(min(m, self.reads_per_load) for m in self.loads) * len(self.query_noise)
        proto = self.circuit.protocol
        check_cerebellum(self.circuit, presentations=total + reads,
                         duration_s=float(total * proto.write_slot + reads * proto.read_slot),
                         prefix="circuit.", presentations_field="loads",
                         presentations_value=total)


def noise_label(noise: float) -> str:
    """Metric prefix of a query-noise level: ``q5`` for 5 %."""
    return f"q{100 * noise:g}"


def schedule(config: Config) -> tuple[np.ndarray, np.ndarray, list[tuple[int, float, np.ndarray,
                                                                           np.ndarray]]]:
    """Keys, values and the reads: ``(load, noise, stored indices, queries)`` per read batch.

    Everything is drawn from ``config.seed`` alone, so two runs with one seed see the same
    inputs whatever the circuit's parameters.
    """
    n, v = config.circuit.address_bits, config.circuit.value_bits
    total = max(config.loads)
    keys = random_binary(total, n, seed=child_seed(config.seed, "keys")).numpy()
    values = random_binary(total, v, seed=child_seed(config.seed, "values")).numpy()
    rng = numpy_rng(config.seed, "read_sample")
    reads = []
    for load in config.loads:
        which = np.sort(rng.choice(load, size=min(load, config.reads_per_load), replace=False))
        for noise in config.query_noise:
            flips = round(noise * n)
            queries = keys[which]
            if flips:
                queries = flip_exact(torch.as_tensor(queries), flips,
                                     seed=child_seed(config.seed, "noise", load, flips)).numpy()
            reads.append((load, noise, which, queries))
    return keys, values, reads


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Write up to each load, read back, on the circuit and on the abstract SDM."""
    config.validate()
    keys, values, reads = schedule(config)
    circuit = CerebellarSDM(config.circuit, seed=child_seed(config.seed, "circuit"),
                            report="text" if progress else None,
                            record=("granule", "purkinje", "nuclei"))
    entries: list[tuple[str, Any, Any]] = []
    written = 0
    for load in config.loads:
        entries.append(("write", keys[written:load], values[written:load]))
        written = load
        entries.extend(("read", q, None) for ld, _, _, q in reads if ld == load)
    readouts = circuit.present(entries)
    circuit_bits = [r.bits for r, e in zip(readouts, entries, strict=True) if e[0] == "read"]
    set_bits = _active_set_bits(config, readouts, entries, values)

    model = abstract_sdm(circuit)
    abstract_bits = []
    written = 0
    for load in config.loads:
        model.write(torch.as_tensor(keys[written:load]), torch.as_tensor(values[written:load]))
        written = load
        abstract_bits.extend(model.read(torch.as_tensor(q)).numpy()
                             for ld, _, _, q in reads if ld == load)

    write_inputs(run_dir, "cerebellum-capacity",
                 {"keys": keys, "values": values,
                  "queries": np.concatenate([q for *_, q in reads])},
                 seed=config.seed, loads=list(config.loads),
                 query_noise=list(config.query_noise))
    table: dict[str, Any] = {"loads": list(config.loads)}
    metrics: dict[str, Any] = {"n_granule": config.circuit.granule.n,
                               "value_bits": config.circuit.value_bits,
                               "address_bits": config.circuit.address_bits,
                               "accuracy_level": config.accuracy_level}
    for noise in config.query_noise:
        label = noise_label(noise)
        acc_c, acc_a, agree, acc_s, agree_s = [], [], [], [], []
        for (load, q_noise, which, _), c_bits, a_bits, s_bits in zip(
                reads, circuit_bits, abstract_bits, set_bits, strict=True):
            if q_noise != noise:
                continue
            stored = values[which]
            acc_c.append(float((c_bits == stored).mean()))
            acc_a.append(float((a_bits == stored).mean()))
            acc_s.append(float((s_bits == stored).mean()))
            agree.append(agreement(c_bits, a_bits))
            agree_s.append(agreement(c_bits, s_bits))
            metrics[f"{label}_m{load}_accuracy_circuit"] = acc_c[-1]
            metrics[f"{label}_m{load}_accuracy_abstract"] = acc_a[-1]
            metrics[f"{label}_m{load}_agreement"] = agree[-1]
            metrics[f"{label}_m{load}_accuracy_active_sets"] = acc_s[-1]
            metrics[f"{label}_m{load}_agreement_active_sets"] = agree_s[-1]
        metrics[f"{label}_load_at_99_circuit"] = load_at_accuracy(
            config.loads, acc_c, config.accuracy_level)
        metrics[f"{label}_load_at_99_abstract"] = load_at_accuracy(
            config.loads, acc_a, config.accuracy_level)
        metrics[f"{label}_load_at_99_active_sets"] = load_at_accuracy(
            config.loads, acc_s, config.accuracy_level)
        metrics[f"{label}_agreement_mean"] = float(np.mean(agree))
        metrics[f"{label}_agreement_active_sets_mean"] = float(np.mean(agree_s))
        table[label] = {"query_noise": noise, "accuracy_circuit": acc_c,
                        "accuracy_abstract": acc_a, "agreement": agree,
                        "accuracy_active_sets": acc_s, "agreement_active_sets": agree_s}
    metrics["simulated_s"] = float(sum(r.slot * len(r.onsets) for r in readouts))
    for key in ("build_s", "run_s", "peak_rss_mib"):
        if key in circuit.timings:
            metrics[f"simulation_{key}"] = float(circuit.timings[key])
    atomic_write_json(run_dir.file("capacity.json"), table)
    run_dir.save_figure(capacity_figure([("circuit", table)]), "capacity")
    return metrics


def _active_set_bits(config: Config, readouts: list[Any], entries: list[tuple[str, Any, Any]],
                     values: np.ndarray) -> list[np.ndarray]:
    """Per read batch, the SDM read on the circuit's own active sets (writes so far)."""
    write_sets: list[np.ndarray] = []
    bits = []
    for readout, (kind, _, _) in zip(readouts, entries, strict=True):
        if kind == "write":
            write_sets.extend(readout.active_granule)
        else:
            bits.append(active_set_read(write_sets, values[:len(write_sets)],
                                        readout.active_granule, config.circuit.granule.n,
                                        config.circuit.plasticity.counter_range)[0])
    return bits


def capacity_figure(runs: list[tuple[str, dict[str, Any]]], level: float = 0.99) -> Any:
    """Bit accuracy vs load for the circuit (dots) and the abstract SDM (lines).

    One colour per query-noise level; ``runs`` are ``(label, capacity.json table)`` pairs.
    """
    import matplotlib.pyplot as plt

    from analysis.plots import draw_capacity

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    draw_capacity(ax, runs, level)
    fig.tight_layout()
    return fig


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [f"capacity of {metrics['n_granule']} granule cells x {metrics['value_bits']} "
             f"Purkinje cells (load at {100 * metrics['accuracy_level']:g}% bit accuracy):"]
    for key in sorted((k for k in metrics if k.endswith("_load_at_99_circuit")),
                      key=lambda k: float(k.split("_", 1)[0][1:])):
        label = key.removesuffix("_load_at_99_circuit")
        lines.append(f"  query noise {label[1:]:>3s}%: circuit {metrics[key]:.1f}, abstract "
                     f"{metrics[f'{label}_load_at_99_abstract']:.1f}, active sets "
                     f"{metrics[f'{label}_load_at_99_active_sets']:.1f} patterns; bits agree "
                     f"{metrics[f'{label}_agreement_mean']:.4f} (abstract), "
                     f"{metrics[f'{label}_agreement_active_sets_mean']:.4f} (active sets)")
    return "\n".join(lines)
