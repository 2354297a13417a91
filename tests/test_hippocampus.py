"""Spiking entorhinal-hippocampal loop (spiking TEM-t): path integration, attention, errors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from circuits.hippocampus.loop import prepare_inputs, run_walk
from circuits.hippocampus.params import HippocampusParams, LoopTiming, MECParams, MemoryParams
from mapping.hippocampus_vs_tem_t import (
    beta_along_walk,
    compare_with_attention,
    softmax_beta,
    softmax_beta_lower,
    stored_symbols,
)
from models.worlds import Walk, parse_world, random_walk, square_world, visited_before

STEPS = 60
def full_drive(out) -> float:
    """The drive u of a full match in the loop of ``out`` (u / full is the cosine)."""
    from circuits.hippocampus.network import bump_connectivity, full_similarity

    mec, modules = out.params.mec, out.inputs.modules
    pre, post, w = bump_connectivity(modules, out.inputs.world, mec.bump_peak, mec.bump_side)
    return full_similarity(modules, pre, post, w, mec.bump_peak)


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


@pytest.mark.parametrize("beta", [2.0, 12.0])
def test_softmax_beta_recovers_the_temperature_of_multinomial_counts(beta):
    rng = np.random.default_rng(0)
    similarity = [rng.uniform(0, 1, rng.integers(5, 40)) for _ in range(300)]
    counts = []
    for x in similarity:
        p = np.exp(beta * (x - x.max()))
        counts.append(rng.multinomial(20, p / p.sum()))
    estimate, se = softmax_beta(similarity, counts)
    assert abs(estimate - beta) < 3 * se, (estimate, se)
    assert se < 0.1 * beta
    assert softmax_beta_lower(similarity, counts) < beta
    # a step of equal similarities or without spikes carries no information
    assert softmax_beta([*similarity, np.ones(4)], [*counts, np.array([5, 0, 0, 0])]) == \
        (estimate, se)


def test_softmax_beta_without_spikes_off_the_best_match_is_only_a_lower_bound():
    similarity = [np.array([1.0, 0.5, 0.4])] * 10
    counts = [np.array([20, 0, 0])] * 10
    estimate, se = softmax_beta(similarity, counts)
    assert estimate == np.inf and np.isnan(se)
    lower = softmax_beta_lower(similarity, counts)
    # at the bound, 3 of the 200 spikes are expected off the best match (95%)
    w = np.exp(lower * (similarity[0] - 1.0))
    assert 200 * (1 - w[0] / w.sum()) == pytest.approx(-np.log(0.05), rel=1e-6)
    assert np.isnan(softmax_beta([np.ones(3)], [np.array([1, 2, 3])])[0])


def test_poisson_memory_neurons_sample_the_softmax_at_the_scheduled_temperature():
    """With ``beta_scale`` b the gain follows b log(1 + N) on the cosine as memories are
    stored: the beta fitted from the Poisson spikes matches it in each half of the walk
    (a fixed gain is off by a factor 1.3 between them)."""
    world = square_world(4, 4, seed=3)
    walk = random_walk(world, STEPS, repeat_bias=0.25, seed=4)
    params = HippocampusParams(memory=MemoryParams(n=STEPS + 1, spiking="poisson",
                                                   beta_scale=1.0))
    out = run_walk(params, world, walk, seed=5)
    stored = np.array([len(np.unique(out.inputs.memory_slot[:k])) for k in range(STEPS + 1)])
    target = np.log1p(stored)
    halves = beta_along_walk(out, target, block=STEPS // 2 + 1)
    assert len(halves.ratio) == 2 and (halves.spikes_off_best > 100).all()
    np.testing.assert_allclose(halves.ratio, 1.0, atol=0.1)
    # and a gain fixed at the schedule's mean fails the same test
    fixed = replace(params, memory=replace(params.memory, beta_scale=None,
                                           beta=float(target[1:].mean()) / full_drive(out)))
    off = beta_along_walk(run_walk(fixed, world, walk, seed=5), target,
                          block=STEPS // 2 + 1)
    assert off.ratio[0] / off.ratio[1] > 1.2, off.ratio  # measured 1.29


def test_poisson_memory_spikes_are_fitted_as_softmax_samples():
    """With Poisson memory neurons at a fixed gain, the beta fitted from the spikes (as
    samples, silent memories included) is the gain set; log counts would be biased."""
    world = square_world(4, 4, seed=3)
    walk = random_walk(world, STEPS, repeat_bias=0.25, seed=4)
    params = HippocampusParams(memory=MemoryParams(n=STEPS + 1, spiking="poisson"))
    comparison = compare_with_attention(run_walk(params, world, walk, seed=5))
    assert comparison.beta == pytest.approx(params.memory.beta, rel=0.1)
    assert comparison.agreement_fraction >= 0.9


def test_poisson_memory_spikes_follow_the_seed():
    world = square_world(3, 3, seed=0)
    walk = random_walk(world, 12, seed=0)
    params = HippocampusParams(memory=MemoryParams(n=13, spiking="poisson", beta=0.1))
    first, again, other = (run_walk(params, world, walk, seed=s).spikes["memory"]
                           for s in (1, 1, 2))
    np.testing.assert_array_equal(first.times, again.times)
    assert len(first.times) != len(other.times) or (first.times != other.times).any()


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
    ("memory", MemoryParams(beta_scale=0.0), "memory.beta_scale"),
    ("memory", MemoryParams(spiking="stochastic"), "memory.spiking"),
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
    # the gain follows the shipped TEM-t's b; the loop's beta is fitted along the walk
    assert metrics["temperature"] == "tem-t" and metrics["memory_spiking"] == "poisson"
    assert metrics["circuit_beta_scale"] == metrics["tem_t_beta_scale"] > 0
    rows = (out / "beta_along_walk.csv").read_text().splitlines()
    assert rows[0].split(",")[:4] == ["start", "stop", "tem_t_beta", "circuit_beta"]
    assert len(rows) == 1 + metrics["beta_blocks"] and "beta_ratio_walk" in metrics
    spikes = read_spikes(out / "spikes.nwb")
    assert {"MEC", "HPC", "LEC"} <= set(spikes)
    for name in ("prediction_curve", "mec_rate_maps", "memory_place_fields", "drift",
                 "attention", "beta_along_walk"):
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


def test_memories_stored_counts_distinct_memories_before_each_step():
    from types import SimpleNamespace

    from mapping.hippocampus_vs_tem_t import memories_stored

    slot = np.arange(21) % 10  # memory.recycle: the 11th step overwrites memory 0
    readout = SimpleNamespace(inputs=SimpleNamespace(memory_slot=slot),
                              memory_counts=np.zeros((21, 10)))
    np.testing.assert_array_equal(memories_stored(readout), np.minimum(np.arange(21), 10))


@pytest.mark.parametrize("spiking", ["deterministic", "poisson"])
def test_pathway_gating_changes_no_spike(walk_run, spiking):
    """The gated pathways (LEC->HPC on ``observed`` LEC spikes, the learning pathways on
    ``recruited`` memory spikes) skip only updates that add exactly zero: every recorded
    spike and every prediction equal the reference's."""
    world, walk, gated = walk_run
    params = HippocampusParams(memory=MemoryParams(n=STEPS + 1, spiking=spiking,
                                                   beta_scale=1.0 if spiking == "poisson"
                                                   else None))
    if spiking == "poisson":
        gated = run_walk(params, world, walk, seed=5)
    reference = run_walk(replace(params, pathway_gating=False), world, walk, seed=5)
    assert gated.params.pathway_gating and not reference.params.pathway_gating
    for name, trains in reference.spikes.items():
        np.testing.assert_array_equal(gated.spikes[name].indices, trains.indices, name)
        np.testing.assert_array_equal(gated.spikes[name].times, trains.times, name)
    np.testing.assert_array_equal(gated.predicted, reference.predicted)
    assert len(reference.spikes["memory"].times) > 10 * STEPS
