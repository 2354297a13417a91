"""Variance components and power of imaged observables (mapping.power)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mapping.power import Components, components, needed, power, power_table


def nested(rng, mean, animal, field, noise, seeds=400, fields=3):
    """``seed -> field -> [draw 0, draw 1]`` with the given standard deviations."""
    out = {}
    for s in range(seeds):
        a = mean + rng.normal(0, animal)
        out[s] = {}
        for f in range(fields):
            b = a + rng.normal(0, field)
            out[s][f] = list(b + rng.normal(0, noise, 2))
    return out


def test_components_recover_known_variances():
    c = components(nested(np.random.default_rng(0), 0.3, 0.05, 0.03, 0.04))
    assert c.mean == pytest.approx(0.3, abs=0.01)
    assert c.animal == pytest.approx(0.05 ** 2, rel=0.25)
    assert c.field == pytest.approx(0.03 ** 2, rel=0.25)
    assert c.noise == pytest.approx(0.04 ** 2, rel=0.15)
    assert c.seeds == 400


def test_components_drop_undefined_values_and_refuse_too_few_seeds():
    values = {0: {0: [0.1, 0.2], 1: [0.3, float("nan")]}, 1: {0: [0.1, 0.2], 1: [0.2, 0.2]}}
    with pytest.raises(ValueError, match="two seeds"):
        components(values)


def test_power_is_alpha_without_a_difference_and_grows_with_trials_and_animals():
    ref = Components(0.5, 0.0, 0.01, 0.04, 10)
    assert power(ref, ref) == pytest.approx(0.05)
    rival = Components(0.7, 0.0, 0.01, 0.04, 10)
    one = power(ref, rival)
    assert power(ref, rival, trials=8) > one
    assert power(ref, rival, animals=4) > one
    # closed form: equal variances, reject outside mu0 +- 1.96 sigma
    sd = np.sqrt(0.05)
    expected = stats.norm.cdf((0.2 - 1.959964 * sd) / sd) + stats.norm.cdf(
        (-0.2 - 1.959964 * sd) / sd)
    assert one == pytest.approx(expected, rel=1e-6)


def test_animal_variance_caps_the_power_that_trials_can_buy():
    ref = Components(0.5, 0.04, 0.0, 0.04, 10)
    rival = Components(0.6, 0.04, 0.0, 0.04, 10)
    cap = power(Components(0.5, 0.04, 0.0, 0.0, 10), Components(0.6, 0.04, 0.0, 0.0, 10))
    assert power(ref, rival, trials=10_000) == pytest.approx(cap, abs=1e-3)
    assert cap < 0.8


def _rows(rng, hypothesis, mean, noise_at_50):
    rows = []
    for s in range(12):
        a = mean + rng.normal(0, 0.005)
        for cells in (50, 200):
            for f in range(3):
                for d in range(2):
                    rows.append({"hypothesis": hypothesis, "seed": s, "index": 3,
                                 "cells": cells, "field": f, "draw": d,
                                 "x": a + rng.normal(0, noise_at_50 * np.sqrt(50 / cells))})
    return rows


def test_power_table_and_the_least_effort_that_reaches_the_target():
    rng = np.random.default_rng(1)
    rows = _rows(rng, "sdm", 0.30, 0.08) + _rows(rng, "rival", 0.36, 0.08)
    table = power_table(rows, ["x"], "sdm", trials=(1, 4, 16))
    assert {r["hypothesis"] for r in table} == {"rival"}
    assert len(table) == 2 * 3
    by = {(r["cells"], r["trials"]): r["power"] for r in table}
    assert by[(200, 16)] > by[(200, 1)] > by[(50, 1)]
    (best,) = needed(table, 0.8)
    assert best["cells"] is not None
    assert by[(best["cells"], best["trials"])] >= 0.8
    cheaper = [k for k, p in by.items() if k[0] * k[1] < best["cells"] * best["trials"]]
    assert all(by[k] < 0.8 for k in cheaper)


def test_needed_says_when_no_effort_reaches_the_target():
    rng = np.random.default_rng(2)
    rows = _rows(rng, "sdm", 0.30, 0.08) + _rows(rng, "rival", 0.301, 0.08)
    (best,) = needed(power_table(rows, ["x"], "sdm", trials=(1, 2)), 0.8)
    assert best["cells"] is None and best["trials"] is None
    assert best["best_power"] < 0.8
