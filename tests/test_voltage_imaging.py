"""Voltage-imaging forward model (analysis/voltage_imaging.py): presets, frame-rate limits,
1-AP response against an independent integration, noise levels, spike detection, windows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.voltage_imaging import (
    PURKINJE_SIMPLE_SPIKE,
    VOLTAGE_INDICATORS,
    ActionPotential,
    VoltageImagingParams,
    count_in_windows,
    detect_spikes,
    detection_performance,
    get_voltage_indicator,
    spikes_from_frames,
    subthreshold_dff,
    synthesize_voltage,
)

DT = 1e-4  # s, Brian2's default step
V_TH, V_RESET, TAU_M = -0.050, -0.065, 0.020


def lif_like(n: int, duration: float, rate: float, seed: int, step: float = 0.0):
    """LIF-like traces: Poisson spikes with a 3-ms dead time; between spikes the potential
    charges from reset to threshold along 1 - exp(-s / tau_m); 0.3 mV white noise; ``step``
    (V) added in the second half."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(duration / DT)) * DT
    v, cells, times = np.empty((n, t.size)), [], []
    for c in range(n):
        isi = 0.003 + rng.exponential(1 / rate - 0.003, int(3 * rate * duration) + 20)
        st = np.cumsum(isi) - isi[0] * rng.random()
        st = st[(st > 0) & (st < duration - 0.002)]
        edges = np.concatenate([[st[0] - isi[0]], st, [duration + isi[-1]]])
        k = np.searchsorted(edges, t, side="right") - 1
        s, span = t - edges[k], edges[k + 1] - edges[k]
        v[c] = V_RESET + (V_TH - V_RESET) * np.expm1(-s / TAU_M) / np.expm1(-span / TAU_M)
        cells.append(np.full(st.size, c))
        times.append(st)
    v += 3e-4 * rng.standard_normal(v.shape) + step * (t >= duration / 2)
    return v, np.concatenate(cells), np.concatenate(times)


# --------------------------------------------------------------- presets and bad input
def test_unknown_indicator_names_the_known_ones():
    with pytest.raises(ValueError, match=r"ASAP3.*Voltron2.*JEDI-2P"):
        get_voltage_indicator("GCaMP6f")
    assert get_voltage_indicator("asap3") is VOLTAGE_INDICATORS["ASAP3"]
    for ind in VOLTAGE_INDICATORS.values():  # every preset is valid and cites its source
        ind.validate()
        assert "et al." in ind.source and ind.confidence
    assert VOLTAGE_INDICATORS["ASAP3"].polarity == -1
    assert VOLTAGE_INDICATORS["Archon1"].polarity == 1


def test_frame_rates_outside_the_supported_range_or_above_1_over_dt_are_refused():
    v = np.full((1, 5000), -0.06)
    for fps, match in [(100.0, "outside the 220-4200 Hz"), (5000.0, "outside the 220-4200"),
                       (20000.0, "1/dt = 10000")]:
        with pytest.raises(ValueError, match=match):
            synthesize_voltage(v, DT, [], [], VoltageImagingParams("ASAP3", fps=fps))
    with pytest.raises(ValueError, match="1/dt = 1000"):  # a coarse simulation: 1/dt binds
        synthesize_voltage(np.full((1, 500), -0.06), 1e-3, [], [],
                           VoltageImagingParams("ASAP3", fps=2000.0))


@pytest.mark.parametrize(("voltage", "cells", "times", "match"), [
    (np.full(100, -0.06), [], [], "cells, steps"),
    (np.full((2, 100), -60.0), [], [], "millivolts"),
    (np.full((2, 100), -0.06), [2], [0.001], "spike_indices"),
    (np.full((2, 100), -0.06), [0, 1], [0.001], "2 indices but 1 times"),
    (np.full((2, 100), -0.06), [0], [0.02], "spike_times"),
])
def test_bad_shapes_and_units_raise_one_clear_error(voltage, cells, times, match):
    with pytest.raises(ValueError, match=match):
        synthesize_voltage(voltage, DT, cells, times)


def test_noise_is_given_one_way_and_windows_are_checked():
    with pytest.raises(ValueError, match="not both"):
        VoltageImagingParams(noise_sd=0.01, spike_snr=5.0).validate()
    with pytest.raises(ValueError, match="windows"):
        count_in_windows([0], [0.1], 1, [(0.2, 0.1)])


