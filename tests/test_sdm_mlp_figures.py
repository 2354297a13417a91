"""Tests of ``memcircuits figures sdm-mlp`` (mapping.experiments.sdm_mlp_figures)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from mapping.cli import main
from mapping.experiments.sdm_mlp_figures import Config, summarize
from models.config import ConfigError, load_config
from models.sdm_mlp import ClassIncrementalTask

#: a reduced configuration: 3 seeds, width 200, 2 learning rates, a 3-point k sweep
REDUCED = [
    "hidden=200", "k=5", "epochs=3", "lr_grid=[0.1, 3.0]", "n_seeds=3", "k_sweep=[1, 5, 20]",
    "task.train_per_class=60", "task.test_per_class=30",
]


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory):
    old = torch.get_num_threads()
    out = tmp_path_factory.mktemp("sdm_mlp_run")
    argv = ["figures", "sdm-mlp", "--out", str(out), "--quiet", "--seed", "3"]
    for item in REDUCED:
        argv += ["--set", item]
    assert main(argv) == 0
    assert torch.get_num_threads() == old  # the run restores the thread count
    return out


def test_reduced_run_writes_the_run_directory(reduced_run):
    figures = {p.name for p in (reduced_run / "figures").glob("*.png")}
    assert figures == {"task_accuracy.png", "final_accuracy_forgetting.png", "k_sweep.png",
                       "lr_grid.png"}
    for name in figures:
        assert (reduced_run / "figures" / name).stat().st_size > 10_000  # a real plot
    config = json.loads((reduced_run / "config.json").read_text())
    assert config["seed"] == 3
    assert config["config"]["hidden"] == 200
    assert config["config"]["task"]["train_per_class"] == 60


def test_reduced_run_metrics_show_less_forgetting_for_sdm(reduced_run):
    m = json.loads((reduced_run / "metrics.json").read_text())
    for name in ("sdm_mlp", "relu_mlp", "sdm_mlp_no_gaba"):
        for key in ("final_accuracy_mean", "final_accuracy_std", "forgetting_mean",
                    "forgetting_std", "dead_neurons_mean", "lr"):
            value = m[f"{name}_{key}"]
            assert value is not None and math.isfinite(value), (name, key)
        for i in range(3):
            assert 0.0 <= m[f"{name}_seed{i}_final_accuracy"] <= 1.0
    # the must-show claim, with a margin: measured forgetting ~0.15 (SDM) vs ~0.97 (ReLU)
    assert m["sdm_mlp_forgetting_mean"] < m["relu_mlp_forgetting_mean"] - 0.4
    assert m["sdm_mlp_final_accuracy_mean"] > m["relu_mlp_final_accuracy_mean"] + 0.3
    assert m["sdm_mlp_forgets_less_every_seed"] is True
    assert m["sdm_mlp_forgets_less"] is True
    # class-incremental ReLU MLP ends near the last task only: final accuracy ~1/5 (0.1 slack)
    assert m["relu_mlp_final_accuracy_mean"] < 0.3
    # the learning-rate grid was run for every model and the chosen rate is in the grid
    for name in ("sdm_mlp", "relu_mlp", "sdm_mlp_no_gaba"):
        assert m[f"{name}_lr"] in (0.1, 3.0)
        assert f"lr_grid_{name}_lr0.1_final_accuracy" in m
        assert f"lr_grid_{name}_lr3_forgetting" in m
    # k sweep: every k present; k=1 forgets less than k=20 (paper: small k forgets least;
    # measured ~0.07 vs ~0.4 here)
    for k in (1, 5, 20):
        assert math.isfinite(m[f"k_sweep_k{k}_forgetting_mean"])
    assert m["k_sweep_k1_forgetting_mean"] < m["k_sweep_k20_forgetting_mean"]
    assert m["wall_time_s"] < 60  # reduced config: ~5-10 s on 2 cores


def test_summary_names_both_models(reduced_run):
    m = json.loads((reduced_run / "metrics.json").read_text())
    text = summarize(m)
    assert "SDM-MLP (Top-k + GABA switch)" in text and "ReLU MLP" in text
    assert "every seed: yes" in text


def test_default_config_is_valid_and_fair():
    config = Config()
    config.validate()
    assert config.n_seeds >= 3
    assert config.task == ClassIncrementalTask()
    # interior optimum: the grid spans two decades on each side of both chosen rates
    assert min(config.lr_grid) <= 0.03 and max(config.lr_grid) >= 10.0


@pytest.mark.parametrize(("override", "starts"), [
    ("n_seeds=2", "n_seeds must be >= 3"),
    ("k=1000", "k must be < hidden=1000"),
    ("hidden=0", "hidden must be >= 2"),
    ("lr_grid=[]", "lr_grid must hold at least one"),
    ("lr_grid=[0.1, -1.0]", "lr_grid must be >"),
    ("k_sweep=[1, 2000]", "k_sweep values must be < hidden=1000"),
    ("epochs=0", "epochs must be >= 1"),
    ("switch_activations=0", "switch_activations must be >"),
    ("device='gpu0'", "device must name a torch device"),
    ("task.noise=-1.0", "task: noise must be >="),
    ("task.n_classes=7", "task: n_classes must be a multiple"),
])
def test_bad_configuration_raises_one_clear_error(override, starts):
    with pytest.raises(ConfigError, match=f"^{starts}"):
        load_config(Config, None, [override])


def test_unknown_key_is_refused():
    with pytest.raises(ConfigError, match="unknown configuration key 'widths'"):
        load_config(Config, None, ["widths=[10]"])


def test_cli_reports_bad_configuration_with_exit_status_2(tmp_path, capsys):
    assert main(["figures", "sdm-mlp", "--out", str(tmp_path), "--set", "n_seeds=1"]) == 2
    assert "n_seeds must be >= 3" in capsys.readouterr().err
