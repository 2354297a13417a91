"""The rate-coded Golgi loop holds the granule coding level under Poisson mossy fibres.

Mossy fibres fire tonically at the mean rate (``mossy.background``); a key sets which fire
fast (``rate``) and which slowly (``off_rate``), so the mean MF rate, and with it the
feedforward Golgi drive, does not change at stimulus onset and the level is counted over
the whole stimulus. Fast checks on a small granular layer (1500 four-claw granule cells, 3
mean rates, 2 seeds, 2 keys): with Golgi cells the level stays within 50% of its target at
every rate (what that size holds honestly: seed-to-seed sd ~10-20% of the level); without
them the layer saturates (most cells fire at every rate, more at higher rates). The full
sweep (3000 cells, 6 rates from 20 to 120 Hz, 5 seeds, the 25% band) is marked slow.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from brian2 import Hz, ms, mV, nS

from circuits.cerebellum.coding import (
    TARGET,
    at_mean_rate,
    coding_level_vs_rate,
    poisson_golgi,
)
from circuits.cerebellum.network import (
    GranuleWiring,
    build_network,
    golgi_weights,
    random_wiring,
)
from circuits.cerebellum.params import CerebellumParams, GolgiParams, derive, granule_rest
from circuits.cerebellum.protocol import granule_active_sets, lead_in, mossy_spike_trains
from circuits.cerebellum.selectivity import matched_claws, selectivity_vs_rate
from circuits.cerebellum.standalone import schedule_batches
from models.seeding import numpy_rng


@pytest.fixture(scope="module")
def small_table():
    return coding_level_vs_rate(poisson_golgi(n_granule=1500), rates_hz=(20.0, 60.0, 120.0),
                                seeds=(0, 1), presentations=2)


def test_golgi_holds_level_and_no_golgi_drifts(small_table):
    """With Golgi cells within 50% of the target at 20, 60 and 120 Hz mean MF rate.

    Without them (same granule weights) the layer saturates (measured: 83% of cells at 20 Hz,
    100% from 90 Hz: 40-50x the target) and never falls as the rate rises; the loop's spread
    is a small fraction of that.
    """
    table = small_table
    golgi, none = table.mean["golgi"], table.mean["no_golgi"]
    assert table.target == TARGET
    assert table.max_relative_deviation("golgi") < 0.5, table.format()
    assert table.max_relative_deviation("no_golgi") > 0.25, table.format()
    assert none[0] > 10 * TARGET and np.all(np.diff(none) >= 0), table.format()
    assert golgi.max() - golgi.min() < 0.1 * (none.max() - none.min()), table.format()


def test_background_keeps_the_mean_rate():
    """Background: every rail fires at the mean rate outside stimuli, the mean never steps."""
    params = poisson_golgi(n_granule=300)
    mf = params.mossy
    mean = float(mf.mean_rate / Hz)
    assert mf.background and mean == pytest.approx(90.0)
    slot, stim = float(params.protocol.read_slot / ms) / 1e3, float(mf.stimulus / ms) / 1e3
    lead = lead_in(params)
    assert lead == pytest.approx(float(params.protocol.lead_in / ms) / 1e3)
    keys = numpy_rng(0, "keys").integers(0, 2, (40, params.address_bits))
    onsets = lead + slot * np.arange(len(keys))
    i, t = mossy_spike_trains(params, keys, onsets, numpy_rng(0, "mf"), slot=slot, lead=lead)
    rails = 2 * params.address_bits
    assert t.min() >= 0 and t.max() <= onsets[-1] + slot + 1e-9  # on the dt grid
    assert len(i[t < lead]) / (rails * lead) == pytest.approx(mean, rel=0.05)
    phase = (t[t >= lead] - lead) % slot
    inside = len(phase[phase < stim]) / (rails * stim * len(keys))
    outside = len(phase[phase >= stim]) / (rails * (slot - stim) * len(keys))
    assert inside == pytest.approx(mean, rel=0.05) and outside == pytest.approx(mean, rel=0.05)
    # the key: on rails at `rate`, off rails at `off_rate`
    first = (t >= onsets[0]) & (t < onsets[0] + stim)
    on = np.arange(params.address_bits) + params.address_bits * (1 - keys[0])
    n_on = np.isin(i[first], on).sum() / (params.address_bits * stim)
    assert n_on == pytest.approx(float(mf.rate / Hz), rel=0.15)
    # scaling to a mean rate keeps the on/off ratio
    fast = at_mean_rate(params, 120 * Hz).mossy
    assert float(fast.mean_rate / Hz) == pytest.approx(120.0)
    assert float(fast.off_rate / fast.rate) == pytest.approx(float(mf.off_rate / mf.rate))


def test_background_off_keeps_todays_spikes():
    """Without background: no spikes outside stimuli, no lead-in."""
    params = replace(poisson_golgi(n_granule=300),
                     mossy=replace(poisson_golgi().mossy, background=False, off_rate=0 * Hz))
    assert lead_in(params) == 0.0
    keys = numpy_rng(0, "keys").integers(0, 2, (3, params.address_bits))
    slot = float(params.protocol.read_slot / ms) / 1e3
    onsets = slot * np.arange(3)
    _, t = mossy_spike_trains(params, keys, onsets, numpy_rng(0, "mf"))
    stim = float(params.mossy.stimulus / ms) / 1e3
    assert np.all((t - onsets[np.floor(t / slot + 1e-9).astype(int)]) < stim + 1e-9)
    with pytest.raises(ValueError, match=r"mossy\.background"):
        replace(params.mossy, background=True, firing="regular").validate()


def test_protocol_leads_in_with_background():
    """The first batch starts after protocol.lead_in of background (run by every backend)."""
    params = poisson_golgi(n_granule=1000)
    keys = numpy_rng(1, "keys").integers(0, 2, (2, params.address_bits))
    sdm = schedule_batches(params, None, [("read", keys, None), ("read", keys, None)], seed=1)
    first, second = sdm._batches
    lead = lead_in(params)
    assert first.onset == pytest.approx(lead) and first.lead == pytest.approx(lead)
    assert second.lead == 0 and second.onset == pytest.approx(first.onset + first.duration)
    assert first.mossy[1].min() < lead  # background spikes in the lead-in
    active = granule_active_sets(params, keys, seed=1)
    assert len(active) == 2 and all(len(a) > 0 for a in active)
    with pytest.raises(ValueError, match=r"protocol\.lead_in"):
        replace(params, protocol=replace(params.protocol, lead_in=10 * ms)).validate()


def test_defaults_unchanged():
    """The new fields default to today's behaviour: volley Golgi loop, current inhibition."""
    params = CerebellumParams()
    assert params.golgi.mode == "volley" and params.granule.g_tonic == 0 * nS
    assert set(golgi_weights(params)) == {"w_ff", "w_fb", "I_goc"}
    net = build_network(replace(params, granule=replace(params.granule, n=200)),
                        layers="granular")
    assert "I_i" in net.groups["granule"].variables


