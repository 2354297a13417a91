"""One API shape for the three circuits, through public names only (the script of
``examples/circuits_from_python.py``): build from parameters and a seed, add a monitor of
the user's own to the public ``brian2.Network``, run, write the readout's spikes to NWB and
read them back with pynwb."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from brian2 import SpikeMonitor

from analysis.nwb import read_spikes, write_spikes
from circuits import (
    CA3Circuit,
    CA3Params,
    CerebellarSDM,
    CerebellumParams,
    HippocampalLoop,
    HippocampusParams,
    SpikeTrains,
)
from models.worlds import random_walk, square_world


def _cerebellum(rng):
    params = CerebellumParams(address_bits=32, value_bits=16)
    sdm = CerebellarSDM(replace(params, granule=replace(params.granule, n=600)), seed=0)
    mine = SpikeMonitor(sdm.groups["granule"])
    sdm.network.add(mine)
    keys = rng.integers(0, 2, (3, 32))
    sdm.write(keys, rng.integers(0, 2, (3, 16)))
    return sdm.read(keys), mine


def _hippocampus(rng):
    world, hpc = square_world(4, 4, seed=0), HippocampusParams()
    loop = HippocampalLoop(replace(hpc, memory=replace(hpc.memory, n=9)), world, seed=0)
    mine = SpikeMonitor(loop.groups["grid"])
    loop.network.add(mine)
    return loop.run(random_walk(world, 8, seed=1)), mine


def _ca3(rng):
    ca3 = CA3Circuit(CA3Params(n_units=40), seed=0)
    patterns = 2 * rng.integers(0, 2, (3, 40)) - 1
    ca3.store(patterns)
    mine = SpikeMonitor(ca3.groups["pyramidal"])
    ca3.network.add(mine)
    return ca3.retrieve(patterns, cycles=3), mine


@pytest.mark.parametrize("build", [_cerebellum, _hippocampus, _ca3])
def test_user_monitor_and_nwb_round_trip(build, tmp_path):
    readout, mine = build(np.random.default_rng(0))
    assert mine.num_spikes > 0  # the user's own monitor recorded the run
    path = write_spikes(tmp_path / "spikes.nwb", readout.spikes, session_description="api")
    back = read_spikes(path)  # pynwb reads the file back
    assert back.keys() == readout.spikes.keys()
    for name, trains in readout.spikes.items():
        assert isinstance(trains, SpikeTrains) and trains.name == name
        indices, times, size = back[name]
        assert size == trains.size
        # the NWB Units table groups by neuron; order both by (time, index) to compare
        order, back_order = (np.lexsort((trains.indices, trains.times)),
                             np.lexsort((indices, times)))
        np.testing.assert_array_equal(indices[back_order], trains.indices[order])
        np.testing.assert_array_equal(times[back_order], trains.times[order])  # float64
    # the user's monitor saw what the circuit's own monitor of that population saw (the
    # readout covers its call; the monitor every call since it was added)
    theirs = SpikeTrains.from_monitor(mine, name=mine.source.name.rstrip("_0123456789"))
    own = readout.spikes[theirs.name]
    assert theirs.size == own.size and len(own) > 0
    def pairs(trains):  # (neuron, time in us) of every spike
        return set(zip(trains.indices.tolist(), np.round(trains.times / 1e-6).tolist(),
                       strict=True))

    assert pairs(theirs) >= pairs(own)


def test_network_needs_a_runtime_backend():
    ca3 = CA3Circuit(CA3Params(n_units=20, backend="cpp_standalone"))
    with pytest.raises(RuntimeError, match="numpy or cython"):
        _ = ca3.network


def test_a_loop_runs_one_walk():
    world = square_world(3, 3, seed=0)
    hpc = HippocampusParams()
    loop = HippocampalLoop(replace(hpc, memory=replace(hpc.memory, n=4)), world, seed=0)
    loop.run(random_walk(world, 3, seed=1))
    with pytest.raises(RuntimeError, match="one walk"):
        loop.run(random_walk(world, 3, seed=2))


def test_a_monitor_through_the_network_changes_nothing():
    """CA3 runs the network of ``.network`` (noise input always present, zero without
    noise) or a fresh one: the states and fields are the same bit for bit."""
    rng = np.random.default_rng(3)
    patterns = 2 * rng.integers(0, 2, (3, 30)) - 1
    outs = []
    for watch in (False, True):
        ca3 = CA3Circuit(CA3Params(n_units=30), seed=1)
        if watch:
            ca3.network.add(SpikeMonitor(ca3.groups["pyramidal"]))
        ca3.store(patterns)  # after the network was built: its weights follow the state
        outs.append(ca3.retrieve(patterns, cycles=3))
    np.testing.assert_array_equal(outs[0].states, outs[1].states)
    np.testing.assert_array_equal(outs[0].fields, outs[1].fields)
