"""Predictions over seeds and contrasts between hypotheses (mapping.contrasts)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from mapping.contrasts import contrasts, predictions, separating


def _rows(values: dict[str, list[float]], observable: str = "x") -> list[dict]:
    return [{"hypothesis": h, "seed": s, "index": 0, "phase": "acquisition", "trial": 0,
             "cue": 0, "distance": 0, observable: v}
            for h, xs in values.items() for s, v in enumerate(xs)]


def test_predictions_mean_se_and_t_interval():
    (row,) = predictions(_rows({"sdm": [1.0, 2.0, 3.0, 6.0]}), ["x"])
    x = np.array([1.0, 2.0, 3.0, 6.0])
    se = x.std(ddof=1) / 2
    assert row["mean"] == pytest.approx(3.0) and row["se"] == pytest.approx(se)
    assert row["ci_high"] - row["mean"] == pytest.approx(stats.t.ppf(0.975, 3) * se)
    assert (row["seeds"], row["phase"], row["cue"]) == (4, "acquisition", 0)


def test_nan_observables_are_left_out_of_the_statistics():
    (row,) = predictions(_rows({"sdm": [1.0, float("nan"), 3.0]}), ["x"])
    assert row["seeds"] == 2 and row["mean"] == pytest.approx(2.0)


def test_contrast_is_welch_z_and_cohens_d():
    a, b = [5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 2.0, 3.0]
    (row,) = contrasts(_rows({"sdm": b, "dense_code": a}), ["x"], "sdm")
    se = math.sqrt(np.var(a, ddof=1) / 4 + np.var(b, ddof=1) / 4)
    pooled = math.sqrt((np.var(a, ddof=1) + np.var(b, ddof=1)) / 2)
    assert row["difference"] == pytest.approx(4.5)
    assert row["z"] == pytest.approx(4.5 / se) and row["cohen_d"] == pytest.approx(4.5 / pooled)
    assert (row["hypothesis"], row["reference"]) == ("dense_code", "sdm")
    assert separating([row]) == {"dense_code": {"x": pytest.approx(4.5 / se)}}
    assert separating([row], threshold=10.0) == {"dense_code": {}}


def test_identical_and_spread_free_samples():
    (same,) = contrasts(_rows({"sdm": [1.0, 1.0], "h": [1.0, 1.0]}), ["x"], "sdm")
    assert same["z"] == 0 and same["cohen_d"] == 0
    (apart,) = contrasts(_rows({"sdm": [1.0, 1.0], "h": [2.0, 2.0]}), ["x"], "sdm")
    assert apart["z"] == math.inf and apart["cohen_d"] == math.inf


def test_contrasts_refuse_a_missing_reference_and_single_seeds():
    with pytest.raises(ValueError, match="reference hypothesis 'sdm' has no rows"):
        contrasts(_rows({"h": [1.0, 2.0]}), ["x"], "sdm")
    with pytest.raises(ValueError, match="at least two seeds"):
        contrasts(_rows({"sdm": [1.0], "h": [2.0]}), ["x"], "sdm")
