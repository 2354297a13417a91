"""``memcircuits sweep``: grid expansion, Dask execution, restart, a worker killed mid-run,
run ids that cover the whole specification, checks before any worker, exit status, lock."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import pytest

import mapping.sweep
from mapping.cli import main
from mapping.sweep import SweepSpec, execute_run, expand, load_spec, run_sweep
from models.config import ConfigError
from models.rundir import RunDirectory, RunDirectoryError, directory_lock


def _register_by_value() -> None:
    """Worker processes cannot import this test module: ship its functions by value."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


def fake_run(command: str, run_dir: str, overrides) -> dict:
    """A cheap stand-in for a command: the run directory of a real one, metrics last."""
    values = dict(o.split("=", 1) for o in overrides)
    run = RunDirectory(run_dir)
    noise = float(values.get("query_noise", 0.1))
    metrics = {"product": int(values["seed"]) * round(100 * noise),
               "command": command, "pid": os.getpid()}
    run.write_metrics(metrics)
    return metrics


def failing_run(command: str, run_dir: str, overrides) -> dict:
    """Like :func:`fake_run`, but the run seed=2 raises."""
    if "seed=2" in overrides:
        raise ValueError("seed 2 is cursed")
    return fake_run(command, run_dir, overrides)


def dying_run(command: str, run_dir: str, overrides) -> dict:
    """Kill the worker process the first time the run seed=2, query_noise=0.1 starts."""
    values = dict(o.split("=", 1) for o in overrides)
    marker = Path(run_dir).parent.parent / "killed-once"
    if values["seed"] == "2" and values["query_noise"] == "0.1" and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)  # the worker dies mid-run, without cleanup
    return fake_run(command, run_dir, overrides)


def _rows(out: Path) -> list[dict]:
    with open(out / "results.csv") as handle:
        return list(csv.DictReader(handle))


def _spec(tmp_path: Path, text: str = 'command = "cerebellum"\n[base]\npatterns = 4\n'
          '[grid]\nseed = [1, 2, 3]\nquery_noise = [0.1, 0.2]\n') -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


def test_expand_is_the_cartesian_product_with_stable_ids(tmp_path):
    spec = load_spec(_spec(tmp_path))
    runs = expand(spec)
    assert len(runs) == 6
    assert len({r.run_id for r in runs}) == 6
    assert runs[0].overrides == ("patterns=4", "query_noise=0.1", "seed=1")
    assert runs[0].run_id.startswith("query_noise=0.1_seed=1_")
    assert [r.run_id for r in expand(spec)] == [r.run_id for r in runs]


def test_run_ids_cover_command_base_and_version(monkeypatch):
    spec = SweepSpec(command="cerebellum", base={"patterns": 4}, grid={"seed": [1, 2]})
    ids = {r.run_id for r in expand(spec)}
    others = [SweepSpec(command="cerebellum", base={"patterns": 5}, grid={"seed": [1, 2]}),
              SweepSpec(command="cerebellum-window", base={"patterns": 4},
                        grid={"seed": [1, 2]})]
    for other in others:
        assert not ids & {r.run_id for r in expand(other)}
    monkeypatch.setattr(mapping.sweep, "_memcircuits_version", lambda: "99.0")
    assert not ids & {r.run_id for r in expand(spec)}


@pytest.mark.parametrize(("text", "match"), [
    ('command = "nope"\n[grid]\na = [1]\n', "unknown command 'nope'"),
    ('command = "cerebellum"\n[grid]\na = []\n', "grid.a must be a non-empty list"),
    ('command = "cerebellum"\n[base]\na = 1\n[grid]\na = [1]\n', "both"),
    ('command = "cerebellum"\nextra = 1\n', "unknown key"),
    ('[grid]\na = [1]\n', "must name a command"),
    ('command = = 1\n', "not valid TOML"),
    ('command = 1\n[grid]\na = [1]\n', "command in .* must be a string"),
    ('command = "cerebellum"\nbase = 1\n', "base in .* must be a table"),
    ('command = "cerebellum"\n[grid]\na = 1\n', "grid.a must be a non-empty list"),
    ('command = "cerebellum"\n[grid]\na = [{x = 1}]\n', r"grid.a\[0\] must be a string"),
    ('command = "cerebellum"\n[base]\n"a b" = 1\n', "not a configuration key"),
])
def test_bad_specifications_are_one_clear_error(tmp_path, text, match):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_spec(path)


