"""The asynchronous (``biological``) regime through the mapping layer.

Covers the Golgi bisection on the coding level (``golgi_for_coding_level``), the measured
stochastic activation g(M) (``measure_activation``) and the overlap theory that takes it
(``granule_theory``), the effective-beta sweep on asynchronous fibres, the climbing-fibre
offset and plasticity gate of a tonic background, and the active-set read of the capacity
sweep. Circuits are small (16 address bits, 1000-1500 granule cells, cython); the
end-to-end beta sweep is marked slow.
"""

from __future__ import annotations

import json
from dataclasses import replace
from math import comb
from types import SimpleNamespace

import numpy as np
import pytest
from brian2 import ms, nS, second

from circuits.cerebellum.coding import golgi_for_coding_level
from circuits.cerebellum.mossy import ACTIVE_LAG
from circuits.cerebellum.params import CerebellumParams, GranuleParams, derive
from circuits.cerebellum.selectivity import measure_activation
from circuits.cerebellum.standalone import schedule_batches
from mapping.cerebellum_vs_sdm import active_set_read
from mapping.experiments import cerebellum_beta, cerebellum_capacity
from mapping.experiments.cerebellum_capacity import _active_set_bits
from mapping.granule_theory import granule_theory
from models.rundir import RunDirectory
from models.seeding import numpy_rng

#: a plausible measured g(M) of four-claw cells (0 < g < 1: a stochastic code)
G = np.array([0.0, 0.0, 0.001, 0.06, 0.5])


def biological(n: int = 1000, **changes) -> CerebellumParams:
    """The ``biological`` preset with 16 address bits and ``n`` granule cells, cython."""
    p = CerebellumParams(backend="cython").with_preset("biological")
    return replace(p, address_bits=16, granule=replace(p.granule, n=n), **changes)


def ms_of(q) -> float:
    return float(q / ms)


# ------------------------------------------------------------ golgi_for_coding_level


@pytest.fixture(scope="module")
def golgi_levels():
    """Bisection at coding levels 1% and 3% (6 keys, 8 halvings of a factor-4 span)."""
    p = biological()
    return {level: golgi_for_coding_level(p, level, presentations=6, seed=1, iterations=8,
                                          span=4.0)
            for level in (0.01, 0.03)}


def test_golgi_bisection_reaches_the_level(golgi_levels):
    """The measured level is within 25% of the requested one, and the returned circuit
    differs from the input only in the Golgi conductance."""
    base = biological()
    for level, (params, measured) in golgi_levels.items():
        assert abs(measured / level - 1) < 0.25, (level, measured)
        assert params.golgi.conductance != base.golgi.conductance
        assert replace(params, golgi=base.golgi) == base


def test_golgi_bisection_is_monotone(golgi_levels):
    """More granule activity needs weaker inhibition: the 3% conductance is the lower one,
    and both lie inside the searched span (factor 4 either way of 1.6 nS)."""
    low = float(golgi_levels[0.01][0].golgi.conductance / nS)
    high = float(golgi_levels[0.03][0].golgi.conductance / nS)
    assert high < low, (low, high)
    assert 1.6 / 4 < high and low < 1.6 * 4


def test_golgi_bisection_refuses_unreachable_levels():
    """A level the weakest inhibition cannot reach names 'out of reach'; 0 and 1 are not
    coding levels at all (refused before any simulation)."""
    p = biological()
    with pytest.raises(ValueError, match="out of reach"):
        golgi_for_coding_level(p, 0.9, presentations=3, seed=1, iterations=1, span=4.0)
    for level in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match=r"\(0, 1\)"):
            golgi_for_coding_level(p, level)


# ------------------------------------------------------------ measure_activation


@pytest.fixture(scope="module")
def activation():
    return measure_activation(biological(), presentations=12, seed=3)


def test_activation_is_a_selective_probability(activation):
    """g(M) has one entry per matched-claw count, lies in [0, 1], rises from M = 2 and is
    steepest at the full match (g(4) > 2 g(3)): a key-selective stochastic code."""
    g, level = activation
    assert g.shape == (5,)
    assert np.all((g >= 0) & (g <= 1)), g
    assert np.all(np.diff(g[2:]) >= 0), g
    assert g[4] > 2 * g[3] > 0, g
    assert 0 < level < 1


