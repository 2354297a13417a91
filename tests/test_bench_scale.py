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
