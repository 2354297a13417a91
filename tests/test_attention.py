"""Tests of softmax attention and its beta for an SDM radius (models/attention.py)."""

from __future__ import annotations

import math

import pytest
import torch

from models.attention import attention, attention_weights, beta_for_radius
from models.patterns import flip_exact, random_binary, to_bipolar

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def naive_attention(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                    betas: list[float], normalize: bool) -> torch.Tensor:
    """Loop over queries and keys in plain Python floats (math.exp, max-shifted)."""
    out = []
    for b, q in enumerate(queries.tolist()):
        if normalize:
            norm = math.sqrt(sum(x * x for x in q))
            q = [x / norm for x in q]
        scores = []
        for k in keys.tolist():
            if normalize:
                norm = math.sqrt(sum(x * x for x in k))
                k = [x / norm for x in k]
            scores.append(betas[b] * sum(x * y for x, y in zip(q, k, strict=True)))
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        total = sum(weights)
        row = [sum(w * v[i] for w, v in zip(weights, values.tolist(), strict=True)) / total
               for i in range(values.shape[1])]
        out.append(row)
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("normalize", [False, True])
def test_attention_equals_naive_loop(device: str, normalize: bool) -> None:
    generator = torch.Generator().manual_seed(1)
    queries = torch.randn(6, 10, generator=generator, dtype=torch.float64)
    keys = torch.randn(9, 10, generator=generator, dtype=torch.float64)
    values = torch.randn(9, 4, generator=generator, dtype=torch.float64)
    per_query = torch.linspace(0.0, 20.0, 6, dtype=torch.float64)
    for beta in (3.0, torch.tensor(7.5, dtype=torch.float64), per_query):
        betas = per_query.tolist() if isinstance(beta, torch.Tensor) and beta.dim() else (
            [float(beta)] * 6)
        got = attention(queries.to(device), keys.to(device), values.to(device), beta,
                        normalize=normalize).cpu()
        expected = naive_attention(queries, keys, values, betas, normalize)
        # float64 throughout; 1e-12 covers the different summation orders
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_weights_are_a_distribution_and_limits() -> None:
    generator = torch.Generator().manual_seed(2)
    queries = torch.randn(5, 8, generator=generator)
    keys = torch.randn(7, 8, generator=generator)
    weights = attention_weights(queries, keys, 4.0, normalize=True)
    assert weights.shape == (5, 7)
    assert bool((weights >= 0).all())
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(5))  # float32 default tol
    # beta = 0: uniform average
    torch.testing.assert_close(attention_weights(queries, keys, 0.0), torch.full((5, 7),
                                                                                 1 / 7))
    # very large beta: the nearest key takes all the weight, without overflow
    sharp = attention_weights(queries, keys, 1e6, normalize=True)
    assert bool(torch.isfinite(sharp).all())
    nearest = (torch.nn.functional.normalize(queries, dim=1)
               @ torch.nn.functional.normalize(keys, dim=1).T).argmax(dim=1)
    assert torch.equal(sharp.argmax(dim=1), nearest)
    assert bool((sharp.max(dim=1).values > 1 - 1e-6).all())  # one-hot up to 1e-6


def test_vector_query_and_integer_inputs() -> None:
    keys = torch.tensor([[1, -1, 1], [-1, -1, 1]])
    values = torch.tensor([[1, 0], [0, 1]])
    out = attention(torch.tensor([1, -1, 1]), keys, values, 2.0)
    assert out.shape == (2,)
    # scores 2 * [3, 1]: weights softmax([6, 2])
    w = 1 / (1 + math.exp(-4))
    torch.testing.assert_close(out, torch.tensor([w, 1 - w]))  # float32 default tolerance


def test_beta_for_radius_uses_the_intersection_fit() -> None:
    intersection = pytest.importorskip("models.intersection")
    for n, radius in ((64, 11), (1000, 451)):
        assert beta_for_radius(n, radius) == pytest.approx(intersection.fit_beta(n, radius),
                                                           rel=1e-12)
    # Bricken & Pehlevan publish beta ~ 15.9 for n=64, d=11 with an estimator that is the
    # OLS slope times N/(N-1), N = 11 fitted distances; their value is rounded to 0.1
    assert beta_for_radius(64, 11) * 11 / 10 == pytest.approx(15.9, abs=0.1)


