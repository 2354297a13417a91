"""The spiking loop's inverse temperature along walks, next to TEM-t's b log(1 + N).

For each gain, the loop (Poisson memory neurons, cython) runs ``--walks`` walks of
``--steps`` steps: the walks, worlds and circuit seeds of ``memcircuits hippocampus --seed S
--steps STEPS`` for S = 0, 1, ... The memory neurons' beta on the key-query cosine is fitted
from their spikes per block of ``--block`` steps, pooled over the walks
(:func:`mapping.hippocampus_vs_tem_t.beta_along_walk`), as a ratio to the beta it should
follow:

- ``tem-t``: the gain follows the shipped TEM-t's b (what ``memcircuits hippocampus`` does);
  compared with b log(1 + N);
- a number ``b``: the gain follows b log(1 + N), compared with it (a scale at which every
  block has spikes off the best match, so the schedule can be checked block by block);
- ``fixed``: the circuit's fixed gain ``memory.beta``, compared with TEM-t's b log(1 + N).

Prints, per gain and block, the pooled ratio with its standard error, the one-sided 95%
lower bound and the spikes off the best matches; then the ratio fitted on all steps at once,
the accuracy at visited nodes and the agreement with attention. Use::

    python bench/hippocampus_beta.py                   # 5 walks of 600 steps, 8x8
    python bench/hippocampus_beta.py --walks 2 --steps 200 --gains tem-t   # quick
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def run_walks(args, gain: str) -> dict:
    from circuits.hippocampus.loop import run_walk
    from circuits.hippocampus.params import HippocampusParams, MemoryParams
    from mapping.hippocampus_vs_tem_t import (
        beta_along_walk,
        compare_with_attention,
        memories_stored,
        tem_t_on_walk,
    )
    from models.seeding import child_seed
    from models.worlds import parse_world, random_walk, visited_before

    readouts, targets, schedules, accuracy, agreement = [], [], [], [], []
    for seed in range(args.walks):
        world = parse_world(args.world, seed=child_seed(seed, "world"))
        walk = random_walk(world, args.steps, repeat_bias=0.25,
                           seed=child_seed(seed, "walk"))
        b = tem_t_on_walk(world, walk).beta_scale
        scale = b if gain == "tem-t" else None if gain == "fixed" else float(gain)
        params = HippocampusParams(backend="cython", memory=MemoryParams(
            n=args.steps + 1, spiking="poisson", beta_scale=scale))
        out = run_walk(params, world, walk, seed=child_seed(seed, "circuit"))
        schedule = (b if scale is None else scale) * np.log1p(memories_stored(out))
        readouts.append(out)
        targets.append(schedule)
        schedules.append(scale)
        visited = np.r_[False, visited_before(walk)]
        accuracy.append(float((out.predicted[visited] == walk.observations[visited]).mean()))
        agreement.append(compare_with_attention(
            out, beta=schedule if scale is not None else None).agreement_fraction)
    blocks = beta_along_walk(readouts, targets, block=args.block)
    whole = beta_along_walk(readouts, targets, block=args.steps + 1)
    return {"gain": gain, "b": schedules[0], "walks": args.walks, "steps": args.steps,
            "start": blocks.start.tolist(), "target": blocks.target.tolist(),
            "ratio": blocks.ratio.tolist(), "ratio_se": blocks.ratio_se.tolist(),
            "ratio_lower": blocks.ratio_lower.tolist(),
            "off_best": blocks.spikes_off_best.tolist(),
            "ratio_walk": float(whole.ratio[0]), "ratio_walk_se": float(whole.ratio_se[0]),
            "off_best_walk": float(whole.spikes_off_best[0]),
            "accuracy_visited": accuracy, "agreement_vs_attention": agreement}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="square:8x8")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--walks", type=int, default=5)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--gains", default="tem-t,1.0,fixed",
                        help="comma-separated: tem-t, fixed, or a number b")
    args = parser.parse_args(argv)
    gains = [gain.strip() for gain in args.gains.split(",")]
    for gain in gains:
        if gain not in ("tem-t", "fixed"):
            try:
                if not float(gain) > 0:
                    raise ValueError
            except ValueError:
                parser.error(f"--gains: {gain!r} is not tem-t, fixed or a number b > 0")
    for gain in gains:
        result = run_walks(args, gain)
        print(f"\ngain {result['gain']} (b = {result['b']}), {args.walks} walks of "
              f"{args.steps} steps on {args.world}")
        print("block  target beta  ratio +- se      lower95  spikes off best")
        for k, start in enumerate(result["start"]):
            print(f"{start:5d}  {result['target'][k]:11.2f}  {result['ratio'][k]:6.3f} +- "
                  f"{result['ratio_se'][k]:5.3f}  {result['ratio_lower'][k]:7.3f}  "
                  f"{result['off_best'][k]:.0f}")
        print(f"whole walks: ratio {result['ratio_walk']:.3f} +- {result['ratio_walk_se']:.3f}"
              f" ({result['off_best_walk']:.0f} spikes off the best match); accuracy at "
              f"visited nodes {np.mean(result['accuracy_visited']):.3f}; agreement with "
              f"attention {np.mean(result['agreement_vs_attention']):.3f}")
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
