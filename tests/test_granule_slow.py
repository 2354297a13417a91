"""The slow (NMDA-like) MF->GrC current: charge share, coincidence calibration, validation.

``granule.slow_share`` of the EPSC charge rides on a current decaying with
``granule.tau_slow`` (:func:`circuits.cerebellum.derived.slow_ratio`); the granule weights
are calibrated so that ``granule.coincidence`` simultaneous EPSPs (fast + slow) on a resting
cell, tonic conductance included, just cross threshold and one fewer do not. Checked on
the calibration's own response and on a Brian2 granular layer without Golgi cells.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from brian2 import amp, ms, second, volt

from circuits.backend import brian_backend, run_network
from circuits.cerebellum.coding import poisson_golgi
from circuits.cerebellum.derived import slow_ratio
from circuits.cerebellum.network import build_network, random_wiring
from circuits.cerebellum.params import (
    CerebellumParams,
    GranuleParams,
    derive,
    granule_rest,
    granule_unit_response,
)


def _biological() -> CerebellumParams:
    return CerebellumParams(value_bits=4).with_preset("biological")


@pytest.mark.parametrize(("share", "tau_e", "tau_slow"), [
    (0.7, 1 * ms, 30 * ms), (0.3, 1 * ms, 50 * ms), (0.5, 2 * ms, 20 * ms), (0.0, 1 * ms, 30 * ms),
])
def test_slow_ratio_carries_its_charge_share(share, tau_e, tau_slow):
    """``J_s / J = s / (1 - s) tau_e / tau_slow``, so the slow current carries the share ``s``
    of the EPSC charge ``J tau_e + J_s tau_slow``."""
    g = GranuleParams(slow_share=share, tau_e=tau_e, tau_slow=tau_slow)
    ratio = slow_ratio(g)
    te, ts = float(tau_e / second), float(tau_slow / second)
    assert ratio == pytest.approx(share / (1 - share) * te / ts, rel=1e-12, abs=0)
    assert ratio * ts / (te + ratio * ts) == pytest.approx(share, rel=1e-12, abs=1e-15)


def test_derived_slow_weight():
    """``granule_slow_weight = granule_weight * slow_ratio``; 0 without a slow current."""
    params = _biological()
    assert params.granule.slow_share == 0.7 and params.granule.tau_slow == 30 * ms
    d = derive(params)
    assert float(d.granule_slow_weight / amp) == pytest.approx(
        float(d.granule_weight / amp) * 0.7 / 0.3 / 30, rel=1e-12)
    assert d.granule_slow_weight > 0
    fast = replace(params, granule=replace(params.granule, slow_share=0.0))
    assert float(derive(fast).granule_slow_weight / amp) == 0.0
    # with a slow current each MF spike needs a smaller fast jump for the same coincidence
    assert derive(fast).granule_weight > d.granule_weight


def _peak(params: CerebellumParams, with_slow: bool = True) -> float:
    """Peak depolarisation (V) from rest of one EPSP, fast + slow current, sampled at dt."""
    g, d, dt = params.granule, derive(params), params.protocol.dt
    tau_rest, _ = granule_rest(g)
    span = 5 * max(tau_rest, g.tau_slow)
    fast = granule_unit_response(replace(g, tau_m=tau_rest), dt, span)
    slow = granule_unit_response(replace(g, tau_m=tau_rest, tau_e=g.tau_slow), dt, span)
    epsp = float(d.granule_weight / amp) * fast
    if with_slow:
        epsp = epsp + float(d.granule_slow_weight / amp) * slow
    return float(epsp.max())


def test_coincidence_calibration_from_rest():
    """Biological preset (``coincidence`` 2, slow share 0.7, tonic GABA_A): ``coincidence``
    simultaneous EPSPs cross ``V_th - V_rest`` from rest, ``coincidence - 1`` do not."""
    params = _biological()
    g = params.granule
    c = g.coincidence
    assert c == 2
    _, v_rest = granule_rest(g)
    assert v_rest < g.E_L  # the tonic conductance pulls rest towards E_GABA
    gap = float((g.V_th - v_rest) / volt)
    peak = _peak(params)
    assert c * peak > gap > (c - 1) * peak
    # the threshold sits half an EPSP below the c-EPSP peak: a clear margin both ways
    assert (c - 0.5) * peak == pytest.approx(gap, rel=1e-9)
    # the slow current is part of the calibrated EPSP: without it the peak is lower
    assert _peak(params, with_slow=False) < 0.95 * peak


def test_coincidence_calibration_other_counts():
    """The rule holds for other coincidence counts and shares too (3 of 4 claws, share 0.4)."""
    params = _biological()
    params = replace(params, granule=replace(params.granule, coincidence=3, slow_share=0.4))
    g = params.granule
    gap = float((g.V_th - granule_rest(g)[1]) / volt)
    peak = _peak(params)
    assert 3 * peak > gap > 2 * peak


# --------------------------------------------------------------------------------------------
# Brian2 granular layer without Golgi cells
# --------------------------------------------------------------------------------------------


def _no_golgi(slow_share: float | None = None) -> CerebellumParams:
    params = poisson_golgi(n_granule=50)
    granule = params.granule if slow_share is None else replace(params.granule,
                                                                slow_share=slow_share)
    return replace(params, granule=granule, golgi=replace(params.golgi, enabled=False))


def test_slow_variable_only_with_a_slow_share():
    """``I_s`` (and its MF->GrC jump) exists when ``slow_share > 0``, not when it is 0."""
    with brian_backend("numpy", dt=0.1 * ms):
        slow = build_network(_no_golgi(), layers="granular", record=("granule",))
        fast = build_network(_no_golgi(0.0), layers="granular", record=("granule",))
    assert "golgi" not in slow.groups
    assert "I_s" in slow.groups["granule"].variables
    assert "I_s_post" in slow.synapses["mossy_granule"].pre.code
    assert "I_s" not in fast.groups["granule"].variables
    assert "I_s_post" not in fast.synapses["mossy_granule"].pre.code
    assert "I_e_post" in fast.synapses["mossy_granule"].pre.code


def test_coincident_volley_fires_a_resting_cell():
    """Brian2: ``coincidence - 1`` simultaneous spikes on cell 0's rails fire no cell,
    ``coincidence`` fire cell 0 (once, within a few ms), after the tonic conductance has
    set the rest and with no Golgi inhibition.

    Volleys at 50 ms (``c - 1`` rails) and 200 ms (``c`` rails), five slow decays apart so
    the first has faded. Also the layer is silent without input.
    """
    params = _no_golgi()
    c = params.granule.coincidence
    seed = 3
    wiring = random_wiring(params, seed)
    rails = wiring.rails(params.address_bits, True)[0]
    assert len(np.unique(rails)) == params.granule.inputs >= c
    first, second_ = 50e-3, 200e-3
    mf_i = np.concatenate([rails[:c - 1], rails[:c]])
    mf_t = np.concatenate([np.full(c - 1, first), np.full(c, second_)])
    with brian_backend(params.backend, None, dt=params.protocol.dt) as info:
        net = build_network(params, wiring, seed=seed, record=("granule",), layers="granular")
        v_rest = granule_rest(params.granule)[1]
        assert np.allclose(net.groups["granule"].v[:] / volt, float(v_rest / volt))
        net.groups["mossy"].set_spikes(mf_i, mf_t * second)
        run_network(net.network, 260 * ms, info)
        i = np.asarray(net.spike_monitors["granule"].i[:])
        t = np.asarray(net.spike_monitors["granule"].t[:] / second)
    assert not np.any(t < second_), (i, t)  # no input, then c - 1 EPSPs: silence
    assert 0 in i.tolist()
    fired = t[i == 0]
    assert len(fired) == 1
    delay = float(params.granule.mf_delay / second)
    assert second_ + delay < fired[0] < second_ + delay + 5e-3


def test_slow_current_outlasts_the_fast_one():
    """Brian2: after one MF spike the slow current decays with ``tau_slow`` and keeps the cell
    depolarised long after the fast EPSC is gone (what lets a cell sum its claws' rates)."""
    params = _no_golgi()
    g = params.granule
    wiring = random_wiring(params, 0)
    rail = wiring.rails(params.address_bits, True)[0, 0]
    with brian_backend(params.backend, None, dt=params.protocol.dt) as info:
        net = build_network(params, wiring, seed=0, record=("granule",), layers="granular")
        net.groups["mossy"].set_spikes(np.array([rail]), np.array([10e-3]) * second)
        run_network(net.network, 20 * ms, info)  # 9.5 ms after the EPSC starts
        granule = net.groups["granule"]
        i_e, i_s = float(granule.I_e[0] / amp), float(granule.I_s[0] / amp)
        depolarised = float((granule.v[0] - granule_rest(g)[1]) / volt)
        run_network(net.network, 30 * ms, info)  # 30 ms later: one tau_slow
        i_s_later = float(granule.I_s[0] / amp)
        late = float((granule.v[0] - granule_rest(g)[1]) / volt)
    d = derive(params)
    elapsed = 9.5e-3  # arrival at 10.5 ms (MF delay), read at 20 ms
    assert i_s == pytest.approx(float(d.granule_slow_weight / amp) * np.exp(-elapsed / 30e-3),
                                rel=0.02)
    assert i_e < 1e-2 * i_s  # the fast EPSC has decayed (tau_e 1 ms: e^-9.5 of its jump)
    assert i_s_later == pytest.approx(i_s * np.exp(-1), rel=0.02)
    assert depolarised > 0.2 * _peak(params) and 0 < late < depolarised


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5, "a", None])
def test_slow_share_validated(share):
    """slow_share must be a number in [0, 1); the error names the field."""
    with pytest.raises(ValueError, match=r"granule\.slow_share"):
        GranuleParams(slow_share=share).validate()


