"""The fused granule loop (circuits.cerebellum.granule_kernel) against Brian2's description.

The loop must compute what Brian2's code objects compute: the same update coefficients
(checked here against a numpy-runtime step, fast) and, compiled, the same granule spikes
(index and time step) and the same reads as ``granule_kernel="brian2"``. The granular layer
alone compiles in seconds, so one comparison runs in the default suite; the whole circuit
(reads, Purkinje and nuclear spikes, weights) is marked ``standalone``.
"""

from __future__ import annotations

from dataclasses import replace

import brian2
import numpy as np
import pytest
from brian2 import amp, ms, second, volt

from circuits.backend import brian_backend, run_network
from circuits.cerebellum.granule_kernel import (
    kernel_source,
    linear_update,
    refractory_steps,
    uses_fused_granule,
)
from circuits.cerebellum.network import build_network, random_wiring
from circuits.cerebellum.params import CerebellumParams, GranuleParams, biological


def _kanerva(n: int = 600, **top) -> CerebellumParams:
    base = CerebellumParams(address_bits=16, value_bits=8,
                            granule=GranuleParams(n=n, coding_level=0.05))
    return replace(base, **top)


def test_refractory_steps_count_as_brian2_does():
    """2 ms at 0.1 ms is 20 steps (Brian2's _timestep adds 1e-3 dt before flooring)."""
    assert refractory_steps(2 * ms, 0.1 * ms) == 20
    assert refractory_steps(0 * ms, 0.1 * ms) == 0
    assert refractory_steps(0.3 * ms, 0.1 * ms) == 3  # 0.3 / 0.1 = 2.9999999999999996


def test_linear_update_equals_brian2_exact_step():
    """The loop's coefficients advance v, I_e, I_i as Brian2's exact integrator does."""
    params = _kanerva(n=50)
    rng = np.random.default_rng(0)
    v0 = -0.07 + 0.02 * rng.random(50)  # below threshold after the step: no reset
    ie0, ii0 = 2e-10 * rng.random(50), 1e-10 * rng.random(50)
    with brian_backend("numpy", dt=params.protocol.dt) as info:
        net = build_network(params, seed=0, record=("granule",), layers="granular")
        granule = net.groups["granule"]
        granule.v, granule.I_e, granule.I_i = v0 * volt, ie0 * amp, ii0 * amp
        run_network(brian2.Network(granule), params.protocol.dt, info)
        v1 = np.asarray(granule.v[:] / volt)
    rest, a, gains = linear_update(params)
    expected = rest + a * v0 + gains["I_e"] * ie0 + gains["I_i"] * ii0
    np.testing.assert_allclose(v1, expected, rtol=0, atol=1e-15)
    assert gains["I_e"] > 0 > gains["I_i"]


def test_fused_needs_cpp_standalone():
    with pytest.raises(ValueError, match="granule_kernel='fused' needs backend='cpp_standalone'"):
        _kanerva(granule_kernel="fused").validate()
    with pytest.raises(ValueError, match="granule_kernel"):
        _kanerva(granule_kernel="fast").validate()
    assert not uses_fused_granule(_kanerva())  # numpy: Brian2's code objects
    assert uses_fused_granule(_kanerva(backend="cpp_standalone"))
    assert not uses_fused_granule(_kanerva(backend="cpp_standalone", granule_kernel="brian2"))


def test_fused_loop_refuses_another_clock(tmp_path):
    params = _kanerva(backend="cpp_standalone")
    with brian_backend("cpp_standalone", tmp_path, dt=0.05 * ms), \
            pytest.raises(ValueError, match=r"protocol\.dt"):
        build_network(params, seed=0, record=("granule",), layers="granular")


def test_kernel_source_names_the_group_arrays():
    name, code = kernel_source(_kanerva(), "granule_3", 600)
    assert name == "granule_3_fused_step"
    for array in ("v", "I_e", "I_i", "_spikespace"):
        assert f"brian::_array_granule_3_{array}" in code
    bio = biological(16, 8)
    _, code = kernel_source(bio, "granule", bio.granule.n)
    assert "brian::_array_granule_g_i" in code and "exp(" in code
    assert ("_array_granule_I_s" in code) == (bio.granule.slow_share > 0)


