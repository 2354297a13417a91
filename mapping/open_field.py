r"""Continuous trajectories in an open arena, mapped onto a hexagonal world's nodes.

Recordings of grid and place cells are made while a rat forages in a box (Hafting et al.
2005: 1-2 m; Sargolini et al. 2006: 1 m); the loop and TEM-t walk graph worlds. This module
joins them:

- :func:`forage` simulates the rat with RatInABox (George et al. 2024, eLife 13:e85274): a
  smooth random motion model whose speed and turning statistics were fitted to rats foraging
  in an open field (mean speed 0.08 m/s, its defaults), in a square or circular arena;
- :func:`check_trajectory` refuses a trajectory that leaves the arena;
- :func:`arena_world` lays a hexagonal world (:func:`models.worlds.hexagonal_world`) over the
  arena with lattice spacing ``spacing`` (the nodes are the centres of the cells of a
  triangular lattice, as the fields of a grid module are);
- :func:`walk_on_lattice` turns the trajectory into a walk on that world: each sample goes to
  its nearest node, and every change of node is one step of the walk (one theta cycle of the
  loop; a jump over a node is filled in along the shortest path). ``step_of_sample`` maps
  every sample back to its step, so any quantity the loop computes per step is a time series
  at the trajectory's sampling rate, and rate maps use the real occupancy.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from models.seeding import SeedLike, child_seed
from models.worlds import Walk, World, hexagonal_world

__all__ = [
    "ARENA_SHAPES",
    "LatticeWalk",
    "arena_world",
    "check_trajectory",
    "forage",
    "walk_on_lattice",
]

ARENA_SHAPES = ("square", "circle")


def check_trajectory(positions: np.ndarray, size: float, shape: str = "square") -> np.ndarray:
    """``positions`` as a ``(T, 2)`` float array of metres inside the arena.

    The square arena is ``[0, size]^2``; the circular one the disc of diameter ``size``
    centred at ``(size / 2, size / 2)``.

    Raises
    ------
    ValueError
        Not a ``(T, 2)`` array of finite numbers with ``T >= 2``, or a sample outside the arena
        (the message names the first one and its coordinates).
    """
    if shape not in ARENA_SHAPES:
        raise ValueError(f"arena shape must be one of {', '.join(ARENA_SHAPES)}, got {shape!r}")
    if not size > 0:
        raise ValueError(f"arena size must be > 0 metres, got {size!r}")
    try:
        pos = np.asarray(positions, dtype=float)
    except (TypeError, ValueError):
        raise ValueError("trajectory: positions must be numbers, a (T, 2) array in metres") \
            from None
    if pos.ndim != 2 or pos.shape[1] != 2 or pos.shape[0] < 2:
        raise ValueError(f"trajectory: positions must be a (T, 2) array in metres with T >= 2, "
                         f"got shape {pos.shape}")
    if not np.isfinite(pos).all():
        raise ValueError(f"trajectory: sample {int(np.argmax(~np.isfinite(pos).all(1)))} is "
                         f"not a finite position")
    tolerance = 1e-9 * size
    if shape == "square":
        outside = ((pos < -tolerance) | (pos > size + tolerance)).any(1)
        where = f"the {size:g} m square arena [0, {size:g}] x [0, {size:g}]"
    else:
        outside = np.linalg.norm(pos - size / 2, axis=1) > size / 2 + tolerance
        where = f"the circular arena of {size:g} m diameter centred at ({size / 2:g}, " \
                f"{size / 2:g})"
    if outside.any():
        k = int(np.argmax(outside))
        raise ValueError(f"trajectory: sample {k} at ({pos[k, 0]:.4g}, {pos[k, 1]:.4g}) m lies "
                         f"outside {where}")
    return pos


def forage(duration: float, *, size: float = 1.0, shape: str = "square", dt: float = 0.05,
           seed: SeedLike = 0) -> np.ndarray:
    """A foraging trajectory of ``duration`` seconds from RatInABox, ``(T, 2)`` metres.

    RatInABox's default motion model (rat foraging statistics) in a square arena of side
    ``size`` or a circular one of diameter ``size``, sampled every ``dt`` seconds. RatInABox
    draws from numpy's global generator; it is seeded from ``seed`` for the call and
    restored afterwards.
    """
    from ratinabox.Agent import Agent
    from ratinabox.Environment import Environment

    if not duration > 0 or not dt > 0:
        raise ValueError(f"duration and dt must be > 0 seconds, got {duration!r} and {dt!r}")
    check_trajectory(np.zeros((2, 2)) + size / 2, size, shape)  # checks size and shape
    params: dict = {"scale": size, "dimensionality": "2D"}
    if shape == "circle":
        angles = np.linspace(0, 2 * np.pi, 65)[:-1]
        params["boundary"] = (size / 2 + size / 2 * np.c_[np.cos(angles),
                                                          np.sin(angles)]).tolist()
    # RatInABox samples numpy's legacy global generator: seed it for the call, then restore
    saved = np.random.get_state()  # noqa: NPY002
    np.random.seed(child_seed(seed, "ratinabox") % 2**32)  # noqa: NPY002
    try:
        env = Environment(params=params)
        agent = Agent(env, params={"dt": dt})
        for _ in range(round(duration / dt)):
            agent.update()
        positions = np.array(agent.history["pos"], dtype=float)
    finally:
        np.random.set_state(saved)  # noqa: NPY002
    # RatInABox's polygon boundary is inside the circle; clip float round-off at the walls
    return check_trajectory(np.clip(positions, 0.0, size), size, shape)


def arena_world(size: float, spacing: float, *, seed: SeedLike = 0) -> tuple[World, np.ndarray]:
    """A hexagonal world covering the ``size`` square with lattice spacing ``spacing``.

    Returns the world and its nodes' positions in metres, ``(n_nodes, 2)``: node ``(c, r)``
    at ``spacing * (c + (r mod 2) / 2, r sqrt(3) / 2)``, enough columns and rows that every
    point of the arena is within one spacing of a node.
    """
    if not 0 < spacing < size:
        raise ValueError(f"lattice spacing must lie in (0, arena size {size:g} m), got "
                         f"{spacing!r}")
    width = math.floor(size / spacing) + 1
    height = math.floor(size / (spacing * math.sqrt(3) / 2)) + 1
    world = hexagonal_world(width, height, seed=seed)
    return world, world.positions * spacing


@dataclass(frozen=True)
class LatticeWalk:
    """A trajectory as a walk on a lattice world."""

    walk: Walk  # the steps: one per change of nearest node
    step_of_sample: np.ndarray  # (T,) the walk step each trajectory sample belongs to
    filled: int  # steps inserted where the trajectory jumped over a node


def walk_on_lattice(positions: np.ndarray, world: World,
                    node_positions: np.ndarray) -> LatticeWalk:
    """Map each sample to its nearest node; each change of node is a step of the walk."""
    from scipy.spatial import cKDTree

    _, nearest = cKDTree(node_positions).query(positions)
    nodes = [int(nearest[0])]
    step_of_sample = np.zeros(len(positions), dtype=np.int64)
    filled = 0
    for k in range(1, len(positions)):
        node = int(nearest[k])
        if node != nodes[-1]:
            path = nx.shortest_path(world.graph, nodes[-1], node)[1:]
            filled += len(path) - 1
            nodes.extend(path)
        step_of_sample[k] = len(nodes) - 1
    nodes_arr = np.asarray(nodes, dtype=np.int64)
    actions = np.array([int(np.flatnonzero(world.transitions[a] == b)[0])
                        for a, b in itertools.pairwise(nodes_arr)],
                       dtype=np.int64)
    walk = Walk(nodes=nodes_arr, actions=actions, observations=world.observations[nodes_arr])
    return LatticeWalk(walk=walk, step_of_sample=step_of_sample, filled=filled)