def test_rate_mode_wiring_and_calibration():
    params = poisson_golgi(n_granule=300)
    assert set(golgi_weights(params)) == {"w_ff", "w_fb", "g_goc"}
    net = build_network(params, layers="granular")
    assert "g_i" in net.groups["granule"].variables
    assert "g_i_post" in net.synapses["golgi_granule"].pre.code
    tau, v_rest = granule_rest(params.granule)
    assert tau < params.granule.tau_m and v_rest < params.granule.E_L
    # the coincidence weight does not depend on the rate
    fast = replace(params, mossy=replace(params.mossy, rate=120 * Hz))
    assert derive(fast).granule_weight == derive(params).granule_weight
    # the perfect-integrator pacemaker gives the spontaneous rate
    go = params.golgi
    period = (go.V_th - go.E_L) / go.pacemaker + go.refractory
    assert abs(float(1 / period / go.spontaneous_rate) - 1) < 1e-9


def test_new_fields_validated():
    with pytest.raises(ValueError, match=r"golgi\.mode"):
        GolgiParams(mode="tonic").validate()
    with pytest.raises(ValueError, match=r"golgi\.spontaneous_rate"):
        GolgiParams(spontaneous_rate=-1 * Hz).validate()
    with pytest.raises(ValueError, match=r"golgi\.conductance"):
        GolgiParams(conductance=1 * mV).validate()
    params = poisson_golgi()
    with pytest.raises(ValueError, match=r"granule\.g_tonic"):
        replace(params, granule=replace(params.granule, g_tonic=-1 * nS)).validate()
    with pytest.raises(ValueError, match=r"granule\.coincidence"):
        replace(params, granule=replace(params.granule, coincidence=0)).validate()


