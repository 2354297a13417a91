"""Sweep runs on a 2-worker Dask LocalCluster against the same runs one after the other.

The same grid (default: 8 seeds of a small cerebellar write/read, numpy target, 16 patterns
written and read twice, about 50 s of CPU per run) runs twice in one invocation, side by
side:

1. ``serial``: every run in this process, one after the other (``execute_run`` in a loop);
2. ``dask``: ``memcircuits sweep`` machinery on a ``LocalCluster`` of ``--workers``
   processes with one thread each (the cluster's start-up is included in its wall time).

Both write ordinary run directories (in temporary folders); the printed ratio is serial
wall time / Dask wall time (goal >= 1.6 with 2 workers on 2 cores). Results are compared:
every run's metrics must be equal between the two.

Every worker process pays a fixed start-up (imports of Brian2, torch, matplotlib, pynwb and
first-use caches: about 15 s here) that the serial side pays once; with runs of ~25 s
(``--patterns 8``) it costs about a tenth of the ideal speed-up, with ~50 s runs half that.

    python bench/sweep_parallel.py                   # 8 runs of ~50 s, 2 workers
    python bench/sweep_parallel.py --patterns 8      # 8 runs of ~25 s
    python bench/sweep_parallel.py --runs 4          # quicker
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

SMALL = {"circuit.address_bits": 32, "circuit.value_bits": 8, "circuit.granule.n": 600,
         "circuit.granule.coding_level": 0.055, "patterns": 16}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--patterns", type=int, default=SMALL["patterns"],
                        help="patterns written and read per run (sets the run's length)")
    args = parser.parse_args()

    from mapping.sweep import SweepSpec, execute_run, expand, run_sweep

    spec = SweepSpec(command="cerebellum", base={**SMALL, "patterns": args.patterns},
                     grid={"seed": list(range(args.runs))})
    runs = expand(spec)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        root = Path(tmp)
        print(f"serial: {len(runs)} runs in this process ...", flush=True)
        start = time.perf_counter()
        serial = {r.run_id: execute_run(spec.command, str(root / "serial" / r.run_id),
                                        r.overrides) for r in runs}
        serial_s = time.perf_counter() - start
        print(f"dask: {len(runs)} runs on a LocalCluster of {args.workers} processes ...",
              flush=True)
        start = time.perf_counter()
        summary = run_sweep(spec, root / "dask", workers=args.workers, progress=False)
        dask_s = time.perf_counter() - start
        same = 0
        for r in runs:
            parallel = json.loads((root / "dask" / "runs" / r.run_id / "metrics.json")
                                  .read_text())
            keys = [k for k in serial[r.run_id] if "wall" not in k and "timing" not in k]
            same += all(serial[r.run_id][k] == parallel.get(k) for k in keys)
    print()
    print(f"{'':28s} {'wall s':>8s} {'s per run':>10s}")
    print(f"{'serial (one process)':28s} {serial_s:8.1f} {serial_s / len(runs):10.2f}")
    print(f"{f'Dask LocalCluster, {args.workers} workers':28s} {dask_s:8.1f} "
          f"{dask_s / len(runs):10.2f}")
    print(f"\nruns completed {summary['completed']}/{len(runs)}, metrics equal to serial "
          f"{same}/{len(runs)}")
    print(f"ratio serial / Dask: {serial_s / dask_s:.2f}  (goal >= 1.6 with 2 workers)")
    print("RESULT " + json.dumps({"serial_s": serial_s, "dask_s": dask_s,
                                  "ratio": serial_s / dask_s, "runs": len(runs),
                                  "equal": same}))


if __name__ == "__main__":
    main()
