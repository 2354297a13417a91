"""Sweeps of the mapping layer on the cerebellum: effective beta per coding level, capacity.

The fast tests check inputs and validation; the ``slow`` ones run small circuits end to end
(numpy target). Full-size numbers: ``memcircuits figures cerebellum-beta`` and
``figures cerebellum-capacity`` (README).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from circuits.cerebellum.params import CerebellumParams, GranuleParams
from circuits.cerebellum.protocol import CerebellarSDM
from mapping.experiments import cerebellum_beta, cerebellum_capacity
from mapping.measures import read_inputs
from models.rundir import RunDirectory


def small(**changes) -> CerebellumParams:
    """32-bit addresses, 8 outputs, 300 granule cells, numpy target."""
    base = CerebellumParams(address_bits=32, value_bits=8,
                            granule=GranuleParams(n=300, coding_level=0.055))
    return replace(base, **changes)


def test_capacity_inputs_depend_on_the_seed_only():
    a = cerebellum_capacity.Config(circuit=small(), loads=(2, 4), reads_per_load=2)
    b = replace(a, circuit=small(granule=GranuleParams(n=500, coding_level=0.03)))
    keys_a, values_a, reads_a = cerebellum_capacity.schedule(a)
    keys_b, values_b, reads_b = cerebellum_capacity.schedule(b)
    np.testing.assert_array_equal(keys_a, keys_b)
    np.testing.assert_array_equal(values_a, values_b)
    for (la, na, wa, qa), (lb, nb, wb, qb) in zip(reads_a, reads_b, strict=True):
        assert (la, na) == (lb, nb)
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(qa, qb)
    assert len(reads_a) == 2 * 3  # loads x noise levels
    keys_c, *_ = cerebellum_capacity.schedule(replace(a, seed=1))
    assert not np.array_equal(keys_a, keys_c)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("loads", (4, 2), "strictly increasing"),
    ("loads", (0, 2), "positive integers"),
    ("query_noise", (1.5,), "query_noise"),
    ("reads_per_load", 0, "reads_per_load"),
])
def test_capacity_config_errors(field, value, match):
    config = replace(cerebellum_capacity.Config(circuit=small()), **{field: value})
    with pytest.raises(ValueError, match=match):
        config.validate()


@pytest.mark.parametrize(("field", "value", "match"), [
    ("coding_levels", (), "at least one"),
    ("coding_levels", (0.03, 0.03), "repeat"),
    ("coding_levels", (1.5,), r"\(0, 1\)"),
    ("coding_levels", (1e-9,), "coding_level"),
    ("tolerance", 0.0, "tolerance"),
])
def test_beta_config_errors(field, value, match):
    config = replace(cerebellum_beta.Config(), **{field: value})
    with pytest.raises(ValueError, match=match):
        config.validate()


def test_present_refuses_a_bad_schedule():
    sdm = CerebellarSDM(small(), seed=0)
    key = np.zeros((1, 32), dtype=np.uint8)
    with pytest.raises(ValueError, match="kind must be 'write', 'read' or 'rest'"):
        sdm.present([("erase", key, None)])
    with pytest.raises(ValueError, match="a read takes no values"):
        sdm.present([("read", key, np.zeros((1, 8)))])
    with pytest.raises(ValueError, match="same number of rows"):
        sdm.present([("write", key, np.zeros((2, 8), dtype=np.uint8))])
    with pytest.raises(ValueError, match="schedule is empty"):
        sdm.present([])


@pytest.mark.slow
def test_capacity_run_matches_the_abstract_sdm(tmp_path):
    config = cerebellum_capacity.Config(circuit=small(), loads=(2, 6), query_noise=(0.0, 0.1),
                                        reads_per_load=3)
    run = RunDirectory(tmp_path)
    metrics = cerebellum_capacity.run(config, run, progress=False)
    for label in ("q0", "q10"):
        assert metrics[f"{label}_agreement_mean"] == pytest.approx(1.0)
        assert metrics[f"{label}_load_at_99_circuit"] == metrics[f"{label}_load_at_99_abstract"]
    table = json.loads((tmp_path / "capacity.json").read_text())
    assert table["loads"] == [2, 6]
    assert read_inputs(tmp_path).kind == "cerebellum-capacity"


@pytest.mark.slow
def test_effective_beta_of_a_small_granular_layer_is_near_theory(tmp_path):
    config = cerebellum_beta.Config(
        circuit=replace(small(granule=GranuleParams(n=3000, coding_level=0.03)),
                        address_bits=48),
        coding_levels=(0.03,), clusters=3)
    metrics = cerebellum_beta.run(config, RunDirectory(tmp_path), progress=False)
    assert abs(metrics["p3_effective_beta_ratio"] - 1) < 0.15
    assert metrics["levels_within_tolerance"] == 1
    assert (tmp_path / "figures" / "effective_beta.png").is_file()
