"""The cerebellar SDM circuit (Brian2, numpy target): plasticity, granule code, read-out.

Sizes are small (32-bit addresses, a few hundred granule cells, a handful of
presentations) so the whole file runs in about a minute; the full-size numbers of the issue
come from ``memcircuits cerebellum`` and the ``figures cerebellum-*`` commands (README).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from brian2 import Hz, ms

from circuits.cerebellum.params import (
    CerebellumParams,
    GolgiParams,
    GranuleParams,
    ProtocolParams,
    derive,
    mushroom_body,
)
from circuits.cerebellum.plasticity import measure_window
from circuits.cerebellum.protocol import CerebellarSDM, granule_active_sets
from mapping.cerebellum_vs_sdm import (
    abstract_sdm,
    active_set_read,
    compare_read,
    counter_error,
)
from mapping.experiments.mushroom_body import expected_sparseness, odours_with_activity
from models.patterns import flip_exact, random_binary

RECORD = ("granule", "purkinje", "nuclei")


def small(**changes) -> CerebellumParams:
    """32-bit addresses, 8 outputs, 600 granule cells at ~5.5% coding level (radius 11)."""
    base = CerebellumParams(address_bits=32, value_bits=8,
                            granule=GranuleParams(n=600, coding_level=0.055))
    return replace(base, **changes)


@pytest.mark.parametrize(("peak_ms", "pairing"), [(100.0, "all"), (60.0, "all"),
                                                  (100.0, "nearest")])
def test_plasticity_window_peak_and_no_ltd_after_cf(peak_ms, pairing):
    params = small(plasticity=replace(CerebellumParams().plasticity, window_peak=peak_ms * ms,
                                      pairing=pairing))
    window = measure_window(params, np.arange(-100, 401, 5) * 1e-3)
    ltp = params.plasticity.ltp
    # the configured peak, within 10 ms (the tolerance); measured within ~0.1 ms
    assert abs(window.peak_interval * 1e3 - peak_ms) < 10
    # PF spike after the CF spike (interval < 0): pure LTP, no depression at all
    after = window.intervals < 0
    np.testing.assert_allclose(window.weight_change[after], ltp, atol=1e-12)
    # strongest change is depression of ltd - ltp at the peak
    assert window.weight_change.min() == pytest.approx(ltp - params.plasticity.ltd, abs=0.01)
    # the measured window is the analytic kernel (same event-driven traces)
    np.testing.assert_allclose(window.weight_change, window.expected, atol=1e-9)


def test_backward_pairing_potentiates_pf_spikes_that_follow_the_cf_and_decays():
    """The fly's timing: a PF spike after the CF potentiates by b ltd exp(-dt/tau_b) on top
    of the PF's own LTP; PF spikes before the CF are depressed as without it."""
    base = small()
    params = replace(base, plasticity=replace(base.plasticity, backward=1.0))
    intervals = np.arange(-300, 201, 10) * 1e-3
    window = measure_window(params, intervals)
    plain = measure_window(base, intervals)
    np.testing.assert_allclose(window.weight_change, window.expected, atol=1e-9)
    after = intervals < 0
    extra = window.weight_change - plain.weight_change
    assert np.all(extra[after] > 0) and np.all(np.diff(extra[after]) > 0)  # decays with |dt|
    assert extra[intervals == -0.01][0] > 0.9 * params.plasticity.ltd
    np.testing.assert_allclose(extra[~after], 0, atol=1e-12)


def test_headroom_bounds_potentiation_at_the_naive_weight():
    """``plasticity.headroom = 0``: a PF spike alone cannot raise a naive weight (LTP only
    undoes LTD), so a pairing at the window's peak depresses by the whole ``ltd``; one unit
    of headroom lets the lone PF spike potentiate by ``ltp`` again."""
    intervals = np.array([-0.05, 0.1])  # PF after the CF (LTP only); PF at the peak
    for headroom, rise in ((0, 0.0), (1, 1.0)):
        base = small()
        params = replace(base, plasticity=replace(base.plasticity, headroom=headroom))
        pl = params.plasticity
        assert pl.w_max == pytest.approx(pl.baseline_weight + headroom * pl.ltp)
        change = measure_window(params, intervals).weight_change
        assert change[0] == pytest.approx(rise * pl.ltp, abs=1e-12)
        assert change[1] == pytest.approx(rise * pl.ltp - pl.ltd, abs=0.01)
    assert small().plasticity.w_max == pytest.approx(2.0)  # None: counter_range units
    with pytest.raises(ValueError, match=r"plasticity\.headroom"):
        replace(small().plasticity, headroom=-1).validate()


