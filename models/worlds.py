r"""Graph worlds, random walks and the node/edge baseline agents of TEM and TEM-t.

A *world* (Whittington et al. 2020, Cell; Whittington, Warren & Behrens 2022, ICLR) is a graph
whose nodes each show one of ``n_symbols`` (45) sensory symbols. The agent walks the graph by
discrete actions and must predict the symbol it will see next. Structure (the graph and its
actions) is shared across worlds of a kind; the symbols are resampled for every new world,
so the only way to predict well on a fresh world is to infer its structure and remember which
symbol was seen where.

Worlds
------
Every world stores a transition table ``transitions[node, action] -> next node`` (``-1`` where
the action is not available) together with the ``networkx`` graph it encodes. Action 0 is
always ``"stay"`` (the next node is the current node). Node ids run ``0 .. n_nodes - 1``.

``square``
    ``width x height`` grid, node ``y * width + x``; stay, north (y+1), east (x+1), south
    (y-1), west (x-1). Positions ``(x, y)``.
``hexagonal``
    ``width x height`` patch of a triangular lattice (every node has 6 neighbours at distance
    1 in the interior), rows ``r`` of ``width`` nodes, odd rows shifted by half a step
    ("odd-r" offset layout), node ``r * width + c``; stay, east, northeast, northwest, west,
    southwest, southeast. Positions ``(c + (r mod 2) / 2, r sqrt(3) / 2)``.
``line``
    ``length`` nodes in a row (transitive inference); stay, left (i-1), right (i+1).
    Positions ``(i, 0)``.
``family_tree``
    complete binary tree with ``levels`` levels, heap numbering (root 0, children of ``i``
    are ``2i+1`` and ``2i+2``); stay, parent, left_child, right_child, sibling (the other
    child of the same parent); the graph holds parent-child and sibling edges. Positions:
    leaves 1 apart on the bottom row, each parent centred above its children, root on top
    (``y = levels-1``).

No world wraps around (no torus): actions that would leave the world are unavailable (``-1``).
Every non-stay action is invertible: north/south, east/west and the three hexagonal axes are
opposite pairs; parent undoes left_child/right_child; sibling is its own inverse.

Walks and agents
----------------
:func:`random_walk` draws a uniform available action at each step; with probability
``repeat_bias`` it repeats the previous action if that is available (TEM's bias to go
straight). The baselines score the probability of predicting the next symbol correctly:

.. math::

    P^{\mathrm{node}}_t = \begin{cases} 1 & s_{t+1} \in \{s_0, \dots, s_t\} \\
                                        1 / n_{\mathrm{symbols}} & \text{otherwise} \end{cases}
    \qquad
    P^{\mathrm{edge}}_t = \begin{cases} 1 & (s_t, a_t) \in \{(s_\tau, a_\tau)\}_{\tau < t}
                                            \text{ or } a_t = \text{stay} \\
                                        1 / n_{\mathrm{symbols}} & \text{otherwise} \end{cases}

Edges are directed ``(node, action)`` pairs: having gone east from A to B does not tell the
edge agent what west from B shows. Steps where the node agent is right and the edge agent is
not (:func:`link_inference_mask`) are the zero-shot link-inference steps.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import torch

from models._checks import check_bool, check_device, check_int, check_probability
from models.seeding import SeedLike, child_seed, numpy_rng

__all__ = [
    "HEXAGONAL_ACTIONS",
    "LINE_ACTIONS",
    "SQUARE_ACTIONS",
    "TREE_ACTIONS",
    "WORLD_SPECS",
    "Walk",
    "World",
    "batch_walks",
    "check_world_size",
    "check_world_specs",
    "edge_agent",
    "edge_taken_before",
    "family_tree_world",
    "fraction_visited",
    "hexagonal_world",
    "line_world",
    "link_inference_mask",
    "node_agent",
    "parse_world",
    "random_walk",
    "sample_observations",
    "square_world",
    "visited_before",
    "walk_world",
]

N_SYMBOLS = 45  # symbols per world (TEM: 45 sensory observations; SCIENCE.md section 3)

SQUARE_ACTIONS: tuple[str, ...] = ("stay", "north", "east", "south", "west")
HEXAGONAL_ACTIONS: tuple[str, ...] = (
    "stay", "east", "northeast", "northwest", "west", "southwest", "southeast")
LINE_ACTIONS: tuple[str, ...] = ("stay", "left", "right")
TREE_ACTIONS: tuple[str, ...] = ("stay", "parent", "left_child", "right_child", "sibling")

# The forms parse_world accepts (shown in its error message).
WORLD_SPECS: tuple[str, ...] = (
    "square:WxH", "square:N (= NxN)", "hex:WxH", "hex:N (= NxN)", "line:N", "tree:LEVELS")

_KINDS = ("square", "hexagonal", "line", "family_tree")


@dataclass(frozen=True, eq=False)
class World:
    """A graph world: structure (graph, actions) plus one symbol per node.

    Arrays are stored read-only. Build worlds with :func:`square_world`,
    :func:`hexagonal_world`, :func:`line_world`, :func:`family_tree_world` or
    :func:`parse_world`.
    """

    kind: str  # "square" | "hexagonal" | "line" | "family_tree"
    graph: nx.Graph  # undirected; nodes 0..n_nodes-1, node attribute "pos"
    transitions: np.ndarray  # (n_nodes, n_actions) int64: next node per action, -1 unavailable
    action_names: tuple[str, ...]  # action 0 is "stay"
    positions: np.ndarray  # (n_nodes, 2) float64 coordinates for rate maps
    observations: np.ndarray  # (n_nodes,) int64 symbol per node in [0, n_symbols)
    n_symbols: int = N_SYMBOLS  # number of distinct symbols (TEM: 45)
    spec: str = ""  # the parse_world spec that rebuilds this structure, e.g. "square:8x8"

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.transitions.shape[0])

    @property
    def n_actions(self) -> int:
        """Number of actions, "stay" included."""
        return int(self.transitions.shape[1])

    def action_index(self, name: str) -> int:
        """Index of the action called ``name`` (raises ``ValueError`` listing the names)."""
        if name not in self.action_names:
            listed = ", ".join(repr(a) for a in self.action_names)
            raise ValueError(f"name must be one of {listed} for a {self.kind} world, got {name!r}")
        return self.action_names.index(name)

    def available_actions(self, node: int, *, allow_stay: bool = True) -> np.ndarray:
        """Indices of the actions available at ``node`` (stay first if ``allow_stay``)."""
        node = check_int("node", node, minimum=0, maximum=self.n_nodes - 1)
        actions = np.flatnonzero(self.transitions[node] >= 0)
        return actions if allow_stay else actions[actions != 0]

    def step(self, node: int, action: int) -> int:
        """The node reached from ``node`` by ``action`` (raises if it is unavailable there)."""
        node = check_int("node", node, minimum=0, maximum=self.n_nodes - 1)
        action = check_int("action", action, minimum=0, maximum=self.n_actions - 1)
        nxt = int(self.transitions[node, action])
        if nxt < 0:
            raise ValueError(f"action {action} ({self.action_names[action]!r}) is not available "
                             f"at node {node} of this {self.kind} world")
        return nxt

    def with_observations(self, seed: SeedLike = None) -> World:
        """The same structure with freshly sampled symbols (a new world of the same kind)."""
        obs = sample_observations(self.n_nodes, self.n_symbols, seed=seed)
        return dataclasses.replace(self, observations=obs)


def sample_observations(n_nodes: int, n_symbols: int = N_SYMBOLS, *,
                        seed: SeedLike | np.random.Generator = None) -> np.ndarray:
    """Draw one symbol per node, i.i.d. uniform over ``n_symbols`` (repeats allowed, as in TEM).

    Returns a read-only ``(n_nodes,)`` int64 array.
    """
    n_nodes = check_int("n_nodes", n_nodes, minimum=1)
    n_symbols = check_int("n_symbols", n_symbols, minimum=1)
    obs = numpy_rng(seed, "observations").integers(0, n_symbols, size=n_nodes, dtype=np.int64)
    obs.setflags(write=False)
    return obs


#: peak bytes a world takes to build, per node and per undirected edge: the networkx graph
#: (node, adjacency and attribute dicts, the ``pos`` tuple; ~420 bytes an edge in the two
#: adjacency dicts) next to the transition, position and observation arrays. Measured with
#: tracemalloc on 300x300 worlds: square 1250 bytes a node (2 edges a node), hexagonal 1670
#: (3 edges a node).
_NODE_BYTES, _EDGE_BYTES = 410, 420


def check_world_size(spec: str, n_nodes: int, edges_per_node: float) -> None:
    """Refuse a world whose estimated build memory exceeds the memory budget.

    The budget is ``MEMCIRCUITS_MEMORY_BUDGET_GIB`` or 80% of physical memory; the check runs before
    anything is built.

    Raises
    ------
    models._memory.MemoryBudgetError
        A ``ValueError`` naming the spec, its node count, the estimate and the budget.
    """
    from models._memory import refuse_over_budget

    need = n_nodes * (_NODE_BYTES + _EDGE_BYTES * edges_per_node)
    refuse_over_budget(f"world {spec!r}", f"{n_nodes} nodes", need,
                       f"networkx graph and transition arrays, ~{_NODE_BYTES} bytes a node "
                       f"and {_EDGE_BYTES} an edge")


def _build(kind: str, transitions: np.ndarray, action_names: tuple[str, ...],
           positions: np.ndarray, n_symbols: int, seed: SeedLike, spec: str,
           extra_edges: Sequence[tuple[int, int]] = ()) -> World:
    n_symbols = check_int("n_symbols", n_symbols, minimum=1)
    transitions = np.ascontiguousarray(transitions, dtype=np.int64)
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    n = transitions.shape[0]
    transitions[:, 0] = np.arange(n)  # action 0: stay
    graph = nx.Graph()
    for i in range(n):
        graph.add_node(i, pos=(float(positions[i, 0]), float(positions[i, 1])))
    src, act = np.nonzero(transitions[:, 1:] >= 0)
    graph.add_edges_from(zip(src.tolist(), transitions[src, act + 1].tolist(), strict=True))
    graph.add_edges_from(extra_edges)
    transitions.setflags(write=False)
    positions.setflags(write=False)
    obs = sample_observations(n, n_symbols, seed=seed)
    return World(kind=kind, graph=graph, transitions=transitions, action_names=action_names,
                 positions=positions, observations=obs, n_symbols=n_symbols, spec=spec)


def square_world(width: int, height: int, *, n_symbols: int = N_SYMBOLS,
                 seed: SeedLike = None) -> World:
    """A ``width x height`` square grid (4-connected, no wrap-around).

    Node ``y * width + x`` sits at position ``(x, y)``; actions are stay, north (``y+1``),
    east (``x+1``), south (``y-1``), west (``x-1``).
    """
    width = check_int("width", width, minimum=1)
    height = check_int("height", height, minimum=1)
    n = width * height
    check_world_size(f"square:{width}x{height}", n, 2)
    ids = np.arange(n)
    x, y = ids % width, ids // width
    t = np.full((n, len(SQUARE_ACTIONS)), -1, dtype=np.int64)
    t[:, 1] = np.where(y + 1 < height, ids + width, -1)  # north
    t[:, 2] = np.where(x + 1 < width, ids + 1, -1)  # east
    t[:, 3] = np.where(y >= 1, ids - width, -1)  # south
    t[:, 4] = np.where(x >= 1, ids - 1, -1)  # west
    pos = np.stack([x, y], axis=1).astype(np.float64)
    return _build("square", t, SQUARE_ACTIONS, pos, n_symbols, seed, f"square:{width}x{height}")


# Axial (q, r) steps of the six hexagonal actions, in HEXAGONAL_ACTIONS order (after stay).
# Cartesian position of axial (q, r): (q + r/2, r sqrt(3)/2), so each step has length 1.
_HEX_STEPS = ((1, 0), (0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1))


def hexagonal_world(width: int, height: int, *, n_symbols: int = N_SYMBOLS,
                    seed: SeedLike = None) -> World:
    r"""A ``width x height`` patch of the triangular lattice (6 neighbours per interior node).

    Rows ``r = 0 .. height-1`` hold ``width`` nodes each (columns ``c``); odd rows are shifted
    right by half a step, so the patch is a rectangle. Node ``r * width + c`` sits at

    .. math:: (x, y) = \left(c + \tfrac{1}{2}(r \bmod 2),\; \tfrac{\sqrt{3}}{2} r\right)

    and its neighbours are at distance 1 in the directions 0, 60, ..., 300 degrees: the actions
    east, northeast, northwest, west, southwest, southeast (after stay).
    """
    width = check_int("width", width, minimum=1)
    height = check_int("height", height, minimum=1)
    n = width * height
    check_world_size(f"hex:{width}x{height}", n, 3)
    ids = np.arange(n)
    c, r = ids % width, ids // width
    q = c - (r - (r & 1)) // 2  # odd-r offset -> axial
    t = np.full((n, len(HEXAGONAL_ACTIONS)), -1, dtype=np.int64)
    for a, (dq, dr) in enumerate(_HEX_STEPS, start=1):
        r2 = r + dr
        c2 = q + dq + (r2 - (r2 & 1)) // 2  # axial -> odd-r offset
        ok = (r2 >= 0) & (r2 < height) & (c2 >= 0) & (c2 < width)
        t[:, a] = np.where(ok, r2 * width + c2, -1)
    pos = np.stack([c + 0.5 * (r & 1), r * (math.sqrt(3.0) / 2.0)], axis=1)
    return _build("hexagonal", t, HEXAGONAL_ACTIONS, pos, n_symbols, seed,
                  f"hex:{width}x{height}")


def line_world(length: int, *, n_symbols: int = N_SYMBOLS, seed: SeedLike = None) -> World:
    """A line of ``length`` nodes (transitive inference): stay, left (``i-1``), right (``i+1``)."""
    length = check_int("length", length, minimum=1)
    check_world_size(f"line:{length}", length, 1)
    ids = np.arange(length)
    t = np.full((length, len(LINE_ACTIONS)), -1, dtype=np.int64)
    t[:, 1] = np.where(ids >= 1, ids - 1, -1)
    t[:, 2] = np.where(ids + 1 < length, ids + 1, -1)
    pos = np.stack([ids, np.zeros(length)], axis=1).astype(np.float64)
    return _build("line", t, LINE_ACTIONS, pos, n_symbols, seed, f"line:{length}")


def family_tree_world(levels: int, *, n_symbols: int = N_SYMBOLS,
                      seed: SeedLike = None) -> World:
    """A complete binary family tree with ``levels`` generations (``2**levels - 1`` nodes).

    Heap numbering: the root is node 0 and the children of node ``i`` are ``2i+1`` (left) and
    ``2i+2`` (right). Actions: stay, parent, left_child, right_child, sibling (the other child
    of the same parent; unavailable at the root). The graph holds the parent-child edges and
    the sibling edges, so every non-stay action follows a graph edge. Layout: leaves one unit
    apart on the bottom row (``y = 0``), each parent centred above its children, the root at
    ``y = levels - 1``.
    """
    levels = check_int("levels", levels, minimum=1, maximum=20)
    n = 2**levels - 1
    check_world_size(f"tree:{levels}", n, 1.5)
    ids = np.arange(n)
    t = np.full((n, len(TREE_ACTIONS)), -1, dtype=np.int64)
    t[:, 1] = np.where(ids >= 1, (ids - 1) // 2, -1)  # parent
    t[:, 2] = np.where(2 * ids + 1 < n, 2 * ids + 1, -1)  # left child
    t[:, 3] = np.where(2 * ids + 2 < n, 2 * ids + 2, -1)  # right child
    t[:, 4] = np.where(ids >= 1, np.where(ids % 2 == 1, ids + 1, ids - 1), -1)  # sibling
    depth = np.floor(np.log2(ids + 1)).astype(np.int64)
    k = ids + 1 - 2**depth  # index within the level
    x = (k + 0.5) * 2.0 ** (levels - 1 - depth) - 0.5
    pos = np.stack([x, (levels - 1 - depth).astype(np.float64)], axis=1)
    return _build("family_tree", t, TREE_ACTIONS, pos, n_symbols, seed, f"tree:{levels}")


_SPEC_RE = re.compile(r"^(square|hex|hexagonal|line|tree|family_tree):(\d+)(?:x(\d+))?$")
#: longest spec read (a valid one is a few characters; sizes beyond the memory budget need
#: no more than ~12 digits)
_MAX_SPEC_LENGTH = 64


def parse_world(spec: str, *, n_symbols: int = N_SYMBOLS, seed: SeedLike = None) -> World:
    """Build a world from a spec string.

    Forms: ``"square:WxH"``, ``"square:N"`` (= NxN), ``"hex:WxH"``, ``"hex:N"`` (= NxN),
    ``"line:N"``, ``"tree:LEVELS"`` (``hexagonal`` and ``family_tree`` are accepted as the
    long names; case and surrounding spaces are ignored).

    Raises
    ------
    ValueError
        For an unknown or malformed spec (the message names the spec and lists the forms) or
        a non-positive size.
    """
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a string such as 'square:8x8', got {spec!r}")
    forms = ", ".join(WORLD_SPECS)
    if len(spec) > _MAX_SPEC_LENGTH:  # also keeps int() off numbers of thousands of digits
        raise ValueError(f"spec {spec[:24]!r}... ({len(spec)} characters) is not a valid world "
                         f"spec; valid forms: {forms}")
    match = _SPEC_RE.match(spec.strip().lower())
    if match is None:
        raise ValueError(f"spec {spec!r} is not a valid world spec; valid forms: {forms}")
    kind, a, b = match.group(1), int(match.group(2)), match.group(3)
    if kind in ("square", "hex", "hexagonal"):
        width, height = a, int(b) if b is not None else a
        if width < 1 or height < 1:
            raise ValueError(f"spec {spec!r}: width and height must be >= 1")
        build = square_world if kind == "square" else hexagonal_world
        return build(width, height, n_symbols=n_symbols, seed=seed)
    if b is not None:
        raise ValueError(f"spec {spec!r}: a {kind} world takes one size; valid forms: {forms}")
    if a < 1:
        raise ValueError(f"spec {spec!r}: the size must be >= 1")
    if kind == "line":
        return line_world(a, n_symbols=n_symbols, seed=seed)
    return family_tree_world(a, n_symbols=n_symbols, seed=seed)


def check_world_specs(name: str, specs: Any) -> list[str]:
    """A configuration's list of world specs (``worlds``), checked to be a non-empty list.

    Raises
    ------
    TypeError
        For a single string or a non-sequence (naming ``name``).
    ValueError
        For an empty list.
    """
    if isinstance(specs, str) or not isinstance(specs, Sequence):
        raise TypeError(f"{name} must be a list of world specs such as ['square:8x8'], "
                        f"got {specs!r}")
    if not specs:
        raise ValueError(f"{name} must name at least one world structure")
    return list(specs)


def walk_world(spec: str, *, field: str = "world", seed: SeedLike = 0) -> World:
    """The world of a configuration's ``field``, refusing a world of one node.

    :func:`parse_world` with errors naming the field; a walk needs two nodes.

    Raises
    ------
    ValueError
        ``"<field>: ..."`` for a bad spec or a one-node world; a
        :class:`~models._memory.MemoryBudgetError` (it names the world) for one over the
        memory budget.
    """
    from models._memory import MemoryBudgetError

    try:
        world = parse_world(spec, seed=seed)
    except MemoryBudgetError:
        raise
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{field}: {exc}") from None
    if world.n_nodes < 2:
        raise ValueError(f"{field}: {spec!r} has a single node; a walk needs two or more "
                         f"(e.g. square:2x2)")
    return world


@dataclass(frozen=True, eq=False)
class Walk:
    """A walk on a world: ``actions[t]`` takes ``nodes[t]`` to ``nodes[t+1]``."""

    nodes: np.ndarray  # (T+1,) int64 node ids
    actions: np.ndarray  # (T,) int64 action indices (0 = stay)
    observations: np.ndarray  # (T+1,) int64 symbol seen at each node of the walk

    @property
    def steps(self) -> int:
        """Number of actions T."""
        return int(self.actions.shape[0])


def random_walk(world: World, steps: int, *, repeat_bias: float = 0.0, allow_stay: bool = False,
                start: int | None = None, seed: SeedLike | np.random.Generator = None) -> Walk:
    r"""A random walk of ``steps`` actions on ``world``.

    The start node is uniform over the nodes (or ``start``). At each step, with probability
    ``repeat_bias`` the previous action is repeated if it is available at the current node;
    otherwise the action is uniform over the available actions (stay included only if
    ``allow_stay``):

    .. math::

        P(a_t = a) = \rho\,[a = a_{t-1}] + (1 - \rho)\,\frac{1}{|A(s_t)|}
        \quad\text{if } a_{t-1} \in A(s_t), \qquad \frac{1}{|A(s_t)|} \text{ otherwise.}

    Parameters
    ----------
    world
        The world to walk.
    steps
        Number of actions T (>= 1); the walk visits T + 1 nodes.
    repeat_bias
        :math:`\rho` in [0, 1], the bias to go straight (TEM uses a bias to repeat actions so
        that walks cover the world).
    allow_stay
        Whether "stay" is among the candidate actions.
    start
        Start node (default: uniform).
    seed
        Integer seed or a numpy ``Generator``.
    """
    if not isinstance(world, World):
        raise TypeError(f"world must be a World, got {type(world).__name__}")
    steps = check_int("steps", steps, minimum=1)
    from models._memory import refuse_over_budget

    # two lists of float draws (32 bytes an entry), the node and action lists (~36) and
    # the three int64 arrays returned: ~180 bytes a step
    refuse_over_budget("steps", steps, 180 * steps, "a random walk, ~180 bytes a step")
    rho = check_probability("repeat_bias", repeat_bias)
    allow_stay = check_bool("allow_stay", allow_stay)
    rng = numpy_rng(seed, "walk")
    if start is None:
        node = int(rng.integers(world.n_nodes))
    else:
        node = check_int("start", start, minimum=0, maximum=world.n_nodes - 1)
    trans = world.transitions
    first = 0 if allow_stay else 1
    avail = [np.flatnonzero(trans[i, first:] >= 0) + first for i in range(world.n_nodes)]
    stuck = [i for i, a in enumerate(avail) if a.size == 0]
    if stuck:
        raise ValueError(f"world has no available action at node {stuck[0]} (a {world.spec} "
                         "world); use allow_stay=True or a larger world")
    avail_lists = [a.tolist() for a in avail]
    trans_lists = trans.tolist()
    u_repeat = rng.random(steps).tolist()
    u_choice = rng.random(steps).tolist()
    nodes = [node]
    actions: list[int] = []
    last = -1
    for t in range(steps):
        if last >= 0 and u_repeat[t] < rho and trans_lists[node][last] >= 0 and (
                last != 0 or allow_stay):
            action = last
        else:
            cand = avail_lists[node]
            action = cand[int(u_choice[t] * len(cand))]
        node = trans_lists[node][action]
        actions.append(action)
        nodes.append(node)
        last = action
    nodes_arr = np.asarray(nodes, dtype=np.int64)
    return Walk(nodes=nodes_arr, actions=np.asarray(actions, dtype=np.int64),
                observations=world.observations[nodes_arr].astype(np.int64))


def _check_walk(walk: Walk) -> Walk:
    if not isinstance(walk, Walk):
        raise TypeError(f"walk must be a Walk, got {type(walk).__name__}")
    nodes, actions = np.asarray(walk.nodes), np.asarray(walk.actions)
    if nodes.ndim != 1 or actions.ndim != 1 or nodes.shape[0] != actions.shape[0] + 1:
        raise ValueError(f"walk must have nodes (T+1,) and actions (T,), got shapes "
                         f"{nodes.shape} and {actions.shape}")
    return walk


def visited_before(walk: Walk) -> np.ndarray:
    """``(T,)`` bool: whether ``nodes[t+1]`` is among ``nodes[0..t]`` (the node agent knows it)."""
    _check_walk(walk)
    seen: set[int] = {int(walk.nodes[0])}
    out = np.zeros(walk.actions.shape[0], dtype=bool)
    for t, nxt in enumerate(walk.nodes[1:].tolist()):
        out[t] = nxt in seen
        seen.add(nxt)
    return out


def edge_taken_before(walk: Walk) -> np.ndarray:
    """``(T,)`` bool: whether ``(nodes[t], actions[t])`` was taken at an earlier step, or is stay.

    Edges are directed (node, action) pairs; "stay" (action 0) always counts as known.
    """
    _check_walk(walk)
    taken: set[tuple[int, int]] = set()
    out = np.zeros(walk.actions.shape[0], dtype=bool)
    for t, (node, action) in enumerate(zip(walk.nodes[:-1].tolist(), walk.actions.tolist(),
                                           strict=True)):
        out[t] = action == 0 or (node, action) in taken
        taken.add((node, action))
    return out


def link_inference_mask(walk: Walk) -> np.ndarray:
    """``(T,)`` bool: arriving at a node visited before by a (node, action) edge never taken.

    These steps can be predicted only by inferring the structure (the node agent is right, the
    edge agent is not).
    """
    return visited_before(walk) & ~edge_taken_before(walk)


def _check_symbols(n_symbols: int) -> int:
    return check_int("n_symbols", n_symbols, minimum=1)


def node_agent(walk: Walk, n_symbols: int = N_SYMBOLS) -> np.ndarray:
    """``(T,)`` probability that the node agent predicts ``observations[t+1]`` correctly.

    1 if ``nodes[t+1]`` was visited in ``nodes[0..t]``, else ``1 / n_symbols`` (a guess).
    """
    n_symbols = _check_symbols(n_symbols)
    return np.where(visited_before(walk), 1.0, 1.0 / n_symbols)


def edge_agent(walk: Walk, n_symbols: int = N_SYMBOLS) -> np.ndarray:
    """``(T,)`` probability that the edge agent predicts ``observations[t+1]`` correctly.

    1 if the directed edge ``(nodes[t], actions[t])`` was taken before (or is stay), else
    ``1 / n_symbols``.
    """
    n_symbols = _check_symbols(n_symbols)
    return np.where(edge_taken_before(walk), 1.0, 1.0 / n_symbols)


def fraction_visited(walk: Walk, n_nodes: int) -> np.ndarray:
    """``(T,)`` fraction of the ``n_nodes`` nodes among ``nodes[0..t]`` (before predicting t+1).

    Aligned with the agents: entry ``t`` is the coverage at the moment observation ``t+1`` is
    predicted, the x axis of TEM's "fraction correct vs fraction of nodes visited" curve.
    """
    _check_walk(walk)
    n_nodes = check_int("n_nodes", n_nodes, minimum=1)
    nodes = np.asarray(walk.nodes[:-1])
    if nodes.size and (nodes.min() < 0 or nodes.max() >= n_nodes):
        raise ValueError(f"n_nodes={n_nodes} is too small for node ids up to {nodes.max()}")
    first = np.zeros(nodes.shape[0], dtype=np.int64)
    _, idx = np.unique(nodes, return_index=True)
    first[idx] = 1
    return np.cumsum(first) / n_nodes


def batch_walks(worlds: Sequence[World], steps: int, *, repeat_bias: float = 0.0,
                allow_stay: bool = False, starts: Sequence[int] | None = None,
                seed: SeedLike = None,
                device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """One random walk per world, stacked into tensors for a batch of B worlds.

    Walk ``b`` is ``random_walk(worlds[b], steps, ..., seed=child_seed(seed, "walk", b))``, so
    it does not depend on the other worlds in the batch. All worlds must share one action set
    (sizes may differ).

    Returns
    -------
    dict
        ``actions`` (B, T) long, ``observations`` (B, T+1) long, ``nodes`` (B, T+1) long and
        ``n_nodes`` (B,) long, on ``device``.
    """
    worlds = list(worlds)
    if not worlds:
        raise ValueError("worlds must hold at least one World")
    for b, w in enumerate(worlds):
        if not isinstance(w, World):
            raise TypeError(f"worlds[{b}] must be a World, got {type(w).__name__}")
        if w.action_names != worlds[0].action_names:
            raise ValueError(f"worlds must share one action set: worlds[0] has "
                             f"{worlds[0].action_names}, worlds[{b}] has {w.action_names}")
    steps = check_int("steps", steps, minimum=1)
    device = check_device("device", device)
    if starts is not None and len(starts) != len(worlds):
        raise ValueError(f"starts must hold one start node per world ({len(worlds)}), "
                         f"got {len(starts)}")
    walks = [random_walk(w, steps, repeat_bias=repeat_bias, allow_stay=allow_stay,
                         start=None if starts is None else starts[b],
                         seed=child_seed(seed, "walk", b)) for b, w in enumerate(worlds)]

    def stack(name: str) -> torch.Tensor:
        return torch.as_tensor(np.stack([getattr(w, name) for w in walks]),
                               dtype=torch.long).to(device)

    return {"actions": stack("actions"), "observations": stack("observations"),
            "nodes": stack("nodes"),
            "n_nodes": torch.tensor([w.n_nodes for w in worlds], dtype=torch.long,
                                    device=device)}
