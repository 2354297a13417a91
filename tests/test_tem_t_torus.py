"""TEM-t with toroidal grid modules (``module_rank=2``): exact 2-D shifts, triangular grids on
hexagonal worlds, module dropout, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mapping.experiments.tem import spatial_analysis
from models.grid_codes import (
    action_displacements,
    axis_shifts,
    grid_modules_from_tem_t,
    path_consistency,
    quantised_shifts,
    torus_modules,
)
from models.tem_t import TEMT, TEMTConfig, group_difference_index
from models.worlds import parse_world, random_walk

SIZES = (3, 4, 5)


def torus_config(n_actions: int = 7, **kwargs) -> TEMTConfig:
    base = dict(n_actions=n_actions, transition="cyclic", module_sizes=SIZES, module_rank=2,
                d_position=sum(P * P for P in SIZES), position_correction=False,
                key_projection=False, kernel_temperature=0.1, kernel_init_scale=0.1)
    return TEMTConfig(**{**base, **kwargs})


def set_shifts(model: TEMT, shifts: np.ndarray) -> None:
    """One-hot kernels: ``shifts`` ``(M, A, 2)`` the 2-D shift of each module and action."""
    with torch.no_grad():
        logits = torch.full_like(model.transitions, -1e3)
        offset = 0
        for m, P in enumerate(SIZES):
            flat = (shifts[m, :, 0] % P) * P + shifts[m, :, 1] % P
            logits[np.arange(model.n_actions), offset + flat] = 1e3
            offset += P * P
        model.transitions.copy_(logits)


def test_group_difference_index_is_the_difference_of_torus_phases():
    P = 4
    index = group_difference_index(P, 2).numpy()
    phases = np.array([(i, j) for i in range(P) for j in range(P)])
    for p in range(P * P):
        for q in range(P * P):
            d = (phases[p] - phases[q]) % P
            assert index[p, q] == d[0] * P + d[1]
    np.testing.assert_array_equal(group_difference_index(5, 1).numpy(),
                                  (np.arange(5)[:, None] - np.arange(5)[None, :]) % 5)


def test_one_hot_torus_kernels_add_two_dimensional_shifts():
    model = TEMT(torus_config(n_actions=5), seed=0)
    rng = np.random.default_rng(0)
    shifts = np.stack([rng.integers(0, P, size=(5, 2)) for P in SIZES])  # (M, A, 2)
    shifts[:, 0] = 0  # stay
    set_shifts(model, shifts)
    actions = rng.integers(0, 5, size=(2, 30))
    with torch.no_grad():
        positions = model.path_integrate(model.initial_position(2),
                                         torch.as_tensor(actions)).numpy()
    offset = 0
    for m, P in enumerate(SIZES):
        block = positions[..., offset:offset + P * P]
        expected = np.cumsum(shifts[m][actions], axis=1) % P  # (2, 30, 2)
        np.testing.assert_allclose(block.max(-1), 1.0, atol=1e-6)
        np.testing.assert_array_equal(block.argmax(-1), expected[..., 0] * P + expected[..., 1])
        offset += P * P
    sizes, rings = axis_shifts(model)
    assert sizes == (3, 3, 4, 4, 5, 5)
    np.testing.assert_array_equal(rings, shifts.transpose(0, 2, 1).reshape(6, 5))


def exact_lattice_model(world) -> TEMT:
    """Torus modules whose shifts are the world's lattice displacements (mod P)."""
    model = TEMT(torus_config(n_actions=world.n_actions), seed=0)
    set_shifts(model, np.stack([action_displacements(world)] * len(SIZES)))
    return model


