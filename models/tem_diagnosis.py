r"""Where TEM's errors on revisits come from: path-integration drift or the memory's read-out.

TEM (:class:`models.tem_hebbian.TEM`) predicts a revisited node's symbol by querying its
Hebbian memory with the path-integrated code :math:`g^\mathrm{gen}`. A wrong prediction has
two possible causes:

- **drift**: :math:`g^\mathrm{gen}` has moved away from the code :math:`g^\mathrm{inf}` the
  node was stored under, and the memory-inferred :math:`g^\mathrm{mem}` did not pull it back;
- **read-out**: even queried with the stored code itself, the memory returns the wrong
  symbol (interference between the stored places: TEM's memory is a sum of outer products).

:func:`diagnose_tem` walks fresh worlds one step at a time (the same walks as
:func:`models.tem_evaluation.evaluate` with the same arguments) and at every revisit also
predicts from the code the node had at its *last* visit
(:meth:`~models.tem_hebbian.TEM.predict_from_position` on the memory before the step): an
oracle that removes drift and leaves the read-out. It also asks whether the stored code
nearest :math:`g^\mathrm{gen}` (and nearest :math:`g^\mathrm{mem}`) is the node's, and how
much the model trusts :math:`g^\mathrm{mem}` (the weight :math:`w` of
:func:`models.tem_hebbian.memory_weight`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch

from models.seeding import SeedLike
from models.tem_evaluation import fresh_walks
from models.tem_hebbian import TEM
from models.worlds import World

__all__ = ["TEMDiagnosis", "diagnose_tem"]

#: fraction-visited bins of :meth:`TEMDiagnosis.metrics` (lower edges; the last is closed)
FRACTION_BINS = (0.0, 0.5, 0.8)


@dataclass
class TEMDiagnosis:
    """Per-step diagnosis of TEM on ``n_worlds`` fresh walks of ``T`` steps.

    Arrays are ``(n_worlds, T)``; entry ``[b, t]`` is about predicting observation ``t + 1``
    of walk ``b``. The entries about stored codes are meaningful where ``visited``.
    """

    correct: np.ndarray  # the model's prediction (from g^gen) is right
    correct_stored_position: np.ndarray  # the prediction from the node's stored g is right
    visited: np.ndarray  # the node was visited before
    fraction_visited: np.ndarray  # fraction of nodes visited before the prediction
    path_integrated_nearest: np.ndarray  # the stored g nearest g^gen is the node's
    memory_nearest: np.ndarray  # the stored g nearest g^mem is the node's
    memory_trust: np.ndarray  # weight of g^mem in g^inf (mean over cells)
    drift_since_last_visit: np.ndarray  # |g^gen - g stored at the last visit|^2
    drift_since_first_visit: np.ndarray  # |g^gen - g stored at the first visit|^2
    distance_to_other_nodes: np.ndarray  # median |g^gen - g stored at another node|^2
    place_code_l1: np.ndarray  # |p|_1 of the inferred place code written at the step
    memory_abs_mean: float = float("nan")  # mean |M_ij| over the connections the mask allows,
    # at the end of the walks
    memory_clipped_fraction: float = float("nan")  # fraction of those at the clip (|M_ij| = 1)

    def metrics(self) -> dict[str, float]:
        r"""Means over revisits (medians for squared distances), overall and by fraction visited.

        ``accuracy_visited`` is the model's (as :func:`~models.tem_evaluation.evaluate`'s);
        ``accuracy_visited_stored_position`` the oracle's; their difference is what drift
        costs, and ``1 - accuracy_visited_stored_position`` what the read-out costs. Keys
        ending ``_fraction_<lo>_<hi>`` restrict to steps whose fraction of nodes visited lies
        in ``[lo, hi)``.
        """
        out: dict[str, float] = {}
        edges = (*FRACTION_BINS, 1.0 + 1e-9)
        ranges = [(a, b, f"_fraction_{a:g}_{min(b, 1.0):g}") for a, b in pairwise(edges)]
        for lo, hi, suffix in [(0.0, 1.0 + 1e-9, ""), *ranges]:
            mask = self.visited & (self.fraction_visited >= lo) & (self.fraction_visited < hi)

            def mean(values: np.ndarray, mask: np.ndarray = mask) -> float:
                return float(values[mask].mean()) if mask.any() else float("nan")

            def median(values: np.ndarray, mask: np.ndarray = mask) -> float:
                return float(np.median(values[mask])) if mask.any() else float("nan")

            out[f"accuracy_visited{suffix}"] = mean(self.correct)
            out[f"accuracy_visited_stored_position{suffix}"] = mean(self.correct_stored_position)
            out[f"path_integrated_nearest_node{suffix}"] = mean(self.path_integrated_nearest)
            if not suffix:
                out["n_steps_visited"] = int(mask.sum())
                out["memory_inferred_nearest_node"] = mean(self.memory_nearest)
                out["memory_trust"] = mean(self.memory_trust)
                out["drift_since_last_visit"] = median(self.drift_since_last_visit)
                out["drift_since_first_visit"] = median(self.drift_since_first_visit)
                out["distance_to_other_nodes"] = median(self.distance_to_other_nodes)
                out["place_code_l1"] = float(self.place_code_l1.mean())
                out["memory_abs_mean"] = self.memory_abs_mean
                out["memory_clipped_fraction"] = self.memory_clipped_fraction
        return out


@torch.no_grad()
def diagnose_tem(model: TEM, world: World | str, *, n_worlds: int = 16,
                 steps: int | None = None, repeat_bias: float = 0.25,
                 starts: Sequence[int] | None = None, seed: SeedLike = 0) -> TEMDiagnosis:
    r"""Split TEM's errors on revisits into drift and read-out (see the module docstring).

    Parameters are those of :func:`models.tem_evaluation.evaluate`, which sees the same
    walks for the same arguments; ``model`` must be a :class:`~models.tem_hebbian.TEM`.

    Notes
    -----
    At every step :math:`t` the model runs one step (:meth:`TEM.forward` with ``record``);
    before it, the memory :math:`M_t` is queried with :math:`g^\mathrm{inf}` of the target
    node's last visit. A code is stored per node and walk: the :math:`g^\mathrm{inf}` of its
    last (and first) visit. Nearest means the smallest squared Euclidean distance among the
    nodes visited so far.
    """
    if not isinstance(model, TEM):
        raise TypeError(f"model must be a TEM (Hebbian memory), got {type(model).__name__}")
    world, _, batch = fresh_walks(model, world, n_worlds=n_worlds, steps=steps,
                                  repeat_bias=repeat_bias, starts=starts, seed=seed)
    acts, obs = batch["actions"], batch["observations"]
    nodes = batch["nodes"].cpu().numpy()
    B, T = acts.shape
    was_training = model.training
    model.eval()
    state = model.begin(obs[:, 0])
    # per walk: node -> row of the codes stored at its last and first visit
    last = torch.zeros(B, world.n_nodes, state.g.shape[1], dtype=state.g.dtype,
                       device=state.g.device)
    first = torch.zeros_like(last)
    seen = np.zeros((B, world.n_nodes), dtype=bool)
    rows = torch.arange(B, device=state.g.device)
    start = torch.as_tensor(nodes[:, 0], device=state.g.device)
    last[rows, start] = state.g
    first[rows, start] = state.g
    seen[np.arange(B), nodes[:, 0]] = True
    names = ("correct", "correct_stored_position", "visited", "path_integrated_nearest",
             "memory_nearest", "memory_trust", "drift_since_last_visit",
             "drift_since_first_visit", "distance_to_other_nodes", "fraction_visited",
             "place_code_l1")
    cols: dict[str, np.ndarray] = {k: np.zeros((B, T)) for k in names}
    for t in range(T):
        target = nodes[:, t + 1]
        target_t = torch.as_tensor(target, device=state.g.device)
        stored = last[rows, target_t]  # (B, G), zero where not visited
        oracle = model.predict_from_position(state, stored).argmax(-1)
        out = model(state, acts[:, t:t + 1], obs[:, t + 1:t + 2], record=True)
        g_gen = out.record["position_path_integrated"][:, 0]
        g_mem = out.record["position_from_memory"][:, 0]
        cols["correct"][:, t] = (out.logits[:, 0].argmax(-1) == obs[:, t + 1]).cpu().numpy()
        cols["correct_stored_position"][:, t] = (oracle == obs[:, t + 1]).cpu().numpy()
        cols["visited"][:, t] = seen[np.arange(B), target]
        cols["fraction_visited"][:, t] = seen.sum(1) / world.n_nodes
        cols["memory_trust"][:, t] = out.record["memory_trust"][:, 0].mean(-1).cpu().numpy()
        cols["place_code_l1"][:, t] = (
            out.record["memory_activity"][:, 0].abs().sum(-1).cpu().numpy())
        mask = torch.as_tensor(seen, device=state.g.device)
        for name, g in (("path_integrated_nearest", g_gen), ("memory_nearest", g_mem)):
            dist = ((last - g.unsqueeze(1)) ** 2).sum(-1).masked_fill(~mask, float("inf"))
            cols[name][:, t] = (dist.argmin(1) == target_t).cpu().numpy()
            if name == "path_integrated_nearest":
                d = dist.cpu().numpy()
                cols["drift_since_last_visit"][:, t] = d[np.arange(B), target]
                cols["distance_to_other_nodes"][:, t] = _median_to_others(d, seen, target)
        cols["drift_since_first_visit"][:, t] = (
            ((first[rows, target_t] - g_gen) ** 2).sum(-1).cpu().numpy())
        state = out.state
        g_inf = out.record["position"][:, 0]
        last[rows, target_t] = g_inf
        new = torch.as_tensor(~seen[np.arange(B), target], device=state.g.device)
        first[rows[new], target_t[new]] = g_inf[new]
        seen[np.arange(B), target] = True
    model.train(was_training)
    allowed = state.memory.dense()[:, model.memory_mask > 0].abs()
    bools = ("correct", "correct_stored_position", "visited", "path_integrated_nearest",
             "memory_nearest")
    return TEMDiagnosis(**{k: (v.astype(bool) if k in bools else v) for k, v in cols.items()},
                        memory_abs_mean=float(allowed.mean()),
                        memory_clipped_fraction=float((allowed >= 1.0).float().mean()))


def _median_to_others(dist: np.ndarray, seen: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per walk, the median of ``dist`` over the nodes seen other than ``target`` (NaN: none)."""
    others = np.where(seen & (np.arange(seen.shape[1]) != target[:, None]), dist, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a walk with no other node yet
        return np.nanmedian(others, axis=1)
