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
directory of the command, written atomically; the command's output goes to
``OUT/runs/<run id>.log``) and one row of ``OUT/results.csv`` (parameters and the run's
metrics). A run id is readable (the grid point's ``key=value`` pairs) and ends in a digest
of everything that determines the run: the command, ``[base]``, the grid point, the
memcircuits version and :data:`SWEEP_FORMAT`. Runs go to a Dask cluster: by default a
``LocalCluster`` of worker *processes* with one thread each (Brian2 and torch are not
thread-safe across runs; each process builds its own Brian2 project in its own temporary
directory), or an existing cluster given by ``--scheduler ADDRESS``.

Before any worker starts, the specification is checked: its types, the command, and the
resolved configuration of every grid point (the command's ``Config``, as ``--set`` would
resolve it), so a bad key or value in ``[base]`` or ``[grid]`` is one error naming it.

Robustness:

- **one specification per directory**: ``OUT/sweep.json`` records the specification (command,
  ``[base]``, grid, memcircuits version); a sweep into a directory of another command,
  ``[base]`` or version is refused unless ``overwrite=True`` (``--overwrite``), which first
  deletes that sweep's files. The grid may grow or shrink between runs of one directory:
  points already done are reused, and ``results.csv`` lists only the current grid's runs;
- **one sweep at a time**: the client holds an exclusive lock on ``OUT/.lock`` while it runs;
  a second sweep into the same directory is refused;
- **restart**: a run whose directory already holds ``metrics.json`` (written last, atomically)
  is done and is not submitted again; its row is read back from that file; a run directory
  without it (an attempt that was killed or failed) is run again from scratch;
- **worker death**: the Dask scheduler resubmits the tasks of a worker that died
  (``distributed.scheduler.allowed-failures`` times, 3 by default); a task that raises is
  retried ``retries`` times;
- **exactly once**: only the client writes ``results.csv``, one row per run id, rewritten
  atomically after each completed run;
- **failures**: ``OUT/failed.json`` lists the runs of the latest sweep that failed after their
  retries (error, parameters, run directory, log); each sweep removes it when it starts and
  writes it as runs fail, so it never lists an earlier sweep's failures. ``memcircuits
  sweep`` exits with status 1 when a run failed.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib.metadata
import io
import itertools
import json
import re
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

__all__ = ["SWEEP_FORMAT", "SweepRun", "SweepSpec", "check_runs", "expand", "load_spec",
           "run_id", "run_sweep", "sweep_file"]

#: version of the sweep directory's layout and of the run ids; part of every run id
SWEEP_FORMAT = 2
RESULTS_FILE = "results.csv"
SPEC_FILE = "sweep.json"
FAILED_FILE = "failed.json"
#: what ``overwrite=True`` deletes from a sweep directory (never anything else)
SWEEP_ENTRIES = ("runs", RESULTS_FILE, FAILED_FILE, SPEC_FILE)
_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
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
        """Raise ``ValueError`` naming the first problem of the specification's form.

        Checks the types (command a string, ``base`` and ``grid`` mappings of dotted keys,
        values scalars or lists of scalars, grid values non-empty lists), that the command
        exists and that no key is in both ``base`` and ``grid``. Whether the keys and values
        suit the command's configuration is :func:`check_runs`' business.
        """
        from mapping.experiments import COMMANDS, EXPERIMENTS

        if not isinstance(self.command, str):
            raise ValueError(f"sweep: command must be a string, got "
                             f"{type(self.command).__name__} {self.command!r}")
        known = {**COMMANDS, **EXPERIMENTS}
        if self.command not in known:
            raise ValueError(f"sweep: unknown command {self.command!r}; known: "
                             f"{', '.join(sorted(known))}")
        for table, content in (("base", self.base), ("grid", self.grid)):
            if not isinstance(content, Mapping):
                raise ValueError(f"sweep: [{table}] must be a table of key = value, got "
                                 f"{type(content).__name__}")
            for key in content:
                if not isinstance(key, str) or not _KEY.fullmatch(key):
                    raise ValueError(f"sweep: {table}.{key} is not a configuration key "
                                     f"(letters, digits, _ and - joined by dots)")
        for key, value in self.base.items():
            _check_value(f"base.{key}", value)
        for key, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"sweep: grid.{key} must be a non-empty list of values, "
                                 f"got {values!r}")
            for k, value in enumerate(values):
                _check_value(f"grid.{key}[{k}]", value)
            if key in self.base:
                raise ValueError(f"sweep: {key} is in both [base] and [grid]")

    def identity(self) -> dict[str, Any]:
        """What every run of this sweep shares and its id covers besides its grid point.

        Command, ``base``, memcircuits version and :data:`SWEEP_FORMAT`.
        """
        return {"format": SWEEP_FORMAT, "memcircuits": _memcircuits_version(),
                "command": self.command, "base": dict(sorted(self.base.items()))}


