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
``power_grid``: the least cells x trials per frame rate and noise level), ``learning.csv``
(protocols with re-acquisition or a rest: savings and recovery per circuit,
:mod:`mapping.learning`, compared like the observables), ``report.md`` (separations,
imaging effort, savings and recovery, and the preregistration sheet: every observable's
time course per hypothesis with its 95% interval and each rival's largest effect size).
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

Not yet built (see the user guide): the plastic variant of H1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from circuits.cerebellum.hypotheses import HYPOTHESES, get_hypothesis
from circuits.cerebellum.params import CerebellumParams, biological
from mapping.contrasts import contrasts, max_abs_z, predictions, separating
from mapping.imaged import IMAGED_OBSERVABLES, Imaging, image_granule
from mapping.imaged_outputs import (
    OUTPUT_OBSERVABLES,
    SPINE_OBSERVABLES,
    OutputImaging,
    image_outputs,
    image_spines,
)
from mapping.learning import LEARNING_MEASURES, as_probe_rows, learning_measures
from mapping.power import needed, power_table
from mapping.predict_report import (
    grid_report,
    learning_report,
    power_figure,
    report,
    sheet,
    time_course_figure,
)
from mapping.preparations import get_preparation, preparation_of
from mapping.protocols import OBSERVABLES, check_protocol, get_protocol, record_protocol
from models.config import to_dict
from models.rundir import (
    RunDirectory,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
)
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
    #: more (frame rate Hz, sigma_30) pairs at which the synapses are imaged for the power
    #: analysis alone (power_grid.csv; the report's table for the synaptic sensor)
    synaptic_grid: tuple[tuple[float, float], ...] = ()
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
        resolved = self.resolved()
        if preparation_of(resolved.circuit) is not preparation:
            other = preparation_of(self.circuit).name
            raise ValueError(f"circuit.preset {self.circuit.preset!r} is the {other} "
                             f"preparation; set preparation = {other!r} or another "
                             f"circuit.preset")
        if not isinstance(self.seeds, int) or isinstance(self.seeds, bool) or self.seeds < 2:
            raise ValueError(f"seeds must be an integer >= 2 (contrasts need a spread), "
                             f"got {self.seeds!r}")
        if not self.threshold > 0:
            raise ValueError(f"threshold must be > 0, got {self.threshold}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        resolved.circuit.validate()
        check_protocol(protocol, resolved.circuit)
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
        for pair in self.synaptic_grid:
            if not isinstance(pair, tuple | list) or len(pair) != 2:
                raise ValueError(f"synaptic_grid: each entry is [fps, sigma_30], got {pair!r}")
            replace(self.outputs, synaptic_fps=pair[0], synaptic_noise=pair[1]).validate(
                dt, preparation)
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) \
                or self.workers < 0:
            raise ValueError(f"workers must be an integer >= 0, got {self.workers!r}")
        for key in self.hypotheses:  # a hypothesis the circuit cannot express is refused now
            get_hypothesis(key).apply(resolved.circuit)


def _power_by_condition(config: Config, effort: list[dict[str, Any]],
                        grid: list[dict[str, Any]], here: tuple[float, float],
                        pairs: tuple[tuple[float, float], ...],
                        observables: tuple[str, ...]) -> list[dict[str, Any]]:
    """Least imaged units x trials for ``power`` per imaging condition.

    The configured condition ``here`` (its ``effort`` of ``observables``, already
    computed) first, then every (frame rate, noise) pair of ``pairs`` from its ``grid`` rows.
    """
    out = [{"fps": float(here[0]), "noise_level": float(here[1]), **row} for row in effort
           if row["observable"] in observables]
    for fps, nu in pairs:
        rows = [r for r in grid if r["fps"] == float(fps) and r["noise_level"] == float(nu)]
        table = power_table(rows, observables, config.reference, trials=config.trials,
                            animals=config.animals)
        out.extend({"fps": float(fps), "noise_level": float(nu), **row}
                   for row in needed(table, config.power))
    return out


def _grid_reports(config: Config, granule: list[dict[str, Any]],
                  synapses: list[dict[str, Any]]) -> str:
    """The report's tables of imaging effort per frame rate and noise (where asked for)."""
    goal = f"Imaging effort for {config.power:.0%} power by frame rate and noise level"
    out = ""
    if config.power_grid:
        out += grid_report(config, granule, heading=goal, note=(
            f"Least imaged cells x trials per probe ({config.imaging.indicator}; "
            "`power_grid.csv`; - : not reached with the fields and trials tried)."))
    if config.synaptic_grid:
        sensor = config.outputs.sensor(get_preparation(config.preparation))[0]
        out += grid_report(config, synapses, heading=f"{goal}: synapses", noise="sigma_30",
                           note=(f"Least imaged synapses per cue and group x trials per "
                                 f"probe ({sensor}; `synaptic_grid.csv`; - : not reached)."))
    return out


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
    w0 = params.plasticity.baseline_weight
    spines = [{"hypothesis": key, "seed": s, **row} for row in image_spines(
        run, config.outputs, w0=w0, seed=child_seed(seed, "outputs"),
        preparation=config.preparation)]
    spine_grid = [{"hypothesis": key, "seed": s, "fps": float(fps), "noise_level": float(sigma),
                   **row}
                  for fps, sigma in config.synaptic_grid
                  for row in image_spines(run, replace(config.outputs, synaptic_fps=fps,
                                                       synaptic_noise=sigma),
                                          w0=w0, seed=child_seed(seed, "outputs"),
                                          preparation=config.preparation)]
    atomic_write_json(target, {"probes": probes, "imaged": imaged, "grid": grid,
                               "spines": spines, "spine_grid": spine_grid})


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
    spines: list[dict[str, Any]] = []
    spine_grid: list[dict[str, Any]] = []
    for s, key in jobs:  # JSON stores NaN (an observable a probe leaves undefined) as null
        unit = json.loads(_unit_path(run_dir, key, s).read_text())
        for target, name in ((probes, "probes"), (imaged, "imaged"), (grid, "grid"),
                             (spines, "spines"), (spine_grid, "spine_grid")):
            target.extend({k: float("nan") if v is None else v for k, v in row.items()}
                          for row in unit.get(name, []))
    resumed = len(jobs) - len(missing)
    observables = OBSERVABLES + IMAGED_OBSERVABLES + OUTPUT_OBSERVABLES
    table = predictions(probes, observables)
    versus = contrasts(probes, observables, config.reference)
    keys = {row["index"]: {k: row[k] for k in ("phase", "trial", "cue", "distance")}
            for row in probes}
    powers = [{**row, "imaged": imaged_as, **keys[row["index"]]}
              for rows, observables, imaged_as in ((imaged, IMAGED_OBSERVABLES, "cells"),
                                                   (spines, SPINE_OBSERVABLES, "synapses"))
              for row in power_table(rows, observables, config.reference,
                                     trials=config.trials, animals=config.animals)]
    effort = needed(powers, config.power)
    by_condition = _power_by_condition(
        config, effort, grid, (config.imaging.fps, config.imaging.noise_level),
        config.power_grid, IMAGED_OBSERVABLES)
    here = (config.outputs.sensor(get_preparation(config.preparation))[1],
            config.outputs.synaptic_noise)
    spine_condition = _power_by_condition(config, effort, spine_grid, here,
                                          config.synaptic_grid, SPINE_OBSERVABLES)
    learning = learning_measures(probes)
    measured = [m for m in LEARNING_MEASURES if any(m in row for row in learning)]
    circuits = as_probe_rows(learning)
    learning_table = predictions(circuits, measured)
    learning_versus = contrasts(circuits, measured, config.reference) if learning else []
    largest = max_abs_z(versus + learning_versus)
    separated = separating(versus + learning_versus, config.threshold)
    atomic_write_csv(run_dir.file("probes.csv"), probes)
    atomic_write_csv(run_dir.file("imaged.csv"), imaged)
    atomic_write_csv(run_dir.file("predictions.csv"), table)
    if versus:
        atomic_write_csv(run_dir.file("contrasts.csv"), versus)
    if learning:
        atomic_write_csv(run_dir.file("learning.csv"), learning)
    if powers:
        atomic_write_csv(run_dir.file("power.csv"), powers)
    if config.power_grid:
        atomic_write_csv(run_dir.file("power_grid.csv"), by_condition)
    if config.synaptic_grid:
        atomic_write_csv(run_dir.file("synaptic_grid.csv"), spine_condition)
    atomic_write_text(run_dir.file("report.md"),
                      report(config, separated, effort, keys)
                      + learning_report(config, learning_table, learning_versus)
                      + _grid_reports(config, by_condition, spine_condition)
                      + sheet(config, table, versus, observables))
    run_dir.save_figure(time_course_figure(config, table), "time_courses")
    if powers:
        run_dir.save_figure(power_figure(config, powers), "power")
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
