"""Granule cells imaged as a rig would: detected sets against the true ones (no Brian2)."""

from __future__ import annotations

import numpy as np
import pytest

from circuits.spikes import SpikeTrains
from mapping.imaged import Imaging, detection_threshold, image_granule, spaced
from mapping.protocols import ProtocolRun

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # OASIS's short-trace welch


def synthetic_run(n: int = 400, level: float = 0.05, probes: int = 8, slot: float = 0.4,
                  seed: int = 0) -> tuple[ProtocolRun, list[set[int]]]:
    """Two cues in turn; probes 4.. replace half of each cue's cells (overlap 1/3)."""
    rng = np.random.default_rng(seed)
    size = int(level * n)
    cells = {0: rng.choice(n, size, replace=False), 1: rng.choice(n, size, replace=False)}
    rows, windows, idx, times, truth = [], [], [], [], []
    t = 0.5
    for p in range(probes):
        cue = p % 2
        keep = cells[cue] if p < 4 else np.concatenate(
            [cells[cue][: size // 2], rng.choice(np.setdiff1d(np.arange(n), cells[cue]),
                                                 size - size // 2, replace=False)])
        truth.append(set(keep.tolist()))
        for c in keep:
            k = int(rng.integers(1, 3))
            idx += [int(c)] * k
            times += list(t + 0.01 + 0.03 * rng.random(k))
        rows.append({"index": p, "phase": "baseline" if p < 2 else "acquisition",
                     "trial": 0, "cue": cue, "distance": 0})
        windows.append((t, t + slot))
        t += slot
    order = np.argsort(times)
    spikes = {"granule": SpikeTrains(np.array(idx)[order], np.array(times)[order], n,
                                     "granule")}
    return ProtocolRun(rows, spikes, t, np.array(windows)), truth


def _true(truth: list[set[int]]) -> tuple[np.ndarray, np.ndarray]:
    level = np.array([len(s) for s in truth]) / 400
    overlap = np.array([len(s & truth[p % 2]) / len(s | truth[p % 2])
                        for p, s in enumerate(truth)])
    return level, overlap


def _headline(rows, cells=400, field=0, draw=0):
    sel = sorted((r for r in rows if r["cells"] == cells and r["field"] == field
                  and r["draw"] == draw), key=lambda r: r["index"])
    return (np.array([r["imaged_coding_level"] for r in sel]),
            np.array([r["imaged_overlap"] for r in sel]))


def test_clean_imaging_recovers_the_true_sets():
    run, truth = synthetic_run()
    level, overlap = _headline(image_granule(run, Imaging(noise_level=0.2, cells=(100, 400)),
                                             seed=1))
    true_level, true_overlap = _true(truth)
    assert np.abs(level - true_level).max() <= 0.03  # false positives: about 2% of cells
    # identical sets stay far above the half-replaced ones (true 1 and 1/3; the false
    # positives of both probes lower the first)
    assert overlap[2:4].min() >= 0.7
    assert np.abs(overlap[4:] - true_overlap[4:]).max() <= 0.12


def test_noise_degrades_the_imaged_overlap():
    run, truth = synthetic_run()
    _, true_overlap = _true(truth)

    def error(nu):
        rows = image_granule(run, Imaging(noise_level=nu, cells=(400,), fields=2), seed=2)
        return np.nanmean([np.abs(_headline(rows, field=f, draw=d)[1] - true_overlap)
                           for f in (0, 1) for d in (0, 1)])

    assert error(2.0) > error(0.2) + 0.1


def test_rows_cover_every_size_field_and_draw_and_are_seeded():
    run, _ = synthetic_run(probes=4)
    imaging = Imaging(noise_level=1.0, cells=(50, 200), fields=2, iti=2.0)
    rows = image_granule(run, imaging, seed=3)
    assert len(rows) == 2 * 2 * 2 * 4
    assert {(r["cells"], r["field"], r["draw"]) for r in rows} == {
        (c, f, d) for c in (50, 200) for f in (0, 1) for d in (0, 1)}
    again = image_granule(run, imaging, seed=3)
    assert [r["imaged_coding_level"] for r in rows] == [r["imaged_coding_level"] for r in again]
    other = image_granule(run, imaging, seed=4)
    assert [r["imaged_coding_level"] for r in rows] != [r["imaged_coding_level"] for r in other]


def test_spacing_moves_each_slot_with_its_spikes_and_window():
    run, _ = synthetic_run(probes=4, slot=0.4)
    assert spaced(run, 0.0) is run
    far = spaced(run, 3.0)
    # 3 s of baseline before the first presentation, then one every 3 s
    assert np.allclose(far.slots[:, 0], 3.0 + 3.0 * np.arange(4))
    assert np.allclose(far.windows, far.slots)
    assert far.duration == pytest.approx(3.0 + 9.0 + 0.4)
    before, after = run.spikes["granule"], far.spikes["granule"]
    k = np.clip(np.floor((before.times - 0.5) / 0.4).astype(int), 0, None)
    order = np.argsort(before.times + 2.5 + 2.6 * k, kind="stable")
    assert np.allclose(after.times, (before.times + 2.5 + 2.6 * k)[order])
    assert np.array_equal(after.indices, before.indices[order])
    # a slot longer than the spacing keeps its length
    long = spaced(run, 0.1)
    assert np.allclose(long.slots, run.slots)


def test_threshold_controls_false_positives_on_silent_cells():
    theta = detection_threshold("GCaMP6f", 30.0, 2.0, 0.4)
    assert theta >= 0.5
    assert detection_threshold("GCaMP6f", 30.0, 0.2, 0.4) <= theta
    looser = detection_threshold("GCaMP6f", 30.0, 2.0, 0.4, false_positive=0.2)
    assert looser <= theta


@pytest.mark.parametrize("change, match", [
    ({"indicator": "GCaMP99"}, "indicator"),
    ({"fps": 0.0}, "fps"),
    ({"noise_level": -1.0}, "noise_level"),
    ({"cells": ()}, "at least one"),
    ({"cells": (200, 100)}, "increase"),
    ({"cells": (100, 500)}, "exceeds"),
    ({"fields": 1}, "fields"),
    ({"false_positive": 0.0}, "false_positive"),
    ({"iti": -1.0}, "iti"),
])
def test_bad_imaging_is_refused(change, match):
    with pytest.raises(ValueError, match=match):
        Imaging(**change).validate(400)
