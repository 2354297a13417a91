"""N runs from one cpp_standalone build against N builds, side by side.

The cerebellar SDM (``--granule`` cells) presents ``--writes`` writes then ``--reads``
reads of new random keys/values/queries in each of ``--runs`` runs, each run with its own
Golgi inhibition (``GOLGI_FACTORS`` times the default: new inputs *and* parameters). Each
measurement runs in
its own Python subprocess (fresh Brian2 state):

1. ``fresh``: ``CerebellarSDM(cpp_standalone)`` in a new build directory per run (code
   generation + full compilation + run, N times).
2. ``same_dir``: ``CerebellarSDM(cpp_standalone)`` with one build directory for all runs
   (code generation every run; ``make`` recompiles only what changed).
3. ``reuse``: :class:`circuits.cerebellum.standalone.StandaloneRunner` built once in an
   empty cache, then N runs through ``run_args`` (no code generation, no compilation).
4. ``reuse_cached``: the same in a new process whose cache already holds the build (code
   generation, nothing to compile), then N runs.

Every run's readout (nuclear and Purkinje spike counts, active granule sets, weights) is
hashed; the table says whether all four agree run by run. Ratios are total wall time.

    python bench/standalone_reuse.py                      # 4000 GrC, 20 + 20, N = 5
    python bench/standalone_reuse.py --runs 3 --granule 2000 --writes 5 --reads 5   # quick
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np
from _parts import emit, measure


def bench_params(args):
    from circuits.cerebellum.params import CerebellumParams, GranuleParams

    return CerebellumParams(address_bits=64, value_bits=args.purkinje,
                            backend="cpp_standalone",
                            granule=replace(GranuleParams(), n=args.granule))


#: Golgi inhibition of run k, as a multiple of the default: every run after the first has
#: new parameters too (through run_args for the runner, a build with them for CerebellarSDM)
GOLGI_FACTORS = (1.0, 0.5, 1.5, 0.75, 1.25)


def run_params(params, run: int):
    """The parameters of run ``run``: the Golgi inhibition scaled by ``GOLGI_FACTORS``."""
    inhibition = GOLGI_FACTORS[run % len(GOLGI_FACTORS)] * params.golgi.inhibition
    return replace(params, golgi=replace(params.golgi, inhibition=inhibition))


def schedule(args, run: int):
    """New random keys/values per run; the reads query stored keys."""
    rng = np.random.default_rng([args.seed, run])
    keys = rng.integers(0, 2, (args.writes, 64), dtype=np.uint8)
    values = rng.integers(0, 2, (args.writes, args.purkinje), dtype=np.uint8)
    which = rng.integers(0, args.writes, args.reads)
    return [("write", keys, values), ("read", keys[which], None)], values[which]


def digest(readouts) -> str:
    h = hashlib.sha256()
    for r in readouts:
        for arr in (r.nuclei_counts, r.purkinje_counts, r.pf_drive, r.mli_drive,
                    np.nan_to_num(r.weights_after, nan=-1.0), *r.active_granule):
            h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:12]


def child(args) -> dict:
    from circuits.cerebellum.protocol import CerebellarSDM
    from circuits.cerebellum.standalone import StandaloneRunner

    params = bench_params(args)
    record = ("granule", "purkinje", "nuclei")
    builds, runs, digests, accuracy = [], [], [], []
    start = time.perf_counter()
    if args.part in ("fresh", "same_dir"):
        shared = tempfile.mkdtemp(prefix="bench-reuse-samedir-")
        for k in range(args.runs):
            sched, expected = schedule(args, k)
            directory = (shared if args.part == "same_dir"
                         else tempfile.mkdtemp(prefix="bench-reuse-fresh-"))
            sdm = CerebellarSDM(run_params(params, k), seed=args.seed, directory=directory,
                                record=record)
            out = sdm.present(sched)
            builds.append(sdm.timings["build_s"])
            runs.append(sdm.timings["run_s"])
            digests.append(digest(out))
            accuracy.append(float((out[1].bits == expected).mean()))
    else:
        runner = StandaloneRunner(params, [("write", args.writes), ("read", args.reads)],
                                  seed=args.seed, record=record, cache_dir=args.cache)
        builds.append(runner.build_s)
        compiled = runner.compiled
        for k in range(args.runs):
            sched, expected = schedule(args, k)
            out = runner.run(sched, parameters={
                "golgi.inhibition": run_params(params, k).golgi.inhibition})
            runs.append(out[0].timings["run_s"] + out[0].timings["collect_s"])
            digests.append(digest(out))
            accuracy.append(float((out[1].bits == expected).mean()))
        runner.close()
    total = time.perf_counter() - start
    result = {"build_s": sum(builds), "run_s": sum(runs), "total_s": total,
              "builds": len(builds), "digests": digests,
              "read_bit_accuracy": float(np.mean(accuracy))}
    if args.part.startswith("reuse"):
        result["compiled"] = compiled
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--granule", type=int, default=4000)
    parser.add_argument("--purkinje", type=int, default=16)
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        emit(child(args))
        return
    argv = [*sys.argv[1:], "--cache", tempfile.mkdtemp(prefix="bench-reuse-cache-")]
    results = {}
    for part in ("reuse", "fresh", "reuse_cached", "same_dir"):
        print(f"measuring {part} ...", flush=True)
        results[part] = measure(__file__, part, argv)
        print("  " + json.dumps(results[part]), flush=True)
    names = {"fresh": "N builds, new directory each (CerebellarSDM)",
             "same_dir": "N builds, one directory (CerebellarSDM)",
             "reuse": "1 build + N runs (StandaloneRunner, cold cache)",
             "reuse_cached": "0 compiles + N runs (StandaloneRunner, cached)"}
    print()
    print(f"{args.granule} granule cells, {args.purkinje} Purkinje cells, {args.writes} writes "
          f"+ {args.reads} reads per run, N = {args.runs} runs with new random inputs and "
          f"Golgi inhibition x {', '.join(str(GOLGI_FACTORS[k % 5]) for k in range(args.runs))}")
    print(f"{'':50s} {'builds':>6s} {'build s':>8s} {'run s':>8s} {'total s':>8s} "
          f"{'fresh / this':>12s}")
    base = results["fresh"]["total_s"]
    for part in ("fresh", "same_dir", "reuse", "reuse_cached"):
        r = results[part]
        print(f"{names[part]:50s} {r['builds']:6d} {r['build_s']:8.2f} {r['run_s']:8.2f} "
              f"{r['total_s']:8.2f} {base / r['total_s']:12.2f}")
    same = all(r["digests"] == results["fresh"]["digests"] for r in results.values())
    print()
    print(f"readouts identical run by run across all four: {same}; read bit accuracy "
          f"{results['fresh']['read_bit_accuracy']:.3f}; cached runner compiled anything: "
          f"{results['reuse_cached']['compiled']}")
    print(f"ratio N builds / (1 build + N runs), total time: "
          f"{base / results['reuse']['total_s']:.2f}")
    print("RESULT " + json.dumps({"ratio": base / results["reuse"]["total_s"],
                                  "ratio_cached": base / results["reuse_cached"]["total_s"],
                                  "identical": same, "runs": args.runs}))


if __name__ == "__main__":
    main()
