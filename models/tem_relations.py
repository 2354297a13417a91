r"""Relations never experienced directly: transitive inference and family-tree relations.

After a walk on a fresh world (new symbols on a known structure) the model is asked what it
would see at the end of a *relation*, an action sequence it never took from that node in
one go: on a line, "``k`` steps right" from item ``i`` (transitive inference: the walk only
ever moved between neighbours, yet item ``i + k`` is implied); on a family tree, kinship
terms such as *grandparent* (parent, parent) or *aunt or uncle* (parent, sibling). Both
ends must have been visited, so the answer is in memory; only the relation is new.

The model imagines the relation: from the position code it had at its last visit of the
start node, it path-integrates the relation's actions without observing anything
(:meth:`models.tem_t.TEMT.imagine`) and reads out the memory at the imagined position.

Two agents bound it:

- the **node agent** knows which node every imagined position is (the graph is given to it)
  and what it saw there: it is always right, since both ends were visited;
- the **edge agent** knows only the directed edges ``(node, action)`` it has taken and where
  they led; it chains them, and is right if every step of the relation is such an edge,
  otherwise it guesses (``1 / n_symbols``). A relation whose every step it took in that
  direction is *not* held out from it: a chained edge agent performs transitive inference
  on a line it walked in both directions. The model's advantage is in relations whose
  steps were walked the other way, or not at all (a sibling edge on a tree inferred from
  parent and child edges).

The queries are every (node, relation) whose start and end were visited and whose action
sequence the walk never took from that node contiguously.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models._checks import check_int
from models.seeding import SeedLike, child_seed
from models.tem import WalkModel
from models.tem_evaluation import curve_by_fraction_visited
from models.worlds import World, batch_walks, parse_world

__all__ = [
    "RELATIONS",
    "RelationInference",
    "infer_relations",
    "relation_queries",
    "relations_of",
]

#: named relations of the family tree, as action sequences (``TREE_ACTIONS`` names)
FAMILY_RELATIONS: dict[str, tuple[str, ...]] = {
    "grandparent": ("parent", "parent"),
    "aunt_or_uncle": ("parent", "sibling"),
    "grandchild_left": ("left_child", "left_child"),
    "grandchild_right": ("right_child", "right_child"),
    "nephew_or_niece_left": ("sibling", "left_child"),
    "nephew_or_niece_right": ("sibling", "right_child"),
    "cousin_left": ("parent", "sibling", "left_child"),
    "cousin_right": ("parent", "sibling", "right_child"),
}
#: the world kinds with relations (:func:`relations_of`)
RELATIONS = ("line", "family_tree")


def relations_of(world: World) -> dict[str, tuple[str, ...]]:
    """The relations asked on ``world``: name -> action names.

    Line: ``right_k`` and ``left_k`` for ``k`` = 2 .. length - 1 (the item ``k`` places
    after or before). Family tree: :data:`FAMILY_RELATIONS`.

    Raises
    ------
    ValueError
        For a world kind without relations (square and hexagonal worlds).
    """
    if world.kind == "line":
        n = world.n_nodes
        return {f"{d}_{k}": (d,) * k for d in ("right", "left") for k in range(2, n)}
    if world.kind == "family_tree":
        return dict(FAMILY_RELATIONS)
    raise ValueError(f"world: relation inference is defined on {' and '.join(RELATIONS)} "
                     f"worlds, not {world.kind!r} ones")


def _follow(world: World, node: int, actions: tuple[int, ...]) -> int:
    """The node reached from ``node`` by ``actions`` (-1 if one is unavailable)."""
    for a in actions:
        node = int(world.transitions[node, a])
        if node < 0:
            return -1
    return node


def relation_queries(world: World, nodes: np.ndarray, actions: np.ndarray,
                     relations: dict[str, tuple[str, ...]]) -> list[tuple[str, int, int, int]]:
    """The queries of one walk: ``(relation, start step, start node, end node)``.

    ``start step`` is the walk's last visit of the start node. A (node, relation) is a query
    when its end exists, both ends were visited and the walk never took the relation's
    action sequence from that node contiguously.
    """
    ids = {name: tuple(world.action_names.index(a) for a in seq)
           for name, seq in relations.items()}
    last = {int(n): t for t, n in enumerate(nodes)}
    taken: set[tuple[int, tuple[int, ...]]] = set()
    longest = max((len(seq) for seq in ids.values()), default=0)
    for t in range(len(actions)):
        for k in range(2, longest + 1):
            if t + k <= len(actions):
                taken.add((int(nodes[t]), tuple(int(a) for a in actions[t:t + k])))
    queries = []
    for name, seq in ids.items():
        for start, step in sorted(last.items()):
            end = _follow(world, start, seq)
            if end >= 0 and end in last and (start, seq) not in taken:
                queries.append((name, step, start, end))
    return queries


def _edge_agent(world: World, nodes: np.ndarray, actions: np.ndarray, start: int,
                seq: tuple[int, ...], n_symbols: int) -> float:
    """1 if every step of ``seq`` from ``start`` is a directed edge the walk took.

    Otherwise ``1 / n_symbols`` (a guess).
    """
    taken = {(int(nodes[t]), int(actions[t])) for t in range(len(actions))}
    node = start
    for a in seq:
        if (node, a) not in taken:
            return 1.0 / n_symbols
        node = int(world.transitions[node, a])
    return 1.0


@dataclass
class RelationInference:
    """Answers to relation queries on fresh worlds (one row per query)."""

    world: World  # the structure
    relation: np.ndarray  # (Q,) relation name
    hops: np.ndarray  # (Q,) actions in the relation
    correct: np.ndarray  # (Q,) the model's arg-max is the symbol at the end
    node_agent: np.ndarray  # (Q,) probability the node agent is right (1: both ends visited)
    edge_agent: np.ndarray  # (Q,) probability the chaining edge agent is right
    fraction_visited: np.ndarray  # (Q,) fraction of the world's nodes the walk visited

    def metrics(self) -> dict[str, float]:
        """Accuracy overall, on queries the edge agent cannot chain, and per relation."""
        out: dict[str, float] = {"relation_queries": int(self.correct.size)}
        if not self.correct.size:
            return out
        unchained = self.edge_agent < 1
        out.update({
            "accuracy_relations": float(self.correct.mean()),
            "node_agent_relations": float(self.node_agent.mean()),
            "edge_agent_relations": float(self.edge_agent.mean()),
            "relation_queries_unchained": int(unchained.sum()),
            "accuracy_relations_unchained": float(self.correct[unchained].mean())
            if unchained.any() else float("nan"),
        })
        for name in relations_of(self.world):
            mine = self.relation == name
            if mine.any():
                out[f"accuracy_{name}"] = float(self.correct[mine].mean())
        return out

    def by_fraction_visited(self, bins: int = 5) -> dict[str, np.ndarray]:
        """Accuracy of the model and both agents against the fraction of the world seen.

        Queries are binned by their walk's fraction of nodes visited, in ``bins`` equal bins
        over (0, 1]; empty bins are NaN
        (:func:`models.tem_evaluation.curve_by_fraction_visited`).
        """
        return curve_by_fraction_visited(self.fraction_visited, self.correct,
                                         self.node_agent, self.edge_agent, bins=bins)


@torch.no_grad()
def infer_relations(model: WalkModel, world: World | str, *, n_worlds: int = 16,
                    steps: int | None = None, window: int = 50, repeat_bias: float = 0.25,
                    action_names: Sequence[str] | None = None,
                    seed: SeedLike = 0) -> RelationInference:
    """Walk ``n_worlds`` fresh worlds, then ask every relation query of each walk.

    Parameters
    ----------
    model
        A trained model with an ``imagine`` method (:class:`~models.tem_t.TEMT`).
    world
        A line or family-tree structure, or its spec (``"line:10"``, ``"tree:5"``).
    n_worlds, steps, window, repeat_bias, seed
        As in :func:`models.tem_evaluation.evaluate` (default walk: 2 steps per node, so
        that parts of the world stay unexplored and the accuracy can be read against the
        fraction of the graph seen).
    action_names
        The actions the model was trained with (a checkpoint's ``action_names``): checked
        against the world's, so a model is not asked about a world it was not trained for.
        Without them only the number of actions is checked.

    Raises
    ------
    ValueError
        A world kind without relations, a world whose actions or symbols the model was not
        trained for, or a model that cannot imagine.
    """
    if not isinstance(model, WalkModel):
        raise TypeError(f"model must be a TEM or TEM-t model, got {type(model).__name__}")
    if not hasattr(model, "imagine"):
        raise ValueError(f"model: a {type(model).__name__} cannot path-integrate without "
                         f"observing (no imagine()); use a TEM-t checkpoint")
    if isinstance(world, str):
        world = parse_world(world, n_symbols=model.n_symbols, seed=child_seed(seed, "world"))
    relations = relations_of(world)
    trained = tuple(action_names) if action_names is not None else None
    if world.n_actions != model.n_actions or trained not in (None, world.action_names):
        with_ = ", ".join(trained) if trained else f"{model.n_actions} actions"
        raise ValueError(f"world: a {world.kind} world has the actions "
                         f"{', '.join(world.action_names)}; the model was trained with "
                         f"{with_}: use a checkpoint trained on {world.kind} worlds")
    n_worlds = check_int("n_worlds", n_worlds, minimum=1)
    steps = 2 * world.n_nodes if steps is None else check_int("steps", steps, minimum=1)
    window = check_int("window", window, minimum=1)
    worlds = [world.with_observations(child_seed(seed, "symbols", b)) for b in range(n_worlds)]
    batch = batch_walks(worlds, steps, repeat_bias=repeat_bias, seed=child_seed(seed, "walks"),
                        device=model.device)
    acts, obs = batch["actions"], batch["observations"]
    was_training = model.training
    model.eval()
    state = model.begin(obs[:, 0])
    for t0 in range(0, steps, window):
        state = model(state, acts[:, t0:t0 + window], obs[:, t0 + 1:t0 + 1 + window]).state
    nodes = batch["nodes"].cpu().numpy()
    actions = acts.cpu().numpy()
    rows = []
    for b in range(n_worlds):
        queries = relation_queries(world, nodes[b], actions[b], relations)
        seen = len(np.unique(nodes[b])) / world.n_nodes
        for name, step, start, end in queries:
            seq = tuple(world.action_names.index(a) for a in relations[name])
            rows.append((b, name, step, seq, int(worlds[b].observations[end]),
                         _edge_agent(world, nodes[b], actions[b], start, seq, model.n_symbols),
                         seen))
    correct = np.zeros(len(rows), dtype=bool)
    for hops in sorted({len(r[3]) for r in rows}):  # one imagined batch per relation length
        mine = [q for q, r in enumerate(rows) if len(r[3]) == hops]
        logits = model.imagine(
            state, torch.tensor([rows[q][0] for q in mine], device=model.device),
            torch.tensor([rows[q][2] for q in mine], device=model.device),
            torch.tensor([rows[q][3] for q in mine], device=model.device))
        correct[mine] = (logits.argmax(-1).cpu().numpy()
                         == np.array([rows[q][4] for q in mine]))
    model.train(was_training)
    return RelationInference(
        world=world, relation=np.array([r[1] for r in rows], dtype=object),
        hops=np.array([len(r[3]) for r in rows], dtype=np.int64), correct=correct,
        node_agent=np.ones(len(rows)), edge_agent=np.array([r[5] for r in rows], dtype=float),
        fraction_visited=np.array([r[6] for r in rows], dtype=float))
