"""bench/sdm_packed.py end to end on tiny memories, so that the benchmark cannot rot.

The parent runs in this process; its parts (dense, packed, naive, footprint) run as child
processes exactly as in a real benchmark run. Timings are not checked (bench/ reports them);
the exact agreement of the three reads is.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def bench(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))  # the script imports _parts, sdm_read
    spec = importlib.util.spec_from_file_location("bench_sdm_packed",
                                                  ROOT / "bench" / "sdm_packed.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_sdm_packed", module)
    spec.loader.exec_module(module)
    return module


def test_comparison_runs_small(bench, capsys: pytest.CaptureFixture[str]) -> None:
    out = bench.main(["--device", "all", "--locations", "3000", "--bits", "100",
                      "--batches", "1,5", "--repeats", "1", "--threads", "1"])
    text = capsys.readouterr().out
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    assert sorted(out["comparison"]) == sorted(devices)
    cpu = out["comparison"]["cpu"]
    assert [row["batch"] for row in cpu["rows"]] == [1, 5]
    for row in cpu["rows"]:
        assert row["dense_ms"] > 0 and row["packed_ms"] > 0 and row["naive_ms"] > 0
        assert row["same_bits"] == "yes"  # dense, packed and naive read the same bits
    results = cpu["results"]
    assert results["packed"]["memory"]["addresses"] == 3000 * 2 * 8  # 2 words per address
    assert results["packed"]["memory"]["dense_cache"] == 0
    assert results["dense"]["memory"]["dense_cache"] == 3000 * 100 * 4
    assert results["packed"]["peak_rss_python_mib"] > 0
    assert "dense/packed" in text and "peak RSS MiB" in text
    if not torch.cuda.is_available():
        assert "no CUDA GPU is available" in text


def test_footprint_and_crossover_run_small(bench, capsys: pytest.CaptureFixture[str]) -> None:
    out = bench.main(["--footprint", "--footprint-locations", "2000", "--bits", "100",
                      "--gpu-locations", "10000000", "--batches", "1,3", "--repeats", "1",
                      "--crossover", "--crossover-locations", "64,300", "--crossover-bits",
                      "70", "--crossover-batches", "1,4", "--threads", "1"])
    text = capsys.readouterr().out
    computed = {(row["path"], row["counter_dtype"]): row for row in out["footprint"]["computed"]}
    # 10^7 x 100 bits: 2 words (16 bytes) per address; int8 counters 100 bytes per neuron
    assert computed["packed", "int8"]["addresses"] == 16 * 10**7
    assert computed["packed", "int8"]["total"] == 116 * 10**7
    assert computed["packed", "int8"]["fits"]
    measured = [row for row in out["footprint"]["measured"] if row["device"] == "cpu"]
    assert measured[0]["locations"] == 2000
    assert measured[0]["memory"]["addresses"] == 2000 * 16
    assert measured[0]["memory"]["counters"] == 2000 * 100 * 4  # int32 counters
    assert [row["batch"] for row in measured[0]["rows"]] == [1, 3]
    assert len(out["crossover"]) == 2 * 2
    assert all(row["dense"] > 0 and row["packed"] > 0 for row in out["crossover"])
    assert "allocate and read 2,000 x 100 packed on cpu" in text
