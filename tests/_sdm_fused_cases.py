"""Cases of the fused SDM read, run under Triton's interpreter in their own process.

Triton decides once per process whether kernels are interpreted (``TRITON_INTERPRET=1``) or
compiled, so tests/test_sdm_fused.py runs this file as a script with the variable set and
reads one JSON object: case name -> ``"ok"`` or what differed. Every case compares
:func:`models.sdm_fused.fused_sums` with the packed reference
(``gather_sums(counters, *active_pairs(...))``), whose agreement with the dense read is
tested in tests/test_sdm_packed.py, or a fused :class:`models.sdm.SDM` with a dense one.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from models import sdm_fused, sdm_packed
from models.sdm import SDM


@contextmanager
def _tiles(block_q: int, block_v: int, programs: int) -> Iterator[None]:
    """Smaller tiles and more location splits than the defaults (several blocks of each)."""
    saved = sdm_fused._BLOCK_Q_MAX, sdm_fused._BLOCK_V_MAX, dict(sdm_fused._TARGET_PROGRAMS)
    sdm_fused._BLOCK_Q_MAX, sdm_fused._BLOCK_V_MAX = block_q, block_v
    sdm_fused._TARGET_PROGRAMS[True] = programs
    try:
        yield
    finally:
        sdm_fused._BLOCK_Q_MAX, sdm_fused._BLOCK_V_MAX = saved[0], saved[1]
        sdm_fused._TARGET_PROGRAMS.clear()
        sdm_fused._TARGET_PROGRAMS.update(saved[2])


def _compare(addresses: torch.Tensor, queries: torch.Tensor, counters: torch.Tensor,
             **rule: int) -> str:
    aw, qw = sdm_packed.pack_addresses(addresses), sdm_packed.pack_bits(queries)
    got = sdm_fused.fused_sums(qw, aw, counters, n_bits=addresses.shape[1], **rule)
    rows, cols = sdm_packed.active_pairs(qw, aw, **rule)
    want = sdm_packed.gather_sums(counters, rows, cols, queries.shape[0])
    if got.dtype != torch.int64 or got.shape != want.shape:
        return f"dtype/shape {got.dtype} {tuple(got.shape)} vs {tuple(want.shape)}"
    if not torch.equal(got, want):
        wrong = int((got != want).any(dim=1).sum())
        return f"{wrong} of {want.shape[0]} rows differ (pairs {rows.numel()})"
    return "ok"


def _compare_top_k(addresses: torch.Tensor, queries: torch.Tensor, counters: torch.Tensor,
                   ks: tuple[int, ...]) -> str:
    """:func:`_compare` for each ``k``; the first difference, or ``"ok"``."""
    for k in ks:
        result = _compare(addresses, queries, counters, top_k=k)
        if result != "ok":
            return f"k={k}: {result}"
    return "ok"


def _random(seed: int, r: int, n: int, b: int, v: int, dtype: torch.dtype, low: int = -20,
            high: int = 20) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    addresses = torch.randint(0, 2, (r, n), generator=g, dtype=torch.uint8)
    queries = torch.randint(0, 2, (b, n), generator=g, dtype=torch.uint8)
    counters = torch.randint(low, high + 1, (r, v), generator=g, dtype=torch.int64).to(dtype)
    return addresses, queries, counters


def _near(addresses: torch.Tensor, rows: list[int], flips: int, seed: int) -> torch.Tensor:
    """Queries at ``flips`` bits from the given addresses (so some locations are close)."""
    g = torch.Generator().manual_seed(seed)
    queries = addresses[rows].clone()
    for q in queries:
        q[torch.randperm(q.numel(), generator=g)[:flips]] ^= 1
    return queries


def case_radius_dtypes() -> str:
    for seed, dtype in enumerate((torch.int8, torch.int16, torch.int32, torch.int64)):
        a, _, c = _random(seed, 700, 100, 5, 37, dtype)
        q = _near(a, [0, 3, 9, 9, 650], 20, seed)
        for radius in ((0, 38, 100) if seed == 0 else (38,)):
            result = _compare(a, q, c, radius=radius)
            if result != "ok":
                return f"{dtype} radius {radius}: {result}"
    return "ok"


def case_radius_word_edges() -> str:
    # exactly one word, one bit into the second word, and 16 words (Kanerva's n = 1000)
    for n, radius in ((64, 25), (65, 26), (1000, 470)):
        a, q, c = _random(n, 300, n, 3, 4, torch.int16)
        result = _compare(a, torch.cat([q, _near(a, [5], n // 10, n)]), c, radius=radius)
        if result != "ok":
            return f"n={n}: {result}"
    return "ok"


def case_radius_blocks_and_splits() -> str:
    # several query blocks, value blocks and location splits: partial sums meet atomically
    with _tiles(block_q=4, block_v=8, programs=64):
        a, _, c = _random(11, 500, 100, 1, 21, torch.int32)
        q = _near(a, list(range(0, 500, 50)), 25, 11)  # 10 queries
        return _compare(a, q, c, radius=40)


def case_radius_int64_accumulators() -> str:
    # counters near 2^40: the sums need int64 accumulators (sum_bound >= 2^31)
    a, _, c = _random(5, 400, 70, 4, 6, torch.int64, low=-2**40, high=2**40)
    return _compare(a, _near(a, [1, 2, 3, 4], 10, 5), c, radius=30)


def case_top_k() -> str:
    a, _, c = _random(21, 700, 100, 5, 13, torch.int16)
    q = _near(a, [0, 100, 200, 300, 699], 30, 21)
    return _compare_top_k(a, q, c, (1, 7, 700))


def case_top_k_ties_lowest_index() -> str:
    # only 9 distinct addresses among 200 locations: every cut-off falls inside a tie
    g = torch.Generator().manual_seed(31)
    distinct = torch.randint(0, 2, (9, 80), generator=g, dtype=torch.uint8)
    a = distinct[torch.randint(0, 9, (200,), generator=g)]
    c = torch.randint(-9, 10, (200, 6), generator=g, dtype=torch.int64).to(torch.int8)
    q = torch.cat([distinct[:3], torch.randint(0, 2, (2, 80), generator=g, dtype=torch.uint8)])
    with _tiles(block_q=2, block_v=4, programs=16):
        return _compare_top_k(a, q, c, (1, 50, 111))


def case_top_k_far_queries() -> str:
    # queries far from every address: the cut-off lies beyond the first histogram cap
    g = torch.Generator().manual_seed(41)
    a = torch.randint(0, 2, (300, 90), generator=g, dtype=torch.uint8)
    a[:, :60] = 0
    q = torch.zeros((2, 90), dtype=torch.uint8)
    q[:, :60] = 1
    c = torch.randint(-5, 6, (300, 3), generator=g, dtype=torch.int64).to(torch.int32)
    return _compare(a, q, c, top_k=5)


def case_sdm_fused_equals_dense() -> str:
    for rule in ({"radius": 40}, {"top_k": 9}):
        fused = SDM.random(r=400, n=100, seed=2, read_path="fused", **rule)
        dense = SDM.random(r=400, n=100, seed=2, read_path="dense", **rule)
        g = torch.Generator().manual_seed(7)
        keys = torch.randint(0, 2, (40, 100), generator=g, dtype=torch.uint8)
        fused.write(keys, keys)
        dense.write(keys, keys)
        cues = keys[:5].clone()
        cues[:, :12] ^= 1
        if not torch.equal(fused.sums(cues), dense.sums(cues)):
            return f"{rule}: sums differ"
        if not torch.equal(fused.read(cues, iterations=3), dense.read(cues, iterations=3)):
            return f"{rule}: read bits differ"
        rebuilt = SDM.from_packed(fused.address_words.T.contiguous(), 100, read_path="fused",
                                  **rule)
        rebuilt.set_counters(dense.counters)
        if not torch.equal(rebuilt.sums(cues), dense.sums(cues)):
            return f"{rule}: from_packed sums differ"
    return "ok"


CASES: dict[str, Callable[[], str]] = {
    name[len("case_"):]: fn for name, fn in sorted(globals().items())
    if name.startswith("case_") and callable(fn)
}


def run(names: list[str]) -> dict[str, str]:
    """Run the named cases (all when empty); a case that raises reports the exception."""
    if os.environ.get("TRITON_INTERPRET") != "1":
        raise SystemExit("run with TRITON_INTERPRET=1")
    results = {}
    for name in names or list(CASES):
        try:
            results[name] = CASES[name]()
        except Exception as exc:  # reported to the test, which fails with it
            results[name] = f"raised {type(exc).__name__}: {exc}"
    return results


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1:])))
