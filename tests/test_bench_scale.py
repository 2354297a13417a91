"""bench/sweep_parallel.py and bench/cerebellum_million.py on tiny sizes (slow), so that the
benchmarks cannot rot. Timings are not checked (bench/ reports them); results are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _result(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, stdout[-2000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.slow
def test_sweep_bench_runs_every_run_on_both_sides_with_equal_metrics():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "sweep_parallel.py"),
                           "--runs", "2", "--workers", "2"], capture_output=True, text=True,
                          check=True)
    result = _result(proc.stdout)
    assert result["runs"] == 2 and result["equal"] == 2
    assert "ratio serial / Dask" in proc.stdout


@pytest.mark.slow
@pytest.mark.standalone
def test_million_bench_small():
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "cerebellum_million.py"),
                           "--granule", "20000", "--writes", "3", "--reads", "3",
                           "--coding-level", "0.016"],
                          capture_output=True, text=True, check=True, cwd=ROOT / "bench")
    assert "read bit accuracy 1.0000" in proc.stdout
    assert "memory guard estimate" in proc.stdout


def test_all_benchmarks_table_reads_each_result(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import importlib

    bench_all = importlib.import_module("all")
    rows = bench_all.rows_from({
        "cerebellum": {"circuit_over_minimal": 0.31, "runtime_over_standalone": 40.5,
                       "circuit_over_brian2_granule": 0.21, "same_spikes_and_reads": True,
                       "circuit_run_s_per_sim_s": 0.42},
        "sweep": {"ratio": 1.59, "runs": 8},
        "standalone_reuse": {"ratio": 2.6},
        "sdm_packed": {"cpu": {"dense_over_packed_batch1": 130.0,
                               "dense_over_packed_batch1024": 3.0}},
    })
    table = {name: ratio for name, ratio, _ in rows}
    assert table["cerebellar circuit / minimal network (run time)"] == "0.31"
    assert table["cerebellar circuit / same with Brian2's granule code (run time)"] == "0.21"
    goals = {name: goal for name, _, goal in rows}
    assert goals["cerebellar circuit / same with Brian2's granule code (run time)"].endswith(
        "identical: True")
    assert table["8 sweep runs: serial / 2-worker LocalCluster (wall)"] == "1.59"
    assert table["dense / packed SDM read, CPU, batch 1024"] == "3.00"
    assert table["N builds / N runs from one build (wall)"] == "2.60"
    failed = {name: ratio for name, ratio, _ in bench_all.rows_from({"sweep": None})}
    assert failed["8 sweep runs: serial / 2-worker LocalCluster (wall)"] == "failed"
    assert set(bench_all.BENCHMARKS) == {"cerebellum", "sweep", "standalone_reuse",
                                         "sdm_packed"}
    for script, _, _ in bench_all.BENCHMARKS.values():
        assert (ROOT / "bench" / script).is_file()


@pytest.mark.slow
@pytest.mark.standalone
def test_scale_bench_small_circuit_equals_its_brian2_reference():
    """The fused granule loop against Brian2's granule code objects, through the bench."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "cerebellum_scale.py"),
                           "--granule", "5000", "--writes", "4", "--reads", "4",
                           "--small-granule", "1000", "--small-presentations", "2"],
                          capture_output=True, text=True, check=True, cwd=ROOT / "bench")
    result = _result(proc.stdout)
    assert result["same_spikes_and_reads"] is True
    parts = result["parts"]
    assert parts["circuit"]["granule_spikes_total"] == parts["circuit_brian2"][
        "granule_spikes_total"] > 0
    assert parts["circuit"]["read_bit_accuracy"] == 1.0
