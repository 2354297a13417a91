"""TEM-t from a shipped checkpoint: predicting observations in a new world
========================================================================

The Tolman-Eichenbaum Machine with transformers (TEM-t, Whittington et al. 2022) learns
the structure of 2-D spaces: after walking a *new* world with new symbols, it predicts
what it will see at places it has visited, even along edges it never took (path
integration + memory). memcircuits ships a pretrained TEM-t for square worlds.

This example loads it (``models.tem_training.load_model("default")``), walks fresh square
worlds it never saw, and plots the fraction of correct predictions against the fraction of
nodes visited, next to two reference agents: the *node agent* (remembers every visited
node; perfect on visited nodes) and the *edge agent* (remembers only edges it took).

Run: ``python examples/tem_t_checkpoint.py [--quick] [--out PATH]``
"""

# %%
# Options
# -------
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from models.tem_training import evaluate, load_model
from models.worlds import parse_world

parser = argparse.ArgumentParser(
    description="TEM-t from a shipped checkpoint: predicting observations in a new world")
parser.add_argument("--quick", action="store_true", help="fewer and shorter walks")
parser.add_argument("--out", default="./tem_t_checkpoint.png", help="figure path")
args, _ = parser.parse_known_args()
torch.set_num_threads(1)

# %%
# Load the shipped checkpoint and draw a fresh world
# --------------------------------------------------
# ``load_model`` returns the model in evaluation mode and its checkpoint record (model
# type, training steps). Checkpoints are read with ``weights_only=True``: no code runs.
world = parse_world("square:6x6" if args.quick else "square:8x8", seed=1)
model, ckpt = load_model("default", world_kind=world.kind)
print(f"loaded {ckpt.model_type} ({ckpt.step} training steps) from {ckpt.path}")
print(f"world: {world.kind}, {world.n_nodes} nodes, {world.n_actions} actions")

# %%
# Evaluate on fresh worlds
# ------------------------
# Every walk gets its own fresh symbols on the same structure; entry ``[b, t]`` of the
# result is about predicting observation ``t + 1`` of walk ``b``.
n_worlds = 8 if args.quick else 16
steps = 4 * world.n_nodes if args.quick else None  # default: 6 steps per node
ev = evaluate(model, world, n_worlds=n_worlds, steps=steps, seed=0)
metrics = ev.metrics()
print(f"accuracy on visited nodes {metrics['accuracy_visited']:.3f} (node agent 1.0); "
      f"link inference {metrics['accuracy_link_inference']:.3f} "
      f"(edge agent {metrics['edge_agent_link_inference']:.3f})")

# %%
# Figure: fraction correct vs fraction of nodes visited
# ------------------------------------------------------
# A model that has learned the structure tracks the node agent: it is right wherever it
# has been, even when it arrives by a new edge.
curve = ev.curve()
ok = curve["count"] > 0
x = curve["fraction_visited"][ok]
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].plot(x, curve["node_agent"][ok], "k--", label="node agent")
axes[0].plot(x, curve["edge_agent"][ok], ":", color="grey", label="edge agent")
axes[0].plot(x, curve["model"][ok], "o-", ms=3, label=ckpt.model_type.upper())
axes[0].set(xlabel="fraction of nodes visited", ylabel="fraction correct", ylim=(0, 1.02),
            xlim=(0, 1), title=f"{world.n_nodes}-node square worlds, {n_worlds} fresh walks")
axes[0].legend(loc="lower right", fontsize=8)

# accuracy over the walk, split by what the agents could know
window = 10


def smooth(v: np.ndarray) -> np.ndarray:
    """Running mean over ``window`` steps (full windows only)."""
    return np.convolve(v, np.ones(window) / window, mode="valid")


t = np.arange(ev.correct.shape[1] - window + 1) + window - 1  # last step of each window
visited = ev.visited.mean(0)
axes[1].plot(t, smooth(ev.correct.mean(0)), label=f"{ckpt.model_type.upper()} correct")
axes[1].plot(t, smooth(visited), "k--", label="target node visited before")
axes[1].set(xlabel="step of the walk", ylabel=f"fraction ({window}-step mean)",
            ylim=(0, 1.02), title="accuracy along the walk")
axes[1].legend(loc="lower right", fontsize=8)
fig.tight_layout()
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out, dpi=100)
print(f"figure: {args.out}")
