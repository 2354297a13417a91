"""Pattern-based SDM read (exact intersection weights) and the numerical critical distance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.intersection import binary_intersection, log_binary_intersection
from models.pattern_sdm import (
    PatternSDM,
    critical_distance,
    critical_distance_curve,
    critical_distance_sweep,
    log_intersection_table,
    pattern_read,
    pattern_weights,
)
from models.patterns import flip_exact, random_binary
from models.radius import optimal_radius

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def _exact_read(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                radius: int) -> np.ndarray:
    """Reference read with Python big integers: bit = 1 iff sum_mu I(d_mu) (2 v - 1) > 0."""
    n = keys.shape[1]
    table = binary_intersection(n, radius, np.arange(n + 1))
    q = queries.numpy().astype(int)
    k = keys.numpy().astype(int)
    v = values.numpy().astype(int) * 2 - 1
    out = np.zeros((q.shape[0], v.shape[1]), dtype=np.uint8)
    ties = np.zeros_like(out, dtype=bool)
    for b in range(q.shape[0]):
        distances = (q[b][None, :] != k).sum(axis=1)
        for j in range(v.shape[1]):
            total = sum(int(table[dmu]) * int(v[mu, j]) for mu, dmu in enumerate(distances))
            out[b, j] = total > 0
            ties[b, j] = total == 0
    return out, ties


def test_read_matches_exact_integer_reference():
    # Small memory: m I(0) < 2^53, so the read uses exact integer weights; equality.
    keys = random_binary(30, 16, seed=1)
    values = random_binary(30, 12, seed=2)
    queries = random_binary(40, 16, seed=3)
    memory = PatternSDM(keys, values, radius=4)
    expected, _ = _exact_read(queries, keys, values, 4)
    assert np.array_equal(memory.read(queries).numpy(), expected)


def test_read_matches_reference_with_relative_weights():
    # n = 64, radius 20: m I(0) > 2^53, so weights are relative to I(0) in float64. Where the
    # exact vote is nonzero its sign must match (float64 has 16 digits; no near-ties here).
    keys = random_binary(60, 64, seed=4)
    values = random_binary(60, 20, seed=5)
    queries = flip_exact(keys[:30], 12, seed=6)
    memory = PatternSDM(keys, values, radius=20)
    assert binary_intersection(64, 20, 0) * 60 > 2 ** 53  # this path is exercised
    expected, ties = _exact_read(queries, keys, values, 20)
    got = memory.read(queries).numpy()
    assert np.array_equal(got[~ties], expected[~ties])


def test_read_with_softmax_weights_for_huge_n():
    # n = 4096, radius 400: I(d_v)/I(0) spans e^-779 (below float64's range), so the read
    # falls back to the softmax of log I; it must still agree with the exact big-integer
    # vote. Keys are 150-bit perturbations of one pattern (~290 bits apart), so every key's
    # ball meets every query's and the weights span ~90 orders of magnitude.
    base = random_binary(1, 4096, seed=7).expand(6, 4096)
    keys = flip_exact(base, 150, seed=8)
    values = random_binary(6, 5, seed=9)
    queries = flip_exact(keys[:3], 200, seed=10)
    memory = PatternSDM(keys, values, radius=400)
    assert not memory._linear
    expected, ties = _exact_read(queries, keys, values, 400)
    assert not ties.any()
    assert np.array_equal(memory.read(queries).numpy(), expected)
    weights = memory.weights(queries)
    assert torch.isfinite(weights).all()
    assert bool((weights > 0).all())  # every key takes part in every vote


def test_weights_are_normalised_intersections():
    keys = random_binary(25, 20, seed=10)
    queries = random_binary(7, 20, seed=11)
    memory = PatternSDM(keys, keys, radius=6)
    weights = memory.weights(queries).numpy()
    distances = (queries.numpy()[:, None, :] != keys.numpy()[None, :, :]).sum(axis=2)
    counts = binary_intersection(20, 6, distances).astype(float)
    expected = counts / counts.sum(axis=1, keepdims=True)
    assert np.allclose(weights, expected, rtol=1e-12, atol=0)  # float64 softmax of exact logs
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-12)
    # Functional form; and neurons only rescale, which the normalisation removes.
    assert np.allclose(pattern_weights(queries, keys, 6).numpy(), weights, atol=1e-15)
    scaled = PatternSDM(keys, keys, radius=6, neurons=12345).weights(queries).numpy()
    assert np.allclose(scaled, weights, rtol=1e-12)


def test_no_intersection_gives_zero_weights_and_zero_bits():
    keys = torch.tensor([[0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.uint8)
    memory = PatternSDM(keys, keys, radius=1)
    query = torch.tensor([1, 1, 1, 0, 0, 0], dtype=torch.uint8)  # 3 bits from both keys
    assert torch.equal(memory.weights(query), torch.zeros(2, dtype=torch.float64))
    assert torch.equal(memory.read(query), torch.zeros(6, dtype=torch.uint8))


def test_ties_read_as_zero():
    keys = torch.tensor([[0] * 8, [1, 1] + [0] * 6], dtype=torch.uint8)
    values = torch.tensor([[1, 0, 1], [0, 1, 1]], dtype=torch.uint8)
    query = torch.tensor([1] + [0] * 7, dtype=torch.uint8)  # distance 1 to both keys
    out = PatternSDM(keys, values, radius=2).read(query)
    assert out.tolist() == [0, 0, 1]  # equal weights, opposite bits -> exact tie -> 0


def test_log_intersection_table():
    table = log_intersection_table(30, 7, neurons=1000)
    assert table.shape == (31,) and table.dtype == torch.float64
    assert np.allclose(table.numpy(), log_binary_intersection(30, 7, np.arange(31), 1000))


def test_iterated_reads_clean_up_noise():
    # Autoassociative memory of 50 random 64-bit patterns, radius 11: 8 flipped bits are
    # well inside the critical distance (~18 bits for m = 1024), so every query returns to
    # its pattern within 10 reads.
    keys = random_binary(50, 64, seed=12)
    noisy = flip_exact(keys, 8, seed=13)
    out = PatternSDM(keys, keys, radius=11).read(noisy, iterations=10)
    assert torch.equal(out, keys)


def _sequence_memory() -> tuple[torch.Tensor, torch.Tensor]:
    """60 random 32-bit keys whose values are other keys: 5 swapped pairs (2-cycles), 4
    three-cycles, the rest point to themselves (fixed points)."""
    keys = random_binary(60, 32, seed=14)
    successor = list(range(60))
    for i in range(0, 10, 2):
        successor[i], successor[i + 1] = i + 1, i
    for i in range(10, 22, 3):
        successor[i], successor[i + 1], successor[i + 2] = i + 1, i + 2, i
    return keys, keys[successor]


@pytest.mark.parametrize("iterations", [1, 2, 3, 4, 5, 8])
def test_early_stopping_gives_the_same_state_as_every_read(iterations):
    # A sequence memory (value length = key length) walks its stored cycles: queries near a
    # swapped pair alternate (2-cycles, stopped early with parity), queries near a 3-cycle
    # keep moving, others settle. The result must be exactly the iterations-th state.
    keys, values = _sequence_memory()
    memory = PatternSDM(keys, values, radius=5)
    queries = torch.cat([flip_exact(keys[:30], h, seed=h) for h in (0, 2, 4)])
    state = queries
    states = []
    for _ in range(iterations):
        state = memory.read(state)
        states.append(state)
    assert torch.equal(memory.read(queries, iterations=iterations), state)
    # The dynamics really contain all three behaviours (else the test would be weaker).
    clean = memory.read(keys[:30], iterations=6)
    assert torch.equal(clean[:10], keys[:10])  # even number of swaps: back home
    assert torch.equal(clean[10:22], keys[10:22])  # 6 steps round a 3-cycle: home
    assert torch.equal(memory.read(keys[:10], iterations=7), values[:10])


def test_pattern_read_matches_class():
    keys = random_binary(40, 24, seed=15)
    values = random_binary(40, 10, seed=16)
    queries = flip_exact(keys[:10], 3, seed=17)
    assert torch.equal(pattern_read(queries, keys, values, 6),
                       PatternSDM(keys, values, 6).read(queries))


def test_sampled_neurons():
    keys = random_binary(30, 16, seed=18)
    queries = flip_exact(keys[:5], 2, seed=19)
    expected = PatternSDM(keys, keys, radius=5).weights(queries)
    # 1e7 neurons per address: Poisson counts ~ rate +- sqrt(rate) with rates >= 1e7 for
    # every key with nonzero weight, a relative spread <= 3e-4; weights agree to 1e-2.
    many = PatternSDM(keys, keys, radius=5, neurons=2 ** 16 * 10 ** 7, sample_neurons=True)
    sampled = many.weights(queries, generator=0)
    nonzero = expected > 1e-3
    assert torch.allclose(sampled[nonzero], expected[nonzero], rtol=1e-2)
    # Few neurons: noisy, seeded, and reproducible.
    few = PatternSDM(keys, keys, radius=5, neurons=2 ** 12, sample_neurons=True)
    a, b = few.weights(queries, generator=1), few.weights(queries, generator=1)
    c = few.weights(queries, generator=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # Expected counts of ~1e16 use the normal approximation (torch.poisson overflows there).
    huge = PatternSDM(random_binary(20, 64, seed=20), random_binary(20, 64, seed=20),
                      radius=20, neurons=2 ** 64, sample_neurons=True)
    w = huge.weights(random_binary(4, 64, seed=21), generator=3)
    assert torch.isfinite(w).all() and (w >= 0).all()
    assert huge.read(random_binary(4, 64, seed=22), iterations=3, generator=4).shape == (4, 64)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(keys=[[0, 2]], values=[[1]], radius=1), ValueError, "^keys must be binary"),
    (dict(keys=[[0, 1]], values=[[1, 3]], radius=1), ValueError, "^values must be binary"),
    (dict(keys=[[0, 1], [1, 1]], values=[[1]], radius=1), ValueError, "^values must have one"),
    (dict(keys=[0, 1, 1], values=[[1]], radius=1), ValueError, "^keys must be a"),
    (dict(keys=[[0, 1]], values=[1], radius=1), ValueError, "^values must be a"),
    (dict(keys=np.zeros((0, 4)), values=np.zeros((0, 2)), radius=1), ValueError, "^keys must"),
    (dict(keys=[[0, 1]], values=[[1]], radius=3), ValueError, "^radius must be <="),
    (dict(keys=[[0, 1]], values=[[1]], radius=-1), ValueError, "^radius must be >="),
    (dict(keys=[[0, 1]], values=[[1]], radius=1.5), TypeError, "^radius must"),
    (dict(keys=[[0, 1]], values=[[1]], radius=1, neurons=-3), ValueError, "^neurons must"),
    (dict(keys=[[0, 1]], values=[[1]], radius=1, sample_neurons=1), TypeError,
     "^sample_neurons must"),
    (dict(keys=[[0, 1]], values=[[1]], radius=1, dtype=torch.int64), TypeError,
     "^dtype must"),
])
def test_constructor_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        PatternSDM(**kwargs)


def test_read_rejects_bad_queries_and_iterations():
    keys = random_binary(5, 8, seed=23)
    hetero = PatternSDM(keys, random_binary(5, 3, seed=24), radius=2)
    with pytest.raises(ValueError, match=r"^queries must have last dimension 8"):
        hetero.read(torch.zeros(2, 7, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"^queries must be binary"):
        hetero.read(torch.full((2, 8), 2))
    with pytest.raises(ValueError, match=r"^iterations must be 1 unless"):
        hetero.read(keys, iterations=2)
    with pytest.raises(ValueError, match=r"^iterations must be >= 1"):
        PatternSDM(keys, keys, 2).read(keys, iterations=0)


@pytest.mark.parametrize("device", DEVICES)
def test_device_and_dtype(device):
    keys = random_binary(64, 32, seed=25)
    queries = flip_exact(keys[:16], 5, seed=26)
    cpu = PatternSDM(keys, keys, radius=9).read(queries, iterations=5)
    memory = PatternSDM(keys.to(device), keys.to(device), radius=9, device=device)
    out = memory.read(queries.to(device), iterations=5)
    assert out.device.type == device and torch.equal(out.cpu(), cpu)
    weights = memory.weights(queries.to(device))
    assert weights.dtype == torch.float64 and weights.device.type == device
    single = PatternSDM(keys, keys, radius=9, dtype=torch.float32, device=device)
    assert single.weights(queries.to(device)).dtype == torch.float32


# --------------------------------------------------------------------------------------------
# critical distance
# --------------------------------------------------------------------------------------------


def test_critical_distance_is_geometric_for_small_radii():
    # 16 random 40-bit patterns are ~20 bits apart, so for d <= 3 a query h <= 2d bits from
    # its pattern meets only that pattern's ball and is read back exactly, while at h = 2d+1
    # it meets no ball at all (I(2d+1) = 0) and reads all zeros: critical distance = 2d.
    sweep = critical_distance_sweep(40, 16, [1, 2, 3], trials=20, max_iterations=3, seed=5)
    assert list(sweep.critical_distances) == [2, 4, 6]
    for curve in sweep.curves:
        d = curve.radius
        assert np.all(curve.success[: 2 * d + 1] == 1.0)
        assert np.all(curve.success[2 * d + 1:] == 0.0)
        assert curve.critical_distance_interpolated == pytest.approx(2 * d + 0.5)
    assert sweep.optimal_radius == 3


def test_critical_distance_curve_matches_sweep_and_falls_with_crosstalk():
    kwargs = dict(trials=24, max_iterations=6, seed=11)
    sweep = critical_distance_sweep(32, 256, [4, 8, 12], **kwargs)
    single = critical_distance_curve(32, 256, 8, **kwargs)
    assert np.array_equal(single.success, sweep.curves[1].success)  # common random numbers
    assert critical_distance(32, 256, 8, **kwargs) == single.critical_distance
    # Success never rises from noise 0 to the critical distance and noise-free reads of a
    # moderately loaded memory succeed; a very wide radius (12 of 32 bits, 256 patterns)
    # drowns the target in crosstalk, so its critical distance is below radius 8's.
    by_radius = {c.radius: c for c in sweep.curves}
    assert by_radius[8].success[0] == 1.0
    assert by_radius[12].critical_distance < by_radius[8].critical_distance
    assert optimal_radius(32, 256, None, "critical_distance", radii=[4, 8, 12],
                          **kwargs) == sweep.optimal_radius


def test_default_sweep_stops_after_two_failing_radii():
    # 64 patterns of 16 bits: crosstalk wins from radius 6 on (noise-free reads fail), so the
    # default sweep 0..8 stops after radii 6 and 7.
    sweep = critical_distance_sweep(16, 64, trials=10, max_iterations=3, seed=1)
    assert list(sweep.radii) == list(range(8))
    assert list(sweep.critical_distances[-2:]) == [-1, -1]
    assert sweep.critical_distances.max() >= 2
    assert sweep.optimal_radius == int(np.argmax(sweep.critical_distances_interpolated))


def test_critical_distance_rejects_bad_options():
    with pytest.raises(ValueError, match=r"^trials must"):
        critical_distance_sweep(16, 4, [2], trials=0)
    with pytest.raises(ValueError, match=r"^radii\[0\] must"):
        critical_distance_sweep(16, 4, [17])
    with pytest.raises(ValueError, match=r"^radii must not repeat"):
        critical_distance_sweep(16, 4, [2, 2])
    with pytest.raises(ValueError, match=r"^noise_levels must"):
        critical_distance_sweep(16, 4, [2], noise_levels=[3, 1])
    with pytest.raises(ValueError, match=r"^threshold must"):
        critical_distance_sweep(16, 4, [2], threshold=0.0)
    with pytest.raises(ValueError, match=r"^radius must"):
        critical_distance_curve(16, 4, 20)
