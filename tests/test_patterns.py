"""Random patterns, noisy copies and Hamming distances."""

from __future__ import annotations

import pytest
import torch

from models.patterns import (
    flip_bits,
    flip_exact,
    hamming_distance,
    random_binary,
    random_bipolar,
    to_binary,
    to_bipolar,
)


def test_random_binary_is_seeded_and_binary():
    a = random_binary(50, 64, seed=3)
    b = random_binary(50, 64, seed=3)
    c = random_binary(50, 64, seed=4)
    assert a.shape == (50, 64) and a.dtype == torch.uint8
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert set(a.unique().tolist()) == {0, 1}


def test_random_binary_bias():
    # 10^5 Bernoulli(0.2) draws: standard error 0.0013, so 0.01 is > 7 SE.
    x = random_binary(100, 1000, p=0.2, seed=0)
    assert abs(x.float().mean().item() - 0.2) < 0.01


def test_random_bipolar_values_and_dtype():
    x = random_bipolar(10, 32, seed=1, dtype=torch.float64)
    assert x.dtype == torch.float64
    assert set(x.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(to_bipolar(to_binary(x), dtype=torch.float64), x)


@pytest.mark.parametrize("distance", [0, 1, 7, 64])
def test_flip_exact_hits_the_distance(distance):
    x = random_binary(200, 64, seed=2)
    y = flip_exact(x, distance, seed=5)
    assert torch.equal(hamming_distance(x, y).diagonal(), torch.full((200,), distance))


def test_flip_exact_bipolar_and_vector():
    x = random_bipolar(1, 40, seed=0)[0]
    y = flip_exact(x, 10, seed=1)
    assert y.shape == x.shape
    assert int((x != y).sum()) == 10


def test_flip_exact_positions_are_uniform():
    # Each of 16 positions is flipped with probability 4/16 in each of 4000 rows; the
    # per-position count has mean 1000 and SD ~27, so +-150 is > 5 SD.
    x = torch.zeros(4000, 16, dtype=torch.uint8)
    counts = flip_exact(x, 4, seed=9).sum(0)
    assert ((counts - 1000).abs() < 150).all()


def test_flip_bits_rate():
    x = random_binary(200, 500, seed=0)
    y = flip_bits(x, 0.1, seed=1)
    # 10^5 bits at rate 0.1: SE 0.00095, tolerance 0.006 (> 6 SE).
    assert abs((x != y).float().mean().item() - 0.1) < 0.006


def test_hamming_distance_matches_loop():
    a = random_binary(7, 33, seed=0)
    b = random_binary(5, 33, seed=1)
    expected = torch.tensor([[int((ai != bj).sum()) for bj in b] for ai in a])
    assert torch.equal(hamming_distance(a, b), expected)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: random_binary(-1, 4), "m must be >= 0"),
        (lambda: random_binary(3, 0), "n must be >= 1"),
        (lambda: random_binary(3, 4, p=1.5), "p must be <= 1"),
        (lambda: flip_exact(torch.zeros(2, 5), 6), "distance must be <= 5"),
        (lambda: flip_exact(torch.full((2, 5), 3.0), 1),
         r"patterns must be binary \(0/1\) or bipolar \(-1/\+1\), found the value 3"),
        (lambda: flip_bits(torch.tensor([[0.0, 1.0, -1.0]]), 0.5), "not a mix of both"),
        (lambda: hamming_distance(torch.zeros(2, 5), torch.zeros(2, 6)), "b must have"),
        (lambda: hamming_distance(torch.full((2, 5), 2), torch.zeros(2, 5)), "a must be binary"),
        (lambda: to_binary(torch.zeros(3)), "bipolar must be bipolar"),
    ],
)
def test_bad_input_names_the_argument(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
