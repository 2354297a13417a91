"""``memcircuits tem train|evaluate``: run directories, resume after a kill, clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mapping.cli import main

TINY_SET = ["--set", 'worlds=["square:3x3", "square:4x4"]', "--set", "batch_size=4",
            "--set", "window=5", "--set", "walk_length=[10, 20]", "--set", "tem_t.d_position=12",
            "--set", "tem_t.d_key=8", "--set", "checkpoint_every=1",
            "--set", "tem_t.position_correction=false"]  # vectorised windows: fast


def test_train_then_evaluate_write_run_directories(tmp_path, capsys):
    out = tmp_path / "train"
    assert main(["tem", "train", "--out", str(out), "--quiet", "--set", "steps=6", *TINY_SET]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["model"] == "tem-t"
    config = json.loads((out / "config.json").read_text())
    assert config["config"]["tem_t"]["n_actions"] == 5  # filled in from the square worlds
    assert (out / "checkpoint.pt").is_file() and (out / "figures" / "training_curve.png").is_file()
    ev = tmp_path / "eval"
    assert main(["tem", "evaluate", "--checkpoint", str(out), "--world", "square:4x4",
                 "--out", str(ev), "--quiet", "--set", "n_worlds=2",
                 "--set", "analysis_steps_per_node=4", "--set", "memory_neurons=10"]) == 0
    m = json.loads((ev / "metrics.json").read_text())
    for key in ("accuracy_visited", "accuracy_link_inference",
                "max_gap_to_node_agent_after_half", "position_gridness_fraction",
                "memory_spatial_information_median", "memory_remapping_mean_r"):
        assert key in m
    for name in ("fraction_correct", "rate_maps_position", "gridness_histogram",
                 "rate_maps_memory", "remapping"):
        assert (ev / "figures" / f"{name}.png").is_file()
    assert "accuracy_visited" in capsys.readouterr().out


def test_evaluate_default_picks_the_checkpoint_of_the_world_kind(tmp_path):
    out = tmp_path / "ev"
    assert main(["tem", "evaluate", "--world", "hex:5x5", "--out", str(out), "--quiet",
                 "--set", "n_worlds=2", "--set", "analysis_steps_per_node=4",
                 "--set", "memory_neurons=10"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["checkpoint"].endswith("tem_t_hex.pt") and m["model"] == "tem-t"


@pytest.mark.parametrize(("argv", "message"), [
    (["tem", "train", "--set", 'worlds=["torus:8x8"]'], "spec 'torus:8x8' is not a valid"),
    (["tem", "train", "--set", "window=150"], "shorter than the backprop window"),
    (["tem", "evaluate", "--world", "cube:3"], "spec 'cube:3' is not a valid world spec"),
    (["tem", "evaluate", "--world", "hex:5x5", "--checkpoint", "NOFILE"],
     "checkpoint: no such file"),
])
def test_bad_input_gives_one_line_error(tmp_path, capsys, argv, message):
    code = main([*argv, "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1  # one line, no traceback


def test_evaluate_with_checkpoint_of_another_model_type_is_one_error(tmp_path, capsys):
    out = tmp_path / "train"
    assert main(["tem", "train", "--out", str(out), "--quiet", "--set", "steps=2", *TINY_SET]) == 0
    code = main(["tem", "train", "--model", "tem", "--out", str(out), "--quiet",
                 "--set", "steps=2", *TINY_SET])
    err = capsys.readouterr().err
    assert code == 2 and "holds a 'tem-t' checkpoint; cannot resume it as a 'tem' model" in err


@pytest.mark.slow  # two Python processes with torch imports (~20-40 s on the shared CPU)
def test_killed_training_resumes_from_its_checkpoint(tmp_path):
    """SIGKILL a training process after its first checkpoint; the rerun resumes from it.

    (The fast suite interrupts a run in-process: tests/test_tem_training.py.)"""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "mapping.cli", "tem", "train", "--out", str(out), "--quiet",
           "--set", "steps=150", *TINY_SET]
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ckpt = out / "checkpoint.pt"
    deadline = time.monotonic() + 60
    while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # let it train past the first checkpoint
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert ckpt.exists(), proc.stderr.read().decode()
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".checkpoint")]
    from models.tem_training import load_checkpoint

    saved = load_checkpoint(ckpt)  # the file on disk is complete despite the kill
    assert 0 < saved.step < 150
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["resumed_from_step"] == saved.step and metrics["steps"] == 150
    del leftovers  # a temporary file may survive a SIGKILL mid-write; it is never read


def test_cli_module_has_a_main_guard():
    assert "__main__" in Path(sys.modules["mapping.cli"].__file__).read_text()


def test_evaluate_a_tem_checkpoint_on_a_line_skips_the_relations(tmp_path):
    """TEM cannot imagine: on a line world its evaluation reports behaviour, no relations."""
    out = tmp_path / "train"
    assert main(["tem", "train", "--model", "tem", "--out", str(out), "--quiet",
                 "--set", "steps=2", "--set", 'worlds=["line:4", "line:5"]',
                 "--set", "batch_size=2", "--set", "window=5", "--set", "walk_length=[10, 10]",
                 "--set", "tem.g_sizes=[6, 6]", "--set", "tem.g_subsampled=[2, 2]",
                 "--set", "tem.frequencies=[0.9, 0.1]"]) == 0
    ev = tmp_path / "eval"
    assert main(["tem", "evaluate", "--model", "tem", "--checkpoint", str(out),
                 "--world", "line:6", "--out", str(ev), "--quiet", "--set", "n_worlds=2",
                 "--set", "analysis_steps_per_node=4", "--set", "memory_neurons=10"]) == 0
    m = json.loads((ev / "metrics.json").read_text())
    assert "accuracy_visited" in m and "accuracy_relations" not in m
    assert 0 <= m["diagnosis_accuracy_visited_stored_position"] <= 1  # TEM: drift vs read-out
    assert not (ev / "figures" / "relations.png").exists()


def test_diverged_training_is_one_error_and_resumes_with_a_lower_lr(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["tem", "train", "--model", "tem", "--out", str(out), "--quiet", *TINY_SET]
    assert main([*argv, "--set", "steps=4"]) == 0
    capsys.readouterr()
    # a learning rate that overflows the parameters: the loss stops being finite
    assert main([*argv, "--set", "steps=20", "--set", "lr=1e30", "--set", "lr_min=1e30"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("memcircuits: error: training diverged at step ") and "\n" not in err
    assert "written before the divergence" in err and "resume with a lower lr or grad_clip" in err
    # here the last checkpoint already holds parameters blown up by the huge steps (finite,
    # so it was written): the one before it, kept beside it, resumes
    (out / "checkpoint.prev.pt").replace(out / "checkpoint.pt")
    assert main([*argv, "--set", "steps=8"]) == 0


def test_a_resume_with_a_longer_window_is_a_new_stage(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["tem", "train", "--model", "tem", "--out", str(out), "--quiet", *TINY_SET]
    assert main([*argv, "--set", "steps=3"]) == 0
    capsys.readouterr()
    assert main([*argv, "--set", "steps=5", "--set", "window=10"]) == 0
    assert "changed on resume: window 5 -> 10" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["changes_on_resume"] == "window 5 -> 10" and metrics["steps"] == 5
