"""Selected-coordinate theory (models.intersection_selected) against enumeration and sampling."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from models.intersection_selected import (
    fit_beta_selected,
    kwta_activation,
    log_selected_intersection,
    optimal_inputs,
    release_activation,
    release_for_coding_level,
    selected_activation_probability,
    selected_intersection,
    selected_memory_capacity,
    selected_snr_squared,
    selected_weights,
    threshold_activation,
)
from models.sdm_capacity import snr_optimal_probability


def _enumerated_overlap(n: int, k: int, distance: int, g: np.ndarray) -> float:
    """Mean of g(M_key) g(M_query) over every cell (k-subset x targets) of {0,1}^n."""
    key = np.zeros(n, dtype=np.int64)
    query = key.copy()
    query[:distance] = 1  # any pair at this distance: the design is symmetric
    total, count = 0.0, 0
    for coordinates in itertools.combinations(range(n), k):
        for targets in itertools.product((0, 1), repeat=k):
            t = np.array(targets)
            matched_key = int(np.sum(key[list(coordinates)] == t))
            matched_query = int(np.sum(query[list(coordinates)] == t))
            total += float(g[matched_key]) * float(g[matched_query])
            count += 1
    return total / count


@pytest.mark.parametrize(("n", "k", "rule"), [
    (6, 1, 0), (6, 2, 0), (6, 3, 0), (6, 3, 1), (7, 4, 2), (5, 5, 0), (7, 3, "kwta"),
    (6, 4, "graded"), (6, 4, "release"),
])
def test_theory_equals_enumeration_at_small_n(n, k, rule):
    if rule == "kwta":
        g = kwta_activation(k, 0.2)
        kwargs = {"activation": g}
    elif rule == "release":
        g = release_activation(k, 3, 0.6)
        kwargs = {"activation": g}
    elif rule == "graded":  # a stochastic rule: firing probability rises with matched inputs
        g = np.array([0.0, 0.01, 0.05, 0.3, 0.9])
        kwargs = {"activation": g}
    else:
        g = threshold_activation(k, rule)
        kwargs = {"mismatches": rule}
    theory = selected_intersection(n, k, np.arange(n + 1), **kwargs)
    enumerated = [_enumerated_overlap(n, k, d, g) for d in range(n + 1)]
    np.testing.assert_allclose(theory, enumerated, rtol=1e-12, atol=1e-15)


def test_all_match_rule_has_the_closed_form():
    # t = 0: q(d) = 2^-k C(n - d, k) / C(n, k), exactly
    n, k = 40, 5
    for d in range(n + 1):
        exact = Fraction(math.comb(n - d, k), math.comb(n, k) << k)
        assert selected_intersection(n, k, d) == pytest.approx(float(exact), rel=1e-15,
                                                               abs=0.0)
        if exact:
            assert log_selected_intersection(n, k, d) == pytest.approx(
                math.log(exact.numerator) - math.log(exact.denominator), rel=1e-13)
        else:
            assert log_selected_intersection(n, k, d) == -math.inf


@pytest.mark.parametrize(("n", "k", "mismatches"), [(64, 4, 0), (128, 4, 0), (256, 6, 1)])
def test_theory_equals_monte_carlo_within_sampling_error(n, k, mismatches):
    rng = np.random.default_rng(1000 + n)
    cells = 400_000
    coordinates = np.argsort(rng.random((cells, n)), axis=1)[:, :k]  # k distinct bits each
    targets = rng.integers(0, 2, size=(cells, k))
    key = rng.integers(0, 2, size=n)
    g = threshold_activation(k, mismatches)
    for d in (0, 1, n // 16, n // 4, n // 2):
        query = key.copy()
        query[rng.choice(n, size=d, replace=False)] ^= 1
        active_key = g[np.sum(key[coordinates] == targets, axis=1)]
        active_query = g[np.sum(query[coordinates] == targets, axis=1)]
        both = int(np.sum(active_key * active_query))
        expected = selected_intersection(n, k, d, cells, mismatches=mismatches)
        sd = math.sqrt(expected * (1 - expected / cells))
        assert abs(both - expected) <= 4 * sd + 1, (d, both, expected, sd)


def test_kwta_holds_the_coding_level_exactly():
    for k in (1, 4, 7):
        for level in (0.005, 0.03, 0.0625, 0.1, 0.5, 1.0):
            g = kwta_activation(k, level)
            assert selected_activation_probability(k, activation=g) == pytest.approx(level)
            assert np.all(np.diff(g) >= 0)  # more matched inputs never fire less


def test_release_rule_is_the_binomial_tail_and_scales_the_overlap():
    g = release_activation(4, 4, 0.5)
    np.testing.assert_allclose(g, [0, 0, 0, 0, 0.0625])
    g = release_activation(4, 3, 0.7)
    assert g[3] == pytest.approx(0.7 ** 3)
    assert g[4] == pytest.approx(0.7 ** 4 + 4 * 0.7 ** 3 * 0.3)
    assert np.array_equal(release_activation(4, 2, 1.0), threshold_activation(4, 2))
    # all inputs needed: q(d) is the all-match overlap times P_rel^(2k) (independent
    # releases in the two presentations), so the fitted beta does not change
    n, p = 64, 0.6
    q = selected_intersection(n, 4, np.arange(n + 1), activation=release_activation(4, 4, p))
    np.testing.assert_allclose(q, p ** 8 * selected_intersection(n, 4, np.arange(n + 1)),
                               rtol=1e-12)
    assert fit_beta_selected(n, 4, activation=release_activation(4, 4, p)).beta == (
        pytest.approx(fit_beta_selected(n, 4).beta))


def test_release_for_coding_level_reaches_the_level_with_the_most_selective_rule():
    for level in (0.005, 0.01, 0.03, 0.0625, 0.1, 0.3):
        t, p = release_for_coding_level(4, level)
        g = release_activation(4, 4 - t, p)
        assert selected_activation_probability(4, activation=g) == pytest.approx(level)
        assert 0 < p <= 1
        # one fewer tolerated mismatch could not reach the level even with P_rel = 1
        if t > 0:
            assert selected_activation_probability(4, t - 1) < level
    assert release_for_coding_level(4, 0.0625) == (0, pytest.approx(1.0))
    assert release_for_coding_level(4, 0.005)[1] == pytest.approx(0.08 ** 0.25 * 1.0, rel=1e-9)
    with pytest.raises(ValueError, match="above what 4 inputs can give"):
        release_for_coding_level(4, 0.95)


@pytest.mark.parametrize(("k", "mismatches"), [(4, 0), (6, 1), (10, 2)])
def test_unrelated_keys_overlap_at_p_squared_and_identical_keys_at_p(k, mismatches):
    n = 64
    p = selected_activation_probability(k, mismatches)
    assert selected_intersection(n, k, 0, mismatches=mismatches) == pytest.approx(p)
    distances = np.arange(n + 1)
    binomial = np.array([math.comb(n, d) for d in distances], dtype=float) / 2.0 ** n
    q = selected_intersection(n, k, distances, mismatches=mismatches)
    assert float(np.dot(binomial, q)) == pytest.approx(p * p, rel=1e-12)


def test_weights_are_normalised_and_non_increasing():
    for k, mismatches in ((4, 0), (6, 2)):
        w = selected_weights(64, k, mismatches=mismatches)
        assert w.sum() == pytest.approx(1.0)
        assert np.all(np.diff(w) <= 1e-18)


def test_beta_grows_with_k_and_is_near_k_over_2_at_small_distances():
    betas = [fit_beta_selected(64, k).beta for k in (2, 4, 8, 16)]
    assert betas == sorted(betas)
    # over the first few distances log q ~ k log((1 + cos) / 2) has slope ~ k / 2
    for k in (4, 8):
        near = fit_beta_selected(256, k, fit_range=(0, 4)).beta
        assert near == pytest.approx(k / 2, rel=0.05)
    four = fit_beta_selected(64, 4)
    assert 0 < four.last_distance < 64 and 0.9 < four.r_squared <= 1.0


def test_snr_optimal_inputs_against_kanervas_optimal_probability():
    # With E_d q^2 replaced by p^4 (Kanerva's approximation) the best k of the all-match rule
    # (p = 2^-k) is within one of log2(1 / p*), p* = (2 m r)^(-1/3). The exact crosstalk has
    # E_d q^2 > p^4 (q(d) spreads over d, more so for larger k): the exact optimum is never
    # less sparse than the approximate one.
    for m, r in ((100, 10 ** 5), (1024, 10 ** 5), (1024, 10 ** 6), (10 ** 4, 10 ** 7)):
        k = optimal_inputs(64, m, r, "snr")
        values = [selected_snr_squared(64, m, j, r) for j in range(1, 20)]
        assert k == 1 + int(np.argmax(values))
        approx = [(r * 2.0 ** -j) ** 2 / (r * 2.0 ** -j + m * (r * 4.0 ** -j + r * r * 16.0 ** -j))
                  for j in range(1, 20)]
        k_approx = 1 + int(np.argmax(approx))
        assert abs(k_approx - math.log2(1 / snr_optimal_probability(m, r))) <= 1.0
        assert k >= k_approx, (m, r, k, k_approx)


def test_memory_optimal_inputs_maximise_the_capacity():
    r = 10 ** 6
    k = optimal_inputs(64, 1, r, "memory")
    values = [selected_memory_capacity(64, j, r) for j in range(1, 20)]
    assert k == 1 + int(np.argmax(values))
    assert selected_memory_capacity(64, k, r) > 0


@pytest.mark.parametrize(("call", "message"), [
    (lambda: selected_intersection(8, 9, 0), "k .* must be <= n"),
    (lambda: selected_intersection(8, 0, 0), "k must be"),
    (lambda: selected_intersection(8, 4, 9), "distance must lie in 0..n"),
    (lambda: selected_intersection(8, 4, 0, mismatches=4), "mismatches must be"),
    (lambda: selected_intersection(8, 4, 0, activation=[0, 1]), "k \\+ 1 = 5"),
    (lambda: selected_intersection(8, 4, 0, activation=[0, 0, 0, 0, 2]), "probabilities"),
    (lambda: selected_intersection(8, 4, 0, activation=[0] * 5), "no cell ever fires"),
    (lambda: selected_intersection(8, 4, 0, mismatches=1, activation=[0, 0, 0, 0, 1]),
     "either mismatches or activation"),
    (lambda: selected_snr_squared(8, 10, 4, None), "neurons must be a number"),
    (lambda: kwta_activation(4, 0.0), "coding_level"),
    (lambda: release_activation(4, 5, 0.5), "threshold must be"),
    (lambda: release_activation(4, 2, 0.0), "release_probability"),
    (lambda: optimal_inputs(64, 10, 100, "radius"), "criterion"),
    (lambda: optimal_inputs(64, 10, 1, "memory"), "no k in"),
    (lambda: fit_beta_selected(64, 4, fit_range=(3, 3)), "at least two distances"),
])
def test_bad_input_names_the_problem(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
