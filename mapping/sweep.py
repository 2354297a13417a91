r"""``memcircuits sweep SPEC.toml``: a parameter grid run on Dask, one table of results.

A sweep specification (TOML) names a command and a grid of ``--set`` values:

.. code-block:: toml

    command = "cerebellum"            # any `memcircuits` command or figure
    [base]                            # overrides shared by every run
    "circuit.granule.n" = 2000
    [grid]                            # the Cartesian product of these lists
    "circuit.granule.coding_level" = [0.01, 0.03]
    seed = [0, 1]

Every grid point becomes one run directory ``OUT/runs/<run id>`` (the ordinary run
directory of the command, written atomically) and one row of ``OUT/results.csv``
(parameters and the run's metrics). Runs go to a Dask cluster: by default a
``LocalCluster`` of worker *processes* with one thread each (Brian2 and torch are not
thread-safe across runs; each process builds its own Brian2 project in its own temporary
directory), or an existing cluster given by ``--scheduler ADDRESS``.

Robustness:

- **restart**: a run whose directory already holds ``metrics.json`` (written last, atomically)
  is done and is not submitted again; its row is read back from that file;
- **worker death**: the Dask scheduler resubmits the tasks of a worker that died
  (``distributed.scheduler.allowed-failures`` times, 3 by default); a task that raises is
  retried ``retries`` times;
- **exactly once**: only the client writes ``results.csv``, one row per run id, rewritten
  atomically after each completed run.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.rundir import atomic_write_json, atomic_write_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["SweepRun", "SweepSpec", "expand", "load_spec", "run_sweep"]

RESULTS_FILE = "results.csv"
#: one worker process per core: its numerical libraries must not start threads of their own
#: (two workers on two cores each spawning BLAS/OpenMP threads oversubscribe the machine)
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep specification."""

    command: str  #: the experiment to run (``memcircuits <command>`` or ``figures <name>``)
    base: dict[str, Any]  #: overrides of every run
    grid: dict[str, list[Any]]  #: key -> values; runs are their Cartesian product

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first problem (unknown command, empty grid)."""
        from mapping.experiments import COMMANDS, EXPERIMENTS

        if self.command not in {**COMMANDS, **EXPERIMENTS}:
            raise ValueError(f"sweep: unknown command {self.command!r}; known: "
                             f"{', '.join(sorted({**COMMANDS, **EXPERIMENTS}))}")
        for key, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"sweep: grid.{key} must be a non-empty list of values")
            if key in self.base:
                raise ValueError(f"sweep: {key} is in both [base] and [grid]")


@dataclass(frozen=True)
class SweepRun:
    """One grid point: its id, its parameters and the ``--set`` overrides it runs with."""

    run_id: str
    params: dict[str, Any]
    overrides: tuple[str, ...]


def _toml_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str | bool) else str(value)


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def load_spec(path: str | Path) -> SweepSpec:
    """Read a sweep specification; unknown top-level keys are refused."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep specification {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"sweep: {path} is not valid TOML: {exc}") from exc
    unknown = set(data) - {"command", "base", "grid"}
    if unknown:
        raise ValueError(f"sweep: unknown key(s) {', '.join(sorted(unknown))} in {path}; "
                         f"expected command, [base], [grid]")
    if "command" not in data:
        raise ValueError(f"sweep: {path} must name a command")
    spec = SweepSpec(command=str(data["command"]), base=_flatten(data.get("base", {})),
                     grid=_flatten(data.get("grid", {})))
    spec.validate()
    return spec


def run_id(params: Mapping[str, Any]) -> str:
    """A stable, readable id of a grid point: ``key=value`` pairs and a short digest."""
    text = json.dumps(params, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    readable = "_".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in sorted(params.items()))
    safe = "".join(c if c.isalnum() or c in "=._-" else "-" for c in readable)[:80]
    return f"{safe}_{digest}" if safe else digest


def expand(spec: SweepSpec) -> list[SweepRun]:
    """The grid's runs in a deterministic order (the Cartesian product of ``grid``)."""
    keys = sorted(spec.grid)
    runs = []
    for values in itertools.product(*(spec.grid[k] for k in keys)):
        params = dict(zip(keys, values, strict=True))
        overrides = tuple(f"{k}={_toml_value(v)}"
                          for k, v in [*sorted(spec.base.items()), *params.items()])
        runs.append(SweepRun(run_id=run_id(params), params=params, overrides=overrides))
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        raise ValueError("sweep: the grid repeats a point")
    return runs


