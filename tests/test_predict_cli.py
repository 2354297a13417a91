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


def _fake_protocol(calls: list, stop_after: int | None = None):
    """A stand-in for mapping.protocols.run_protocol: two probes whose values depend on the
    hypothesis (its coding level) and the seed; raises KeyboardInterrupt after
    ``stop_after`` calls."""
    from mapping.protocols import OBSERVABLES

    def run_protocol(params, protocol, *, seed=0, circuit_seed=None):
        if stop_after is not None and len(calls) == stop_after:
            raise KeyboardInterrupt
        calls.append(seed)
        level = float(params.golgi.conductance) * 1e9  # nS
        return [{"index": k, "phase": "baseline", "trial": 0, "cue": k, "distance": 0,
                 **{o: level + (seed % 7) * 0.01 for o in OBSERVABLES}} for k in (0, 1)]
    return run_protocol


def test_a_stopped_run_resumes_where_it_stopped(tmp_path, monkeypatch, capsys):
    import mapping.experiments.predict as predict

    out = tmp_path / "p"
    argv = ["predict", "--out", str(out), "--quiet", "--set", "seeds=3",
            "--set", 'hypotheses=["sdm", "dense_code"]']
    calls: list = []
    monkeypatch.setattr(predict, "run_protocol", _fake_protocol(calls, stop_after=4))
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    assert sorted(p.name for p in (out / "units").iterdir()) == [
        "dense_code-0.json", "dense_code-1.json", "sdm-0.json", "sdm-1.json"]
    assert not (out / "metrics.json").exists()
    # another configuration is refused, the work kept
    assert main([*argv, "--set", "threshold=4"]) == 2
    assert "holds a predict run with another configuration (threshold differ)" in \
        capsys.readouterr().err
    # the same command finishes it, running only what is missing
    calls.clear()
    monkeypatch.setattr(predict, "run_protocol", _fake_protocol(calls))
    assert main(argv) == 0
    assert len(calls) == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["runs"], metrics["runs_resumed"], metrics["probes"]) == (6, 4, 12)
    assert metrics["max_abs_z_dense_code_coding_level"] > 3  # 1.6 nS vs 0.53 nS
    # --overwrite starts afresh
    calls.clear()
    assert main([*argv, "--overwrite"]) == 0
    assert len(calls) == 6


def test_quick_is_a_short_run_recorded_as_asked():
    from mapping.experiments.predict import QUICK_GRANULE, QUICK_SEEDS, Config
    from models.config import load_config

    config = load_config(Config, overrides=["quick=true", "seeds=20"])
    assert config.quick and config.seeds == 20  # what the user asked (config.json)
    run = config.resolved()
    assert (run.quick, run.seeds, run.circuit.granule.n) == (False, QUICK_SEEDS, QUICK_GRANULE)
    assert Config().resolved() == Config()
