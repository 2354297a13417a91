"""One run owns its directory: locks, refusals, overwrite, resume, finished runs.

Must-show (d) of the hardening issue: concurrent runs into one directory (one is refused),
and a killed re-run into a finished run leaves nothing that ``compare`` or ``calcium``
accepts as a run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from small_runs import SMALL_CEREBELLUM

from mapping.cli import main
from models.rundir import (
    RunDirectoryError,
    atomic_path,
    check_out_apart,
    claim_run_directory,
    directory_lock,
    out_path,
    require_finished_run,
)


def _finished(path: Path, run: str = "x") -> Path:
    with claim_run_directory(path, run=run) as run_dir:
        run_dir.write_config({"n": 1}, seed=0)
        run_dir.write_metrics({"a": 1})
    return path


# ------------------------------------------------------------------------ claim rules
def test_new_directory_is_claimed_and_records_its_command(tmp_path):
    run = _finished(tmp_path / "r", run="cerebellum")
    assert json.loads((run / "config.json").read_text())["run"] == "cerebellum"
    assert require_finished_run(run) == run


def test_existing_empty_directory_is_accepted(tmp_path):
    _finished(tmp_path)
    assert (tmp_path / "metrics.json").is_file()


def test_directory_holding_a_run_is_refused_without_overwrite(tmp_path):
    run = _finished(tmp_path / "r")
    with pytest.raises(RunDirectoryError, match=r"already holds a finished run \(x\); pass "
                                                r"--overwrite"):
        with claim_run_directory(run, run="x"):
            pass
    assert json.loads((run / "metrics.json").read_text()) == {"a": 1}  # untouched


def test_overwrite_clears_the_old_run_first(tmp_path):
    run = _finished(tmp_path / "r")
    (run / "figures").mkdir()
    (run / "figures" / "old.png").write_bytes(b"old figure")
    with claim_run_directory(run, run="x", mode="overwrite") as run_dir:
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # old figures gone
        run_dir.write_config({"n": 2}, seed=1)
    assert not (run / "figures").exists()


def test_foreign_directory_is_never_cleared(tmp_path):
    (tmp_path / "mine.txt").write_text("a user's file")
    for mode in ("new", "overwrite", "resume"):
        with pytest.raises(RunDirectoryError, match="holds no memcircuits run"):
            with claim_run_directory(tmp_path, run="x", mode=mode):
                pass
    assert (tmp_path / "mine.txt").read_text() == "a user's file"


def test_resume_continues_its_own_command_only(tmp_path):
    run = _finished(tmp_path / "r", run="tem train")
    with claim_run_directory(run, run="tem train", mode="resume"):
        assert not (run / "metrics.json").exists()  # unfinished until it finishes again
        assert (run / "config.json").is_file()
    other = _finished(tmp_path / "o", run="cerebellum")
    with pytest.raises(RunDirectoryError, match="holds a run of 'cerebellum', not of "
                                                "'tem train'"):
        with claim_run_directory(other, run="tem train", mode="resume"):
            pass


def test_a_locked_directory_is_refused(tmp_path):
    with directory_lock(tmp_path / "r"):
        with pytest.raises(RunDirectoryError, match="in use by another memcircuits process"):
            with claim_run_directory(tmp_path / "r", run="x"):
                pass
    with claim_run_directory(tmp_path / "r", run="x"):  # released: usable again
        pass


def test_stale_temporary_files_are_removed(tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "figures").mkdir()
    stale = [run / ".metrics.k2j3.tmp.json", run / "figures" / ".beta.abc.tmp.png"]
    for path in stale:
        path.write_text("half")
    (run / "config.json").write_text(json.dumps({"run": "x"}))  # a killed run of x
    with claim_run_directory(run, run="x", mode="resume"):
        assert not any(p.exists() for p in stale)
        assert (run / "config.json").is_file()


def test_temporary_names_match_what_atomic_path_writes(tmp_path):
    """The pattern removed above is the one atomic_path uses (a kill leaves exactly it)."""
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "spikes.nwb") as tmp:
        name = tmp.name
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    (tmp_path / name).write_text("left by a killed writer")
    with claim_run_directory(tmp_path, run="x"):
        assert not (tmp_path / name).exists()


@pytest.mark.parametrize("text", ["", "  "])
def test_empty_out_is_refused(text):
    with pytest.raises(RunDirectoryError, match="empty path"):
        out_path(text)


def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunDirectoryError, match="exists and is not a directory"):
        with claim_run_directory(tmp_path / "f", run="x"):
            pass
    with pytest.raises(RunDirectoryError, match=r"a parent of .* is a file"):
        with claim_run_directory(tmp_path / "f" / "sub", run="x"):
            pass


def test_unwritable_out_is_one_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write anywhere")
    (tmp_path / "ro").mkdir(mode=0o500)
    with pytest.raises(RunDirectoryError, match="no permission"):
        with claim_run_directory(tmp_path / "ro" / "r", run="x"):
            pass


# ------------------------------------------------------------------ finished runs
def test_require_finished_run_says_why(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such directory"):
        require_finished_run(tmp_path / "none")
    (tmp_path / "plain").mkdir()
    with pytest.raises(RunDirectoryError, match="not a memcircuits run directory"):
        require_finished_run(tmp_path / "plain")
    with claim_run_directory(tmp_path / "half", run="x") as run_dir:
        run_dir.write_config({}, seed=0)
        with pytest.raises(RunDirectoryError, match="still being written"):
            require_finished_run(tmp_path / "half")
    with pytest.raises(RunDirectoryError, match="did not finish"):
        require_finished_run(tmp_path / "half")


def test_out_apart_from_inputs(tmp_path):
    run = tmp_path / "run"
    for out in (run, run / "report", tmp_path):
        with pytest.raises(RunDirectoryError, match="overlaps the input run directory"):
            check_out_apart(out, [run])
    check_out_apart(tmp_path / "elsewhere", [run])


# -------------------------------------------------------------------- through the CLI
def test_compare_and_calcium_never_write_into_their_inputs(tmp_path, capsys,
                                                          small_cerebellum_run):
    # a copy of the session's finished `cerebellum SMALL_CEREBELLUM` run (tests/conftest.py)
    run = shutil.copytree(small_cerebellum_run, tmp_path / "run")
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    capsys.readouterr()
    for argv in (["compare", str(run), "--out", str(run)],
                 ["compare", str(run), "--out", str(run), "--overwrite"],
                 ["compare", str(run), "--out", str(run / "report")],
                 ["calcium", str(run), "--out", str(run)],
                 ["calcium", str(run), "--out", str(run), "--overwrite"],
                 ["calcium", str(run), "--out", str(run / "imaging")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "overlaps the input run directory" in err, err
    after = {p: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    assert after == before


def test_a_second_run_into_a_finished_directory_is_refused(tmp_path, capsys,
                                                           small_cerebellum_run):
    # a copy of the session's finished `cerebellum SMALL_CEREBELLUM` run (tests/conftest.py)
    run = shutil.copytree(small_cerebellum_run, tmp_path / "run")
    config = (run / "config.json").read_text()
    capsys.readouterr()
    assert main(["cerebellum", "--out", str(run), *SMALL_CEREBELLUM, "--seed", "3"]) == 2
    err = capsys.readouterr().err
    assert "already holds a finished run (cerebellum); pass --overwrite" in err
    assert (run / "config.json").read_text() == config  # the old run is intact
    assert main(["compare", str(run), "--out", str(tmp_path / "cmp")]) == 0


def test_empty_out_on_the_command_line_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["cerebellum", "--out", "", *SMALL_CEREBELLUM])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --out: an empty path" in err
    assert list(tmp_path.iterdir()) == []  # nothing written into the current directory


def _memcircuits(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mapping.cli", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "MPLBACKEND": "Agg"})


def test_concurrent_and_killed_runs(tmp_path, capsys, small_cerebellum_run):
    """(d) A run in progress holds its directory: a concurrent run is refused; killed with
    ``kill -9`` after ``--overwrite`` cleared the finished run, it leaves a directory that
    neither ``compare`` nor ``calcium`` accepts."""
    # a copy of the session's finished `cerebellum SMALL_CEREBELLUM` run (tests/conftest.py)
    run = shutil.copytree(small_cerebellum_run, tmp_path / "run")
    first = _memcircuits("cerebellum", "--out", str(run), "--overwrite", *SMALL_CEREBELLUM)
    try:
        deadline = time.monotonic() + 120
        while (run / "metrics.json").exists():  # cleared once the re-run owns the directory
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(first.pid, signal.SIGSTOP)  # hold it mid-run, lock held
        second = _memcircuits("cerebellum", "--out", str(run), "--overwrite",
                              *SMALL_CEREBELLUM)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2, err
        assert err.count("\n") == 1 and "in use by another memcircuits process" in err
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert not (run / "metrics.json").exists()
    capsys.readouterr()
    assert main(["compare", str(run), "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert "did not finish" in err or "not a memcircuits run directory" in err, err
    assert main(["calcium", str(run), "--out", str(tmp_path / "ca")]) == 2
    err = capsys.readouterr().err
    assert "did not finish" in err or "not a memcircuits run directory" in err, err
    if (run / "config.json").exists():  # killed after writing its configuration
        assert main(["cerebellum", "--out", str(run), *SMALL_CEREBELLUM]) == 2
        assert "holds an unfinished run" in capsys.readouterr().err
    assert main(["cerebellum", "--out", str(run), "--overwrite", *SMALL_CEREBELLUM]) == 0
    assert main(["compare", str(run), "--out", str(tmp_path / "cmp2")]) == 0


def test_demo_refuses_a_finished_demo_directory(tmp_path, capsys):
    out = tmp_path / "demo"
    _finished(out, run="demo")
    assert main(["demo", "--out", str(out), "--quiet"]) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_a_failed_run_leaves_its_directory_as_it_found_it(tmp_path):
    with pytest.raises(RuntimeError), claim_run_directory(tmp_path / "r", run="x") as run_dir:
        run_dir.write_config({}, seed=0)
        raise RuntimeError("the run failed")
    assert not (tmp_path / "r").exists()
    old = _finished(tmp_path / "old")
    with pytest.raises(RuntimeError), claim_run_directory(old, run="x", mode="overwrite"):
        raise RuntimeError("the run failed")
    assert sorted(p.name for p in old.iterdir()) == [".lock"]  # the old run was replaced
    resumed = _finished(tmp_path / "resumed")
    with pytest.raises(RuntimeError), claim_run_directory(resumed, run="x", mode="resume"):
        raise RuntimeError("the run failed")
    assert (resumed / "config.json").is_file()  # a resumed run keeps its files


def test_a_run_refused_mid_way_leaves_nothing(tmp_path, capsys, small_cerebellum_run):
    """An input error found only while running (a population the run does not have) leaves
    no directory behind, so the corrected command needs no --overwrite."""
    # a copy of the session's finished `cerebellum SMALL_CEREBELLUM` run (tests/conftest.py)
    run = shutil.copytree(small_cerebellum_run, tmp_path / "run")
    capsys.readouterr()
    out = tmp_path / "ca"
    assert main(["calcium", str(run), "--out", str(out), "--set",
                 'populations=["foo=soma"]']) == 2
    assert "populations: 'foo' is not a population of the run" in capsys.readouterr().err
    assert not out.exists()


def test_a_run_killed_while_clearing_stays_overwritable(tmp_path):
    """``config.json`` goes last: whatever a kill interrupts, the directory still holds an
    (unfinished) run that ``--overwrite`` may clear, never bare data files."""
    from models import rundir

    run = _finished(tmp_path / "r")
    for name in ("spikes.nwb", "inputs.json", "zz.npz"):
        (run / name).write_bytes(b"data")
    deleted = []
    real_unlink = Path.unlink

    def unlink_then_die(self, *args, **kwargs):
        real_unlink(self, *args, **kwargs)
        deleted.append(self.name)
        if len(deleted) == 2:
            raise KeyboardInterrupt  # killed mid-clear

    import unittest.mock

    with unittest.mock.patch.object(Path, "unlink", unlink_then_die), \
            pytest.raises(KeyboardInterrupt):
        rundir._clear(run)
    assert "config.json" not in deleted and (run / "config.json").is_file()
    with claim_run_directory(run, run="x", mode="overwrite"):
        assert sorted(p.name for p in run.iterdir()) == [".lock"]
