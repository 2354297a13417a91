"""Memory guard (circuits/memory.py): estimates, refusal before allocation, wiring at scale."""

from __future__ import annotations

import time
from dataclasses import replace

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
    sdm = CerebellarSDM(small(), seed=0, memory_budget_gib=0.01)
    keys = np.zeros((2, 32), dtype=np.uint8)
    start = time.perf_counter()
    with pytest.raises(MemoryBudgetError, match=r"above the memory budget of 0\.01 GiB"):
        sdm.write(keys, np.zeros((2, 8), dtype=np.uint8))
    assert sdm._net is None and not sdm.history  # nothing was built or recorded
    assert time.perf_counter() - start < 30
    standalone = CerebellarSDM(small(backend="cpp_standalone"), seed=0, memory_budget_gib=0.01)
    with pytest.raises(MemoryBudgetError, match="largest: "):
        standalone.write(keys, np.zeros((2, 8), dtype=np.uint8))
    assert standalone._net is None and not standalone._batches


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
