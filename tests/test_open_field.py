"""Open-field trajectories on a hexagonal lattice; grid scale and place fields of rate maps."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.fields import grid_scale, place_fields
from mapping.open_field import arena_world, check_trajectory, forage, walk_on_lattice

BIN = 0.025


def _grid_map(spacing: float, orientation_deg: float) -> np.ndarray:
    """A rectified sum of three plane waves: fields on a triangular lattice."""
    x = (np.arange(40) + 0.5) * BIN
    X, Y = np.meshgrid(x, x)
    total = 0.0
    for k in range(3):
        # wave vectors 30 degrees off the lattice directions
        a = np.radians(orientation_deg - 30 + 60 * k)
        norm = 4 * np.pi / (np.sqrt(3) * spacing)
        total = total + np.cos(norm * (np.cos(a) * X + np.sin(a) * Y))
    return np.maximum(total, 0)


@pytest.mark.parametrize("spacing, orientation", [(0.3, 10.0), (0.42, 25.0)])
def test_grid_scale_reads_spacing_and_orientation_off_the_autocorrelogram(spacing,
                                                                         orientation):
    scale = grid_scale(_grid_map(spacing, orientation), bin_size=BIN)
    assert scale.spacing == pytest.approx(spacing, abs=BIN)
    assert scale.orientation == pytest.approx(orientation, abs=5)


def test_grid_scale_of_a_single_field_is_nan():
    x = (np.arange(40) + 0.5) * BIN
    X, Y = np.meshgrid(x, x)
    scale = grid_scale(np.exp(-((X - 0.5) ** 2 + (Y - 0.5) ** 2) / 0.02), bin_size=BIN)
    assert np.isnan(scale.spacing)


def test_place_fields_are_connected_bins_above_a_fifth_of_the_peak():
    x = (np.arange(40) + 0.5) * BIN
    X, Y = np.meshgrid(x, x)
    sigma = 0.05
    one = np.exp(-((X - 0.3) ** 2 + (Y - 0.3) ** 2) / (2 * sigma**2))
    two = one + 0.8 * np.exp(-((X - 0.8) ** 2 + (Y - 0.7) ** 2) / (2 * sigma**2))
    fields = place_fields(one, bin_size=BIN)
    # a Gaussian is above 20% of its peak within 1.79 sigma: pi (1.79 sigma)^2 = 252 cm^2
    assert fields.count == 1
    assert fields.areas[0] == pytest.approx(np.pi * (1.794 * sigma) ** 2, rel=0.15)
    assert place_fields(two, bin_size=BIN).count == 2
    assert place_fields(np.zeros((40, 40))).count == 0
    with pytest.raises(ValueError, match="threshold"):
        place_fields(one, threshold=1.5)


def test_a_trajectory_outside_the_arena_is_one_clear_error():
    inside = np.array([[0.1, 0.2], [0.5, 0.5]])
    np.testing.assert_array_equal(check_trajectory(inside, 1.0), inside)
    with pytest.raises(ValueError, match=r"sample 1 at \(1\.2, 0\.5\) m lies outside the 1 m "
                                         r"square arena"):
        check_trajectory(np.array([[0.1, 0.2], [1.2, 0.5], [0.3, 0.3]]), 1.0)
    with pytest.raises(ValueError, match="outside the circular arena of 1 m diameter"):
        check_trajectory(np.array([[0.5, 0.5], [0.05, 0.05]]), 1.0, "circle")
    with pytest.raises(ValueError, match=r"must be a \(T, 2\) array"):
        check_trajectory(np.zeros((5, 3)), 1.0)
    with pytest.raises(ValueError, match="sample 1 is not a finite position"):
        check_trajectory(np.array([[0.1, 0.1], [np.nan, 0.1]]), 1.0)


def test_foraging_stays_in_the_arena_follows_its_seed_and_spares_numpys_generator():
    np.random.seed(123)  # noqa: NPY002
    before = np.random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    a = forage(5.0, seed=1)
    after = np.random.random()  # noqa: NPY002
    assert after == before  # the global generator is as it was
    np.testing.assert_array_equal(a, forage(5.0, seed=1))
    assert not np.array_equal(a, forage(5.0, seed=2))
    assert a.shape == (100, 2) and (a >= 0).all() and (a <= 1).all()
    circle = forage(5.0, shape="circle", seed=1)
    assert (np.linalg.norm(circle - 0.5, axis=1) <= 0.5 + 1e-9).all()


def test_a_trajectory_becomes_a_walk_of_neighbouring_nodes():
    world, nodes = arena_world(1.0, 0.1, seed=0)
    assert nodes.max(0)[0] >= 1.0 - 0.1 and nodes.max(0)[1] >= 1.0 - 0.1
    # a straight run along x at y = 0, sampled finely, then a jump across the arena
    line = np.c_[np.linspace(0.0, 0.5, 51), np.zeros(51)]
    positions = np.vstack([line, [[0.5, 0.5]]])
    lattice = walk_on_lattice(positions, world, nodes)
    walk = lattice.walk
    assert walk.nodes[0] == 0 and np.all(np.diff(lattice.step_of_sample) >= 0)
    for a, b, action in zip(walk.nodes[:-1], walk.nodes[1:], walk.actions, strict=True):
        assert world.transitions[a, action] == b  # every step follows an edge
    assert lattice.step_of_sample[50] == 5  # 0.5 m east: five steps of 0.1 m
    assert lattice.filled > 0  # the jump was filled in along the lattice
    np.testing.assert_array_equal(walk.observations, world.observations[walk.nodes])


def test_open_field_command_writes_maps_and_refuses_a_trajectory_outside_the_arena(
        tmp_path, capsys):
    import json

    from analysis.nwb import read_spikes
    from mapping.cli import main

    out = tmp_path / "run"
    code = main(["open-field", "--out", str(out), "--quiet", "--duration", "45",
                 "--set", "shuffles=2", "--set", "backend=numpy"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mec_cells"] == 74 and metrics["walk_steps"] > 50
    assert metrics["path_integration_accuracy"] == 1.0
    for key in ("mec_gridness_fraction", "mec_gridness_shuffled_fraction",
                "module_0_spacing_cm", "memory_spatial_information_median"):
        assert key in metrics
    rows = (out / "grid_cells.csv").read_text().splitlines()
    assert len(rows) == 75 and rows[0].startswith("cell,module,gridness")
    assert {"MEC", "HPC", "LEC"} <= set(read_spikes(out / "spikes.nwb"))
    for name in ("trajectory", "grid_cells", "gridness", "place_fields"):
        assert (out / "figures" / f"{name}.png").is_file(), name

    bad = tmp_path / "bad.npy"
    np.save(bad, np.array([[0.5, 0.5], [0.6, 0.5], [1.25, 0.5]]))
    code = main(["open-field", "--out", str(tmp_path / "bad"), "--trajectory", str(bad)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("trajectory: sample 2 at (1.25, 0.5) m lies outside the 1 m "
                            "square arena [0, 1] x [0, 1]"), err
