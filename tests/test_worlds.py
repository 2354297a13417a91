"""Graph worlds, random walks and the node/edge agents (models/worlds.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.seeding import child_seed
from models.worlds import (
    HEXAGONAL_ACTIONS,
    SQUARE_ACTIONS,
    Walk,
    World,
    batch_walks,
    edge_agent,
    edge_taken_before,
    family_tree_world,
    fraction_visited,
    hexagonal_world,
    line_world,
    link_inference_mask,
    node_agent,
    parse_world,
    random_walk,
    square_world,
    visited_before,
)

ALL_SPECS = ["square:5x4", "hex:6x5", "line:7", "tree:4"]


# --------------------------------------------------------------------------------- structure
@pytest.mark.parametrize("spec", ALL_SPECS)
def test_transitions_match_graph(spec: str) -> None:
    world = parse_world(spec, seed=0)
    t = world.transitions
    assert t.shape == (world.n_nodes, world.n_actions) and t.dtype == np.int64
    assert world.action_names[0] == "stay"
    assert np.array_equal(t[:, 0], np.arange(world.n_nodes))  # stay stays
    assert sorted(world.graph.nodes) == list(range(world.n_nodes))
    edges_from_actions = set()
    for node in range(world.n_nodes):
        for action in range(1, world.n_actions):
            nxt = int(t[node, action])
            assert nxt >= -1 and nxt < world.n_nodes
            if nxt >= 0:
                assert nxt != node  # only stay is a self-loop
                assert world.graph.has_edge(node, nxt)  # every non-stay action is an edge
                edges_from_actions.add(frozenset((node, nxt)))
    # ...and every graph edge is reachable by some action (no hidden edges)
    assert edges_from_actions == {frozenset(e) for e in world.graph.edges}
    assert world.positions.shape == (world.n_nodes, 2)
    assert world.observations.shape == (world.n_nodes,)
    assert not world.transitions.flags.writeable  # frozen world


def test_square_counts_and_reversibility() -> None:
    world = square_world(8, 8, seed=0)
    assert world.action_names == SQUARE_ACTIONS
    assert world.graph.number_of_edges() == 2 * 8 * 7  # exact count of a 4-connected grid
    t = world.transitions
    north, east, south, west = (world.action_index(a) for a in ("north", "east", "south", "west"))
    for a, b in ((north, south), (south, north), (east, west), (west, east)):
        ok = t[:, a] >= 0
        assert np.array_equal(t[t[ok, a], b], np.flatnonzero(ok))  # a then b returns
    # north increases y by one, east increases x by one (positions are grid coordinates)
    ok = t[:, north] >= 0
    assert np.allclose(world.positions[t[ok, north]] - world.positions[ok], [0, 1])
    ok = t[:, east] >= 0
    assert np.allclose(world.positions[t[ok, east]] - world.positions[ok], [1, 0])
    degrees = np.array([d for _, d in world.graph.degree()])
    assert sorted(np.unique(degrees).tolist()) == [2, 3, 4]  # corners, sides, interior
    assert (degrees == 4).sum() == 36  # 6x6 interior


def test_hexagonal_geometry() -> None:
    world = hexagonal_world(7, 6, seed=0)
    assert world.action_names == HEXAGONAL_ACTIONS
    t, pos = world.transitions, world.positions
    interior = [n for n in range(world.n_nodes) if (t[n, 1:] >= 0).all()]
    assert len(interior) == 5 * 4  # rows 1..4, columns 1..5 of a 7x6 odd-r patch
    for node in interior:
        delta = pos[t[node, 1:]] - pos[node]
        # six neighbours, all at distance 1 (float tolerance 1e-12)
        assert np.allclose(np.linalg.norm(delta, axis=1), 1.0, atol=1e-12)
        angles = np.degrees(np.arctan2(delta[:, 1], delta[:, 0])) % 360
        # in action order east, NE, NW, west, SW, SE: 0, 60, ..., 300 degrees (1e-9 tolerance)
        assert np.allclose(angles, [0, 60, 120, 180, 240, 300], atol=1e-9)
        assert world.graph.degree(node) == 6
    # opposite actions undo each other: east/west, NE/SW, NW/SE
    for a, b in ((1, 4), (2, 5), (3, 6), (4, 1), (5, 2), (6, 3)):
        ok = t[:, a] >= 0
        assert np.array_equal(t[t[ok, a], b], np.flatnonzero(ok))
    # all edges have length 1, no two nodes are closer than 1
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    assert d[~np.eye(world.n_nodes, dtype=bool)].min() == pytest.approx(1.0, abs=1e-12)
    for u, v in world.graph.edges:
        assert d[u, v] == pytest.approx(1.0, abs=1e-12)
    # a rectangular patch: the graph has exactly the unit-distance pairs as edges
    assert world.graph.number_of_edges() == int((np.abs(np.triu(d, 1) - 1) < 1e-9).sum())
    assert pos[:, 1].max() == pytest.approx(5 * math.sqrt(3) / 2)


def test_line_and_tree() -> None:
    line = line_world(5, seed=0)
    assert line.transitions.tolist() == [[0, -1, 1], [1, 0, 2], [2, 1, 3], [3, 2, 4], [4, 3, -1]]
    assert np.array_equal(line.positions, np.stack([np.arange(5), np.zeros(5)], 1))
    tree = family_tree_world(3, seed=0)
    assert tree.n_nodes == 7
    parent, left, right, sibling = (tree.action_index(a) for a in
                                    ("parent", "left_child", "right_child", "sibling"))
    t = tree.transitions
    assert t[0, parent] == -1 and t[0, sibling] == -1  # the root has neither
    assert t[0, left] == 1 and t[0, right] == 2 and t[1, sibling] == 2 and t[2, sibling] == 1
    assert (t[3:, left] == -1).all() and (t[3:, right] == -1).all()  # leaves
    for child in range(1, 7):
        assert t[t[child, parent], left if child % 2 == 1 else right] == child
        assert t[t[child, sibling], sibling] == child  # sibling is its own inverse
    # layout: leaves on the bottom row 1 apart, parents centred above their children
    assert np.allclose(tree.positions[3:], [[0, 0], [1, 0], [2, 0], [3, 0]])
    for p in range(3):
        kids = tree.positions[[2 * p + 1, 2 * p + 2]]
        assert np.allclose(tree.positions[p], [kids[:, 0].mean(), kids[0, 1] + 1])


# ------------------------------------------------------------------------------- observations
def test_observations_are_seeded_and_resampled() -> None:
    a = square_world(6, 6, seed=3)
    b = square_world(6, 6, seed=3)
    assert np.array_equal(a.observations, b.observations)  # deterministic under seed
    c = a.with_observations(4)
    assert np.array_equal(c.transitions, a.transitions) and c.spec == a.spec
    assert not np.array_equal(c.observations, a.observations)  # 36 symbols: P(equal)=45^-36
    assert np.array_equal(c.observations, a.with_observations(4).observations)
    big = square_world(40, 40, n_symbols=45, seed=1)
    assert big.observations.min() >= 0 and big.observations.max() < 45
    counts = np.bincount(big.observations, minlength=45)
    # 1600 draws over 45 symbols: mean 35.6, sd ~5.9; every symbol between 10 and 65 (> 4 sd)
    assert counts.min() > 10 and counts.max() < 65
    small = line_world(20, n_symbols=3, seed=0)
    assert set(small.observations.tolist()) <= {0, 1, 2}


# -------------------------------------------------------------------------------------- specs
@pytest.mark.parametrize(("spec", "kind", "n"), [
    ("square:8x8", "square", 64), ("square:8", "square", 64), ("square:3x5", "square", 15),
    ("hex:6x6", "hexagonal", 36), ("HEX:4x2", "hexagonal", 8), ("hexagonal:3", "hexagonal", 9),
    ("line:10", "line", 10), ("tree:4", "family_tree", 15), (" family_tree:2 ", "family_tree", 3),
])
def test_parse_world(spec: str, kind: str, n: int) -> None:
    world = parse_world(spec, seed=0)
    assert world.kind == kind and world.n_nodes == n
    assert parse_world(world.spec, seed=0).n_nodes == n  # the canonical spec round-trips


@pytest.mark.parametrize("spec", ["cube:3", "square", "square:0", "square:8x", "line:3x3",
                                  "tree:0", "square:-2", ""])
def test_parse_world_rejects(spec: str) -> None:
    with pytest.raises(ValueError, match=r"^spec") as info:
        parse_world(spec)
    assert repr(spec) in str(info.value)


def test_bad_sizes_and_arguments() -> None:
    with pytest.raises(ValueError, match=r"^width"):
        square_world(0, 3)
    with pytest.raises(ValueError, match=r"^height"):
        hexagonal_world(3, -1)
    with pytest.raises(ValueError, match=r"^length"):
        line_world(0)
    with pytest.raises(ValueError, match=r"^levels"):
        family_tree_world(0)
    with pytest.raises(ValueError, match=r"^n_symbols"):
        square_world(3, 3, n_symbols=0)
    with pytest.raises(TypeError, match=r"^spec"):
        parse_world(8)  # type: ignore[arg-type]
    world = square_world(3, 3, seed=0)
    with pytest.raises(ValueError, match=r"^steps"):
        random_walk(world, 0)
    with pytest.raises(ValueError, match=r"^repeat_bias"):
        random_walk(world, 5, repeat_bias=1.5)
    with pytest.raises(ValueError, match=r"^start"):
        random_walk(world, 5, start=9)
    with pytest.raises(ValueError, match=r"^action"):
        world.step(0, world.action_index("south"))  # south of the bottom row: unavailable
    with pytest.raises(ValueError, match=r"^name"):
        world.action_index("up")
    with pytest.raises(ValueError, match="no available action"):
        random_walk(square_world(1, 1), 3)
    assert random_walk(square_world(1, 1), 3, allow_stay=True).nodes.tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match=r"^worlds must share one action set"):
        batch_walks([world, hexagonal_world(3, 3)], 4, seed=0)
    with pytest.raises(ValueError, match=r"^worlds"):
        batch_walks([], 4)


# -------------------------------------------------------------------------------------- walks
@pytest.mark.parametrize("spec", ALL_SPECS)
@pytest.mark.parametrize("allow_stay", [False, True])
def test_walk_uses_available_actions(spec: str, allow_stay: bool) -> None:
    world = parse_world(spec, seed=0)
    walk = random_walk(world, 2000, repeat_bias=0.3, allow_stay=allow_stay, seed=1)
    assert walk.nodes.shape == (2001,) and walk.actions.shape == (2000,)
    nxt = world.transitions[walk.nodes[:-1], walk.actions]
    assert (nxt >= 0).all()  # only available actions
    assert np.array_equal(nxt, walk.nodes[1:])  # actions[t] takes nodes[t] to nodes[t+1]
    assert np.array_equal(walk.observations, world.observations[walk.nodes])
    used_stay = bool((walk.actions == 0).any())
    # with stay allowed, 2000 steps with >= 1/7 chance each: P(no stay) < 1e-100
    assert used_stay == allow_stay
    # every available action is used somewhere (2000 steps over <= 7 x 64 node-actions)
    assert set(np.unique(walk.actions).tolist()) == set(range(0 if allow_stay else 1,
                                                              world.n_actions))


def test_walk_is_deterministic_under_seed() -> None:
    world = hexagonal_world(5, 5, seed=0)
    a = random_walk(world, 300, repeat_bias=0.5, seed=11)
    b = random_walk(world, 300, repeat_bias=0.5, seed=11)
    c = random_walk(world, 300, repeat_bias=0.5, seed=12)
    assert np.array_equal(a.nodes, b.nodes) and np.array_equal(a.actions, b.actions)
    assert not np.array_equal(a.actions, c.actions)
    assert random_walk(world, 10, start=7, seed=0).nodes[0] == 7


def test_uniform_actions_without_bias() -> None:
    world = square_world(30, 30, seed=0)
    walk = random_walk(world, 40_000, repeat_bias=0.0, seed=5)
    interior = (world.transitions[walk.nodes[:-1], 1:] >= 0).all(axis=1)
    freq = np.bincount(walk.actions[interior], minlength=5)[1:] / interior.sum()
    # ~35k interior steps: sd of each frequency ~0.0023; tolerance 0.015 is > 6 sd
    assert np.allclose(freq, 0.25, atol=0.015)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_repeat_bias(rho: float) -> None:
    world = square_world(30, 30, seed=0)
    walk = random_walk(world, 40_000, repeat_bias=rho, seed=6)
    prev, cur = walk.actions[:-1], walk.actions[1:]
    node = walk.nodes[1:-1]  # node where actions[1:] are chosen
    interior = (world.transitions[node, 1:] >= 0).all(axis=1)
    repeat = (cur == prev)[interior].mean()
    expected = rho + (1 - rho) / 4  # repeat, or the uniform draw happens to pick it again
    # >= 3k interior steps even at rho=0.9 (walks run along the walls more): sd <= 0.009;
    # tolerance 0.03 is > 3 sd
    assert abs(repeat - expected) < 0.03, (repeat, expected)


def test_batch_walks() -> None:
    worlds = [square_world(4, 4, seed=i) for i in range(3)] + [square_world(6, 3, seed=9)]
    batch = batch_walks(worlds, 25, repeat_bias=0.2, seed=4)
    assert batch["actions"].shape == (4, 25) and batch["actions"].dtype == torch.long
    assert batch["observations"].shape == (4, 26) and batch["nodes"].shape == (4, 26)
    assert batch["n_nodes"].tolist() == [16, 16, 16, 18]
    for b, world in enumerate(worlds):
        walk = random_walk(world, 25, repeat_bias=0.2, seed=child_seed(4, "walk", b))
        assert np.array_equal(batch["nodes"][b].numpy(), walk.nodes)  # walk b is independent
        assert np.array_equal(batch["observations"][b].numpy(), walk.observations)
    again = batch_walks(worlds, 25, repeat_bias=0.2, seed=4)
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    starts = batch_walks(worlds, 3, starts=[0, 1, 2, 3], seed=0)["nodes"][:, 0]
    assert starts.tolist() == [0, 1, 2, 3]


@pytest.mark.gpu
def test_batch_walks_cuda() -> None:
    batch = batch_walks([square_world(4, 4, seed=0)], 10, seed=0, device="cuda")
    assert batch["actions"].device.type == "cuda"


# ------------------------------------------------------------------------------------- agents
def _hand_walk() -> tuple[World, Walk]:
    world = square_world(3, 3, seed=0)  # node = y * 3 + x
    e, n, w, s = (world.action_index(a) for a in ("east", "north", "west", "south"))
    actions = [e, n, w, s, e, 0, w]  # 0 -> 1 -> 4 -> 3 -> 0 -> 1 -> 1 (stay) -> 0
    nodes = [0]
    for a in actions:
        nodes.append(world.step(nodes[-1], a))
    assert nodes == [0, 1, 4, 3, 0, 1, 1, 0]
    nodes_arr = np.array(nodes)
    return world, Walk(nodes=nodes_arr, actions=np.array(actions),
                       observations=world.observations[nodes_arr])


def test_agents_on_a_hand_made_walk() -> None:
    _, walk = _hand_walk()
    F, T = False, True
    assert visited_before(walk).tolist() == [F, F, F, T, T, T, T]
    # (0,east) again at t=4; stay at t=5 is known; (1,west) at t=6 is new
    assert edge_taken_before(walk).tolist() == [F, F, F, F, T, T, F]
    assert link_inference_mask(walk).tolist() == [F, F, F, T, F, F, T]
    g = 1 / 45
    assert np.allclose(node_agent(walk, 45), [g, g, g, 1, 1, 1, 1])
    assert np.allclose(edge_agent(walk, 45), [g, g, g, g, 1, 1, g])
    assert np.allclose(node_agent(walk, 10), [0.1, 0.1, 0.1, 1, 1, 1, 1])
    assert np.allclose(fraction_visited(walk, 9), np.array([1, 2, 3, 4, 4, 4, 4]) / 9)
    with pytest.raises(ValueError, match=r"^n_nodes"):
        fraction_visited(walk, 3)
    with pytest.raises(ValueError, match=r"^walk"):
        visited_before(Walk(nodes=np.arange(3), actions=np.arange(3), observations=np.arange(3)))


def test_agents_on_a_long_walk() -> None:
    world = square_world(6, 6, seed=0)
    walk = random_walk(world, 3000, seed=2)
    node, edge = node_agent(walk), edge_agent(walk)
    assert (node >= edge).all()  # an edge taken before leads to a node visited before
    frac = fraction_visited(walk, world.n_nodes)
    assert (np.diff(frac) >= 0).all() and frac[-1] == 1.0  # 3000 steps cover 36 nodes
    # the node agent is correct from the moment all nodes are seen
    assert (node[frac == 1.0] == 1).all()
    # there are link-inference steps, and the edge agent is at chance on all of them
    mask = link_inference_mask(walk)
    assert mask.sum() > 10 and np.allclose(edge[mask], 1 / 45)
