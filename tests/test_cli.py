"""The command line and the README/CI contract."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from mapping.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("demo", "figures"):
        assert command in out


def test_figures_help_lists_each_experiment():
    from mapping.experiments import EXPERIMENTS

    parser = build_parser()
    help_text = parser._subparsers._group_actions[0].choices["figures"].format_help()
    for name in EXPERIMENTS:
        assert name in help_text


def test_unknown_config_key_is_one_clear_error(tmp_path, capsys):
    code = main(["figures", "sdm", "--out", str(tmp_path / "x"), "--set", "nonsense=1"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown configuration key 'nonsense'" in err
    assert "Traceback" not in err


def test_missing_config_file_is_one_clear_error(tmp_path, capsys):
    code = main(["figures", "sdm", "--out", str(tmp_path / "x"),
                 "--config", str(tmp_path / "missing.toml")])
    assert code == 2
    assert "config file not found" in capsys.readouterr().err


def _readme_command(marker: str) -> str:
    lines = (ROOT / "README.md").read_text().splitlines()
    return lines[lines.index(marker) + 1]


def test_readme_opens_with_the_two_commands_and_ci_runs_them():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "# install and run the demo" in first_block
    assert "# install and run the tests" in first_block
    demo = _readme_command("# install and run the demo")
    tests = _readme_command("# install and run the tests")
    assert demo.endswith("memcircuits demo")
    assert re.search(r"&& pytest$", tests)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "# install and run the tests" in ci and "# install and run the demo" in ci


def test_console_script_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'memcircuits = "mapping.cli:main"' in text


def test_models_import_without_brian2():
    # models/ must run on GPU machines that have torch but not brian2.
    code = ("import sys, importlib, pkgutil, models\n"
            "for m in pkgutil.iter_modules(models.__path__):\n"
            "    importlib.import_module('models.' + m.name)\n"
            "assert 'brian2' not in sys.modules, 'models imported brian2'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_torch_threads_applies_and_restores_the_thread_count():
    import torch

    from mapping.runner import torch_threads

    old = torch.get_num_threads()
    target = 1 if old != 1 else 2
    with torch_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == old  # restored
    with pytest.raises(RuntimeError), torch_threads(target):
        raise RuntimeError("restored even when the run fails")
    assert torch.get_num_threads() == old
    for leave in (None, 0):  # no num_threads field, or 0: torch's default is left alone
        with torch_threads(leave):
            assert torch.get_num_threads() == old