def test_stored_frame_rate_limits_follow_the_documented_rules():
    from analysis.voltage_imaging import _ap_template, _one_ap_peak
    for ind in VOLTAGE_INDICATORS.values():
        _, h, R = _ap_template(ind, PURKINJE_SIMPLE_SPIKE.half_width)
        cont = abs(ind.sensitivity) * PURKINJE_SIMPLE_SPIKE.amplitude / 0.1 * (np.diff(R) / h).max()

        def keeps_half(fps, ind=ind, cont=cont):
            return abs(_one_ap_peak(ind, PURKINJE_SIMPLE_SPIKE, fps)) >= 0.5 * cont

        # min_fps: the lowest 10-Hz step keeping half the continuous 1-AP peak
        assert keeps_half(ind.min_fps) and not keeps_half(ind.min_fps - 10.0), ind.name
        assert ind.max_fps == math.floor(4e3 / ind.tau_on_fast / 100) * 100, ind.name


# ------------------------------------------------------------------ the 1-AP response
def _reference_one_ap(ind, fps, t_spike, amp, w, n_frames):
    """Independent check: Euler steps of 0.5 us through the AP, exact exponential tails,
    frames averaged on a 0.5-us grid."""
    h = 5e-7
    t = np.arange(0.0, n_frames / fps, h)
    g = amp * np.exp(-4 * math.log(2) * ((t - t_spike - w) / w) ** 2)
    tau_on = np.array([ind.tau_on_fast, ind.tau_on_slow]) * 1e-3
    tau_off = np.array([ind.tau_off_fast, ind.tau_off_slow]) * 1e-3
    u, out = np.zeros(2), np.zeros((t.size, 2))
    lo, hi = np.searchsorted(t, [t_spike - w, t_spike + 5 * w])
    for n in range(lo, hi):
        tau = np.where(g[n] > u, tau_on, tau_off)
        u = u + h * (g[n] - u) / tau
        out[n + 1] = u
    out[hi:] = u * np.exp(-(t[hi:, None] - t[hi]) / tau_off)
    x = out @ np.array([ind.fast_fraction, 1 - ind.fast_fraction])
    cum = np.concatenate([[0.0], np.cumsum(x) * h])  # integral up to each grid point
    edges = np.interp(np.arange(n_frames + 1) / fps, np.arange(t.size + 1) * h, cum)
    return ind.sensitivity / 0.1 * np.diff(edges) * fps


@pytest.mark.parametrize("name", ["ASAP3", "Archon1"])
def test_one_spike_gives_sensitivity_times_ap_filtered_by_the_kinetics(name):
    ind = VOLTAGE_INDICATORS[name]
    ap = PURKINJE_SIMPLE_SPIKE
    v = np.full((1, 1000), -0.060)  # no reset: every AP adds exactly ap.amplitude
    peaks = {}
    for fps in (ind.min_fps, 1000.0, 4000.0):
        tr = synthesize_voltage(v, DT, [0], [0.0403], VoltageImagingParams(name, fps=fps),
                                seed=1)
        ref = _reference_one_ap(ind, fps, 0.0403, ap.amplitude, ap.half_width, tr.dff.shape[1])
        assert np.abs(tr.clean_dff[0] - ref).max() < 0.02 * np.abs(ref).max()  # same model
        peaks[fps] = tr.clean_dff[0][np.argmax(np.abs(tr.clean_dff[0]))]
    bound = ind.sensitivity * ap.amplitude / 0.1  # an infinitely fast sensor
    assert np.sign(peaks[4000.0]) == np.sign(ind.sensitivity)
    assert 0.05 * abs(bound) < abs(peaks[4000.0]) < 0.5 * abs(bound)  # kinetics cut a 0.25-ms AP
    # frame averaging reduces it further at low rates (to about half at min_fps)
    assert abs(peaks[ind.min_fps]) < 0.65 * abs(peaks[4000.0])
    assert abs(peaks[ind.min_fps]) < abs(peaks[1000.0]) < abs(peaks[4000.0])


@pytest.mark.parametrize("fps", [1000.0, 3000.0])  # 10 and 3.33 simulation steps per frame
def test_a_steady_depolarisation_gives_exactly_the_sensitivity(fps):
    v = np.full((1, 4000), -0.070)
    v[0, 2000:] = -0.060  # +10 mV step at 0.2 s
    tr = synthesize_voltage(v, DT, [], [], VoltageImagingParams("Voltron2", fps=fps,
                                                                v_rest=-0.070))
    n = round(0.2 * fps)
    assert np.allclose(tr.clean_dff[0, :n], 0.0, atol=1e-12)
    assert np.allclose(tr.clean_dff[0, n + round(0.1 * fps):], -0.32 * 0.1, rtol=1e-6)


@pytest.mark.parametrize(("name", "published"), [("ASAP3", 0.179), ("JEDI-2P", 0.182),
                                                 ("Archon1", 0.224)])
