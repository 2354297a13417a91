"""Tests of the packed/sparse binary SDM path (models/sdm_packed.py, SDM(read_path=...)).

Every comparison is exact (``torch.equal``): distances, active sets, sums and counters are
integers, and the packed path must reproduce the dense reference bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import sdm_packed
from models.patterns import hamming_distance, random_binary
from models.sdm import READ_PATHS, SDM, top_k_mask
from models.sdm_neuron import _AUTO_MIN_BITS_CPU

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def _pair(device: str, r: int, n: int, seed: int, **kwargs) -> tuple[SDM, SDM]:
    """A dense and a packed SDM on the same addresses."""
    addresses = random_binary(r, n, seed=seed)
    dense = SDM(addresses, read_path="dense", device=device, **kwargs)
    packed = SDM(addresses, read_path="packed", device=device, **kwargs)
    return dense, packed


def _configs() -> list[dict]:
    """Random (r, n, radius or top-k, batch, value_dim, saturation, counter dtype) cases,
    including n < 64, n a multiple of 64 and n just above one."""
    generator = np.random.default_rng(2024)
    cases = []
    for i, n in enumerate((1, 5, 37, 63, 64, 65, 100, 128, 129, 200, 300)):
        r = int(generator.integers(1, 400))
        case = {"r": r, "n": n, "seed": 100 + i, "batch": int(generator.integers(1, 40)),
                "m": int(generator.integers(1, 60)),
                "value_dim": None if i % 3 else int(generator.integers(1, 20)),
                "saturation": 3 if i % 4 == 1 else None,
                "counter_dtype": (torch.int8, torch.int16, torch.int32, torch.int64)[i % 4]}
        if i % 2:
            case["top_k"] = int(generator.integers(1, r + 1))
        else:
            # radii around n/2 - a few sd activate a few percent; 0 and n are the extremes
            case["radius"] = int(np.clip(round(n / 2 - generator.uniform(0, 2) * n**0.5 / 2),
                                         0, n)) if i not in (0, 6) else (0 if i == 0 else n)
        cases.append(case)
    return cases


# ---------------------------------------------------------------------------------------------
# pure functions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 63, 64, 65, 127, 128, 129, 1000])
def test_pack_unpack_round_trip(n: int) -> None:
    bits = random_binary(2 * 3 * 5, n, seed=n).reshape(2, 3, 5, n)
    words = sdm_packed.pack_bits(bits)
    assert words.shape == (2, 3, 5, -(-n // 64)) and words.dtype == torch.int64
    assert torch.equal(sdm_packed.unpack_bits(words, n), bits)
    # bit i sits at bit i % 64 of word i // 64 (checked against Python integers)
    row = bits.reshape(-1, n)[0].tolist()
    for w, word in enumerate(words.reshape(-1, words.shape[-1])[0].tolist()):
        expected = sum(b << i for i, b in enumerate(row[64 * w:64 * w + 64]))
        assert word & (2**64 - 1) == expected


def test_popcount64_matches_python() -> None:
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(-2**63, 2**63 - 1, (5000,), generator=generator, dtype=torch.int64)
    x[:5] = torch.tensor([0, -1, -2**63, 2**63 - 1, 1])
    expected = [bin(v & (2**64 - 1)).count("1") for v in x.tolist()]
    assert sdm_packed.popcount64(x).tolist() == expected


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_hamming_distances_match_unpacked(backend: str) -> None:
    for n, r, b in ((1, 9, 3), (40, 70, 5), (64, 33, 4), (65, 50, 6), (1000, 120, 7)):
        addresses = random_binary(r, n, seed=n)
        queries = random_binary(b, n, seed=n + 1)
        expected = hamming_distance(queries, addresses).to(torch.int32)
        got = sdm_packed.hamming_distances(sdm_packed.pack_bits(queries),
                                           sdm_packed.pack_addresses(addresses),
                                           backend=backend, budget=2 * r)  # chunks of 2
        assert torch.equal(got, expected), (n, r, b)


def test_numpy_threads_agree_with_one_thread() -> None:
    # enough work (b r W >= 2^21 word XORs) for the two-thread split to happen
    addresses = sdm_packed.pack_addresses(random_binary(40000, 1000, seed=3))
    queries = sdm_packed.pack_bits(random_binary(4, 1000, seed=4))
    one = sdm_packed._hamming_numpy(queries, addresses, threads=1)
    two = sdm_packed._hamming_numpy(queries, addresses, threads=2)
    assert torch.equal(one, two)


def test_active_pairs_backends_agree() -> None:
    addresses = sdm_packed.pack_addresses(random_binary(30000, 100, seed=30))
    queries = sdm_packed.pack_bits(random_binary(40, 100, seed=31))
    for rule in ({"radius": 40}, {"top_k": 1}, {"top_k": 25}, {"top_k": 30000}):
        numpy_rows, numpy_cols = sdm_packed.active_pairs(queries, addresses, backend="numpy",
                                                         budget=30000 * 7, **rule)
        torch_rows, torch_cols = sdm_packed.active_pairs(queries, addresses, backend="torch",
                                                         **rule)
        assert torch.equal(numpy_rows, torch_rows) and torch.equal(numpy_cols, torch_cols)
        assert numpy_rows.numel() > 0, rule
    # the two-thread split of the radius pairs (b r W >= 2^21) gives the same sorted pairs
    q, a = sdm_packed._as_numpy_words(queries), sdm_packed._as_numpy_words(addresses)
    one = sdm_packed._pairs_numpy(queries, addresses, 40, None, threads=1)
    two = sdm_packed._pairs_numpy(queries, addresses, 40, None, threads=2)
    assert q.shape[0] * a.shape[1] * a.shape[0] >= 2**21
    assert all(np.array_equal(x, y) for x, y in zip(one, two, strict=True))


def test_jiterator_driver_with_a_stand_in_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CUDA driver (groups of 4 words, zero words completing the last group) run on
    the CPU with a Python stand-in for the compiled kernel; the kernel itself is checked
    on CUDA by test_cuda_backends_agree and at run time by _jiterator_works."""
    def kernel(*tensors: torch.Tensor) -> torch.Tensor:
        assert len(tensors) == 8
        return sum(sdm_packed.popcount64(a ^ q) for a, q in zip(tensors[:4], tensors[4:],
                                                                 strict=True))

    monkeypatch.setattr(sdm_packed, "_jit_function", lambda: kernel)
    for n in (64, 200, 300, 1000):  # 1, 4, 5 and 16 words
        addresses = random_binary(50, n, seed=n)
        queries = random_binary(6, n, seed=n + 1)
        got = sdm_packed._hamming_jiterator(sdm_packed.pack_bits(queries),
                                            sdm_packed.pack_addresses(addresses))
        assert torch.equal(got, hamming_distance(queries, addresses).to(torch.int32)), n


