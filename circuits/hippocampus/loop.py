r"""The entorhinal-hippocampal loop as a spiking TEM-t (Brian2).

Populations (one walk step per slot; see :mod:`circuits.hippocampus.params`):

- ``grid`` (MEC, query): one cell per phase of each grid module
  (:mod:`models.grid_codes`: analytic modules, or with ``mec.source = "tem-t"`` the cyclic
  modules and learned action shifts of a trained TEM-t, :func:`mec_modules`); the cells of
  the current phases fire at each slot onset.
- ``hold`` (MEC, hold): the same cells a few ms later; a ramp gate makes the cell with the
  most input in each module fire first and a module interneuron silences the rest
  (winner-take-all). Input: the query spike of the same phase (path integration) and, with
  loop closure, recall votes from memory neurons (their stored keys).
- ``action``: one cell per (module, action); a wrong action in a module is a drift error.
- ``conjunctive``: (module, phase, action) coincidence cells; a hold spike and an action
  spike together fire one, which makes the next phase's query cell fire at the next slot
  onset: the spiking form of :math:`g_{t+1} = W_a g_t`.
- ``lec``: a sparse population code per symbol (``lec_per_symbol`` of ``n_lec`` cells).
  Observation spikes drive it; memory neurons drive it with their stored values (the
  prediction); each LEC spike relays one unit of input (exact counts).
- ``memory`` (HPC): deterministic integrate-and-fire on an exponential rate,

  .. math:: \dot\phi_\tau = r_{max}\, [\tau \text{ written}]\,
            \exp\big(\beta (u_\tau - M) - c_\tau\big)

  with :math:`u_\tau` the query's overlap with the stored key (MEC->HPC weights),
  :math:`o_\tau` the observation's overlap with the stored value (LEC->HPC), and
  :math:`c_\tau` the inhibition from the interneurons: each memory spike raises it by
  ``inhibition``, and it falls at the rate that ``target_rate`` spikes would raise it (down
  to ``-max_boost``), so the total memory activity is pulled towards ``target_rate``
  whatever the match (divisive normalisation: rates are :math:`e^{-c}` times their
  unnormalised values, the same factor for every memory). Between the observation and the
  hold (recall) the rate is boosted and the exponent becomes
  :math:`\beta_k \min(0, m_\tau - n_{mod} + s) + \beta_o (o_\tau - 1)`, with
  :math:`m_\tau` the number of modules whose query phase equals the stored one (an exact
  key learned like the graded one): memories whose value matches the observation and whose
  key matches the query in all but :math:`s` = ``recall_tolerated_modules`` modules
  dominate, and their keys vote for the phase each module keeps (loop closure): a drifted
  module does not silence the memory of the node, a node that merely shares the symbol
  (different phases in several modules) stays silent. Because the inhibition is shared,
  normalised spike counts follow :math:`\mathrm{softmax}(\beta\, k_\tau \cdot q)`: the
  memory neurons are the softmax units of attention. A theta signal at each slot onset
  resets :math:`u, m, o`.
- ``interneuron``: relays memory spikes into the shared inhibition (soft winner-take-all).
- ``recruit``: at each step one memory neuron is recruited; on that spike, Hebbian
  plasticity sets the MEC->HPC weights from the query cells that fired this slot (key),
  and the HPC->LEC and LEC->HPC weights from the observed LEC cells (value).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import brian2
import numpy as np
from brian2 import NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, Synapses, ms, second

from circuits.backend import brian_backend, run_network
from circuits.hippocampus.params import HippocampusParams, MECParams
from models.grid_codes import GridModules, make_grid_modules, modules_from_axis_shifts
from models.seeding import numpy_rng
from models.worlds import Walk, World

__all__ = [
    "HippocampusReadout",
    "LoopInputs",
    "bump_connectivity",
    "check_loop_memory",
    "full_similarity",
    "lec_codes",
    "loop_memory",
    "mec_modules",
    "prepare_inputs",
    "run_walk",
]

_HOLD_THRESHOLD = 3.0  # race threshold of the hold cells (in votes)


def lec_codes(n_symbols: int, n_lec: int, per_symbol: int, seed: int | None) -> np.ndarray:
    """``(n_symbols, per_symbol)`` LEC cells of each symbol (random sparse codes)."""
    rng = numpy_rng(seed, "lec_codes")
    return np.stack([np.sort(rng.choice(n_lec, per_symbol, replace=False))
                     for _ in range(n_symbols)])


def bump_connectivity(modules: GridModules, world: World, peak: int,
                      side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synapses (i, j, w) from query cells to bump cells: ``peak`` onto the same phase,
    ``side`` onto each distinct phase one non-stay action away (same module)."""
    moves = [a for a in range(world.n_actions) if world.action_names[a] != "stay"]
    pre, post, weight = [], [], []
    for m in range(modules.n_modules):
        offset = modules.offsets[m]
        for p in range(modules.sizes[m]):
            pre.append(offset + p)
            post.append(offset + p)
            weight.append(peak)
            neighbours = {int(modules.transitions[m][p, a]) for a in moves} - {p}
            for q in sorted(neighbours):
                if side > 0:
                    pre.append(offset + p)
                    post.append(offset + q)
                    weight.append(side)
    return (np.array(pre, dtype=np.int64), np.array(post, dtype=np.int64),
            np.array(weight, dtype=float))


