"""``figures granule-regimes``: the three regimes' circuits, validation, and a small run."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from mapping.experiments import granule_regimes
from mapping.experiments.granule_regimes import REGIMES, Config, regime_circuit
from models.rundir import RunDirectory


def test_each_regime_is_the_circuit_it_names():
    """Full address + volleys, four claws + volleys, the biological preset; one size."""
    config = Config(n_granule=2000)
    full, claws, bio = (regime_circuit(config, name) for name in REGIMES)
    assert (full.granule.design, full.mossy.firing) == ("full", "regular")
    assert (claws.granule.design, claws.granule.inputs, claws.mossy.firing) == (
        "selected", 4, "regular")
    assert (bio.preset, bio.granule.inputs, bio.mossy.firing) == ("biological", 4, "poisson")
    assert {c.granule.n for c in (full, claws, bio)} == {2000}
    with pytest.raises(ValueError, match="regime must be one of"):
        regime_circuit(config, "frog")


@pytest.mark.parametrize(("field", "value", "match"), [
    ("coding_level", 0.07, "coding_level"),
    ("coding_level", 0.0, "coding_level"),
    ("clusters", 0, "clusters"),
    ("n_granule", 10, "n_granule"),
    ("address_bits", 4, "address_bits"),
    ("weight_mass", 1.5, "weight_mass"),
    ("seed", -1, "seed"),
])
def test_bad_config_is_refused_by_name(field, value, match):
    with pytest.raises(ValueError, match=match):
        replace(Config(), **{field: value}).validate()


@pytest.mark.slow
def test_small_run_follows_theory_in_every_regime(tmp_path):
    """16 bits, 1500 cells, 3%, 2 clusters (~80 s): every regime's effective beta within
    20% of its theory (measured: 0.91 / 0.98 / 0.94), data and figure written."""
    config = Config(address_bits=16, n_granule=1500, clusters=2, coding_level=0.03)
    metrics = granule_regimes.run(config, RunDirectory(tmp_path), progress=False)
    for name in REGIMES:
        assert abs(metrics[f"{name}_effective_beta_ratio"] - 1) < 0.2, metrics
        assert 0.01 < metrics[f"{name}_coding_level"] < 0.06, metrics
    table = json.loads((tmp_path / "regimes.json").read_text())
    assert set(table) == set(REGIMES)
    assert table["claws_asynchronous"]["activation"] is not None
    assert table["full_volleys"]["activation"] is None
    assert np.all(np.isfinite(table["claws_volleys"]["mean"]))
    assert (tmp_path / "figures" / "regimes.png").exists()
