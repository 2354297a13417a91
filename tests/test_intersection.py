"""Exact Hamming-ball and hyperspherical-cap intersections, fitted beta, optimal radii."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from models.intersection import (
    activation_probability,
    ball_size,
    binary_intersection,
    cap_fraction,
    continuous_intersection,
    fit_beta,
    fit_beta_continuous,
    fit_beta_line,
    hamming_to_cosine,
    log_activation_probability,
    log_binary_intersection,
    log_continuous_intersection,
    log_continuous_intersection_from_hamming,
    memory_capacity,
    retrieval_z_score,
    snr_optimal_probability,
    taylor_beta_bound,
)
from models.radius import CRITERIA, optimal_radius

# --------------------------------------------------------------------------------------------
# exact binary intersection
# --------------------------------------------------------------------------------------------


def _all_points(n: int) -> np.ndarray:
    """Every point of {0,1}^n as a (2^n, n) uint8 matrix."""
    codes = np.arange(2 ** n, dtype=np.int64)
    return ((codes[:, None] >> np.arange(n)[None, :]) & 1).astype(np.uint8)


@pytest.mark.parametrize("n", range(1, 15))
def test_binary_intersection_matches_enumeration_of_every_point(n):
    # Brute force: enumerate all 2^n points, measure their Hamming distance to two random
    # centres `dv` apart, and count the points within each radius of both. Exact equality.
    rng = np.random.default_rng(n)
    points = _all_points(n)
    for dv in range(n + 1):
        a = rng.integers(0, 2, n).astype(np.uint8)
        b = a.copy()
        flip = rng.choice(n, dv, replace=False)
        b[flip] ^= 1
        da = (points != a).sum(axis=1)
        db = (points != b).sum(axis=1)
        assert int((a != b).sum()) == dv
        within_both = np.cumsum(np.bincount(np.maximum(da, db), minlength=n + 1))
        for radius in range(n + 1):
            assert binary_intersection(n, radius, dv) == int(within_both[radius]), (
                n, radius, dv)


def test_binary_intersection_types_and_shapes():
    # Exact Python ints for neurons=None, object arrays keep the input shape.
    scalar = binary_intersection(10, 3, 2)
    assert type(scalar) is int
    arr = binary_intersection(10, 3, [[0, 1], [2, 3]])
    assert arr.dtype == object and arr.shape == (2, 2)
    assert all(type(v) is int for v in arr.flat)
    assert arr[0, 0] == ball_size(10, 3) == sum(math.comb(10, i) for i in range(4))
    floats = binary_intersection(10, 3, np.arange(11), neurons=1024)
    assert floats.dtype == np.float64 and floats.shape == (11,)
    # neurons = 2^n: expected count equals the exact count (exactly representable here).
    assert np.array_equal(floats, binary_intersection(10, 3, np.arange(11)).astype(float))
    empty = binary_intersection(10, 3, np.array([], dtype=int), neurons=5)
    assert empty.shape == (0,)


def test_binary_intersection_neurons_2_to_the_64_is_exact():
    # neurons = 2**64 must not pass through float64 (2**64 + 1 would round): E = I exactly.
    counts = binary_intersection(64, 11, np.arange(65))
    expected = binary_intersection(64, 11, np.arange(65), neurons=2 ** 64)
    assert all(float(c) == e for c, e in zip(counts, expected, strict=True))
    # An odd neuron count: the result is the correctly rounded exact rational.
    value = binary_intersection(64, 11, 3, neurons=2 ** 64 + 1)
    exact = binary_intersection(64, 11, 3) * (2 ** 64 + 1) / 2 ** 64
    assert value == exact  # Python int/int true division is correctly rounded


@pytest.mark.parametrize("n, radius, distances, neurons", [
    (64, 28, (4, 10, 16), 1_000_000),
    (128, 59, (8, 20), 400_000),
    (256, 122, (12, 30), 300_000),
])
def test_binary_intersection_matches_random_neurons(n, radius, distances, neurons):
    # Monte Carlo with explicit random hard locations (bits packed in uint64 words). The
    # number of neurons within `radius` of both centres is Binomial(N, E/N): agreement within
    # 4 standard errors (two-sided 6e-5 false-alarm rate per check, 7 checks).
    rng = np.random.default_rng(n)
    words = n // 64
    hard = rng.integers(0, 2 ** 64, size=(neurons, words), dtype=np.uint64, endpoint=False)
    centre = rng.integers(0, 2 ** 64, size=words, dtype=np.uint64)
    dist_a = np.bitwise_count(hard ^ centre).sum(axis=1)
    for dv in distances:
        bits = np.zeros(n, dtype=np.uint8)
        bits[rng.choice(n, dv, replace=False)] = 1
        mask = np.packbits(bits, bitorder="little").view(np.uint64)
        dist_b = np.bitwise_count(hard ^ (centre ^ mask)).sum(axis=1)
        count = int(np.sum((dist_a <= radius) & (dist_b <= radius)))
        expected = binary_intersection(n, radius, dv, neurons=neurons)
        q = expected / neurons
        assert expected > 1000  # counts large enough for the normal approximation
        se = math.sqrt(neurons * q * (1 - q))
        assert abs(count - expected) < 4 * se, (n, radius, dv, count, expected, se)


def _interpretable_formula(n: int, d: int, dv: int) -> int:
    """SCIENCE.md's second form: sum over a (agreeing bits kept) and c (differing bits)."""
    total = 0
    first = n - d - dv // 2
    outer = math.comb(n - dv, first)  # C(n - dv, a), advanced by C(N, a+1) = C(N, a)(N-a)/(a+1)
    for a in range(first, n - dv + 1):
        inner = sum(math.comb(dv, c) for c in range(max(0, n - d - a), dv - (n - d - a) + 1))
        total += outer * inner
        outer = outer * (n - dv - a) // (a + 1)
    return total


