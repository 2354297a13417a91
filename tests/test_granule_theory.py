"""Granule overlaps of the spiking circuit against their exact theory, both designs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from brian2 import ms

from circuits.cerebellum.params import CerebellumParams, GranuleParams, MossyFibreParams
from mapping.experiments import cerebellum_beta, cerebellum_intersection
from mapping.granule_theory import granule_theory
from models.intersection import binary_intersection
from models.intersection_selected import fit_beta_selected, selected_intersection
from models.rundir import RunDirectory


def _small(**granule) -> CerebellumParams:
    return CerebellumParams(address_bits=32, value_bits=4,
                            granule=GranuleParams(n=2000, **granule),
                            mossy=MossyFibreParams(stimulus=10 * ms))


def test_theory_of_each_design():
    full = granule_theory(_small(coding_level=0.03))
    assert full.design == "full" and full.inputs is None
    np.testing.assert_allclose(full.expected(np.arange(5)),
                               binary_intersection(32, full.radius, np.arange(5), 2000))
    four = granule_theory(_small(design="selected", inputs=4, coding_level=None))
    assert (four.design, four.inputs, four.radius) == ("selected", 4, None)
    np.testing.assert_allclose(four.expected(np.arange(33)),
                               selected_intersection(32, 4, np.arange(33), 2000))
    fit = fit_beta_selected(32, 4)
    assert four.beta == fit.beta and four.last_distance == fit.last_distance


@pytest.mark.parametrize(("change", "message"), [
    ({"mossy": MossyFibreParams(rails="one")}, "rails must be 'two'"),
    ({"mossy": MossyFibreParams(firing="poisson")}, "firing must be 'regular'"),
])
def test_circuits_without_an_exact_theory_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        granule_theory(replace(_small(coding_level=0.03), **change))


def test_four_claw_volley_overlaps_follow_the_selected_theory(tmp_path):
    # 2000 four-claw cells, 3 clusters x 17 distances: the spiking overlap at every distance
    # holding 99% of the weight lies within a few standard errors of r q(d_v) (measured at
    # n = 64, 20000 cells: within 2% at every distance, beta 3.011 vs 3.029)
    config = cerebellum_intersection.Config(
        circuit=_small(design="selected", inputs=4, coding_level=None), clusters=3)
    metrics = cerebellum_intersection.run(config, RunDirectory(tmp_path / "run"),
                                          progress=False)
    assert metrics["design"] == "selected" and metrics["inputs"] == 4
    # pairs within a cluster share patterns: the bins' standard errors are a little
    # optimistic, so the worst of the 17 bins is allowed 5 of them
    assert metrics["max_relative_error_z"] < 5.0
    # the fitted beta tells the rule apart (n = 32: k = 3 gives 2.50, k = 4 3.11, k = 5 3.77)
    assert metrics["effective_beta_ratio"] == pytest.approx(1.0, abs=0.1)
    assert metrics["overlap_mean_d0"] == pytest.approx(2000 / 16, rel=0.15)
    assert "4 inputs per cell" in cerebellum_intersection.summarize(metrics)


def test_unreliable_release_sets_the_level_and_the_overlaps_follow_the_theory(tmp_path):
    # 3% of four-claw cells: all four matched inputs must release, P_rel = (0.03 x 16)^(1/4)
    # = 0.83; release is drawn per synapse and spike, so distance 0 is measured across two
    # presentations of each base (measured at n = 32, 3000 cells: beta within 2% of theory
    # at 1% and 10% coding levels)
    config = cerebellum_beta.Config(
        circuit=_small(design="selected", inputs=4, coding_level=None),
        coding_levels=(0.03,), clusters=3)
    params = config.level_params(0.03)
    assert params.granule.mismatches == 0
    assert params.granule.release_probability == pytest.approx(0.48 ** 0.25)
    metrics = cerebellum_beta.run(config, RunDirectory(tmp_path / "run"), progress=False)
    assert metrics["p3_coding_level"] == pytest.approx(0.03, rel=0.15)
    assert metrics["p3_effective_beta_ratio"] == pytest.approx(1.0, abs=0.1)
    # log-overlap on cosine: the theory's R^2 (32 bits, all four inputs) and the spikes'
    assert metrics["p3_theoretical_r_squared"] == pytest.approx(
        fit_beta_selected(32, 4).r_squared, abs=1e-9)
    assert metrics["p3_effective_r_squared"] > 0.95
    assert "4 of 4, P_rel 0.83" in cerebellum_beta.summarize(metrics)


def test_release_is_seeded_and_refused_where_it_has_no_theory():
    from circuits.cerebellum.protocol import granule_active_sets

    params = _small(design="selected", inputs=4, coding_level=None, release_probability=0.6)
    keys = np.random.default_rng(0).integers(0, 2, (3, 32))
    first = granule_active_sets(replace(params, granule=replace(params.granule, n=300)),
                                keys, seed=1)
    again = granule_active_sets(replace(params, granule=replace(params.granule, n=300)),
                                keys, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    for value, message in ((0.0, "must lie in"), (1.5, "must lie in")):
        with pytest.raises(ValueError, match=f"release_probability {message}"):
            replace(params, granule=replace(params.granule, release_probability=value)
                    ).validate()
    with pytest.raises(ValueError, match=r"needs granule\.design = 'selected'"):
        _small(coding_level=0.03, release_probability=0.5).validate()