def test_path_consistent_torus_modules_are_triangular_grids_on_hexagonal_worlds():
    """A torus module path-integrates the triangular lattice exactly, so each of its units
    fires on a triangular lattice of period P: gridness > 0.3 for every unit, far above the
    node-shuffled control; on a square world the same modules give square lattices, which
    Sargolini's score rejects (90-degree symmetry)."""
    hexagonal = parse_world("hex:10x10", seed=0)
    model = exact_lattice_model(hexagonal)
    report = path_consistency(hexagonal, *axis_shifts(model))
    assert report.consistency == 1.0 and report.unique
    metrics = spatial_analysis(model, hexagonal, analysis_worlds=2,
                               steps_per_node=10)["metrics"]
    assert metrics["position_gridness_fraction"] > 0.9
    assert metrics["position_gridness_fraction_shuffled"] < 0.4
    square = parse_world("square:10x10", seed=0)
    metrics = spatial_analysis(exact_lattice_model(square), square, analysis_worlds=2,
                               steps_per_node=10)["metrics"]
    assert metrics["position_gridness_fraction"] < 0.1


def test_module_dropout_keeps_the_score_of_the_stored_position():
    """In training the query keeps a random subset of modules (rescaled), so q . k is 1 at
    the stored position and the fraction of kept modules in phase elsewhere; in evaluation
    nothing is dropped; the draw depends only on (seed, step)."""
    model = TEMT(torus_config(n_actions=5, module_dropout=0.5), seed=0)
    keys = model.keys(torch.rand(8, 1, model.config.d_position) ** 4)
    one_hot = model.keys(model.initial_position(8)).unsqueeze(1)  # (8, 1, d)
    model.train()
    model.set_progress(3)
    q = model._queries(one_hot)
    torch.testing.assert_close((q * one_hot).sum(-1), torch.ones(8, 1))
    kept = (q.abs() > 0).reshape(8, -1)
    assert kept.any(1).all() and not kept.all()  # some modules dropped, never all
    torch.testing.assert_close(model._queries(keys), model._queries(keys))  # same step
    model.set_progress(4)
    assert not torch.equal(model._queries(one_hot), q)
    model.eval()
    assert torch.equal(model._queries(keys), keys)


@pytest.mark.parametrize("kwargs, message", [
    (dict(module_rank=3), "module_rank"),
    (dict(d_position=12), r"units \(P_m \*\* module_rank\) sum to 50"),
    (dict(transition="dense", module_sizes=(), d_position=50), "module_rank: only used with"),
    (dict(module_dropout=1.0), "module_dropout must be below 1"),
    (dict(module_dropout=0.3, key_projection=True), "module_dropout: needs cyclic modules"),
])
def test_bad_torus_configs_are_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        torus_config(**kwargs).validate()


def test_torus_grid_modules_for_the_spiking_mec_integrate_exactly():
    """grid_modules_from_tem_t turns torus modules into GridModules of P^2 cells whose
    transitions add the learned 2-D shifts; path integration reproduces every node's phase;
    quantised_shifts (one shift per module) refuses them."""
    world = parse_world("hex:6x6", seed=0)
    model = exact_lattice_model(world)
    modules = grid_modules_from_tem_t(model, world)
    assert modules.sizes == tuple(P * P for P in SIZES) and modules.source == "tem-t"
    assert len({tuple(p) for p in modules.node_phase}) == world.n_nodes
    walk = random_walk(world, 300, seed=1)
    np.testing.assert_array_equal(
        modules.integrate(modules.node_phase[walk.nodes[0]], walk.actions),
        modules.node_phase[walk.nodes])
    with pytest.raises(ValueError, match="modules are tori"):
        quantised_shifts(model)
    with pytest.raises(ValueError, match=r"expected shape \(modules, actions, 2\)"):
        torus_modules(world, SIZES, np.zeros((3, 7), dtype=int))


def test_sharpening_keeps_one_hot_codes_and_concentrates_blurred_ones():
    model = TEMT(torus_config(n_actions=5, module_sharpening=2.0, kernel_init_scale=1.0,
                              kernel_temperature=1.0), seed=0)
    one_hot = model.initial_position(2)
    torch.testing.assert_close(model._sharpen(one_hot), one_hot)
    blurred = torch.softmax(torch.randn(2, model.config.d_position,
                                        generator=torch.Generator().manual_seed(0)), -1)
    sharp = model._sharpen(blurred)
    offset = 0
    for units in model.config.module_units:
        before, after = blurred[:, offset:offset + units], sharp[:, offset:offset + units]
        torch.testing.assert_close(after.sum(-1), torch.ones(2))
        assert (after.max(-1).values > before.max(-1).values / before.sum(-1)).all()
        offset += units


