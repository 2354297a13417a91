"""``memcircuits predict``: a protocol under several hypotheses over seeds; what separates them.

Every hypothesis (:mod:`circuits.cerebellum.hypotheses`) is the same cerebellar circuit with
one mechanism changed; each seed draws the cues and the circuit (wiring, connectivity,
mossy-fibre spikes) once and runs every hypothesis on them (:mod:`mapping.protocols`). The
observables of every probe come from spikes and synaptic weights; nothing is written in.

A stopped run keeps every circuit run it finished (``units/<hypothesis>-<seed>.json``); the
same command on the same directory resumes it.

Data: ``probes.csv`` (one row per hypothesis, seed and probe: the raw values),
``predictions.csv`` (mean, standard error and 95% interval over seeds per hypothesis, probe
and observable), ``contrasts.csv`` (each rival against the reference: difference, Welch z,
Cohen's d per probe and observable; :mod:`mapping.contrasts`), ``report.md``.
Figure ``time_courses``: every observable along the protocol, mean and 95% interval per
hypothesis.

Metrics: ``max_abs_z_<hypothesis>_<observable>`` (largest ``|z|`` against the reference over
the probes), ``separating_<hypothesis>`` (how many observables exceed ``threshold``),
``runs``.

Not yet built (see the user guide): the mushroom-body preparation, imaging forward models
(voltage, synaptic) and the power analysis; the hypotheses H2-H4 and the plastic variant of
H1.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from circuits.cerebellum.hypotheses import HYPOTHESES, get_hypothesis
from circuits.cerebellum.params import CerebellumParams, biological
from mapping.contrasts import contrasts, max_abs_z, predictions, separating
from mapping.protocols import OBSERVABLES, get_protocol, run_protocol
from models.config import to_dict
from models.rundir import RunDirectory, atomic_path, atomic_write_json, atomic_write_text
from models.seeding import child_seed

__all__ = ["Config", "check_resume", "run", "summarize"]


#: ``quick``: seeds and granule cells
QUICK_SEEDS, QUICK_GRANULE = 3, 400


def _small_biological() -> CerebellumParams:
    """The biological layer for 32-bit cues, 1000 granule cells, 4 Purkinje cells."""
    params = biological(address_bits=32, value_bits=4)
    return replace(params, granule=replace(params.granule, n=1000))


@dataclass(frozen=True)
class Config:
    """Parameters of ``memcircuits predict``."""

    circuit: CerebellumParams = field(default_factory=_small_biological)
    hypotheses: tuple[str, ...] = ("sdm", "dense_code", "no_normalisation")
    reference: str = "sdm"  #: the hypothesis every other one is contrasted with
    protocol: str = "acquisition-extinction"  #: a name of mapping.protocols.PROTOCOLS
    seeds: int = 10  #: cue and circuit draws; every hypothesis runs on each
    threshold: float = 3.0  #: ``|z|`` above which an observable separates two hypotheses
    #: a short run for examples and tests: QUICK_SEEDS seeds and QUICK_GRANULE granule cells
    #: (in place of ``seeds`` and ``circuit.granule.n``)
    quick: bool = False
    seed: int = 0

    def resolved(self) -> Config:
        """The configuration the run uses: ``quick`` applied."""
        if not self.quick:
            return self
        circuit = replace(self.circuit, granule=replace(self.circuit.granule,
                                                        n=QUICK_GRANULE))
        return replace(self, quick=False, seeds=QUICK_SEEDS, circuit=circuit)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if not self.hypotheses:
            raise ValueError("hypotheses must name at least one of "
                             + ", ".join(HYPOTHESES))
        for key in self.hypotheses:
            get_hypothesis(key)
        if len(set(self.hypotheses)) != len(self.hypotheses):
            raise ValueError(f"hypotheses must not repeat, got {list(self.hypotheses)}")
        if self.reference not in self.hypotheses:
            raise ValueError(f"reference {self.reference!r} must be one of the hypotheses "
                             f"run ({', '.join(self.hypotheses)})")
        protocol = get_protocol(self.protocol)
        if not isinstance(self.seeds, int) or isinstance(self.seeds, bool) or self.seeds < 2:
            raise ValueError(f"seeds must be an integer >= 2 (contrasts need a spread), "
                             f"got {self.seeds!r}")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        self.circuit.validate()
        protocol.validate(self.circuit.address_bits)
        for key in self.hypotheses:  # a hypothesis the circuit cannot express is refused now
            get_hypothesis(key).apply(self.resolved().circuit)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _figure(config: Config, table: list[dict[str, Any]]):
    """One panel per observable: each hypothesis's time course per cue.

    Cue 0 solid, cue 1 dashed (generalisation probes of cue 0 at their distances); mean
    and 95% interval over seeds.
    """
    import matplotlib.pyplot as plt

    cols = 3
    rows = int(np.ceil(len(OBSERVABLES) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, observable in zip(axes.ravel(), OBSERVABLES, strict=False):
        labels: list[str] = []
        for k, key in enumerate(config.hypotheses):
            for cue, style in ((0, "-"), (1, "--")):
                sel = [r for r in table if r["hypothesis"] == key
                       and r["observable"] == observable and r["cue"] == cue]
                if not sel:
                    continue
                labels = labels if len(labels) >= len(sel) else [
                    f"{r['phase'][:3]}{r['trial'] + 1}" + (f"d{r['distance']}"
                                                         if r["distance"] else "")
                    for r in sel]
                x = np.arange(len(sel))
                ax.plot(x, [r["mean"] for r in sel], style, marker="o", ms=3,
                        color=colours[k % len(colours)],
                        label=f"{HYPOTHESES[key].name} {key}, cue {cue}")
                ax.fill_between(x, [r["ci_low"] for r in sel], [r["ci_high"] for r in sel],
                                color=colours[k % len(colours)], alpha=0.15)
        ax.set_xticks(np.arange(len(labels)), labels, rotation=60, fontsize=6)
        ax.set_title(observable, fontsize=9)
    for ax in axes.ravel()[len(OBSERVABLES):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"protocol {config.protocol}: probes of each cue, mean and 95% interval "
                 f"over {config.seeds} seeds", fontsize=10)
    fig.tight_layout()
    return fig


def _report(config: Config, separated: dict[str, dict[str, float]]) -> str:
    lines = [f"# Predictions: protocol `{config.protocol}`", "",
             f"{config.seeds} seeds per hypothesis; every rival against "
             f"{HYPOTHESES[config.reference].name} ({config.reference}); an observable "
             f"separates two hypotheses when |z| > {config.threshold:g} at some probe "
             f"(`contrasts.csv`).", "",
             "| hypothesis | what it changes | separating observables (max abs z) |",
             "|---|---|---|"]
    unseparated = []
    for key in config.hypotheses:
        if key == config.reference:
            continue
        h = HYPOTHESES[key]
        found = separated.get(key, {})
        text = ", ".join(f"{o} ({z:.1f})" for o, z in sorted(found.items(),
                                                              key=lambda kv: -kv[1]))
        lines.append(f"| {h.name} {key} | {h.mechanism} | {text or 'none'} |")
        if not found:
            unseparated.append(f"{h.name} {key}")
    lines += ["", "Not separated by any observable: "
              + (", ".join(unseparated) if unseparated else "none") + ".", "",
              "![time courses](figures/time_courses.png)", ""]
    return "\n".join(lines)


def check_resume(config: Config, out: Path) -> None:
    """Refuse to resume into ``out`` if it holds a ``predict`` run of another configuration.

    Running ``memcircuits predict`` again on the same directory continues it: circuit runs
    already done (``units/``) are read back, the others run.
    """
    path = Path(out) / "config.json"
    if not path.is_file():
        return
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # not a run's config: claiming the directory says what is wrong with it
    if stored.get("run") != "predict":
        return
    ours = json.loads(json.dumps(to_dict(config), default=str))
    theirs = stored.get("config", {})
    differ = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
    if differ:
        raise ValueError(f"out: {out} holds a predict run with another configuration "
                         f"({', '.join(differ)} differ); run it with the same settings to "
                         f"resume, pass --overwrite to replace it, or choose another --out")


def _unit(config: Config, run_dir: RunDirectory, variant: Callable[[str], CerebellumParams],
          key: str, s: int, protocol) -> tuple[list[dict[str, Any]], bool]:
    """The probes of hypothesis ``key`` on seed ``s``, and whether they were read back.

    Read back from ``units/<key>-<s>.json`` if that run is done; else run and saved there.
    """
    path = run_dir.file(f"units/{key}-{s}.json")
    if path.is_file():
        return json.loads(path.read_text()), True
    path.parent.mkdir(exist_ok=True)
    seed = child_seed(config.seed, "predict", s)
    rows = [{"hypothesis": key, "seed": s, **row}
            for row in run_protocol(variant(key), protocol, seed=seed)]
    atomic_write_json(path, rows)
    return rows, False


def run(config: Config, run_dir: RunDirectory, *, progress: bool = False) -> dict[str, Any]:
    """Run every hypothesis on every seed, then the predictions and contrasts.

    Each circuit run is saved as it finishes (``units/``): the same command on the same
    directory resumes an interrupted run (:func:`check_resume`).
    """
    from tqdm import tqdm

    config = config.resolved()
    protocol = get_protocol(config.protocol)
    variants: dict[str, CerebellumParams] = {}

    def variant(key: str) -> CerebellumParams:
        """The hypothesis's circuit, built when first needed (H5 matches by simulation).

        A resumed run whose units of a hypothesis are all done does not rebuild it.
        """
        if key not in variants:
            variants[key] = get_hypothesis(key).circuit(config.circuit, seed=config.seed)
        return variants[key]

    probes: list[dict[str, Any]] = []
    jobs = [(s, key) for s in range(config.seeds) for key in config.hypotheses]
    resumed = 0
    for s, key in tqdm(jobs, disable=not progress, desc="predict"):
        rows, read_back = _unit(config, run_dir, variant, key, s, protocol)
        probes.extend(rows)
        resumed += read_back
    table = predictions(probes, OBSERVABLES)
    versus = contrasts(probes, OBSERVABLES, config.reference)
    largest = max_abs_z(versus)
    separated = separating(versus, config.threshold)
    _write_csv(run_dir.file("probes.csv"), probes)
    _write_csv(run_dir.file("predictions.csv"), table)
    if versus:
        _write_csv(run_dir.file("contrasts.csv"), versus)
    atomic_write_text(run_dir.file("report.md"), _report(config, separated))
    run_dir.save_figure(_figure(config, table), "time_courses")
    metrics: dict[str, Any] = {"runs": len(jobs), "runs_resumed": resumed,
                               "probes": len(probes)}
    for key in config.hypotheses:
        if key == config.reference:
            continue
        metrics[f"separating_{key}"] = len(separated.get(key, {}))
        for observable, z in largest.get(key, {}).items():
            metrics[f"max_abs_z_{key}_{observable}"] = float(z)
    return metrics


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [f"predict: {metrics['runs']} circuit runs, {metrics['probes']} probes"]
    for name, value in metrics.items():
        if name.startswith("separating_"):
            lines.append(f"  {name.removeprefix('separating_')}: {value} separating "
                         f"observables (report.md)")
    return "\n".join(lines)
