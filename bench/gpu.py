#!/usr/bin/env python
r"""Every GPU measurement in one short script: fused SDM reads, the CUDA cerebellum, the GPU
tests and TEM-t training, side by side with their references in one run.

GPU time is scarce, so this script is prepared and tested on the CPU (``--dry-run`` runs
every part at toy sizes where it can) and run once on a GPU. Parts (``--parts``, all by
default); each part's failure is reported and the others still run:

``read``
    The binary SDM read at ``--locations`` (10^6) x ``--bits`` (1000), Kanerva's sample
    memory (radius 451, activation probability ~0.001), random counters in [-15, 15], random
    queries, batches ``--batches``. Side by side, each timed with CUDA events (median of
    ``--repeats`` after a warm-up):

    - ``naive``: the dense bf16 read of bench/sdm_read.py, :math:`D = A Q^\top`,
      :math:`M = [D \ge n - 2d]`, :math:`s = M^\top C`, bits :math:`[s > 0]` (exact in bf16
      here, see that script);
    - ``fused``: :func:`models.sdm_fused.fused_sums` on packed addresses (one Triton kernel,
      no distance matrix), bits :math:`[s > 0]`;
    - ``packed``: the two-step packed read (distances, active pairs, then the gather).

    Printed: ms per read, naive/fused and packed/fused ratios, and whether the bits of all
    three agree (a hash per batch). Also the top-k read (``k`` = ``--top-k``), fused against
    packed.
``cerebellum``
    ``bench/cerebellum_million.py --backend cuda_standalone --reference``: 10^6 granule
    cells built and run with brian2cuda, and the same circuit in ``cpp_standalone`` on this
    machine's CPU: seconds per simulated second of each, whether the read bits are identical
    (``same_reads``) and whether every spike is (``same_spikes_and_reads``; not expected:
    the GPU adds synaptic inputs in no fixed order, see tests/test_cuda_standalone.py).
``pytest``
    ``pytest -m gpu`` over tests/: every test must run and pass, none skipped.
``tem``
    TEM-t training steps per second (bench/tem_train.py's recipe: batch 16, window 20) on
    the GPU and on the CPU with all its cores and with one.

The results go to ``--out`` (JSON, written atomically after each part) and a table on
stdout. The cerebellum part compiles a 10^6-cell CUDA project and runs the C++ reference, and
``pytest -m gpu`` builds two small CUDA projects: minutes each, so where one command may run
only 10 minutes, run ``--parts read,tem,pytest`` and ``--parts cerebellum`` separately.

Examples
--------
``python bench/gpu.py --out gpu.json`` (on a GPU machine);
``python bench/gpu.py --dry-run`` (here: toy sizes, interpreted kernels, CPU only).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

_BENCH = Path(__file__).resolve().parent
_ROOT = _BENCH.parent
sys.path[:0] = [str(_ROOT), str(_BENCH)]

__all__ = ["main"]

#: In this order: the quick parts first, so that a run cut short keeps their results.
PARTS = ("read", "tem", "pytest", "cerebellum")


# ---------------------------------------------------------------------------------------------
# read: fused vs naive dense vs packed
# ---------------------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(device: torch.device, fn: Callable[[], Any], repeats: int) -> float:
    """Median seconds of ``repeats`` calls after one warm-up (CUDA events on a GPU)."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, stop = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            torch.cuda.synchronize(device)
            start.record()
            fn()
            stop.record()
            torch.cuda.synchronize(device)
            times.append(start.elapsed_time(stop) / 1e3)
        else:
            begin = time.perf_counter()
            fn()
            times.append(time.perf_counter() - begin)
    return statistics.median(times)


def _digest(bits: torch.Tensor) -> str:
    return hashlib.sha1(bits.to("cpu", torch.uint8).contiguous().numpy().tobytes()
                        ).hexdigest()[:16]


