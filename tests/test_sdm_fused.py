"""The fused packed SDM read (models/sdm_fused.py): bit-identical to the packed reference.

Without a GPU the kernels run under Triton's interpreter, in a child process
(tests/_sdm_fused_cases.py): Triton decides once per process whether kernels are interpreted,
and the ``gpu`` tests below need them compiled. With a GPU the same comparisons run compiled
at the size of Kanerva's sample memory scaled up (10^5 locations x 1000 bits).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from models import sdm_fused, sdm_packed
from models.sdm import SDM

needs_triton = pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                                  reason="needs Triton (the test extra installs it on Linux "
                                         "x86-64)")

_CASES = Path(__file__).with_name("_sdm_fused_cases.py")
_GROUPS = {
    "radius": ["radius_blocks_and_splits", "radius_dtypes", "radius_int64_accumulators",
               "radius_word_edges"],
    "top_k_and_sdm": ["sdm_fused_equals_dense", "top_k", "top_k_far_queries",
                      "top_k_ties_lowest_index"],
}


def test_groups_cover_every_case() -> None:
    sys.path.insert(0, str(_CASES.parent))
    try:
        import _sdm_fused_cases
    finally:
        sys.path.remove(str(_CASES.parent))
    grouped = sorted(name for names in _GROUPS.values() for name in names)
    assert grouped == sorted(_sdm_fused_cases.CASES)


@needs_triton
@pytest.mark.parametrize("group", sorted(_GROUPS))
def test_fused_read_equals_packed_reference_interpreted(group: str) -> None:
    env = dict(os.environ, TRITON_INTERPRET="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, str(_CASES), *_GROUPS[group]], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(results) == sorted(_GROUPS[group])
    failed = {name: result for name, result in results.items() if result != "ok"}
    assert not failed, failed


# -- errors (no kernel runs) ----------------------------------------------------------------


def _words(r: int = 10, n: int = 70) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    addresses = torch.zeros((r, n), dtype=torch.uint8)
    queries = torch.ones((2, n), dtype=torch.uint8)
    return (sdm_packed.pack_bits(queries), sdm_packed.pack_addresses(addresses),
            torch.zeros((r, 3), dtype=torch.int32))


@needs_triton
def test_cpu_without_interpreter_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    q, a, c = _words()
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        sdm_fused.fused_sums(q, a, c, radius=3)
    with pytest.raises(ValueError, match=r"read_path 'fused'.*TRITON_INTERPRET=1"):
        SDM.random(r=10, n=70, radius=3, seed=0, read_path="fused")


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"counters": torch.zeros((9, 3), dtype=torch.int32)}, ValueError,
     r"counters must be \(r, v\) with r=10 rows"),
    ({"counters": torch.zeros((10, 3))}, TypeError, "counters must be integers"),
    ({"radius": None}, ValueError, "give exactly one of radius or top_k"),
    ({"top_k": 2}, ValueError, "give exactly one of radius or top_k"),
    ({"radius": None, "top_k": 11}, ValueError, "top_k must be"),
    ({"n_bits": 200}, ValueError, "n_bits must be"),
])
def test_bad_input_is_one_clear_error(change: dict, error: type, message: str) -> None:
    q, a, c = _words()
    kwargs = {"counters": c, "radius": 3, **change}
    with pytest.raises(error, match=message):
        sdm_fused.fused_sums(q, a, **kwargs)


def test_without_triton_the_fused_read_says_what_it_needs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "triton" else real(name, *a))
    assert sdm_fused.available("cpu") == (
        False, "the fused read needs Triton (pip install triton; Linux x86-64 wheels on PyPI)")
    with pytest.raises(ValueError, match=r"read_path 'fused': the fused read needs Triton"):
        SDM.random(r=10, n=70, radius=3, seed=0, read_path="fused")


def test_selected_coordinate_design_refuses_fused() -> None:
    with pytest.raises(ValueError, match="read_path 'fused' needs full"):
        SDM.random_selected_coordinate(r=10, n=20, k=3, mismatches=0, seed=0,
                                       read_path="fused")


# -- on a GPU: compiled kernels, Kanerva-sized memory ----------------------------------------


@pytest.mark.gpu
@needs_triton
@pytest.mark.parametrize("rule", [{"radius": 451}, {"top_k": 100}])
@pytest.mark.parametrize("dtype", [torch.int8, torch.int32])
def test_fused_read_equals_packed_reference_on_gpu(rule: dict, dtype: torch.dtype) -> None:
    assert sdm_fused.available("cuda") == (True, ""), sdm_fused.available("cuda")
    g = torch.Generator().manual_seed(0)
    r, n, b, v = 100_000, 1000, 64, 1000
    addresses = torch.randint(0, 2, (r, n), generator=g, dtype=torch.uint8)
    queries = addresses[:b].clone()
    queries[:, :100] ^= 1
    counters = torch.randint(-15, 16, (r, v), generator=g, dtype=torch.int64).to(dtype)
    aw = sdm_packed.pack_addresses(addresses).cuda()
    qw = sdm_packed.pack_bits(queries).cuda()
    counters = counters.cuda()
    got = sdm_fused.fused_sums(qw, aw, counters, n_bits=n, **rule)
    rows, cols = sdm_packed.active_pairs(qw, aw, backend="torch", **rule)
    assert torch.equal(got, sdm_packed.gather_sums(counters, rows, cols, b))


# -- compiled for a GPU without one: the kernels pass Triton's compiler and ptxas ----------


_POINTERS = {"q_ptr": "*i64", "a_ptr": "*i64", "thr_ptr": "*i32", "tie_ptr": "*i64",
             "tie_count_ptr": "*i32", "hist_ptr": "*i32"}
_SCALARS = ("B", "R", "V", "span", "tie_cap", "cap")


def _signature(kernel: object, counters: str, out: str) -> dict[str, str]:
    names = kernel.arg_names
    types = {**_POINTERS, "c_ptr": counters, "out_ptr": out}
    return {name: types.get(name, "i32" if name in _SCALARS else "constexpr") for name in names}


@needs_triton
@pytest.mark.parametrize(("counters", "acc_64", "ties", "block_q"), [
    ("*i8", False, False, 16), ("*i16", True, True, 1), ("*i32", False, True, 16),
    ("*i64", True, False, 1),
])
def test_kernels_compile_for_a_gpu(counters: str, acc_64: bool, ties: bool, block_q: int,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel variants compile to an sm_90 cubin with the hardware popcount."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setenv("TRITON_DEFAULT_FP_FUSION", "1")
    kernels = sdm_fused._kernels()
    if not hasattr(kernels.fused_sums_kernel, "arg_names"):
        pytest.fail("the kernel module was imported under the interpreter")
    target = GPUTarget("cuda", 90, 32)
    constants = {"W": 16, "BQ": block_q, "BR": sdm_fused._BLOCK_R, "BV": 1024,
                 "ACC_64": acc_64, "TIES": ties, "HW_POPC": True}
    source = ASTSource(fn=kernels.fused_sums_kernel, constexprs=constants,
                       signature=_signature(kernels.fused_sums_kernel, counters,
                                            "*i64" if acc_64 else "*i32"))
    compiled = triton.compile(source, target=target)
    assert "popc" in compiled.asm["ptx"] and compiled.asm["cubin"]
    if ties:
        source = ASTSource(fn=kernels.distance_histogram_kernel,
                           signature=_signature(kernels.distance_histogram_kernel, "", ""),
                           constexprs={"W": 16, "BQ": block_q, "BR": sdm_fused._BLOCK_R,
                                       "HW_POPC": True})
        assert triton.compile(source, target=target).asm["cubin"]
