"""Calcium forward models (analysis/calcium.py): AR and spike-to-fluorescence models,
indicator presets, noise-level calibration, frames, OASIS round trip, bad input."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from analysis.calcium import (
    INDICATORS,
    POPULATION_PRESETS,
    SpikeEvents,
    SynthesisParams,
    ar_calcium,
    ar_coefficients,
    ar_traces,
    bin_spikes,
    check_frame_rate,
    clean_dff,
    deconvolve_oasis,
    fit_kernel,
    frame_count,
    frame_indices,
    get_indicator,
    get_preset,
    measure_transient,
    noise_level,
    one_ap_response,
    smoothed_correlation,
    synthesize,
)

ROOT = Path(__file__).resolve().parents[1]


def poisson(neurons: int, duration: float, rate: float, seed: int) -> SpikeEvents:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate * duration, neurons)
    return SpikeEvents.of(np.repeat(np.arange(neurons), counts),
                          rng.random(counts.sum()) * duration)


# ----------------------------------------------------------------------- frames and AR
def test_frame_index_is_floor_of_t_times_fps_and_a_spike_shows_in_its_frame():
    fps = 30.0
    times = np.array([0.0, 0.0333, 1 / 30, 0.999, 1.5])
    np.testing.assert_array_equal(frame_indices(times, fps), np.floor(times * fps))
    # a spike is seen from its own frame on (read at the frame's end), never before
    t_spike = 0.51
    dff = clean_dff(SpikeEvents.of([0], [t_spike]), 1, 60, fps, "GCaMP6f")[0]
    j = int(np.floor(t_spike * fps))
    assert np.all(dff[:j] == 0) and dff[j] > 0
    assert frame_count(2.0, fps) == 60 and frame_count(2.01, fps) == 61


def test_ar_models_follow_their_recursions():
    fps, tau_d, tau_r = 30.0, 0.7, 0.05
    (g,) = ar_coefficients(tau_d, fps)
    assert g == pytest.approx(np.exp(-1 / (fps * tau_d)))  # 0.953 at 30 Hz, 0.7 s
    assert g == pytest.approx(0.9535, abs=1e-4)
    s = np.zeros((2, 50))
    s[0, 3], s[1, [0, 10]] = 1, [2, 1]
    c = ar_calcium(s, (g,))
    manual = np.zeros_like(s)
    for t in range(50):
        manual[:, t] = (g * manual[:, t - 1] if t else 0) + s[:, t]
    np.testing.assert_allclose(c, manual, atol=1e-12)
    # AR(2) = difference of two exponentials (impulse response, up to the scale d - r)
    g1, g2 = ar_coefficients(tau_d, fps, tau_r)
    h = ar_calcium(np.r_[1.0, np.zeros(40)], (g1, g2))
    d, r = np.exp(-1 / (fps * tau_d)), np.exp(-1 / (fps * tau_r))
    k = np.arange(41)
    np.testing.assert_allclose(h, (d ** (k + 1) - r ** (k + 1)) / (d - r), rtol=1e-10)


def test_bin_spikes_sums_weights_per_frame():
    events = SpikeEvents(np.array([0, 0, 1, 0]), np.array([0.01, 0.02, 0.5, 0.04]),
                         np.array([1.0, 2.0, 4.0, 1.0]))
    counts = bin_spikes(events, 2, 30, 30.0)
    assert counts[0, 0] == 3.0 and counts[0, 1] == 1.0 and counts[1, 15] == 4.0
    assert counts.sum() == 8.0


# ----------------------------------------------------------------------- must-show (a)
def test_oasis_recovers_tau_and_spikes_on_the_ar_model():
    """Must-show a: 20 neurons x 10 min, 0.5 Hz Poisson, tau 0.7 s at 30 Hz, one spike =
    dF/F 0.133 (GCaMP6s in vivo). At nu = 0.5 and 1 the median OASIS tau is within 5% and
    the median correlation with the true spikes (50-ms Gaussian smoothing) >= 0.9.
    Measured (seed 0): tau 0.686 / 0.689 s, r 0.983 / 0.913."""
    from mapping.experiments.calcium_validation import Config, ar_round_trip

    config = Config()
    for nu in (0.5, 1.0):
        out = ar_round_trip(config, nu)
        assert np.median(out["traces"].noise_level) == pytest.approx(nu, rel=1e-3)
        assert abs(np.median(out["tau"]) / config.tau_decay - 1) < 0.05
        assert np.median(out["correlation"]) >= 0.9


def test_s2f_correlation_falls_as_noise_rises():
    """Must-show a (table): OASIS (AR(2), the indicator's kernel) on the spike-to-
    fluorescence model; the median correlation falls monotonically with nu."""
    fps, duration, n = 30.0, 300.0, 10
    events = poisson(n, duration, 0.5, seed=3)
    counts = bin_spikes(events, n, frame_count(duration, fps), fps)
    kernel = fit_kernel("GCaMP6f")
    medians = []
    for nu in (0.5, 2.0, 8.0):
        traces = synthesize(events, n, duration, SynthesisParams(noise_level=nu), seed=4)
        r = [smoothed_correlation(deconvolve_oasis(traces.dff[i], fps,
                                                   tau_decay=kernel.tau_decay,
                                                   tau_rise=kernel.tau_rise)[0],
                                  counts[i], fps)[0] for i in range(n)]
        medians.append(np.median(np.nan_to_num(r, nan=0.0)))  # nothing inferred: r = 0
    assert medians[0] > medians[1] > medians[2]
    assert medians[0] > 0.85 and medians[2] < 0.3


# ----------------------------------------------------------------------- must-show (b)
@pytest.mark.parametrize("indicator", list(INDICATORS))
def test_requested_noise_level_is_met_within_10_percent(indicator):
    """Must-show b: the median measured nu of the dF/F traces is within 10% of the request
    (normal-approximation and exact-Poisson photon counts both; measured errors < 1.5%)."""
    events = poisson(40, 120.0, 0.5, seed=1)
    for nu in (0.5, 1.0, 2.0, 4.0, 8.0):
        traces = synthesize(events, 40, 120.0, SynthesisParams(indicator=indicator,
                                                               noise_level=nu), seed=2)
        assert np.median(traces.noise_level) == pytest.approx(nu, rel=0.10)
        # and per ROI: 90% of the traces within 15%
        assert np.mean(np.abs(traces.noise_level / nu - 1) < 0.15) >= 0.9


def test_noise_level_definition_on_white_noise():
    rng = np.random.default_rng(0)
    sigma, fps = 0.05, 30.0
    nu = noise_level(sigma * rng.standard_normal((4, 200_000)), fps)
    # median |diff| of white noise = 0.954 sigma
    np.testing.assert_allclose(nu, 0.6745 * np.sqrt(2) * sigma / np.sqrt(fps) * 100, rtol=0.01)


def test_ar_traces_meet_the_noise_level():
    s = np.random.default_rng(1).poisson(0.02, (5, 5000)).astype(float)
    out = ar_traces(s, 30.0, tau_decay=0.7, amplitude=0.2, noise_level_target=2.0, seed=0)
    assert np.median(out.noise_level) == pytest.approx(2.0, rel=1e-4)


# ----------------------------------------------------------------------- must-show (c)
@pytest.mark.parametrize("indicator", list(INDICATORS))
def test_one_ap_response_matches_the_cited_values(indicator):
    """Must-show c: noise-free 1 AP sampled at 1 kHz: peak dF/F, time to peak and half-decay
    within 20% of the cited values (measured: within 0.5%)."""
    ind = INDICATORS[indicator]
    t, dff = one_ap_response(indicator, fps=1000.0)
    m = measure_transient(t, dff)
    assert m["peak"] == pytest.approx(ind.dff_1ap, rel=0.2)
    assert m["half_decay"] == pytest.approx(ind.half_decay, rel=0.2)
    assert m["time_to_peak"] == pytest.approx(ind.time_to_peak, rel=0.2)
    assert ind.source and ind.binding_source  # every preset cites where its numbers are from


def test_bursts_saturate_and_are_supralinear():
    fps = 1000.0
    one = clean_dff(SpikeEvents.of([0], [0.0]), 1, 2000, fps, "GCaMP6s")[0].max()
    five = clean_dff(SpikeEvents.of([0] * 5, np.arange(5) * 0.01), 1, 2000, fps,
                     "GCaMP6s")[0].max()
    many = clean_dff(SpikeEvents.of([0] * 200, np.arange(200) * 0.002), 1, 2000, fps,
                     "GCaMP6s")[0].max()
    ind = INDICATORS["GCaMP6s"]
    assert five > 5 * one  # supralinear (Hill n 2.45)
    assert many < ind.dff_max  # saturates below F_max / F_min - 1


# ----------------------------------------------------------------------- synthesis
def test_vectorised_synthesis_equals_the_naive_loop():
    """The vectorised kernel sum equals the bench's per-neuron, per-spike loop."""
    spec = importlib.util.spec_from_file_location("bench_calcium", ROOT / "bench" /
                                                  "calcium_synth.py")
    bench = importlib.util.module_from_spec(spec)
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    events = poisson(6, 30.0, 2.0, seed=5)
    params = SynthesisParams(indicator="jGCaMP7f", photons=300.0)
    naive = bench.naive_population(events, 6, 30.0, params, clean_only=True)["clean"]
    fast = clean_dff(events, 6, frame_count(30.0, 30.0), 30.0, "jGCaMP7f")
    np.testing.assert_allclose(naive, fast, atol=1e-6)


def test_results_do_not_depend_on_threads_and_seeds_are_injected():
    events = poisson(300, 20.0, 1.0, seed=6)
    one = synthesize(events, 300, 20.0, seed=7, workers=1)
    two = synthesize(events, 300, 20.0, seed=7, workers=2)
    np.testing.assert_array_equal(one.dff, two.dff)
    other = synthesize(events, 300, 20.0, seed=8, workers=1)
    assert not np.array_equal(one.dff, other.dff)


def test_active_neurons_have_transients_and_silent_ones_do_not():
    events = SpikeEvents.of([0, 0, 0], [2.0, 2.02, 2.04])
    traces = synthesize(events, 2, 10.0, SynthesisParams(noise_level=0.5), seed=0,
                        keep_clean=True)
    k = int(2.0 * 30)
    assert traces.clean_dff[1].max() == 0
    assert traces.dff[0, k:k + 10].max() > 0.3 > traces.dff[1, k:k + 10].max()


def test_purkinje_dendrite_preset_counts_complex_spikes_only():
    pc = get_preset("purkinje_dendrite")
    assert pc.spike_weight == 0 and pc.partner_weight > 1
    assert set(POPULATION_PRESETS) >= {"granule_soma", "purkinje_dendrite", "place_cell"}


# ----------------------------------------------------------------------- bad input (g)
def test_unknown_indicator_is_one_error_listing_the_known_ones():
    with pytest.raises(ValueError, match="unknown indicator 'GCaMP9'; known: GCaMP6f, GCaMP6s, "
                                         "jGCaMP7f, jGCaMP8m"):
        get_indicator("GCaMP9")
    with pytest.raises(ValueError, match="unknown indicator"):
        synthesize(poisson(2, 5.0, 1.0, 0), 2, 5.0, SynthesisParams(indicator="GCaMP9"))
    assert get_indicator("gcamp6S").name == "GCaMP6s"  # case-insensitive


def test_frame_rate_above_the_simulation_resolution_is_refused():
    with pytest.raises(ValueError, match=r"fps: 20000 Hz is above the simulation's time "
                                         r"resolution 1/dt = 10000 Hz"):
        synthesize(poisson(2, 1.0, 1.0, 0), 2, 1.0, SynthesisParams(fps=20_000.0), dt=1e-4)
    assert check_frame_rate(10_000.0, 1e-4) == 10_000.0
    with pytest.raises(ValueError, match="fps must be > 0"):
        check_frame_rate(0.0)


def test_empty_spike_trains_give_flat_noisy_traces():
    """Documented empty result: no spikes -> flat dF/F plus noise at the requested level."""
    empty = SpikeEvents.of([], [])
    traces = synthesize(empty, 5, 60.0, SynthesisParams(noise_level=2.0), seed=0,
                        keep_clean=True)
    assert traces.dff.shape == (5, 1800)
    assert np.all(traces.clean_dff == 0)
    assert np.median(traces.noise_level) == pytest.approx(2.0, rel=0.05)
    assert abs(float(np.median(traces.dff))) < 0.05
    none = synthesize(empty, 0, 60.0, seed=0)
    assert none.dff.shape == (0, 1800) and none.noise_level.shape == (0,)


def test_other_bad_input_is_refused_with_one_message():
    with pytest.raises(ValueError, match=r"duration: 0\.01 s gives 1 frame"):
        synthesize(SpikeEvents.of([], []), 1, 0.01)
    with pytest.raises(ValueError, match=r"spikes: neuron index outside 0..1"):
        synthesize(SpikeEvents.of([2], [0.5]), 2, 1.0)
    with pytest.raises(ValueError, match=r"spikes: times must lie in \[0, duration"):
        synthesize(SpikeEvents.of([0], [1.5]), 2, 1.0)
    with pytest.raises(ValueError, match="spikes: indices"):
        SpikeEvents.of([0, 1], [0.5])
    with pytest.raises(ValueError, match="noise_level must be > 0"):
        SynthesisParams(noise_level=0.0).validate()
    with pytest.raises(ValueError, match="unknown population preset 'axon'"):
        get_preset("axon")


def test_bench_runs_small():
    """bench/calcium_synth.py end to end at a small size (both parts, same data)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "calcium_synth.py"),
                           "--neurons", "200", "--minutes", "0.5", "--naive-neurons", "20"],
                          capture_output=True, text=True, check=True, timeout=300)
    assert "ratio naive / vectorised (all neurons)" in proc.stdout
    line = next(x for x in proc.stdout.splitlines() if x.startswith("ratio"))
    assert float(line.split("differs by at most ")[1]) < 1e-6