def test_annealed_temperature_is_saved_and_quantised_kernels_are_exact(tmp_path):
    """kernel_temperature_final lowers tau geometrically from step s_H to 2 s_H and keeps it
    in the state dict; quantise_kernels makes the kernels one-hot at their argmax."""
    config = torus_config(n_actions=5, kernel_temperature_final=0.01, kernel_entropy_start=100,
                          kernel_init_scale=1.0)
    model = TEMT(config, seed=0)
    argmax = [k.argmax(1) for k in model.shift_kernels()]
    for step, tau in ((0, 0.1), (100, 0.1), (150, 0.1 * 0.1 ** 0.5), (200, 0.01), (900, 0.01)):
        model.set_progress(step)
        assert model.kernel_temperature == pytest.approx(tau, rel=1e-5)
    clone = TEMT(config, seed=1)
    clone.load_state_dict(model.state_dict())
    assert clone.kernel_temperature == pytest.approx(0.01, rel=1e-5)
    for before, after in zip(argmax, model.shift_kernels(), strict=True):
        torch.testing.assert_close(after.argmax(1), before)  # annealing keeps the shifts
    model.quantise_kernels()
    for before, after in zip(argmax, model.shift_kernels(), strict=True):
        torch.testing.assert_close(after, torch.nn.functional.one_hot(before, after.shape[1])
                                   .to(after.dtype))
    with pytest.raises(ValueError, match="kernel_temperature_final: only used with"):
        TEMTConfig(kernel_temperature_final=0.01).validate()


def test_export_can_quantise_a_cyclic_checkpoint_and_refuses_dense_ones(tmp_path):
    from models.tem_training import TrainConfig, export_checkpoint, load_model, train

    config = TrainConfig(worlds=("hex:4x4",), steps=3, walk_length=(30, 40),
                         tem_t=torus_config())
    train(config, tmp_path / "torus", progress=False)
    target = export_checkpoint(tmp_path / "torus", tmp_path / "q.pt", quantise=True)
    model, ckpt = load_model(target)
    assert ckpt.metadata["quantised"] is True
    assert all(float(k.detach().max(1).values.min()) == 1.0 for k in model.shift_kernels())
    dense = TrainConfig(worlds=("square:4x4",), steps=2, walk_length=(30, 40))
    train(dense, tmp_path / "dense", progress=False)
    with pytest.raises(ValueError, match="quantise: only TEM-t with cyclic modules"):
        export_checkpoint(tmp_path / "dense", tmp_path / "d.pt", quantise=True)


def assert_exact_invertible_tori(model: TEMT, world) -> None:
    """Every torus module path-consistent on ``world`` (each node its own code) and its map
    A (the shifts of the unit lattice steps) invertible mod P: triangular grid fields."""
    sizes, rings = axis_shifts(model)
    report = path_consistency(world, sizes, rings)
    assert report.consistency == 1.0 and report.unique, report
    disp = action_displacements(world)
    axes = [int(np.flatnonzero((disp == unit).all(1))[0]) for unit in ([1, 0], [0, 1])]
    for m, P in enumerate(model.config.module_sizes):
        A = rings[2 * m:2 * m + 2][:, axes]
        assert round(np.linalg.det(A)) % P != 0, (P, A)


