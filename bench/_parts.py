"""Run one part of a benchmark in a fresh Python process and read its result back.

Each part of a side-by-side benchmark runs as ``python SCRIPT --part NAME ARGS...`` so it
starts from a fresh interpreter (fresh Brian2 state) and its peak memory is its own. The
child prints one line ``RESULT {json}`` (:func:`emit`); the parent parses it
(:func:`measure`).
"""

from __future__ import annotations

import hashlib
import json
import resource
import subprocess
import sys

import numpy as np


def spike_digest(readouts, dt: float) -> str:
    """SHA-256 of readouts, each ``(arrays, spikes)``: every array (as int64) and every spike
    (population name, indices, times in steps of ``dt``, sorted by step then index). Two runs
    with the same digest have the same readouts and spikes, step for step."""
    digest = hashlib.sha256()
    for arrays, spikes in readouts:
        for array in arrays:
            digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        for name in sorted(spikes):
            # sorted by (step, index): brian2cuda records a step's spikes in no fixed order
            steps = np.round(np.asarray(spikes[name].times) / dt).astype(np.int64)
            indices = np.asarray(spikes[name].indices, dtype=np.int64)
            order = np.lexsort((indices, steps))
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(indices[order]).tobytes())
            digest.update(np.ascontiguousarray(steps[order]).tobytes())
    return digest.hexdigest()


def emit(result: dict) -> None:
    """Print ``result`` with the child's peak resident memory (MiB) as the RESULT line."""
    result["peak_rss_python_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(result), flush=True)


def measure(script: str, part: str, argv: list[str]) -> dict:
    """Run ``script --part part *argv`` in a new process and return its RESULT dict.

    Raises
    ------
    RuntimeError
        If the child printed no RESULT line (its last output is written to stderr).
    """
    proc = subprocess.run([sys.executable, script, "--part", part, *argv],
                          capture_output=True, text=True, check=False)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    raise RuntimeError(f"part {part!r} failed")