def full_similarity(modules: GridModules, pre: np.ndarray, post: np.ndarray,
                    weight: np.ndarray, peak: int) -> float:
    """Largest drive ``u``: key . query of a position with itself, summed over modules
    (each bump overlaps itself by ``sum(w^2) / peak``). A constant shift of the rate's
    exponent: the largest single-memory rate is ``r_max``."""
    self_overlap = np.zeros(modules.n_cells)
    np.add.at(self_overlap, pre, weight ** 2 / peak)
    module_of = np.repeat(np.arange(modules.n_modules), modules.sizes)
    return float(sum(self_overlap[module_of == m].max() for m in range(modules.n_modules)))


@functools.lru_cache(maxsize=8)
def _checkpoint_shifts(path: str, mtime: float) -> tuple[tuple[int, ...], np.ndarray,
                                                         tuple[str, ...], int]:
    """Ring sizes, quantised shifts (:func:`models.grid_codes.axis_shifts`), action names and
    module rank of a cyclic TEM-t checkpoint."""
    del mtime  # part of the cache key only: a rewritten file is read again
    from models.grid_codes import axis_shifts
    from models.tem_training import load_checkpoint

    ckpt = load_checkpoint(path, expected_type="tem-t")
    model = ckpt.build(device="cpu")
    sizes, shifts = axis_shifts(model)
    return sizes, shifts, tuple(ckpt.action_names), model.config.module_rank


