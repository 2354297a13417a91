"""TEM-t with cyclic grid modules: exact shifts, learned path consistency, the spiking MEC
driven by the learned shifts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.grid_codes import (
    cyclic_modules,
    cyclic_period_lattice,
    grid_modules_from_tem_t,
    path_consistency,
    quantised_shifts,
)
from models.tem_t import TEMT, TEMTConfig
from models.tem_training import TrainConfig, load_model, named_checkpoint_path, train
from models.worlds import parse_world, random_walk, square_world

SIZES = (5, 7, 9, 11)


def cyclic_config(**kwargs) -> TEMTConfig:
    base = dict(transition="cyclic", module_sizes=SIZES, d_position=sum(SIZES),
                position_correction=False, key_projection=False, kernel_temperature=0.1,
                kernel_init_scale=0.1)
    return TEMTConfig(**{**base, **kwargs})


def test_one_hot_kernels_make_path_integration_an_exact_permutation():
    model = TEMT(cyclic_config(), seed=0)
    rng = np.random.default_rng(0)
    shifts = np.stack([rng.integers(0, P, size=model.n_actions) for P in SIZES])  # (M, A)
    with torch.no_grad():  # logits of 1e3 / tau: one-hot kernels at the chosen shifts
        logits = torch.full_like(model.transitions, -1e3)
        offsets = np.r_[0, np.cumsum(SIZES)[:-1]]
        for m, offset in enumerate(offsets):
            logits[np.arange(model.n_actions), offset + shifts[m]] = 1e3
        model.transitions.copy_(logits)
    actions = torch.as_tensor(rng.integers(0, model.n_actions, size=(3, 40)))
    with torch.no_grad():
        positions = model.path_integrate(model.initial_position(3), actions)  # (3, 40, d)
    # each module stays one-hot and its phase is the sum of the shifts (stay: 0) mod P
    moved = np.where(actions.numpy()[..., None] == 0, 0, shifts.T[actions.numpy()])
    expected = np.cumsum(moved, axis=1) % np.array(SIZES)  # (3, 40, M)
    for m, (offset, P) in enumerate(zip(offsets, SIZES, strict=True)):
        block = positions[..., offset:offset + P].numpy()
        np.testing.assert_allclose(block.max(-1), 1.0, atol=1e-6)
        np.testing.assert_array_equal(block.argmax(-1), expected[..., m])
    sizes, quantised = quantised_shifts(model)
    assert sizes == SIZES
    np.testing.assert_array_equal(quantised[:, 1:], shifts[:, 1:])  # stay is always 0
    assert float(model.kernel_entropy().detach()) < 1e-6


def test_codes_stay_distributions_with_soft_kernels():
    model = TEMT(cyclic_config(kernel_init_scale=1.0, kernel_temperature=1.0), seed=1)
    actions = torch.randint(0, model.n_actions, (2, 30), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        positions = model.path_integrate(model.initial_position(2), actions)
    for block in torch.split(positions, list(SIZES), dim=-1):
        assert float(block.min()) >= 0.0
        torch.testing.assert_close(block.sum(-1), torch.ones(2, 30))


def test_kernel_entropy_penalty_switches_on_after_its_start_step():
    model = TEMT(cyclic_config(kernel_entropy=0.1, kernel_entropy_start=100,
                               kernel_init_scale=1.0), seed=0)
    first = model.begin(torch.zeros(2, dtype=torch.long))
    actions, obs = torch.ones(2, 5, dtype=torch.long), torch.zeros(2, 5, dtype=torch.long)
    weights = {}
    for step in (0, 100, 150, 200, 400):
        model.set_progress(step)
        weights[step] = model(first, actions, obs).terms["kernel_entropy"]
    entropy = float(model.kernel_entropy().detach())
    assert 0.1 < entropy < 1.0
    assert weights[0] == weights[100] == 0.0
    assert weights[150] == pytest.approx(0.05 * entropy, rel=1e-5)  # half-way up the ramp
    assert weights[200] == weights[400] == pytest.approx(0.1 * entropy, rel=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(transition="cyclic", d_position=32), "module_sizes: transition='cyclic' needs"),
    (dict(transition="cyclic", module_sizes=(5, 7), d_position=32), "sum to 12"),
    (dict(transition="dense", module_sizes=(5, 7), d_position=12), "only used with"),
    (dict(transition="cyclic", module_sizes=(1, 31), d_position=32), "module_sizes"),
    (dict(transition="cyclic", module_sizes=(16, 16), kernel_temperature=0.0),
     "kernel_temperature"),
])
def test_bad_cyclic_configs_are_one_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TEMTConfig(**kwargs).validate()


def test_a_tiny_training_makes_the_learned_shifts_path_consistent(tmp_path):
    """Shifts start random (inconsistent: S does not undo N); 400 optimiser steps on small
    worlds without landmark correction make them consistent on a larger, unseen world.
    Measured: consistency on 6x6 0.50 before, 1.00 after for seeds 0-3 (about 6 s). A kernel
    entropy penalty ramped in over the first 200 steps instead freezes one module
    inconsistent (0.50 after): the penalty must come after the loss has chosen the shifts."""
    from models.seeding import child_seed

    config = TrainConfig(worlds=("square:4x4", "square:5x5"), steps=400, walk_length=(60, 120),
                         tem_t=cyclic_config())
    world = square_world(6, 6, seed=0)
    initial = TEMT(config.tem_t, seed=child_seed(config.seed, "model"))  # train()'s init
    before = path_consistency(world, *quantised_shifts(initial))
    result = train(config, tmp_path / "run", progress=False)
    after = path_consistency(world, *quantised_shifts(result.model))
    assert before.consistency < 0.9, before
    assert after.consistency == 1.0, (before, after)
    assert after.unique, after
    assert result.history[-1]["accuracy_visited"] > 0.9  # memory retrieval works with them


def test_inconsistent_or_ambiguous_shifts_are_refused():
    world = square_world(5, 5, seed=0)  # actions: stay, north, east, south, west
    # S = -N, W = -E (mod 7, mod 5): module 0 counts columns, module 1 rows
    good = np.array([[0, 0, 1, 0, 6], [0, 1, 0, 4, 0]])
    modules = cyclic_modules(world, (7, 5), good)
    assert modules.source == "tem-t" and modules.sizes == (7, 5)
    walk = random_walk(world, 200, seed=1)
    np.testing.assert_array_equal(
        modules.integrate(modules.node_phase[walk.nodes[0]], walk.actions),
        modules.node_phase[walk.nodes])
    bad = good.copy()
    bad[0, 3] = 3  # south no longer undoes north in module 0
    report = path_consistency(world, (7, 5), bad)
    assert report.module_consistency[1] == 1.0 and report.consistency < 1.0
    with pytest.raises(ValueError, match=r"path consistency 0.750 .*\(module 0 of 7"):
        cyclic_modules(world, (7, 5), bad)
    with pytest.raises(ValueError, match="distinct codes"):
        cyclic_modules(world, (7, 5), np.zeros((2, 5), dtype=int))
    with pytest.raises(ValueError, match="shape"):
        cyclic_modules(world, (7, 5), good[:, :3])


def test_period_lattice_of_a_cyclic_module():
    world = square_world(6, 6, seed=0)
    # shift 1 east and 3 north modulo 7: fields where x + 3 y = 0 (mod 7)
    (basis,) = cyclic_period_lattice(world, (7,), np.array([[0, 3, 1, 4, 6]]))
    for v in basis.T:
        assert (v[0] + 3 * v[1]) % 7 == 0
    assert abs(round(np.linalg.det(basis))) == 7  # a sublattice of index P


# ----------------------------------------------------------------- the shipped checkpoint
@pytest.fixture(scope="module")
def shipped():
    path = named_checkpoint_path("cyclic", "square")
    model, _ = load_model(path, expected_type="tem-t")
    return model


@pytest.mark.parametrize("spec", ["square:8x8", "square:10x10"])
def test_shipped_checkpoint_gives_consistent_unique_codes(shipped, spec):
    world = parse_world(spec, seed=0)
    report = path_consistency(world, *quantised_shifts(shipped))
    assert report.consistency == 1.0, report
    assert report.unique, report
    modules = grid_modules_from_tem_t(shipped, world)
    assert len({tuple(p) for p in modules.node_phase}) == world.n_nodes


def test_grid_modules_need_a_cyclic_tem_t_with_the_worlds_actions(shipped):
    dense = TEMT(TEMTConfig(), seed=0)
    with pytest.raises(ValueError, match="'dense' transitions"):
        grid_modules_from_tem_t(dense, square_world(4, 4, seed=0))
    with pytest.raises(ValueError, match="7 actions"):
        grid_modules_from_tem_t(shipped, parse_world("hex:4x4", seed=0))


# --------------------------------------------------------------------- the spiking loop
def test_loop_path_integrates_exactly_with_the_learned_shifts():
    from circuits.hippocampus.loop import run_walk
    from circuits.hippocampus.params import HippocampusParams, MECParams, MemoryParams

    world = square_world(4, 4, seed=3)
    walk = random_walk(world, 24, repeat_bias=0.25, seed=4)
    params = HippocampusParams(mec=MECParams(source="tem-t"), memory=MemoryParams(n=25))
    out = run_walk(params, world, walk, seed=5)
    assert out.inputs.modules.source == "tem-t"
    assert out.inputs.modules.sizes == SIZES
    # every step's decoded MEC phase equals the checkpoint's transition of the walk
    np.testing.assert_array_equal(out.decoded_phase, out.inputs.true_phases)
    np.testing.assert_array_equal(out.hold_phase, out.inputs.true_phases)
    assert (out.decoded_phase == out.inputs.true_phases).all(1).mean() == 1.0


@pytest.mark.parametrize("mec, world, message", [
    (dict(source="tem-t", checkpoint="default"), "square:4x4", "'dense' transitions"),
    (dict(source="tem-t", checkpoint="/no/such/file.pt"), "square:4x4", "no such file"),
    (dict(source="tem-t", checkpoint="nonsense"), "square:4x4", "no such file"),
    (dict(source="tem-t"), "hex:4x4", "mec.checkpoint"),
    (dict(source="grid"), "square:4x4", "mec.source must be one of"),
])
def test_bad_mec_sources_are_one_clear_error(mec, world, message):
    from circuits.hippocampus.loop import prepare_inputs
    from circuits.hippocampus.params import HippocampusParams, MECParams, MemoryParams

    w = parse_world(world, seed=0)
    walk = random_walk(w, 5, seed=0)
    params = HippocampusParams(mec=MECParams(**mec), memory=MemoryParams(n=10))
    with pytest.raises(ValueError, match=message):
        prepare_inputs(params, w, walk, seed=0)


def test_mec_checkpoint_of_another_model_type_is_refused(tmp_path):
    from circuits.hippocampus.loop import prepare_inputs
    from circuits.hippocampus.params import HippocampusParams, MECParams, MemoryParams
    from models.tem_training import train_config_for_worlds

    config = train_config_for_worlds(model="tem", worlds=("square:3x3",), steps=1, window=5,
                                     walk_length=(5, 5), batch_size=2)
    train(config, tmp_path / "tem", progress=False)
    world = square_world(3, 3, seed=0)
    params = HippocampusParams(mec=MECParams(source="tem-t", checkpoint=str(tmp_path / "tem")),
                               memory=MemoryParams(n=10))
    with pytest.raises(ValueError, match=r"mec\.checkpoint: .*'tem' model, not a 'tem-t'"):
        prepare_inputs(params, world, random_walk(world, 5, seed=0), seed=0)


@pytest.mark.slow
def test_hippocampus_command_with_tem_t_modules(tmp_path):
    import json

    from mapping.cli import main

    out = tmp_path / "run"
    code = main(["hippocampus", "--out", str(out), "--quiet", "--world", "square:4x4",
                 "--steps", "40", "--mec-source", "tem-t", "--set", "drift_steps=0",
                 "--set", "remap_steps=0"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mec_source"] == "tem-t" and metrics["mec_module_sizes"] == "5,7,9,11"
    assert metrics["path_integration_accuracy"] == 1.0
    code = main(["hippocampus", "--out", str(tmp_path / "run2"), "--quiet", "--world",
                 "square:4x4", "--steps", "20", "--set", "mec.source=tem-t",
                 "--set", "drift_steps=0", "--set", "remap_steps=0"])
    assert code == 0
    assert json.loads((tmp_path / "run2" / "config.json").read_text())["config"]["circuit"]["mec"][
        "source"] == "tem-t"
