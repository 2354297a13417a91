"""Tests of the neuron-based SDM (models/sdm.py) and the dense-read benchmark script."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import pytest
import torch

from models.patterns import flip_exact, hamming_distance, random_binary
from models.sdm import SDM, ContinuousSDM, cosine_for_radius, radius_for_cosine, top_k_mask

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# brute-force references (plain Python loops over neurons)
# ---------------------------------------------------------------------------------------------


def brute_activations(sdm: SDM, queries: torch.Tensor) -> list[list[bool]]:
    """Activation of every neuron for every query, one Python loop step at a time."""
    out = []
    for q in queries.tolist():
        distances = []
        for j in range(sdm.r):
            if sdm.design == "full":
                a = sdm.addresses[j].tolist()
                distances.append(sum(x != y for x, y in zip(q, a, strict=True)))
            else:
                coords = sdm.coordinates[j].tolist()
                targets = sdm.targets[j].tolist()
                distances.append(sum(q[c] != t for c, t in zip(coords, targets, strict=True)))
        if sdm.activation == "radius":
            limit = sdm.radius if sdm.design == "full" else sdm.mismatches
            out.append([d <= limit for d in distances])
        else:
            # documented rule: smallest distance first, ties to the lowest index
            order = sorted(range(sdm.r), key=lambda j, ds=distances: (ds[j], j))
            chosen = set(order[:sdm.top_k])
            out.append([j in chosen for j in range(sdm.r)])
    return out


def brute_write(counters: list[list[int]], active: list[bool], value: list[int],
                saturation: int | None) -> None:
    for j, on in enumerate(active):
        if on:
            for i, bit in enumerate(value):
                c = counters[j][i] + (1 if bit else -1)
                if saturation is not None:
                    c = max(-saturation, min(saturation, c))
                counters[j][i] = c


def brute_sums(counters: list[list[int]], active: list[bool]) -> list[int]:
    return [sum(counters[j][i] for j, on in enumerate(active) if on)
            for i in range(len(counters[0]))]


def make_designs(device: str, saturation: int | None) -> list[SDM]:
    """Small memories of every design/activation combination (on ``device``)."""
    common = {"value_dim": 5, "saturation": saturation, "device": device}
    return [
        SDM.random(40, 16, radius=6, seed=1, **common),
        SDM.random(40, 16, top_k=7, seed=2, **common),
        SDM.random_selected_coordinate(40, 16, 3, seed=3, **common),
        SDM.random_selected_coordinate(40, 16, 4, mismatches=1, seed=4, **common),
        SDM.random_selected_coordinate(40, 16, 3, top_k=6, seed=5, **common),
    ]


# ---------------------------------------------------------------------------------------------
# core equalities
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("saturation", [None, 2])
def test_matches_brute_force_loop(device: str, saturation: int | None) -> None:
    keys = random_binary(12, 16, seed=10)
    values = random_binary(12, 5, seed=11)
    queries = random_binary(9, 16, seed=12)
    for sdm in make_designs(device, saturation):
        # activations: exact equality with the per-neuron loop (integer distances)
        expected_act = brute_activations(sdm, queries)
        assert sdm.activations(queries).cpu().tolist() == expected_act, repr(sdm)
        assert [s.cpu().tolist() for s in sdm.active_sets(queries)] == [
            [j for j, on in enumerate(row) if on] for row in expected_act]
        # writes one key at a time, in order (the defining semantics)
        counters = [[0] * 5 for _ in range(sdm.r)]
        for active, value in zip(brute_activations(sdm, keys), values.tolist(), strict=True):
            brute_write(counters, active, value, saturation)
        sdm.write(keys, values)
        assert sdm.counters.cpu().tolist() == counters, repr(sdm)
        # sums and bits: exact (integers); ties (sum 0) read as 0
        sums = [brute_sums(counters, row) for row in expected_act]
        assert sdm.sums(queries).cpu().tolist() == sums
        bits = [[1 if s > 0 else 0 for s in row] for row in sums]
        assert sdm.read(queries).cpu().tolist() == bits
        assert sdm.write_counts.cpu().tolist() == [
            sum(row[j] for row in brute_activations(sdm, keys)) for j in range(sdm.r)]


@pytest.mark.parametrize("device", DEVICES)
def test_distances_equal_hamming(device: str) -> None:
    sdm = SDM.random(300, 100, radius=40, seed=3, device=device)
    queries = random_binary(20, 100, seed=4)
    expected = hamming_distance(queries, sdm.addresses.cpu())
    # exact: integer distances computed by an independent float64 formula
    assert torch.equal(sdm.distances(queries).cpu().to(torch.int64), expected)


def test_selected_with_all_coordinates_equals_full_address() -> None:
    n, r = 20, 60
    addresses = random_binary(r, n, seed=5)
    full = SDM(addresses, radius=7, value_dim=4)
    coords = torch.arange(n).repeat(r, 1)
    selected = SDM.selected_coordinate(coords, addresses, n, mismatches=7, value_dim=4)
    keys, values = random_binary(10, n, seed=6), random_binary(10, 4, seed=7)
    queries = random_binary(15, n, seed=8)
    full.write(keys, values)
    selected.write(keys, values)
    # exact: a neuron looking at all n coordinates with <= 7 mismatches is a Hamming ball
    assert torch.equal(full.activations(queries), selected.activations(queries))
    assert torch.equal(full.sums(queries), selected.sums(queries))


@pytest.mark.parametrize("device", DEVICES)
def test_noise_free_read_at_low_load_returns_values(device: str) -> None:
    # r=4000, n=128, d=50 (p ~ 0.0067, ~27 neurons per key), 5 stored pairs: the signal
    # (~27 per bit) dwarfs the crosstalk (sd ~ sqrt(27 * 4 * 0.0067 * ...) < 2), so the
    # read is exact with overwhelming probability; the seed fixes the outcome.
    sdm = SDM.random(4000, 128, radius=50, value_dim=40, seed=20, device=device)
    keys = random_binary(5, 128, seed=21)
    values = random_binary(5, 40, seed=22)
    sdm.write(keys, values)
    assert bool((sdm.activations(keys).sum(dim=1) > 0).all())
    assert torch.equal(sdm.read(keys).cpu(), values)  # exact recall


def test_batched_write_equals_sequential_writes_without_saturation() -> None:
    keys, values = random_binary(30, 32, seed=30), random_binary(30, 32, seed=31)
    batched = SDM.random(500, 32, radius=12, seed=32)
    single = SDM.random(500, 32, radius=12, seed=32)
    batched.write(keys, values)
    for key, value in zip(keys, values, strict=True):
        single.write(key, value)
    assert torch.equal(batched.counters, single.counters)  # exact: integer sums commute
    assert batched.n_writes == single.n_writes == 30


def test_saturation_is_sequential_and_order_dependent() -> None:
    # one neuron that every key activates (radius = n), one value bit, S = 1
    sdm = SDM(torch.zeros((1, 4), dtype=torch.uint8), radius=4, value_dim=1, saturation=1)
    keys = torch.zeros((3, 4), dtype=torch.uint8)
    sdm.write(keys, torch.tensor([[1], [1], [0]]))
    assert sdm.counters.item() == 0  # 0 -> 1 -> 1 (clipped) -> 0
    sdm.reset()
    sdm.write(keys, torch.tensor([[0], [1], [1]]))
    assert sdm.counters.item() == 1  # 0 -> -1 -> 0 -> 1: clipping does not commute
    unclipped = SDM(torch.zeros((1, 4), dtype=torch.uint8), radius=4, value_dim=1)
    unclipped.write(keys, torch.tensor([[1], [1], [0]]))
    assert unclipped.counters.item() == 1  # without saturation: the plain sum


def test_iterated_read_converges_autoassociative() -> None:
    n, m = 128, 8
    sdm = SDM.random(6000, n, radius=50, seed=40)
    patterns = random_binary(m, n, seed=41)
    sdm.write(patterns, patterns)
    noisy = flip_exact(patterns, 12, seed=42)
    once = sdm.read(noisy)
    many = sdm.read(noisy, iterations=10)
    errors_once = int((once != patterns).sum())
    # fixed seed; the iterated read reaches the stored patterns exactly, and one more read
    # leaves them unchanged (a fixed point)
    assert torch.equal(many, patterns), errors_once
    assert errors_once <= int((noisy != patterns).sum())  # one read already removes noise
    assert torch.equal(sdm.read(many), many)


def test_iterations_need_autoassociative_memory() -> None:
    sdm = SDM.random(50, 16, radius=6, value_dim=8, seed=0)
    with pytest.raises(ValueError, match=r"^iterations > 1 needs .*value_dim == n=16"):
        sdm.read(random_binary(2, 16, seed=1), iterations=2)


def test_exact_sums_with_large_counters() -> None:
    # |sums| beyond 2^24 (float32 inexact) and 2^53 (float64 inexact): the read must pick
    # a wider exact path and agree with int64 arithmetic
    addresses = random_binary(16, 8, seed=50)
    queries = random_binary(6, 8, seed=51)
    for big in (2**23 + 1, 2**50 + 3):
        sdm = SDM(addresses, radius=8, value_dim=3, counter_dtype=torch.int64)
        counters = torch.tensor([[big, -big + 2, 7]] * 16, dtype=torch.int64)
        counters[::3, 0] -= 1
        sdm.set_counters(counters)
        expected = counters.sum(dim=0)  # every neuron is active at radius n
        assert sdm.sums(queries).tolist() == [expected.tolist()] * 6


def test_counter_overflow_is_refused() -> None:
    sdm = SDM.random(10, 8, radius=8, value_dim=2, counter_dtype=torch.int8, seed=0)
    keys = random_binary(128, 8, seed=1)
    with pytest.raises(ValueError, match=r"^keys: writing 128 more patterns could overflow"):
        sdm.write(keys, random_binary(128, 2, seed=2))
    assert int(sdm.counters.abs().sum()) == 0  # refused before any change


# ---------------------------------------------------------------------------------------------
# activation rules
# ---------------------------------------------------------------------------------------------


def test_top_k_tie_break_lowest_index() -> None:
    # distances to the all-zero query: [2, 1, 1, 3, 1, 0]
    addresses = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0],
                              [1, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=torch.uint8)
    sdm = SDM(addresses, top_k=3)
    query = torch.zeros(4, dtype=torch.uint8)
    assert sdm.distances(query).tolist() == [2, 1, 1, 3, 1, 0]
    # 5 (distance 0), then the two lowest-index of the tied {1, 2, 4}
    assert sdm.active_sets(query)[0].tolist() == [1, 2, 5]


@pytest.mark.parametrize("device", DEVICES)
def test_top_k_mask_matches_stable_sort(device: str) -> None:
    generator = torch.Generator().manual_seed(60)
    scores = torch.randint(0, 5, (200, 50), generator=generator)  # many ties
    for k, largest in itertools.product((1, 7, 50), (False, True)):
        mask = top_k_mask(scores.to(device), k, largest=largest).cpu()
        assert bool((mask.sum(dim=1) == k).all())  # exactly k per row
        key = -scores if largest else scores
        order = torch.sort(key, dim=1, stable=True).indices[:, :k]
        expected = torch.zeros_like(mask).scatter_(1, order, True)
        assert torch.equal(mask, expected)  # exact: same tie-break as a stable sort


def test_selected_coordinate_activation_probability() -> None:
    # Jaeckel: P(active) = 2^-k with all k coordinates matching; with one mismatch allowed,
    # (1 + k) / 2^k. Estimated over 20000 neurons x 50 random queries (10^6 pairs, sd of the
    # mean ~ 2.4e-4 for independent pairs; neurons share coordinates, so allow 0.005).
    queries = random_binary(50, 100, seed=70)
    for mismatches, expected in ((0, 1 / 16), (1, 5 / 16)):
        sdm = SDM.random_selected_coordinate(20000, 100, 4, mismatches=mismatches,
                                             value_dim=1, seed=71)
        assert sdm.activation_probability == pytest.approx(expected, rel=1e-12)
        observed = sdm.activations(queries).double().mean().item()
        assert abs(observed - expected) < 0.005, (mismatches, observed)
    # each neuron's coordinates are distinct and inside [0, n)
    coords = sdm.coordinates
    assert bool((coords.sort(dim=1).values.diff(dim=1) > 0).all())
    assert int(coords.min()) >= 0 and int(coords.max()) < 100


def test_full_address_activation_probability() -> None:
    sdm = SDM.random(20000, 100, radius=42, value_dim=1, seed=80)
    # P(Bin(100, 1/2) <= 42) = 0.0666; 20000 neurons x 30 queries, tolerance 0.005 (the
    # neurons are independent given a query; sd of the mean < 1e-3)
    observed = sdm.activations(random_binary(30, 100, seed=81)).double().mean().item()
    assert abs(observed - sdm.activation_probability) < 0.005
    assert sdm.activation_probability == pytest.approx(0.066605, abs=1e-5)


def test_random_addresses_are_seeded_and_device_independent() -> None:
    a = SDM.random(100, 30, radius=10, seed=5)
    b = SDM.random(100, 30, radius=10, seed=5)
    c = SDM.random(100, 30, radius=10, seed=6)
    assert torch.equal(a.addresses, b.addresses)
    assert not torch.equal(a.addresses, c.addresses)


# ---------------------------------------------------------------------------------------------
# continuous variant
# ---------------------------------------------------------------------------------------------


def test_cosine_radius_map() -> None:
    assert cosine_for_radius(1000, 451) == pytest.approx(0.098, abs=1e-12)
    assert radius_for_cosine(1000, cosine_for_radius(1000, 451)) == pytest.approx(451)


@pytest.mark.parametrize("device", DEVICES)
def test_continuous_on_bipolar_matches_binary(device: str) -> None:
    binary = SDM.random(500, 64, radius=26, value_dim=3, seed=90, device=device)
    bipolar = binary.addresses.float() * 2 - 1
    cont = ContinuousSDM(bipolar, radius=26, value_dim=3, device=device)
    queries = random_binary(40, 64, seed=91).to(device)
    # exact: every bipolar cosine is 1 - 2 d / n; the tolerance keeps d == radius active
    assert torch.equal(cont.activations(queries.float() * 2 - 1), binary.activations(queries))
    top = ContinuousSDM(bipolar, top_k=9, device=device)
    top_binary = SDM(binary.addresses, top_k=9, device=device)
    assert torch.equal(top.activations(queries.float() * 2 - 1),
                       top_binary.activations(queries))


def test_continuous_read_is_intersection_weighted_mean() -> None:
    cont = ContinuousSDM.random(3000, 20, threshold=0.3, value_dim=4, seed=100,
                                dtype=torch.float64)
    generator = torch.Generator().manual_seed(101)
    keys = torch.randn(3, 20, generator=generator, dtype=torch.float64)
    values = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    cont.write(keys, values)
    query = keys[0] + 0.3 * torch.randn(20, generator=generator, dtype=torch.float64)
    a_query = cont.activations(query)
    weights = (cont.activations(keys) & a_query).sum(dim=1).double()  # w_mu
    expected = weights @ values / weights.sum()
    assert weights[0] > 0
    # float64 arithmetic on sums of a few thousand terms: 1e-10 is generous
    torch.testing.assert_close(cont.read(query), expected, rtol=1e-10, atol=1e-10)
    # a single stored value reads back exactly (weighted mean of one value)
    single = ContinuousSDM.random(3000, 20, threshold=0.3, value_dim=4, seed=100,
                                  dtype=torch.float64)
    single.write(keys[:1], values[:1])
    torch.testing.assert_close(single.read(keys[0]), values[0], rtol=1e-12, atol=1e-12)
    # nothing written under the query: 0 by definition
    empty = ContinuousSDM.random(10, 20, threshold=0.99, value_dim=4, seed=1)
    assert torch.equal(empty.read(keys.float()), torch.zeros(3, 4))


# ---------------------------------------------------------------------------------------------
# bad input: one clear error naming the argument
# ---------------------------------------------------------------------------------------------


def _bad_cases() -> list[tuple[str, object, type[Exception], str]]:
    sdm = SDM.random(20, 8, radius=3, value_dim=4, seed=0)
    good_keys = random_binary(3, 8, seed=1)
    coords = torch.tensor([[0, 1], [2, 3]])
    targets = torch.tensor([[0, 1], [1, 1]])
    return [
        ("non-binary addresses", lambda: SDM(torch.full((3, 4), 2), radius=1),
         ValueError, r"^addresses must be binary"),
        ("addresses not a matrix", lambda: SDM(torch.zeros(4), radius=1),
         ValueError, r"^addresses must be a non-empty \(r, n\) matrix"),
        ("radius > n", lambda: SDM.random(5, 8, radius=9), ValueError, r"^radius must be <= 8"),
        ("negative radius", lambda: SDM.random(5, 8, radius=-1), ValueError,
         r"^radius must be >= 0"),
        ("missing radius", lambda: SDM.random(5, 8), ValueError, r"^radius is required"),
        ("top_k > r", lambda: SDM.random(5, 8, top_k=6), ValueError,
         r"^top_k must be <= r=5"),
        ("unknown activation", lambda: SDM.random(5, 8, radius=2, activation="softmax"),
         ValueError, r"^activation must be one of 'radius', 'top_k'"),
        ("radius with top_k", lambda: SDM.random(5, 8, radius=2, activation="top_k",
                                                top_k=2), ValueError, r"^radius must be None"),
        ("saturation < 1", lambda: SDM.random(5, 8, radius=2, saturation=0), ValueError,
         r"^saturation must be >= 1"),
        ("counter dtype", lambda: SDM.random(5, 8, radius=2, counter_dtype=torch.float32),
         TypeError, r"^counter_dtype must be one of"),
        ("wrong key length", lambda: sdm.write(random_binary(3, 9, seed=0),
                                               random_binary(3, 4, seed=0)),
         ValueError, r"^keys must have last dimension n=8"),
        ("non-binary keys", lambda: sdm.write(good_keys * 3, random_binary(3, 4, seed=0)),
         ValueError, r"^keys must be binary"),
        ("non-binary values", lambda: sdm.write(good_keys, torch.full((3, 4), 0.5)),
         ValueError, r"^values must be binary"),
        ("wrong value length", lambda: sdm.write(good_keys, random_binary(3, 5, seed=0)),
         ValueError, r"^values must have last dimension value_dim=4"),
        ("batch mismatch", lambda: sdm.write(good_keys, random_binary(2, 4, seed=0)),
         ValueError, r"^values must have one row per key \(3 keys\)"),
        ("wrong query length", lambda: sdm.read(random_binary(2, 7, seed=0)),
         ValueError, r"^queries must have last dimension n=8"),
        ("non-binary queries", lambda: sdm.sums(torch.full((2, 8), -1)), ValueError,
         r"^queries must be binary"),
        ("iterations 0", lambda: sdm.read(good_keys, iterations=0), ValueError,
         r"^iterations must be >= 1"),
        ("coordinates out of range", lambda: SDM.selected_coordinate(coords + 5, targets, 8),
         ValueError, r"^coordinates must lie in \[0, n=8\)"),
        ("repeated coordinate", lambda: SDM.selected_coordinate(
            torch.tensor([[0, 1], [3, 3]]), targets, 8), ValueError,
         r"^coordinates must be distinct within a neuron; row 1"),
        ("k > n", lambda: SDM.random_selected_coordinate(5, 4, 5), ValueError,
         r"^k must be <= 4"),
        ("targets shape", lambda: SDM.selected_coordinate(coords, targets[:, :1], 8),
         ValueError, r"^targets must have the shape of coordinates"),
        ("non-binary targets", lambda: SDM.selected_coordinate(coords, targets + 1, 8),
         ValueError, r"^targets must be binary"),
        ("mismatches > k", lambda: SDM.selected_coordinate(coords, targets, 8, mismatches=3),
         ValueError, r"^mismatches must be <= 2"),
        ("float coordinates", lambda: SDM.selected_coordinate(coords + 0.5, targets, 8),
         TypeError, r"^coordinates must be integers"),
        ("counters shape", lambda: sdm.set_counters(torch.zeros(3, 3)), ValueError,
         r"^counters must have shape \(r, value_dim\)=\(20, 4\)"),
        ("continuous zero address", lambda: ContinuousSDM(torch.zeros(2, 3), threshold=0.1),
         ValueError, r"^addresses must have no zero rows"),
        ("continuous threshold and radius",
         lambda: ContinuousSDM(torch.ones(2, 3), threshold=0.1, radius=1), ValueError,
         r"^threshold: give exactly one"),
        ("continuous threshold > 1", lambda: ContinuousSDM(torch.ones(2, 3), threshold=1.5),
         ValueError, r"^threshold must be <= 1"),
        ("continuous unknown activation",
         lambda: ContinuousSDM(torch.ones(2, 3), activation="radius", threshold=0.1),
         ValueError, r"^activation must be one of 'threshold', 'top_k'"),
        ("continuous key length", lambda: ContinuousSDM(torch.ones(2, 3), threshold=0.1)
         .write(torch.ones(1, 4), torch.ones(1, 3)), ValueError,
         r"^keys must have last dimension n=3"),
        ("continuous nan values", lambda: ContinuousSDM(torch.ones(2, 3), threshold=0.1)
         .write(torch.ones(1, 3), torch.full((1, 3), float("nan"))), ValueError,
         r"^values must be finite"),
    ]


@pytest.mark.parametrize("case", _bad_cases(), ids=lambda case: case[0])
def test_bad_input_raises_naming_the_argument(case: tuple) -> None:
    _, call, error, pattern = case
    with pytest.raises(error, match=pattern):
        call()


# ---------------------------------------------------------------------------------------------
# benchmark script
# ---------------------------------------------------------------------------------------------


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_sdm_read", ROOT / "bench" /
                                                  "sdm_read.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_runs_small(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load_bench()
    rows = bench.main(["--device", "all", "--neurons", "300", "--bits", "64",
                       "--batches", "1,4,16", "--dtype", "float32", "--repeats", "2",
                       "--check"])
    out = capsys.readouterr().out
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    assert sorted((row["device"], row["batch"]) for row in rows) == sorted(
        (d, b) for d in devices for b in (1, 4, 16))
    for row in rows:
        assert row["time_ms"] > 0 and row["gb_s"] > 0 and row["tflop_s"] > 0
        assert row["peak_mib"] > 0
    if not torch.cuda.is_available():
        assert "no CUDA GPU is available" in out
    assert "0 differing bits" in out  # the dense read agrees with models.sdm.SDM
    table = out[out.index("batch device"):]
    assert len([line for line in table.splitlines() if line.split()[:1] in
                (["1"], ["4"], ["16"])]) == len(rows)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_bench_dense_read_agrees_with_reference(dtype: torch.dtype) -> None:
    bench = _load_bench()
    # exact: small integers and |n - 2d| <= 256 are exact in bf16 (see the script's notes)
    assert bench.check_against_reference("cpu", dtype, r=1500, n=64, radius=26) == 0


def test_all_addresses_as_neurons_equals_pattern_based_read() -> None:
    """With every point of {0,1}^n as a hard location the neuron-based read is exactly the
    pattern-based read whose weights are the Hamming-ball intersections I(n, d, d_v)."""
    pattern_sdm = pytest.importorskip("models.pattern_sdm")
    n, radius, m = 12, 3, 10
    every = torch.tensor([[(j >> i) & 1 for i in range(n)] for j in range(2**n)],
                         dtype=torch.uint8)  # all 4096 addresses
    sdm = SDM(every, radius=radius)
    keys, values = random_binary(m, n, seed=110), random_binary(m, n, seed=111)
    sdm.write(keys, values)
    queries = flip_exact(keys, 2, seed=112)
    # intersections counted neuron by neuron: |ball(key) & ball(query)|
    counted = (sdm.activations(keys).double() @ sdm.activations(queries).double().T).T
    weights = counted / counted.sum(dim=1, keepdim=True)
    reference = pattern_sdm.PatternSDM(keys, values, radius)
    # exact counts vs the exact-integer intersection formula, normalised in float64
    torch.testing.assert_close(weights, reference.weights(queries), rtol=1e-12, atol=1e-15)
    assert torch.equal(sdm.read(queries), reference.read(queries))  # exact, ties -> 0 both
