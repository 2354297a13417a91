"""``memcircuits sweep``: grid expansion, Dask execution, restart, a worker killed mid-run."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import pytest

from mapping.cli import main
from mapping.sweep import SweepSpec, expand, load_spec, run_sweep
from models.rundir import RunDirectory


def _register_by_value() -> None:
    """Worker processes cannot import this test module: ship its functions by value."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])


def fake_run(command: str, run_dir: str, overrides) -> dict:
    """A cheap stand-in for a command: the run directory of a real one, metrics last."""
    values = dict(o.split("=", 1) for o in overrides)
    run = RunDirectory(run_dir)
    metrics = {"product": float(values["a"]) * float(values["b"]), "pid": os.getpid()}
    run.write_metrics(metrics)
    return metrics


def dying_run(command: str, run_dir: str, overrides) -> dict:
    """Kill the worker process the first time the run a=2, b=10 starts."""
    values = dict(o.split("=", 1) for o in overrides)
    marker = Path(run_dir).parent.parent / "killed-once"
    if values["a"] == "2" and values["b"] == "10" and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(1)  # the worker dies mid-run, without cleanup
    return fake_run(command, run_dir, overrides)


def _rows(out: Path) -> list[dict]:
    with open(out / "results.csv") as handle:
        return list(csv.DictReader(handle))


def _spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text('command = "cerebellum"\n[base]\nc = 1\n[grid]\na = [1, 2, 3]\n'
                    'b = [10, 20]\n')
    return path


def test_expand_is_the_cartesian_product_with_stable_ids(tmp_path):
    spec = load_spec(_spec(tmp_path))
    runs = expand(spec)
    assert len(runs) == 6
    assert len({r.run_id for r in runs}) == 6
    assert runs[0].overrides == ("c=1", "a=1", "b=10")
    assert [r.run_id for r in expand(spec)] == [r.run_id for r in runs]


@pytest.mark.parametrize(("text", "match"), [
    ('command = "nope"\n[grid]\na = [1]\n', "unknown command 'nope'"),
    ('command = "cerebellum"\n[grid]\na = []\n', "grid.a must be a non-empty list"),
    ('command = "cerebellum"\n[base]\na = 1\n[grid]\na = [1]\n', "both"),
    ('command = "cerebellum"\nextra = 1\n', "unknown key"),
    ('[grid]\na = [1]\n', "must name a command"),
    ('command = = 1\n', "not valid TOML"),
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
    products = sorted(float(r["product"]) for r in rows)
    assert products == [10.0, 20.0, 20.0, 30.0, 40.0, 60.0]
    for r in rows:
        assert json.loads((out / "runs" / r["run_id"] / "metrics.json").read_text())
    # restart: nothing is submitted again, the table is rebuilt from the run directories
    again = run_sweep(spec, out, workers=2, progress=False, task=dying_run)
    assert again["skipped_completed"] == 6 and again["completed"] == 6
    assert sorted(r["run_id"] for r in _rows(out)) == sorted(r["run_id"] for r in rows)


def test_a_failing_run_is_reported_not_lost(tmp_path):
    _register_by_value()
    spec = SweepSpec(command="cerebellum", base={}, grid={"a": [1, "x"], "b": [10]})
    summary = run_sweep(spec, tmp_path / "s", workers=1, retries=0, progress=False,
                        task=fake_run)
    assert summary["completed"] == 1 and summary["failed"] == 1
    failed = json.loads((tmp_path / "s" / "failed.json").read_text())
    assert "ValueError" in next(iter(failed.values()))
