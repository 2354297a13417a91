"""Analytic grid modules: exact path integration, unique codes, near-triangular periods."""

from __future__ import annotations

import numpy as np
import pytest

from models.grid_codes import lattice_coordinates, make_grid_modules, period_lattice
from models.worlds import hexagonal_world, line_world, random_walk, square_world


@pytest.mark.parametrize("world", [square_world(8, 8, seed=0), hexagonal_world(7, 7, seed=0)],
                         ids=["square", "hexagonal"])
def test_integration_equals_the_phase_of_every_node_on_a_walk(world):
    modules = make_grid_modules(world, (3, 4, 5))
    walk = random_walk(world, 400, seed=1)
    phases = modules.integrate(modules.node_phase[walk.nodes[0]], walk.actions)
    np.testing.assert_array_equal(phases, modules.node_phase[walk.nodes])


def test_every_node_of_an_8x8_world_has_a_unique_code():
    modules = make_grid_modules(square_world(8, 8, seed=0), (3, 4, 5, 6))
    codes = {tuple(p) for p in modules.node_phase}
    assert len(codes) == 64
    one_hot = modules.code(modules.node_phase)
    assert one_hot.shape == (64, modules.n_cells)
    np.testing.assert_array_equal(one_hot.sum(1), modules.n_modules)


def test_a_cell_fires_on_a_lattice_of_its_spacing():
    world = square_world(12, 12, seed=0)
    modules = make_grid_modules(world, (4,))
    assert modules.sizes == (4 * 3,)  # |det [[4, 2], [0, 3]]|
    coords = lattice_coordinates(world)
    field = coords[modules.node_phase[:, 0] == 0]
    # the nearest other fields of a cell are one spacing away (a near-triangular lattice)
    d = np.linalg.norm(field[:, None] - field[None], axis=-1)
    nearest = np.sort(d, axis=1)[:, 1]
    assert np.all((nearest >= 3.5) & (nearest <= 4.5))


def test_hexagonal_period_is_exactly_triangular():
    np.testing.assert_array_equal(period_lattice("hexagonal", 5), [[5, 0], [0, 5]])
    modules = make_grid_modules(hexagonal_world(10, 10, seed=0), (5,))
    assert modules.sizes == (25,)


def test_stay_keeps_every_phase():
    world = square_world(5, 5, seed=0)
    modules = make_grid_modules(world, (3, 4))
    stay = world.action_names.index("stay")
    for table in modules.transitions:
        np.testing.assert_array_equal(table[:, stay], np.arange(len(table)))


def test_non_lattice_world_and_bad_spacing_are_clear_errors():
    with pytest.raises(ValueError, match="world: grid modules need a square or hexagonal"):
        make_grid_modules(line_world(10, seed=0))
    with pytest.raises(ValueError, match="spacing"):
        make_grid_modules(square_world(4, 4, seed=0), (1, 3))
    with pytest.raises(ValueError, match="spacings"):
        make_grid_modules(square_world(4, 4, seed=0), ())
