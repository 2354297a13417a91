"""The plasticity window as an imaging experiment recovers it (mapping.window_imaging)."""

from __future__ import annotations

import numpy as np
import pytest
from brian2 import ms

from circuits.cerebellum.derived import window_kernel
from mapping.cli import main
from mapping.window_imaging import WindowImaging, binned_window, recover_window

#: the circuit's window (ltp 0.125, ltd 0.25, peak 100 ms, 5 stages), analytic
INTERVALS = np.arange(-100, 401, 5) * 1e-3
CHANGE = 0.125 - 0.25 * window_kernel(INTERVALS, 100 * ms, 5)


def test_binned_window_means_each_bin_and_leaves_empty_bins_nan():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    out = binned_window(np.array([0.2, 0.8, 2.5, 5.0]), np.array([1.0, 3.0, 4.0, 9.0]), edges)
    assert out[0] == 2.0 and np.isnan(out[1]) and out[2] == 4.0


def test_a_fast_clean_rig_recovers_the_window():
    got = recover_window(INTERVALS, CHANGE, 60.0, 0.5, seed=1, dt=1e-4)
    assert got.ok
    assert got.true_peak == pytest.approx(0.1, abs=0.005)
    assert got.peak_error < 0.02 and got.correlation > 0.95
    assert got.timing_error < 0.015  # the median interval error is under a frame


def test_slow_frames_quantise_the_intervals_and_noise_hides_the_window():
    slow = recover_window(INTERVALS, CHANGE, 7.5, 0.5, seed=1, dt=1e-4)
    # intervals are imaged in whole frames (133 ms apart): the peak falls on one of them
    assert not slow.ok and slow.peak_error > 0.02
    # 500 ms of intervals hold 4 multiples of 133 ms: at most 4 of the 26 bins get a value
    assert np.isfinite(slow.recovered).sum() <= 4 < np.isfinite(slow.true).sum()
    clean = recover_window(INTERVALS, CHANGE, 30.0, 0.5, seed=2, dt=1e-4)
    noisy = recover_window(INTERVALS, CHANGE, 30.0, 4.0, seed=2, dt=1e-4)
    assert noisy.correlation < clean.correlation - 0.1 and not noisy.ok
    assert noisy.mistimed > clean.mistimed + 0.3


@pytest.mark.parametrize(("change", "message"), [
    ({"repeats": 0}, "repeats"),
    ({"indicator": "GCaMP99"}, "GCaMP99"),
    ({"synaptic_fps": 5000.0}, "fps"),
    ({"cf_event": 0.0}, "cf_event"),
    ({"min_correlation": 2.0}, "min_correlation"),
])
def test_bad_window_imaging_is_one_clear_error(change, message):
    with pytest.raises(ValueError, match=message):
        WindowImaging(**change).validate()


def test_too_fast_a_frame_rate_is_refused(tmp_path, capsys):
    assert main(["figures", "window-imaging", "--out", str(tmp_path / "w"), "--quiet",
                 "--set", "fps=[30, 20000]"]) == 2
    err = capsys.readouterr().err
    assert "20000 Hz" in err and err.count("\n") == 1
