"""Memory guard (circuits/memory.py): estimates, refusal before allocation, wiring at scale."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from circuits.cerebellum.network import choose_golgi
from circuits.cerebellum.params import CerebellumParams, GranuleParams
from circuits.cerebellum.protocol import CerebellarSDM
from circuits.memory import (
    GIB,
    MemoryBudgetError,
    cerebellum_footprint,
    check_budget,
    default_budget_bytes,
)
from mapping.cli import main


def small(**changes) -> CerebellumParams:
    base = CerebellumParams(address_bits=32, value_bits=8,
                            granule=GranuleParams(n=300, coding_level=0.055))
    return replace(base, **changes)


@pytest.mark.parametrize(("r", "g", "k"), [(1000, 50, 4), (333, 7, 7), (500, 3, 2),
                                           (2000, 2326, 4), (10, 1, 1)])
def test_chunked_golgi_choice_is_the_dense_argsort(r, g, k):
    dense = np.argsort(np.random.default_rng(5).random((r, g)), axis=1)[:, :k]
    chunked = choose_golgi(np.random.default_rng(5), r, g, k, chunk_elements=1000)
    np.testing.assert_array_equal(dense, chunked)


def test_footprint_scales_with_the_synapses():
    base = CerebellumParams(backend="cpp_standalone",
                            granule=GranuleParams(n=20000, coding_level=0.03))
    one = cerebellum_footprint(base, presentations=10, duration_s=2.0)
    ten = cerebellum_footprint(replace(base, granule=replace(base.granule, n=200000)),
                               presentations=10, duration_s=2.0)
    pf = "synapses pf_purkinje"
    assert ten.items[pf] == pytest.approx(10 * one.items[pf], rel=1e-6)
    assert ten.items[pf] == pytest.approx(200000 * 64 * (80 + 4), rel=0.2)  # w, traces, ...
    sparse = cerebellum_footprint(
        replace(base, purkinje=replace(base.purkinje, pf_connectivity=0.25)),
        presentations=10, duration_s=2.0)
    assert sparse.items[pf] == pytest.approx(0.25 * one.items[pf], rel=0.05)
    assert "Python copy" in " ".join(one.items)  # cpp_standalone keeps a Python-side copy
    runtime = cerebellum_footprint(replace(base, backend="numpy"), presentations=10,
                                   duration_s=2.0)
    assert runtime.total < one.total


def test_over_budget_configuration_is_refused_before_it_allocates():
    start = time.perf_counter()
    # the structure is checked in the constructor, before the granule wiring is drawn
    with pytest.raises(MemoryBudgetError, match=r"above the memory budget of 0\.01 GiB"):
        CerebellarSDM(small(), seed=0, memory_budget_gib=0.01)
    with pytest.raises(MemoryBudgetError, match="largest: "):
        CerebellarSDM(small(backend="cpp_standalone"), seed=0, memory_budget_gib=0.01)
    # the presentations are checked before the network is built
    sdm = CerebellarSDM(small(), seed=0, memory_budget_gib=0.5)
    keys = np.zeros((5000, 32), dtype=np.uint8)
    with pytest.raises(MemoryBudgetError, match=r"^presentations = 5000: .* above the memory "
                                                r"budget of 0\.50 GiB"):
        sdm.write(keys, np.zeros((5000, 8), dtype=np.uint8))
    assert sdm._net is None and not sdm.history  # nothing was built or recorded
    assert time.perf_counter() - start < 30


def test_budget_errors_and_environment(monkeypatch):
    footprint = cerebellum_footprint(small(), presentations=1, duration_s=0.25)
    check_budget(footprint, 100.0)
    with pytest.raises(MemoryBudgetError, match="must be > 0"):
        check_budget(footprint, 0.0)
    monkeypatch.setenv("MEMCIRCUITS_MEMORY_BUDGET_GIB", "2.5")
    assert default_budget_bytes() == int(2.5 * GIB)
    monkeypatch.setenv("MEMCIRCUITS_MEMORY_BUDGET_GIB", "lots")
    with pytest.raises(MemoryBudgetError, match="must be a number"):
        default_budget_bytes()


def test_cli_refuses_an_over_budget_run_in_one_line(tmp_path, capsys):
    code = main(["cerebellum", "--out", str(tmp_path / "r"), "--quiet",
                 "--set", "circuit.granule.n=1000000", "--set", "memory_budget_gib=1.0"])
    err = capsys.readouterr().err
    assert code == 2
    assert "above the memory budget of 1.00 GiB" in err and err.count("\n") == 1


# --------------------------------------------------------------------------- hardening
def _refuse_in_a_child(tmp_path, n: int) -> tuple[int, str, float, float]:
    """Run ``memcircuits cerebellum`` with ``n`` granule cells in a fresh wrapper process;
    return its exit status, stderr, peak RSS of the command (GiB) and wall time (s)."""
    wrapper = (
        "import resource, subprocess, sys, time\n"
        "start = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "wall = time.perf_counter() - start\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"  # KiB on Linux
        "print(r.returncode, peak, wall)\n"
        "sys.stderr.write(r.stderr)\n")
    env = {**os.environ, "MEMCIRCUITS_MEMORY_BUDGET_GIB": "16"}
    out = subprocess.run(
        [sys.executable, "-c", wrapper, sys.executable, "-m", "mapping.cli", "cerebellum",
         "--set", f"circuit.granule.n={n}", "--out", str(tmp_path / "run"), "--quiet"],
        capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[1],
        timeout=300)
    code, peak, wall = out.stdout.split()
    return int(code), out.stderr, int(peak) / 2 ** 20, float(wall)


@pytest.mark.parametrize("n", [10 ** 8, 10 ** 7])
def test_huge_granule_counts_are_refused_in_seconds_and_small_memory(tmp_path, n):
    code, err, peak_gib, wall = _refuse_in_a_child(tmp_path, n)
    assert code == 2, err
    assert f"circuit.granule.n = {n}" in err and "above the memory budget of 16.00 GiB" in err
    assert err.startswith("memcircuits: error: ") and err.count("\n") == 1
    assert peak_gib < 1.0, f"peak RSS {peak_gib:.2f} GiB"
    assert wall < 20, f"{wall:.1f} s"
    assert not (tmp_path / "run").exists()  # refused before the run directory


def test_constructor_refuses_before_drawing_the_wiring():
    params = CerebellumParams(granule=GranuleParams(n=10 ** 8))
    tracemalloc.start()
    try:
        with pytest.raises(MemoryBudgetError, match=r"^granule\.n = 100000000: "):
            CerebellarSDM(params, seed=0, memory_budget_gib=16)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2 ** 20  # the (10^8, 64) wiring alone would be 6 GB


@pytest.fixture
def budget_16(monkeypatch):
    monkeypatch.setenv("MEMCIRCUITS_MEMORY_BUDGET_GIB", "16")


def _refused(capsys, argv: list[str]) -> str:
    start = time.perf_counter()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("memcircuits: error: ") and err.count("\n") == 1
    assert time.perf_counter() - start < 30
    return err


def test_hippocampus_memory_neurons_over_budget(tmp_path, capsys, budget_16):
    err = _refused(capsys, ["hippocampus", "--out", str(tmp_path / "r"), "--quiet",
                            "--set", "circuit.memory.n=100000000"])
    assert "circuit.memory.n = 100000000 needs about" in err
    assert "memory synapses" in err and "memory budget of 16 GiB" in err


@pytest.mark.parametrize("argv", [
    ["hippocampus", "--world", "square:100000x100000"],
    ["tem", "evaluate", "--world", "square:100000x100000"],
])
def test_world_over_budget_is_refused_before_the_graph(tmp_path, capsys, budget_16, argv):
    err = _refused(capsys, [*argv, "--out", str(tmp_path / "r")])
    assert "world 'square:100000x100000' = 10000000000 nodes needs about" in err
    assert "networkx graph" in err and "memory budget of 16 GiB" in err


def test_tem_train_batch_over_budget(tmp_path, capsys, budget_16):
    err = _refused(capsys, ["tem", "train", "--out", str(tmp_path / "r"),
                            "--set", "batch_size=100000000"])
    assert "batch_size = 100000000 needs about" in err and "memory budget of 16 GiB" in err


@pytest.mark.parametrize(("command", "key", "field"), [
    ("cerebellum", "circuit.protocol.dt", "protocol.dt"),
    ("hippocampus", "circuit.timing.dt", "timing.dt"),
])
def test_tiny_time_step_is_refused(tmp_path, capsys, budget_16, command, key, field):
    err = _refused(capsys, [command, "--out", str(tmp_path / "r"), "--quiet",
                            "--set", f"{key}='1e-9 ms'"])
    assert f"{field} = " in err and ("time steps" in err or "samples" in err)
    assert "memory budget of 16 GiB" in err


def test_walk_steps_and_worlds_over_budget_in_the_api(budget_16):
    from models.worlds import parse_world, random_walk

    with pytest.raises(ValueError, match=r"world 'hex:100000x100000' = 10000000000 nodes"):
        parse_world("hex:100000x100000")
    with pytest.raises(ValueError, match=r"^steps = 1000000000000 needs about"):
        random_walk(parse_world("square:3x3"), 10 ** 12, seed=0)


@pytest.mark.parametrize("bad", [float("inf"), float("nan"), 0.0, -1.0, 1e12])
def test_absurd_budgets_are_refused(bad):
    footprint = cerebellum_footprint(small(), presentations=1, duration_s=0.25)
    with pytest.raises(MemoryBudgetError, match="memory_budget_gib"):
        check_budget(footprint, bad)


@pytest.mark.parametrize("bad", ["inf", "nan", "0", "-3", "1e12"])
def test_absurd_budget_environment_is_refused(monkeypatch, bad):
    monkeypatch.setenv("MEMCIRCUITS_MEMORY_BUDGET_GIB", bad)
    with pytest.raises(MemoryBudgetError, match="MEMCIRCUITS_MEMORY_BUDGET_GIB"):
        default_budget_bytes()


def test_cli_refuses_a_non_finite_budget(tmp_path, capsys):
    for value in ("inf", "nan", "0", "-1"):
        err = _refused(capsys, ["cerebellum", "--out", str(tmp_path / "r"), "--quiet",
                                "--set", f"memory_budget_gib={value}"])
        assert "memory_budget_gib" in err

