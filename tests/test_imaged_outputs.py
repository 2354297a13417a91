"""Purkinje cells through a voltage indicator, PF->PC synapses through SEP-GluA2 (no Brian2)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from circuits.spikes import SpikeTrains
from mapping.imaged_outputs import OutputImaging, image_outputs
from mapping.preparations import get_preparation
from mapping.protocols import ProtocolRun

DT = 1e-4
SLOT = 0.12


def synthetic_run(rates=(60.0, 60.0, 20.0, 100.0), seed=0) -> tuple[ProtocolRun, np.ndarray]:
    """Four probes (cues 0, 1, 0, 1) of four Purkinje cells (a: 0-1, b: 2-3) firing
    regularly at ``rates[p]`` (group a) and 60 Hz (group b) in probe p; 40 granule cells,
    PF->PC synapses all to all; group a's synapses from cue 0's cells depressed to 0.5 in
    the last two probes."""
    rng = np.random.default_rng(seed)
    probes, n_pc = len(rates), 4
    steps = round(SLOT / DT)
    voltage = np.full((n_pc, probes * steps), -0.06)
    idx, times, counts = [], [], np.zeros((probes, n_pc))
    for p, rate in enumerate(rates):
        for c in range(n_pc):
            r = rate if c < 2 else 60.0
            t = p * SLOT + 0.003 + rng.random() * 0.002 + np.arange(0, 0.1, 1 / r)
            t = t[t < p * SLOT + 0.1]
            idx += [c] * len(t)
            times += list(t)
            counts[p, c] = len(t)
            voltage[c, p * steps:(p + 1) * steps] += 0.004 * np.sin(
                np.arange(steps) * DT * 2 * np.pi * r)
    order = np.argsort(times)
    # complex spikes of group a: one in probe 2, a burst of four (2 ms apart) in probe 3
    cf_times = np.concatenate([[2 * SLOT + 0.05] * 2, 3 * SLOT + 0.05 + np.repeat(
        np.arange(4) * 0.002, 2)])
    spikes = {"purkinje": SpikeTrains(np.array(idx)[order], np.array(times)[order], n_pc,
                                      "purkinje"),
              "climbing": SpikeTrains(np.tile([0, 1], 5), cf_times, n_pc, "climbing")}
    rows = [{"index": p, "phase": "baseline" if p < 2 else "acquisition", "trial": 0,
             "cue": p % 2, "distance": 0} for p in range(probes)]
    windows = np.array([[p * SLOT, (p + 1) * SLOT] for p in range(probes)])
    pf_pre = np.tile(np.arange(40), n_pc)
    pf_post = np.repeat(np.arange(n_pc), 40)
    weights = np.ones((probes, len(pf_pre)), dtype=np.float32)
    cue0 = np.arange(20)
    weights[2:, np.isin(pf_pre, cue0) & (pf_post < 2)] = 0.5
    run = ProtocolRun(rows, spikes, probes * SLOT, windows, decode=0.1,
                      weights=weights, pf_pre=pf_pre, pf_post=pf_post,
                      baseline_cells={0: cue0, 1: np.arange(20, 40)}, voltage=voltage, dt=DT)
    return run, counts


def test_clean_voltage_imaging_counts_the_simple_spikes():
    run, counts = synthetic_run()
    rows = image_outputs(run, OutputImaging(spike_snr=20.0, synaptic_noise=0.02), w0=1.0,
                         seed=1)
    imaged = np.array([[r["imaged_simple_spikes_a"], r["imaged_simple_spikes_b"]]
                       for r in rows])
    true = np.stack([counts[:, :2].mean(1), counts[:, 2:].mean(1)], axis=1)
    assert np.abs(imaged - true).max() <= 1.0
    assert imaged[3, 0] > imaged[0, 0] > imaged[2, 0]  # 100 Hz > 60 Hz > 20 Hz


def test_the_spine_sensor_sees_the_depression_of_the_cues_synapses_only():
    run, _ = synthetic_run()
    rows = image_outputs(run, OutputImaging(spike_snr=20.0, synaptic_noise=0.02), w0=1.0,
                         seed=2)
    assert rows[0]["imaged_efficacy_a"] == pytest.approx(1.0)  # its own baseline
    assert rows[2]["imaged_efficacy_a"] == pytest.approx(0.5, abs=0.03)
    assert rows[2]["imaged_efficacy_b"] == pytest.approx(1.0, abs=0.03)
    assert rows[3]["imaged_efficacy_a"] == pytest.approx(1.0, abs=0.03)  # cue 1's synapses


def test_noise_blurs_the_imaged_signals():
    run, counts = synthetic_run()
    clean = image_outputs(run, OutputImaging(spike_snr=20.0, synaptic_noise=0.02), w0=1.0)
    noisy = image_outputs(run, OutputImaging(spike_snr=2.0, synaptic_noise=0.5), w0=1.0)
    true_a = counts[:, :2].mean(1)
    err = [np.abs(np.array([r["imaged_simple_spikes_a"] for r in rows]) - true_a).mean()
           for rows in (clean, noisy)]
    assert err[1] > err[0] + 1
    assert abs(noisy[2]["imaged_efficacy_a"] - 0.5) > abs(clean[2]["imaged_efficacy_a"] - 0.5)


def test_imaging_purkinje_cells_needs_their_voltage():
    run, _ = synthetic_run()

    with pytest.raises(ValueError, match=r"record_protocol\(\.\.\., voltage=True\)"):
        image_outputs(replace(run, voltage=None), OutputImaging(), w0=1.0)


@pytest.mark.parametrize("change, message", [
    ({"voltage_indicator": "ASAP9"}, "ASAP9"),
    ({"voltage_fps": 30.0}, r"voltage_fps: 30 Hz is outside \[220, 4200\] Hz"),
    ({"voltage_fps": 4000.0}, r"above the simulation's time resolution"),
    ({"synaptic_indicator": "GCaMP6f"}, "GCaMP6f"),
    ({"synapses": 0}, "synapses"),
    ({"spike_snr": -1.0}, "spike_snr"),
])
def test_bad_output_imaging_is_one_clear_error(change, message):
    with pytest.raises(ValueError, match=message):
        OutputImaging(**change).validate(dt=5e-4)


def _with_bouton_spikes(run: ProtocolRun) -> ProtocolRun:
    """``run`` with its 40 granule (Kenyon) cells firing twice in each probe of their cue."""
    idx, times = [], []
    for row in run.rows:
        p, cells = row["index"], run.baseline_cells[row["cue"]]
        for dt in (0.01, 0.03):
            idx += list(cells)
            times += [p * SLOT + dt] * len(cells)
    order = np.argsort(times, kind="stable")
    granule = SpikeTrains(np.array(idx)[order], np.array(times)[order], 40, "granule")
    return replace(run, spikes={**run.spikes, "granule": granule})


def test_a_release_sensor_sees_a_presynaptic_change_and_not_a_postsynaptic_one():
    run, _ = synthetic_run()
    run = _with_bouton_spikes(run)
    imaging = OutputImaging(spike_snr=20.0, synaptic_noise=0.02)
    # mushroom body: GRAB-ACh3.0 at the KC boutons, release halved by the dopamine pairing
    fly = image_outputs(run, imaging, w0=1.0, seed=2, preparation="mushroom_body")
    assert imaging.sensor(get_preparation("mushroom_body")) == ("GRAB-ACh3.0", 10.0)
    assert imaging.sensor(get_preparation("cerebellum")) == ("SEP-GluA2", 1.0)
    assert fly[0]["imaged_efficacy_a"] == pytest.approx(1.0)
    assert fly[2]["imaged_efficacy_a"] == pytest.approx(0.5, abs=0.05)
    assert fly[2]["imaged_efficacy_b"] == pytest.approx(1.0, abs=0.05)
    # the same sensor at cerebellar spines, where the change is postsynaptic: blind to it
    blind = image_outputs(run, replace(imaging, synaptic_indicator="GRAB-ACh3.0"), w0=1.0,
                          seed=2)
    assert blind[2]["imaged_efficacy_a"] == pytest.approx(1.0, abs=0.05)


def test_spine_samples_for_the_power_analysis_nest_the_reported_one():
    from mapping.imaged_outputs import image_spines

    run, _ = synthetic_run()
    imaging = OutputImaging(synapses=10, spine_counts=(5, 10, 40), spine_fields=3)
    rows = image_spines(run, imaging, w0=1.0, seed=4)
    assert len(rows) == 4 * 3 * 3 * 2  # probes x counts x fields x draws
    reported = image_outputs(run, imaging, w0=1.0, seed=4)
    for row in rows:
        if (row["cells"], row["field"], row["draw"]) == (10, 0, 0):
            probe = next(r for r in reported if r["index"] == row["index"])
            assert row["imaged_efficacy_a"] == probe["imaged_efficacy_a"]
            assert row["imaged_efficacy_b"] == probe["imaged_efficacy_b"]

    def spread(count):  # depressed probe 2 of cue 0: scatter over fields and draws
        return np.std([r["imaged_efficacy_a"] for r in rows
                       if r["index"] == 2 and r["cells"] == count])

    assert spread(40) < spread(5)
    assert np.mean([r["imaged_efficacy_a"] for r in rows
                    if r["index"] == 2 and r["cells"] == 40]) == pytest.approx(0.5, abs=0.1)


def test_the_teaching_signal_is_imaged_as_complex_spikes_in_the_dendrites():
    """No complex spike reads ~0, one ~1, a burst of four more than two (the indicator's
    Hill curve is supralinear, so more than four); the silent group reads ~0."""
    run, _ = synthetic_run()
    rows = image_outputs(run, OutputImaging(synaptic_iti=3.0, teaching_noise=0.3), w0=1.0,
                         seed=2)
    a = np.array([r["imaged_complex_spikes_a"] for r in rows])
    b = np.array([r["imaged_complex_spikes_b"] for r in rows])
    assert np.all(np.abs(a[:2]) < 0.3) and np.all(np.abs(b) < 0.3)
    assert 0.7 < a[2] < 1.3 and a[3] > 2.0


def test_a_bad_teaching_indicator_or_frame_rate_is_refused():
    run, _ = synthetic_run()
    with pytest.raises(ValueError, match=r"outputs\.teaching_indicator"):
        image_outputs(run, OutputImaging(teaching_indicator="GCaMP99"), w0=1.0)
    with pytest.raises(ValueError, match=r"outputs\.teaching_fps.*time resolution"):
        image_outputs(run, OutputImaging(teaching_fps=2e4), w0=1.0)
