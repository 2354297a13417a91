"""``memcircuits calcium RUN_DIR`` and the calcium figure commands, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.nwb import read_spikes, write_spikes
from mapping.cli import main


def _run_dir(path, *, empty: bool = False, dt: str = "100 us"):
    """A run directory as a circuit command leaves it: spikes.nwb, config.json, metrics."""
    rng = np.random.default_rng(0)
    duration = 10.0

    def train(n, count):
        if empty:
            return np.array([], np.int64), np.array([]), n
        return (rng.integers(0, n, count),
                np.round(rng.random(count) * duration / 1e-4) * 1e-4, n)

    populations = {"MF": train(16, 300), "GrC": train(300, 600), "PC": train(4, 2000),
                   "CF": train(4, 12), "DCN": train(4, 30)}
    path.mkdir(parents=True)
    write_spikes(path / "spikes.nwb", populations, session_description="fake run")
    (path / "config.json").write_text(json.dumps(
        {"config": {"circuit": {"protocol": {"dt": dt}}}, "seed": 0}))
    (path / "metrics.json").write_text(json.dumps({"simulated_s": duration}))
    return populations


def test_calcium_command_writes_nwb_metrics_and_figures(tmp_path, capsys):
    from nwbinspector import inspect_nwbfile

    populations = _run_dir(tmp_path / "run")
    out = tmp_path / "calcium"
    code = main(["calcium", str(tmp_path / "run"), "--indicator", "GCaMP6s", "--fps", "30",
                 "--movie", "--out", str(out), "--quiet", "--set", "max_rois=100"])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["synthesis"]["indicator"] == "GCaMP6s"
    assert config["config"]["movie"] is True
    assert metrics["populations_imaged"] == "DCN,GrC,PC"  # MF and CF are input axons
    assert metrics["GrC_preset"] == "granule_soma" and metrics["PC_preset"] == "purkinje_dendrite"
    assert metrics["GrC_rois"] == 100 and metrics["GrC_neurons"] == 300
    assert metrics["frames"] == 300 and metrics["dt_s"] == pytest.approx(1e-4)
    for name in ("GrC", "PC", "DCN"):
        assert metrics[f"{name}_noise_level"] == pytest.approx(1.0, rel=0.1)
        assert (out / "figures" / f"calcium_{name}.png").is_file()
    assert not [m for m in inspect_nwbfile(out / "calcium.nwb")
                if m.importance.name in ("CRITICAL", "PYNWB_VALIDATION", "ERROR")]
    back = read_spikes(out / "calcium.nwb")
    for name, (indices, times, _size) in populations.items():
        got = sorted(zip(back[name][0].tolist(), back[name][1].tolist(), strict=True))
        assert got == sorted(zip(indices.tolist(), times.tolist(), strict=True))
    assert "GrC" in capsys.readouterr().out


def test_empty_spike_trains_give_flat_traces(tmp_path):
    from analysis.nwb_ophys import read_calcium_nwb

    _run_dir(tmp_path / "run", empty=True)
    assert main(["calcium", str(tmp_path / "run"), "--out", str(tmp_path / "c"),
                 "--quiet"]) == 0
    traces = read_calcium_nwb(tmp_path / "c" / "calcium.nwb")
    assert abs(float(np.median(traces["GrC"]["dff"]))) < 0.05
    metrics = json.loads((tmp_path / "c" / "metrics.json").read_text())
    assert metrics["GrC_dff_peak_mean"] == 0.0


@pytest.mark.parametrize(("argv", "message"), [
    (["--indicator", "GCaMP9"], "unknown indicator 'GCaMP9'; known: GCaMP6f, GCaMP6s, "
                                "jGCaMP7f, jGCaMP8m"),
    (["--fps", "20000"], "fps: 20000 Hz is above the simulation's time resolution "
                         "1/dt = 10000 Hz"),
    (["--set", 'populations=["GrC=axon"]'], "unknown population preset 'axon'"),
])
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, capsys, argv, message):
    _run_dir(tmp_path / "run")
    code = main(["calcium", str(tmp_path / "run"), *argv, "--out", str(tmp_path / "c"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "c" / "calcium.nwb").exists()


def test_missing_run_directory_is_refused(tmp_path, capsys):
    assert main(["calcium", str(tmp_path / "nothing"), "--out", str(tmp_path / "c")]) == 2
    assert "run_dir: no such directory" in capsys.readouterr().err


def test_help_shows_the_calcium_command(capsys):
    with pytest.raises(SystemExit):
        main(["calcium", "--help"])
    text = capsys.readouterr().out
    assert "RUN_DIR" in text and "--indicator" in text and "--movie" in text and "--fps" in text


def test_validation_figure_command_small(tmp_path):
    out = tmp_path / "val"
    assert main(["figures", "calcium-validation", "--out", str(out), "--quiet",
                 "--set", "neurons=4", "--set", "duration=120.0",
                 "--set", "ar_noise_levels=[1.0]", "--set", "noise_levels=[1.0, 4.0]",
                 "--set", 'indicators=["jGCaMP8m"]']) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert abs(metrics["noise_level_error_jGCaMP8m_nu4"]) < 0.1
    assert abs(metrics["one_ap_half_decay_error_jGCaMP8m"]) < 0.2
    assert metrics["s2f_correlation_jGCaMP8m_nu1"] > metrics["s2f_correlation_jGCaMP8m_nu4"]
    for name in ("oasis_round_trip", "noise_level", "one_ap"):
        assert (out / "figures" / f"{name}.png").is_file()


@pytest.mark.slow
def test_protocol_figures_from_real_circuit_runs(tmp_path):
    """Must-show e: learning/extinction (cerebellar circuit) and remapping (hippocampal
    loop), about a minute on the numpy runtime."""
    out = tmp_path / "protocol"
    assert main(["figures", "calcium-protocol", "--out", str(out), "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert (out / "figures" / "learning_extinction.png").is_file()
    assert (out / "figures" / "remapping.png").is_file()
    # acquisition: PF->PC counters of the active subset rise for group A (climbing fibres)
    assert m["counter_a_03_acquisition"] > m["counter_a_01_acquisition"] > 0
    # complex spikes light up group A's dendrites in acquisition and group B's in extinction
    assert m["pc_peak_a_01_acquisition"] > 3 * m["pc_peak_a_00_probe"]
    assert m["pc_peak_b_05_extinction"] > 3 * m["pc_peak_b_00_probe"]
    # the learned output is in the simple spikes (the default, biological layer: group A
    # silenced and B released after acquisition; measured 5 -> 0 and 5 -> 18)
    assert m["simple_a_04_probe"] < m["simple_a_00_probe"] < m["simple_b_04_probe"]
    # the conflicting association wins: the last probe reads B, not A
    assert m["bits_b_10_probe"] == 1.0 and m["bits_a_10_probe"] == 0.0
    # place cells keep their field in a world (dF/F follows spikes) and remap across worlds
    assert m["dff_vs_spikes_r_mean"] > 0.3
    assert abs(m["remap_dff_r_mean"]) < 0.2


@pytest.mark.slow
def test_calcium_of_a_real_cerebellum_run(tmp_path):
    run = tmp_path / "cerebellum"
    assert main(["cerebellum", "--out", str(run), "--quiet", "--set", "patterns=3",
                 "--set", "circuit.preset=kanerva",
                 "--set", "circuit.address_bits=32", "--set", "circuit.value_bits=8",
                 "--set", "circuit.granule.n=600",
                 "--set", "circuit.granule.coding_level=0.055"]) == 0
    assert main(["calcium", str(run), "--out", str(tmp_path / "c"), "--quiet"]) == 0
    simulated = read_spikes(run / "spikes.nwb")
    written = read_spikes(tmp_path / "c" / "calcium.nwb")
    for name, (_i, t, size) in simulated.items():
        assert written[name][2] == size
        np.testing.assert_array_equal(np.sort(written[name][1]), np.sort(t))