def _read_batch(args: argparse.Namespace, memory: dict[str, Any], batch: int,
                generator: torch.Generator) -> list[dict[str, Any]]:
    """Rows of one batch: the radius read by all three paths, the top-k read by two."""
    from sdm_read import dense_read

    from models import sdm_fused, sdm_packed

    device, n, radius = memory["device"], memory["n"], memory["radius"]
    words, counters = memory["words"], memory["counters"]
    queries = torch.randint(0, 2, (batch, n), generator=generator, device=device,
                            dtype=torch.uint8)
    qwords = sdm_packed.pack_bits(queries)
    qt = (queries.to(torch.int8) * 2 - 1).to(memory["dtype"]).T.contiguous()
    out: dict[str, torch.Tensor] = {}

    def naive() -> None:
        out["naive"] = dense_read(memory["bipolar"], memory["counters_dense"], qt,
                                  n - 2 * radius)

    def fused(**rule: int) -> None:
        key = "fused" if "radius" in rule else "fused_k"
        out[key] = sdm_fused.fused_sums(qwords, words, counters, n_bits=n, max_abs=15,
                                        **rule) > 0

    def packed(**rule: int) -> None:
        key = "packed" if "radius" in rule else "packed_k"
        pairs = sdm_packed.active_pairs(qwords, words, **rule)
        out[key] = sdm_packed.gather_sums(counters, *pairs, batch, max_abs=15) > 0

    times = {"naive": _time(device, naive, args.repeats),
             "fused": _time(device, lambda: fused(radius=radius), args.repeats),
             "packed": _time(device, lambda: packed(radius=radius), args.repeats)}
    digests = {name: _digest(out[name]) for name in ("naive", "fused", "packed")}
    rows = [{"rule": f"radius {radius}", "batch": batch,
             **{f"{k}_ms": 1e3 * v for k, v in times.items()},
             "naive_over_fused": times["naive"] / times["fused"],
             "packed_over_fused": times["packed"] / times["fused"],
             "bits_identical": len(set(digests.values())) == 1, "digests": digests}]
    if args.top_k:
        k = args.top_k
        tk = {"fused": _time(device, lambda: fused(top_k=k), args.repeats),
              "packed": _time(device, lambda: packed(top_k=k), args.repeats)}
        rows.append({"rule": f"top-k {k}", "batch": batch,
                     **{f"{name}_ms": 1e3 * v for name, v in tk.items()},
                     "packed_over_fused": tk["packed"] / tk["fused"],
                     "bits_identical": torch.equal(out["fused_k"], out["packed_k"])})
    return rows


