"""Every side-by-side benchmark with one command, and one table of the ratios they measure.

Runs each benchmark script in its own process (each compares its two sides within one run,
so machine noise hits both alike), reads the ``RESULT {json}`` line it prints last, and
prints:

=============================================  ========================================
comparison                                     script
=============================================  ========================================
cerebellar circuit / minimal Brian2 network    ``cerebellum_scale.py`` (run time)
circuit / circuit, Brian2's granule code       ``cerebellum_scale.py`` (run time; same spikes)
numpy runtime / cpp_standalone                 ``cerebellum_scale.py`` (run time)
8 sweep runs serial / 2-worker LocalCluster    ``sweep_parallel.py`` (wall time)
N standalone builds / N runs from one build    ``standalone_reuse.py`` (wall time)
dense / packed SDM read, CPU (batch 1, 1024)   ``sdm_packed.py``
abstract SDM read CPU / CUDA                   ``sdm_read.py`` (only with a GPU)
=============================================  ========================================

    python bench/all.py            # full sizes (tens of minutes on 2 cores)
    python bench/all.py --quick    # small sizes, a few minutes: checks that all run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (script, full-size arguments, quick arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "cerebellum": ("cerebellum_scale.py", [],
                   ["--granule", "20000", "--writes", "10", "--reads", "10",
                    "--small-granule", "2000", "--small-presentations", "4"]),
    "sweep": ("sweep_parallel.py", ["--runs", "8", "--workers", "2"],
              ["--runs", "4", "--workers", "2"]),
    "standalone_reuse": ("standalone_reuse.py", [], ["--runs", "2"]),
    "sdm_packed": ("sdm_packed.py", ["--device", "cpu"],
                   ["--device", "cpu", "--locations", "20000", "--batches", "1,64",
                    "--repeats", "2"]),
}


def run_one(script: str, argv: list[str],
            log: Path | None = None) -> tuple[dict | None, float, str]:
    """Run one benchmark script; its last RESULT dict (or None), wall time, output tail.
    With ``log``, the script's whole output is written there (its own tables)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(HERE / script), *argv], capture_output=True,
                          text=True, check=False, cwd=HERE)
    wall = time.perf_counter() - start
    if log is not None:
        from models.rundir import atomic_write_text

        atomic_write_text(log, f"$ python {script} {' '.join(argv)}\n{proc.stdout}"
                               f"{proc.stderr}")
    result = None
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    tail = (proc.stdout + proc.stderr)[-1500:]
    return (result if proc.returncode == 0 else None), wall, tail


def rows_from(results: dict[str, dict | None]) -> list[tuple[str, str, str]]:
    """``(comparison, ratio, goal)`` rows of the table."""
    def fmt(value: float | None, name: str) -> str:
        if name not in results:
            return "not run"
        return "failed" if value is None else f"{value:.2f}"

    c = results.get("cerebellum") or {}
    s = results.get("sweep") or {}
    r = results.get("standalone_reuse") or {}
    p = (results.get("sdm_packed") or {}).get("cpu", {})
    batches = sorted(int(k.rsplit("batch", 1)[1]) for k in p)
    same = c.get("same_spikes_and_reads")
    rows = [
        ("cerebellar circuit / minimal network (run time)",
         fmt(c.get("circuit_over_minimal"), "cerebellum"), "< 1.0"),
        ("cerebellar circuit / same with Brian2's granule code (run time)",
         fmt(c.get("circuit_over_brian2_granule"), "cerebellum"),
         "report; spikes and reads identical: "
         + ("not measured" if same is None else str(same))),
        ("cerebellar circuit: run s per simulated s (10^5 GrC)",
         fmt(c.get("circuit_run_s_per_sim_s"), "cerebellum"), "<= 1.0"),
        ("numpy runtime / cpp_standalone (run time)",
         fmt(c.get("runtime_over_standalone"), "cerebellum"), "report"),
        (f"{s.get('runs', 8)} sweep runs: serial / 2-worker LocalCluster (wall)",
         fmt(s.get("ratio"), "sweep"), ">= 1.6"),
        ("N builds / N runs from one build (wall)",
         fmt(r.get("ratio"), "standalone_reuse"), "report"),
    ]
    for b in batches[:1] + batches[-1:] if len(batches) > 1 else batches:
        rows.append((f"dense / packed SDM read, CPU, batch {b}",
                     fmt(p.get(f"dense_over_packed_batch{b}"), "sdm_packed"), "report"))
    rows.append(("abstract SDM read CPU / CUDA", "no GPU" if not _has_cuda() else "see "
                 "sdm_read.py", "report"))
    return rows


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return bool(torch.cuda.is_available())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(BENCHMARKS))
    parser.add_argument("--logs", type=Path, default=None,
                        help="write each script's full output to LOGS/<name>.txt (default: "
                             "a new temporary directory, printed)")
    args = parser.parse_args(argv)
    logs = args.logs or Path(tempfile.mkdtemp(prefix="memcircuits-bench-"))
    logs.mkdir(parents=True, exist_ok=True)
    print(f"full outputs: {logs}", flush=True)
    names = list(BENCHMARKS) if not args.only else args.only.split(",")
    unknown = set(names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    results: dict[str, dict | None] = {}
    for name in names:
        script, full, quick = BENCHMARKS[name]
        if not (HERE / script).is_file():
            print(f"{name}: {script} missing, skipped", flush=True)
            continue
        print(f"running {script} {' '.join(quick if args.quick else full)} ...", flush=True)
        result, wall, tail = run_one(script, quick if args.quick else full,
                                     logs / f"{name}.txt")
        results[name] = result
        status = f"{wall:.0f} s" if result is not None else "FAILED:\n" + tail
        print(f"  {status}", flush=True)
    rows = rows_from(results)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'comparison':{width}s}  {'ratio':>8s}  goal")
    for name, ratio, goal in rows:
        print(f"{name:{width}s}  {ratio:>8s}  {goal}")
    return results


if __name__ == "__main__":
    main()
