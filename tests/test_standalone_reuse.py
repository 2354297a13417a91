"""One cpp_standalone build, many runs (:mod:`circuits.cerebellum.standalone`).

The non-compiling tests check the mechanism in numpy runtime mode: mossy and climbing fibres
replaying spike tables give exactly the readouts of the SpikeGeneratorGroups of
:class:`CerebellarSDM`. The ``standalone`` tests compile: two runs from one build equal
fresh builds for the same inputs, spike for spike, and nothing is recompiled.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from brian2 import Hz, TimedArray, ms, pA, second
from small_runs import schedule, small_circuit

from circuits.backend import brian_backend
from circuits.cerebellum.network import build_network, golgi_weights, random_wiring
from circuits.cerebellum.params import CerebellumParams, GolgiParams
from circuits.cerebellum.protocol import CerebellarSDM
from circuits.cerebellum.standalone import (
    StandaloneRunner,
    collect_readouts,
    input_arrays,
    schedule_batches,
    spike_table,
)

RECORD = ("granule", "purkinje", "nuclei")


def small(**changes) -> CerebellumParams:
    """32-bit addresses, 8 outputs, 400 granule cells (as tests/test_cerebellum.py)."""
    return small_circuit(400, **changes)


def assert_same(a, b):
    """Readouts equal exactly: every spike (index and time), drive and weight."""
    assert a.kind == b.kind
    np.testing.assert_array_equal(a.bits, b.bits)
    np.testing.assert_array_equal(a.nuclei_counts, b.nuclei_counts)
    np.testing.assert_array_equal(a.purkinje_counts, b.purkinje_counts)
    assert a.spikes.keys() == b.spikes.keys()
    for name in a.spikes:
        np.testing.assert_array_equal(a.spikes[name].indices, b.spikes[name].indices)
        np.testing.assert_array_equal(a.spikes[name].times, b.spikes[name].times)
    np.testing.assert_array_equal(a.pf_drive, b.pf_drive)
    np.testing.assert_array_equal(a.mli_drive, b.mli_drive)
    np.testing.assert_array_equal(a.weights_after, b.weights_after)
    for x, y in zip(a.active_granule, b.active_granule, strict=True):
        np.testing.assert_array_equal(x, y)


def test_spike_table_lists_each_fibres_steps_in_order():
    table = spike_table(np.array([2, 0, 2, 0]), np.array([9, 5, 3, 7]), n=3, per_rail=3)
    np.testing.assert_array_equal(table, [[5, -1, 3], [7, -1, 9], [-1, -1, -1],
                                          [-1, -1, -1]])
    with pytest.raises(ValueError, match="max_spikes_per_rail"):
        spike_table(np.array([1, 1, 1]), np.array([1, 2, 3]), n=2, per_rail=2)


def test_spike_tables_replay_the_spike_generators_exactly():
    """Same readouts (numpy runtime) whether inputs come from SpikeGeneratorGroups or
    spike tables: the mechanism the standalone runner relies on. Poisson firing with
    background spikes on the inactive rails: several spikes per rail, irregular steps."""
    # asynchronous spikes spread over the stimulus: a write slot the LTD window clears
    params = small(mossy=replace(small().mossy, firing="poisson", off_rate=5 * Hz),
                   protocol=replace(small().protocol, write_slot=260 * ms))
    wiring = random_wiring(params, 3)
    sched = schedule(1)
    reference = CerebellarSDM(params, seed=3, wiring=wiring, record=RECORD).present(sched)

    sdm = schedule_batches(params, wiring, sched, seed=3, record=RECORD)
    duration = sdm._batches[-1].onset + sdm._batches[-1].duration + 0.05  # trailing silence
    per_rail = (200, 4)
    with brian_backend("numpy", dt=params.protocol.dt):
        net = build_network(params, wiring, seed=3, record=RECORD, spike_tables=per_rail)
        mossy, climbing, gate = input_arrays(sdm, 64, 8, per_rail, round(duration * 1000) + 1)
        net.namespace["mossy_table"].values[:] = mossy  # numpy reads the array at run time
        net.namespace["climbing_table"].values[:] = climbing
        net.namespace["plastic_gate"] = TimedArray(gate, dt=1 * ms)
        net.network.run(duration * second, namespace={})
        readouts = collect_readouts(sdm, net)
    assert len(reference[0].spikes["granule"].indices) > 0  # the test exercises spikes
    for a, b in zip(readouts, reference, strict=True):
        assert_same(a, b)


def test_golgi_run_parameters_replace_a_rebuild():
    """A spike-table network whose one-value Golgi TimedArrays hold other values gives the
    readouts of a circuit built with those values (numpy runtime): what lets a standalone
    build run with new Golgi parameters. The changed values change the coding level, so
    the comparison can fail."""
    params = small()
    changed = replace(params, golgi=replace(params.golgi, inhibition=0.1 * params.golgi.inhibition,
                                            feedback_drive=0.5 * params.golgi.feedback_drive))
    wiring = random_wiring(params, 4)
    sched = schedule(2)
    reference = CerebellarSDM(changed, seed=4, wiring=wiring, record=RECORD).present(sched)
    baseline = CerebellarSDM(params, seed=4, wiring=wiring, record=RECORD).present(sched)
    assert (len(reference[0].spikes["granule"].indices)
            != len(baseline[0].spikes["granule"].indices))  # the values matter

    sdm = schedule_batches(params, wiring, sched, seed=4, record=RECORD)
    duration = sdm._batches[-1].onset + sdm._batches[-1].duration + 0.05
    per_rail = (20, 4)
    with brian_backend("numpy", dt=params.protocol.dt):
        net = build_network(params, wiring, seed=4, record=RECORD, spike_tables=per_rail)
        mossy, climbing, gate = input_arrays(sdm, 64, 8, per_rail, round(duration * 1000) + 1)
        net.namespace["mossy_table"].values[:] = mossy
        net.namespace["climbing_table"].values[:] = climbing
        net.namespace["plastic_gate"] = TimedArray(gate, dt=1 * ms)
        for key, value in golgi_weights(changed).items():
            net.namespace[f"{key}_value"].values[:] = float(value)
        net.network.run(duration * second, namespace={})
        readouts = collect_readouts(sdm, net)
    for a, b in zip(readouts, reference, strict=True):
        assert_same(a, b)


def test_runner_refuses_structural_run_parameters(tmp_path):
    """Only the Golgi loop's values can change per run; the refusal names the problem and
    happens before anything runs (the check needs no compiled project)."""
    runner = StandaloneRunner.__new__(StandaloneRunner)  # the checks read params and weights
    runner.params = small(golgi=GolgiParams(feedback_drive=0.0))
    runner._weights = {"w_ff": None, "I_goc": None}
    with pytest.raises(ValueError, match=r"'granule\.n' cannot change without a new build"):
        runner.run_parameters({"granule.n": 500})
    with pytest.raises(ValueError, match=r"golgi\.feedback_drive was 0\.0 at build time"):
        runner.run_parameters({"golgi.feedback_drive": 0.05})
    with pytest.raises(ValueError, match="golgi"):
        runner.run_parameters({"golgi.inhibition": -5 * pA})
    assert runner.run_parameters({"golgi.inhibition": 40 * pA}).golgi.inhibition == 40 * pA


def test_runner_rejects_a_bad_layout_before_building(tmp_path):
    with pytest.raises(ValueError, match="layout"):
        StandaloneRunner(small(), [("erase", 2)], cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing built


@pytest.mark.standalone
def test_runs_from_one_build_equal_fresh_builds(tmp_path):
    params = small(backend="cpp_standalone")
    layout = [("write", 2), ("read", 2)]
    with StandaloneRunner(params, layout, seed=5, record=RECORD,
                          cache_dir=tmp_path / "cache") as runner:
        assert runner.compiled and runner.build_s > 0
        main = runner.directory / "main"
        built = main.stat().st_mtime_ns
        first = runner.run(schedule(10))
        second_run = runner.run(schedule(11))
        assert main.stat().st_mtime_ns == built  # the second run did not rebuild
        assert runner.runs == 2 and second_run[0].timings["build_s"] == 0.0
    for seed, got in ((10, first), (11, second_run)):
        fresh = CerebellarSDM(params, seed=5, record=RECORD,
                              directory=tmp_path / f"fresh{seed}").present(schedule(seed))
        for a, b in zip(got, fresh, strict=True):
            assert_same(a, b)
    # the second run presented its own inputs (not a replay of the first)
    assert not np.array_equal(first[1].weights_after, second_run[1].weights_after)

    # new Golgi parameters through run_args: the readouts of a build with those values
    golgi = replace(params.golgi, inhibition=0.1 * params.golgi.inhibition)  # weak Golgi
    with StandaloneRunner(params, layout, seed=5, record=RECORD,
                          cache_dir=tmp_path / "cache") as runner:
        assert not runner.compiled  # the run parameters are not part of the structure
        weaker = runner.run(schedule(10), parameters={"golgi.inhibition": golgi.inhibition})
    # nor of the generated code: a runner made with the other value compiles nothing either
    with StandaloneRunner(replace(params, golgi=golgi), layout, seed=5, record=RECORD,
                          cache_dir=tmp_path / "cache") as runner:
        assert not runner.compiled and main.stat().st_mtime_ns == built
        for a, b in zip(runner.run(schedule(10)), weaker, strict=True):
            assert_same(a, b)
    fresh = CerebellarSDM(replace(params, golgi=golgi), seed=5, record=RECORD,
                          directory=tmp_path / "fresh_golgi").present(schedule(10))
    for a, b in zip(weaker, fresh, strict=True):
        assert_same(a, b)
    assert (len(weaker[0].spikes["granule"].indices)
            > len(first[0].spikes["granule"].indices))  # more granule spikes

    # the cache survives the runner: a new one compiles nothing and gives the same readout
    with StandaloneRunner(params, layout, seed=5, record=RECORD,
                          cache_dir=tmp_path / "cache") as again:
        assert again.directory == runner.directory and not again.compiled
        assert main.stat().st_mtime_ns == built
        for a, b in zip(again.run(schedule(10)), first, strict=True):
            assert_same(a, b)


def test_reuse_build_needs_the_standalone_backend(tmp_path):
    from mapping.runner import run_experiment

    with pytest.raises(ValueError, match=r"reuse_build = true needs circuit\.backend"):
        run_experiment("cerebellum", tmp_path / "run", overrides=["reuse_build=true"],
                       quiet=True)


@pytest.mark.standalone
def test_cerebellum_command_reusing_a_build_measures_what_fresh_builds_do(tmp_path,
                                                                          monkeypatch):
    """``memcircuits cerebellum --set reuse_build=true`` (what a sweep worker runs) gives
    the metrics of fresh builds; a second run with new inputs over the same circuit
    (``circuit_seed`` fixed) compiles nothing."""
    from mapping.runner import run_experiment

    monkeypatch.setenv("MEMCIRCUITS_CACHE", str(tmp_path / "cache"))
    sets = ['circuit.backend="cpp_standalone"', "circuit.preset=kanerva",
            "circuit.address_bits=32", "circuit.value_bits=8", "circuit.granule.n=300",
            "circuit.granule.coding_level=0.055", "patterns=3", "circuit_seed=7"]
    fresh = run_experiment("cerebellum", tmp_path / "fresh", overrides=sets, seed=0,
                           quiet=True)
    reused = [run_experiment("cerebellum", tmp_path / f"reuse{seed}", seed=seed, quiet=True,
                             overrides=[*sets, "reuse_build=true"]) for seed in (0, 1)]
    timing = {"build_s", "build_reused", "wall_time_s", "simulation_wall_s"}
    assert {k: v for k, v in reused[0].items() if k not in timing} == \
        {k: v for k, v in fresh.items() if k not in timing}
    assert reused[0]["build_reused"] is False and reused[0]["build_s"] > 0
    assert reused[1]["build_reused"] is True and reused[1]["build_s"] == 0.0
    assert reused[1]["bit_accuracy_vs_stored"] > 0.9
    from mapping.measures import check_same_inputs, read_inputs

    check_same_inputs([read_inputs(tmp_path / "fresh"), read_inputs(tmp_path / "reuse0")])
    with pytest.raises(ValueError, match="inputs differ"):  # the second run had new inputs
        check_same_inputs([read_inputs(tmp_path / "reuse0"), read_inputs(tmp_path / "reuse1")])


def test_clock_resets_get_one_order_whatever_brian2_emits():
    """Brian2 writes the clock resets of a run in set order (it varies between processes);
    the runner sorts each block so the same network always generates the same main.cpp."""
    from circuits.cerebellum.standalone import canonical_main_source

    def source(first, second):
        return "\n".join(["x = 1;", f"        _array_{first}_timestep[0] = 0;",
                          f"        _array_{first}_t[0] = 0.0;",
                          f"        _array_{second}_timestep[0] = 0;",
                          f"        _array_{second}_t[0] = 0.0;",
                          "        _array_defaultclock_dt[0] = 0.0001;", "run();"])

    a = source("defaultclock", "drive_monitor_clock")
    b = source("drive_monitor_clock", "defaultclock")
    assert a != b and canonical_main_source(a) == canonical_main_source(b) == a
    assert canonical_main_source("y = 2;\nrun();") == "y = 2;\nrun();"