def run_read(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """The read comparison (see the module docstring); one row per batch and rule."""
    from sdm_read import default_radius

    from models import sdm_packed

    r, n = args.locations, args.bits
    g = torch.Generator(device=device)
    g.manual_seed(args.seed)
    bits = torch.randint(0, 2, (r, n), generator=g, device=device, dtype=torch.uint8)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    counters = torch.randint(-15, 16, (r, n), generator=g, device=device, dtype=torch.int8)
    memory = {"device": device, "n": n, "radius": default_radius(n), "dtype": dtype,
              "words": sdm_packed.pack_addresses(bits),
              "bipolar": (bits.to(torch.int8) * 2 - 1).to(dtype),
              "counters": counters, "counters_dense": counters.to(dtype)}
    del bits
    rows = [row for batch in args.batches for row in _read_batch(args, memory, batch, g)]
    return {"device": _device_name(device), "locations": r, "bits": n,
            "radius": memory["radius"], "rows": rows}


# ---------------------------------------------------------------------------------------------
# cerebellum, pytest, tem: each in a child process or through the other benches
# ---------------------------------------------------------------------------------------------


def _child(command: list[str], timeout: float, env: dict[str, str] | None = None
           ) -> tuple[int, str]:
    """Run ``command`` in its own process group; on timeout the whole group is killed (a
    bench's own children, ``nvcc`` and simulation programs, with it)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, cwd=_ROOT, env=env, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return 124, f"timed out after {timeout} s\n{output or ''}"[-6000:]
    return process.returncode, (output or "")[-6000:]


def _result_line(output: str) -> dict[str, Any] | None:
    for line in reversed(output.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    return None


def run_cerebellum(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """bench/cerebellum_million.py on brian2cuda, with its cpp_standalone reference."""
    command = [sys.executable, str(_BENCH / "cerebellum_million.py"),
               "--granule", str(args.granule), "--backend", "cuda_standalone", "--reference",
               *args.cerebellum_args]
    start = time.perf_counter()
    code, output = _child(command, args.cerebellum_timeout)
    result: dict[str, Any] = {"command": " ".join(command), "returncode": code,
                              "wall_s": time.perf_counter() - start, "output_tail": output}
    summary = _result_line(output)
    if summary is not None:
        reference = summary.get("reference", {})
        result.update({
            "gpu_run_s_per_sim_s": summary["run_s_per_sim_s"],
            "cpu_run_s_per_sim_s": (reference["run_s"] / reference["simulated_s"]
                                    if reference else None),
            "gpu_build_s": summary["circuit"]["build_s"],
            "same_reads": summary.get("same_reads"),
            "same_spikes_and_reads": summary.get("same_spikes_and_reads"),
            "read_bit_accuracy": summary["circuit"]["read_bit_accuracy"]})
    return result


_SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|error|errors|deselected|xfailed)")


def run_pytest(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """``pytest -m gpu``: counts of passed, failed, skipped; ok only if none skipped/failed."""
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-n", "0", "-q", "-rs",
               "-p", "no:cacheprovider", "tests"]
    env = dict(os.environ)
    env.pop("TRITON_INTERPRET", None)
    code, output = _child(command, args.pytest_timeout, env)
    counts: dict[str, int] = {}
    summary = next((line for line in reversed(output.splitlines())
                    if _SUMMARY.search(line) and " in " in line), "")
    for number, kind in _SUMMARY.findall(summary):
        counts[kind.rstrip("s") if kind == "errors" else kind] = int(number)
    ok = (code == 0 and counts.get("passed", 0) > 0 and not counts.get("skipped")
          and not counts.get("failed") and not counts.get("error"))
    return {"command": " ".join(command), "returncode": code, "counts": counts, "ok": ok,
            "output_tail": output[-3000:]}


def run_tem(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """TEM-t training throughput on the GPU and the CPU (same recipe, bench/tem_train.py)."""
    from tem_train import time_training

    rows = []
    cores = os.cpu_count() or 1
    targets = [("cuda", 1)] if device.type == "cuda" else []
    targets += [("cpu", cores)] + ([("cpu", 1)] if cores > 1 else [])
    for target, threads in targets:
        rows.append(time_training("tem-t", target, threads=threads, windows=args.tem_windows))
    cpu = max((row for row in rows if row["device"] == "cpu"), key=lambda r: r["steps_per_s"])
    for row in rows:
        row["ratio_to_best_cpu"] = row["steps_per_s"] / cpu["steps_per_s"]
    return {"rows": rows}


RUNNERS: dict[str, Callable[[argparse.Namespace, torch.device], dict[str, Any]]] = {
    "read": run_read, "cerebellum": run_cerebellum, "pytest": run_pytest, "tem": run_tem,
}


# ---------------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------------


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    from sdm_read import cpu_model

    return f"CPU: {cpu_model()} ({os.cpu_count()} cores)"


def _ints(text: str) -> list[int]:
    values = [int(t) for t in text.split(",") if t.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated, from {', '.join(PARTS)} (all)")
    parser.add_argument("--out", type=Path, help="write the results here (JSON)")
    parser.add_argument("--dry-run", action="store_true",
                        help="toy sizes on the CPU (Triton interpreter), to check the script")
    parser.add_argument("--locations", type=int, default=1_000_000)
    parser.add_argument("--bits", type=int, default=1000)
    parser.add_argument("--batches", type=_ints, default=[1, 16, 128, 1024])
    parser.add_argument("--top-k", type=int, default=1000, help="k of the top-k rows (0: none)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--granule", type=int, default=1_000_000,
                        help="granule cells of the cerebellum part")
    parser.add_argument("--cerebellum-arg", dest="cerebellum_args", action="append",
                        default=[], help="extra argument for bench/cerebellum_million.py")
    parser.add_argument("--cerebellum-timeout", type=float, default=540)
    parser.add_argument("--pytest-timeout", type=float, default=480)
    parser.add_argument("--tem-windows", type=int, default=10)
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        parser.error(f"--parts: unknown {unknown} (choose from {', '.join(PARTS)})")
    args.parts = parts
    if args.dry_run:
        os.environ["TRITON_INTERPRET"] = "1"
        args.locations, args.bits, args.batches = 2000, 100, [1, 3]
        args.top_k, args.repeats, args.granule, args.tem_windows = 7, 1, 2000, 1
    return args


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False,
                                     suffix=".tmp") as handle:
        json.dump(data, handle, indent=2, default=str)
    os.replace(handle.name, path)


def _print_read(result: dict[str, Any]) -> None:
    print(f"# read: {result['locations']} x {result['bits']} bits, {result['device']}")
    print(f"{'rule':14s} {'batch':>6s} {'naive ms':>9s} {'fused ms':>9s} {'packed ms':>9s} "
          f"{'naive/fused':>11s} {'packed/fused':>12s} bits")
    for row in result["rows"]:
        naive = f"{row['naive_ms']:.3f}" if "naive_ms" in row else "-"
        ratio = f"{row['naive_over_fused']:.2f}" if "naive_over_fused" in row else "-"
        same = "identical" if row["bits_identical"] else "DIFFER"
        print(f"{row['rule']:14s} {row['batch']:6d} {naive:>9s} {row['fused_ms']:9.3f} "
              f"{row['packed_ms']:9.3f} {ratio:>11s} {row['packed_over_fused']:12.2f} {same}")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.dry_run else "cpu")
    results: dict[str, Any] = {"device": _device_name(device), "torch": torch.__version__,
                               "argv": list(argv if argv is not None else sys.argv[1:])}
    print(f"# {results['device']}, torch {torch.__version__}", flush=True)
    for part in args.parts:
        start = time.perf_counter()
        if part == "cerebellum" and device.type != "cuda":
            results[part] = {"skipped": "needs a CUDA GPU"}
        else:
            try:
                results[part] = RUNNERS[part](args, device)
            except Exception as exc:  # one part's failure must not lose the others' results
                results[part] = {"error": f"{type(exc).__name__}: {exc}",
                                 "traceback": traceback.format_exc()[-3000:]}
        results[part]["part_s"] = time.perf_counter() - start
        if part == "read" and "rows" in results[part]:
            _print_read(results[part])
        else:
            shown = {k: v for k, v in results[part].items()
                     if k not in ("output_tail", "traceback")}
            print(f"# {part}: {json.dumps(shown, default=str)}", flush=True)
        if args.out:
            _write_atomic(args.out, results)
    return results


if __name__ == "__main__":
    main()