def test_slow_share_range_accepted():
    """0 and shares just below 1 validate (as a GranuleParams)."""
    for share in (0, 0.0, 0.5, 0.99):
        GranuleParams(slow_share=share).validate()


@pytest.mark.parametrize("tau", [0 * ms, -5 * ms])
def test_tau_slow_validated(tau):
    """tau_slow must be > 0; the error names the field."""
    with pytest.raises(ValueError, match=r"granule\.tau_slow"):
        GranuleParams(tau_slow=tau).validate()


def test_tau_slow_must_differ_from_the_membrane():
    """A tau_slow within 0.1% of the resting membrane time constant (the response's two
    exponentials would nearly coincide) is refused naming granule.tau_slow."""
    params = _biological()
    tau_rest, _ = granule_rest(params.granule)
    bad = replace(params, granule=replace(params.granule, tau_slow=tau_rest * 1.0005))
    with pytest.raises(ValueError, match=r"granule\.tau_slow"):
        bad.validate()
    replace(params, granule=replace(params.granule, tau_slow=tau_rest * 1.01)).validate()


def test_tau_slow_equal_to_the_membrane_is_refused_by_name():
    """An exactly equal tau_slow should get the same ValueError naming granule.tau_slow."""
    params = _biological()
    tau_rest, _ = granule_rest(params.granule)
    bad = replace(params, granule=replace(params.granule, tau_slow=tau_rest))
    with pytest.raises(ValueError, match=r"granule\.tau_slow"):
        bad.validate()