def test_active_granule_sets_are_the_hamming_balls_of_the_abstract_sdm():
    params = small()
    patterns = random_binary(6, 32, seed=1).numpy()
    circuit = CerebellarSDM(params, seed=3)
    active = granule_active_sets(params, patterns, wiring=circuit.wiring, seed=3)
    model = abstract_sdm(circuit)
    expected = model.active_sets(torch.as_tensor(patterns))
    for got, want in zip(active, expected, strict=True):
        # exact equality: the volley threshold is calibrated on the discrete integrator
        np.testing.assert_array_equal(got, want.numpy())
    sizes = np.array([len(a) for a in active])
    assert sizes.min() > 0


@pytest.mark.parametrize("pairing", [
    "all",
    # slow: covered by test_plasticity_window_peak_and_no_ltd_after_cf[100.0-nearest] (rule)
    # and [all] here (write/read path)
    pytest.param("nearest", marks=pytest.mark.slow),
])
def test_write_read_matches_the_abstract_sdm(pairing):
    params = small(plasticity=replace(CerebellumParams().plasticity, pairing=pairing))
    keys = random_binary(5, 32, seed=10).numpy()
    values = random_binary(5, 8, seed=11).numpy()
    noisy = flip_exact(torch.as_tensor(keys), 3, seed=12).numpy()
    circuit = CerebellarSDM(params, seed=4, record=RECORD)
    write = circuit.write(keys, values)
    clean = circuit.read(keys)
    noisy_read = circuit.read(noisy)
    model = abstract_sdm(circuit)
    model.write(torch.as_tensor(keys), torch.as_tensor(values))
    # every write depresses (CF) or potentiates the synapses of its active granule cells by
    # one counter unit; crosstalk from the window tail between writes stays below 0.1 unit
    assert counter_error(circuit, model, noisy_read) < 0.1
    for readout in (clean, noisy_read):
        cmp = compare_read(circuit, model, readout, stored=values)
        assert cmp.active_sets_equal.all()
        # net PF drive is the sum of counters up to the same small crosstalk
        assert cmp.sums_correlation > 0.999
        # decoding differs from the majority only for sums within a couple of units of 0
        disagree = cmp.circuit_bits != cmp.abstract_bits
        assert np.all(np.abs(cmp.abstract_sums[disagree]) <= 2)
        assert cmp.bit_agreement >= 0.95
    assert (clean.bits == values).mean() == 1.0
    # the SDM read on the circuit's own active sets is the abstract read here (the sets are
    # the abstract SDM's): the reference for circuits whose sets no fixed rule reproduces
    bits, sums = active_set_read(write.active_granule, values, noisy_read.active_granule,
                                 params.granule.n, params.plasticity.counter_range)
    np.testing.assert_array_equal(sums, model.sums(torch.as_tensor(noisy)).numpy())
    np.testing.assert_array_equal(bits, model.read(torch.as_tensor(noisy)).numpy())
    # writes learn, reads do not: weights change only in the write call
    assert not np.array_equal(write.weights_before, write.weights_after)
    np.testing.assert_array_equal(clean.weights_before, clean.weights_after)
    # readouts carry spikes of every recorded population, restricted to their own span
    for name in RECORD:
        t = clean.spikes[name].times
        assert t.size == 0 or (t.min() >= clean.onsets[0] and t.max() < clean.onsets[-1] + 1)


def test_golgi_holds_the_coding_level_over_a_4x_rate_range():
    patterns = random_binary(3, 32, seed=5).numpy()
    levels = {}
    for golgi in (True, False):
        for rate in (30.0, 120.0):
            params = small(golgi=replace(GolgiParams(), enabled=golgi),
                           mossy=replace(CerebellumParams().mossy, rate=rate * Hz))
            active = granule_active_sets(params, patterns, seed=2)
            levels[golgi, rate] = np.mean([len(a) for a in active]) / params.granule.n
    target = 0.055
    # with Golgi cells: within 30% of the target at both ends of the range
    assert abs(levels[True, 30.0] / target - 1) < 0.3
    assert abs(levels[True, 120.0] / target - 1) < 0.3
    # without: later volleys summate and the level rises with the rate (measured ~2-10x)
    assert levels[False, 120.0] > 1.5 * levels[False, 30.0]


