"""Smoke-run every script in examples/ with ``--quick`` (``pytest -m examples``).

Each example runs in its own process from the repository root, as a user would run it;
it must exit 0 and write a valid PNG to ``--out``. Wall times are printed (``-s``), not
asserted: the machine may be shared, so a generous timeout is the only guard.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT_S = 120  # per example; --quick targets well under a minute


@pytest.mark.examples
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_quick_and_writes_a_png(script: Path, tmp_path: Path) -> None:
    out = tmp_path / f"{script.stem}.png"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script.relative_to(ROOT)), "--quick",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT_S)
    wall = time.perf_counter() - start
    print(f"{script.name}: {wall:.1f} s wall")
    assert proc.returncode == 0, (f"{script.name} exited {proc.returncode}\n"
                                  f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    assert out.is_file(), f"{script.name} wrote no figure at {out}"
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000, \
        f"{script.name}: {out} is not a PNG image"


def test_examples_exist() -> None:
    """The examples directory holds scripts (guards against a wrong glob)."""
    assert len(EXAMPLES) >= 6, [p.name for p in EXAMPLES]
