"""``memcircuits compare`` and the runs it reads: report, metrics, refusal of other inputs.

The cerebellar runs are small (32-bit addresses, 400 granule cells, 3 patterns, numpy
target; one of them the session's shared run of tests/conftest.py) so the file stays fast;
the full-size numbers come from the commands in the README.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from small_runs import SMALL_CEREBELLUM

from mapping.cli import main
from mapping.measures import read_inputs, write_inputs
from mapping.report import compare_runs
from models.rundir import RunDirectory


@pytest.fixture(scope="module")
def cerebellum_runs(tmp_path_factory, small_cerebellum_run):
    """Runs a (the session's shared small run, seed 0), b (a copy of a: the circuit is
    deterministic given the seed) and other_seed (the same command with seed 1)."""
    root = tmp_path_factory.mktemp("runs")
    shutil.copytree(small_cerebellum_run, root / "a")
    shutil.copytree(small_cerebellum_run, root / "b")
    assert main(["cerebellum", "--out", str(root / "other_seed"), *SMALL_CEREBELLUM,
                 "--seed", "1"]) == 0
    return root


def test_cerebellum_run_records_inputs_and_spike_measures(cerebellum_runs):
    metrics = json.loads((cerebellum_runs / "a" / "metrics.json").read_text())
    inputs = read_inputs(cerebellum_runs / "a")
    assert inputs.kind == "cerebellum"
    assert set(inputs.digests) == {"keys", "values", "queries"}
    assert metrics["bit_agreement_vs_sdm"] == pytest.approx(1.0)
    assert metrics["sums_cosine_noisy"] > 0.99
    assert metrics["weight_pairs"] == 2 * 3 * 3  # clean and noisy reads x written keys


def test_compare_writes_report_metrics_and_figure(cerebellum_runs, tmp_path, capsys):
    out = tmp_path / "report"
    code = main(["compare", str(cerebellum_runs / "a"), str(cerebellum_runs / "b"),
                 "--out", str(out)])
    assert code == 0
    assert "report.md" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["runs"] == 2
    assert metrics["a.kind"] == "cerebellum"
    assert metrics["a.input_fingerprint"] == metrics["b.input_fingerprint"]
    assert metrics["a.bit_agreement_vs_sdm"] == pytest.approx(1.0)
    report = (out / "report.md").read_text()
    assert "![comparison](figures/comparison.png)" in report
    assert "| bits agree (noisy) |" in report
    assert "| bits agree, own active sets (noisy) |" in report
    assert "| accuracy: own active sets |" in report
    assert (out / "figures" / "comparison.png").stat().st_size > 10_000
    # links to each run's figures resolve from the report's directory
    for link in [part.split(")")[0] for part in report.split("](")[1:]]:
        assert (out / link).is_file(), link


def test_compare_refuses_runs_fed_other_inputs(cerebellum_runs, tmp_path, capsys):
    code = main(["compare", str(cerebellum_runs / "a"), str(cerebellum_runs / "other_seed"),
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2
    assert "cannot compare cerebellum runs" in err and "keys" in err and "seed=1" in err
    assert err.count("\n") == 1  # one line
    assert not (tmp_path / "r" / "report.md").exists()


def test_compare_refuses_a_directory_without_inputs(tmp_path, capsys):
    run = RunDirectory(tmp_path / "old")
    run.write_config({}, seed=0)
    run.write_metrics({"x": 1})
    assert main(["compare", str(run.path), "--out", str(tmp_path / "r")]) == 2
    assert "no inputs.json" in capsys.readouterr().err


def test_compare_tables_for_sweeps_and_hippocampus(tmp_path):
    """Report sections of every kind, from synthetic run directories."""
    beta = RunDirectory(tmp_path / "beta")
    beta.write_config({}, seed=0)
    write_inputs(beta, "cerebellum-beta", {"patterns_p3": np.zeros((2, 4))}, seed=0)
    beta.write_metrics({"n_granule": 100, "levels": 2, "levels_within_tolerance": 2,
                        "tolerance": 0.15,
                        "p0.4_radius": 21, "p0.4_effective_beta": 4.7,
                        "p0.4_theoretical_beta": 4.6, "p0.4_effective_beta_ratio": 1.02,
                        "p3_radius": 24, "p3_effective_beta": 3.0,
                        "p3_theoretical_beta": 3.02, "p3_effective_beta_ratio": 0.99})
    cap = RunDirectory(tmp_path / "cap")
    cap.write_config({}, seed=0)
    write_inputs(cap, "cerebellum-capacity", {"keys": np.ones((3, 4))}, seed=0)
    cap.write_metrics({"n_granule": 100, "accuracy_level": 0.99,
                       "q0_load_at_99_circuit": 30.0, "q0_load_at_99_abstract": 30.0,
                       "q0_agreement_mean": 1.0})
    (cap.path / "capacity.json").write_text(json.dumps(
        {"loads": [10, 20], "q0": {"query_noise": 0.0, "accuracy_circuit": [1.0, 0.98],
                                   "accuracy_abstract": [1.0, 0.98], "agreement": [1, 1]}}))
    hip = RunDirectory(tmp_path / "hip")
    hip.write_config({}, seed=0)
    write_inputs(hip, "hippocampus", {"walk_nodes": np.arange(4)}, seed=0, world="square:4x4")
    hip.write_metrics({"world": "square:4x4", "effective_beta_cosine": 12.0,
                       "tem_t_beta_mean": 9.0, "tem_t_beta_final": 14.0})
    metrics = compare_runs([beta.path, cap.path, hip.path], tmp_path / "out")
    report = (tmp_path / "out" / "report.md").read_text()
    assert "| 0.4% | 21 |" in report and "| 3% | 24 |" in report
    assert "| 0% | 30 | 30 | 1 |" in report
    assert "| effective beta (cosine) | 12 |" in report
    assert metrics["hip.tem_t_beta_final"] == 14.0
    assert (tmp_path / "out" / "figures" / "comparison.png").is_file()