def _memcircuits_version() -> str:
    try:
        return importlib.metadata.version("memcircuits")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a source tree
        return "unknown"


def _check_value(where: str, value: Any) -> None:
    """A value ``--set`` can carry: a scalar (string, number, boolean) or a list of them."""
    scalar = (str, int, float, bool)
    if isinstance(value, scalar):
        return
    if isinstance(value, list) and all(isinstance(v, scalar) for v in value):
        return
    raise ValueError(f"sweep: {where} must be a string, number, boolean or a list of them, "
                     f"got {type(value).__name__} {value!r}")


@dataclass(frozen=True)
class SweepRun:
    """One grid point: its id, its parameters and the ``--set`` overrides it runs with."""

    run_id: str
    params: dict[str, Any]
    overrides: tuple[str, ...]


def _toml_value(value: Any) -> str:
    """``value`` spelled as TOML, the way ``--set key=VALUE`` reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, float):
        return repr(value)  # 0.1, 1e-05, inf, nan: all TOML floats
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


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
    if path.is_dir():
        raise ValueError(f"sweep: specification {path} is a directory, not a TOML file")
    if not path.is_file():
        raise FileNotFoundError(f"sweep specification {path} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"sweep: {path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"sweep: {path} is not valid TOML: not UTF-8 text ({exc.reason} "
                         f"at byte {exc.start})") from exc
    unknown = set(data) - {"command", "base", "grid"}
    if unknown:
        raise ValueError(f"sweep: unknown key(s) {', '.join(sorted(unknown))} in {path}; "
                         f"expected command, [base], [grid]")
    if "command" not in data:
        raise ValueError(f"sweep: {path} must name a command")
    if not isinstance(data["command"], str):
        raise ValueError(f"sweep: command in {path} must be a string, got "
                         f"{type(data['command']).__name__} {data['command']!r}")
    for table in ("base", "grid"):
        if not isinstance(data.get(table, {}), dict):
            raise ValueError(f"sweep: {table} in {path} must be a table ([{table}]), got "
                             f"{type(data[table]).__name__} {data[table]!r}")
    spec = SweepSpec(command=data["command"], base=_flatten(data.get("base", {})),
                     grid=_flatten(data.get("grid", {})))
    spec.validate()
    return spec


def run_id(identity: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    """A stable, readable id of one run: its grid point's ``key=value`` pairs and a digest.

    Parameters
    ----------
    identity
        What the sweep's runs share (:meth:`SweepSpec.identity`: command, ``base``,
        memcircuits version, :data:`SWEEP_FORMAT`).
    params
        The grid point.

    The digest covers both, so a run of another command, ``[base]`` or version never has
    the id (and the run directory) of an earlier one.
    """
    text = json.dumps({**identity, "params": params}, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    readable = "_".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in sorted(params.items()))
    safe = "".join(c if c.isalnum() or c in "=._-" else "-" for c in readable)[:80]
    return f"{safe}_{digest}" if safe else digest


def expand(spec: SweepSpec) -> list[SweepRun]:
    """The grid's runs in a deterministic order (the Cartesian product of ``grid``)."""
    keys = sorted(spec.grid)
    identity = spec.identity()
    runs = []
    for values in itertools.product(*(spec.grid[k] for k in keys)):
        params = dict(zip(keys, values, strict=True))
        overrides = tuple(f"{k}={_toml_value(v)}"
                          for k, v in [*sorted(spec.base.items()), *params.items()])
        runs.append(SweepRun(run_id=run_id(identity, params), params=params,
                             overrides=overrides))
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

    A run directory that already holds ``metrics.json`` is done (a resubmitted task of a
    run that finished) and its metrics are returned; one without is what an earlier,
    killed or failed attempt left and is run again from scratch (``overwrite=True``). The
    command's output, and the traceback of an error, go to ``<run_dir>.log`` beside the run
    directory, so workers stay quiet and the run directory holds only the run's files.
    """
    import traceback

    target = Path(run_dir)
    done = _completed(target)
    if done is not None:
        return done

    _import_brian2_on_a_worker_thread()
    import torch

    from mapping.runner import run_experiment

    torch.set_num_threads(1)  # one thread per worker process (see SINGLE_THREADED)

    log_path = _log_path(target)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log, contextlib.redirect_stdout(log):
        try:
            return run_experiment(command, target, overrides=list(overrides), quiet=True,
                                  overwrite=True)
        except BaseException:
            traceback.print_exc(file=log)
            raise


def _log_path(run_dir: Path) -> Path:
    """Where :func:`execute_run` writes the output of the run in ``run_dir``."""
    return run_dir.parent / f"{run_dir.name}.log"


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


def check_runs(spec: SweepSpec) -> list[SweepRun]:
    """The runs of ``spec``, each one's configuration resolved as its worker will resolve it.

    Runs in the client before any worker starts, so a bad key or value in ``[base]`` or
    ``[grid]`` is one error naming it instead of a failed run per grid point.

    Raises
    ------
    ValueError
        A malformed specification (:meth:`SweepSpec.validate`) or a repeated grid point.
    models.config.ConfigError
        A grid point whose configuration the command refuses (unknown key, wrong type, a
        value its ``validate()`` refuses); the message names the point and the key.
    """
    from mapping.experiments import load_experiment
    from models.config import ConfigError, load_config

    spec.validate()
    runs = expand(spec)
    config_class = load_experiment(spec.command).Config
    for run in runs:
        try:
            load_config(config_class, None, run.overrides)
        except ValueError as exc:  # ConfigError is a ValueError
            point = ", ".join(f"{k}={_toml_value(v)}" for k, v in run.params.items())
            where = f"grid point {point}" if point else "[base]"
            raise ConfigError(f"sweep: {spec.command} refuses the configuration of {where}: "
                              f"{exc}") from exc
    return runs


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _spec_differences(previous: Any, identity: Mapping[str, Any]) -> list[str]:
    """How the specification recorded in a sweep directory differs from ``identity``."""
    if not isinstance(previous, dict):
        return [f"an unreadable {SPEC_FILE}"]
    differences = []
    if previous.get("format") != identity["format"]:
        differences.append(f"sweep format {previous.get('format', 1)}, not "
                           f"{identity['format']}")
    if previous.get("memcircuits") != identity["memcircuits"]:
        differences.append(f"memcircuits {previous.get('memcircuits', 'unrecorded')}, not "
                           f"{identity['memcircuits']}")
    if previous.get("command") != identity["command"]:
        differences.append(f"command {previous.get('command')!r}, not "
                           f"{identity['command']!r}")
    old, new = previous.get("base"), identity["base"]
    if not isinstance(old, dict):
        differences.append("[base] unrecorded")
    elif old != new:
        changed = []
        for key in sorted({*old, *new}):
            if old.get(key, ...) != new.get(key, ...):
                before = _toml_value(old[key]) if key in old else "unset"
                after = _toml_value(new[key]) if key in new else "unset"
                changed.append(f"{key}: {before} -> {after}")
        differences.append(f"[base] {', '.join(changed)}")
    return differences


def _claim_sweep_directory(out: Path, spec: SweepSpec, overwrite: bool) -> None:
    """Refuse a directory of another sweep or of anything else.

    A directory of another sweep is accepted with ``overwrite`` (its files are deleted); the caller
    holds the directory's lock.
    """
    from models.rundir import LOCK_NAME, RunDirectoryError, delete_entry

    spec_file = out / SPEC_FILE
    if spec_file.exists():
        differences = _spec_differences(_read_json(spec_file), spec.identity())
        if differences and not overwrite:
            raise RunDirectoryError(
                f"sweep: {out} holds a sweep of another specification "
                f"({'; '.join(differences)}); use a new --out or pass --overwrite")
        if differences:
            for name in SWEEP_ENTRIES:
                delete_entry(out / name)
    elif any(p.name != LOCK_NAME for p in out.iterdir()):
        raise RunDirectoryError(
            f"sweep: {out} is not empty and holds no sweep (no {SPEC_FILE}); choose a new or "
            f"empty directory (memcircuits never clears files it did not write)")


def run_sweep(spec: SweepSpec, out: str | Path, *, scheduler: str | None = None,
              workers: int = 2, retries: int = 1, progress: bool = True,
              overwrite: bool = False,
              task: Callable[[str, str, Sequence[str]], dict[str, Any]] | None = None
              ) -> dict[str, Any]:
    """Run every grid point not done yet on Dask; write ``results.csv``; return a summary.

    Parameters
    ----------
    spec
        The sweep (:func:`load_spec`). Every grid point's configuration is resolved
        (:func:`check_runs`) before the directory is touched or a worker starts.
    out
        Sweep directory: ``sweep.json``, ``runs/<run id>/``, ``results.csv`` and, if runs
        failed, ``failed.json``. Locked while the sweep runs.
    scheduler
        Address of an existing Dask scheduler; default a ``LocalCluster`` of ``workers``
        processes with one thread each.
    workers
        Worker processes of the local cluster (>= 1).
    retries
        Resubmissions of a run whose task raised (a dead worker's tasks are resubmitted
        by the scheduler on its own).
    overwrite
        Replace a sweep of another specification (command, ``base``, memcircuits version)
        that ``out`` holds: its files are deleted first. Without it such a directory is
        refused.
    task
        The function run per grid point (default :func:`execute_run`); tests swap it.

    Returns
    -------
    dict
        ``runs``, ``skipped_completed`` (done before this call), ``completed`` (rows of
        ``results.csv``), ``failed``, ``failed_runs`` (run id -> error) and ``wall_s``.

    Raises
    ------
    ValueError
        A bad specification or argument, before anything runs.
    models.rundir.RunDirectoryError
        ``out`` is in use by another process, holds a sweep of another specification
        (without ``overwrite``), or holds files that are not a sweep's.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    from models.rundir import directory_lock, out_path

    if task is None:
        task = execute_run
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"sweep: workers must be an integer >= 1, got {workers!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"sweep: retries must be an integer >= 0, got {retries!r}")
    runs = check_runs(spec)
    out = out_path(out)
    with directory_lock(out):
        _claim_sweep_directory(out, spec, overwrite)
        atomic_write_json(out / SPEC_FILE, {**spec.identity(), "grid": spec.grid,
                                            "runs": {r.run_id: r.params for r in runs}})
        (out / "runs").mkdir(exist_ok=True)
        (out / FAILED_FILE).unlink(missing_ok=True)  # an earlier sweep's failures are stale
        rows: dict[str, dict[str, Any]] = {}
        pending = []
        for run in runs:
            done = _completed(out / "runs" / run.run_id)
            if done is not None:
                rows[run.run_id] = _row(run, done)
            else:
                pending.append(run)
        skipped = len(rows)
        _write_results(out / RESULTS_FILE, rows)  # this grid's runs only, from the start
        start = time.perf_counter()
        failed: dict[str, dict[str, Any]] = {}
        if pending:
            cluster = None
            if scheduler is None:
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       env=dict(SINGLE_THREADED))
            client = Client(scheduler if scheduler is not None else cluster)
            try:
                futures = {client.submit(task, spec.command, str(out / "runs" / run.run_id),
                                         run.overrides, key=f"sweep-{run.run_id}",
                                         retries=retries, pure=False): run
                           for run in pending}
                bar = _progress(len(runs), skipped, progress)
                for future in as_completed(futures):
                    run = futures[future]
                    try:
                        rows[run.run_id] = _row(run, future.result())
                        _write_results(out / RESULTS_FILE, rows)
                    except Exception as exc:  # a run that failed after its retries
                        failed[run.run_id] = _failure(out, run, exc)
                        atomic_write_json(out / FAILED_FILE, failed)
                    if bar is not None:
                        bar.update(1)
                if bar is not None:
                    bar.close()
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
    return {"runs": len(runs), "skipped_completed": skipped,
            "completed": len(rows), "failed": len(failed),
            "failed_runs": {rid: f["error"] for rid, f in failed.items()},
            "wall_s": round(time.perf_counter() - start, 3)}