def test_activation_accounts_for_the_level(activation):
    """The level is g(M) weighted by Binomial(4, 1/2) matched counts (within sampling error:
    1000 cells x 12 keys), so g describes all cells, not a subset."""
    g, level = activation
    weights = np.array([comb(4, m) for m in range(5)]) / 16
    assert float(weights @ g) == pytest.approx(level, rel=0.1), (g, level)


# ------------------------------------------------------------ granule_theory


def test_theory_needs_an_activation_for_asynchronous_fibres():
    """Without g(M) the asynchronous circuit is refused, pointing at measure_activation."""
    with pytest.raises(ValueError, match="measure_activation"):
        granule_theory(biological())


def test_theory_with_a_measured_activation():
    """Given g, the theory is the stochastic selected-design expectation: E(0) =
    r sum_M P(M) g(M)^2, E(n) = r sum_M P(M) g(M) g(k - M) (complementary key), and E falls
    with the distance."""
    p = biological()
    theory = granule_theory(p, activation=G)
    assert theory.design == "selected" and theory.inputs == 4 and theory.stochastic
    np.testing.assert_array_equal(theory.activation, G)
    d = np.arange(p.address_bits + 1)
    expected = np.asarray(theory.expected(d), dtype=float)
    assert np.all(np.diff(expected) < 0), expected
    weights = np.array([comb(4, m) for m in range(5)]) / 16
    r = p.granule.n
    assert expected[0] == pytest.approx(r * float(weights @ G ** 2), rel=1e-9)
    assert expected[-1] == pytest.approx(r * float(weights @ (G * G[::-1])), rel=1e-9)
    assert theory.beta > 0 and 0 < theory.last_distance <= p.address_bits


@pytest.mark.parametrize("bad", [G[:4], np.append(G, 0.5), np.array([0, 0, 0, 0.1, 1.2]),
                                 np.array([-0.1, 0, 0, 0.1, 0.5]), np.zeros(5)],
                         ids=["short", "long", "above_1", "negative", "all_zero"])
def test_theory_rejects_bad_activations(bad):
    """An activation must be inputs + 1 probabilities, not all zero."""
    with pytest.raises(ValueError, match="activation must be 5 probabilities"):
        granule_theory(biological(), activation=bad)


def test_theory_rejects_activation_for_volleys_and_full_address_poisson():
    """A volley circuit follows its own rule (an activation is refused, none is accepted);
    full-address cells under asynchronous fibres have no theory here."""
    volley = CerebellumParams(granule=GranuleParams(design="selected", coding_level=None,
                                                    n=500))
    assert granule_theory(volley).design == "selected"
    with pytest.raises(ValueError, match="asynchronous mossy fibres"):
        granule_theory(volley, activation=G)
    full = CerebellumParams()
    full = replace(full, mossy=replace(full.mossy, firing="poisson"))
    assert full.granule.design == "full"
    for activation in (None, G):
        with pytest.raises(ValueError, match="full-address"):
            granule_theory(full, activation=activation)


# ------------------------------------------------------------ cerebellum_beta


def test_beta_config_on_asynchronous_fibres():
    """An asynchronous circuit validates without simulating, and every level keeps the
    circuit as given (run() finds the Golgi conductance)."""
    p = biological(n=1500)
    config = cerebellum_beta.Config(circuit=p, coding_levels=(0.02, 0.04), clusters=2)
    config.validate()
    assert config.asynchronous
    assert config.level_params(0.02) == p and config.level_params(0.04) == p
    volley = cerebellum_beta.Config(circuit=CerebellumParams(
        granule=GranuleParams(design="selected", coding_level=None, n=500)))
    assert not volley.asynchronous
    assert volley.level_params(0.02) != volley.circuit  # the release rule sets the level


