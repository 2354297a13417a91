"""``memcircuits predict``: hypotheses x seeds through a protocol."""

from __future__ import annotations

import csv
import json
import re

import pytest

from mapping.cli import main


@pytest.mark.parametrize(("sets", "message"), [
    (['hypotheses=["sdm", "H9"]'], r"unknown hypothesis 'H9'; known: sdm, dense_code"),
    (['hypotheses=[]'], r"hypotheses must name at least one of"),
    (['hypotheses=["sdm", "sdm"]'], r"hypotheses must not repeat"),
    (['hypotheses=["dense_code"]'], r"reference 'sdm' must be one of the hypotheses run"),
    (["seeds=1"], r"seeds must be an integer >= 2"),
    (['protocol="pavlov"'], r"unknown protocol 'pavlov'; known: acquisition-extinction"),
    (["circuit.preset=kanerva"], r"hypothesis 'dense_code' changes the rate-coded Golgi loop"),
    (['protocol="generalisation"', "circuit.address_bits=16"],
     r"distance of 32 bits exceeds the 16-bit cues"),
    (["threshold=0"], r"threshold must be > 0"),
])
def test_bad_input_is_one_line_before_any_run(tmp_path, capsys, sets, message):
    argv = ["predict", "--out", str(tmp_path / "p"), "--quiet"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(message, err), err
    assert not (tmp_path / "p").exists()


@pytest.mark.slow
def test_predict_writes_predictions_contrasts_and_a_report(tmp_path):
    """Two hypotheses x 2 seeds on 600 granule cells (about 3 minutes): the dense code (H1)
    is separated from H0 by its coding level and its ensemble overlap, measured from spikes."""
    out = tmp_path / "p"
    assert main(["predict", "--out", str(out), "--quiet", "--set", "seeds=2", "--set",
                 "circuit.granule.n=600", "--set", 'hypotheses=["sdm", "dense_code"]']) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["runs"] == 4 and metrics["probes"] == 4 * 14
    assert metrics["max_abs_z_dense_code_coding_level"] > 3
    assert metrics["max_abs_z_dense_code_ensemble_overlap"] > 3
    rows = list(csv.DictReader(open(out / "probes.csv")))
    assert {r["hypothesis"] for r in rows} == {"sdm", "dense_code"} and len(rows) == 56
    table = list(csv.DictReader(open(out / "predictions.csv")))
    assert {r["observable"] for r in table} >= {"choice", "counter_a", "ensemble_overlap"}
    report = (out / "report.md").read_text()
    assert "| H1 dense_code |" in report and "coding_level" in report
    assert (out / "figures" / "time_courses.png").stat().st_size > 10_000