def test_slow_share_needs_the_rate_circuit():
    """A slow current on the volley (default) circuit is refused naming granule.slow_share,
    before any slot check (with the default slot, too short for a slow current, as well).
    """
    params = CerebellumParams(granule=replace(GranuleParams(), slow_share=0.5))
    with pytest.raises(ValueError, match=r"granule\.slow_share"):
        derive(params)
    long = replace(params, protocol=replace(params.protocol, read_slot=200 * ms))
    with pytest.raises(ValueError, match=r"granule\.slow_share"):
        derive(long)
    with pytest.raises(ValueError, match=r"granule\.slow_share"):
        long.validate()
    # the default circuit without the slow current validates with the same slot
    replace(long, granule=GranuleParams()).validate()
    # whatever answers first, the default circuit with a slow share is refused
    with pytest.raises(ValueError):
        params.validate()


def test_read_slot_lets_the_slow_current_fade():
    """Biological circuit: a 100 ms read slot is refused naming protocol.read_slot.

    The slot must hold the stimulus plus four slow decays (45 + 120 ms); without the slow
    current 100 ms is enough (stimulus + 2 tau_inh = 75 ms), so the refusal is the slow
    current's.
    """
    params = _biological()
    short = replace(params, protocol=replace(params.protocol, read_slot=100 * ms))
    with pytest.raises(ValueError, match=r"protocol\.read_slot"):
        short.validate()
    replace(short, granule=replace(short.granule, slow_share=0.0)).validate()
    edge = params.mossy.stimulus + 4 * params.granule.tau_slow
    replace(params, protocol=replace(params.protocol, read_slot=edge)).validate()
    with pytest.raises(ValueError, match=r"protocol\.read_slot"):
        replace(params, protocol=replace(params.protocol, read_slot=edge - 1 * ms)).validate()
