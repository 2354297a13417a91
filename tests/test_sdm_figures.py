"""The ``memcircuits figures sdm`` experiment: metrics, figures, configuration."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pytest
from scipy import stats

from mapping.experiments import load_experiment
from mapping.experiments.sdm_figures import Config, run, summarize
from mapping.measures import normalised_weights, weight_error
from models.config import ConfigError, from_dict, load_config, to_dict
from models.intersection import fit_beta, taylor_beta_bound
from models.intersection_selected import fit_beta_selected, optimal_inputs
from models.radius import optimal_radius
from models.rundir import RunDirectory

FAST = dict(m=256, cd_trials=16, cd_max_iterations=6, cd_radii=(5, 9, 11, 13, 15, 17))


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """One reduced run through the command line (the expensive part: ~3 s of sweeps and
    ~5 s of plotting), shared by the tests below."""
    from mapping.cli import main

    out = tmp_path_factory.mktemp("sdm") / "run"
    overrides = ["--set", "m=256", "--set", "cd_trials=16", "--set", "cd_max_iterations=6",
                 "--set", "cd_radii=[5, 9, 11, 13, 15, 17]"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(["figures", "sdm", "--out", str(out), "--quiet", *overrides])
    assert code == 0
    run_dir = RunDirectory(out)
    config = from_dict(Config, FAST)
    assert run_dir.read_config()["config"] == json.loads(json.dumps(to_dict(config)))
    return config, run_dir, run_dir.read_metrics(), printed.getvalue()


def test_registered_module():
    assert load_experiment("sdm").run is run


def test_metrics_keys_and_values(fast_run):
    config, _, metrics, _ = fast_run
    required = ["beta_n64_r5", "beta_n64_r11", "beta_n64_r15", "optimal_radius_snr",
                "optimal_radius_memory", "optimal_radius_critical_distance",
                "max_abs_weight_error_n64_r5", "max_abs_weight_error_n64_r11",
                "max_abs_weight_error_n64_r15"]
    for key in required:
        assert key in metrics, key
    betas = [metrics[f"beta_n64_r{d}"] for d in (5, 11, 15)]
    # Betas fall with the radius and exceed the Taylor bound; the public-code estimator is
    # the OLS slope times N/(N-1) (so larger), the continuous caps larger still here.
    assert betas[0] > betas[1] > betas[2]
    for d, beta in zip((5, 11, 15), betas, strict=True):
        assert beta == pytest.approx(fit_beta(64, d), rel=1e-12)
        assert metrics[f"taylor_beta_bound_n64_r{d}"] == taylor_beta_bound(64, d)
        assert beta > metrics[f"taylor_beta_bound_n64_r{d}"]
        assert metrics[f"beta_bricken2021_n64_r{d}"] == pytest.approx(beta * d / (d - 1))
        error = metrics[f"max_abs_weight_error_n64_r{d}"]
        # Measured 0.14, 0.10, 0.068: the exact weights pair up (I(2k-1) = I(2k)), a step
        # the smooth softmax cannot follow; the error must shrink as the radius grows and
        # beat the Taylor-bound beta, whose softmax is far too flat.
        assert 0.0 < error < 0.2
        assert error < metrics[f"max_abs_weight_error_taylor_n64_r{d}"]
    assert (metrics["max_abs_weight_error_n64_r5"] > metrics["max_abs_weight_error_n64_r11"]
            > metrics["max_abs_weight_error_n64_r15"])
    # Optimal radii: SNR and memory are closed-form; the critical distance is one of the
    # radii swept and has the largest interpolated critical distance among them.
    assert metrics["optimal_radius_snr"] == optimal_radius(64, 256, 2 ** 64, "snr")
    assert metrics["optimal_radius_memory"] == 5
    assert metrics["optimal_radius_critical_distance"] in config.cd_radii
    assert 10 <= metrics["critical_distance_at_optimum"] <= 32
    json.dumps(metrics)  # flat and serialisable


def test_snr_optimum_is_nearest_in_log(fast_run):
    _, _, metrics, _ = fast_run
    target = -math.log(2 * 256 * 2.0 ** 64) / 3
    logs = np.array([stats.binom.logcdf(d, 64, 0.5) for d in range(65)])
    assert metrics["optimal_radius_snr"] == int(np.argmin(np.abs(logs - target)))


def test_selected_coordinate_table_beside_the_radii(fast_run):
    config, _, metrics, _ = fast_run
    for k in config.inputs:
        fit = fit_beta_selected(64, k, weight_mass=config.weight_mass)
        assert metrics[f"beta_selected_n64_k{k}"] == pytest.approx(fit.beta, rel=1e-12)
        assert metrics[f"r_squared_selected_n64_k{k}"] == pytest.approx(fit.r_squared)
        assert metrics[f"activation_probability_selected_n64_k{k}"] == 2.0 ** -k
    for criterion in ("snr", "memory"):
        k = metrics[f"optimal_inputs_{criterion}"]
        assert k == optimal_inputs(64, config.m, config.neurons, criterion)
        assert f"beta_selected_n64_k{k}" in metrics
    assert "optimal inputs k (selected coordinates)" in summarize(metrics)


def test_figures_written(fast_run):
    _, run_dir, _, _ = fast_run
    for name in ("intersection_vs_softmax", "optimal_radius", "critical_distance_curves"):
        path = run_dir.figures / f"{name}.png"
        assert path.exists() and path.stat().st_size > 10_000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summarize(fast_run):
    _, _, metrics, _ = fast_run
    text = summarize(metrics)
    lines = text.splitlines()
    # header, three radii; header, one row per k (4, 6, 8 and the two optimal k); the
    # optimal radii; the optimal k
    k_rows = len({4, 6, 8, metrics["optimal_inputs_snr"], metrics["optimal_inputs_memory"]})
    assert len(lines) == 4 + 1 + k_rows + 2
    assert lines[1].split()[:2] == ["64", "5"]
    assert f"{metrics['beta_n64_r11']:.2f}" in lines[2]
    assert lines[5].split()[:2] == ["64", "4"]
    assert f"{metrics['beta_selected_n64_k4']:.2f}" in lines[5]
    assert "optimal radius: SNR" in lines[-2] and "memory" in lines[-2]
    assert "optimal inputs k" in lines[-1]


def test_weight_normalisation_and_error():
    w_sdm, w_soft = normalised_weights(64, 11, fit_beta(64, 11))
    assert w_sdm.shape == w_soft.shape == (65,)
    assert w_sdm.sum() == pytest.approx(1.0, abs=1e-12)
    assert w_soft.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(w_sdm[23:] == 0.0)  # I = 0 beyond 2d
    error, last = weight_error(w_sdm, w_soft, 0.99)
    assert np.cumsum(w_sdm)[last] >= 0.99 and np.cumsum(w_sdm)[last - 1] < 0.99
    assert error == pytest.approx(np.max(np.abs(w_sdm - w_soft)[: last + 1]))
    # A perfect softmax gives zero error.
    assert weight_error(w_sdm, w_sdm, 0.99)[0] == 0.0


def test_config_neurons_2_to_the_64_survives_toml_and_json(tmp_path):
    toml = tmp_path / "sdm.toml"
    toml.write_text("neurons = 18446744073709551616\nradii = [5, 11]\n")
    config = load_config(Config, toml, ["cd_trials=7"])
    assert config.neurons == 2 ** 64 and config.radii == (5, 11) and config.cd_trials == 7
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.write_config(to_dict(config), seed=config.seed)
    assert run_dir.read_config()["config"]["neurons"] == 2 ** 64  # exact, not a float
    assert load_config(Config, None, ["neurons=18446744073709551616"]).neurons == 2 ** 64


@pytest.mark.parametrize("field, value", [
    ("n", 2), ("radii", [1]), ("radii", [70]), ("radii", []), ("radii", [5, 5]), ("m", 0),
    ("neurons", 0), ("weight_mass", 0.0), ("cd_trials", 0), ("cd_threshold", 1.5),
    ("cd_radii", [65]), ("retrieval_probability", 1.0),
])
def test_config_validation_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        from_dict(Config, {field: value})
    with pytest.raises(ConfigError, match="unknown configuration key"):
        from_dict(Config, {"radius": 5})


def test_cli_prints_the_summary(fast_run):
    _, run_dir, metrics, printed = fast_run
    assert summarize(metrics) in printed
    assert str(run_dir.path.resolve()) in printed
    assert metrics["wall_time_s"] > 0
