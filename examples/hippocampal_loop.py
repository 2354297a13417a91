"""The spiking hippocampal loop on a random walk, with rate maps
==============================================================

A walk on a square world drives the loop: MEC grid modules path-integrate the actions, one
memory neuron is recruited per step and learns the MEC key and LEC value of that step, and
at revisited nodes the memory neurons predict the symbol. The figure shows the rate maps of
a few MEC grid cells and memory neurons (:func:`analysis.spatial.node_rate_map`), the
prediction accuracy over the walk and a raster of the memory neurons.

Run::

    python examples/hippocampal_loop.py --quick --out hippocampal_loop.png
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from brian2 import SpikeMonitor, second

from analysis.spatial import node_rate_map
from circuits import HippocampalLoop, HippocampusParams
from models.worlds import random_walk, square_world, visited_before


def run(steps: int, size: int, seed: int):
    """Run the loop on a ``size x size`` world; the readout and a monitor of the MEC."""
    world = square_world(size, size, seed=seed)
    walk = random_walk(world, steps, repeat_bias=0.25, seed=seed + 1)
    params = HippocampusParams()
    params = replace(params, memory=replace(params.memory, n=steps + 1))  # one per step
    loop = HippocampalLoop(params, world, seed=seed)
    hold = SpikeMonitor(loop.groups["arbiter"])  # the phase each module keeps
    loop.network.add(hold)
    return world, walk, loop.run(walk), hold


def figure(world, walk, readout, hold, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nodes = walk.nodes
    grid_maps = node_rate_map(nodes, readout.query.astype(float), world.n_nodes,
                              node_positions=world.positions)
    memory_maps = node_rate_map(nodes, readout.memory_counts.astype(float), world.n_nodes,
                                node_positions=world.positions)
    width = int(world.positions[:, 0].max()) + 1
    shape = (-1, width)
    fig, axes = plt.subplots(2, 4, figsize=(12, 6))
    cells = readout.query.sum(0).argsort()[::-1][:2]
    memories = readout.memory_counts.sum(0).argsort()[::-1][:2]
    for ax, (title, rate) in zip(axes[0], [
            *[(f"MEC bump cell {c}", grid_maps.rate[c]) for c in cells],
            *[(f"memory neuron {m}", memory_maps.rate[m]) for m in memories]], strict=True):
        order = np.lexsort((world.positions[:, 0], world.positions[:, 1]))
        ax.imshow(rate[order].reshape(shape), origin="lower", cmap="viridis")
        ax.set(title=f"{title}: rate map", xticks=[], yticks=[])
    visited = np.r_[False, visited_before(walk)]
    correct = readout.predicted == walk.observations
    ax = axes[1, 0]
    hits = correct[visited]
    ax.plot(np.arange(1, len(hits) + 1), np.cumsum(hits) / np.arange(1, len(hits) + 1), "k-")
    ax.set(xlabel="revisits so far", ylabel="prediction accuracy", ylim=(-0.05, 1.05),
           title="predictions at revisited nodes")
    ax = axes[1, 1]
    ax.plot(np.all(readout.decoded_phase == readout.inputs.true_phases, axis=1), "k.")
    ax.set(xlabel="step", ylabel="all modules right", title="path integration",
           ylim=(-0.05, 1.05))
    ax = axes[1, 2]
    i, t, _n = readout.spikes["memory"]
    ax.plot(t * 1e3, i, "|", ms=3, color="k")
    ax.set(xlabel="time (ms)", ylabel="memory neuron", title="HPC memory neurons")
    ax = axes[1, 3]
    ax.plot(np.asarray(hold.t / second) * 1e3, np.asarray(hold.i[:]), "|", ms=3)
    ax.set(xlabel="time (ms)", ylabel="MEC cell", title="MEC hold (user monitor)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="The spiking hippocampal loop on a random walk, with rate maps")
    parser.add_argument("--quick", action="store_true", help="a short walk (smoke run)")
    parser.add_argument("--steps", type=int, default=None, help="walk length (default 150; "
                        "--quick: 20)")
    parser.add_argument("--size", type=int, default=4, help="world side (nodes)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("hippocampal_loop.png"),
                        help="figure path (default ./hippocampal_loop.png)")
    args = parser.parse_args(argv)
    steps = args.steps if args.steps is not None else (20 if args.quick else 150)
    start = time.perf_counter()
    world, walk, readout, hold = run(steps, args.size, args.seed)
    visited = np.r_[False, visited_before(walk)]
    accuracy = float((readout.predicted[visited] == walk.observations[visited]).mean()
                     if visited.any() else float("nan"))
    print(f"{steps} steps on a {args.size}x{args.size} world: prediction accuracy at "
          f"revisited nodes {accuracy:.2f}; {hold.num_spikes} hold spikes")
    print(f"figure: {figure(world, walk, readout, hold, args.out)} "
          f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
