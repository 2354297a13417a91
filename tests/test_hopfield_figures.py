"""Tests of mapping.experiments.hopfield_figures (``memcircuits figures hopfield``)."""

from __future__ import annotations

import json
import math

import pytest

from mapping.experiments.hopfield_figures import Config, summarize
from mapping.measures import estimate_alpha_c
from mapping.runner import run_experiment
from models.config import ConfigError, load_config

#: a reduced configuration: two classic sizes, three modern sizes, three mixture betas
SMALL = [
    "classic_sizes=[100, 200]",
    "classic_loads=[0.05, 0.1, 0.15, 0.2, 0.3]",
    "classic_probes=60",
    "modern_sizes=[32, 64, 100]",
    "modern_loads=[1, 10, 100]",
    "modern_main_n=100",
    "modern_probes=50",
    "mixture_betas=[0.02, 0.08, 1.0]",
]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hopfield")
    metrics = run_experiment("hopfield", out, overrides=SMALL, quiet=True)
    return out, metrics


def test_run_writes_the_run_directory(small_run):
    out, metrics = small_run
    assert json.loads((out / "metrics.json").read_text()) == pytest.approx(
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()})
    config = json.loads((out / "config.json").read_text())["config"]
    assert config["classic_sizes"] == [100, 200]
    for name in ("classic_capacity", "modern_capacity", "modern_convergence",
                 "modern_mixtures"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
    header = (out / "classic_curves.csv").read_text().splitlines()[0]
    assert header.startswith("N,m,alpha,probes,mean_overlap")
    assert len((out / "modern_capacity.csv").read_text().splitlines()) == 1 + 3 * 3
    assert len((out / "modern_mixtures.csv").read_text().splitlines()) == 1 + 3


def test_metric_keys(small_run):
    _, metrics = small_run
    expected = {
        "classic_converged_fraction", "modern_max_load_perfect", "modern_max_patterns_perfect",
        "modern_max_load_tested", "modern_iterations_high_beta",
        "modern_iterations_high_beta_max", "modern_converged_fraction_high_beta",
        "modern_one_step_error_high_beta", "modern_max_weight_low_beta",
        "modern_n_substantial_low_beta", "modern_effective_patterns_low_beta",
        "modern_cluster_weight_low_beta", "modern_exact_fraction_low_beta",
        "modern_max_weight_high_beta", "modern_n_substantial_high_beta",
        "modern_energy_max_increase", "wall_time_s",
    }
    for n in (100, 200):
        expected |= {f"classic_alpha_c_N{n}", f"classic_error_alpha0.1_N{n}",
                     f"classic_error_alpha0.2_N{n}"}
    for n in (32, 64, 100):
        expected |= {f"modern_max_load_perfect_N{n}", f"modern_max_patterns_perfect_N{n}",
                     f"modern_exact_fraction_max_load_N{n}"}
    for b in ("0.02", "0.08", "1"):
        expected |= {f"modern_max_weight_beta{b}", f"modern_n_substantial_beta{b}",
                     f"modern_effective_patterns_beta{b}", f"modern_iterations_beta{b}"}
    assert set(metrics) == expected


def test_classic_values_are_sane(small_run):
    _, metrics = small_run
    for n in (100, 200):
        # below capacity (alpha = 0.1) AGS predicts ~0.1 % wrong bits; 2 % leaves room for
        # finite-size effects and 60 probes of noise
        assert metrics[f"classic_error_alpha0.1_N{n}"] < 0.02
        # finite networks cross the 0.9-overlap criterion somewhat above 0.138 (measured
        # ~0.17-0.19 for N = 100-200 on the full grid); the coarse test grid must land
        # between its neighbouring loads 0.1 and 0.3
        assert 0.1 < metrics[f"classic_alpha_c_N{n}"] < 0.3
    # past the transition the error grows by an order of magnitude (measured 0.087 at
    # alpha = 0.2 vs 0.006 at 0.1 for N = 200); 0.03 is far above the probe noise (~0.01)
    assert metrics["classic_error_alpha0.2_N200"] > metrics["classic_error_alpha0.1_N200"] + 0.03
    assert metrics["classic_converged_fraction"] == 1.0  # asynchronous dynamics always settle


def test_modern_values_are_sane(small_run):
    _, metrics = small_run
    # N = 100, 20 % flipped bits: a wrong winner needs a 6-sigma dot product, so 100 N
    # patterns (730x the classic capacity) are retrieved perfectly
    assert metrics["modern_max_load_perfect"] == 100
    assert metrics["modern_max_patterns_perfect"] == 10_000
    # capacity grows with N (exponential in N): N = 32 fails by 100 N (measured 58 %)
    assert metrics["modern_max_load_perfect_N32"] < metrics["modern_max_load_perfect_N100"]
    assert metrics["modern_exact_fraction_max_load_N32"] < 0.9
    # one update suffices at beta = 1 (softmax weight ~1 - m e^{-20} on the target)
    assert metrics["modern_iterations_high_beta"] <= 1.05
    assert metrics["modern_one_step_error_high_beta"] < 1e-3
    # metastable cluster mixture at beta = 0.08: weight ~0.25 on each of ~5 cluster mates
    assert 0.1 < metrics["modern_max_weight_low_beta"] < 0.5
    assert 3 <= metrics["modern_n_substantial_low_beta"] <= 5
    assert metrics["modern_cluster_weight_low_beta"] > 0.9
    assert metrics["modern_effective_patterns_beta0.02"] > 40   # global fixed point, m = 50
    assert metrics["modern_max_weight_high_beta"] > 0.99
    # CCCP: the energy never increases (float64 rounding only)
    assert metrics["modern_energy_max_increase"] < 1e-9


def test_summarize_mentions_the_headline_numbers(small_run):
    _, metrics = small_run
    text = summarize(metrics)
    assert "alpha_c" in text and "N=100" in text and "m/N = 100" in text


def test_estimate_alpha_c():
    # linear interpolation between (0.1, 1.0) and (0.2, 0.8) crosses 0.9 at 0.15
    assert estimate_alpha_c([0.05, 0.1, 0.2, 0.3], [1.0, 1.0, 0.8, 0.5], 0.9) == \
        pytest.approx(0.15)
    assert math.isnan(estimate_alpha_c([0.1, 0.2], [0.99, 0.95], 0.9))   # never crosses
    assert math.isnan(estimate_alpha_c([0.1, 0.2], [0.5, 0.4], 0.9))     # below at once
    with pytest.raises(ValueError, match=r"^mean_overlaps must match loads"):
        estimate_alpha_c([0.1, 0.2], [1.0], 0.9)


def test_default_config_is_valid_and_bad_values_are_named():
    Config().validate()
    bad = {
        "modern_main_n=50": "modern_main_n",
        "classic_loads=[0.2, 0.1]": "classic_loads",
        "beta_low=0": "beta_low",
        "classic_mode=parallel": "classic_mode",
        "classic_sizes=[]": "classic_sizes",
        "mixture_cluster_flip=1.5": "mixture_cluster_flip",
        "device=tpu9": "device",
        "nonsense=1": "nonsense",
    }
    for override, name in bad.items():
        with pytest.raises(ConfigError, match=name):
            load_config(Config, overrides=[override])