def test_time_step_is_applied_and_calibrated():
    # a finer step must give the same Hamming balls (the calibration follows protocol.dt)
    patterns = random_binary(2, 32, seed=1).numpy()
    coarse = small()
    fine = small(protocol=replace(coarse.protocol, dt=0.05 * ms))
    circuit = CerebellarSDM(coarse, seed=3)
    a = granule_active_sets(coarse, patterns, wiring=circuit.wiring, seed=3)
    b = granule_active_sets(fine, patterns, wiring=circuit.wiring, seed=3)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    # and the simulation really steps at 0.05 ms: some spike times fall between 0.1-ms steps
    read = CerebellarSDM(fine, seed=3, wiring=circuit.wiring, record=RECORD).read(patterns)
    steps = read.spikes["granule"].times / 0.05e-3
    assert np.allclose(steps, np.round(steps))
    assert (np.round(steps) % 2 == 1).any()


def test_selected_coordinate_cells_fire_when_all_inputs_match():
    params = small(granule=GranuleParams(n=800, design="selected", inputs=4,
                                         coding_level=None))
    circuit = CerebellarSDM(params, seed=6)
    patterns = random_binary(4, 32, seed=7).numpy()
    active = granule_active_sets(params, patterns, wiring=circuit.wiring, seed=6)
    coords, targets = circuit.wiring.coordinates, circuit.wiring.targets
    for pattern, got in zip(patterns, active, strict=True):
        want = np.flatnonzero((pattern[coords] == targets).all(1))
        np.testing.assert_array_equal(got, want)
    # activation probability 2^-4 = 6.25%: 800 cells x 4 patterns, SD ~0.4% -> +-2%
    assert abs(np.mean([len(a) for a in active]) / 800 - 1 / 16) < 0.02


def test_mushroom_body_preset_holds_sparseness():
    params = mushroom_body(granule=replace(mushroom_body().granule, n=1000))
    odours = odours_with_activity(4, params.address_bits, params.mossy.activity,
                                  np.random.default_rng(0))
    active = granule_active_sets(params, odours, seed=1)
    level = np.mean([len(a) for a in active]) / params.granule.n
    # Kenyon cells: 5-10% active in flies; the preset's expectation is ~5.1%
    assert 0.03 < level < 0.10
    assert abs(level - expected_sparseness(params)) < 0.02


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: small(granule=GranuleParams(n=600, radius=40, coding_level=None)),
         r"granule.radius \(40\) must be <= address_bits"),
        (lambda: small(granule=GranuleParams(n=600, coding_level=1e-9)),
         "coding_level 1e-09 is impossible"),
        (lambda: small(granule=GranuleParams(n=10, coding_level=0.01)),
         "no granule cell would be active"),
        (lambda: small(protocol=ProtocolParams(write_slot=150 * ms)),
         "shorter than the plasticity window"),
        (lambda: small(backend="gpu"), "backend must be one of"),
        (lambda: small(granule=GranuleParams(n=600, design="selected", inputs=4,
                                             coding_level=0.2)),
         "impossible for the selected design"),
    ],
)
def test_infeasible_parameters_are_refused_before_simulation(make, message):
    with pytest.raises(ValueError, match=message):
        CerebellarSDM(make())


def test_bad_patterns_are_refused_before_simulation():
    circuit = CerebellarSDM(small(), seed=0, record=RECORD)
    keys = np.zeros((2, 32), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"keys must have last dimension 32 \(address_bits\)"):
        circuit.write(np.zeros((2, 31)), np.zeros((2, 8)))
    with pytest.raises(ValueError, match=r"values must be binary \(0/1\), found the value 2"):
        circuit.write(keys, np.full((2, 8), 2))
    with pytest.raises(ValueError, match="same number of rows"):
        circuit.write(keys, np.zeros((3, 8)))
    with pytest.raises(ValueError, match="queries must have last dimension 32"):
        circuit.read(np.zeros((1, 64)))
    with pytest.raises(ValueError, match="record must include"):
        CerebellarSDM(small(), record=("granule",))
    # nothing was simulated
    assert circuit.history == []


def test_derived_calibration_is_consistent():
    d = derive(CerebellumParams())
    assert d.radius == 24 and d.threshold_count == 40
    # baseline Purkinje interval equals the requested rate
    assert float(d.pc_interval / ms) == pytest.approx(20.0)
    # the climbing fibre fires one window peak after the PF spikes reach the Purkinje cell
    assert float((d.cf_offset - d.granule_latency - d.pf_delay) / ms) == pytest.approx(100.0)