@pytest.mark.slow
def test_beta_run_on_asynchronous_fibres(tmp_path):
    """End to end (16 bits, 1500 cells, one level, 2 clusters; ~25-40 s): the Golgi
    conductance, g(0..4) and a finite positive beta ratio reach the metrics, beta.json
    holds the activation."""
    config = cerebellum_beta.Config(circuit=biological(n=1500), coding_levels=(0.02,),
                                    clusters=2)
    metrics = cerebellum_beta.run(config, RunDirectory(tmp_path), progress=False)
    assert 0 < metrics["p2_golgi_conductance_nS"] < np.inf
    assert 0 < metrics["p2_effective_beta_ratio"] < np.inf
    g = np.array([metrics[f"p2_activation_g{m}"] for m in range(5)])
    assert np.all((g >= 0) & (g <= 1)) and g[4] > g[3], g
    assert metrics["p2_inputs"] == 4 and metrics["p2_radius"] is None
    assert abs(metrics["p2_coding_level"] / 0.02 - 1) < 0.5, metrics["p2_coding_level"]
    table = json.loads((tmp_path / "beta.json").read_text())
    np.testing.assert_allclose(table["p2"]["activation"], g)
    assert (tmp_path / "figures" / "effective_beta.png").is_file()


# ------------------------------------------------------------ derived cf_offset


def test_cf_offset_pairs_with_the_middle_of_an_asynchronous_stimulus():
    """Asynchronous fibres: the CF comes half a stimulus later than the volley formula
    (latency + PF delay + window peak); the default volley circuit keeps that formula, and
    an explicit pairing replaces the window peak in both."""
    p = biological()
    d = derive(p)
    assert p.climbing.pairing is None
    volley_formula = ms_of(d.granule_latency + d.pf_delay + p.plasticity.window_peak)
    assert ms_of(d.cf_offset) == pytest.approx(volley_formula + ms_of(p.mossy.stimulus) / 2)
    default = CerebellumParams()
    dd = derive(default)
    assert ms_of(dd.cf_offset) == pytest.approx(
        ms_of(dd.granule_latency + dd.pf_delay + default.plasticity.window_peak))
    # a CF 5 ms later reaches further back: the write slot must grow with it
    paired = replace(p, climbing=replace(p.climbing, pairing=95 * ms),
                     protocol=replace(p.protocol, write_slot=270 * ms))
    dp = derive(paired)
    assert ms_of(dp.cf_offset) == pytest.approx(
        ms_of(dp.granule_latency + dp.pf_delay) + 95 + ms_of(p.mossy.stimulus) / 2)


# ------------------------------------------------------------ plasticity gate


def _schedule(params: CerebellumParams):
    keys = numpy_rng(2, "gate_keys").integers(0, 2, (3, params.address_bits))
    values = np.ones((3, params.value_bits), dtype=np.uint8)
    return [("write", keys[:2], values[:2]), ("read", keys, None),
            ("write", keys[2:], values[2:])]


def test_gate_with_background_covers_stimuli_and_cf_only():
    """Tonic background: the gate is open over the PF arrivals of each write's active window
    (onset + ACTIVE_LAG + PF delay to onset + stimulus + ACTIVE_LAG + PF delay) and in 3 bins
    around each write's CF spike, closed elsewhere
    (between stimuli, in the lead-in, during reads); every CF spike falls in an open bin."""
    p = biological()
    sdm = schedule_batches(p, None, _schedule(p), seed=0)
    gate = sdm._plasticity_gate().values
    d = sdm.derived
    end = float(p.mossy.stimulus / second) + ACTIVE_LAG + float(d.pf_delay / second)
    cf = float(d.cf_offset / second)
    expected = np.zeros_like(gate)
    writes = [b for b in sdm._batches if b.kind == "write"]
    assert len(writes) == 2 and sum(len(b.onsets) for b in writes) == 3
    for batch in writes:
        for onset in batch.onsets:
            a = round((onset + ACTIVE_LAG + float(d.pf_delay / second)) * 1000)
            b = int(np.ceil((onset + end) * 1000 - 1e-6))
            expected[a:b + 1] = 1  # every bin the window touches
            c = int(np.floor((onset + cf) * 1000 + 1e-6))
            expected[c - 1:c + 2] = 1
    np.testing.assert_array_equal(gate, expected)
    # the open bins are a small part of a write slot: between stimuli plasticity is off
    write_slot_bins = round(float(p.protocol.write_slot / ms))
    assert gate.sum() < 0.3 * 3 * write_slot_bins
    read = next(b for b in sdm._batches if b.kind == "read")
    start = round(read.onset * 1000)
    assert not gate[start:start + round(read.duration * 1000)].any()
    cf_times = np.concatenate([b.climbing[1] for b in writes])
    assert len(cf_times) == 3 * p.value_bits
    assert np.all(gate[np.floor(cf_times * 1000 + 1e-6).astype(int)] == 1)


