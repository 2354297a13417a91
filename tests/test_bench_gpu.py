"""bench/gpu.py: the one-shot GPU script runs here at toy sizes (``--dry-run``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")

_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu.py"


def test_dry_run_reads_agree_and_results_are_written(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(_SCRIPT), "--dry-run", "--parts",
                           "read,cerebellum", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    rows = results["read"]["rows"]
    assert [(row["rule"].split()[0], row["batch"]) for row in rows] == [
        ("radius", 1), ("top-k", 1), ("radius", 3), ("top-k", 3)]
    assert all(row["bits_identical"] for row in rows), rows
    assert results["cerebellum"]["skipped"] == "needs a CUDA GPU"
    assert "identical" in done.stdout


def test_unknown_part_is_one_clear_error() -> None:
    done = subprocess.run([sys.executable, str(_SCRIPT), "--parts", "read,gpus"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "--parts: unknown ['gpus']" in done.stderr
