"""The bad-input corpus runner: one user error in, one line and a known exit status out.

Each case is a command line for :func:`mapping.cli.main`, the exit status it must end with
and a regular expression its error line must match. :func:`check_case` runs it in-process
under a time limit and fails on

- a traceback (any exception other than ``SystemExit`` escaping ``main``);
- a hang (no answer within ``timeout`` seconds);
- a silent accept (exit status 0, or no error line);
- an error message of more than one line, or one that does not match the case's pattern;
- an output directory that the refused command created or changed.

The case tables live in ``tests/test_cli_corpus_*.py``.
"""

from __future__ import annotations

import re
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mapping.cli import main

__all__ = ["Case", "Hang", "check_case", "snapshot"]


class Hang(Exception):
    """Raised by the alarm when a case runs past its time limit."""


@dataclass(frozen=True)
class Case:
    """One bad input: ``argv`` (``{tmp}`` and fixture names in braces are filled in)."""

    id: str
    argv: tuple[str, ...]
    message: str  #: regular expression the error line must match (``re.search``)
    status: int = 2
    timeout: float = 60.0
    setup: Callable[[Path], None] | None = field(default=None, compare=False)


def snapshot(path: Path) -> dict[str, int]:
    """Every file under ``path`` with its modification time (to see what a command wrote)."""
    if not path.exists():
        return {}
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in path.rglob("*")
            if p.is_file() and p.name != ".lock"}


def _alarm(_signum, _frame):
    raise Hang


def check_case(case: Case, values: dict[str, str], capsys) -> str:
    """Run ``case`` with ``{name}`` fields of its argv filled from ``values``; return the
    error line. Fails the test (AssertionError) on a traceback, hang or silent accept."""
    argv = [part.format(**values) for part in case.argv]
    watched = Path(values["tmp"])
    before = snapshot(watched)
    capsys.readouterr()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, case.timeout)
    try:
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            status = exc.code if isinstance(exc.code, int) else 1
        except Hang:
            raise AssertionError(f"{case.id}: no answer within {case.timeout} s") from None
        except Exception:
            raise AssertionError(f"{case.id}: traceback\n{traceback.format_exc()}") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    captured = capsys.readouterr()
    err = captured.err
    assert status != 0, f"{case.id}: accepted silently (exit 0)\n{captured.out[-2000:]}"
    assert status == case.status, f"{case.id}: exit {status}, expected {case.status}: {err}"
    assert "Traceback" not in err and "Traceback" not in captured.out, f"{case.id}: {err}"
    lines = [line for line in err.splitlines() if line.strip()]
    if case.status == 2:
        assert len(lines) == 1, f"{case.id}: {len(lines)} lines on stderr:\n{err}"
    assert lines, f"{case.id}: no error message"
    assert re.search(case.message, lines[-1] if case.status == 2 else err), (
        f"{case.id}: message {lines[-1]!r} does not match {case.message!r}")
    if case.status == 2:
        after = snapshot(watched)
        changed = sorted(k for k in after if before.get(k) != after[k])
        assert not changed, f"{case.id}: a refused command wrote {changed}"
    return lines[-1]