def test_large_n_exact_and_paired():
    n = 4096
    table = binary_intersection(n, 2000, np.arange(n + 1))
    assert table[0] == ball_size(n, 2000)
    # I(2k-1) == I(2k) exactly; non-increasing; empty exactly beyond 2d.
    assert all(table[2 * k - 1] == table[2 * k] for k in range(1, n // 2 + 1))
    assert all(table[i] >= table[i + 1] for i in range(n))
    assert table[4000] > 0 and table[4001] == 0
    # A few entries against the independent second formula (exact integers).
    for dv in (0, 1, 7, 30):
        assert table[dv] == _interpretable_formula(n, 2000, dv)
    for dv in (63, 80, 81):
        assert binary_intersection(n, 40, dv) == _interpretable_formula(n, 40, dv)
    logs = log_binary_intersection(n, 2000, np.arange(n + 1))
    assert np.all(np.isfinite(logs[:4001])) and np.all(np.isneginf(logs[4001:]))
    for dv in (0, 999, 4000):  # log of an exact big int: relative error ~1e-16
        assert logs[dv] == pytest.approx(math.log(table[dv]), rel=1e-13)


def test_log_version_survives_where_float_underflows():
    n, radius = 4096, 100
    value = binary_intersection(n, radius, 0, neurons=1e6)
    log_value = log_binary_intersection(n, radius, 0, neurons=1e6)
    assert value == 0.0  # e^(~ -2330): below float64's range, rounds to 0 as documented
    expected = math.log(ball_size(n, radius)) + math.log(1e6) - n * math.log(2)
    assert log_value == pytest.approx(expected, rel=1e-13)
    assert -3000 < log_value < -1000
    # Past float64's range on the other side: inf, while the log stays finite.
    assert binary_intersection(n, 2000, 0, neurons=2 ** 1100) == math.inf  # ~e^760
    assert np.isfinite(log_binary_intersection(n, 2000, 0, neurons=2 ** 1100))


def test_activation_probability_matches_binomial_cdf():
    for radius in (0, 5, 11, 15, 32, 64):
        p = activation_probability(64, radius)
        # scipy's binomial CDF is accurate to ~1e-12 relative here.
        assert p == pytest.approx(stats.binom.cdf(radius, 64, 0.5), rel=1e-10)
        assert log_activation_probability(64, radius) == pytest.approx(math.log(p), rel=1e-12)
    assert np.isfinite(log_activation_probability(4096, 10))


@pytest.mark.parametrize("bad, match", [
    (dict(n=0, radius=0, distance=0), "^n must"),
    (dict(n=10, radius=11, distance=0), "^radius must"),
    (dict(n=10, radius=-1, distance=0), "^radius must"),
    (dict(n=10, radius=3, distance=11), "^distance must"),
    (dict(n=10, radius=3, distance=[0, -1]), "^distance must"),
    (dict(n=10, radius=3, distance=0, neurons=-5), "^neurons must"),
    (dict(n=10, radius=3, distance=0, neurons=0), "^neurons must"),
    (dict(n=10, radius=3, distance=0, neurons=float("inf")), "^neurons must"),
])
def test_binary_intersection_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        binary_intersection(**bad)


def test_binary_intersection_rejects_wrong_types():
    with pytest.raises(TypeError, match=r"^distance must"):
        binary_intersection(10, 3, 1.5)
    with pytest.raises(TypeError, match=r"^distance must"):
        binary_intersection(10, 3, "a")
    with pytest.raises(TypeError, match=r"^radius must"):
        binary_intersection(10, 2.5, 1)
    with pytest.raises(TypeError, match=r"^neurons must"):
        binary_intersection(10, 3, 1, neurons="many")
    with pytest.raises(TypeError, match=r"^distance must hold integers, got booleans"):
        binary_intersection(10, 3, True)
    assert binary_intersection(10, 3, np.int64(2)) == binary_intersection(10, 3, 2)


def test_hamming_to_cosine():
    assert hamming_to_cosine(0, 64) == 1.0
    assert hamming_to_cosine(64, 64) == -1.0
    assert np.allclose(hamming_to_cosine(np.array([16, 32]), 64), [0.5, 0.0])
    with pytest.raises(ValueError, match=r"^distance must"):
        hamming_to_cosine(65, 64)


# --------------------------------------------------------------------------------------------
# continuous intersection
# --------------------------------------------------------------------------------------------


def _random_unit_vectors(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    x = rng.standard_normal((count, n))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("n", [3, 4, 6, 10])
def test_continuous_intersection_matches_monte_carlo(n):
    # Fraction of uniform random points on S^{n-1} in both caps ~ Binomial(N, A)/N: within 4
    # standard errors (plus 1e-9 for exactly-zero cases).
    rng = np.random.default_rng(100 + n)
    samples = 200_000
    x = _random_unit_vectors(rng, samples, n)
    for threshold in (0.6, 0.2, -0.3):
        theta = math.acos(threshold)
        for phi in (0.0, 0.3 * theta, 1.2 * theta, 1.9 * theta, min(2.1 * theta, math.pi)):
            c1 = np.zeros(n)
            c1[0] = 1.0
            c2 = np.zeros(n)
            c2[0], c2[1] = math.cos(phi), math.sin(phi)
            inside = (x @ c1 >= threshold) & (x @ c2 >= threshold)
            estimate = inside.mean()
            area = continuous_intersection(n, threshold, math.cos(phi))
            se = math.sqrt(max(area * (1 - area), 1e-12) / samples)
            assert abs(estimate - area) < 4 * se + 1e-9, (n, threshold, phi, estimate, area)


def test_cap_fraction_exact_cases():
    # Archimedes (n = 3): the cap above height t has area fraction (1 - t) / 2.
    for t in (-0.9, -0.2, 0.0, 0.4, 0.95):
        assert cap_fraction(3, t) == pytest.approx((1 - t) / 2, rel=1e-12)
    assert cap_fraction(5, 0.0) == pytest.approx(0.5, rel=1e-12)  # a hemisphere
    assert cap_fraction(7, -1.0) == 1.0 and cap_fraction(7, 1.0) == 0.0
    # Intersection at zero separation is the cap itself; beyond 2 theta it is empty.
    assert continuous_intersection(8, 0.5, 1.0) == pytest.approx(cap_fraction(8, 0.5),
                                                                 rel=1e-12)
    assert continuous_intersection(8, 0.5, math.cos(2.01 * math.acos(0.5))) == 0.0
    # Small separations approach the cap continuously (within 1e-4 relative at phi=1e-6).
    near = continuous_intersection(8, 0.5, math.cos(1e-6))
    assert near == pytest.approx(cap_fraction(8, 0.5), rel=1e-4)


def test_continuous_intersection_large_n_is_finite_and_decreasing():
    n = 1000
    logs = log_continuous_intersection_from_hamming(n, 451, np.arange(0, 903, 50))
    assert np.all(np.isfinite(logs))
    assert np.all(np.diff(logs) < 0)
    # The caps are the large-n limit of the Hamming balls: the log fractions agree within
    # 0.4 nats out to d_v = 700 (measured: 0.12 at d_v = 0 growing to 0.32 near d_v = 650),
    # and the tails part only where both are tiny.
    binary = log_binary_intersection(n, 451, np.arange(0, 903, 50)) - n * math.log(2)
    assert np.all(np.abs(logs[:15] - binary[:15]) < 0.4)
    # Caps of angle theta are disjoint once their centres are 2 theta apart (cos 2 theta =
    # 2 t^2 - 1 = 0.28 for t = 0.8, i.e. d_v >= 360 for d = 100); just inside, they meet.
    assert np.isneginf(log_continuous_intersection_from_hamming(n, 100, 400))
    assert np.isfinite(log_continuous_intersection_from_hamming(n, 100, 350))
    with pytest.raises(ValueError, match=r"^cos_between must"):
        log_continuous_intersection(10, 0.5, 1.5)
    with pytest.raises(ValueError, match=r"^cos_threshold must"):
        log_continuous_intersection(10, 1.5, 0.5)
    with pytest.raises(ValueError, match=r"^n must"):
        log_continuous_intersection(2, 0.5, 0.5)


# --------------------------------------------------------------------------------------------
# fitted beta
# --------------------------------------------------------------------------------------------


def test_fit_beta_reproduces_published_betas_with_their_estimator():
    # Bricken & Pehlevan's public code (np.cov(x, y)[0][1] / np.var(x) over d_v = 0..d-1)
    # and their published betas for n = 64 (Parse_KeyQ_Norm_Betas.ipynb): 35.5, 15.9, 10.1.
    for radius, published in ((5, 35.5), (11, 15.9), (15, 10.1)):
        beta = fit_beta(64, radius, 2 ** 64, estimator="bricken2021")
        assert beta == pytest.approx(published, abs=0.05)  # published to one decimal


def test_fit_beta_is_the_least_squares_slope():
    # Independent implementation: numpy's polyfit on exact logs. Both are OLS: 1e-9.
    for radius in (5, 11, 15):
        dv = np.arange(radius)
        x = 1 - 2 * dv / 64
        y = [math.log(v) for v in binary_intersection(64, radius, dv)]
        slope, intercept = np.polyfit(x, y, 1)
        line = fit_beta_line(64, radius)
        assert line.beta == pytest.approx(slope, rel=1e-9)
        assert line.intercept == pytest.approx(intercept, rel=1e-9)
        # The public code's estimator is the OLS slope times N / (N - 1) (ddof mismatch).
        assert fit_beta(64, radius, estimator="bricken2021") == pytest.approx(
            slope * radius / (radius - 1), rel=1e-9)


def test_fit_beta_values_n64():
    betas = [fit_beta(64, d) for d in (5, 11, 15)]
    # Measured: 28.39, 14.41, 9.44 (OLS). Betas fall with the radius and stay above the
    # Taylor lower bound (n - 2d)^2 / 4n at every radius 2..32.
    assert betas == pytest.approx([28.3878, 14.4116, 9.4364], abs=1e-3)
    assert betas[0] > betas[1] > betas[2]
    for d in range(2, 33):
        assert fit_beta(64, d) > taylor_beta_bound(64, d)


def test_neurons_only_shift_the_intercept():
    plain = fit_beta_line(64, 11)
    scaled = fit_beta_line(64, 11, neurons=1e6)
    assert scaled.beta == pytest.approx(plain.beta, rel=1e-12)
    shift = math.log(1e6) - 64 * math.log(2)
    assert scaled.intercept - plain.intercept == pytest.approx(shift, rel=1e-12)


def test_fit_beta_options_and_errors():
    custom = fit_beta(64, 11, fit_range=(0, 20))
    assert np.isfinite(custom) and custom != fit_beta(64, 11)
    with pytest.raises(ValueError, match=r"^radius must be >= 2"):
        fit_beta(64, 1)  # d_v = 0..0 is a single point
    with pytest.raises(ValueError, match=r"^fit_range must cover at least two"):
        fit_beta(64, 5, fit_range=(3, 3))
    with pytest.raises(ValueError, match=r"^fit_range"):
        fit_beta(64, 5, fit_range=(0, 12))  # d_v = 11, 12 have empty intersections
    with pytest.raises(ValueError, match=r"^fit_range"):
        fit_beta(64, 5, fit_range=(0,))
    with pytest.raises(ValueError, match=r"^estimator must"):
        fit_beta(64, 5, estimator="mle")
    with pytest.raises(ValueError, match=r"^geometry must"):
        fit_beta_line(64, 5, geometry="torus")


def test_fit_beta_continuous():
    # The continuous caps decay faster than the binary balls near d_v = 0 (measured: 57.4,
    # 19.6, 11.4 for d = 5, 11, 15), and both fits exceed the Taylor bound.
    betas = [fit_beta_continuous(64, d) for d in (5, 11, 15)]
    assert betas[0] > betas[1] > betas[2]
    for d, beta in zip((5, 11, 15), betas, strict=True):
        assert beta > fit_beta(64, d) > taylor_beta_bound(64, d)
    line = fit_beta_line(64, 11, neurons=1e6, geometry="continuous")
    assert line.beta == pytest.approx(betas[1], rel=1e-12)


# --------------------------------------------------------------------------------------------
# optimal radius
# --------------------------------------------------------------------------------------------


def test_optimal_radius_snr_and_memory_published_values():
    # Bricken & Pehlevan 2021: n = 64, r = 2^64, m = 1024 -> d*_SNR = 11, d*_Mem = 5.
    assert optimal_radius(64, 1024, 2 ** 64, "snr") == 11
    assert optimal_radius(64, 1024, 2 ** 64, "memory") == 5
    assert optimal_radius(64, 1024, None, "memory") == 5  # None means r = 2^n
    # Their Optimal_d notebook: m = 60000 gives d*_SNR = 10.
    assert optimal_radius(64, 60000, 2 ** 64, "snr") == 10


def test_optimal_radius_snr_is_nearest_in_log():
    n, m, r = 1000, 10_000, 10 ** 6
    target = math.log(snr_optimal_probability(m, r))
    logs = np.array([stats.binom.logcdf(d, n, 0.5) for d in range(n + 1)])
    assert optimal_radius(n, m, r, "snr") == int(np.argmin(np.abs(logs - target)))


def test_optimal_radius_memory_maximises_capacity():
    n, r = 64, 2 ** 64
    capacities = [memory_capacity(n, d, r) for d in range(n + 1)]
    assert optimal_radius(n, 1, r, "memory") == int(np.argmax(capacities))
    assert retrieval_z_score(64) == pytest.approx(2.2983, abs=1e-4)  # B&P notebook: 2.2983
    with pytest.raises(ValueError, match=r"^neurons"):
        optimal_radius(64, 10, 5, "memory")  # p r <= 5 < z^2 = 5.28 at every radius


def test_optimal_radius_rejects_bad_input():
    with pytest.raises(ValueError, match=r"^criterion must"):
        optimal_radius(64, 10, None, "fastest")
    with pytest.raises(ValueError, match=r"^options"):
        optimal_radius(64, 10, None, "snr", trials=3)
    with pytest.raises(ValueError, match=r"^m must"):
        optimal_radius(64, 0, None, "snr")
    assert set(CRITERIA) == {"snr", "memory", "critical_distance"}


def test_optimal_radius_critical_distance_small():
    # A small memory where the answer is geometric: with 16 random 40-bit patterns, radii
    # 1 and 2 meet only their own pattern, so the critical distance is 2d and the larger
    # radius wins (full curves are checked in tests/test_pattern_sdm.py).
    best = optimal_radius(40, 16, None, "critical_distance", radii=[1, 2], trials=20,
                          max_iterations=4, seed=3)
    assert best == 2
