"""Spiking entorhinal-hippocampal loop on a long walk: cost per step next to abstract TEM-t.

Measurements, each in its own Python subprocess (fresh Brian2 state; peak memory from
``getrusage``), on the *same* walk of the same world:

1. ``standalone``: the spiking TEM-t loop (:func:`circuits.hippocampus.loop.run_walk`) in
   ``cpp_standalone`` on a ``--steps`` walk with ``--memory`` memory neurons (one recruited
   per step); build time, run time, wall time per step, path-integration accuracy and the
   prediction accuracy at visited nodes.
2. ``runtime``: the same loop with Brian2's numpy runtime on the first ``--small-steps``
   steps of the walk (the runtime backend's cost per step).
3. ``reference``: the same loop with every pathway on every spike
   (``pathway_gating=False``), on the same walk: its cost per step against ``standalone``'s,
   and a SHA-256 of every prediction and every recorded spike (index, time step) of both.
4. ``tem-t``: the abstract TEM-t of the shipped checkpoint (``models/checkpoints``) on the
   whole walk, one walk (batch 1), windows of 50 steps, one torch thread, CPU.

Prints a table and the ratios per step. Use::

    python bench/hippocampus_walk.py                       # 2000 steps, 8x8, 2001 memories
    python bench/hippocampus_walk.py --steps 300 --small-steps 100      # quick
    python bench/hippocampus_walk.py --mec-source tem-t   # MEC driven by the cyclic TEM-t
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np
from _parts import emit, measure, spike_digest


def _walk(args):
    from models.seeding import child_seed
    from models.worlds import parse_world, random_walk

    world = parse_world(args.world, seed=child_seed(args.seed, "world"))
    walk = random_walk(world, args.steps, repeat_bias=0.25, seed=child_seed(args.seed, "walk"))
    return world, walk


def run_circuit(args, backend: str, steps: int, pathway_gating: bool = True) -> dict:
    from circuits.hippocampus.loop import run_walk
    from circuits.hippocampus.params import HippocampusParams
    from models.worlds import Walk, visited_before

    world, walk = _walk(args)
    walk = Walk(nodes=walk.nodes[:steps + 1], actions=walk.actions[:steps],
                observations=walk.observations[:steps + 1])
    base = HippocampusParams(backend=backend)
    params = replace(base, pathway_gating=pathway_gating,
                     memory=replace(base.memory, n=max(args.memory, steps + 1)),
                     mec=replace(base.mec, source=args.mec_source,
                                 checkpoint=args.mec_checkpoint
                                 if args.mec_source == "tem-t" else ""))
    directory = tempfile.mkdtemp(prefix="bench-hippocampus-")
    start = time.perf_counter()
    out = run_walk(params, world, walk, seed=args.seed, directory=directory)
    wall = time.perf_counter() - start
    visited = np.r_[False, visited_before(walk)]  # (T+1,) like out.predicted
    return {"steps": steps, "memory_neurons": params.memory.n, "wall_s": wall,
            "build_s": out.timings.get("build_s", 0.0), "run_s": out.timings["run_s"],
            "peak_rss_simulation_mib": out.timings.get("peak_rss_mib"),
            "path_integration_accuracy": float(
                (out.decoded_phase == out.inputs.true_phases).all(1).mean()),
            "accuracy_visited": float(
                (out.predicted[visited] == walk.observations[visited]).mean()),
            "spikes_and_predictions": spike_digest([([out.predicted], out.spikes)],
                                                   float(params.timing.dt))}


def run_tem_t(args) -> dict:
    import torch

    from mapping.hippocampus_vs_tem_t import tem_t_on_walk
    from models.worlds import visited_before

    torch.set_num_threads(1)
    world, walk = _walk(args)
    # the shipped checkpoint (the one driving the MEC with --mec-source tem-t), windows of 50
    checkpoint = args.mec_checkpoint if args.mec_source == "tem-t" else "default"
    tem = tem_t_on_walk(world, walk, checkpoint=checkpoint)
    visited = visited_before(walk)  # (T,): steps 1..T, like the predictions
    return {"steps": args.steps, "memory_neurons": args.steps + 1, "wall_s": tem.wall_s,
            "build_s": 0.0, "run_s": tem.wall_s, "peak_rss_simulation_mib": None,
            "path_integration_accuracy": None,
            "accuracy_visited": float(tem.correct[visited].mean())}


def child(args) -> None:
    if args.part == "standalone":
        result = run_circuit(args, "cpp_standalone", args.steps)
    elif args.part == "reference":
        result = run_circuit(args, "cpp_standalone", args.steps, pathway_gating=False)
    elif args.part == "runtime":
        result = run_circuit(args, "numpy", args.small_steps)
    else:
        result = run_tem_t(args)
    emit(result)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", default="square:8x8")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--memory", type=int, default=2001,
                        help="memory neurons (at least steps + 1)")
    parser.add_argument("--small-steps", type=int, default=200,
                        help="steps of the numpy-runtime measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts", default="standalone,reference,runtime,tem-t",
                        help="comma-separated: standalone, reference (the loop with every "
                             "pathway on every spike, pathway_gating=False), runtime, tem-t")
    parser.add_argument("--mec-source", default="analytic", choices=("analytic", "tem-t"),
                        help="grid modules of the MEC: analytic, or the learned shifts of a "
                             "TEM-t with cyclic modules (then also the TEM-t compared)")
    parser.add_argument("--mec-checkpoint", default="cyclic",
                        help="with --mec-source tem-t: shipped checkpoint name or .pt path")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        child(args)
        return
    argv = [a for a in sys.argv[1:]]
    results = {}
    for part in args.parts.split(","):
        print(f"measuring {part} ...", flush=True)
        results[part] = measure(__file__, part, argv)
        print("  " + json.dumps(results[part]), flush=True)
    print()
    print(f"{args.world}, one walk of {args.steps} steps (runtime: first {args.small_steps}); "
          f"MEC modules: {args.mec_source}")
    print(f"{'':34s} {'steps':>6s} {'memories':>9s} {'build s':>8s} {'run s':>8s} "
          f"{'ms/step':>8s} {'PI acc':>7s} {'acc visited':>12s} {'RSS MiB':>8s}")
    names = {"standalone": "spiking loop, cpp_standalone",
             "reference": "same, every pathway every spike",
             "runtime": "spiking loop, numpy runtime", "tem-t": "abstract TEM-t (checkpoint, CPU)"}
    for part, r in results.items():
        pi = r["path_integration_accuracy"]
        rss = r["peak_rss_simulation_mib"] or r["peak_rss_python_mib"]
        print(f"{names[part]:34s} {r['steps']:6d} {r['memory_neurons']:9d} "
              f"{r['build_s']:8.1f} {r['run_s']:8.1f} {1e3 * r['run_s'] / r['steps']:8.2f} "
              f"{'-' if pi is None else f'{pi:.4f}':>7s} {r['accuracy_visited']:12.4f} "
              f"{rss:8.0f}")
    per_step = {p: r["run_s"] / r["steps"] for p, r in results.items()}
    if "standalone" in per_step and "tem-t" in per_step:
        print(f"\nratio spiking (cpp_standalone) / abstract TEM-t, run time per step: "
              f"{per_step['standalone'] / per_step['tem-t']:.1f}")
    if "standalone" in per_step and "runtime" in per_step:
        print(f"ratio numpy runtime / cpp_standalone, run time per step: "
              f"{per_step['runtime'] / per_step['standalone']:.1f}")
    summary: dict = {"ms_per_step": {p: 1e3 * v for p, v in per_step.items()}}
    if "standalone" in per_step and "reference" in per_step:
        same = (results["standalone"]["spikes_and_predictions"]
                == results["reference"]["spikes_and_predictions"])
        ratio = per_step["standalone"] / per_step["reference"]
        print(f"ratio cpp_standalone / reference (every pathway on every spike), run time per "
              f"step: {ratio:.2f}; every spike and prediction identical: {same}")
        summary.update(standalone_over_reference=ratio, same_spikes_and_predictions=same)
    print("RESULT " + json.dumps({**summary, "parts": results}))


if __name__ == "__main__":
    main()
