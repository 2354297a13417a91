"""Savings and spontaneous recovery per circuit (mapping.learning)."""

from __future__ import annotations

import math

import pytest

from mapping.contrasts import contrasts, predictions
from mapping.learning import (
    LEARNING_MEASURES,
    as_probe_rows,
    learned_choice,
    learned_nuclear,
    learning_measures,
)


def _circuit(hypothesis: str, seed: int, phases: list[tuple[str, list[float]]]) -> list[dict]:
    """Probe rows of one circuit: per phase, the learned choice of each trial (both cues)."""
    rows, index = [], 0
    for phase, choices in phases:
        for trial, c in enumerate(choices):
            for cue in (0, 1):
                rows.append({"hypothesis": hypothesis, "seed": seed, "index": index,
                             "phase": phase, "trial": trial, "cue": cue, "distance": 0,
                             "choice": c if cue == 0 else -c})
                index += 1
    return rows


def _two_hypotheses() -> list[dict]:
    """Three circuits each of H0 and H2 that differ only in their re-acquisition."""
    rows = []
    for s, (h0, h2) in enumerate([(0.0, 0.5), (0.5, 1.0), (0.0, 1.0)]):
        for hypothesis, again in (("sdm", h0), ("two_sites", h2)):
            rows += _circuit(hypothesis, s, [("baseline", [0.0]), ("acquisition", [1.0]),
                                             ("extinction", [0.0]),
                                             ("reacquisition", [again])])
    return rows


def test_learned_choice_points_toward_each_cues_taught_action():
    assert learned_choice({"cue": 0, "choice": 0.5}) == 0.5
    assert learned_choice({"cue": 1, "choice": -0.5}) == 0.5
    with pytest.raises(ValueError, match="cue 0 or 1"):
        learned_choice({"cue": 2, "choice": 0.5})


def test_the_nuclear_response_is_graded_where_the_choice_saturates():
    """Both output groups' cells fire (choice 0 either way), but the taught group's fire
    more: the learned nuclear response sees re-learning the choice cannot."""
    rows = _circuit("sdm", 0, [("baseline", [0.0]), ("acquisition", [1.0, 1.0]),
                               ("extinction", [0.0]), ("reacquisition", [1.0, 1.0])])
    spikes = {"baseline": 0.0, "acquisition": 1.0, "extinction": 0.0, "reacquisition": 2.5}
    for row in rows:
        taught, other = spikes[row["phase"]], 0.5 * spikes[row["phase"]]
        row["nuclear_spikes_a"], row["nuclear_spikes_b"] = \
            (taught, other) if row["cue"] == 0 else (other, taught)
    assert learned_nuclear(rows[-1]) == pytest.approx(1.25)  # cue 1: B's count minus A's
    with pytest.raises(ValueError, match="learned nuclear response needs cue 0 or 1"):
        learned_nuclear({"cue": -1, "nuclear_spikes_a": 1.0, "nuclear_spikes_b": 0.0})
    (m,) = learning_measures(rows)
    assert m["savings"] == 0.0  # the choice saturates at 1 in both phases
    assert m["acquisition_nuclear"] == pytest.approx(0.5)
    assert m["reacquisition_nuclear"] == pytest.approx(1.25)
    assert m["savings_nuclear"] == pytest.approx(0.75)
    assert m["extinguished_nuclear"] == 0.0 and "recovery_nuclear" not in m
    assert set(m) - {"hypothesis", "seed"} <= set(LEARNING_MEASURES)


def test_savings_compares_reacquisition_with_as_many_acquisition_trials():
    rows = _circuit("sdm", 0, [("baseline", [0.0]), ("acquisition", [0.5, 1.0, 1.0]),
                               ("extinction", [1.0, 0.5, 0.0]),
                               ("reacquisition", [1.0, 1.0])])
    (m,) = learning_measures(rows)
    assert m["acquisition"] == pytest.approx(0.75)  # the first two acquisition trials
    assert m["reacquisition"] == pytest.approx(1.0)
    assert m["savings"] == pytest.approx(0.25)
    assert m["extinguished"] == 0.0 and "recovery" not in m


def test_cues_are_averaged_and_an_unlearned_cue_pulls_the_mean_down():
    rows = _circuit("sdm", 0, [("baseline", [0.0]), ("acquisition", [1.0]),
                               ("extinction", [0.0]), ("reacquisition", [1.0])])
    for row in rows:  # cue 1 never re-learns
        if row["phase"] == "reacquisition" and row["cue"] == 1:
            row["choice"] = 0.0
    (m,) = learning_measures(rows)
    assert m["reacquisition"] == pytest.approx(0.5) and m["savings"] == pytest.approx(-0.5)


def test_recovery_is_the_change_over_the_rest():
    rows = _circuit("h", 3, [("baseline", [0.0]), ("acquisition", [1.0, 1.0]),
                             ("extinction", [0.5, 0.25]), ("delay", [0.75])])
    (m,) = learning_measures(rows)
    assert (m["hypothesis"], m["seed"]) == ("h", 3)
    assert m["extinguished"] == 0.25 and m["recovery"] == pytest.approx(0.5)
    assert "savings" not in m


def test_protocols_without_reacquisition_or_rest_define_no_measure():
    rows = _circuit("sdm", 0, [("baseline", [0.0]), ("acquisition", [1.0]),
                               ("extinction", [0.0])])
    assert learning_measures(rows) == []


def test_measures_compare_between_hypotheses_like_observables():
    probe_rows = as_probe_rows(learning_measures(_two_hypotheses()))
    assert all(math.isnan(r["recovery"]) for r in probe_rows)
    table = {(r["hypothesis"], r["observable"]): r
             for r in predictions(probe_rows, LEARNING_MEASURES)}
    assert table["two_sites", "reacquisition"]["mean"] == pytest.approx(2.5 / 3)
    assert table["sdm", "recovery"]["seeds"] == 0
    (z,) = [r for r in contrasts(probe_rows, ["savings"], "sdm")]
    assert z["hypothesis"] == "two_sites" and z["difference"] == pytest.approx(2 / 3)


def test_the_report_lists_each_measure_per_hypothesis_with_its_z():
    from mapping.experiments.predict import Config
    from mapping.predict_report import learning_report

    probe_rows = as_probe_rows(learning_measures(_two_hypotheses()))
    measured = ["acquisition", "extinguished", "reacquisition", "savings"]
    text = learning_report(Config(hypotheses=("sdm", "two_sites")),
                           predictions(probe_rows, measured),
                           contrasts(probe_rows, measured, "sdm"))
    assert text.startswith("## Savings and recovery")
    (line,) = [x for x in text.splitlines() if x.startswith("| `savings`")]
    assert "-0.833" in line and "(z " in line  # sdm's mean; a z for the rival only
    assert line.count("(z ") == 1 and "| `recovery`" not in text
    assert learning_report(Config(), [], []) == ""