def test_one_ap_of_a_cortical_like_spike_is_near_published_responses(name, published):
    """Sanity check, not a fit: a 100-mV, 1-ms AP at 1 kHz against published 1-AP dF/F
    (ASAP3 17.9%, cultured neurons, Villette et al. 2019 Table 1; JEDI-2P 18.2%, mouse V1 in
    vivo, Liu et al. 2022; Archon1 22.4%, mouse cortex in vivo, Piatkevich et al. 2018 Table
    S2). Spike shapes and rates differ from the papers', hence the factor-1.6 band."""
    ap = ActionPotential(0.100, 1.0e-3)
    tr = synthesize_voltage(np.full((1, 2000), -0.065), DT, [0], [0.1003],
                            VoltageImagingParams(name, fps=1000.0, ap=ap))
    assert published / 1.6 < abs(tr.one_ap_peak) < published * 1.6


# ---------------------------------------------------------------------- noise levels
def test_noise_levels_mean_what_the_docstring_says_and_the_seed_reproduces_them():
    v = np.full((4, 20000), -0.060)
    tr = synthesize_voltage(v, DT, [], [], VoltageImagingParams("ASAP3", fps=2000.0,
                                                                noise_sd=0.02), seed=3)
    # sd per frame at 2 kHz is sigma_1k * sqrt(2): 16000 frames -> sd of the sd ~0.6%
    assert tr.dff.std() == pytest.approx(0.02 * math.sqrt(2), rel=0.03)
    snr = synthesize_voltage(v, DT, [], [], VoltageImagingParams("ASAP3", spike_snr=5.0))
    assert snr.spike_snr == pytest.approx(5.0) and snr.noise_sd == abs(snr.one_ap_peak) / 5
    again = synthesize_voltage(v, DT, [], [], VoltageImagingParams("ASAP3", fps=2000.0,
                                                                   noise_sd=0.02), seed=3)
    other = synthesize_voltage(v, DT, [], [], VoltageImagingParams("ASAP3", fps=2000.0,
                                                                   noise_sd=0.02), seed=4)
    np.testing.assert_array_equal(tr.dff, again.dff)
    assert not np.allclose(tr.dff, other.dff)


# ------------------------------------------------------------------ spike inference
@pytest.mark.parametrize(("name", "rate"), [("ASAP3", 60.0), ("Voltron2", 100.0)])
def test_high_snr_detection_finds_purkinje_like_spikes(name, rate):
    v, cells, times = lif_like(6, 3.0, rate, seed=11)
    perf = detection_performance(v, DT, cells, times,
                                 VoltageImagingParams(name, fps=1000.0, spike_snr=10.0), seed=2)
    # at SNR 10 a 4-sd threshold sits 6 sd below the spike: misses come from overlaps only
    assert perf.hit_rate > 0.9, perf
    assert perf.false_positives_per_s < 1.0, perf


def test_detection_degrades_monotonically_with_noise():
    v, cells, times = lif_like(6, 3.0, 60.0, seed=12)
    hits = [detection_performance(v, DT, cells, times, VoltageImagingParams(
        "ASAP3", fps=1000.0, noise_sd=sd), seed=5).hit_rate for sd in (0.004, 0.012, 0.03)]
    # same noise draws at every level (one seed), scaled: fewer spikes cross as noise grows
    assert hits[0] >= hits[1] >= hits[2], hits
    assert hits[0] > 0.9 and hits[2] < hits[0] - 0.4, hits


def test_counts_per_window_track_true_counts_at_high_snr():
    v, cells, times = lif_like(6, 3.0, 80.0, seed=13)
    windows = [(a, a + 0.1) for a in np.arange(0.0, 2.9, 0.1)]  # 100-ms probe windows
    tr = synthesize_voltage(v, DT, cells, times, VoltageImagingParams("JEDI-2P",
                                                                      spike_snr=12.0))
    found = detect_spikes(tr.dff, tr.fps, polarity=-1)
    est = count_in_windows(*spikes_from_frames(found, tr.fps), 6, windows)
    true = count_in_windows(cells, times, 6, windows)
    assert true.mean() > 5  # ~8 spikes per window
    assert np.abs(est - true).mean() < 0.5, (est - true)
    assert np.corrcoef(est.ravel(), true.ravel())[0, 1] > 0.9


def test_subthreshold_window_means_recover_a_depolarisation_under_spikes():
    v, cells, times = lif_like(4, 2.0, 50.0, seed=14, step=0.005)  # +5 mV in the second second
    tr = synthesize_voltage(v, DT, cells, times, VoltageImagingParams("ASAP3", spike_snr=10.0))
    found = detect_spikes(tr.dff, tr.fps, polarity=-1)
    means = subthreshold_dff(tr.dff, tr.fps, found, [(0.2, 0.9), (1.1, 1.8)])
    change = means[:, 1] - means[:, 0]
    # s * 5 mV / 100 mV = -2.55%; spike tails and the LIF ramp differ a little between halves
    assert np.allclose(change, -0.51 * 0.05, rtol=0.25), change