def test_sweep_command_reports_a_missing_spec(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "none.toml"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_killed_worker_leaves_every_result_exactly_once_and_restart_skips(tmp_path):
    _register_by_value()
    spec = load_spec(_spec(tmp_path))
    out = tmp_path / "sweep"
    summary = run_sweep(spec, out, workers=2, progress=False, task=dying_run)
    assert (out / "killed-once").exists()  # a worker really died mid-run
    assert summary == {**summary, "runs": 6, "completed": 6, "failed": 0,
                       "skipped_completed": 0}
    rows = _rows(out)
    assert sorted(r["run_id"] for r in rows) == sorted(r.run_id for r in expand(spec))
    products = sorted(int(r["product"]) for r in rows)
    assert products == [10, 20, 20, 30, 40, 60]
    for r in rows:
        assert json.loads((out / "runs" / r["run_id"] / "metrics.json").read_text())
    # restart: nothing is submitted again, the table is rebuilt from the run directories
    again = run_sweep(spec, out, workers=2, progress=False, task=dying_run)
    assert again["skipped_completed"] == 6 and again["completed"] == 6
    assert sorted(r["run_id"] for r in _rows(out)) == sorted(r["run_id"] for r in rows)


def test_a_failing_run_is_reported_not_lost(tmp_path):
    _register_by_value()
    spec = SweepSpec(command="cerebellum", base={}, grid={"seed": [1, 2]})
    summary = run_sweep(spec, tmp_path / "s", workers=1, retries=0, progress=False,
                        task=failing_run)
    assert summary["completed"] == 1 and summary["failed"] == 1
    failed = json.loads((tmp_path / "s" / "failed.json").read_text())
    (entry,) = failed.values()
    assert entry["error"] == "ValueError: seed 2 is cursed"
    assert entry["params"] == {"seed": 2}
    assert summary["failed_runs"] == {rid: e["error"] for rid, e in failed.items()}


def test_a_changed_specification_never_presents_old_results(tmp_path):
    _register_by_value()
    out = tmp_path / "s"
    first = SweepSpec(command="cerebellum", base={"query_noise": 0.1}, grid={"seed": [1, 2]})
    run_sweep(first, out, workers=1, progress=False, task=fake_run)
    old_ids = {r["run_id"] for r in _rows(out)}
    assert old_ids == {r.run_id for r in expand(first)}
    # a changed [base] or command is refused: the old results are not shown as the new ones
    changed_base = SweepSpec(command="cerebellum", base={"query_noise": 0.2},
                             grid={"seed": [1, 2]})
    with pytest.raises(RunDirectoryError,
                       match=r"another specification \(\[base\] query_noise: 0.1 -> 0.2\); "
                             r"use a new --out or pass --overwrite"):
        run_sweep(changed_base, out, workers=1, progress=False, task=fake_run)
    changed_command = SweepSpec(command="cerebellum-window", base={}, grid={"seed": [1, 2]})
    with pytest.raises(RunDirectoryError, match="command 'cerebellum', not 'cerebellum-window'"):
        run_sweep(changed_command, out, workers=1, progress=False, task=fake_run)
    assert {r["run_id"] for r in _rows(out)} == old_ids  # refused before touching anything
    # --overwrite: the old sweep's files go, every run is new
    summary = run_sweep(changed_base, out, workers=1, progress=False, task=fake_run,
                        overwrite=True)
    assert summary["skipped_completed"] == 0 and summary["completed"] == 2
    rows = _rows(out)
    assert not old_ids & {r["run_id"] for r in rows}
    assert sorted(int(r["product"]) for r in rows) == [20, 40]
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(r["run_id"] for r in rows)
    recorded = json.loads((out / "sweep.json").read_text())
    assert recorded["base"] == {"query_noise": 0.2} and recorded["command"] == "cerebellum"
    # the grid may change: done points are reused, results.csv lists the current grid only
    grown = SweepSpec(command="cerebellum", base={"query_noise": 0.2}, grid={"seed": [1, 2, 3]})
    summary = run_sweep(grown, out, workers=1, progress=False, task=fake_run)
    assert summary["skipped_completed"] == 2 and summary["completed"] == 3
    shrunk = SweepSpec(command="cerebellum", base={"query_noise": 0.2}, grid={"seed": [3]})
    summary = run_sweep(shrunk, out, workers=1, progress=False, task=fake_run)
    assert summary == {**summary, "runs": 1, "skipped_completed": 1, "completed": 1}
    assert [int(r["product"]) for r in _rows(out)] == [60]


def test_failed_runs_make_the_exit_status_non_zero_until_they_succeed(tmp_path, monkeypatch,
                                                                      capsys):
    _register_by_value()
    spec = _spec(tmp_path, 'command = "cerebellum"\n[grid]\nseed = [1, 2]\n')
    out = tmp_path / "s"
    argv = ["sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet"]
    monkeypatch.setattr(mapping.sweep, "execute_run", failing_run)
    assert main(argv) == 1
    err = capsys.readouterr().err
    failed = json.loads((out / "failed.json").read_text())
    (rid,) = failed
    assert "1 of 2 runs failed" in err and str((out / "failed.json").resolve()) in err
    assert f"{rid}: ValueError: seed 2 is cursed" in err
    # a later sweep in which every run succeeds: exit 0, no stale failed.json
    monkeypatch.setattr(mapping.sweep, "execute_run", fake_run)
    assert main(argv) == 0
    assert not (out / "failed.json").exists()
    assert len(_rows(out)) == 2


class _NoCluster:
    def __init__(self, *args, **kwargs) -> None:
        raise AssertionError("a worker was started for a sweep that should have been refused")


@pytest.mark.parametrize(("grid", "match"), [
    ('[grid]\n"circuit.granule.nn" = [1, 2]\n', r"'circuit\.granule\.nn'"),
    ('[grid]\nseed = [1, -1]\n', "grid point seed=-1: seed must be >= 0"),
    ('[base]\npatterns = 0\n[grid]\nseed = [1]\n', "patterns must be >= 1"),
])
def test_a_bad_configuration_is_refused_before_any_worker_starts(tmp_path, monkeypatch, capsys,
                                                                 grid, match):
    import dask.distributed

    monkeypatch.setattr(dask.distributed, "LocalCluster", _NoCluster)
    spec = load_spec(_spec(tmp_path, f'command = "cerebellum"\n{grid}'))
    with pytest.raises(ConfigError, match=match):
        run_sweep(spec, tmp_path / "s", progress=False, task=fake_run)
    assert not (tmp_path / "s").exists()
    argv = ["sweep", str(tmp_path / "spec.toml"), "--out", str(tmp_path / "s"), "--quiet"]
    assert main(argv) == 2
    assert "cerebellum refuses the configuration" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_second_sweep_into_a_locked_directory_is_refused(tmp_path, monkeypatch, capsys):
    import dask.distributed

    monkeypatch.setattr(dask.distributed, "LocalCluster", _NoCluster)
    out = tmp_path / "s"
    spec = SweepSpec(command="cerebellum", base={}, grid={"seed": [1]})
    with directory_lock(out):  # what a running sweep holds
        with pytest.raises(RunDirectoryError, match="in use by another"):
            run_sweep(spec, out, progress=False, task=fake_run)
        path = _spec(tmp_path, 'command = "cerebellum"\n[grid]\nseed = [1]\n')
        assert main(["sweep", str(path), "--out", str(out), "--quiet"]) == 2
        assert "in use by another" in capsys.readouterr().err
    assert not (out / "sweep.json").exists()


def test_a_directory_of_something_else_is_refused(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "notes.txt").write_text("mine")
    spec = SweepSpec(command="cerebellum", base={}, grid={"seed": [1]})
    for overwrite in (False, True):
        with pytest.raises(RunDirectoryError, match="holds no sweep"):
            run_sweep(spec, tmp_path / "s", progress=False, task=fake_run, overwrite=overwrite)
    assert (tmp_path / "s" / "notes.txt").read_text() == "mine"


def test_execute_run_returns_a_finished_run_without_running_it_again(tmp_path):
    run = RunDirectory(tmp_path / "r")
    run.write_metrics({"x": 1.0})
    assert execute_run("cerebellum", str(tmp_path / "r"), ["seed=1"]) == {"x": 1.0}


def test_execute_run_logs_an_error_beside_the_run_directory(tmp_path):
    import torch

    threads = torch.get_num_threads()  # execute_run sets a worker's torch to one thread
    try:
        with pytest.raises(ConfigError, match="unknown configuration key 'nope'"):
            execute_run("cerebellum", str(tmp_path / "runs" / "r"), ["nope=1"])
    finally:
        torch.set_num_threads(threads)
    log = (tmp_path / "runs" / "r.log").read_text()
    assert "Traceback" in log and "unknown configuration key 'nope'" in log
    assert not (tmp_path / "runs" / "r").exists()
