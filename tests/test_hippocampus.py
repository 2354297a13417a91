"""Spiking entorhinal-hippocampal loop (spiking TEM-t): path integration, attention, errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from circuits.hippocampus.loop import prepare_inputs, run_walk
from circuits.hippocampus.params import HippocampusParams, LoopTiming, MECParams, MemoryParams
from mapping.hippocampus_vs_tem_t import compare_with_attention, stored_symbols
from models.worlds import Walk, parse_world, random_walk, square_world, visited_before

STEPS = 60


@pytest.fixture(scope="module")
def walk_run():
    """One short walk on a 4x4 world (no drift), shared by the tests below."""
    world = square_world(4, 4, seed=3)
    walk = random_walk(world, STEPS, repeat_bias=0.25, seed=4)
    params = HippocampusParams(memory=MemoryParams(n=STEPS + 1))
    return world, walk, run_walk(params, world, walk, seed=5)


def test_path_integration_is_exact_without_drift(walk_run):
    _world, _walk, out = walk_run
    np.testing.assert_array_equal(out.decoded_phase, out.inputs.true_phases)
    np.testing.assert_array_equal(out.hold_phase, out.inputs.true_phases)


def test_memories_store_the_observations_they_were_recruited_for(walk_run):
    _world, walk, out = walk_run
    np.testing.assert_array_equal(stored_symbols(out)[: STEPS + 1], walk.observations)


def test_predictions_are_right_at_visited_nodes(walk_run):
    _world, walk, out = walk_run
    visited = np.r_[False, visited_before(walk)]  # (T+1,): step 0 is never a revisit
    assert visited.sum() > 20
    accuracy = np.mean(out.predicted[visited] == walk.observations[visited])
    assert accuracy >= 0.95, accuracy


def test_memory_spikes_follow_softmax_attention(walk_run):
    _world, _walk, out = walk_run
    comparison = compare_with_attention(out)
    set_beta = out.params.memory.beta
    assert abs(comparison.beta - set_beta) < 0.3 * set_beta, comparison.beta
    assert np.nanmean(comparison.spearman) >= 0.8
    assert comparison.agreement_fraction >= 0.9


def test_drift_without_closure_integrates_the_wrong_actions():
    world = square_world(4, 4, seed=3)
    walk = random_walk(world, 15, seed=6)  # 15 drifted module actions in this walk
    params = HippocampusParams(mec=MECParams(drift=0.2, loop_closure=False),
                               memory=MemoryParams(n=16))
    inputs = prepare_inputs(params, world, walk, seed=1)
    assert (inputs.module_actions != walk.actions[:, None]).any()
    out = run_walk(params, world, walk, seed=1)
    # the spiking path integrator follows the (drifted) actions it receives, exactly
    np.testing.assert_array_equal(out.decoded_phase, inputs.integrated_phases)
    assert (out.decoded_phase != inputs.true_phases).any()


def test_unknown_world_is_one_clear_error():
    with pytest.raises(ValueError, match="world"):
        parse_world("torus:4x4")


def test_action_the_world_lacks_is_one_clear_error():
    world = square_world(3, 3, seed=0)
    walk = random_walk(world, 5, seed=0)
    bad = Walk(nodes=walk.nodes, actions=np.where(np.arange(5) == 2, 9, walk.actions),
               observations=walk.observations)
    with pytest.raises(ValueError, match="walk: action 9 is not one of"):
        prepare_inputs(HippocampusParams(memory=MemoryParams(n=10)), world, bad, seed=0)
    # an action the world has, but not at this node (walking off the edge)
    corner = Walk(nodes=np.array([0, 0]), actions=np.array([world.action_names.index("west")]),
                  observations=world.observations[[0, 0]])
    with pytest.raises(ValueError, match="is not available at node 0"):
        prepare_inputs(HippocampusParams(memory=MemoryParams(n=10)), world, corner, seed=0)


def test_more_steps_than_memory_neurons_needs_a_recycling_policy():
    world = square_world(3, 3, seed=0)
    walk = random_walk(world, 20, seed=0)
    with pytest.raises(ValueError, match=r"memory.n \(10\) is smaller than the walk's 21 steps"):
        prepare_inputs(HippocampusParams(memory=MemoryParams(n=10)), world, walk, seed=0)
    inputs = prepare_inputs(HippocampusParams(memory=MemoryParams(n=10, recycle=True)), world,
                            walk, seed=0)
    np.testing.assert_array_equal(inputs.memory_slot, np.arange(21) % 10)


@pytest.mark.parametrize("field, value, message", [
    ("mec", MECParams(spacings=(1, 3)), "mec.spacings"),
    ("mec", MECParams(drift=1.5), "mec.drift"),
    ("memory", MemoryParams(beta=-1.0), "memory.beta"),
    ("timing", LoopTiming(hold=LoopTiming().action), "timing"),
    ("backend", "gpu", "backend"),
])
def test_bad_parameters_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        replace(HippocampusParams(), **{field: value}).validate()


def test_hippocampus_command_writes_the_run_directory(tmp_path):
    import json

    from analysis.nwb import read_spikes
    from mapping.cli import main

    out = tmp_path / "run"
    code = main(["hippocampus", "--out", str(out), "--quiet", "--world", "square:4x4",
                 "--steps", "24", "--set", "drift_steps=16", "--set", "remap_steps=12",
                 "--set", "drift=0.05"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world"] == "square:4x4" and metrics["steps"] == 24
    assert metrics["path_integration_accuracy"] == 1.0
    for key in ("weight_spearman_vs_softmax", "agreement_vs_attention", "accuracy_visited",
                "mec_gridness_fraction", "memory_spatial_information_median",
                "memory_remapping_mean_r", "position_error_with_closure",
                "position_error_without_closure"):
        assert np.isfinite(metrics[key]), key
    spikes = read_spikes(out / "spikes.nwb")
    assert {"MEC", "HPC", "LEC"} <= set(spikes)
    for name in ("prediction_curve", "mec_rate_maps", "memory_place_fields", "drift",
                 "attention"):
        assert (out / "figures" / f"{name}.png").is_file(), name


def test_hippocampus_command_refuses_an_unknown_world(tmp_path, capsys):
    from mapping.cli import main

    code = main(["hippocampus", "--out", str(tmp_path / "x"), "--world", "torus:3x3"])
    assert code == 2
    assert "world" in capsys.readouterr().err


def test_loop_closure_corrects_drift():
    """With drift in path integration, recall of the memories of a revisited node pulls the
    MEC phase back onto the map; without closure the errors accumulate."""
    from mapping.experiments.hippocampus import _map_error

    world = square_world(4, 4, seed=2)
    walk = random_walk(world, 40, repeat_bias=0.25, seed=8)
    errors = {}
    for closure in (True, False):
        params = HippocampusParams(mec=MECParams(drift=0.02, loop_closure=closure),
                                   memory=MemoryParams(n=41))
        out = run_walk(params, world, walk, seed=2)
        errors[closure] = _map_error(out).mean()
    assert errors[False] > 0.3, errors  # the drift is real
    # measured 0.0 vs 0.67 (40 steps; 0.045 vs 0.68 over 80 steps)
    assert errors[True] < 0.25 * errors[False], errors


def test_hexagonal_world_runs_with_the_default_timing():
    """The spacing-6 module of a hexagonal world has 36 phases: the arbiter's staggered
    delays must still settle before the action (default timing)."""
    world = parse_world("hex:5x5", seed=1)
    walk = random_walk(world, 25, seed=2)
    out = run_walk(HippocampusParams(memory=MemoryParams(n=26)), world, walk, seed=3)
    assert max(out.inputs.modules.sizes) == 36
    np.testing.assert_array_equal(out.decoded_phase, out.inputs.true_phases)


def test_walk_bench_runs_small():
    """bench/hippocampus_walk.py end to end (numpy runtime and abstract TEM-t parts; the
    cpp_standalone part compiles C++ and is left to the bench itself)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "bench" / "hippocampus_walk.py"
    proc = subprocess.run([sys.executable, str(script), "--steps", "16", "--small-steps", "8",
                           "--memory", "17", "--parts", "runtime,tem-t"],
                          capture_output=True, text=True, check=True, timeout=300)
    results = [json.loads(line.strip()) for line in proc.stdout.splitlines()
               if line.strip().startswith("{")]
    assert [r["steps"] for r in results] == [8, 16]
    runtime, tem_t = results
    assert runtime["path_integration_accuracy"] == 1.0 and runtime["run_s"] > 0
    assert tem_t["run_s"] > 0 and 0 <= tem_t["accuracy_visited"] <= 1
    assert "spiking loop, numpy runtime" in proc.stdout
    assert "abstract TEM-t" in proc.stdout