def _granular_spikes(params: CerebellumParams, kernel: str, tmp_path, mf_i, mf_t,
                     duration) -> tuple[np.ndarray, np.ndarray, dict]:
    params = replace(params, backend="cpp_standalone", granule_kernel=kernel)
    wiring = random_wiring(params, 1)
    with brian_backend("cpp_standalone", tmp_path / kernel, dt=params.protocol.dt) as info:
        net = build_network(params, wiring, seed=1, record=("granule",), layers="granular")
        net.groups["mossy"].set_spikes(mf_i, mf_t * second)
        run_network(net.network, duration, info)
        monitor = net.spike_monitors["granule"]
        steps = np.round(np.asarray(monitor.t[:] / params.protocol.dt)).astype(np.int64)
        state = {name: np.asarray(getattr(net.groups["granule"], name)[:])
                 for name in ("v", "I_e")}
        if "granule" in net.kernel_drivers:
            state["stepped"] = int(net.kernel_drivers["granule"].stepped[0])
        return np.asarray(monitor.i[:]), steps, state


@pytest.mark.parametrize("preset", ["kanerva", "biological"])
def test_fused_loop_fires_the_same_spikes_as_brian2(tmp_path, preset):
    """Compiled, the fused loop and Brian2's code objects fire the same granule spikes.

    Two bursts of dense random mossy input (5-60 ms, 150-180 ms) with silence between and
    after: cells fire repeatedly, so the refractory ring and the reset are exercised; in
    the silences the current-based (kanerva) layer parks and catches up when the second
    burst comes and at the end of the run. The biological preset has conductance inhibition
    (exponential Euler), a slow current if the preset has one, and never parks.
    """
    params = _kanerva(n=400) if preset == "kanerva" else biological(16, 8)
    params = replace(params, granule=replace(params.granule, n=400))
    rng = np.random.default_rng(5)
    n_rails = 2 * params.address_bits
    count = 4000
    mf_i = rng.integers(0, n_rails, count)
    mf_t = np.round(np.where(np.arange(count) < 3000, rng.uniform(0.005, 0.06, count),
                             rng.uniform(0.15, 0.18, count)), 4)
    keep = np.unique(np.stack([mf_i, np.round(mf_t / 1e-4)]), axis=1, return_index=True)[1]
    mf_i, mf_t = mf_i[keep], mf_t[keep]
    duration = 300 * ms
    ref = _granular_spikes(params, "brian2", tmp_path, mf_i, mf_t, duration)
    fused = _granular_spikes(params, "fused", tmp_path, mf_i, mf_t, duration)
    assert len(ref[0]) > 400  # many cells, several spikes each
    assert np.bincount(ref[0]).max() >= 3
    assert np.any(ref[1] > 1500)  # the second burst fires cells too
    np.testing.assert_array_equal(fused[0], ref[0])
    np.testing.assert_array_equal(fused[1], ref[1])
    for name in ("v", "I_e"):
        np.testing.assert_allclose(fused[2][name], ref[2][name], rtol=1e-9, atol=1e-18)
    total = round(float(duration / params.protocol.dt))
    if preset == "kanerva":  # parked in both silences, stepped through both bursts
        assert 600 < fused[2]["stepped"] < total - 1000
    else:
        assert fused[2]["stepped"] == total


@pytest.mark.standalone
@pytest.mark.parametrize("preset", ["kanerva", "biological"])
def test_fused_circuit_reads_and_spikes_as_brian2(tmp_path, preset):
    """The whole circuit (writes then reads): same reads, spikes of every population,
    weights, with the fused loop and with Brian2's code objects."""
    from circuits.cerebellum.protocol import CerebellarSDM

    base = _kanerva(n=2000, backend="cpp_standalone")
    if preset == "biological":
        base = replace(biological(16, 8, backend="cpp_standalone"))
    rng = np.random.default_rng(2)
    keys = rng.integers(0, 2, (3, base.address_bits), dtype=np.uint8)
    values = rng.integers(0, 2, (3, base.value_bits), dtype=np.uint8)
    results = {}
    for kernel in ("brian2", "fused"):
        sdm = CerebellarSDM(replace(base, granule_kernel=kernel), seed=0,
                            directory=tmp_path / kernel)
        results[kernel] = sdm.write_then_read(keys, values, keys)
    (w_ref, r_ref), (w_new, r_new) = results["brian2"], results["fused"]
    np.testing.assert_array_equal(r_new.bits, r_ref.bits)
    np.testing.assert_array_equal(r_new.weights_after, r_ref.weights_after)
    for readout_ref, readout_new in ((w_ref, w_new), (r_ref, r_new)):
        for population, trains in readout_ref.spikes.items():
            np.testing.assert_array_equal(readout_new.spikes[population].indices,
                                          trains.indices)
            np.testing.assert_array_equal(readout_new.spikes[population].times, trains.times)
