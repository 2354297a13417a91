"""The mapping API (mapping/measures.py): fingerprints, agreement, weights, beta, capacity."""

from __future__ import annotations

import numpy as np
import pytest

from mapping.measures import (
    InputsDiffer,
    agreement,
    array_digest,
    check_same_inputs,
    clustered_patterns,
    distance_weights,
    effective_beta,
    load_at_accuracy,
    log_linearity,
    overlap_by_distance,
    overlap_statistics,
    pair_overlaps,
    read_inputs,
    sums_similarity,
    theoretical_beta,
    write_inputs,
)
from models.intersection import binary_intersection, fit_beta, hamming_to_cosine
from models.rundir import RunDirectory


def test_array_digest_sees_values_dtype_and_shape():
    a = np.arange(12).reshape(3, 4)
    assert array_digest(a) == array_digest(a.copy())
    assert array_digest(a) != array_digest(a.reshape(4, 3))
    assert array_digest(a) != array_digest(a.astype(np.int32))
    b = a.copy()
    b[2, 3] += 1
    assert array_digest(a) != array_digest(b)


def test_inputs_round_trip_and_refusal_of_runs_fed_different_inputs(tmp_path):
    keys = np.random.default_rng(0).integers(0, 2, (5, 16))
    other = keys.copy()
    other[0, 0] ^= 1
    for name, k, seed in (("a", keys, 0), ("b", keys, 0), ("c", other, 1)):
        write_inputs(RunDirectory(tmp_path / name), "cerebellum", {"keys": k}, seed=seed)
    write_inputs(RunDirectory(tmp_path / "h"), "hippocampus", {"walk": np.arange(3)}, seed=5)
    a, b, c, h = (read_inputs(tmp_path / n) for n in "abch")
    assert a.fingerprint == b.fingerprint != c.fingerprint
    check_same_inputs([a, b, h])  # same inputs; another kind is independent
    with pytest.raises(InputsDiffer, match=r"inputs differ \(keys\).*seed=0.*seed=1"):
        check_same_inputs([a, c])
    with pytest.raises(FileNotFoundError, match=r"no inputs\.json"):
        read_inputs(RunDirectory(tmp_path / "empty").path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_inputs(tmp_path / "missing")
    with pytest.raises(ValueError, match="at least one input"):
        write_inputs(RunDirectory(tmp_path / "x"), "cerebellum", {})


def test_agreement_and_sums_similarity():
    assert agreement([1, 0, 1, 1], [1, 1, 1, 1]) == 0.75
    with pytest.raises(ValueError, match="same shape"):
        agreement([1, 0], [1, 0, 1])
    x = np.array([1.0, 2.0, 3.0, 4.0])
    cos, r = sums_similarity(x, 2 * x + 1)
    assert r == pytest.approx(1.0)
    assert cos == pytest.approx(x @ (2 * x + 1) / np.linalg.norm(x) / np.linalg.norm(2 * x + 1))
    cos, r = sums_similarity(x, -x)
    assert cos == pytest.approx(-1.0) and r == pytest.approx(-1.0)
    assert np.isnan(sums_similarity(x, np.zeros(4))[0])


def test_pair_overlaps_and_binning_equal_brute_force():
    rng = np.random.default_rng(1)
    sets = [np.flatnonzero(rng.random(50) < 0.3) for _ in range(6)]
    overlaps = pair_overlaps(sets[:3], sets[3:], 50)
    for i in range(3):
        for j in range(3):
            assert overlaps[i, j] == len(set(sets[i]) & set(sets[3 + j]))
    distances = np.array([[0, 1, 1], [2, 9, 0], [1, 2, 3]])
    stats = overlap_by_distance(overlaps, distances, 3)
    for d in range(4):
        sel = overlaps[distances == d]
        assert stats["count"][d] == len(sel)
        if len(sel):
            assert stats["mean"][d] == pytest.approx(sel.mean())


def test_overlap_statistics_uses_within_cluster_pairs_and_the_diagonal():
    rng = np.random.default_rng(2)
    patterns = rng.integers(0, 2, (6, 10))
    clusters = np.array([0, 0, 0, 1, 1, 1])
    active = [np.flatnonzero(rng.random(40) < 0.5) for _ in range(6)]
    stats = overlap_statistics(active, patterns, clusters, 40, 10)
    sums = np.zeros(11)
    counts = np.zeros(11)
    for c in (0, 1):
        members = np.flatnonzero(clusters == c)
        for a in members:
            for b in members:
                if b < a:
                    continue
                d = int((patterns[a] != patterns[b]).sum())
                sums[d] += len(set(active[a]) & set(active[b]))
                counts[d] += 1
    np.testing.assert_array_equal(stats["count"], counts)
    ok = counts > 0
    np.testing.assert_allclose(stats["mean"][ok], sums[ok] / counts[ok])


def test_log_linearity_is_one_for_a_softmax_and_less_for_a_curve():
    d = np.arange(20)
    cos = hamming_to_cosine(d, 64)
    assert log_linearity(np.exp(7.0 * cos + 1.0), 64, d) == pytest.approx(1.0)
    assert log_linearity(np.exp(-((cos - 0.7) ** 2) * 30), 64, d) < 0.5  # a hump


def test_repeated_base_gives_distance_zero_pairs_of_two_presentations():
    patterns, clusters = clustered_patterns(16, 3, 5, seed=4, repeat_base=True)
    assert patterns.shape == (3 * 7, 16) and np.bincount(clusters).tolist() == [7, 7, 7]
    for c in range(3):
        members = patterns[clusters == c]
        np.testing.assert_array_equal(members[0], members[-1])  # the base, twice
        assert [int((m != members[0]).sum()) for m in members[:-1]] == list(range(6))
    plain, _ = clustered_patterns(16, 3, 5, seed=4)
    np.testing.assert_array_equal(plain, np.delete(patterns, [6, 13, 20], axis=0))
    # a stochastic code: each presentation draws its own set; without the diagonal,
    # distance 0 holds only the base with its repeat (one pair per cluster)
    rng = np.random.default_rng(5)
    active = [np.flatnonzero(rng.random(50) < 0.3) for _ in range(len(patterns))]
    stats = overlap_statistics(active, patterns, clusters, 50, 5, include_self=False)
    assert stats["count"][0] == 3
    pairs = [len(set(active[7 * c]) & set(active[7 * c + 6])) for c in range(3)]
    assert stats["mean"][0] == pytest.approx(np.mean(pairs))
    with_self = overlap_statistics(active, patterns, clusters, 50, 5)
    assert with_self["count"][0] == 3 + len(patterns)


def test_effective_beta_recovers_beta_and_equals_the_theory_on_exact_weights():
    n = 64
    d = np.arange(40)
    weights = 3.0 * np.exp(7.5 * hamming_to_cosine(d, n))
    assert effective_beta(weights, n, range(20)).beta == pytest.approx(7.5)
    for radius in (11, 20, 24):
        exact = binary_intersection(n, radius, np.arange(n + 1), neurons=1e4)
        assert effective_beta(exact, n, range(radius)).beta == pytest.approx(
            fit_beta(n, radius), rel=1e-9)
        assert theoretical_beta(n, radius, range(radius)) == pytest.approx(fit_beta(n, radius))
    holes = weights.copy()
    holes[5] = 0.0
    with pytest.raises(ValueError, match=r"distance\(s\) \[5\]"):
        effective_beta(holes, n, range(10))
    with pytest.raises(ValueError, match="two distinct"):
        effective_beta(weights, n, [3, 3])
    with pytest.raises(ValueError, match="must lie in"):
        effective_beta(weights, n, [0, 99])


def test_distance_weights_of_the_exact_intersection_have_no_error_vs_exact():
    n, radius = 64, 22
    last = 27
    exact = binary_intersection(n, radius, np.arange(last + 1), neurons=2e4)
    w = distance_weights(exact, n, radius, fit_beta(n, radius))
    assert w.max_error_vs_exact == pytest.approx(0.0, abs=1e-12)
    assert 0 < w.max_error_vs_softmax < 0.05  # softmax is an approximation
    noisy = exact * (1 + 0.2 * (np.arange(last + 1) == 0))
    assert distance_weights(noisy, n, radius, 4.0).max_error_vs_exact > 0.01
    with pytest.raises(ValueError, match="zero everywhere"):
        distance_weights(np.zeros(5), n, radius, 4.0)


def test_load_at_accuracy_interpolates_and_flags_bounds():
    loads = [10, 20, 40, 80]
    assert load_at_accuracy(loads, [1.0, 1.0, 0.98, 0.9]) == pytest.approx(30.0)
    assert load_at_accuracy(loads, [1.0, 0.995, 0.993, 0.991]) == 80.0  # never below
    assert np.isnan(load_at_accuracy(loads, [0.9, 0.8, 0.7, 0.6]))
    # the first crossing counts, not a later recovery
    assert load_at_accuracy(loads, [1.0, 0.98, 1.0, 1.0]) == pytest.approx(15.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        load_at_accuracy([10, 10], [1, 1])
    with pytest.raises(ValueError, match="same"):
        load_at_accuracy([10, 20], [1.0])
