"""Presets of the cerebellar circuit: ``--set circuit.preset=NAME`` and ``with_preset``."""

from __future__ import annotations

from dataclasses import replace

import pytest
from brian2 import ms

from circuits.cerebellum.params import (
    PRESETS,
    CerebellumParams,
    GranuleParams,
    apply_preset,
    biological,
    biological_granule_count,
    mushroom_body,
)
from mapping.experiments.calcium_protocol import Config as CalciumProtocolConfig
from mapping.experiments.cerebellum import Config as CerebellumConfig
from mapping.experiments.cerebellum_capacity import Config as CapacityConfig
from mapping.runner import DEMO_RUNS
from models.config import ConfigError, load_config


def test_the_default_circuit_is_kanervas_limit():
    params = CerebellumParams()
    assert params.preset == "kanerva"
    assert params.with_preset("kanerva") == params


def test_mushroom_body_preset_sets_its_biology_and_sizes():
    params = CerebellumParams(backend="cython").with_preset("mushroom_body")
    assert (params.address_bits, params.value_bits, params.backend) == (50, 2, "cython")
    assert (params.granule.n, params.granule.inputs, params.granule.mismatches) == (2000, 6, 1)
    assert params.mossy.rails == "one" and params.golgi.feedforward is False
    assert params.population_names["granule"] == "KC"
    assert mushroom_body() == CerebellumParams().with_preset("mushroom_body")
    assert mushroom_body(value_bits=3).value_bits == 3
    # the fly's plasticity timing, which the cerebellar presets undo
    assert params.plasticity.backward > 0
    for other in ("kanerva", "biological"):
        assert params.with_preset(other).plasticity.backward == 0


def test_biological_preset_sets_four_claw_cells_poisson_fibres_and_the_golgi_loop():
    base = CerebellumParams(backend="cython", value_bits=8)
    params = base.with_preset("biological")
    params.validate()
    assert params.preset == "biological"
    assert (params.granule.design, params.granule.inputs) == ("selected", 4)
    assert params.mossy.firing == "poisson" and params.golgi.mode == "rate"
    assert params.granule.n == biological_granule_count(64) == 14720
    assert (params.backend, params.value_bits) == ("cython", 8)  # kept from the base
    assert params.population_names["granule"] == "GrC"
    # and back: Kanerva's circuit exactly, the base's backend and outputs kept
    assert params.with_preset("kanerva") == base
    assert biological(value_bits=8, backend="cython") == params
    assert biological(address_bits=32).granule.n == biological_granule_count(32) == 7360
    # the biological read slot lets the slow granule current fade between presentations
    assert params.protocol.read_slot == 170 * ms > base.protocol.read_slot


def test_predictions_default_to_the_biological_layer_and_kanerva_is_one_key_away():
    assert CerebellumConfig().circuit == biological()
    (demo,) = [overrides for name, command, overrides in DEMO_RUNS if command == "cerebellum"]
    assert load_config(CerebellumConfig, overrides=demo).circuit.preset == "biological"
    assert CalciumProtocolConfig().circuit.preset == "biological"
    kanerva = load_config(CerebellumConfig, overrides=["circuit.preset=kanerva"]).circuit
    assert kanerva == CerebellumParams()  # slots, margin and granule count restored
    small = load_config(CalciumProtocolConfig, overrides=[
        "circuit.preset=kanerva", "circuit.granule.n=600", "circuit.granule.coding_level=0.055"])
    assert small.circuit == CerebellumParams(address_bits=32, value_bits=8, granule=GranuleParams(
        n=600, coding_level=0.055))


@pytest.mark.parametrize("order", ["preset-first", "preset-last"])
def test_the_preset_applies_first_then_the_other_keys(order):
    sets = ["circuit.granule.n=500", "circuit.preset=mushroom_body"]
    if order == "preset-first":
        sets.reverse()
    config = load_config(CerebellumConfig, overrides=sets)
    assert config.circuit.preset == "mushroom_body"
    assert config.circuit.granule.n == 500 and config.circuit.address_bits == 50


def test_a_preset_keeps_the_experiments_own_sizes_backend_and_protocol(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[circuit]\npreset = "biological"\n')
    config = load_config(CapacityConfig, path)
    default = CapacityConfig().circuit
    assert config.circuit.preset == "biological"
    assert config.circuit.backend == default.backend == "cpp_standalone"
    # the protocol is the experiment's, but for a read slot long enough for the slow current
    assert config.circuit.protocol == replace(default.protocol, read_slot=170 * ms,
                                              write_slot=260 * ms)


def test_unknown_presets_are_refused_naming_the_known_ones():
    with pytest.raises(ConfigError, match=r"circuit\.preset must be one of kanerva, "
                                          r"biological, mushroom_body, got 'frog'"):
        load_config(CerebellumConfig, overrides=["circuit.preset=frog"])
    with pytest.raises(ValueError, match="preset must be one of"):
        apply_preset(CerebellumParams(), "cerebellum")
    with pytest.raises(ValueError, match="preset must be one of"):
        CerebellumParams(preset="frog").validate()
    assert PRESETS == ("kanerva", "biological", "mushroom_body")


def test_stimulus_override_after_preset():
    config = load_config(CerebellumConfig, overrides=["circuit.preset=mushroom_body",
                                                      'circuit.mossy.stimulus="12 ms"'])
    assert config.circuit.mossy.stimulus == 12 * ms
    assert config.circuit.mossy.rails == "one"  # the rest of the preset's mossy fibres