def test_the_shipped_torus_checkpoint_has_triangular_grid_cells_on_unseen_sizes():
    """``tem_t_torus_hex.pt`` (trained on hex 4x4-9x9): its learned shifts are one-hot,
    consistent and invertible mod P on a 12x12 world it never saw, so path integration is
    exact (every node its own code) and its position units are triangular grids: gridness
    > 0.3 for most units (measured 0.81 with the CLI's protocol; node-shuffled control
    0.11)."""
    from models.tem_training import load_model, named_checkpoint_path

    assert named_checkpoint_path("torus", "hexagonal").stat().st_size < 5 * 2 ** 20
    model, ckpt = load_model("torus", world_kind="hexagonal")
    assert model.config.module_rank == 2 and "quantised" not in ckpt.metadata
    # annealed in training: the learned kernels are one-hot, path integration is exact
    assert all(float(k[1:].detach().max(1).values.min()) > 0.999 for k in model.shift_kernels())
    world = parse_world("hex:12x12", seed=0)
    assert_exact_invertible_tori(model, world)
    metrics = spatial_analysis(model, world, analysis_worlds=2, steps_per_node=10)["metrics"]
    assert metrics["position_gridness_fraction"] > 0.6
    assert (metrics["position_gridness_fraction"]
            > metrics["position_gridness_fraction_shuffled"] + 0.4)
    with pytest.raises(ValueError, match="no shipped 'torus' checkpoint for 'square' worlds"):
        load_model("torus", world_kind="square")


@pytest.mark.slow
def test_the_shipped_recipe_learns_exact_triangular_grids_from_scratch(tmp_path):
    """The training of ``tem_t_torus_hex.pt`` (its exact configuration, seed 0, about 3-4
    minutes on one thread): shifts start random and inconsistent; after 5000 steps both
    modules are path-consistent and invertible mod P on a hex 12x12 world it never saw, with
    one-hot kernels (193.7 s measured). The recipe works for seeds 0 and 1, not 2 (see
    models/checkpoints/README.md); training is seeded and deterministic on a given CPU and
    torch build."""
    from models.config import from_dict
    from models.tem_training import TrainConfig, load_checkpoint, named_checkpoint_path, train

    shipped = load_checkpoint(named_checkpoint_path("torus", "hexagonal"))
    config = from_dict(TrainConfig, shipped.train_config)
    assert config.steps == 5000 and config.seed == 0 and config.tem_t.module_sizes == (5, 7)
    world = parse_world("hex:12x12", seed=0)
    untrained = TEMT(config.tem_t, seed=0)
    assert path_consistency(world, *axis_shifts(untrained)).consistency < 0.9
    model = train(config, tmp_path / "run", progress=False).model
    assert_exact_invertible_tori(model, world)
    assert float(model.kernel_entropy().detach()) < 1e-3


def test_spiking_loop_path_integrates_exactly_with_learned_torus_modules():
    """The shipped torus checkpoint drives the spiking MEC on a hexagonal world: every
    step's decoded phase is the learned transition's (49-phase modules need a longer action
    time than the default slot, refused with one error naming timing.action)."""
    from brian2 import ms

    from circuits.hippocampus.loop import prepare_inputs, run_walk
    from circuits.hippocampus.params import (
        HippocampusParams,
        LoopTiming,
        MECParams,
        MemoryParams,
    )

    world = parse_world("hex:4x4", seed=3)
    walk = random_walk(world, 24, repeat_bias=0.25, seed=4)
    mec = MECParams(source="tem-t", checkpoint="torus")
    with pytest.raises(ValueError, match=r"timing.action must come after .*49 phases"):
        prepare_inputs(HippocampusParams(mec=mec, memory=MemoryParams(n=25)), world, walk,
                       seed=0)
    params = HippocampusParams(mec=mec, memory=MemoryParams(n=25),
                               timing=LoopTiming(step=24 * ms, action=21 * ms))
    out = run_walk(params, world, walk, seed=5)
    assert out.inputs.modules.source == "tem-t" and out.inputs.modules.sizes == (25, 49)
    np.testing.assert_array_equal(out.decoded_phase, out.inputs.true_phases)
    np.testing.assert_array_equal(out.hold_phase, out.inputs.true_phases)
