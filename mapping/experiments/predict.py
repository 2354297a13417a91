"""``memcircuits predict``: a protocol under several hypotheses over seeds; what separates them.

Every hypothesis (:mod:`circuits.cerebellum.hypotheses`) is the same cerebellar circuit with
one mechanism changed; each seed draws the cues and the circuit (wiring, connectivity,
mossy-fibre spikes) once and runs every hypothesis on them (:mod:`mapping.protocols`). The
observables of every probe come from spikes and synaptic weights; nothing is written in.

The granule cells are also imaged as a rig would image them (:mod:`mapping.imaged`:
fields of ``imaging.cells`` cells, calcium at ``imaging.indicator``, ``imaging.fps`` and
noise level ``imaging.noise_level``, OASIS deconvolution, a false-positive-controlled
threshold); the field of ``imaged_cells`` cells gives the ``imaged_*`` granule observables
that join the contrasts, and every field size the power analysis (:mod:`mapping.power`): the
imaged cells and trials per probe a lab needs for ``power`` against each rival. Purkinje
cells are imaged through a voltage indicator and PF->PC spines through a receptor sensor
(``outputs``; :mod:`mapping.imaged_outputs`).

A stopped run keeps every circuit run it finished (``units/<hypothesis>-<seed>.json``, its
spikes in ``units/<hypothesis>-<seed>.nwb``); the same command on the same directory
resumes it.

Data: ``probes.csv`` (one row per hypothesis, seed and probe: the raw values),
``imaged.csv`` (imaged observables per hypothesis, seed, probe, field size, field and noise
draw), ``predictions.csv`` (mean, standard error and 95% interval over seeds per hypothesis,
probe and observable), ``contrasts.csv`` (each rival against the reference: difference,
Welch z, Cohen's d per probe and observable; :mod:`mapping.contrasts`), ``power.csv``
(power per rival, imaged observable, probe, cells and trials), ``power_grid.csv`` (with
``power_grid``: the least cells x trials per frame rate and noise level), ``report.md``
(separations, imaging effort, and the preregistration sheet: every observable's time course
per hypothesis with its 95% interval and each rival's largest effect size).
Figures ``time_courses`` (every observable along the protocol, mean and 95% interval per
hypothesis) and ``power`` (power against imaged cells per trial count, at each rival's
best probe).

Metrics: ``max_abs_z_<hypothesis>_<observable>`` (largest ``|z|`` against the reference over
the probes), ``separating_<hypothesis>`` (how many observables exceed ``threshold``),
``cells_x_trials_<hypothesis>_<observable>`` (the least imaging effort reaching ``power``,
absent where none does), ``best_power_<hypothesis>_<observable>``, ``runs``.

``preparation = "mushroom_body"`` runs the same protocols on the fly's mushroom body
(:mod:`mapping.preparations`: the ``mushroom_body`` preset applied to ``circuit``; Kenyon
cells stand for granule cells, the APL for Golgi cells, output neurons for Purkinje cells,
dopaminergic neurons for climbing fibres; odours with a fixed number of active glomeruli;
the synaptic signal a release sensor at Kenyon-cell boutons), with the hypotheses' fly forms
(:mod:`circuits.cerebellum.hypotheses`; H2 has none). The observables keep their names.

Not yet built (see the user guide): the hypothesis H4 and the plastic variant of H1.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from circuits.cerebellum.hypotheses import HYPOTHESES, get_hypothesis
from circuits.cerebellum.params import CerebellumParams, biological
from mapping.contrasts import contrasts, max_abs_z, predictions, separating
from mapping.imaged import IMAGED_OBSERVABLES, Imaging, image_granule
from mapping.imaged_outputs import OUTPUT_OBSERVABLES, OutputImaging, image_outputs
from mapping.power import needed, power_table
from mapping.preparations import check_protocol, get_preparation, preparation_of
from mapping.protocols import OBSERVABLES, PROTOCOLS, get_protocol, record_protocol
from models.config import to_dict
from models.rundir import RunDirectory, atomic_path, atomic_write_json, atomic_write_text
from models.seeding import child_seed

__all__ = ["Config", "check_resume", "run", "summarize"]


#: ``quick``: seeds and granule cells
QUICK_SEEDS, QUICK_GRANULE = 3, 400


def _small_biological() -> CerebellumParams:
    """The biological layer for 32-bit cues, 1000 granule cells, 4 Purkinje cells (Cython)."""
    params = biological(address_bits=32, value_bits=4)
    return replace(params, granule=replace(params.granule, n=1000), backend="cython")


@dataclass(frozen=True)
class Config:
    """Parameters of ``memcircuits predict``."""

    circuit: CerebellumParams = field(default_factory=_small_biological)
    #: "cerebellum" or "mushroom_body" (the mushroom_body preset applied to ``circuit``
    #: unless it has it already: mapping.preparations)
    preparation: str = "cerebellum"
    hypotheses: tuple[str, ...] = ("sdm", "dense_code", "opposing_extinction",
                                   "no_normalisation")
    reference: str = "sdm"  #: the hypothesis every other one is contrasted with
    protocol: str = "acquisition-extinction"  #: a name of mapping.protocols.PROTOCOLS
    seeds: int = 10  #: cue and circuit draws; every hypothesis runs on each
    threshold: float = 3.0  #: ``|z|`` above which an observable separates two hypotheses
    #: how the granule cells are imaged (indicator, frame rate, noise, field sizes)
    imaging: Imaging = field(default_factory=Imaging)
    #: the field size (one of imaging.cells) whose imaged observables join the contrasts
    imaged_cells: int = 200
    #: how Purkinje cells (voltage indicator) and PF->PC synapses (spine sensor) are imaged
    outputs: OutputImaging = field(default_factory=OutputImaging)
    trials: tuple[int, ...] = (1, 2, 4, 8, 16)  #: trials per probe in the power analysis
    animals: int = 1  #: animals per hypothesis test in the power analysis
    power: float = 0.8  #: target power (the cells and trials that reach it: report.md)
    #: more (frame rate Hz, noise level nu) pairs at which the granule cells are imaged for
    #: the power analysis alone (power_grid.csv; the report's table by frame rate and noise)
    power_grid: tuple[tuple[float, float], ...] = ()
    #: processes running circuit units side by side (0: one per usable core); results do
    #: not depend on it, and a run may resume with another value
    workers: int = 0
    #: a short run for examples and tests: QUICK_SEEDS seeds and QUICK_GRANULE granule cells
    #: (in place of ``seeds`` and ``circuit.granule.n``)
    quick: bool = False
    seed: int = 0

    def resolved(self) -> Config:
        """The configuration the run uses: the preparation's preset and ``quick`` applied."""
        out = self
        preset = get_preparation(self.preparation).preset
        if preset is not None and self.circuit.preset != preset:
            out = replace(out, circuit=self.circuit.with_preset(preset))
        if not self.quick:
            return out
        circuit = replace(out.circuit, granule=replace(out.circuit.granule, n=QUICK_GRANULE))
        return replace(out, quick=False, seeds=QUICK_SEEDS, circuit=circuit)

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
        preparation = get_preparation(self.preparation)
        if preparation_of(self.resolved().circuit) is not preparation:
            raise ValueError(f"circuit.preset {self.circuit.preset!r} is the "
                             f"{preparation_of(self.circuit).name} preparation; set "
                             f"preparation = {preparation_of(self.circuit).name!r} or "
                             f"another circuit.preset")
        check_protocol(preparation, self.protocol, PROTOCOLS)
        if not isinstance(self.seeds, int) or isinstance(self.seeds, bool) or self.seeds < 2:
            raise ValueError(f"seeds must be an integer >= 2 (contrasts need a spread), "
                             f"got {self.seeds!r}")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        resolved = self.resolved()
        resolved.circuit.validate()
        protocol.validate(resolved.circuit.address_bits)
        dt = float(self.circuit.protocol.dt)
        resolved.imaging.validate(resolved.circuit.granule.n, dt)
        self.outputs.validate(dt, preparation)
        if self.imaged_cells not in self.imaging.cells:
            raise ValueError(f"imaged_cells ({self.imaged_cells}) must be one of the imaged "
                             f"field sizes imaging.cells {list(self.imaging.cells)}")
        if not self.trials or any(isinstance(t, bool) or not isinstance(t, int) or t < 1
                                  for t in self.trials):
            raise ValueError(f"trials must list integers >= 1, got {list(self.trials)}")
        if isinstance(self.animals, bool) or not isinstance(self.animals, int) \
                or self.animals < 1:
            raise ValueError(f"animals must be an integer >= 1, got {self.animals!r}")
        if not 0 < self.power < 1:
            raise ValueError(f"power must lie in (0, 1), got {self.power}")
        for pair in self.power_grid:
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise ValueError(f"power_grid: each entry is [fps, noise_level], got {pair!r}")
            replace(resolved.imaging, fps=pair[0], noise_level=pair[1]).validate(
                resolved.circuit.granule.n, dt)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) \
                or self.workers < 0:
            raise ValueError(f"workers must be an integer >= 0, got {self.workers!r}")
        for key in self.hypotheses:  # a hypothesis the circuit cannot express is refused now
            get_hypothesis(key).apply(resolved.circuit)


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

    observables = OBSERVABLES + IMAGED_OBSERVABLES + OUTPUT_OBSERVABLES
    cols = 3
    rows = int(np.ceil(len(observables) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, observable in zip(axes.ravel(), observables, strict=False):
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
    for ax in axes.ravel()[len(observables):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"protocol {config.protocol}: probes of each cue, mean and 95% interval "
                 f"over {config.seeds} seeds", fontsize=10)
    fig.tight_layout()
    return fig


def _power_figure(config: Config, powers: list[dict[str, Any]]):
    """Power against imaged cells, one line per trial count, at each rival's best probe.

    One panel per rival and imaged observable; the probe is the one with the highest power
    at the largest field and trial count.
    """
    import matplotlib.pyplot as plt

    pairs = sorted({(r["hypothesis"], r["observable"]) for r in powers})
    cols = len(IMAGED_OBSERVABLES)
    rows = int(np.ceil(len(pairs) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (key, observable) in zip(axes.ravel(), pairs, strict=False):
        sel = [r for r in powers if r["hypothesis"] == key and r["observable"] == observable]
        top = max(sel, key=lambda r: (r["cells"], r["trials"], r["power"]))
        index = max((r for r in sel if r["cells"] == top["cells"]
                     and r["trials"] == top["trials"]), key=lambda r: r["power"])["index"]
        for t in config.trials:
            line = sorted((r for r in sel if r["index"] == index and r["trials"] == t),
                          key=lambda r: r["cells"])
            ax.plot([r["cells"] for r in line], [r["power"] for r in line], marker="o",
                    ms=3, label=f"T = {t}")
        ax.axhline(config.power, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_xticks(list(config.imaging.cells), [str(c) for c in config.imaging.cells])
        ax.minorticks_off()
        ax.set_ylim(0, 1.02)
        probe = next(r for r in sel if r["index"] == index)
        ax.set_title(f"{HYPOTHESES[key].name} vs {HYPOTHESES[config.reference].name}: "
                     f"{observable}\n{probe['phase']} {probe['trial'] + 1}, cue {probe['cue']}",
                     fontsize=8)
        ax.set_xlabel("imaged granule cells")
        ax.set_ylabel("power")
    for ax in axes.ravel()[len(pairs):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6)
    im = config.imaging
    fig.suptitle(f"{im.indicator}, {im.fps:g} Hz, nu = {im.noise_level:g}; "
                 f"{config.animals} animal(s)", fontsize=9)
    fig.tight_layout()
    return fig


def _power_by_condition(config: Config, effort: list[dict[str, Any]],
                        grid: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Least cells x trials for ``power`` per imaging condition.

    The configured condition's ``effort`` (already computed) first, then every
    ``power_grid`` pair from its imaged rows.
    """
    out = [{"fps": float(config.imaging.fps), "noise_level": float(config.imaging.noise_level),
            **row} for row in effort]
    for fps, nu in config.power_grid:
        rows = [r for r in grid if r["fps"] == float(fps) and r["noise_level"] == float(nu)]
        table = power_table(rows, IMAGED_OBSERVABLES, config.reference, trials=config.trials,
                            animals=config.animals)
        out.extend({"fps": float(fps), "noise_level": float(nu), **row}
                   for row in needed(table, config.power))
    return out


def _grid_report(config: Config, by_condition: list[dict[str, Any]]) -> str:
    if not config.power_grid:
        return ""
    conditions = sorted({(r["fps"], r["noise_level"]) for r in by_condition})
    lines = [f"## Imaging effort for {config.power:.0%} power by frame rate and noise level",
             "", f"Least imaged cells x trials per probe ({config.imaging.indicator}; "
             "`power_grid.csv`; - : not reached with the fields and trials tried).", "",
             "| hypothesis | observable | " + " | ".join(
                 f"{fps:g} Hz, nu {nu:g}" for fps, nu in conditions) + " |",
             "|---|---|" + "---|" * len(conditions)]
    pairs = sorted({(r["hypothesis"], r["observable"]) for r in by_condition})
    for key, observable in pairs:
        cells = []
        for fps, nu in conditions:
            row = next((r for r in by_condition if (r["hypothesis"], r["observable"], r["fps"],
                                                    r["noise_level"]) == (key, observable,
                                                                          fps, nu)), None)
            cells.append("-" if row is None or row["cells"] is None
                         else f"{row['cells']} x {row['trials']}")
        lines.append(f"| {HYPOTHESES[key].name} {key} | {observable} | " + " | ".join(cells)
                     + " |")
    return "\n".join([*lines, "", ""])


def _sheet(config: Config, table: list[dict[str, Any]], versus: list[dict[str, Any]],
           observables: tuple[str, ...]) -> str:
    """The preregistration sheet: every observable's time course per hypothesis.

    With its 95% interval over seeds, and per rival the largest effect size (Cohen's d)
    and its z.
    """
    names = {key: HYPOTHESES[key].name for key in config.hypotheses}
    lines = ["## Preregistration sheet", "",
             "Per observable: the mean over seeds and its 95% interval at every probe, per "
             "hypothesis (`predictions.csv`), then per rival the probe of largest |d| "
             f"against {names[config.reference]} (`contrasts.csv`).", ""]
    for observable in observables:
        rows = [r for r in table if r["observable"] == observable]
        probes = sorted({(r["index"], r["phase"], r["trial"], r["cue"], r["distance"])
                         for r in rows})
        if not probes:
            continue
        cell = {(r["hypothesis"], r["index"]): r for r in rows}
        lines += [f"### `{observable}`", "",
                  "| probe | " + " | ".join(f"{names[k]} {k}" for k in config.hypotheses)
                  + " |", "|---|" + "---|" * len(config.hypotheses)]
        for index, phase, trial, cue, distance in probes:
            label = f"{phase} {trial + 1}, cue {cue}" + (f", {distance} bits"
                                                          if distance else "")
            values = []
            for key in config.hypotheses:
                r = cell.get((key, index))
                values.append("" if r is None or not np.isfinite(r["mean"]) else
                              f"{r['mean']:.3g} [{r['ci_low']:.3g}, {r['ci_high']:.3g}]"
                              if np.isfinite(r["ci_low"]) else f"{r['mean']:.3g}")
            lines.append(f"| {label} | " + " | ".join(values) + " |")
        effects = []
        for key in config.hypotheses:
            mine = [r for r in versus if r["observable"] == observable
                    and r["hypothesis"] == key and np.isfinite(r["cohen_d"])]
            if mine:
                best = max(mine, key=lambda r: abs(r["cohen_d"]))
                effects.append(f"{names[key]}: d = {best['cohen_d']:.2g}, z = {best['z']:.2g} "
                               f"({best['phase']} {best['trial'] + 1}, cue {best['cue']})")
        lines += ["", "Largest effect: " + ("; ".join(effects) or "none") + ".", ""]
    return "\n".join(lines)


def _report(config: Config, separated: dict[str, dict[str, float]],
            effort: list[dict[str, Any]], keys: dict[int, dict[str, Any]]) -> str:
    im, out = config.imaging, config.outputs
    preparation = get_preparation(config.preparation)
    names = config.circuit.population_names
    sensor, fps = out.sensor(preparation)
    site = preparation.plasticity_site
    lines = [f"# Predictions: protocol `{config.protocol}`, {preparation.name} preparation",
             "",
             f"{config.seeds} seeds per hypothesis; every rival against "
             f"{HYPOTHESES[config.reference].name} ({config.reference}); an observable "
             f"separates two hypotheses when |z| > {config.threshold:g} at some probe "
             f"(`contrasts.csv`). Observables named `imaged_*` are measured as a rig "
             f"would: {config.imaged_cells} {names['granule']} cells, {im.indicator} at "
             f"{im.fps:g} Hz, noise level nu = {im.noise_level:g} (`imaged.csv`); "
             f"{names['purkinje']} spikes through {out.voltage_indicator} at "
             f"{out.voltage_fps:g} Hz, spike SNR {out.spike_snr:g}; {out.synapses} "
             f"{names['granule']}->{names['purkinje']} synapses per cue and group through "
             f"{sensor} at {fps:g} Hz (`imaged_efficacy_*`, 1 = unchanged; the "
             f"change is {site}synaptic). The others are exact (every cell, spikes and "
             f"weights). Observables keep the "
             f"cerebellar names: granule = {names['granule']}, Purkinje (simple spikes) = "
             f"{names['purkinje']}, output (nuclear) = {names['nuclei']}, climbing fibre "
             f"(teaching signal) = {names['climbing']}.", "",
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
        lines.append(f"| {h.name} {key} | {h.mechanism_in(config.circuit)} | "
                     f"{text or 'none'} |")
        if not found:
            unseparated.append(f"{h.name} {key}")
    lines += ["", "Not separated by any observable: "
              + (", ".join(unseparated) if unseparated else "none") + ".", "",
              "![time courses](figures/time_courses.png)", "",
              f"## Imaged cells and trials for {config.power:.0%} power", "",
              f"One measurement ({config.animals} animal(s), the probe repeated T times) "
              f"against {HYPOTHESES[config.reference].name}'s 95% prediction interval; "
              f"variance components over seeds, fields of view and noise draws "
              f"(`power.csv`, :mod:`mapping.power`). Fields of "
              f"{', '.join(str(c) for c in im.cells)} cells, T in "
              f"{', '.join(str(t) for t in config.trials)}.", "",
              "| hypothesis | observable | cells x trials | probe | best power |",
              "|---|---|---|---|---|"]
    for row in effort:
        if row["cells"] is None:
            need, probe = "not reached", ""
        else:
            need = f"{row['cells']} x {row['trials']}"
            k = keys[row["index"]]
            probe = f"{k['phase']} {k['trial'] + 1}, cue {k['cue']}" + (
                f", {k['distance']} bits" if k["distance"] else "")
        lines.append(f"| {HYPOTHESES[row['hypothesis']].name} {row['hypothesis']} | "
                     f"{row['observable']} | {need} | {probe} | {row['best_power']:.2f} |")
    lines += ["", "![power](figures/power.png)", ""]
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
    differ = sorted(k for k in set(ours) | set(theirs)
                    if k != "workers" and ours.get(k) != theirs.get(k))
    if differ:
        raise ValueError(f"out: {out} holds a predict run with another configuration "
                         f"({', '.join(differ)} differ); run it with the same settings to "
                         f"resume, pass --overwrite to replace it, or choose another --out")


def _unit_path(run_dir: RunDirectory, key: str, s: int) -> Path:
    return run_dir.file(f"units/{key}-{s}.json")


def compute_unit(config: Config, params: CerebellumParams, key: str, s: int,
                 path: str) -> None:
    """Run hypothesis ``key`` (circuit ``params``) on seed ``s``; save it at ``path``.

    The probe rows and imaged rows go to ``path`` (JSON, written atomically last), the
    spikes next to it (``.nwb``). Runs in a worker process when ``workers > 1``.
    """
    import gc

    from analysis.nwb import write_spikes

    # Brian2 names objects uniquely among the living ones: free the previous unit's circuit
    # so this one gets the same names, hence the same generated code (no Cython recompile)
    gc.collect()
    target = Path(path)
    seed = child_seed(config.seed, "predict", s)
    run = record_protocol(params, get_protocol(config.protocol), seed=seed, voltage=True)
    imaged = [{"hypothesis": key, "seed": s, **row}
              for row in image_granule(run, config.imaging, seed=child_seed(seed, "imaging"))]
    headline = {row["index"]: row for row in imaged if row["cells"] == config.imaged_cells
                and row["field"] == 0 and row["draw"] == 0}
    outputs = image_outputs(run, config.outputs, w0=params.plasticity.baseline_weight,
                            seed=child_seed(seed, "outputs"), preparation=config.preparation)
    probes = [{"hypothesis": key, "seed": s, **row,
               **{o: headline[row["index"]][o] for o in IMAGED_OBSERVABLES},
               **{o: out[o] for o in OUTPUT_OBSERVABLES}}
              for row, out in zip(run.rows, outputs, strict=True)]
    write_spikes(target.with_suffix(".nwb"), run.spikes,
                 session_description=f"memcircuits predict: protocol {config.protocol}, "
                                     f"hypothesis {key}, seed {s}")
    grid = [{"hypothesis": key, "seed": s, "fps": float(fps), "noise_level": float(nu), **row}
            for fps, nu in config.power_grid
            for row in image_granule(run, replace(config.imaging, fps=fps, noise_level=nu),
                                     seed=child_seed(seed, "imaging"))]
    atomic_write_json(target, {"probes": probes, "imaged": imaged, "grid": grid})


def _workers(config: Config) -> int:
    from circuits.backend import compile_jobs

    return config.workers if config.workers > 0 else compile_jobs()


def _run_missing(config: Config, run_dir: RunDirectory, missing: list[tuple[int, str]],
                 progress: bool) -> None:
    """Run the units not on disk, in ``workers`` processes (one: in this process).

    Every hypothesis's circuit is built (H5: matched) here first, once.
    """
    from tqdm import tqdm

    variants = {key: get_hypothesis(key).circuit(config.circuit, seed=config.seed)
                for key in dict.fromkeys(key for _, key in missing)}
    (run_dir.path / "units").mkdir(exist_ok=True)
    jobs = [(config, variants[key], key, s, str(_unit_path(run_dir, key, s)))
            for s, key in missing]
    workers = min(_workers(config), len(jobs))
    bar = tqdm(total=len(jobs), disable=not progress, desc="predict")
    if workers <= 1:
        for job in jobs:
            compute_unit(*job)
            bar.update()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for done in as_completed([pool.submit(compute_unit, *job) for job in jobs]):
                done.result()
                bar.update()
    bar.close()


def run(config: Config, run_dir: RunDirectory, *, progress: bool = False) -> dict[str, Any]:
    """Run every hypothesis on every seed, then the predictions and contrasts.

    Each circuit run is saved as it finishes (``units/``): the same command on the same
    directory resumes an interrupted run (:func:`check_resume`).
    """
    config = config.resolved()
    jobs = [(s, key) for s in range(config.seeds) for key in config.hypotheses]
    missing = [(s, key) for s, key in jobs if not _unit_path(run_dir, key, s).is_file()]
    if missing:
        _run_missing(config, run_dir, missing, progress)
    probes: list[dict[str, Any]] = []
    imaged: list[dict[str, Any]] = []
    grid: list[dict[str, Any]] = []
    for s, key in jobs:  # JSON stores NaN (an observable a probe leaves undefined) as null
        unit = json.loads(_unit_path(run_dir, key, s).read_text())
        for target, name in ((probes, "probes"), (imaged, "imaged"), (grid, "grid")):
            target.extend({k: float("nan") if v is None else v for k, v in row.items()}
                          for row in unit.get(name, []))
    resumed = len(jobs) - len(missing)
    observables = OBSERVABLES + IMAGED_OBSERVABLES + OUTPUT_OBSERVABLES
    table = predictions(probes, observables)
    versus = contrasts(probes, observables, config.reference)
    keys = {row["index"]: {k: row[k] for k in ("phase", "trial", "cue", "distance")}
            for row in probes}
    powers = [{**row, **keys[row["index"]]} for row in power_table(
        imaged, IMAGED_OBSERVABLES, config.reference, trials=config.trials,
        animals=config.animals)]
    effort = needed(powers, config.power)
    by_condition = _power_by_condition(config, effort, grid)
    largest = max_abs_z(versus)
    separated = separating(versus, config.threshold)
    _write_csv(run_dir.file("probes.csv"), probes)
    _write_csv(run_dir.file("imaged.csv"), imaged)
    _write_csv(run_dir.file("predictions.csv"), table)
    if versus:
        _write_csv(run_dir.file("contrasts.csv"), versus)
    if powers:
        _write_csv(run_dir.file("power.csv"), powers)
    if config.power_grid:
        _write_csv(run_dir.file("power_grid.csv"), by_condition)
    atomic_write_text(run_dir.file("report.md"),
                      _report(config, separated, effort, keys)
                      + _grid_report(config, by_condition)
                      + _sheet(config, table, versus, observables))
    run_dir.save_figure(_figure(config, table), "time_courses")
    if powers:
        run_dir.save_figure(_power_figure(config, powers), "power")
    metrics: dict[str, Any] = {"runs": len(jobs), "runs_resumed": resumed,
                               "probes": len(probes)}
    for key in config.hypotheses:
        if key == config.reference:
            continue
        metrics[f"separating_{key}"] = len(separated.get(key, {}))
        for observable, z in largest.get(key, {}).items():
            metrics[f"max_abs_z_{key}_{observable}"] = float(z)
    for row in effort:
        if row["hypothesis"] == config.reference:
            continue
        name = f"{row['hypothesis']}_{row['observable']}"
        metrics[f"best_power_{name}"] = float(row["best_power"])
        if row["cells"] is not None:
            metrics[f"cells_x_trials_{name}"] = int(row["cells"] * row["trials"])
    return metrics


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [f"predict: {metrics['runs']} circuit runs, {metrics['probes']} probes"]
    for name, value in metrics.items():
        if name.startswith("separating_"):
            lines.append(f"  {name.removeprefix('separating_')}: {value} separating "
                         f"observables (report.md)")
    return "\n".join(lines)