def _import_brian2_on_a_worker_thread() -> None:
    """Import Brian2 outside the main thread.

    Brian2 installs a SIGINT handler when imported, and ``signal.signal`` refuses to run
    outside the main thread, where Dask workers run their tasks. The handler only makes a
    Ctrl-C in an interactive run stop cleanly; a worker never receives one, so it is skipped.
    """
    import signal
    import threading

    if "brian2" in sys.modules or threading.current_thread() is threading.main_thread():
        return
    install = signal.signal
    signal.signal = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        import brian2  # noqa: F401
    finally:
        signal.signal = install


def execute_run(command: str, run_dir: str, overrides: Sequence[str]) -> dict[str, Any]:
    """Run one grid point (on a worker): the command's run directory; returns its metrics.

    Output of the command goes to ``run_dir/log.txt`` so workers stay quiet.
    """
    import contextlib

    _import_brian2_on_a_worker_thread()
    import torch

    from mapping.cli import run_experiment

    torch.set_num_threads(1)  # one thread per worker process (see SINGLE_THREADED)

    target = Path(run_dir)
    target.mkdir(parents=True, exist_ok=True)
    with open(target / "log.txt", "w") as log, contextlib.redirect_stdout(log):
        return run_experiment(command, target, overrides=list(overrides), quiet=True)


def _completed(run_dir: Path) -> dict[str, Any] | None:
    file = run_dir / "metrics.json"
    if file.is_file():
        return json.loads(file.read_text())
    return None


def _write_results(path: Path, rows: Mapping[str, dict[str, Any]]) -> None:
    columns: list[str] = ["run_id"]
    for row in rows.values():
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for rid in sorted(rows):
        writer.writerow({"run_id": rid, **rows[rid]})
    atomic_write_text(path, buffer.getvalue())


def _row(run: SweepRun, metrics: Mapping[str, Any]) -> dict[str, Any]:
    row = {f"param.{k}": v for k, v in run.params.items()}
    row.update({k: v for k, v in metrics.items()
                if v is None or isinstance(v, bool | int | float | str)})
    return row


def run_sweep(spec: SweepSpec, out: str | Path, *, scheduler: str | None = None,
              workers: int = 2, retries: int = 1, progress: bool = True,
              task: Callable[[str, str, Sequence[str]], dict[str, Any]] = execute_run
              ) -> dict[str, Any]:
    """Run every grid point not done yet on Dask; write ``results.csv``; return a summary.

    Parameters
    ----------
    spec
        The sweep (:func:`load_spec`).
    out
        Sweep directory: ``runs/<run id>/`` and ``results.csv``.
    scheduler
        Address of an existing Dask scheduler; default a ``LocalCluster`` of ``workers``
        processes with one thread each.
    workers
        Worker processes of the local cluster.
    retries
        Resubmissions of a run whose task raised (a dead worker's tasks are resubmitted
        by the scheduler on its own).
    task
        The function run per grid point (default :func:`execute_run`); tests swap it.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    spec.validate()
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    runs = expand(spec)
    atomic_write_json(out / "sweep.json", {"command": spec.command, "base": spec.base,
                                           "grid": spec.grid,
                                           "runs": {r.run_id: r.params for r in runs}})
    rows: dict[str, dict[str, Any]] = {}
    pending = []
    for run in runs:
        done = _completed(out / "runs" / run.run_id)
        if done is not None:
            rows[run.run_id] = _row(run, done)
        else:
            pending.append(run)
    skipped = len(rows)
    if rows:
        _write_results(out / RESULTS_FILE, rows)
    start = time.perf_counter()
    failed: dict[str, str] = {}
    if pending:
        cluster = None
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, env=dict(SINGLE_THREADED))
        client = Client(scheduler if scheduler is not None else cluster)
        try:
            futures = {client.submit(task, spec.command, str(out / "runs" / run.run_id),
                                     run.overrides, key=f"sweep-{run.run_id}",
                                     retries=retries, pure=False): run for run in pending}
            bar = _progress(len(runs), skipped, progress)
            for future in as_completed(futures):
                run = futures[future]
                try:
                    rows[run.run_id] = _row(run, future.result())
                    _write_results(out / RESULTS_FILE, rows)
                except Exception as exc:  # a run that failed after its retries
                    failed[run.run_id] = f"{type(exc).__name__}: {exc}"
                if bar is not None:
                    bar.update(1)
            if bar is not None:
                bar.close()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    summary = {"runs": len(runs), "skipped_completed": skipped,
               "completed": len(rows), "failed": len(failed),
               "wall_s": round(time.perf_counter() - start, 3)}
    if failed:
        atomic_write_json(out / "failed.json", failed)
    return summary


def _progress(total: int, done: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc="sweep", unit="run")
