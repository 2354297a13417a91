"""Must-show (g) of issue 2: bad input gives one clear error naming the argument.

One table over the six abstract-model modules (intersection, pattern_sdm, sdm, attention,
hopfield, sdm_mlp) and the five kinds of bad input the issue lists: radius > n, negative
sizes, mismatched shapes, non-binary (or non-bipolar, non-real) patterns, unknown option or
criterion. Each case must raise the named exception type with a message that *starts* with
the offending argument's name (``models/_checks.py`` convention), so the user sees what to fix
without a traceback from inside torch. The per-module test files hold further cases.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models import attention, hopfield, intersection, pattern_sdm, radius, sdm, sdm_mlp
from models.patterns import random_binary, random_bipolar

KEYS = random_binary(5, 8, seed=0)  # (m, n) = (5, 8) binary
X = random_bipolar(4, 10, seed=1)  # (m, N) = (4, 10) bipolar

CASES = [
    # ---- radius > n --------------------------------------------------------------------
    ("intersection", "radius > n", lambda: intersection.binary_intersection(10, 11, 0),
     ValueError, r"^radius must be <= n \(10\)"),
    ("intersection", "radius > n", lambda: radius.optimal_radius(
        16, 3, None, "critical_distance", radii=[17]), ValueError, r"^radii\[0\] must be <= 16"),
    ("pattern_sdm", "radius > n", lambda: pattern_sdm.PatternSDM(KEYS, KEYS, 9), ValueError,
     r"^radius must be <= 8"),
    ("sdm", "radius > n", lambda: sdm.ContinuousSDM.random(4, 3, radius=4), ValueError,
     r"^radius must be <= 3"),
    # checked before drawing 10^9 random addresses (which would need 10^12 bytes)
    ("sdm", "radius > n", lambda: sdm.SDM.random(10**9, 1000, radius=1001), ValueError,
     r"^radius must be <= 1000"),
    ("attention", "radius > n", lambda: attention.beta_for_radius(64, 65), ValueError,
     r"^radius must be <= 64"),
    # a radius below 2 leaves one distance to fit: the error names the radius, not fit_range
    ("attention", "radius too small", lambda: attention.beta_for_radius(64, 1), ValueError,
     r"^radius must be >= 2"),
    # ---- negative sizes ----------------------------------------------------------------
    ("intersection", "negative n", lambda: intersection.binary_intersection(-5, 3, 0),
     ValueError, r"^n must be >= 1"),
    ("intersection", "negative m", lambda: radius.optimal_radius(64, -3, None, "snr"),
     ValueError, r"^m must be >= 1"),
    ("intersection", "negative neurons", lambda: intersection.fit_beta(64, 5, -1), ValueError,
     r"^neurons must be > 0"),
    ("pattern_sdm", "negative m", lambda: pattern_sdm.critical_distance_sweep(16, -3),
     ValueError, r"^m must be >= 1"),
    ("pattern_sdm", "negative radius", lambda: pattern_sdm.pattern_read(KEYS, KEYS, KEYS, -1),
     ValueError, r"^radius must be >= 0"),
    ("sdm", "negative r", lambda: sdm.SDM.random(-5, 8, radius=2), ValueError,
     r"^r must be >= 1"),
    ("sdm", "negative n", lambda: sdm.SDM.random(5, -8, radius=2), ValueError,
     r"^n must be >= 1"),
    ("sdm", "negative value_dim", lambda: sdm.SDM.random(5, 8, radius=2, value_dim=-1),
     ValueError, r"^value_dim must be >= 1"),
    ("attention", "negative n", lambda: attention.beta_for_radius(-64, 5), ValueError,
     r"^n must be >= 1"),
    ("hopfield", "no patterns", lambda: hopfield.ClassicHopfield(torch.ones(0, 10)),
     ValueError, r"^patterns must hold at least one pattern"),
    ("hopfield", "negative seed", lambda: hopfield.classic_retrieve(
        hopfield.hebbian_weights(X), X, seed=-1), ValueError, r"^seed must be >= 0"),
    ("sdm_mlp", "negative hidden", lambda: sdm_mlp.ReLUMLP(8, -1, 3), ValueError,
     r"^hidden must be >= 1"),
    ("sdm_mlp", "negative classes", lambda: sdm_mlp.ClassIncrementalTask(
        n_classes=-2).validate(), ValueError, r"^n_classes must be >= 2"),
    # ---- mismatched shapes -------------------------------------------------------------
    ("intersection", "fit_range shape", lambda: intersection.fit_beta(64, 5, fit_range=(0,)),
     ValueError, r"^fit_range must be a pair"),
    ("pattern_sdm", "query length", lambda: pattern_sdm.pattern_weights(
        torch.zeros(2, 7), KEYS, 2), ValueError, r"^queries must have last dimension 8"),
    ("pattern_sdm", "values rows", lambda: pattern_sdm.pattern_read(KEYS, KEYS, KEYS[:3], 2),
     ValueError, r"^values must have one row per key \(5\)"),
    ("sdm", "3-d keys", lambda: sdm.SDM.random(5, 8, radius=2).write(
        torch.zeros(1, 2, 8), torch.zeros(1, 2, 8)), ValueError,
     r"^keys must be a vector or a \(batch, dim\) matrix"),
    ("sdm", "continuous query length", lambda: sdm.ContinuousSDM.random(
        4, 3, threshold=0.1).read(torch.ones(2, 4)), ValueError,
     r"^queries must have last dimension n=3"),
    ("attention", "values 3-d", lambda: attention.attention(
        torch.ones(2, 3), torch.ones(4, 3), torch.ones(4, 1, 1), 1.0), ValueError,
     r"^values must be a vector or a \(batch, dim\) matrix"),
    ("hopfield", "probe length", lambda: hopfield.ModernHopfield(X, 1.0).retrieve(
        torch.ones(2, 9)), ValueError, r"^probes must have last dimension 10"),
    ("hopfield", "3-d probes", lambda: hopfield.classic_retrieve(
        hopfield.hebbian_weights(X), torch.ones(1, 2, 10)), ValueError,
     r"^probes must be a vector or a \(batch, dim\) matrix"),
    ("sdm_mlp", "input length", lambda: sdm_mlp.ReLUMLP(8, 10, 3)(torch.rand(2, 7)),
     ValueError, r"^x must have last dimension 8"),
    ("sdm_mlp", "1-d activations", lambda: sdm_mlp.topk_gaba(torch.rand(5), 2), ValueError,
     r"^activations must be a \(batch, r\) matrix"),
    # ---- non-binary / non-bipolar / non-real patterns ----------------------------------
    ("intersection", "non-integer distance",
     lambda: intersection.log_binary_intersection(10, 3, [[0, 1.5]]), TypeError,
     r"^distance must hold integers"),
    ("pattern_sdm", "non-binary keys", lambda: pattern_sdm.pattern_weights(
        torch.zeros(2, 8), KEYS * 2, 2), ValueError, r"^keys must be binary \(0/1\)"),
    ("sdm", "bipolar queries", lambda: sdm.SDM.random(5, 8, radius=2).read(
        torch.ones(2, 8) * -1), ValueError, r"^queries must be binary \(0/1\)"),
    ("sdm", "complex values", lambda: sdm.ContinuousSDM.random(4, 3, threshold=0.1).write(
        torch.ones(1, 3), torch.ones(1, 3, dtype=torch.complex64)), TypeError,
     r"^values must hold real numbers"),
    ("attention", "complex queries", lambda: attention.attention(
        torch.ones(2, 3, dtype=torch.complex64), torch.ones(4, 3), torch.ones(4, 1), 1.0),
     TypeError, r"^queries must hold real numbers"),
    ("attention", "NaN keys", lambda: attention.attention_weights(
        torch.ones(2, 3), torch.full((4, 3), math.nan), 1.0), ValueError,
     r"^keys must be finite"),
    ("hopfield", "binary patterns", lambda: hopfield.hebbian_weights((X > 0).float()),
     ValueError, r"^patterns must be bipolar \(-1/\+1\)"),
    ("hopfield", "boolean states", lambda: hopfield.overlaps(torch.ones(2, 10, dtype=bool), X),
     TypeError, r"^states must hold real numbers"),
    ("sdm_mlp", "boolean input", lambda: sdm_mlp.SDMMLP(8, 20, 3, 2)(
        torch.ones(2, 8, dtype=torch.bool)), TypeError, r"^x must hold real numbers"),
    # ---- unknown option or criterion ---------------------------------------------------
    ("intersection", "unknown criterion", lambda: radius.optimal_radius(
        64, 10, None, "fastest"), ValueError,
     r"^criterion must be one of 'snr', 'memory', 'critical_distance'"),
    ("intersection", "unknown estimator", lambda: intersection.fit_beta(
        64, 5, estimator="mle"), ValueError, r"^estimator must be one of"),
    ("intersection", "option of another criterion", lambda: radius.optimal_radius(
        64, 10, None, "snr", trials=3), ValueError, r"^options: unknown option 'trials'"),
    ("pattern_sdm", "sample_neurons not a flag", lambda: pattern_sdm.PatternSDM(
        KEYS, KEYS, 2, sample_neurons="yes"), TypeError, r"^sample_neurons must be True or"),
    ("sdm", "unknown activation", lambda: sdm.SDM.random(5, 8, radius=2, activation="soft"),
     ValueError, r"^activation must be one of 'radius', 'top_k'"),
    ("attention", "normalize not a flag", lambda: attention.attention(
        torch.ones(2, 3), torch.ones(4, 3), torch.ones(4, 1), 1.0, normalize="yes"),
     TypeError, r"^normalize must be True or False"),
    ("hopfield", "unknown mode", lambda: hopfield.classic_retrieve(
        hopfield.hebbian_weights(X), X, mode="parallel"), ValueError,
     r"^mode must be one of 'async', 'sync'"),
    ("sdm_mlp", "gaba not a flag", lambda: sdm_mlp.SDMMLP(8, 20, 3, 2, gaba=1), TypeError,
     r"^gaba must be True or False"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}: {c[1]}")
def test_bad_input_raises_one_clear_error(case: tuple) -> None:
    _, _, call, error, pattern = case
    with pytest.raises(error, match=pattern) as info:
        call()
    # one error of the documented type, not a chained failure from deep inside torch
    assert type(info.value) is error


def test_every_module_and_kind_is_covered() -> None:
    modules = {c[0] for c in CASES}
    assert modules == {"intersection", "pattern_sdm", "sdm", "attention", "hopfield",
                       "sdm_mlp"}
    # every module has a shape case and a wrong-values case (the two kinds all six share)
    shape = {c[0] for c in CASES if any(w in c[1] for w in ("length", "shape", "rows", "3-d",
                                                            "1-d"))}
    assert shape == modules
    values = {c[0] for c in CASES if any(w in c[1] for w in ("binary", "bipolar", "complex",
                                                             "boolean", "non-integer",
                                                             "NaN"))}
    assert values == modules
    assert np.all([c[3] in (ValueError, TypeError) for c in CASES])
