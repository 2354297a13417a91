"""Run a command and write its peak resident memory (MiB) to a file.

Used as Brian2's ``devices.cpp_standalone.run_cmd_unix`` so the compiled simulation's own
peak memory is known (``getrusage`` of the parent cannot tell it from the compiler's):
``python -I .../circuits/_measure.py OUT_FILE ./main [args...]`` (as a script: it imports
nothing of the package, so the run time it adds is the interpreter's start, ~20 ms).
"""

from __future__ import annotations

import os
import subprocess
import sys


def main() -> int:
    out_file, *command = sys.argv[1:]
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    with open(out_file, "w") as handle:
        handle.write(f"{usage.ru_maxrss / 1024:.1f}\n")
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
