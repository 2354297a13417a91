"""What the hippocampal loop is given: grid modules, LEC codes and a walk's stimuli.

- :func:`mec_modules`: the MEC's grid modules for a world (analytic, or a trained TEM-t's);
- :func:`lec_codes`: the sparse LEC population code of every symbol;
- :func:`prepare_inputs`: a validated walk with its drifted actions, phases and memory
  recruitment (:class:`LoopInputs`);
- :func:`walk_stimuli` and :func:`slot_window`: the spike-generator contents and the
  per-slot gate arrays that present a walk to the network of
  :mod:`circuits.hippocampus.network`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import brian2
import numpy as np
from brian2 import second

from circuits.hippocampus.params import HippocampusParams, MECParams
from models.grid_codes import GridModules, make_grid_modules, modules_from_axis_shifts
from models.seeding import numpy_rng
from models.worlds import Walk, World

__all__ = ["LoopInputs", "lec_codes", "mec_modules", "prepare_inputs", "slot_window",
           "walk_stimuli"]


def lec_codes(n_symbols: int, n_lec: int, per_symbol: int, seed: int | None) -> np.ndarray:
    """``(n_symbols, per_symbol)`` LEC cells of each symbol (random sparse codes)."""
    rng = numpy_rng(seed, "lec_codes")
    return np.stack([np.sort(rng.choice(n_lec, per_symbol, replace=False))
                     for _ in range(n_symbols)])



@functools.lru_cache(maxsize=8)
def _checkpoint_shifts(path: str, mtime: float) -> tuple[tuple[int, ...], np.ndarray,
                                                         tuple[str, ...], int]:
    """Ring sizes, quantised shifts, action names and module rank of a cyclic TEM-t checkpoint.

    The shifts are those of :func:`models.grid_codes.axis_shifts`.
    """
    del mtime  # part of the cache key only: a rewritten file is read again
    from models.grid_codes import axis_shifts
    from models.tem_training import load_checkpoint

    ckpt = load_checkpoint(path, expected_type="tem-t")
    model = ckpt.build(device="cpu")
    sizes, shifts = axis_shifts(model)
    return sizes, shifts, tuple(ckpt.action_names), model.config.module_rank


def mec_modules(mec: MECParams, world: World) -> GridModules:
    """The MEC's grid modules for ``world``.

    Analytic (``mec.spacings``) or, with ``mec.source = "tem-t"``, the quantised shifts of a TEM-t
    with cyclic modules (rings, or tori: ``--mec-checkpoint torus`` on hexagonal worlds).

    Raises
    ------
    ValueError
        (source ``"tem-t"``) a missing or unknown checkpoint, a checkpoint of another model
        type or transition parametrisation, actions that differ from the world's, or
        learned shifts that are not path-consistent on the world or do not tell its nodes
        apart; the message starts with ``mec.checkpoint``.
    """
    if mec.source == "analytic":
        return make_grid_modules(world, mec.spacings)
    from models.tem_training import NAMED_CHECKPOINTS, named_checkpoint_path

    try:
        name = mec.checkpoint_name  # empty: the default checkpoint
        if name in NAMED_CHECKPOINTS:
            path = named_checkpoint_path(name, world.kind)
        else:
            path = Path(name).expanduser()
            if path.is_dir():
                path = path / "checkpoint.pt"
            if not path.is_file():
                raise ValueError(f"no such file {path} (and not a shipped checkpoint name: "
                                 f"{', '.join(NAMED_CHECKPOINTS)})")
        sizes, shifts, actions, rank = _checkpoint_shifts(str(path.resolve()),
                                                          path.stat().st_mtime)
        if actions and actions != tuple(world.action_names):
            raise ValueError(f"{path.name} was trained with the actions "
                             f"({', '.join(actions)}); the {world.kind} world has "
                             f"({', '.join(world.action_names)})")
        if shifts.shape[1] != world.n_actions:
            raise ValueError(f"{path.name} has {shifts.shape[1]} actions, the {world.kind} "
                             f"world {world.n_actions}")
        return modules_from_axis_shifts(world, sizes, shifts, rank)
    except ValueError as exc:
        message = str(exc)
        for prefix in ("checkpoint: ", "model: ", "shifts: "):
            message = message.removeprefix(prefix)
        raise ValueError(f"mec.checkpoint: {message}") from None


@dataclass
class LoopInputs:
    """Everything presented to the loop for one walk (all spike times in seconds)."""

    world: World
    walk: Walk
    modules: GridModules
    lec: np.ndarray  # (n_symbols, per_symbol)
    module_actions: np.ndarray  # (T, M) action each module receives (drift: a wrong one)
    true_phases: np.ndarray  # (T+1, M) phases of the walk's nodes
    integrated_phases: np.ndarray  # (T+1, M) phases the drifted actions integrate to
    memory_slot: np.ndarray  # (T+1,) memory neuron recruited at each step
    step: float


def prepare_inputs(params: HippocampusParams, world: World, walk: Walk,
                   seed: int | None, *, modules: GridModules | None = None) -> LoopInputs:
    """Grid modules, LEC codes, drift and recruitment for ``walk`` (validated).

    ``modules``: the grid modules of ``world`` if already made (:func:`mec_modules`).
    Drift draws from the child seed ``"drift"`` of ``seed``, the LEC codes from
    ``"lec_codes"``.
    """
    params.validate()
    if modules is None:
        modules = mec_modules(params.mec, world)
    steps = len(walk.actions)
    if len(walk.nodes) != steps + 1:
        raise ValueError("walk: nodes must have one more entry than actions")
    bad = walk.actions >= world.n_actions
    if bad.any() or (walk.actions < 0).any():
        raise ValueError(f"walk: action {int(walk.actions[np.argmax(bad)])} is not one of "
                         f"the world's {world.n_actions} actions {world.action_names}")
    taken = world.transitions[walk.nodes[:-1], walk.actions]
    if (taken != walk.nodes[1:]).any():
        k = int(np.argmax(taken != walk.nodes[1:]))
        raise ValueError(f"walk: action {world.action_names[walk.actions[k]]!r} at step {k} "
                         f"is not available at node {walk.nodes[k]} (or does not lead to "
                         f"node {walk.nodes[k + 1]})")
    mem = params.memory
    if steps + 1 > mem.n and not mem.recycle:
        raise ValueError(f"memory.n ({mem.n}) is smaller than the walk's {steps + 1} steps; "
                         f"raise memory.n or set memory.recycle = true (overwrite the oldest)")
    rng = numpy_rng(seed, "drift")
    module_actions = np.repeat(walk.actions[:, None], modules.n_modules, axis=1)
    if params.mec.drift > 0:
        flip = rng.random(module_actions.shape) < params.mec.drift
        moves = [a for a in range(world.n_actions) if world.action_names[a] != "stay"]
        for t, m in zip(*np.nonzero(flip), strict=True):
            others = [a for a in moves if a != module_actions[t, m]]
            module_actions[t, m] = rng.choice(others)
    true_phases = modules.node_phase[walk.nodes]
    integrated = np.empty_like(true_phases)
    integrated[0] = true_phases[0]
    for t in range(steps):
        for m in range(modules.n_modules):
            integrated[t + 1, m] = modules.transitions[m][integrated[t, m],
                                                          module_actions[t, m]]
    lec = lec_codes(world.n_symbols, mem.n_lec, mem.lec_per_symbol, seed)
    tm = params.timing
    if tm.hold + tm.decision + max(modules.sizes) * tm.dt >= tm.action:
        raise ValueError(f"timing.action must come after the hold race and the arbiter "
                         f"({max(modules.sizes)} phases per module take "
                         f"{max(modules.sizes) * tm.dt} to settle)")
    return LoopInputs(world=world, walk=walk, modules=modules, lec=lec,
                      module_actions=module_actions, true_phases=true_phases,
                      integrated_phases=integrated,
                      memory_slot=np.arange(steps + 1) % mem.n,
                      step=float(params.timing.step / second))



def walk_stimuli(params: HippocampusParams, inputs: LoopInputs
                 ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Spike generator contents (generator name -> ``(indices, times_s)``).

    Start, actions, observations, recruitment, theta and recall onsets of every slot.
    """
    tm = params.timing
    dt = float(tm.dt / second)
    T = len(inputs.walk.actions)
    step = inputs.step
    onsets = step * np.arange(T + 1)
    mods = inputs.modules
    n_act = inputs.world.n_actions
    # start: the first query cells fire at t = 0
    start_i = mods.offsets + inputs.true_phases[0]
    start_t = np.zeros(mods.n_modules)
    # actions: cell (m, a) = m * n_actions + a, at onset + action
    act_i = (np.arange(mods.n_modules)[None, :] * n_act + inputs.module_actions).ravel()
    act_t = np.repeat(onsets[:T] + float(tm.action / second), mods.n_modules)
    # observations: LEC cells of each step's symbol at onset + observation
    obs = inputs.walk.observations
    obs_i = inputs.lec[obs].ravel()
    obs_t = np.repeat(onsets + float(tm.observation / second), inputs.lec.shape[1])
    # recruitment of memory neuron k just after the observation
    rec_i = inputs.memory_slot
    rec_t = onsets + float(tm.observation / second) + 2 * dt
    # theta reset of the memory drive just before each onset
    theta_t = np.maximum(onsets - dt, 0.0)
    # recall onset: memory integrators restart at the observation
    recall_t = onsets + float(tm.observation / second) - dt

    def grid(t):
        return np.round(np.asarray(t) / dt) * dt

    return {"start": (start_i, grid(start_t)), "action": (act_i, grid(act_t)),
            "observation": (obs_i, grid(obs_t)), "recruit": (rec_i, grid(rec_t)),
            "theta": (np.zeros(T + 1, dtype=np.int64), grid(theta_t)),
            "recall_onset": (np.zeros(T + 1, dtype=np.int64), grid(recall_t))}


def slot_window(params: HippocampusParams, slots: int, start: brian2.Quantity,
                stop: brian2.Quantity) -> brian2.TimedArray:
    """TimedArray that is 1 in ``[start, stop)`` of each of ``slots`` slots (0 elsewhere)."""
    tm = params.timing
    n = round(float(tm.step / second) / float(tm.dt / second))
    one = np.zeros(n)
    one[round(float(start / tm.dt)):round(float(stop / tm.dt))] = 1.0
    return brian2.TimedArray(np.tile(one, slots), dt=tm.dt)


