"""Must-show (b) of issue 2: neuron-based and pattern-based SDM reads agree.

Setting (stated in the README): n = 128-bit addresses, radius d = 51, so a random hard
location is active for a given address with probability p = P(Bin(128, 1/2) <= 51) = 1.34%
(about 1340 of r = 10^5 neurons); m = 300 random (key, value) pairs stored (load m/r = 0.3%).
The neuron-based read (:class:`models.sdm.SDM`, r random hard locations) is compared bit by
bit with the pattern-based read (:class:`models.pattern_sdm.PatternSDM`, exact expected
intersection weights, ``neurons=r``) for noise-free queries (the stored keys) and noisy ones
(4 and 8 of the 128 bits flipped).

Why they do not agree on every bit: the pattern-based weights are the *expected* number of
neurons in each intersection, E_mu = r I(n, d, d_mu) / 2^n; the neuron-based read counts the
neurons actually there, a Poisson-like count around E_mu. The neuron-based sum of a bit is the
pattern-based sum S = sum_mu E_mu (2 v_mu - 1) plus noise of variance ~ sum_mu E_mu, so the two
reads differ only on bits whose pattern-based sum is near a tie, with probability about
Phi(-|S| / sqrt(sum_mu E_mu)). The disagreement therefore shrinks like 1/sqrt(r) and grows
with the load and the query noise (more bits near a tie). The tests check each of these.
Measured (this seed): agreement 99.97% (noise-free) and 99.52% (4 bits of noise) with r=10^5;
98.8% with 8 bits of noise, where the reads themselves are only ~96% correct.
"""

from __future__ import annotations

import pytest
import torch

from models.intersection import activation_probability
from models.pattern_sdm import PatternSDM, log_intersection_table
from models.patterns import flip_exact, hamming_distance, random_binary
from models.sdm import SDM

N, RADIUS, M = 128, 51, 300
NEURONS = (10**4, 10**5)
NOISE = (0, 4, 8)


@pytest.fixture(scope="module")
def reads() -> dict:
    """Both reads, the expected sums and their sampling spread for every (r, query noise)."""
    keys = random_binary(M, N, seed=1)
    values = random_binary(M, N, seed=2)
    pattern = PatternSDM(keys, values, RADIUS, neurons=NEURONS[-1])
    votes = values.to(torch.float64) * 2 - 1  # (m, n) bipolar values
    queries = {h: keys if h == 0 else flip_exact(keys, h, seed=3 + h) for h in NOISE}
    out = {"values": values, "queries": queries}
    for r in NEURONS:
        sdm = SDM.random(r, N, radius=RADIUS, seed=5)
        sdm.write(keys, values)
        out[r] = sdm
        expected_count = torch.exp(log_intersection_table(N, RADIUS, r))  # (n + 1,) E(d_v)
        for h, q in queries.items():
            weights = expected_count[hamming_distance(q, keys)]  # (B, m) E_mu per query
            expected = weights @ votes  # (B, n): pattern-based sums in neuron counts
            spread = weights.sum(dim=1, keepdim=True).sqrt()  # (B, 1): Poisson sd
            sums = sdm.sums(q)  # (B, n) exact int64 pre-threshold sums A C
            out[r, h] = {
                # SDM.read is [sums > 0] (checked below); one pass over the neurons serves both
                "neuron": (sums > 0).to(torch.uint8), "pattern": pattern.read(q),
                "sums": sums.to(torch.float64), "expected": expected,
                "spread": spread, "margin": (expected / spread**2).abs(),
            }
    return out


def test_neuron_read_is_the_thresholded_sums(reads: dict) -> None:
    # exact (integer sums): the fixture's neuron-based read is what SDM.read returns
    assert torch.equal(reads[NEURONS[-1]].read(reads["queries"][4]),
                       reads[NEURONS[-1], 4]["neuron"])


def _agreement(result: dict) -> float:
    return float((result["neuron"] == result["pattern"]).double().mean())


def test_setting_is_sparse_and_not_trivial(reads: dict) -> None:
    # ~1% activation: p = 1.34% exactly (exact integer ball size / 2^128)
    assert 0.01 <= activation_probability(N, RADIUS) <= 0.015
    values = reads["values"]
    accuracy = {h: float((reads[NEURONS[-1], h]["pattern"] == values).double().mean())
                for h in NOISE}
    # the load is moderate: noise-free recall is nearly perfect (>= 99.9%, measured 99.97%)
    # but not trivially 100%, and 4 bits of query noise cost ~1% (measured 98.7%)
    assert 0.999 <= accuracy[0] < 1.0
    assert 0.97 <= accuracy[4] < 0.999
    assert accuracy[8] < accuracy[4]


@pytest.mark.parametrize("noise", [0, 4])
def test_reads_agree_on_99_percent_of_bits(reads: dict, noise: int) -> None:
    # must-show (b): >= 99% of bits. Measured with r = 10^5: 99.97% (noise 0), 99.52% (4).
    assert _agreement(reads[NEURONS[-1], noise]) >= 0.99


def test_neuron_sums_are_pattern_sums_plus_sampling_noise(reads: dict) -> None:
    # E[neuron-based sum] = pattern-based sum (random uniform addresses); the residual is a
    # sum of Poisson-like counts with variance sum_mu E_mu. Over 38400 bits the standardised
    # residual has mean ~0 (|mean| <= 0.05, i.e. ~0 up to correlations between the bits of a
    # query) and sd ~1 (measured 0.99-1.01; 10% tolerance).
    for r in NEURONS:
        for h in NOISE:
            result = reads[r, h]
            z = (result["sums"] - result["expected"]) / result["spread"]
            assert abs(float(z.mean())) <= 0.05, (r, h)
            assert 0.9 <= float(z.std()) <= 1.1, (r, h)


def test_disagreement_is_the_predicted_sampling_noise_near_ties(reads: dict) -> None:
    normal = torch.distributions.Normal(0.0, 1.0)
    for r in NEURONS:
        for h in (4, 8):  # >= 100 disagreeing bits each, enough to compare with a prediction
            result = reads[r, h]
            disagree = result["neuron"] != result["pattern"]
            predicted = float(normal.cdf(-result["expected"].abs() / result["spread"]).mean())
            observed = float(disagree.double().mean())
            # Phi(-|S| / sqrt(sum E)) per bit, averaged: measured ratio 0.92-0.99; 25%
            # tolerance covers the normal approximation and correlated bits
            assert 0.75 <= observed / predicted <= 1.25, (r, h, observed, predicted)
            if r == NEURONS[-1]:
                # disagreeing bits are near ties: their median |S| / sum E is < 1/10 of the
                # median over all bits (measured ~1/20)
                assert (result["margin"][disagree].median()
                        < 0.1 * result["margin"].median()), (r, h)


def test_disagreement_shrinks_with_more_neurons(reads: dict) -> None:
    # sampling noise relative to the sums falls like 1/sqrt(r): 10x the neurons should cut the
    # disagreement by ~sqrt(10) = 3.2 (measured 4.1-4.6); require at least 2x
    for h in (4, 8):
        few = 1 - _agreement(reads[NEURONS[0], h])
        many = 1 - _agreement(reads[NEURONS[-1], h])
        assert many * 2 <= few, (h, few, many)
    # with 8 bits of query noise the reads themselves are ~96% correct and the agreement is
    # 98.8% at r = 10^5, below 99%: the >= 99% claim needs reads that are mostly right
    assert _agreement(reads[NEURONS[-1], 8]) >= 0.98