@pytest.mark.slow
def test_full_sweep_within_25_percent():
    """3000 cells, mean MF rate 20-120 Hz, 10 seeds x 6 keys: the loop holds the level within
    25% of its target over the whole stimulus (measured: 20.5%, at 60 Hz); without Golgi cells
    it drifts by more."""
    table = coding_level_vs_rate(seeds=tuple(range(10)))
    assert table.max_relative_deviation("golgi") < 0.25, table.format()
    assert table.max_relative_deviation("no_golgi") > 0.25, table.format()


def test_matched_claws_counts_claws_on_active_rails():
    wiring = GranuleWiring(coordinates=np.array([[0, 1, 2, 3], [0, 2, 4, 5]]),
                           targets=np.array([[1, 1, 1, 1], [0, 1, 0, 1]], np.uint8))
    keys = np.array([[1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]])
    assert matched_claws(wiring, keys).tolist() == [[4, 2], [0, 2]]
    params = poisson_golgi(n_granule=300)
    m = matched_claws(random_wiring(params, 0),
                      numpy_rng(0, "keys").integers(0, 2, (20, params.address_bits)))
    assert m.shape == (20, 300) and m.min() >= 0 and m.max() <= 4
    assert abs(m.mean() - 2) < 0.1  # Binomial(4, 1/2)


@pytest.fixture(scope="module")
def small_selectivity():
    return selectivity_vs_rate(poisson_golgi(n_granule=1500), rates_hz=(20.0, 120.0),
                               seeds=(0,), presentations=3)


def test_selectivity_does_not_collapse(small_selectivity):
    """g(M) rises with the matched claws M; active cells are enriched in M = 4.

    Bounds for the biological preset (measured at 3000 cells on seeds 5-9: g(4)/g(3) 2.7 at
    20 Hz rising to 40 at 120 Hz, selectivity 0.35 at 20 Hz rising to 0.91 at 120 Hz; chance
    is 1/16): the slow granule current and regular MF trains make the code selective where
    the rate carries enough spikes.
    """
    table = small_selectivity
    assert table.g.shape == (2, 5) and table.activation(20.0).shape == (5,)
    for g in table.g:
        assert np.all(np.diff(g) >= 0) and np.all(np.diff(g[2:]) > 0), table.format()
        assert g[4] > 2 * g[3], table.format()
    assert np.all(table.selectivity > 0.3), table.format()  # > 4.8 x chance
    assert table.selectivity[-1] > 0.8, table.format()  # 120 Hz
    assert table.background.mean() < table.level.mean(), table.format()


@pytest.fixture(scope="module")
def held_out_selectivity():
    return selectivity_vs_rate(poisson_golgi(), seeds=(5, 6, 7, 8, 9), presentations=6)


@pytest.mark.slow
def test_held_out_band_and_selectivity(held_out_selectivity):
    """3000 cells, 20-120 Hz, held-out seeds 5-9 x 6 keys (measured: max |level/target - 1|
    0.264, at 60 Hz; 0.213 on the tuning seeds 0-4; selectivity 0.41-0.91 rising with the
    rate, g(4)/g(3) 3.3-39)."""
    table = held_out_selectivity
    assert table.max_relative_deviation() < 0.3, table.format()
    assert np.all(table.selectivity > 0.3) and np.all(np.diff(table.selectivity) > 0), \
        table.format()
    assert np.all(np.diff(table.g[:, 2:], axis=1) > 0), table.format()
    assert np.all(table.g[:, 4] > 2.5 * table.g[:, 3]), table.format()
    assert table.background.mean() < table.level.mean(), table.format()
