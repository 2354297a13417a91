"""NWB spike files: round trip, population column, atomic replacement."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.nwb import read_spikes, write_spikes


def test_round_trip_keeps_every_spike(tmp_path):
    rng = np.random.default_rng(0)
    populations = {
        "GrC": (rng.integers(0, 500, 3000), np.sort(rng.random(3000) * 5), 500),
        "PC": (np.array([3, 1, 3]), np.array([0.3, 0.1, 0.2]), 8),
        "DCN": (np.array([], dtype=int), np.array([]), 8),
    }
    path = write_spikes(tmp_path / "spikes.nwb", populations, session_description="test")
    back = read_spikes(path)
    assert set(back) == set(populations)
    for name, (indices, times, size) in populations.items():
        got_i, got_t, got_size = back[name]
        assert got_size == size
        want = sorted(zip(indices.tolist(), times.tolist(), strict=True))
        got = sorted(zip(got_i.tolist(), got_t.tolist(), strict=True))
        assert got == want  # spike times are stored exactly (float64)


def test_population_column_is_in_the_units_table(tmp_path):
    from pynwb import NWBHDF5IO

    path = write_spikes(tmp_path / "s.nwb", {"MF": (np.array([0, 1]), np.array([0.1, 0.2]), 4)},
                        session_description="test")
    with NWBHDF5IO(str(path), "r") as io:
        units = io.read().units
        assert list(units["population"][:]) == ["MF", "MF"]
        assert list(units["population_index"][:]) == [0, 1]


def test_bad_indices_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"populations\['PC'\]: neuron index outside 0..3"):
        write_spikes(tmp_path / "s.nwb", {"PC": (np.array([4]), np.array([0.1]), 4)},
                     session_description="test")
    assert not (tmp_path / "s.nwb").exists()
    with pytest.raises(FileNotFoundError, match="NWB file not found"):
        read_spikes(tmp_path / "missing.nwb")
