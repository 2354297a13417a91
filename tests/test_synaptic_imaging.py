"""Synapse-level imaging: presets, frame-rate limits, the forward model and efficacy recovery."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from analysis.calcium_frames import SpikeEvents
from analysis.synaptic_imaging import (
    SYNAPTIC_INDICATORS,
    SynapticImagingParams,
    estimate_efficacy,
    get_synaptic_indicator,
    image_synapses,
    recovery_error,
    supported_frame_rates,
    window_means,
)


def _trials(n, rate=20.0, trial=1.0, gap=1.0, seed=1):
    """Poisson spikes of ``n`` synapses in two trials ``[0, trial)`` and ``[trial+gap, ...)``."""
    rng = np.random.default_rng(seed)
    idx, times = [], []
    for start in (0.0, trial + gap):
        counts = rng.poisson(rate * trial, n)
        idx.append(np.repeat(np.arange(n), counts))
        times.append(start + rng.uniform(0.0, trial, counts.sum()))
    windows = [(0.0, trial), (trial + gap, 2 * trial + gap)]
    return SpikeEvents.of(np.concatenate(idx), np.concatenate(times)), windows, 2 * trial + gap


# ------------------------------------------------------------------------- presets and errors
def test_presets_validate_and_say_what_they_report():
    for name, ind in SYNAPTIC_INDICATORS.items():
        ind.validate()
        assert ind.reports in ("release", "receptors") and ind.source and ind.preparation
        assert get_synaptic_indicator(name.lower()) is ind
    assert get_synaptic_indicator("SEP-GluA2").reports == "receptors"
    # one-site pHluorin titration, pKa 7.2, pH 7.4 -> 5.5: 1 - 1.631 / 51.12
    assert get_synaptic_indicator("SEP-GluA2").dff_per_unit == pytest.approx(0.9681, abs=1e-4)


def test_unknown_indicator_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"iGluSnFR3, GRAB-ACh3\.0, SEP-GluA2"):
        get_synaptic_indicator("GCaMP6f")


@pytest.mark.parametrize("fps, match", [(0.0, "fps must be > 0"), (-5.0, "fps must be > 0"),
                                        (30.0, r"outside the supported range \[34.48"),
                                        (2000.0, "outside the supported range")])
def test_bad_frame_rates_are_refused(fps, match):
    with pytest.raises(ValueError, match=match):
        SynapticImagingParams("iGluSnFR3", fps=fps, noise=0.01).validate()


def test_frame_rate_range_follows_kinetics_and_photons():
    assert supported_frame_rates("iGluSnFR3") == pytest.approx((1 / 0.029, 1000.0))
    assert supported_frame_rates("GRAB-ACh3.0")[0] == pytest.approx(1 / 0.91)
    assert supported_frame_rates("SEP-GluA2")[0] == 0.0  # time-lapse imaging is allowed
    # sigma_f^2 = noise^2 fps / 30 <= 1/10 photons: at noise 0.1, fps <= 300 Hz
    assert supported_frame_rates("iGluSnFR3", 0.1)[1] == pytest.approx(300.0)
    SynapticImagingParams("SEP-GluA2", fps=0.01, noise=0.05, site="post").validate()


def test_bad_shapes_and_values_are_refused():
    spikes = SpikeEvents.of([0, 1], [0.1, 0.2])
    params = SynapticImagingParams("iGluSnFR3", fps=100.0, noise=0.0)
    with pytest.raises(ValueError, match="efficacy must have shape"):
        image_synapses(spikes, 4, 1.0, np.ones((3, 1)), params)
    with pytest.raises(ValueError, match=">= 0"):
        image_synapses(spikes, 2, 1.0, [1.0, -0.5], params)
    with pytest.raises(ValueError, match="one time per efficacy column"):
        image_synapses(spikes, 2, 1.0, np.ones((2, 2)), params, change_times=[0.0])
    with pytest.raises(ValueError, match="start at 0"):
        image_synapses(spikes, 2, 1.0, np.ones((2, 2)), params, change_times=[0.1, 0.5])
    with pytest.raises(ValueError, match="per_roi"):
        image_synapses(spikes, 3, 1.0, np.ones(3), dataclasses.replace(params, per_roi=2))
    with pytest.raises(ValueError, match="site"):
        SynapticImagingParams("iGluSnFR3", fps=100.0, site="both").validate()
    with pytest.raises(ValueError, match="neuron index"):
        image_synapses(SpikeEvents.of([5], [0.1]), 2, 1.0, np.ones(2), params)


# ------------------------------------------------------------------------------ forward model
def test_frame_means_of_one_transient_match_numerical_integration():
    """The AR(1) injections reproduce the frame means of the kernel (fine-grid quadrature)."""
    ind = get_synaptic_indicator("GRAB-ACh3.0")
    fps, s = 20.0, 0.137
    img = image_synapses(SpikeEvents.of([0], [s]), 1, 3.0, [0.5],
                         SynapticImagingParams(ind, fps=fps, noise=0.0, site="pre"))
    t = np.arange(0.0, 3.0, 1e-5) + 5e-6
    h = np.where(t >= s, np.exp(-(t - s) / ind.tau_decay) - np.exp(-(t - s) / ind.tau_rise), 0)
    peak = h.max()
    frames = 0.5 * ind.dff_per_unit * (h / peak).reshape(60, -1).mean(axis=1)
    np.testing.assert_allclose(img.clean[0], frames, atol=1e-4 * ind.dff_per_unit)
    # at 1 kHz the sampled peak is the cited amplitude times the efficacy (within 1%)
    fast = image_synapses(SpikeEvents.of([0], [s]), 1, 3.0, [1.0],
                          SynapticImagingParams(ind, fps=1000.0, noise=0.0))
    assert fast.clean.max() == pytest.approx(ind.dff_per_unit, rel=0.01)


def test_receptor_fluorescence_follows_efficacy_with_its_time_constant():
    ind = get_synaptic_indicator("SEP-GluA2")
    img = image_synapses(SpikeEvents.of([], []), 1, 40.0, [[1.0, 0.6]],
                         SynapticImagingParams(ind, fps=100.0, noise=0.0, site="post"),
                         change_times=[0.0, 10.0])
    t = img.times - 0.005  # frame centres
    at = np.interp([9.9, 10.0 + ind.tau_decay, 39.0], t, img.clean[0])
    target = ind.dff_per_unit * -0.4
    np.testing.assert_allclose(at, [0.0, target * (1 - math.exp(-1)), target], atol=2e-3)


# ------------------------------------------------------------------------------ estimation
@pytest.mark.parametrize("name, site", [("iGluSnFR3", "pre"), ("GRAB-ACh3.0", "pre"),
                                        ("SEP-GluA2", "post")])
def test_noiseless_recovery_of_a_known_change(name, site):
    """1.0 -> 0.6 is recovered within 2% for every ROI (4 synapses per ROI)."""
    ind = get_synaptic_indicator(name)
    gap = 12 * ind.tau_decay
    spikes, windows, duration = _trials(32, gap=gap)
    params = SynapticImagingParams(ind, fps=50.0, noise=0.0, site=site, per_roi=4)
    img = image_synapses(spikes, 32, duration, np.tile([1.0, 0.6], (32, 1)), params,
                         change_times=[0.0, 1.0])
    est = img.estimate(windows)
    assert est.shape == (8, 2)
    np.testing.assert_allclose(est[:, 0], 1.0)
    np.testing.assert_allclose(est[:, 1], 0.6, rtol=0.02)


@pytest.mark.parametrize("name, site", [("iGluSnFR3", "post"), ("SEP-GluA2", "pre")])
def test_indicator_blind_to_the_other_site_shows_no_change(name, site):
    ind = get_synaptic_indicator(name)
    spikes, windows, duration = _trials(8, gap=12 * ind.tau_decay)
    img = image_synapses(spikes, 8, duration, np.tile([1.0, 0.6], (8, 1)),
                         SynapticImagingParams(ind, fps=50.0, noise=0.0, site=site),
                         change_times=[0.0, 1.0])
    np.testing.assert_allclose(img.estimate(windows)[:, 1], 1.0, atol=1e-9)


def test_window_means_and_estimator_errors():
    ind = get_synaptic_indicator("iGluSnFR3")
    spikes, windows, duration = _trials(2)
    img = image_synapses(spikes, 2, duration, np.ones(2), SynapticImagingParams(ind, 100.0, 0))
    shown = window_means(img.dff, windows, 100.0)
    assert shown.shape == (2, 2) and (shown > 0).all()  # what the indicator shows per trial
    with pytest.raises(ValueError, match="regressor"):
        estimate_efficacy(img.dff, windows, fps=100.0, indicator=ind)
    with pytest.raises(ValueError, match="holds no whole frame"):
        estimate_efficacy(img.dff, [(0.0, 0.005)], fps=100.0, indicator=ind,
                          regressor=img.regressor)


def test_noise_is_seeded_and_scales_with_sqrt_fps():
    ind = get_synaptic_indicator("SEP-GluA2")

    def run(seed, fps=100.0):
        return image_synapses(SpikeEvents.of([], []), 200, 20.0, np.ones(200),
                              SynapticImagingParams(ind, fps, 0.02, "post"), seed=seed).dff

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))
    # flat traces: sd per frame = 0.02 * sqrt(fps / 30) (4e5 samples: sd known to 0.2%)
    assert run(3).std() == pytest.approx(0.02 * math.sqrt(100 / 30), rel=0.01)
    assert run(3, fps=10.0).std() == pytest.approx(0.02 * math.sqrt(10 / 30), rel=0.02)


# ------------------------------------------------------------------------- recovery error
def test_recovery_error_grows_with_noise_and_shrinks_with_rois():
    """sd is linear in the noise at high SNR, and the ROI-mean sd falls as 1/sqrt(n_rois).

    200 draws give each sd to ~5%, so ratios are asserted within about +-20%.
    """
    kw = dict(fps=100.0, change=0.6, rate=10.0, n_draws=200, seed=5)
    low = recovery_error("iGluSnFR3", noise=0.02, n_rois=16, **kw)
    high = recovery_error("iGluSnFR3", noise=0.08, n_rois=16, **kw)
    assert 3.2 < high.sd_roi / low.sd_roi < 4.8
    assert abs(low.bias) < 0.02 and low.frame_noise == pytest.approx(0.02 * math.sqrt(100 / 30))
    few = recovery_error("iGluSnFR3", noise=0.08, n_rois=4, **kw)
    many = recovery_error("iGluSnFR3", noise=0.08, n_rois=64, **kw)
    assert 3.2 < few.sd_mean / many.sd_mean < 4.8  # sqrt(64 / 4) = 4
    # per-ROI error does not depend on how many ROIs are imaged
    assert many.sd_roi == pytest.approx(few.sd_roi, rel=0.2)


def test_recovery_error_is_reproducible_and_zero_without_noise():
    kw = dict(fps=10.0, noise=0.05, n_rois=8, n_draws=50)
    a = recovery_error("SEP-GluA2", seed=2, **kw)
    assert a == recovery_error("SEP-GluA2", seed=2, **kw)
    assert a != recovery_error("SEP-GluA2", seed=3, **kw)
    quiet = recovery_error("SEP-GluA2", fps=10.0, noise=0.0, n_rois=4, n_draws=2)
    assert quiet.sd_roi == 0.0 and quiet.bias == pytest.approx(0.0, abs=1e-3)
    blind = recovery_error("GRAB-ACh3.0", fps=5.0, noise=0.0, n_rois=4, n_draws=2, site="post")
    assert blind.bias == pytest.approx(0.4, abs=1e-9)  # estimate 1, truth 0.6


def test_pooling_rois_before_the_ratio_tames_single_spike_noise():
    """40 boutons, one spike each per 10-s window, release halved from the second window,
    30 noise draws: the mean of per-ROI ratios scatters (a baseline amplitude near 0 makes a
    huge ratio), the pooled level recovers 0.5 closely."""
    from analysis.synaptic_imaging import pooled_efficacy

    n = 40
    times = np.concatenate([np.full(n, 1.0), np.full(n, 11.0)])
    spikes = SpikeEvents.of(np.tile(np.arange(n), 2), times)
    efficacy = np.tile([[1.0, 0.5]], (n, 1))
    params = SynapticImagingParams(indicator="GRAB-ACh3.0", fps=10.0, noise=0.2, site="pre")
    windows = [(0.0, 10.0), (10.0, 20.0)]
    ratios, pooled = [], []
    for seed in range(30):
        images = image_synapses(spikes, n, 20.0, efficacy, params, change_times=[0.0, 10.0],
                                seed=seed)
        ratios.append(np.mean(images.estimate(windows)[:, 1]))
        pooled.append(pooled_efficacy(*images.levels(windows))[1])
    assert np.mean(pooled) == pytest.approx(0.5, abs=0.05)
    assert np.std(pooled) < 0.1
    assert np.std(ratios) > 2 * np.std(pooled)