def mec_modules(mec: MECParams, world: World) -> GridModules:
    """The MEC's grid modules for ``world``: analytic (``mec.spacings``) or, with
    ``mec.source = "tem-t"``, the quantised shifts of a TEM-t with cyclic modules (rings, or
    tori: ``--mec-checkpoint torus`` on hexagonal worlds).

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
                   seed: int | None) -> LoopInputs:
    """Grid modules, LEC codes, drift and recruitment for ``walk`` (validated)."""
    params.validate()
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


@dataclass
class HippocampusReadout:
    """Per-step readout of the spiking loop.

    Attributes
    ----------
    decoded_phase
        ``(T+1, M)`` phase of each module decoded from the query spikes (-1: none fired).
    hold_phase
        ``(T+1, M)`` phase decoded from the arbiter spikes: the phase each module passes
        to the action (after loop closure).
    memory_counts
        ``(T+1, n_memory)`` memory-neuron spikes in each step's retrieval window.
    recall_counts
        ``(T+1, n_memory)`` memory-neuron spikes between observation and hold (recall
        with the observation, which drives loop closure).
    lec_counts
        ``(T+1, n_lec)`` LEC spikes in each retrieval window (the predicted code).
    predicted
        ``(T+1,)`` predicted symbol (-1 where no memory fired).
    query
        ``(T+1, n_grid)`` bump-code spike counts of each step (the query).
    keys, values
        Learned MEC->HPC ``(n_grid, n_memory)`` (bump spike counts at storage) and HPC->LEC
        ``(n_memory, n_lec)`` weights; ``key . query / bump_peak`` is the drive ``u``.
    spikes
        Population name -> ``(indices, times_s, size)``.
    """

    params: HippocampusParams
    inputs: LoopInputs
    decoded_phase: np.ndarray
    hold_phase: np.ndarray
    memory_counts: np.ndarray
    recall_counts: np.ndarray
    lec_counts: np.ndarray
    predicted: np.ndarray
    query: np.ndarray
    keys: np.ndarray
    values: np.ndarray
    spikes: dict[str, tuple[np.ndarray, np.ndarray, int]]
    timings: dict[str, float] = field(default_factory=dict)


def _spike_inputs(params: HippocampusParams, inputs: LoopInputs):
    """Spike generator contents: start, actions, observations, recruitment, theta."""
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


def build_loop(params: HippocampusParams, inputs: LoopInputs) -> dict:
    """Create the groups and synapses of the loop (nothing is run)."""
    tm, mem, mec = params.timing, params.memory, params.mec
    mods = inputs.modules
    n_grid, n_act = mods.n_cells, inputs.world.n_actions
    M = mods.n_modules
    spikes = _spike_inputs(params, inputs)
    objects: dict[str, object] = {}

    def generator(name, n):
        i, t = spikes[name]
        g = SpikeGeneratorGroup(n, i, t * second, name=f"{name}*")
        objects[name] = g
        return g

    start = generator("start", n_grid)
    action = generator("action", M * n_act)
    observation = generator("observation", mem.n_lec)
    recruit = generator("recruit", mem.n)
    theta = generator("theta", 1)
    recall_onset = generator("recall_onset", 1)

    # query grid cells: fire once when driven (threshold 1)
    grid = NeuronGroup(n_grid, "v : 1\nn_slot : 1", threshold="v > 0.5",
                       reset="v = 0; n_slot += 1",
                       refractory=0.5 * ms, name="grid*")
    objects["grid"] = grid
    s_start = Synapses(start, grid, on_pre="v_post += 1", name="start_grid*")
    s_start.connect(j="i")
    objects["start_grid"] = s_start

    # bump code: the query cell drives a population bump (bump_peak spikes at its phase,
    # bump_side at each phase one action away); memory keys and queries use it, so
    # key . query falls off gradually with distance on the grid modules
    bump_i, bump_j, bump_w = bump_connectivity(mods, inputs.world, mec.bump_peak,
                                               mec.bump_side)
    bump = NeuronGroup(n_grid, "v : 1\nn_slot : 1", threshold="v > 0.5",
                       reset="v -= 1; n_slot += 1", name="bump*")
    objects["bump"] = bump
    s_bump = Synapses(grid, bump, "w : 1", on_pre="v_post += w", name="grid_bump*")
    s_bump.connect(i=bump_i, j=bump_j)
    s_bump.w = bump_w
    objects["grid_bump"] = s_bump

    # hold cells: a race decides each module's phase for the action. Inputs: the query
    # cell's own phase (``keep``, half a vote: path integration) and, with loop closure,
    # one vote per recall spike of a memory whose key holds that phase. From the hold time
    # a ramp raises every cell at the same rate; the cell with the most input crosses
    # first and the module's winner-take-all silences the rest. A fixed bias below half a
    # vote (by phase index) breaks exact ties; input differs in steps of half a vote, which
    # the ramp separates by ~8 time steps.
    n_steps = round(inputs.step / float(tm.dt / second))
    ramp_profile = np.zeros(n_steps)
    ramp_profile[round(float(tm.hold / tm.dt)):round(float((tm.hold + tm.decision) / tm.dt))] = 1
    ramp = brian2.TimedArray(np.tile(ramp_profile, len(inputs.walk.actions) + 1), dt=tm.dt)
    hold = NeuronGroup(n_grid, """dv/dt = ramp(t) * slope : 1
                                  last_query : second
                                  module : integer (constant)""",
                       threshold="v > theta", reset="v = -100", refractory=1 * ms,
                       method="euler",
                       namespace={"ramp": ramp, "theta": _HOLD_THRESHOLD,
                                  "slope": _HOLD_THRESHOLD / tm.decision},
                       name="hold*")
    hold.module = np.repeat(np.arange(M), mods.sizes)
    hold.last_query = -1 * second
    objects["hold"] = hold
    # query -> hold of the same phase: marks the query time at once (to learn the recall
    # votes) and adds half a vote just before the race
    s_keep = Synapses(grid, hold,
                      on_pre={"mark": "last_query_post = t", "keep": "v_post += 0.5"},
                      delay={"mark": 0 * ms, "keep": tm.hold - 2 * tm.dt}, name="grid_hold*")
    s_keep.connect(j="i")
    objects["grid_hold"] = s_keep
    # module winner-take-all and clean-up for the next slot
    s_wta = Synapses(hold, hold, on_pre="v_post = -100", name="hold_wta*")
    s_wta.connect(condition="module_pre == module_post")
    objects["hold_wta"] = s_wta
    # Exact ties (cells crossing in the same step) are settled by an arbiter layer: hold
    # spikes reach it with a delay growing with the phase index, and the first arbiter cell
    # to fire in a module silences the others before their input arrives.
    arbiter = NeuronGroup(n_grid, """v : 1
                                     module : integer (constant)""",
                          threshold="v > 0.5", reset="v = -100", refractory=1 * ms,
                          name="arbiter*")
    arbiter.module = np.repeat(np.arange(M), mods.sizes)  # (no reads: standalone-safe)
    s_arb = Synapses(hold, arbiter, on_pre="v_post += 1", name="hold_arbiter*")
    s_arb.connect(j="i")
    rank = np.concatenate([np.arange(size) for size in mods.sizes])
    s_arb.delay = rank * tm.dt
    s_arb_wta = Synapses(arbiter, arbiter, on_pre="v_post = -100", name="arbiter_wta*")
    s_arb_wta.connect(condition="module_pre == module_post")
    s_theta_arb = Synapses(theta, arbiter, on_pre="v_post = 0", name="theta_arbiter*")
    s_theta_arb.connect()
    objects.update(arbiter=arbiter, hold_arbiter=s_arb, arbiter_wta=s_arb_wta,
                   theta_arbiter=s_theta_arb)
    # hold potentials (subthreshold votes, inhibition) are cleared each slot by theta
    s_theta_hold = Synapses(theta, hold, on_pre="v_post = 0", name="theta_hold*")
    s_theta_hold.connect()
    objects["theta_hold"] = s_theta_hold

    # conjunctive (module, phase, action) cells
    n_conj = n_grid * n_act
    # coincidence of this slot's hold spike and action spike (cleared each slot by theta)
    conj = NeuronGroup(n_conj, "v : 1", threshold="v > 1", reset="v = 0",
                       refractory=1 * ms, name="conjunctive*")
    objects["conjunctive"] = conj
    s_theta_conj = Synapses(theta, conj, on_pre="v_post = 0", name="theta_conj*")
    s_theta_conj.connect()
    objects["theta_conj"] = s_theta_conj
    cell = np.arange(n_grid)
    module_of = np.repeat(np.arange(M), mods.sizes)
    s_hc = Synapses(arbiter, conj, on_pre="v_post += 0.6", name="arbiter_conj*")
    s_hc.connect(i=np.repeat(cell, n_act), j=np.arange(n_conj))
    s_ac = Synapses(action, conj, on_pre="v_post += 0.6", name="action_conj*")
    conj_cell = np.repeat(cell, n_act)
    conj_action = np.tile(np.arange(n_act), n_grid)
    s_ac.connect(i=module_of[conj_cell] * n_act + conj_action, j=np.arange(n_conj))
    phase_of = np.concatenate([np.arange(s) for s in mods.sizes])
    target = np.array([mods.offsets[module_of[c]]
                       + mods.transitions[module_of[c]][phase_of[c], a]
                       for c, a in zip(conj_cell, conj_action, strict=True)])
    dt = tm.dt
    s_cg = Synapses(conj, grid, on_pre="v_post += 1", delay=tm.step - tm.action - 2 * dt,
                    name="conj_grid*")
    s_cg.connect(i=np.arange(n_conj), j=target)
    objects.update(hold_conj=s_hc, action_conj=s_ac, conj_grid=s_cg)

    # LEC: exact relays (one spike per unit of input)
    lec = NeuronGroup(mem.n_lec, "v : 1\nlast_obs : second", threshold="v > 0.5",
                      reset="v -= 1", name="lec*")
    lec.last_obs = -1 * second
    objects["lec"] = lec
    s_obs = Synapses(observation, lec, on_pre="v_post += 1\nlast_obs_post = t",
                     name="obs_lec*")
    s_obs.connect(j="i")
    objects["obs_lec"] = s_obs

    # memory neurons and interneurons
    full = full_similarity(mods, bump_i, bump_j, bump_w, mec.bump_peak)
    # 1 between the observation and the hold in every slot (recall); one TimedArray serves
    # the memory neurons and the LEC->HPC observation drive
    recall_window = _window_array(inputs, params, tm.observation, tm.hold)
    memory = NeuronGroup(
        mem.n,
        """dphi/dt = written * r_max * (1 + boost * recall(t)) * exp(
                     (1 - recall(t)) * beta * (u - full)
                     + recall(t) * beta_key * clip(matched - n_modules + tolerated, -1e9, 0)
                     + beta_obs * (clip(o, 0, 1) - 1) * recall(t) - c) : 1
           du/dt = -u / tau_u : 1
           dmatched/dt = -matched / tau_u : 1
           do/dt = -o / tau_u : 1
           dc/dt = -inhibition * target * int(c > c_floor * (1 - recall(t))) : 1
           written : 1
           recruiting : 1""",
        threshold="phi > 1", reset="phi -= 1; recruiting = 0", method="euler",
        namespace={"r_max": mem.rate, "beta": mem.beta, "beta_key": mem.recall_key_beta,
                   "beta_obs": mem.recall_obs_beta,
                   "tau_u": mem.tau_input, "inhibition": mem.inhibition,
                   "target": mem.target_rate, "c_floor": -mem.max_boost,
                   "full": full, "n_modules": float(M),
                   "tolerated": mem.recall_tolerated_modules,
                   "boost": mem.recall_gain - 1.0,
                   "recall": recall_window},
        name="memory*")
    objects["memory"] = memory
    s_rec = Synapses(recruit, memory,
                     on_pre="phi_post = 1.5; written_post = 1; recruiting_post = 1; "
                            "u_post = 0; o_post = 0; matched_post = 0",
                     name="recruit_memory*")
    s_rec.connect(j="i")
    s_theta = Synapses(theta, memory,
                       on_pre="u_post = 0; o_post = 0; matched_post = 0; phi_post = 0; "
                              "c_post = 0",
                       name="theta_memory*")
    s_theta.connect()
    # recall starts from empty integrators: spikes then reflect recall rates only
    s_recall = Synapses(recall_onset, memory, on_pre="phi_post = 0; c_post = 0",
                        name="recall_memory*")
    s_recall.connect()
    objects["recall_memory"] = s_recall
    # LEC relays start each slot empty (no backlog from the last recall)
    s_theta_lec = Synapses(theta, lec, on_pre="v_post = 0", name="theta_lec*")
    s_theta_lec.connect()
    objects["theta_lec"] = s_theta_lec
    objects.update(recruit_memory=s_rec, theta_memory=s_theta)
    window = tm.observation  # query cells fired at the slot onset, observation now
    # key: on the recruiting spike the weight becomes the bump cell's spike count this
    # slot (divided by bump_peak); the drive u is then key . query of the bump codes
    s_key = Synapses(bump, memory, "w : 1",
                     on_pre="u_post += w / peak",
                     on_post="w = w + recruiting_post * (n_slot_pre - w)",
                     namespace={"peak": float(mec.bump_peak)}, name="key*")
    s_key.connect()
    s_theta_bump = Synapses(theta, bump, on_pre="v_post = 0; n_slot_post = 0",
                            name="theta_bump*")
    s_theta_bump.connect()
    objects["theta_bump"] = s_theta_bump
    # exact key for recall: on the recruiting spike the weight becomes 1 for the query cell
    # (one per module) that fired this slot; ``matched`` then counts the modules whose
    # phase equals the stored one
    s_exact = Synapses(grid, memory, "w : 1", on_pre="matched_post += w",
                       on_post="w = w + recruiting_post * (n_slot_pre - w)", name="key_exact*")
    s_exact.connect()
    s_theta_grid = Synapses(theta, grid, on_pre="n_slot_post = 0", name="theta_grid*")
    s_theta_grid.connect()
    objects.update(key_exact=s_exact, theta_grid=s_theta_grid)
    s_value = Synapses(memory, lec, "w : 1",
                       on_pre="v_post += w\n"
                              "w = clip(w + recruiting_pre * int(t - last_obs_post < "
                              "0.5 * ms), 0, 1)",
                       name="value*")
    s_value.connect()
    # observation drive of recall: only LEC spikes caused by the observation count (not the
    # prediction the memory neurons themselves drive), so recall cannot excite itself
    s_obs_mem = Synapses(lec, memory, "w : 1",
                         on_pre="o_post += w / per_symbol * obs_window(t) * "
                                "int(t - last_obs_pre < 0.3 * ms)",
                         on_post="w = clip(w + recruiting_post * int(t - last_obs_pre < "
                                 "0.5 * ms), 0, 1)",
                         namespace={"per_symbol": float(mem.lec_per_symbol),
                                    "obs_window": recall_window},
                         name="lec_memory*")
    s_obs_mem.connect()
    objects.update(key=s_key, value=s_value, lec_memory=s_obs_mem)
    interneuron = NeuronGroup(1, "v : 1", threshold="v > 0.5", reset="v -= 1",
                              name="interneuron*")
    s_mi = Synapses(memory, interneuron, on_pre="v_post += 1", name="memory_inter*")
    s_mi.connect()
    s_im = Synapses(interneuron, memory, on_pre="c_post += inhibition",
                    namespace={"inhibition": mem.inhibition}, name="inter_memory*")
    s_im.connect()
    objects.update(interneuron=interneuron, memory_inter=s_mi, inter_memory=s_im)

    if mec.loop_closure:
        # recall votes: memory spikes between observation and hold push their stored keys
        # the same key, learned on the recruiting spike: w_fb = 1 from the memory to the
        # hold cells whose phase was queried this slot
        s_fb = Synapses(memory, hold, "w_fb : 1",
                        on_pre="v_post += vote * w_fb * fb_window(t)\n"
                               "w_fb = clip(w_fb + recruiting_pre * int(t - last_query_post < "
                               "window), 0, 1)",
                        namespace={"vote": 1.0 / mec.closure_votes, "window": window + 0.5 * ms,
                                   "fb_window": _window_array(inputs, params, tm.observation,
                                                              tm.hold - 3 * tm.dt)},
                        name="recall_hold*")
        s_fb.connect()
        objects["recall_hold"] = s_fb
    return objects


def _window_array(inputs: LoopInputs, params: HippocampusParams, start, stop):
    """TimedArray that is 1 in [start, stop) of every slot."""
    tm = params.timing
    n = round(inputs.step / float(tm.dt / second))
    one = np.zeros(n)
    one[round(float(start / tm.dt)):round(float(stop / tm.dt))] = 1.0
    return brian2.TimedArray(np.tile(one, len(inputs.walk.actions) + 1), dt=tm.dt)


def run_walk(params: HippocampusParams, world: World, walk: Walk, *, seed: int | None = 0,
             directory=None,
             record: tuple[str, ...] = ("grid", "bump", "arbiter", "memory", "lec"),
             report: str | None = None) -> HippocampusReadout:
    """Run the loop along ``walk`` and decode MEC phases and predictions per step."""
    check_loop_memory(params, len(walk.actions))  # before any input or object is built
    inputs = prepare_inputs(params, world, walk, seed)
    T = len(walk.actions)
    with brian_backend(params.backend, directory, dt=params.timing.dt) as info:
        objects = build_loop(params, inputs)
        monitors = {name: SpikeMonitor(objects[name], name=f"spikes_{name}*")
                    for name in record}
        key_syn = objects["key"]
        network = brian2.Network(*objects.values(), *monitors.values())
        run_network(network, (T + 1) * inputs.step * second, info, report=report)
        spikes = {name: (np.asarray(m.i[:]), np.asarray(m.t[:] / second),
                         len(objects[name])) for name, m in monitors.items()}
        keys = np.zeros((inputs.modules.n_cells, params.memory.n))
        keys[np.asarray(key_syn.i[:]), np.asarray(key_syn.j[:])] = np.asarray(key_syn.w[:])
        value_syn = objects["value"]
        values = np.zeros((params.memory.n, params.memory.n_lec))
        values[np.asarray(value_syn.i[:]), np.asarray(value_syn.j[:])] = \
            np.asarray(value_syn.w[:])
    return decode(params, inputs, spikes, keys, values, info.timings)


def decode(params: HippocampusParams, inputs: LoopInputs, spikes: dict, keys: np.ndarray,
           values: np.ndarray, timings: dict) -> HippocampusReadout:
    """Per-step phases, memory counts, LEC counts and predicted symbols from spikes."""
    tm = params.timing
    step = inputs.step
    T = len(inputs.walk.actions)
    mods = inputs.modules
    module_of = np.repeat(np.arange(mods.n_modules), mods.sizes)
    phase_of = np.concatenate([np.arange(s) for s in mods.sizes])

    def phases(name, offset):
        out = np.full((T + 1, mods.n_modules), -1, dtype=np.int64)
        i, t, _ = spikes[name]
        k = np.floor((t - offset) / step + 1e-9).astype(np.int64)
        ok = (k >= 0) & (k <= T)
        out[k[ok], module_of[i[ok]]] = phase_of[i[ok]]
        return out

    decoded = phases("grid", 0.0)
    hold = phases("arbiter", 0.0)
    retrieval = float(tm.retrieval / second)
    obs, hold_t = float(tm.observation / second), float(tm.hold / second)

    def counts(name, start, stop, size):
        i, t, _ = spikes[name]
        k = np.floor(t / step + 1e-9).astype(np.int64)
        phase = t - k * step
        sel = (phase >= start) & (phase < stop) & (k <= T)
        out = np.zeros((T + 1, size), dtype=np.int64)
        np.add.at(out, (k[sel], i[sel]), 1)
        return out

    memory_counts = counts("memory", 0.0, retrieval, params.memory.n)
    recall_counts = counts("memory", obs + 2.5 * float(tm.dt / second), hold_t,
                           params.memory.n)
    lec_counts = counts("lec", 0.0, retrieval + 0.5e-3, params.memory.n_lec)
    query = counts("bump", 0.0, retrieval, mods.n_cells)
    scores = lec_counts[:, inputs.lec].sum(-1)  # (T+1, n_symbols)
    predicted = np.where(scores.max(1) > 0, scores.argmax(1), -1)
    return HippocampusReadout(params=params, inputs=inputs, decoded_phase=decoded,
                              hold_phase=hold,
                              memory_counts=memory_counts, recall_counts=recall_counts,
                              lec_counts=lec_counts, predicted=predicted, query=query,
                              keys=keys,
                              values=values, spikes=spikes, timings=dict(timings))


#: bytes of one all-to-all synapse of the loop: pre and post indices, N_incoming,
#: N_outgoing (int32 each), a float64 weight or delay (24-32 bytes, as measured on the
#: cerebellar synapses), plus ~16 bytes of the index arrays ``connect()`` builds
_SYNAPSE_BYTES = 48


def loop_memory(params: HippocampusParams, steps: int) -> dict[str, tuple[float, str]]:
    """Estimated bytes of :func:`run_walk` on a walk of ``steps`` steps, per component,
    each with the field that drives it (``(bytes, field)``; fields without prefix).

    - **gates**: the ramp, recall and (loop closure) feedback TimedArrays are
      ``(steps + 1) * timing.step / timing.dt`` float64 each, built by ``np.tile`` and
      copied by Brian2 (two copies);
    - **synapses**: the all-to-all projections of the memory neurons (MEC keys and exact
      keys, loop-closure votes: ``3 n_grid`` a neuron; values and LEC->HPC: ``2 n_lec``;
      interneuron and theta relays), :data:`_SYNAPSE_BYTES` each;
    - **readout**: the key and value matrices (float64) and the per-step spike counts of
      the memory neurons (``2 (steps + 1) memory.n`` int64) and LEC cells.

    ``n_grid`` (grid cells of all modules) is ``sum(spacing**2)`` for analytic modules and
    taken as 100 for a trained TEM-t's (its modules hold a few dozen phases).
    """
    mem, tm = params.memory, params.timing
    slots = steps + 1
    per_slot = float(tm.step / tm.dt)
    n_gates = 3 if params.mec.loop_closure else 2
    n_grid = (sum(s * s for s in params.mec.spacings) if params.mec.source == "analytic"
              else 100)
    per_memory = 3 * n_grid + 2 * mem.n_lec + 8
    return {
        "gate TimedArrays": (2 * n_gates * 8 * slots * per_slot, "timing.dt"),
        "memory synapses": (_SYNAPSE_BYTES * mem.n * per_memory, "memory.n"),
        "readout": (8 * (mem.n * (n_grid + mem.n_lec) + 2 * slots * mem.n
                         + slots * mem.n_lec), "memory.n"),
    }


def check_loop_memory(params: HippocampusParams, steps: int, *, prefix: str = "",
                      steps_field: str = "steps", budget_gib: float | None = None,
                      memory_follows_steps: bool = False) -> None:
    """Refuse (:class:`models._memory.MemoryBudgetError`) a walk of ``steps`` steps whose
    estimate (:func:`loop_memory`) exceeds the memory budget, before anything is built.

    The message names the field of the largest component: ``{prefix}memory.n`` for the
    synapses and readout (``steps_field`` when ``memory_follows_steps``: the caller raised
    ``memory.n`` to ``steps + 1``, one memory neuron a step); for the gates
    ``{prefix}timing.dt`` when a slot holds more than 10^4 time steps (the default holds
    200), else ``steps_field``.
    """
    from models._memory import format_bytes, refuse_over_budget

    items = loop_memory(params, steps)
    need = sum(b for b, _ in items.values())
    _, (_, field) = max(items.items(), key=lambda kv: kv[1][0])
    tm = params.timing
    if ((field == "timing.dt" and float(tm.step / tm.dt) <= 1e4)
            or (field == "memory.n" and memory_follows_steps)):
        field, value = steps_field, steps
    else:
        value = params.timing.dt if field == "timing.dt" else params.memory.n
        field = prefix + field
    detail = ", ".join(f"{k} {format_bytes(b)}" for k, (b, _) in
                       sorted(items.items(), key=lambda kv: -kv[1][0]))
    refuse_over_budget(field, value, need, f"a walk of {steps} steps: {detail}",
                       budget_gib=budget_gib)