def test_jiterator_self_check_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("nvrtc: error")

    monkeypatch.setattr(sdm_packed, "_JIT_STATUS", {})
    monkeypatch.setattr(sdm_packed, "_hamming_jiterator", broken)
    with pytest.warns(RuntimeWarning, match="jiterator popcount kernel is unavailable"):
        assert not sdm_packed._jiterator_works(torch.device("cpu"))
    monkeypatch.setattr(sdm_packed, "_JIT_STATUS", {})
    monkeypatch.setattr(sdm_packed, "_hamming_jiterator",
                        lambda q, a: sdm_packed._hamming_torch(q, a) + 1)
    with pytest.warns(RuntimeWarning, match="disagrees with the SWAR path"):
        assert not sdm_packed._jiterator_works(torch.device("cpu"))


def test_active_top_k_ties_to_lowest_index() -> None:
    generator = torch.Generator().manual_seed(5)
    distances = torch.randint(0, 4, (50, 60), generator=generator, dtype=torch.int32)
    for k in (1, 7, 30, 60):
        chosen = sdm_packed.active_top_k(distances, k)
        mask = torch.zeros_like(distances, dtype=torch.bool).scatter_(1, chosen, True)
        assert torch.equal(mask, top_k_mask(distances, k))  # exact, the same tie-break
        assert bool((chosen.diff(dim=1) > 0).all())  # ascending


def test_gather_sums_and_scatter_add_exact() -> None:
    generator = torch.Generator().manual_seed(6)
    rows = torch.tensor([0, 0, 0, 2, 2, 3])
    cols = torch.tensor([1, 4, 5, 0, 5, 5])
    for dtype, big in ((torch.int8, 100), (torch.int32, 2**30), (torch.int64, 2**50)):
        counters = torch.randint(-big, big, (6, 3), generator=generator).to(dtype)
        expected = torch.zeros(5, 3, dtype=torch.int64)
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            expected[row] += counters[col].to(torch.int64)
        got = sdm_packed.gather_sums(counters, rows, cols, 5, max_abs=big)
        assert torch.equal(got, expected), dtype  # 3 x 2^30 needs the int64 accumulator
        # pairs in any order give the same sums
        order = torch.randperm(6, generator=generator)
        assert torch.equal(sdm_packed.gather_sums(counters, rows[order], cols[order], 5),
                           expected)
    counters = torch.zeros(6, 2, dtype=torch.int16)
    values = torch.tensor([[1, -1], [3, 5], [-1, -1], [7, 0]], dtype=torch.int64)
    sdm_packed.scatter_add(counters, rows, cols, values)
    expected = torch.zeros(6, 2, dtype=torch.int16)
    for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
        expected[col] += values[row].to(torch.int16)
    assert torch.equal(counters, expected)


