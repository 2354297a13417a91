"""Run experiments from Python: the library behind the ``memcircuits`` command line.

- :func:`run_experiment`: resolve an experiment's configuration, run it into a run
  directory it owns, print its summary and return its metrics (every ``memcircuits``
  experiment command and ``figures`` sub-command goes through it);
- :func:`run_demo`: the demonstration (a cerebellar write/read, a short hippocampal walk,
  their synthetic calcium imaging and the comparison report);
- :func:`run_compare`: ``memcircuits compare`` with its printed summary (``memcircuits
  sweep`` is :func:`mapping.sweep.sweep_file`);
- :func:`torch_threads`: run a body with a given number of torch CPU threads.

Nothing here parses arguments (:mod:`mapping.cli` does); errors a user can cause are raised
(:class:`models.config.ConfigError`, ``ValueError``, ``OSError``) for the caller to report.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from models.config import load_config, to_dict
from models.rundir import check_out_apart, claim_run_directory

__all__ = ["DEMO_RUNS", "run_compare", "run_demo", "run_experiment", "torch_threads"]


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the body with ``count`` torch CPU threads, then restore the previous count.

    ``None`` or 0 leaves torch's default (one thread per core). Experiments whose ``Config``
    has a ``num_threads`` field run under it (default 1 in the abstract-model figures):
    their tensors are small, and on a machine whose cores are shared two threads measured
    up to 2.3x slower than one (``figures sdm``: 8.6-10.8 s with 1 thread, 8.5-22.1 s with
    2; ``figures hopfield``: 18.6-25.5 s vs 22.9-42.7 s, 2-core machine under load).
    """
    if not count:
        yield
        return
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def run_experiment(name: str, out: Path, *, config_path: Path | None = None,
                   overrides: Sequence[str] = (), seed: int | None = None,
                   quiet: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Resolve the configuration of experiment ``name``, run it into ``out``, return metrics.

    The configuration is resolved (and every input checked) before ``out`` is touched; then
    the run owns ``out`` (:func:`models.rundir.claim_run_directory`): a directory holding
    another run is refused unless ``overwrite``, which clears it first. An experiment whose
    module defines ``check_resume(config, out)`` (``predict``) resumes instead: the same
    command on the same directory continues an interrupted run (``check_resume`` refuses a
    directory holding a run with another configuration), and a stopped run keeps its files.

    Parameters
    ----------
    name
        An experiment of :data:`mapping.experiments.COMMANDS` or
        :data:`~mapping.experiments.EXPERIMENTS`, e.g. ``"cerebellum"``.
    out
        The run directory: ``config.json`` is written first, ``metrics.json`` last.
    config_path
        A TOML file of parameter values (unknown keys are refused).
    overrides
        ``KEY=VALUE`` strings applied after ``config_path`` (as ``--set``).
    seed
        Overrides the configuration's ``seed``.
    quiet
        No progress bars.
    overwrite
        Clear a directory that holds another run instead of refusing it.

    Returns
    -------
    dict[str, Any]
        The metrics written to ``out/metrics.json`` (with ``wall_time_s``).

    Raises
    ------
    ValueError
        For an unknown experiment; :class:`models.config.ConfigError` for a wrong
        configuration; :class:`models.rundir.RunDirectoryError` for an unusable ``out``.
    """
    from mapping.experiments import load_experiment

    module = load_experiment(name)
    overrides = list(overrides)
    if seed is not None:
        overrides.append(f"seed={seed}")
    config = load_config(module.Config, config_path, overrides)
    inputs = getattr(module, "input_directories", None)
    if inputs is not None:
        check_out_apart(out, inputs(config))
    # a resumable experiment (one that defines ``check_resume``) continues the run its
    # directory holds when the configuration is the same, and keeps what it wrote if stopped
    check_resume = getattr(module, "check_resume", None)
    if check_resume is not None and not overwrite:
        check_resume(config, out)
    mode = ("overwrite" if overwrite else "resume" if check_resume is not None else "new")
    with claim_run_directory(out, run=name, mode=mode) as run_dir:
        run_dir.write_config(to_dict(config), seed=getattr(config, "seed", None))
        start = time.perf_counter()
        with torch_threads(getattr(config, "num_threads", None)):
            metrics = dict(module.run(config, run_dir, progress=not quiet))
        metrics.setdefault("wall_time_s", round(time.perf_counter() - start, 3))
        run_dir.write_metrics(metrics)
    print(module.summarize(metrics))
    print(f"results: {run_dir.path.resolve()}")
    return metrics


#: the demo's runs: (sub-directory, command, --set overrides)
DEMO_RUNS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("cerebellum", "cerebellum", ()),
    ("hippocampus", "hippocampus", ("steps=150", "drift_steps=0", "remap_steps=0")),
)


def run_demo(out: Path, *, quiet: bool = False, overwrite: bool = False) -> None:
    """Run the demo: cerebellar write/read, hippocampal walk, calcium imaging, comparison.

    A cerebellar write/read, a short hippocampal walk, the synthetic calcium imaging of the
    cerebellar run (NWB), and the comparison with the equations (report.md).

    ``out`` is a run directory of its own (``config.json`` first, ``metrics.json`` last)
    holding the four runs; a finished demo is replaced only with ``overwrite``.
    """
    from mapping.report import compare_runs

    with claim_run_directory(out, run="demo",
                             mode="overwrite" if overwrite else "new") as demo:
        demo.write_config({"runs": [name for name, _, _ in DEMO_RUNS]
                           + ["calcium", "report"]}, seed=None)
        start = time.perf_counter()
        print("memcircuits demo: spiking memory circuits next to the equations they implement")
        for k, (name, command, overrides) in enumerate(DEMO_RUNS, 1):
            print(f"\n[{k}/{len(DEMO_RUNS) + 2}] memcircuits {command} "
                  + " ".join(f"--set {o}" for o in overrides))
            run_experiment(command, out / name, overrides=overrides, quiet=quiet)
        steps = len(DEMO_RUNS) + 2
        print(f"\n[{steps - 1}/{steps}] memcircuits calcium {out / 'cerebellum'}")
        run_experiment("calcium", out / "calcium",
                       overrides=[f"run_dir={json.dumps(str(out / 'cerebellum'))}"],
                       quiet=quiet)
        print(f"\n[{steps}/{steps}] memcircuits compare")
        compare_runs([out / name for name, _, _ in DEMO_RUNS], out / "report")
        wall = time.perf_counter() - start
        demo.write_metrics({"wall_time_s": round(wall, 3)})
    print(f"\ndemo finished in {wall:.0f} s; open "
          f"{(out / 'report' / 'report.md').resolve()}")


def run_compare(runs: Sequence[Path], out: Path, *, overwrite: bool = False) -> None:
    """Compare run directories into ``out`` (:func:`mapping.report.compare_runs`).

    Prints where the report is.
    """
    from mapping.report import compare_runs

    compare_runs(runs, out, overwrite=overwrite)
    print(f"report: {(out / 'report.md').resolve()}")
