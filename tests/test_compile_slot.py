"""Compilation never uses more than the machine's cores (hardening issue).

Brian2's default ``make -j`` starts one compiler per source file; two concurrent
cpp_standalone builds on a 2-core machine ran about 150 compilers. Builds go through
:func:`circuits.backend.compile_slot`: ``make -jN`` with N the usable cores, and one build at
a time machine-wide.
"""

from __future__ import annotations

import os
import subprocess
import sys

import brian2

from circuits.backend import COMPILE_LOCK, compile_jobs, compile_slot

#: a second process trying the compile lock without waiting: prints "held" or "free"
_PROBE = f"""
import fcntl
with open({str(COMPILE_LOCK)!r}, "a+") as handle:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("free")
    except BlockingIOError:
        print("held")
"""


def _probe() -> str:
    return subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def test_make_jobs_are_the_usable_cores_and_restored():
    prefs = brian2.prefs.devices.cpp_standalone
    before = list(prefs.extra_make_args_unix)
    with compile_slot() as jobs:
        assert jobs == compile_jobs() == len(os.sched_getaffinity(0))
        assert prefs.extra_make_args_unix == [f"-j{jobs}"]
        assert 1 <= jobs <= os.cpu_count()
    assert prefs.extra_make_args_unix == before


def test_concurrent_builds_take_turns():
    assert _probe() == "free"
    with compile_slot():
        assert _probe() == "held"  # another process's build waits for this one
    assert _probe() == "free"