def test_footprint_bytes() -> None:
    # 10^7 x 1000: 16 words of 8 bytes per neuron; int8 counters 1 byte per value
    packed = sdm_packed.footprint_bytes(10**7, 1000, counter_dtype=torch.int8)
    assert packed == {"addresses": 1_280_000_000, "counters": 10**10, "extra": 0,
                      "total": 11_280_000_000}
    dense = sdm_packed.footprint_bytes(10, 100, counter_dtype=torch.int32, path="dense")
    assert dense["addresses"] == 1000 and dense["extra"] == 4000 + 4000


# ---------------------------------------------------------------------------------------------
# SDM: packed path == dense reference
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", _configs(), ids=lambda c: f"r{c['r']}-n{c['n']}")
def test_packed_equals_dense(device: str, case: dict) -> None:
    case = dict(case)
    r, n, seed, batch, m = (case.pop(key) for key in ("r", "n", "seed", "batch", "m"))
    dense, packed = _pair(device, r, n, seed, **case)
    assert not dense.uses_packed(batch) and packed.uses_packed(batch)
    v = dense.value_dim
    keys, values = random_binary(m, n, seed=seed + 1), random_binary(m, v, seed=seed + 2)
    queries = random_binary(batch, n, seed=seed + 3)
    # two writes (the second sees non-zero counters), then every read-side quantity
    half = m // 2
    for sdm in (dense, packed):
        sdm.write(keys[:half], values[:half])
        sdm.write(keys[half:], values[half:])
    assert torch.equal(dense.counters, packed.counters)
    assert torch.equal(dense.write_counts, packed.write_counts)
    assert torch.equal(dense.distances(queries), packed.distances(queries))
    assert torch.equal(dense.activations(queries), packed.activations(queries))
    for a, b in zip(dense.active_sets(queries), packed.active_sets(queries), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(dense.sums(queries), packed.sums(queries))
    assert torch.equal(dense.read(queries), packed.read(queries))
    assert torch.equal(dense.read(queries[0]), packed.read(queries[0]))  # a vector
    if v == n:
        assert torch.equal(dense.read(queries, iterations=4), packed.read(queries, 4))
    # the packed memory never built the dense float copy of the addresses
    assert packed.memory_bytes()["dense_cache"] == 0
    assert torch.equal(dense.addresses, packed.addresses)


@pytest.mark.parametrize("device", DEVICES)
def test_large_counters_and_reset(device: str) -> None:
    # sums beyond 2^31 (int64 accumulator) and beyond 2^53 (float64 inexact on dense)
    dense, packed = _pair(device, 50, 70, 7, radius=70, value_dim=3,
                          counter_dtype=torch.int64)
    queries = random_binary(4, 70, seed=8)
    for big in (2**31 - 5, 2**50 + 3):
        counters = torch.full((50, 3), big, dtype=torch.int64)
        counters[::3, 1] = -big
        dense.set_counters(counters)
        packed.set_counters(counters)
        assert torch.equal(dense.sums(queries), packed.sums(queries))
        assert packed.sums(queries)[0, 0].item() == 50 * big  # every neuron is active
    for sdm in (dense, packed):
        sdm.reset()
        sdm.write(queries, random_binary(4, 3, seed=9))
    assert torch.equal(dense.counters, packed.counters)
    assert torch.equal(dense.sums(queries), packed.sums(queries))


def test_batched_packed_write_equals_single_writes() -> None:
    keys, values = random_binary(40, 100, seed=10), random_binary(40, 100, seed=11)
    batched = SDM.random(3000, 100, radius=40, seed=12, read_path="packed")
    single = SDM.random(3000, 100, radius=40, seed=12, read_path="packed")
    batched.write(keys, values)
    for key, value in zip(keys, values, strict=True):
        single.write(key, value)
    assert torch.equal(batched.counters, single.counters)
    assert int(batched.counters.abs().sum()) > 0  # something was written


def test_kanerva_shape_with_chunked_queries(monkeypatch: pytest.MonkeyPatch) -> None:
    # n = 1000 at the activation probability ~0.001 radius (451, ~5 of 5000 neurons active),
    # with a small element budget so that reads and writes run in chunks of 3 queries
    import models.sdm_neuron

    monkeypatch.setattr(models.sdm_neuron, "_ELEMENT_BUDGET", 3 * 5000)
    dense, packed = _pair("cpu", 5000, 1000, 13, radius=451)
    assert packed._chunk() == 3
    patterns = random_binary(8, 1000, seed=14)
    for sdm in (dense, packed):
        sdm.write(patterns, patterns)
    queries = torch.cat([patterns, random_binary(12, 1000, seed=15)])
    assert torch.equal(dense.write_counts, packed.write_counts)
    assert int(packed.write_counts.sum()) > 0
    assert torch.equal(dense.sums(queries), packed.sums(queries))
    assert torch.equal(dense.read(patterns, iterations=3), packed.read(patterns, 3))


# ---------------------------------------------------------------------------------------------
# path selection, memory, bad input
# ---------------------------------------------------------------------------------------------


def test_auto_picks_a_path() -> None:
    assert READ_PATHS == ("auto", "dense", "packed", "fused")
    small = SDM.random(40, 16, radius=6, seed=0)  # auto by default
    assert small.read_path == "auto" and not small.uses_packed(1)
    big = SDM.random(_AUTO_MIN_BITS_CPU // 64 + 1, 64, radius=24, seed=0)
    assert big.uses_packed(1) and big.uses_packed(1024)
    # between the two thresholds: packed for small batches only
    middle = SDM.random(20000, 64, radius=24, seed=0)  # 1.28e6 address bits
    assert middle.uses_packed(16) and not middle.uses_packed(17)
    selected = SDM.random_selected_coordinate(10**5, 64, 4, seed=0)
    assert not selected.uses_packed(1)  # nothing to pack
    # auto in the dense regime builds the float copy lazily from the packed words
    queries = random_binary(3, 16, seed=1)
    reference = SDM(small.addresses, radius=6, read_path="dense")
    assert torch.equal(small.distances(queries), reference.distances(queries))
    assert small.memory_bytes()["dense_cache"] == 40 * 16 * 4
    assert "read_path='auto'" in repr(small)


def test_memory_of_the_packed_path() -> None:
    dense, packed = _pair("cpu", 1000, 130, 16, radius=50, counter_dtype=torch.int8)
    dense.read(random_binary(2, 130, seed=17))
    assert dense.memory_bytes()["addresses"] == 1000 * 130
    assert dense.memory_bytes()["dense_cache"] == 1000 * 130 * 4
    held = packed.memory_bytes()
    assert held["addresses"] == 1000 * 3 * 8 and held["dense_cache"] == 0
    assert held["counters"] == 1000 * 130
    assert packed.address_words.shape == (3, 1000) and dense.address_words is None


@pytest.mark.parametrize("read_path", ["packed", "auto"])
def test_bad_input_same_checks(read_path: str) -> None:
    sdm = SDM.random(20, 8, radius=3, value_dim=4, seed=0, read_path=read_path)
    keys = random_binary(3, 8, seed=1)
    cases = [
        (lambda: sdm.write(random_binary(3, 9, seed=0), random_binary(3, 4, seed=0)),
         r"^keys must have last dimension n=8"),
        (lambda: sdm.write(keys * 3, random_binary(3, 4, seed=0)), r"^keys must be binary"),
        (lambda: sdm.write(keys, torch.full((3, 4), 0.5)), r"^values must be binary"),
        (lambda: sdm.write(keys, random_binary(2, 4, seed=0)),
         r"^values must have one row per key \(3 keys\)"),
        (lambda: sdm.read(random_binary(2, 7, seed=0)), r"^queries must have last dimension"),
        (lambda: sdm.sums(torch.full((2, 8), -1)), r"^queries must be binary"),
        (lambda: sdm.active_sets(torch.full((2, 8), 2)), r"^queries must be binary"),
        (lambda: sdm.read(keys, iterations=2), r"^iterations > 1 needs"),
    ]
    for call, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            call()


def test_overflow_refused_on_the_packed_path() -> None:
    sdm = SDM.random(10, 8, radius=8, value_dim=2, counter_dtype=torch.int8, seed=0,
                     read_path="packed")
    with pytest.raises(ValueError, match=r"^keys: writing 128 more patterns could overflow"):
        sdm.write(random_binary(128, 8, seed=1), random_binary(128, 2, seed=2))
    assert int(sdm.counters.abs().sum()) == 0


def test_unknown_read_path_is_one_value_error() -> None:
    pattern = r"^read_path must be one of 'auto', 'dense', 'packed', 'fused', got 'fast'"
    for call in (lambda: SDM.random(5, 8, radius=2, read_path="fast"),
                 lambda: SDM(torch.zeros(3, 4), radius=1, read_path="fast"),
                 lambda: SDM.random_selected_coordinate(5, 8, 2, read_path="fast")):
        with pytest.raises(ValueError, match=pattern):
            call()
    with pytest.raises(ValueError, match=r"^read_path 'packed' needs full \(Kanerva\) "):
        SDM.random_selected_coordinate(5, 8, 2, read_path="packed")
    with pytest.raises(ValueError, match=r"^backend must be one of 'numpy', 'torch'"):
        sdm_packed.hamming_distances(torch.zeros(1, 1, dtype=torch.int64),
                                     torch.zeros(1, 3, dtype=torch.int64), backend="gpu")
    with pytest.raises(TypeError, match=r"^query_words and address_words must be int64"):
        sdm_packed.hamming_distances(torch.zeros(1, 1), torch.zeros(1, 3, dtype=torch.int64))


# ---------------------------------------------------------------------------------------------
# CUDA backends
# ---------------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_cuda_backends_agree() -> None:
    addresses = random_binary(5000, 1000, seed=20)
    queries = random_binary(33, 1000, seed=21)
    expected = hamming_distance(queries, addresses).to(torch.int32)
    words_q = sdm_packed.pack_bits(queries.cuda())
    words_a = sdm_packed.pack_addresses(addresses.cuda())
    assert sdm_packed.default_backend("cuda") == "jiterator"  # compiled and self-checked
    for backend in ("torch", "jiterator"):
        got = sdm_packed.hamming_distances(words_q, words_a, backend=backend)
        assert torch.equal(got.cpu(), expected), backend
    assert SDM(addresses, radius=451, device="cuda").uses_packed(1024)  # auto on CUDA


# ---------------------------------------------------------------------------------------------
# constructors and counters
# ---------------------------------------------------------------------------------------------


def test_random_packed_draws_the_dense_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    import models.sdm_constructors

    # blocks of 3 rows: the packed draw comes in many pieces, the dense one at once
    monkeypatch.setattr(models.sdm_constructors, "_RANDOM_BLOCK_BITS", 3 * 70)
    for read_path in ("packed", "auto"):
        packed = SDM.random(20, 70, radius=30, seed=21, read_path=read_path)
        dense = SDM.random(20, 70, radius=30, seed=21, read_path="dense")
        assert torch.equal(packed.addresses, dense.addresses)  # exact: same random stream


def test_from_packed() -> None:
    bits = random_binary(30, 70, seed=22)
    words = sdm_packed.pack_bits(bits)
    for read_path in ("auto", "dense", "packed"):  # "fused": tests/_sdm_fused_cases.py
        sdm = SDM.from_packed(words, 70, top_k=4, read_path=read_path)
        assert torch.equal(sdm.addresses, bits) and sdm.r == 30 and sdm.top_k == 4
    reference = SDM(bits, top_k=4, read_path="dense")
    queries = random_binary(5, 70, seed=23)
    assert torch.equal(SDM.from_packed(words, 70, top_k=4).distances(queries),
                       reference.distances(queries))
    bad = words.clone()
    bad[3, 1] |= 1 << 6  # bit 70 of neuron 3: padding
    with pytest.raises(ValueError, match=r"^address_words must have 0 in the padding bits"):
        SDM.from_packed(bad, 70, radius=3)
    with pytest.raises(ValueError, match=r"^address_words must be a non-empty \(r, ceil"):
        SDM.from_packed(words[:, :1], 70, radius=3)
    with pytest.raises(TypeError, match=r"^address_words must be int64"):
        SDM.from_packed(words.to(torch.int32), 70, radius=3)


def test_set_counters_checks_range_without_copies() -> None:
    sdm = SDM.random(4, 8, radius=3, value_dim=2, counter_dtype=torch.int8, seed=0,
                     read_path="packed")
    sdm.set_counters(torch.tensor([[1.0, -2.0]] * 4))  # integral floats are accepted
    assert sdm.counters.tolist() == [[1, -2]] * 4 and sdm.counters.dtype == torch.int8
    with pytest.raises(ValueError, match=r"^counters must lie in \[-127, 127\], got max "
                                         r"\|C\| = 128"):
        sdm.set_counters(torch.full((4, 2), -128, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"^counters must be integers"):
        sdm.set_counters(torch.full((4, 2), 0.5))
    assert sdm.counters.tolist() == [[1, -2]] * 4  # refused before any change
