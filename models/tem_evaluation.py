r"""Evaluation of TEM and TEM-t on fresh worlds against the node and edge agents.

Metrics are described in :mod:`models.tem_training`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models._checks import check_bool, check_int
from models.seeding import SeedLike, child_seed
from models.tem import WalkModel
from models.worlds import (
    Walk,
    World,
    batch_walks,
    edge_agent,
    fraction_visited,
    link_inference_mask,
    node_agent,
    parse_world,
    visited_before,
)

__all__ = [
    "Evaluation",
    "curve_by_fraction_visited",
    "default_eval_steps",
    "evaluate",
    "fresh_walks",
]


@dataclass
class Evaluation:
    """Per-step results of a model on fresh worlds (``n_worlds`` walks of ``T`` steps).

    All arrays are ``(n_worlds, T)``; entry ``[b, t]`` is about predicting observation
    ``t + 1`` of walk ``b``.
    """

    world: World  # the structure (its symbols are those of world 0)
    correct: np.ndarray  # model's arg-max prediction equals the observation
    visited: np.ndarray  # the target node was visited before (node agent knows it)
    link_inference: np.ndarray  # visited, reached by a directed edge never taken
    node_agent: np.ndarray  # probability the node agent is right
    edge_agent: np.ndarray  # probability the edge agent is right
    fraction_visited: np.ndarray  # fraction of nodes visited before the prediction
    nodes: np.ndarray  # (n_worlds, T+1) node ids of the walks
    positions: np.ndarray | None = None  # (n_worlds, T+1, d) position code at every node
    # (n_worlds, T, U) memory units' activity at each step (TEM-t: U = T+1 memory neurons,
    # zero before a neuron's memory is stored; TEM: U place cells p)
    memory_activity: np.ndarray | None = None

    def curve(self, bins: int = 20) -> dict[str, np.ndarray]:
        """Fraction correct vs fraction of nodes visited, for the model and both agents.

        Steps are binned by the fraction of nodes visited before the prediction, in ``bins``
        equal bins over (0, 1]; bins with no step are NaN.
        """
        return curve_by_fraction_visited(self.fraction_visited, self.correct,
                                         self.node_agent, self.edge_agent, bins=bins)

    def metrics(self, *, bins: int = 20, min_count: int = 20) -> dict[str, float]:
        """The flat metrics (``accuracy_visited``, ``accuracy_link_inference``, curve gap...).

        ``max_gap_to_node_agent_after_half`` is the largest ``|node agent - model|`` over the
        curve bins whose centre is >= 0.5 and that hold at least ``min_count`` steps.
        """
        curve = self.curve(bins)
        late = (curve["fraction_visited"] >= 0.5) & (curve["count"] >= min_count)
        gaps = np.abs(curve["node_agent"] - curve["model"])[late]

        def frac(mask: np.ndarray) -> float:
            return float(self.correct[mask].mean()) if mask.any() else float("nan")

        return {
            "accuracy": float(self.correct.mean()),
            "accuracy_visited": frac(self.visited),
            "accuracy_unvisited": frac(~self.visited),
            "accuracy_link_inference": frac(self.link_inference),
            "node_agent_accuracy": float(self.node_agent.mean()),
            "edge_agent_accuracy": float(self.edge_agent.mean()),
            "edge_agent_link_inference": float(self.edge_agent[self.link_inference].mean())
            if self.link_inference.any() else float("nan"),
            "max_gap_to_node_agent_after_half": float(gaps.max()) if gaps.size
            else float("nan"),
            "n_steps": int(self.correct.size),
            "n_steps_visited": int(self.visited.sum()),
            "n_steps_link_inference": int(self.link_inference.sum()),
            "final_fraction_visited": float(self.fraction_visited[:, -1].mean()),
        }


def curve_by_fraction_visited(fraction_visited: np.ndarray, model: np.ndarray,
                              node_agent: np.ndarray, edge_agent: np.ndarray, *,
                              bins: int = 20) -> dict[str, np.ndarray]:
    """Means of the model's and both agents' scores per bin of the fraction visited.

    The entries (any shape, the same for all four) are binned by ``fraction_visited`` in
    ``bins`` equal bins over (0, 1]; bins with no entry are NaN. Returns the bin centres
    (``fraction_visited``), ``count`` and the means ``model``, ``node_agent``,
    ``edge_agent``.
    """
    bins = check_int("bins", bins, minimum=1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(np.ravel(fraction_visited), edges[1:-1], right=True),
                    0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)

    def mean(values: np.ndarray) -> np.ndarray:
        sums = np.bincount(which, weights=np.ravel(values).astype(np.float64), minlength=bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, sums / np.maximum(count, 1), np.nan)

    return {"fraction_visited": 0.5 * (edges[1:] + edges[:-1]), "count": count,
            "model": mean(model), "node_agent": mean(node_agent),
            "edge_agent": mean(edge_agent)}


def default_eval_steps(world: World, walk_factor: float = 6.0) -> int:
    """Walk length used by :func:`evaluate` by default: ``walk_factor`` steps per node."""
    return max(1, round(walk_factor * world.n_nodes))


@torch.no_grad()
def evaluate(model: WalkModel, world: World | str, *, n_worlds: int = 16,
             steps: int | None = None, window: int = 50, repeat_bias: float = 0.25,
             starts: Sequence[int] | None = None, record: bool = False,
             memory_units: Sequence[int] | None = None, seed: SeedLike = 0) -> Evaluation:
    """Run ``model`` on ``n_worlds`` fresh worlds of one structure and score every step.

    Parameters
    ----------
    model
        A trained :class:`~models.tem.WalkModel`.
    world
        The structure: a :class:`~models.worlds.World` or a spec such as ``"square:8x8"``.
        Every walk gets its own freshly sampled symbols.
    n_worlds
        Number of worlds (walks), run as one batch.
    steps
        Walk length (default: 6 steps per node, :func:`default_eval_steps`).
    window
        Steps per forward call (evaluation only; does not change the result).
    repeat_bias
        Walk bias to repeat the last action.
    starts
        Start node of each walk (default: uniform).
    record
        Keep the position code and memory-neuron activities (for rate maps).
    memory_units
        With ``record``: keep the activity of these memory units only (TEM-t: memory neuron
        ``tau`` is the memory stored at step ``tau``; zero before it exists), in this order.
        Default: all (for TEM-t a ``(n_worlds, T, T+1)`` array, large for long walks).
    seed
        Seed of the symbols and walks.
    """
    world, worlds, batch = fresh_walks(model, world, n_worlds=n_worlds, steps=steps,
                                       repeat_bias=repeat_bias, starts=starts, seed=seed)
    n_worlds, steps = batch["actions"].shape
    window = check_int("window", window, minimum=1)
    record = check_bool("record", record)
    units = None
    if memory_units is not None:
        units = torch.as_tensor(np.asarray(memory_units, dtype=np.int64))
        if units.dim() != 1 or (units.numel() and int(units.min()) < 0):
            raise ValueError("memory_units must be a 1-d sequence of non-negative indices")
    acts, obs = batch["actions"], batch["observations"]
    was_training = model.training
    model.eval()
    state = model.begin(obs[:, 0])
    hits, positions, weights = [], [], []
    for t0 in range(0, steps, window):
        sl = slice(t0, t0 + window)
        output = model(state, acts[:, sl], obs[:, t0 + 1:t0 + 1 + window], record=record)
        state = output.state
        hits.append((output.logits.argmax(-1) == obs[:, t0 + 1:t0 + 1 + window]).cpu())
        if record:
            positions.append(output.record["position"].cpu())
            if "memory_activity" in output.record:
                act = output.record["memory_activity"].cpu()
                if units is not None:  # pad to the largest index, then pick the columns
                    need = int(units.max()) + 1 if units.numel() else 0
                    if act.shape[2] < need:
                        act = torch.nn.functional.pad(act, (0, need - act.shape[2]))
                    act = act[:, :, units]
                weights.append(act)
    model.train(was_training)
    nodes = batch["nodes"].cpu().numpy()
    walks = [Walk(nodes=nodes[b], actions=acts[b].cpu().numpy(),
                  observations=obs[b].cpu().numpy()) for b in range(n_worlds)]
    ev = Evaluation(
        world=worlds[0], correct=torch.cat(hits, dim=1).numpy(),
        visited=np.stack([visited_before(w) for w in walks]),
        link_inference=np.stack([link_inference_mask(w) for w in walks]),
        node_agent=np.stack([node_agent(w, model.n_symbols) for w in walks]),
        edge_agent=np.stack([edge_agent(w, model.n_symbols) for w in walks]),
        fraction_visited=np.stack([fraction_visited(w, world.n_nodes) for w in walks]),
        nodes=nodes)
    if record:
        first = _initial_positions(model, obs[:, 0])
        ev.positions = torch.cat([first.unsqueeze(1), torch.cat(positions, dim=1)], 1).numpy()
        if weights:
            units = max(w.shape[2] for w in weights)
            padded = torch.zeros(n_worlds, steps, units)
            t = 0
            for w in weights:
                padded[:, t:t + w.shape[1], :w.shape[2]] = w
                t += w.shape[1]
            ev.memory_activity = padded.numpy()
    return ev


def fresh_walks(model: WalkModel, world: World | str, *, n_worlds: int = 16,
                steps: int | None = None, repeat_bias: float = 0.25,
                starts: Sequence[int] | None = None,
                seed: SeedLike = 0) -> tuple[World, list[World], dict[str, torch.Tensor]]:
    """The fresh worlds and walks :func:`evaluate` scores (its arguments, checked).

    Returns the structure, the ``n_worlds`` worlds (each with its own symbols) and
    ``batch_walks``'s dict (``actions`` ``(n_worlds, steps)``, ``observations`` and
    ``nodes`` ``(n_worlds, steps + 1)``) on the model's device.

    Raises
    ------
    ValueError
        For a world whose actions or symbols the model does not know (one line each).
    """
    if not isinstance(model, WalkModel):
        raise TypeError(f"model must be a TEM or TEM-t model, got {type(model).__name__}")
    if isinstance(world, str):
        world = parse_world(world, n_symbols=model.n_symbols, seed=child_seed(seed, "world"))
    if not isinstance(world, World):
        raise TypeError(f"world must be a World or a spec string, got {type(world).__name__}")
    if world.n_actions != model.n_actions:
        raise ValueError(f"world: a {world.kind} world has {world.n_actions} actions "
                         f"({', '.join(world.action_names)}) but the model was trained with "
                         f"{model.n_actions}; use a checkpoint trained on {world.kind} worlds")
    if world.n_symbols != model.n_symbols:
        raise ValueError(f"world has {world.n_symbols} symbols, the model predicts "
                         f"{model.n_symbols}")
    n_worlds = check_int("n_worlds", n_worlds, minimum=1)
    steps = default_eval_steps(world) if steps is None else check_int("steps", steps, minimum=1)
    worlds = [world.with_observations(child_seed(seed, "symbols", b)) for b in range(n_worlds)]
    batch = batch_walks(worlds, steps, repeat_bias=repeat_bias, starts=starts,
                        seed=child_seed(seed, "walks"), device=model.device)
    return world, worlds, batch


def _initial_positions(model: WalkModel, first_obs: torch.Tensor) -> torch.Tensor:
    """The position code of the first node of each walk (for rate maps)."""
    state = model.begin(first_obs)
    return model.state_position(state).detach().cpu()