@pytest.mark.standalone
def test_cpp_standalone_gives_the_same_readout(tmp_path):
    keys = random_binary(3, 32, seed=20).numpy()
    values = random_binary(3, 8, seed=21).numpy()
    results = {}
    for backend in ("numpy", "cpp_standalone"):
        circuit = CerebellarSDM(small(backend=backend), seed=8, record=RECORD,
                                directory=tmp_path / "build")
        circuit.write(keys, values)
        results[backend] = circuit.read(keys)
    a, b = results["numpy"], results["cpp_standalone"]
    np.testing.assert_array_equal(a.bits, b.bits)
    for x, y in zip(a.active_granule, b.active_granule, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(a.weights_after, b.weights_after, atol=1e-9)


def test_cerebellum_command_writes_the_run_directory(small_cerebellum_run):
    """The shared run of tests/conftest.py: ``memcircuits cerebellum`` with 32-bit addresses,
    8 outputs, 400 granule cells, 3 patterns, query noise 0.1 (exit status 0 checked there)."""
    import json

    from analysis.nwb import read_spikes

    out = small_cerebellum_run
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("bit_agreement_vs_sdm", "bit_accuracy_vs_stored", "coding_level"):
        assert 0 <= metrics[key] <= 1
    assert metrics["bit_agreement_vs_sdm_clean"] == 1.0
    assert metrics["active_set_match_noisy"] == 1.0
    # volleys: the circuit's own active sets are Kanerva's, so both abstract reads agree
    assert metrics["asynchronous"] is False
    for label in ("clean", "noisy"):
        assert metrics[f"bit_agreement_vs_active_sets_{label}"] == pytest.approx(
            metrics[f"bit_agreement_vs_sdm_{label}"])
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["circuit"]["granule"]["n"] == 400
    assert config["config"]["query_noise"] == 0.1
    assert config["config"]["circuit"]["mossy"]["rate"] == "50 Hz"
    spikes = read_spikes(out / "spikes.nwb")
    assert {"MF", "GrC", "GoC", "PC", "MLI", "CF", "DCN"} <= set(spikes)
    # the NWB spike times equal the readout's (granule spikes of every presentation)
    data = np.load(out / "readout.npz")
    active = set(data["write_active_indices"].tolist())
    assert active <= set(spikes["GrC"][0].tolist())
    for name in ("raster_write", "raster_read", "weight_change", "coding_level", "sums"):
        assert (out / "figures" / f"{name}.png").is_file()


def test_config_quantities_round_trip_and_reject_wrong_units(tmp_path):
    from mapping.cli import main

    code = main(["cerebellum", "--out", str(tmp_path / "x"), "--quiet",
                 "--set", "circuit.mossy.rate=50 ms"])
    assert code == 2
    code = main(["cerebellum", "--out", str(tmp_path / "y"), "--quiet",
                 "--set", "circuit.granule.bogus=1"])
    assert code == 2


def test_derive_is_computed_once_per_build(monkeypatch):
    """``derive`` runs once per parameter object: validation, the circuit, the network
    builder and the memory guard share one :class:`Derived`."""
    from dataclasses import replace

    import circuits.cerebellum.derived as derived_module  # where derive and _derive live
    import circuits.cerebellum.params as params_module
    from circuits.cerebellum import CerebellarSDM, CerebellumParams

    calls = []
    real = derived_module._derive
    monkeypatch.setattr(derived_module, "_derive", lambda p: calls.append(p) or real(p))
    params = CerebellumParams(address_bits=32, value_bits=8)
    params = replace(params, granule=replace(params.granule, n=300, coding_level=0.055))
    params.validate()
    sdm = CerebellarSDM(params, seed=0)
    sdm.network  # noqa: B018 - builds the network
    # (the memory guard also derives a tiny copy of the circuit, a parameter object of its own)
    assert sum(p is params for p in calls) == 1
    assert params_module.derive(params) is sdm.derived
    other = replace(params, value_bits=4)
    assert params_module.derive(other) is not sdm.derived
    assert sum(p is other for p in calls) == 1


def test_a_rest_lets_time_pass_without_stimuli_or_writing():
    """Kanerva's circuit (no background): a rest adds no presentation, moves the next
    presentation by its duration, fires no granule cell and leaves every weight."""
    params = CerebellumParams(address_bits=32, value_bits=4,
                              granule=GranuleParams(n=200, coding_level=0.05))
    key = random_binary(1, 32, seed=3).numpy().astype(np.uint8)
    value = np.array([[1, 0, 1, 0]], dtype=np.uint8)
    sdm = CerebellarSDM(params, seed=3, report=None)
    written, rest, read = sdm.present([("write", key, value), ("rest", 0.5, None),
                                       ("read", key, None)])
    assert rest.kind == "rest" and len(rest.onsets) == 0 and rest.bits.shape == (0, 4)
    assert np.array_equal(rest.weights_before, rest.weights_after)
    assert np.array_equal(rest.weights_after, written.weights_after)
    assert len(rest.spikes["granule"].times) == 0
    assert read.onsets[0] == pytest.approx(written.onsets[0] + written.slot + 0.5)
    assert read.bits.tolist() == value.tolist()
