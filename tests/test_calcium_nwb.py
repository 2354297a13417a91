"""Synthetic calcium imaging in NWB (analysis/nwb_ophys.py, analysis/calcium_movie.py):
must-show f -- nwbinspector finds nothing critical, pynwb reopens the file, the Units
spike times equal the simulation's."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.calcium import SpikeEvents, SynthesisParams, synthesize
from analysis.calcium_movie import pixel_masks, random_layout, synthesize_movie
from analysis.nwb import read_spikes
from analysis.nwb_ophys import ImagedPopulation, read_calcium_nwb, write_calcium_nwb

#: nwbinspector importance levels that fail the check (CRITICAL and above)
FAILING = ("CRITICAL", "PYNWB_VALIDATION", "ERROR")


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Two imaged populations (one with a movie) and three spiking ones, in one file."""
    rng = np.random.default_rng(0)
    duration, n_grc, n_pc = 12.0, 40, 6
    # spike times on a 0.1-ms grid, like a Brian2 simulation
    grc_i = rng.integers(0, n_grc, 400)
    grc_t = np.round(rng.random(400) * duration / 1e-4) * 1e-4
    cf_i = rng.integers(0, n_pc, 20)
    cf_t = np.round(rng.random(20) * duration / 1e-4) * 1e-4
    pc_i = rng.integers(0, n_pc, 3000)
    pc_t = np.round(rng.random(3000) * duration / 1e-4) * 1e-4
    spikes = {"GrC": (grc_i, grc_t, n_grc), "PC": (pc_i, pc_t, n_pc), "CF": (cf_i, cf_t, n_pc),
              "DCN": (np.array([], np.int64), np.array([]), 4)}
    params = SynthesisParams(indicator="GCaMP6s")
    grc = synthesize(SpikeEvents.of(grc_i, grc_t), n_grc, duration, params, seed=1,
                     keep_clean=True, dt=1e-4)
    pc = synthesize(SpikeEvents.of(cf_i, cf_t, 4.0), n_pc, duration, params, seed=2, dt=1e-4)
    layout_grc = random_layout(n_grc, (1.5, 1.5), seed=3)
    layout_pc = random_layout(n_pc, (2.0, 20.0), um_per_pixel=2.0, seed=4)
    movie = synthesize_movie(grc, layout_grc, frames=200, seed=5)
    imaged = [
        ImagedPopulation("GrC", grc, layout_grc, np.arange(n_grc), "Cerebellar cortex",
                         "granule somata", movie=movie),
        ImagedPopulation("PC", pc, layout_pc, np.arange(n_pc), "Cerebellar cortex",
                         "Purkinje dendrites"),
    ]
    path = write_calcium_nwb(tmp_path_factory.mktemp("nwb") / "calcium.nwb", imaged, spikes,
                             session_description="test", spike_resolution=1e-4)
    return path, spikes, {"GrC": grc, "PC": pc}, movie


def test_nwbinspector_finds_nothing_critical(written):
    from nwbinspector import inspect_nwbfile

    path = written[0]
    messages = list(inspect_nwbfile(path))
    bad = [f"{m.importance.name}: {m.check_function_name}: {m.message}" for m in messages
           if m.importance.name in FAILING]
    assert not bad, "\n".join(bad)
    # no best-practice violation either (only suggestions such as a missing experimenter)
    assert all(m.importance.name == "BEST_PRACTICE_SUGGESTION" for m in messages), [
        (m.importance.name, m.check_function_name) for m in messages]


def test_units_spike_times_equal_the_simulation(written):
    path, spikes, _traces, _movie = written
    back = read_spikes(path)
    assert set(back) == set(spikes)
    for name, (indices, times, size) in spikes.items():
        got_i, got_t, got_size = back[name]
        assert got_size == size
        want = sorted(zip(indices.tolist(), times.tolist(), strict=True))
        got = sorted(zip(got_i.tolist(), got_t.tolist(), strict=True))
        assert got == want  # exact float64 equality


def test_pynwb_reopens_traces_rois_and_movie(written):
    from pynwb import NWBHDF5IO

    path, _spikes, traces, movie = written
    back = read_calcium_nwb(path)
    for name, tr in traces.items():
        np.testing.assert_array_equal(back[name]["dff"], tr.dff)
        np.testing.assert_array_equal(back[name]["fluorescence"], tr.fluorescence)
        np.testing.assert_array_equal(back[name]["neuropil"], tr.neuropil)
        assert back[name]["rate"] == tr.fps
        assert back[name]["starting_time"] == pytest.approx(1 / tr.fps)
        np.testing.assert_array_equal(back[name]["population_index"],
                                      np.arange(tr.dff.shape[0]))
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        series = nwbfile.acquisition["TwoPhotonSeries_GrC"]
        np.testing.assert_array_equal(series.data[:], movie)
        plane = nwbfile.imaging_planes["ImagingPlane_GrC"]
        assert plane.indicator == "GCaMP6s" and plane.location == "Cerebellar cortex"
        ophys = nwbfile.processing["ophys"]
        assert {"Fluorescence", "Neuropil", "DfOverF", "ImageSegmentation"} <= set(
            ophys.data_interfaces)
        seg = ophys["ImageSegmentation"].plane_segmentations["PlaneSegmentation_PC"]
        assert len(seg) == 6 and len(seg["pixel_mask"][0]) > 10
        assert nwbfile.units.resolution == pytest.approx(1e-4)


def test_movie_rois_carry_their_traces(written):
    """Photons in each ROI's footprint follow that ROI's noise-free fluorescence."""
    _path, _spikes, traces, movie = written
    grc = traces["GrC"]
    layout = random_layout(grc.dff.shape[0], (1.5, 1.5), seed=3)
    masks = pixel_masks(layout)
    frames = movie.shape[0]
    active = np.argsort(-grc.clean_dff[:, :frames].std(axis=1))[:5]
    for roi in active:
        x, y, w = masks[roi].T
        roi_trace = (movie[:, y.astype(int), x.astype(int)] * w).sum(axis=1)
        assert np.corrcoef(roi_trace, grc.clean_dff[roi, :frames])[0, 1] > 0.6
    assert movie.dtype == np.uint16 and movie.shape[1:] == layout.shape


def test_movie_needs_the_noise_free_traces():
    traces = synthesize(SpikeEvents.of([0], [1.0]), 2, 5.0, seed=0)
    with pytest.raises(ValueError, match="keep_clean=True"):
        synthesize_movie(traces, random_layout(2, seed=0))


def test_duplicate_population_names_are_refused(tmp_path, written):
    _path, _spikes, traces, _movie = written
    pop = ImagedPopulation("PC", traces["PC"], random_layout(6, seed=0), np.arange(6),
                           "Cerebellar cortex", "dendrites")
    with pytest.raises(ValueError, match="population names must be unique"):
        write_calcium_nwb(tmp_path / "x.nwb", [pop, pop], {}, session_description="t")
    assert not (tmp_path / "x.nwb").exists()