def test_attention_with_fitted_beta_reproduces_sdm_read() -> None:
    """SCIENCE.md sec. 1-2: normalised attention with the fitted beta ~ the SDM read."""
    pattern_sdm = pytest.importorskip("models.pattern_sdm")
    n, radius, m = 64, 11, 300
    keys = random_binary(m, n, seed=10)
    values = random_binary(m, n, seed=11)
    sdm = pattern_sdm.PatternSDM(keys, values, radius)  # exact intersection weights
    beta = beta_for_radius(n, radius)

    def agreement(queries: torch.Tensor, beta: float) -> float:
        out = attention(to_bipolar(queries), to_bipolar(keys), values.double(), beta,
                        normalize=True)
        bits = (out > 0.5).to(torch.uint8)  # {0,1} form: weighted mean thresholded at 1/2
        return (bits == sdm.read(queries)).double().mean().item()

    near = flip_exact(keys[:200], 5, seed=12)
    weights = attention_weights(to_bipolar(near), to_bipolar(keys), beta, normalize=True)
    total_variation = 0.5 * (weights - sdm.weights(near)).abs().sum(dim=1)
    # queries 5 bits from a key: softmax and normalised intersections nearly coincide
    # (measured max 0.014 with these seeds; 0.02 allows for nothing else)
    assert total_variation.max().item() <= 0.02
    for distance in (10, 15):
        queries = flip_exact(keys[:200], distance, seed=13)
        # measured 1.0 and 0.9966: ask for 99% of the bits (12800 bits)
        assert agreement(queries, beta) >= 0.99, distance
    # the test discriminates: the transformer default 1/sqrt(n) averages almost uniformly
    # and agrees on only ~52% of the bits
    assert agreement(flip_exact(keys[:200], 15, seed=13), 1 / math.sqrt(n)) < 0.6


@pytest.mark.parametrize("case", [
    ("keys length", lambda: attention(torch.ones(2, 3), torch.ones(4, 5), torch.ones(4, 1),
                                      1.0), ValueError, r"^keys must have last dimension d=3"),
    ("values rows", lambda: attention(torch.ones(2, 3), torch.ones(4, 3), torch.ones(5, 1),
                                      1.0), ValueError, r"^values must have one row per key"),
    ("negative beta", lambda: attention_weights(torch.ones(2, 3), torch.ones(4, 3), -1.0),
     ValueError, r"^beta must be >= 0"),
    ("beta shape", lambda: attention_weights(torch.ones(2, 3), torch.ones(4, 3),
                                             torch.ones(3)), ValueError,
     r"^beta must be a scalar or have one entry per query \(2\)"),
    ("beta type", lambda: attention_weights(torch.ones(2, 3), torch.ones(4, 3), "hot"),
     TypeError, r"^beta must be a real number"),
    ("nan queries", lambda: attention_weights(torch.full((2, 3), float("nan")),
                                              torch.ones(4, 3), 1.0), ValueError,
     r"^queries must be finite"),
    ("zero key normalised", lambda: attention_weights(torch.ones(2, 3), torch.zeros(4, 3), 1.0,
                                                      normalize=True), ValueError,
     r"^keys must have no zero rows when normalize=True"),
    ("empty keys", lambda: attention_weights(torch.ones(2, 3), torch.ones(0, 3), 1.0),
     ValueError, r"^keys must be non-empty"),
    ("3-d queries", lambda: attention_weights(torch.ones(2, 2, 3), torch.ones(4, 3), 1.0),
     ValueError, r"^queries must be a vector or a \(batch, dim\) matrix"),
    ("radius > n", lambda: beta_for_radius(64, 65), ValueError, r"^radius must be <= 64"),
    ("negative radius", lambda: beta_for_radius(64, -1), ValueError, r"^radius must be >= 0"),
], ids=lambda case: case[0])
def test_bad_input_raises_naming_the_argument(case: tuple) -> None:
    _, call, error, pattern = case
    with pytest.raises(error, match=pattern):
        call()
