"""``memcircuits predict``: hypotheses x seeds through a protocol."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
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
    (['imaging.indicator="GCaMP99"'], r"unknown indicator 'GCaMP99'"),
    (["imaging.fps=20000"], r"fps: 20000 Hz is above the simulation's time resolution"),
    (["imaging.noise_level=0"], r"imaging.noise_level must be > 0"),
    (["imaged_cells=300"], r"imaged_cells \(300\) must be one of the imaged field sizes"),
    (["imaging.cells=[100, 5000]"], r"a field of 5000 cells exceeds the circuit's 1000"),
    (["power=1.5"], r"power must lie in \(0, 1\)"),
    (["trials=[0]"], r"trials must list integers >= 1"),
    (["workers=-1"], r"workers must be an integer >= 0"),
    (["power_grid=[[30]]"], r"power_grid\[0\]: expected 2 values, got 1"),
    (["power_grid=[[30, 0]]"], r"imaging.noise_level must be > 0"),
    (["outputs.voltage_fps=30"], r"voltage_fps: 30 Hz is outside \[220, 4200\] Hz"),
    (['outputs.voltage_indicator="ASAP9"'], r"ASAP9"),
    (["synaptic_grid=[[1]]"], r"synaptic_grid\[0\]: expected 2 values, got 1"),
    (["synaptic_grid=[[5000, 0.2]]"], r"5000"),
    (["outputs.spine_fields=1"], r"outputs.spine_fields"),
    (['preparation="fly"'], r"unknown preparation 'fly'; known: cerebellum, mushroom_body"),
    (['preparation="mushroom_body"', 'hypotheses=["sdm", "two_sites"]'],
     r"hypothesis 'two_sites' has no mushroom-body form"),
    (["circuit.preset=mushroom_body"],
     r"circuit.preset 'mushroom_body' is the mushroom_body preparation; set preparation"),
    (['preparation="mushroom_body"', "outputs.synaptic_fps=0.5"],
     r"fps: 0.5 Hz is outside the supported range \[1.0989, 75\] Hz for GRAB-ACh3.0"),
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
    """Stand-ins for mapping.protocols.record_protocol and mapping.imaged.image_granule: two
    probes whose values depend on the hypothesis (its Golgi conductance) and the seed; the
    first raises KeyboardInterrupt after ``stop_after`` calls."""
    import numpy as np

    from circuits.spikes import SpikeTrains
    from mapping.imaged import IMAGED_OBSERVABLES
    from mapping.protocols import OBSERVABLES, ProtocolRun

    def record_protocol(params, protocol, *, seed=0, circuit_seed=None, voltage=False):
        if stop_after is not None and len(calls) == stop_after:
            raise KeyboardInterrupt
        calls.append(seed)
        level = float(params.golgi.conductance) * 1e9  # nS
        rows = [{"index": k, "phase": "baseline", "trial": 0, "cue": k, "distance": 0,
                 **{o: level + (seed % 7) * 0.01 for o in OBSERVABLES}} for k in (0, 1)]
        slots = np.array([[0.1, 0.2], [0.2, 0.3]])
        spikes = {"granule": SpikeTrains(np.array([0, 1]), np.array([0.12, 0.22]), 400,
                                         "granule")}
        return ProtocolRun(rows, spikes, 0.3, slots)

    def image_granule(run, imaging, *, seed=0):
        level = run.rows[0]["coding_level"]
        return [{"index": row["index"], "cells": n, "field": f, "draw": d,
                 **{o: level + 0.001 * (f + d) + (seed % 5) * 0.01
                    for o in IMAGED_OBSERVABLES}}
                for row in run.rows for n in imaging.cells for f in range(imaging.fields)
                for d in (0, 1)]
    def image_outputs(run, imaging, *, w0, seed=0, preparation="cerebellum"):
        from mapping.imaged_outputs import OUTPUT_OBSERVABLES

        return [{"index": row["index"], **{o: row["coding_level"] for o in OUTPUT_OBSERVABLES}}
                for row in run.rows]

    def image_spines(run, imaging, *, w0, seed=0, preparation="cerebellum"):
        from mapping.imaged_outputs import SPINE_OBSERVABLES

        level = run.rows[0]["coding_level"]
        return [{"index": row["index"], "cells": n, "field": f, "draw": d,
                 **{o: level + imaging.synaptic_noise * 0.01 * (f + d) + (seed % 5) * 0.01
                    for o in SPINE_OBSERVABLES}}
                for row in run.rows for n in imaging.spine_counts
                for f in range(imaging.spine_fields) for d in (0, 1)]
    return record_protocol, image_granule, image_outputs, image_spines


def test_a_stopped_run_resumes_where_it_stopped(tmp_path, monkeypatch, capsys):
    import mapping.experiments.predict as predict

    out = tmp_path / "p"
    argv = ["predict", "--out", str(out), "--quiet", "--set", "seeds=3", "--set", "workers=1",
            "--set", 'hypotheses=["sdm", "dense_code"]']
    calls: list = []
    for name, fake in zip(("record_protocol", "image_granule", "image_outputs", "image_spines"),
                          _fake_protocol(calls, stop_after=4), strict=True):
        monkeypatch.setattr(predict, name, fake)
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    assert sorted(p.name for p in (out / "units").iterdir()) == [
        f"{key}-{s}.{ext}" for key in ("dense_code", "sdm") for s in (0, 1)
        for ext in ("json", "nwb")]
    assert not (out / "metrics.json").exists()
    # another configuration is refused, the work kept
    assert main([*argv, "--set", "threshold=4"]) == 2
    assert "holds a predict run with another configuration (threshold differ)" in \
        capsys.readouterr().err
    # the same command finishes it, running only what is missing
    calls.clear()
    for name, fake in zip(("record_protocol", "image_granule", "image_outputs", "image_spines"),
                          _fake_protocol(calls), strict=True):
        monkeypatch.setattr(predict, name, fake)
    assert main(argv) == 0
    assert len(calls) == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["runs"], metrics["runs_resumed"], metrics["probes"]) == (6, 4, 12)
    assert metrics["max_abs_z_dense_code_coding_level"] > 3  # 1.6 nS vs 0.53 nS
    assert metrics["max_abs_z_dense_code_imaged_coding_level"] > 3
    assert metrics["cells_x_trials_dense_code_imaged_coding_level"] == 50  # 50 cells, 1 trial
    power = list(csv.DictReader(open(out / "power.csv")))
    assert {r["observable"] for r in power} == {"imaged_overlap", "imaged_coding_level",
                                                "imaged_efficacy_a", "imaged_efficacy_b"}
    report = (out / "report.md").read_text()
    assert "## Imaged cells and trials for 80% power" in report
    assert "## Preregistration sheet" in report and "### `imaged_coding_level`" in report
    # --overwrite starts afresh
    calls.clear()
    assert main([*argv, "--overwrite"]) == 0
    assert len(calls) == 6


def test_a_power_grid_reports_the_effort_per_frame_rate_and_noise(tmp_path, monkeypatch):
    import mapping.experiments.predict as predict

    calls: list = []
    for name, fake in zip(("record_protocol", "image_granule", "image_outputs", "image_spines"),
                          _fake_protocol(calls), strict=True):
        monkeypatch.setattr(predict, name, fake)
    out = tmp_path / "g"
    assert main(["predict", "--out", str(out), "--quiet", "--set", "seeds=3", "--set",
                 "workers=1", "--set", 'hypotheses=["sdm", "dense_code"]', "--set",
                 "power_grid=[[15, 1], [30, 2]]", "--set",
                 "synaptic_grid=[[2, 0.1], [1, 0.4]]"]) == 0
    rows = list(csv.DictReader(open(out / "power_grid.csv")))
    assert {(float(r["fps"]), float(r["noise_level"])) for r in rows} == {
        (30.0, 1.0), (15.0, 1.0), (30.0, 2.0)}
    assert {r["observable"] for r in rows} == {"imaged_coding_level", "imaged_overlap"}
    spines = list(csv.DictReader(open(out / "synaptic_grid.csv")))
    assert {(float(r["fps"]), float(r["noise_level"])) for r in spines} == {
        (1.0, 0.2), (2.0, 0.1), (1.0, 0.4)}
    assert {r["observable"] for r in spines} == {"imaged_efficacy_a", "imaged_efficacy_b"}
    report = (out / "report.md").read_text()
    assert "| H1 dense_code | imaged_coding_level | 50 x 1 | 50 x 1 | 50 x 1 |" in report
    assert "1 Hz, sigma_30 0.2 | 1 Hz, sigma_30 0.4 | 2 Hz, sigma_30 0.1 |" in report
    power = list(csv.DictReader(open(out / "power.csv")))
    assert {r["imaged"] for r in power} == {"cells", "synapses"}


def test_quick_is_a_short_run_recorded_as_asked():
    from mapping.experiments.predict import QUICK_GRANULE, QUICK_SEEDS, Config
    from models.config import load_config

    config = load_config(Config, overrides=["quick=true", "seeds=20"])
    assert config.quick and config.seeds == 20  # what the user asked (config.json)
    run = config.resolved()
    assert (run.quick, run.seeds, run.circuit.granule.n) == (False, QUICK_SEEDS, QUICK_GRANULE)
    assert Config().resolved() == Config()


def test_the_mushroom_body_preparation_is_the_preset_on_the_circuit():
    from mapping.experiments.predict import Config
    from models.config import load_config

    config = load_config(Config, overrides=['preparation="mushroom_body"'])
    run = config.resolved()
    assert run.circuit.preset == "mushroom_body" and run.circuit.value_bits == 2
    assert run.circuit.backend == config.circuit.backend
    # naming the preset as well gives the same circuit
    both = load_config(Config, overrides=['preparation="mushroom_body"',
                                          "circuit.preset=mushroom_body"])
    assert both.resolved().circuit == run.circuit


@pytest.mark.slow
def test_predict_on_the_mushroom_body_images_kenyon_cells(tmp_path):
    """H0 and the dense Kenyon-cell code (H1) on the quick mushroom body (about 2 minutes):
    H1's odours activate more Kenyon cells, measured from spikes and through calcium."""
    out = tmp_path / "mb"
    assert main(["predict", "--out", str(out), "--quiet", "--quick", "--set",
                 'preparation="mushroom_body"', "--set",
                 'hypotheses=["sdm", "dense_code"]', "--set", "outputs.synaptic_noise=0.02"]) == 0
    report = (out / "report.md").read_text()
    assert "mushroom_body preparation" in report and "GRAB-ACh3.0" in report
    assert "Kenyon cells fire with one active claw fewer" in report
    rows = list(csv.DictReader(open(out / "probes.csv")))
    level = {key: np.mean([float(r["coding_level"]) for r in rows if r["hypothesis"] == key])
             for key in ("sdm", "dense_code")}
    assert 0.03 < level["sdm"] < 0.12 and level["dense_code"] > 2 * level["sdm"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["max_abs_z_dense_code_imaged_coding_level"] > 3
    # the release sensor at the boutons follows the depression of the taught odour's
    # synapses (w / w0 = 1 - counter / counter_range), imaged nearly without noise
    taught = [r for r in rows if r["hypothesis"] == "sdm" and r["phase"] == "acquisition"
              and r["cue"] == "0"]
    imaged = np.nanmean([float(r["imaged_efficacy_a"]) for r in taught])
    exact = np.mean([1 - float(r["counter_a"]) / 8 for r in taught])
    assert exact < 0.85 and imaged == pytest.approx(exact, abs=0.1)