def test_gate_without_background_covers_whole_write_slots():
    """Volleys without background: the gate is open over each whole write batch and closed
    during reads."""
    p = replace(CerebellumParams(), granule=replace(CerebellumParams().granule, n=300))
    assert not p.mossy.background
    sdm = schedule_batches(p, None, _schedule(p), seed=0)
    gate = sdm._plasticity_gate().values
    expected = np.zeros_like(gate)
    for batch in sdm._batches:
        if batch.kind == "write":
            start = round(batch.onset * 1000)
            expected[start:start + round(batch.duration * 1000)] = 1
    np.testing.assert_array_equal(gate, expected)
    assert gate.sum() == 3 * round(float(p.protocol.write_slot / ms))


# ------------------------------------------------------------ active-set read (capacity)


def test_active_set_bits_reads_only_earlier_writes():
    """Each read batch sums the counters of the writes before it: cells {0, 1} store 1, read
    1; two later writes of 0 on them turn the same read to 0. Equals active_set_read on the
    writes so far; a never-written cell reads 0."""
    config = cerebellum_capacity.Config(circuit=CerebellumParams(
        value_bits=1, granule=GranuleParams(n=6)))
    cells = np.array([0, 1])
    values = np.array([[1], [0], [0]], dtype=np.uint8)
    entries = [("write", None, values[:1]), ("read", None, None),
               ("write", None, values[1:]), ("read", None, None)]
    readouts = [SimpleNamespace(active_granule=[cells]),
                SimpleNamespace(active_granule=[cells, np.array([5])]),
                SimpleNamespace(active_granule=[cells, cells]),
                SimpleNamespace(active_granule=[cells, np.array([5])])]
    bits = _active_set_bits(config, readouts, entries, values)
    assert len(bits) == 2
    assert bits[0].tolist() == [[1], [0]]
    assert bits[1].tolist() == [[0], [0]]
    np.testing.assert_array_equal(
        bits[1], active_set_read([cells] * 3, values, [cells, np.array([5])], 6,
                                 config.circuit.plasticity.counter_range)[0])


def test_capacity_reports_active_set_metrics(tmp_path):
    """Kanerva volley circuit (32 bits, 300 cells, cython), loads 2 and 6: the active-set
    metrics are present and in [0, 1]; being deterministic, the circuit agrees with the read
    on its own active sets at least as well as with the abstract SDM (both near 1)."""
    circuit = CerebellumParams(address_bits=32, value_bits=8, backend="cython",
                               granule=GranuleParams(n=300, coding_level=0.055))
    config = cerebellum_capacity.Config(circuit=circuit, loads=(2, 6), query_noise=(0.0,),
                                        reads_per_load=3)
    metrics = cerebellum_capacity.run(config, RunDirectory(tmp_path), progress=False)
    for load in config.loads:
        for key in ("accuracy_active_sets", "agreement_active_sets"):
            assert 0 <= metrics[f"q0_m{load}_{key}"] <= 1
        assert metrics[f"q0_m{load}_agreement_active_sets"] >= \
            metrics[f"q0_m{load}_agreement"] - 0.02
    assert metrics["q0_agreement_active_sets_mean"] >= metrics["q0_agreement_mean"] - 0.02
    assert metrics["q0_agreement_active_sets_mean"] > 0.95
    assert metrics["q0_agreement_active_sets_mean"] <= 1
    if metrics["q0_agreement_active_sets_mean"] == 1:  # same bits: same capacity
        assert metrics["q0_load_at_99_active_sets"] == pytest.approx(
            metrics["q0_load_at_99_circuit"], nan_ok=True)
    table = json.loads((tmp_path / "capacity.json").read_text())
    assert len(table["q0"]["agreement_active_sets"]) == len(config.loads)
