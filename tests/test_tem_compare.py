"""``memcircuits tem compare`` (mapping.tem_comparison): TEM and TEM-t side by side."""

from __future__ import annotations

import csv
import json

import pytest

from mapping.tem_comparison import CompareConfig, run_compare
from models.rundir import claim_run_directory
from models.tem_hebbian import TEMConfig
from models.tem_t import TEMTConfig
from models.tem_training import train, train_config_for_worlds

TINY = dict(worlds=("square:3x3", "square:4x4"), steps=6, batch_size=2, window=5,
            walk_length=(10, 20), checkpoint_every=1,
            tem_t=TEMTConfig(d_position=12, d_key=8),
            tem=TEMConfig(g_sizes=(6, 6), g_subsampled=(2, 2), frequencies=(0.9, 0.1)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    for model in ("tem", "tem-t"):
        train(train_config_for_worlds(**{**TINY, "model": model}), root / model, progress=False)
    return root


def _compare(tmp_path, **fields):
    config = CompareConfig(**{"worlds": ("square:3x3",), "n_worlds": 2, "steps": 12,
                              "smooth_episodes": 2, **fields})
    with claim_run_directory(tmp_path / "out", run="tem compare") as run_dir:
        return run_compare(config, run_dir, progress=False), run_dir.path


def test_both_models_on_the_same_walks_with_both_learning_curves(runs, tmp_path):
    metrics, out = _compare(tmp_path, tem=str(runs / "tem"), tem_t=str(runs / "tem-t"))
    assert metrics["trained_on_same_worlds"] is True
    assert metrics["tem_trained_steps"] == metrics["tem_t_trained_steps"] == 6
    for key in ("tem", "tem_t"):
        assert 0.0 <= metrics[f"{key}_square_3x3_accuracy_visited"] <= 1.0
    assert metrics["square_3x3_walk_steps"] == 12
    with open(out / "learning_curves.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["model"] for r in rows} == {"tem", "tem-t"}
    # the running mean of the first two episodes is their mean
    tem = [r for r in rows if r["model"] == "tem"]
    mean = (float(tem[0]["accuracy_visited"]) + float(tem[1]["accuracy_visited"])) / 2
    assert float(tem[1]["accuracy_visited_running_mean"]) == pytest.approx(mean)
    with open(out / "fraction_curves.csv") as f:
        fractions = list(csv.DictReader(f))
    assert {r["model"] for r in fractions} == {"tem", "tem-t"}
    # the same walks: the agents' curves are identical for both models
    for model in ("tem", "tem-t"):
        agents = [(r["fraction_visited"], r["node_agent"], r["count"]) for r in fractions
                  if r["model"] == model]
        assert agents == [(r["fraction_visited"], r["node_agent"], r["count"])
                          for r in fractions if r["model"] == "tem"]
    assert (out / "figures" / "learning_curves.png").is_file()
    json.dumps(metrics)


def test_runs_on_other_worlds_are_flagged(runs, tmp_path):
    other = tmp_path / "other"
    train(train_config_for_worlds(**{**TINY, "steps": 2, "seed": 5}), other, progress=False)
    metrics, _ = _compare(tmp_path, tem=str(runs / "tem"), tem_t=str(other))
    assert metrics["trained_on_same_worlds"] is False


def test_swapped_checkpoints_are_one_clear_error(runs, tmp_path):
    with pytest.raises(ValueError, match=r"^tem: .* holds a 'tem-t' model, not a 'tem' model"):
        _compare(tmp_path, tem=str(runs / "tem-t"), tem_t=str(runs / "tem"))


def test_a_world_of_another_kind_is_one_clear_error(runs, tmp_path):
    with pytest.raises(ValueError, match=r"^tem: checkpoint\.pt was trained on square worlds "
                                         r".*hex:3x3 is a hexagonal world"):
        _compare(tmp_path, tem=str(runs / "tem"), tem_t=str(runs / "tem-t"),
                 worlds=("hex:3x3",))


@pytest.mark.parametrize("field, value, message", [
    ("worlds", (), "worlds must name at least one world structure"),
    ("worlds", "square:8x8", "worlds must be a list of world specs"),
    ("tem", "", "tem must be a checkpoint path or a shipped name"),
    ("n_worlds", 0, "n_worlds must be >= 1"),
])
def test_bad_configuration_names_the_field(field, value, message):
    with pytest.raises((ValueError, TypeError), match=message):
        CompareConfig(**{field: value}).validate()


def test_command_line_writes_the_run_directory(runs, tmp_path, capsys):
    from mapping.cli import main

    out = tmp_path / "cmp"
    assert main(["tem", "compare", "--tem", str(runs / "tem"), "--tem-t", str(runs / "tem-t"),
                 "--world", "square:3x3", "--world", "square:4x4", "--out", str(out),
                 "--quiet", "--set", "n_worlds=2", "--set", "steps=12"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"tem_square_3x3_accuracy_visited", "tem_t_square_4x4_accuracy_link_inference",
            "square_4x4_edge_agent_link_inference"} <= metrics.keys()
    assert json.loads((out / "config.json").read_text())["config"]["worlds"] == [
        "square:3x3", "square:4x4"]
    printed = capsys.readouterr().out
    assert "square:4x4: accuracy at visited nodes TEM" in printed and str(out) in printed