def _failure(out: Path, run: SweepRun, exc: BaseException) -> dict[str, Any]:
    """The entry of a failed run in ``failed.json``: error, parameters, where to look."""
    run_dir = out / "runs" / run.run_id
    entry: dict[str, Any] = {"error": f"{type(exc).__name__}: {exc}", "params": run.params,
                             "run_dir": str(run_dir)}
    if _log_path(run_dir).is_file():
        entry["log"] = str(_log_path(run_dir))
    return entry


def _progress(total: int, done: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc="sweep", unit="run")


def sweep_file(spec: str | Path, out: str | Path, *, scheduler: str | None = None,
               workers: int = 2, quiet: bool = False, overwrite: bool = False) -> int:
    """``memcircuits sweep``: run the sweep of specification file ``spec`` into ``out``.

    Runs :func:`run_sweep`; prints a summary, and the failed runs to stderr.

    Returns the exit status: 0, or 1 if a run failed (``out/failed.json`` says why).
    """
    out = Path(out)
    summary = run_sweep(load_spec(spec), out, scheduler=scheduler, workers=workers,
                        progress=not quiet, overwrite=overwrite)
    print(f"sweep: {summary['completed']}/{summary['runs']} runs done "
          f"({summary['skipped_completed']} already done, {summary['failed']} "
          f"failed) in {summary['wall_s']:.1f} s; "
          f"results: {(out / RESULTS_FILE).resolve()}")
    if summary["failed"]:
        print(f"memcircuits: error: sweep: {summary['failed']} of {summary['runs']} "
              f"runs failed (errors, parameters and logs: "
              f"{(out / FAILED_FILE).resolve()}):", file=sys.stderr)
        for rid, error in summary["failed_runs"].items():
            print(f"  {rid}: {error}", file=sys.stderr)
        return 1
    return 0
