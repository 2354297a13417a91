r"""Build the entorhinal-hippocampal loop as explicit Brian2 objects.

:func:`build_network` composes four layer builders into a :class:`LoopNetwork` (nothing
is run; :mod:`circuits.hippocampus.protocol` presents a walk):

- :func:`mec_layer`: the MEC. ``start`` and ``action`` spike generators; ``grid`` (query)
  cells; the ``bump`` code; ``hold`` cells racing under a ramp, with module
  winner-take-all; the ``arbiter`` that settles exact ties; ``conjunctive``
  (module, phase, action) cells that move each module's phase: the spiking form of
  :math:`g_{t+1} = W_a g_t`.
- :func:`lec_layer`: the ``observation`` generator and the ``lec`` relay cells.
- :func:`memory_layer`: the ``recruit``, ``theta`` and ``recall_onset`` generators, the
  ``memory`` neurons (exponential rate, softmax through the shared inhibition), the learned
  ``key`` / ``key_exact`` (MEC->HPC), ``value`` (HPC->LEC) and ``lec_memory`` (LEC->HPC)
  synapses, and the ``interneuron``.
- :func:`closure_layer` (``mec.loop_closure``): recall votes from the memory neurons onto
  the hold cells (``recall_hold``).

The network does not depend on the walk: its spike generators start empty and the per-slot
gate arrays (the hold ramp, the recall and feedback windows) are namespace entries that
:func:`present_walk` fills for a walk of a given length (see
:mod:`circuits.hippocampus.loop` for the dynamics).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import brian2
import numpy as np
from brian2 import NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, Synapses, ms, second

from circuits.hippocampus.inputs import LoopInputs, slot_window, walk_stimuli
from circuits.hippocampus.params import HippocampusParams
from models.grid_codes import GridModules
from models.worlds import World

__all__ = [
    "DEFAULT_RECORD",
    "LoopNetwork",
    "build_network",
    "bump_connectivity",
    "closure_layer",
    "full_similarity",
    "lec_layer",
    "mec_layer",
    "memory_layer",
    "present_walk",
]

HOLD_THRESHOLD = 3.0  # race threshold of the hold cells (in votes)
#: populations whose spikes the loop records by default (the readout needs all five)
DEFAULT_RECORD = ("grid", "bump", "arbiter", "memory", "lec")
#: gate name -> (start, stop) within a slot, as functions of the timing
_GATES = {
    "ramp": lambda tm: (tm.hold, tm.hold + tm.decision),
    "recall": lambda tm: (tm.observation, tm.hold),
    "feedback": lambda tm: (tm.observation, tm.hold - 3 * tm.dt),
}


def bump_connectivity(modules: GridModules, world: World, peak: int,
                      side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synapses (i, j, w) from query cells to bump cells.

    ``peak`` onto the same phase, ``side`` onto each distinct phase one non-stay action away (same
    module).
    """
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
    """Largest drive ``u``: key . query of a position with itself, summed over modules.

    Each bump overlaps itself by ``sum(w^2) / peak``. A constant shift of the rate's exponent: the
    largest single-memory rate is ``r_max``.
    """
    self_overlap = np.zeros(modules.n_cells)
    np.add.at(self_overlap, pre, weight ** 2 / peak)
    module_of = np.repeat(np.arange(modules.n_modules), modules.sizes)
    return float(sum(self_overlap[module_of == m].max() for m in range(modules.n_modules)))


@dataclass
class LoopNetwork:
    """Every Brian2 object of one loop.

    Attributes
    ----------
    network
        The ``brian2.Network`` holding everything below (add monitors of your own to it).
    groups
        Population name -> group: neuron groups (``grid``, ``bump``, ``hold``, ``arbiter``,
        ``conjunctive``, ``lec``, ``memory``, ``interneuron``) and spike generators
        (``start``, ``action``, ``observation``, ``recruit``, ``theta``, ``recall_onset``).
    synapses
        Projection name -> ``brian2.Synapses`` (e.g. ``key``, ``value``).
    spike_monitors
        Population name -> the loop's own ``SpikeMonitor`` (the recorded populations).
    gates
        Gate name (``ramp``, ``recall``, ``feedback``) -> the ``(namespace, key)`` entries
        that :func:`present_walk` fills with that gate's TimedArray.
    """

    params: HippocampusParams
    modules: GridModules
    world: World
    network: brian2.Network
    groups: dict[str, brian2.Group]
    synapses: dict[str, brian2.Synapses]
    spike_monitors: dict[str, SpikeMonitor]
    gates: dict[str, list[tuple[dict, str]]] = field(default_factory=dict)


class _Layers:
    """The objects of a loop under construction, in creation order."""

    def __init__(self) -> None:
        self.objects: dict[str, object] = {}
        self.gates: dict[str, list[tuple[dict, str]]] = {name: [] for name in _GATES}

    def add(self, **objects: object) -> None:
        self.objects.update(objects)

    def generator(self, name: str, n: int) -> SpikeGeneratorGroup:
        """An empty spike generator (:func:`present_walk` sets its spikes)."""
        g = SpikeGeneratorGroup(n, np.array([], dtype=np.int64), np.array([]) * second,
                                name=f"{name}*")
        self.objects[name] = g
        return g

    def gate(self, name: str, obj: brian2.Group, key: str) -> None:
        """Mark ``obj.namespace[key]`` as filled with gate ``name`` for each walk."""
        self.gates[name].append((obj.namespace, key))


def mec_layer(layers: _Layers, params: HippocampusParams, modules: GridModules,
              world: World) -> None:
    """Grid (query), bump, hold, arbiter and conjunctive cells: path integration."""
    tm, mec = params.timing, params.mec
    n_grid, n_act = modules.n_cells, world.n_actions
    M = modules.n_modules
    objects = layers.objects
    start, action, theta = objects["start"], objects["action"], objects["theta"]

    # query grid cells: fire once when driven (threshold 1)
    grid = NeuronGroup(n_grid, "v : 1\nn_slot : 1", threshold="v > 0.5",
                       reset="v = 0; n_slot += 1",
                       refractory=0.5 * ms, name="grid*")
    s_start = Synapses(start, grid, on_pre="v_post += 1", name="start_grid*")
    s_start.connect(j="i")
    layers.add(grid=grid, start_grid=s_start)

    # bump code: the query cell drives a population bump (bump_peak spikes at its phase,
    # bump_side at each phase one action away); memory keys and queries use it, so
    # key . query falls off gradually with distance on the grid modules
    bump_i, bump_j, bump_w = bump_connectivity(modules, world, mec.bump_peak, mec.bump_side)
    bump = NeuronGroup(n_grid, "v : 1\nn_slot : 1", threshold="v > 0.5",
                       reset="v -= 1; n_slot += 1", name="bump*")
    s_bump = Synapses(grid, bump, "w : 1", on_pre="v_post += w", name="grid_bump*")
    s_bump.connect(i=bump_i, j=bump_j)
    s_bump.w = bump_w
    layers.add(bump=bump, grid_bump=s_bump)

    # hold cells: a race decides each module's phase for the action. Inputs: the query
    # cell's own phase (``keep``, half a vote: path integration) and, with loop closure,
    # one vote per recall spike of a memory whose key holds that phase. From the hold time
    # a ramp (gate "ramp") raises every cell at the same rate; the cell with the most
    # input crosses first and the module's winner-take-all silences the rest. A fixed
    # bias below half a vote (by phase index) breaks exact ties; input differs in steps of
    # half a vote, which the ramp separates by ~8 time steps.
    hold = NeuronGroup(n_grid, """dv/dt = ramp(t) * slope : 1
                                  last_query : second
                                  module : integer (constant)""",
                       threshold="v > theta", reset="v = -100", refractory=1 * ms,
                       method="euler",
                       namespace={"theta": HOLD_THRESHOLD,
                                  "slope": HOLD_THRESHOLD / tm.decision},
                       name="hold*")
    layers.gate("ramp", hold, "ramp")
    hold.module = np.repeat(np.arange(M), modules.sizes)
    hold.last_query = -1 * second
    # query -> hold of the same phase: marks the query time at once (to learn the recall
    # votes) and adds half a vote just before the race
    s_keep = Synapses(grid, hold,
                      on_pre={"mark": "last_query_post = t", "keep": "v_post += 0.5"},
                      delay={"mark": 0 * ms, "keep": tm.hold - 2 * tm.dt}, name="grid_hold*")
    s_keep.connect(j="i")
    # module winner-take-all and clean-up for the next slot
    s_wta = Synapses(hold, hold, on_pre="v_post = -100", name="hold_wta*")
    s_wta.connect(condition="module_pre == module_post")
    layers.add(hold=hold, grid_hold=s_keep, hold_wta=s_wta)
    # Exact ties (cells crossing in the same step) are settled by an arbiter layer: hold
    # spikes reach it with a delay growing with the phase index, and the first arbiter cell
    # to fire in a module silences the others before their input arrives.
    arbiter = NeuronGroup(n_grid, """v : 1
                                     module : integer (constant)""",
                          threshold="v > 0.5", reset="v = -100", refractory=1 * ms,
                          name="arbiter*")
    arbiter.module = np.repeat(np.arange(M), modules.sizes)  # (no reads: standalone-safe)
    s_arb = Synapses(hold, arbiter, on_pre="v_post += 1", name="hold_arbiter*")
    s_arb.connect(j="i")
    rank = np.concatenate([np.arange(size) for size in modules.sizes])
    s_arb.delay = rank * tm.dt
    s_arb_wta = Synapses(arbiter, arbiter, on_pre="v_post = -100", name="arbiter_wta*")
    s_arb_wta.connect(condition="module_pre == module_post")
    s_theta_arb = Synapses(theta, arbiter, on_pre="v_post = 0", name="theta_arbiter*")
    s_theta_arb.connect()
    layers.add(arbiter=arbiter, hold_arbiter=s_arb, arbiter_wta=s_arb_wta,
               theta_arbiter=s_theta_arb)
    # hold potentials (subthreshold votes, inhibition) are cleared each slot by theta
    s_theta_hold = Synapses(theta, hold, on_pre="v_post = 0", name="theta_hold*")
    s_theta_hold.connect()
    layers.add(theta_hold=s_theta_hold)

    # conjunctive (module, phase, action) cells
    n_conj = n_grid * n_act
    # coincidence of this slot's hold spike and action spike (cleared each slot by theta)
    conj = NeuronGroup(n_conj, "v : 1", threshold="v > 1", reset="v = 0",
                       refractory=1 * ms, name="conjunctive*")
    s_theta_conj = Synapses(theta, conj, on_pre="v_post = 0", name="theta_conj*")
    s_theta_conj.connect()
    layers.add(conjunctive=conj, theta_conj=s_theta_conj)
    cell = np.arange(n_grid)
    module_of = np.repeat(np.arange(M), modules.sizes)
    s_hc = Synapses(arbiter, conj, on_pre="v_post += 0.6", name="arbiter_conj*")
    s_hc.connect(i=np.repeat(cell, n_act), j=np.arange(n_conj))
    s_ac = Synapses(action, conj, on_pre="v_post += 0.6", name="action_conj*")
    conj_cell = np.repeat(cell, n_act)
    conj_action = np.tile(np.arange(n_act), n_grid)
    s_ac.connect(i=module_of[conj_cell] * n_act + conj_action, j=np.arange(n_conj))
    phase_of = np.concatenate([np.arange(s) for s in modules.sizes])
    target = np.array([modules.offsets[module_of[c]]
                       + modules.transitions[module_of[c]][phase_of[c], a]
                       for c, a in zip(conj_cell, conj_action, strict=True)])
    dt = tm.dt
    s_cg = Synapses(conj, grid, on_pre="v_post += 1", delay=tm.step - tm.action - 2 * dt,
                    name="conj_grid*")
    s_cg.connect(i=np.arange(n_conj), j=target)
    layers.add(hold_conj=s_hc, action_conj=s_ac, conj_grid=s_cg)


def lec_layer(layers: _Layers, params: HippocampusParams) -> None:
    """Observation generator and LEC relay cells (one spike per unit of input)."""
    mem = params.memory
    observation = layers.objects["observation"]
    # With pathway_gating, an ``observed`` event marks the LEC spikes that can drive recall
    # (LEC->HPC adds obs_window(t) * int(t - last_obs < 0.3 ms) * w: zero for every other
    # spike), so that pathway runs only for them (see memory_layer)
    events = ({"observed": "v > 0.5 and obs_window(t) > 0 and t - last_obs < 0.3 * ms"}
              if params.pathway_gating else None)
    lec = NeuronGroup(mem.n_lec, "v : 1\nlast_obs : second", threshold="v > 0.5",
                      reset="v -= 1", events=events, namespace={}, name="lec*")
    if params.pathway_gating:
        layers.gate("recall", lec, "obs_window")
    lec.last_obs = -1 * second
    layers.add(lec=lec)
    s_obs = Synapses(observation, lec, on_pre="v_post += 1\nlast_obs_post = t",
                     name="obs_lec*")
    s_obs.connect(j="i")
    layers.add(obs_lec=s_obs)


def memory_layer(layers: _Layers, params: HippocampusParams, modules: GridModules,
                 world: World) -> None:
    """Memory neurons (softmax attention), their learned keys and values, interneuron."""
    mem, mec, tm = params.memory, params.mec, params.timing
    M = modules.n_modules
    objects = layers.objects
    recruit, theta = objects["recruit"], objects["theta"]
    recall_onset, lec = objects["recall_onset"], objects["lec"]
    grid, bump = objects["grid"], objects["bump"]
    bump_i, _bump_j, bump_w = bump_connectivity(modules, world, mec.bump_peak, mec.bump_side)
    full = full_similarity(modules, bump_i, _bump_j, bump_w, mec.bump_peak)
    # the retrieval gain: fixed, or TEM-t's b log(1 + N) per unit of cosine (u / full), N
    # counted by a one-cell integrator of the recruiting events (``engrams``)
    if mem.beta_scale is None:
        gain, gain_names = "beta", {"beta": mem.beta}
    else:
        gain = "b_cos * log(1 + clip(n_stored, 0, n_max)) / full"
        gain_names = {"b_cos": mem.beta_scale, "n_max": float(mem.n)}
    # spiking: threshold 1, phi restarting from 0 at each theta and recall onset
    # (deterministic); or a threshold drawn from Exp(1) after each spike (time rescaling:
    # an inhomogeneous Poisson process of rate dphi/dt). Poisson cells restart at theta
    # only: phi from 0 and, at the slot onset a step later, a fresh threshold (a threshold
    # kept across a restart would stay high in the cells it kept silent); within the slot
    # the threshold's remainder above phi is Exp(1) at any time, so recall needs no
    # restart. Both keep the overshoot above the threshold (the part of the step after the
    # crossing), except after the recruiting spike, which is a write, not a sample.
    deterministic = mem.spiking == "deterministic"
    if deterministic:
        reset, recall_restart = "phi -= threshold_phi", "phi_post = 0; "
    else:
        reset = ("phi = (phi - threshold_phi) * (1 - recruiting)\n"
                 "threshold_phi = -log(1 - rand())")
        recall_restart = ""
    # gate "recall": 1 between the observation and the hold in every slot; one TimedArray
    # serves the memory neurons and the LEC->HPC observation drive
    # With pathway_gating, the learning pathways (key, key_exact and lec_memory on the
    # postsynaptic side) run on a ``recruited`` event, the recruiting spike, instead of on
    # every spike: on any other spike their update is ``w + 0 * (...)``, exactly ``w``
    gating = {"events": {"recruited": "phi > threshold_phi and recruiting > 0.5"}} \
        if params.pathway_gating else {}
    learn = {"on_event": {"post": "recruited"}} if params.pathway_gating else {}
    observed = {"on_event": {"pre": "observed", "post": "recruited"}} \
        if params.pathway_gating else {}
    memory = NeuronGroup(
        mem.n,
        f"""dphi/dt = written * r_max * (1 + boost * recall(t)) * exp(
                     (1 - recall(t)) * {gain} * (u - full)
                     + recall(t) * beta_key * clip(matched - n_modules + tolerated, -1e9, 0)
                     + beta_obs * (clip(o, 0, 1) - 1) * recall(t) - c) : 1
           du/dt = -u / tau_u : 1
           dmatched/dt = -matched / tau_u : 1
           do/dt = -o / tau_u : 1
           dc/dt = -inhibition * target * int(c > c_floor * (1 - recall(t))) : 1
           written : 1
           recruiting : 1
           threshold_phi : 1
           """ + ("n_stored : 1 (linked)" if mem.beta_scale is not None else ""),
        threshold="phi > threshold_phi",
        reset=f"{reset}\nrecruiting = 0",
        method="euler",
        namespace={"r_max": mem.rate, **gain_names, "beta_key": mem.recall_key_beta,
                   "beta_obs": mem.recall_obs_beta,
                   "tau_u": mem.tau_input, "inhibition": mem.inhibition,
                   "target": mem.target_rate, "c_floor": -mem.max_boost,
                   "full": full, "n_modules": float(M),
                   "tolerated": mem.recall_tolerated_modules,
                   "boost": mem.recall_gain - 1.0},
        name="memory*", **gating)
    memory.threshold_phi = 1.0 if deterministic else "-log(1 - rand())"
    if not deterministic:  # slot onsets are multiples of timing.step
        # an explicit name without "*": Brian2 >= 2.10 appends "_clock*" to it
        memory.run_regularly("threshold_phi = -log(1 - rand())", dt=tm.step,
                             when="before_groups", name=f"{memory.name}_thresholds")
    layers.gate("recall", memory, "recall")
    layers.add(memory=memory)
    s_rec = Synapses(recruit, memory,
                     on_pre="phi_post = threshold_phi_post + 0.5; written_post = 1; "
                            "recruiting_post = 1; u_post = 0; o_post = 0; matched_post = 0",
                     name="recruit_memory*")
    s_rec.connect(j="i")
    if mem.beta_scale is not None:
        # N: memories written so far (the gain takes at most memory.n: a recycled neuron
        # replaces a memory)
        engrams = NeuronGroup(1, "n_stored : 1", name="engrams*")
        s_count = Synapses(recruit, engrams, on_pre="n_stored_post += 1",
                           name="recruit_engrams*")
        s_count.connect()
        memory.n_stored = brian2.linked_var(engrams, "n_stored",
                                            index=np.zeros(mem.n, dtype=int))
        layers.add(engrams=engrams, recruit_engrams=s_count)
    s_theta = Synapses(theta, memory,
                       on_pre="u_post = 0; o_post = 0; matched_post = 0; phi_post = 0; "
                              "c_post = 0",
                       name="theta_memory*")
    s_theta.connect()
    # recall starts from empty integrators: spikes then reflect recall rates only
    s_recall = Synapses(recall_onset, memory, on_pre=f"{recall_restart}c_post = 0",
                        name="recall_memory*")
    s_recall.connect()
    layers.add(recall_memory=s_recall)
    # LEC relays start each slot empty (no backlog from the last recall)
    s_theta_lec = Synapses(theta, lec, on_pre="v_post = 0", name="theta_lec*")
    s_theta_lec.connect()
    layers.add(theta_lec=s_theta_lec, recruit_memory=s_rec, theta_memory=s_theta)
    # key: on the recruiting spike the weight becomes the bump cell's spike count this
    # slot (divided by bump_peak); the drive u is then key . query of the bump codes
    s_key = Synapses(bump, memory, "w : 1",
                     on_pre="u_post += w / peak",
                     on_post="w = w + recruiting_post * (n_slot_pre - w)",
                     namespace={"peak": float(mec.bump_peak)}, name="key*", **learn)
    s_key.connect()
    s_theta_bump = Synapses(theta, bump, on_pre="v_post = 0; n_slot_post = 0",
                            name="theta_bump*")
    s_theta_bump.connect()
    layers.add(theta_bump=s_theta_bump)
    # exact key for recall: on the recruiting spike the weight becomes 1 for the query cell
    # (one per module) that fired this slot; ``matched`` then counts the modules whose
    # phase equals the stored one
    s_exact = Synapses(grid, memory, "w : 1", on_pre="matched_post += w",
                       on_post="w = w + recruiting_post * (n_slot_pre - w)", name="key_exact*",
                       **learn)
    s_exact.connect()
    s_theta_grid = Synapses(theta, grid, on_pre="n_slot_post = 0", name="theta_grid*")
    s_theta_grid.connect()
    layers.add(key_exact=s_exact, theta_grid=s_theta_grid)
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
                         namespace={"per_symbol": float(mem.lec_per_symbol)},
                         name="lec_memory*", **observed)
    layers.gate("recall", s_obs_mem, "obs_window")
    s_obs_mem.connect()
    layers.add(key=s_key, value=s_value, lec_memory=s_obs_mem)
    interneuron = NeuronGroup(1, "v : 1", threshold="v > 0.5", reset="v -= 1",
                              name="interneuron*")
    s_mi = Synapses(memory, interneuron, on_pre="v_post += 1", name="memory_inter*")
    s_mi.connect()
    s_im = Synapses(interneuron, memory, on_pre="c_post += inhibition",
                    namespace={"inhibition": mem.inhibition}, name="inter_memory*")
    s_im.connect()
    layers.add(interneuron=interneuron, memory_inter=s_mi, inter_memory=s_im)


def closure_layer(layers: _Layers, params: HippocampusParams) -> None:
    """Loop closure: recall votes from memory neurons onto the hold cells of their keys."""
    tm, mec = params.timing, params.mec
    window = tm.observation  # query cells fired at the slot onset, observation now
    # recall votes: memory spikes between observation and hold (gate "feedback") push
    # their stored keys, the same key learned on the recruiting spike: w_fb = 1 from the
    # memory to the hold cells whose phase was queried this slot
    s_fb = Synapses(layers.objects["memory"], layers.objects["hold"], "w_fb : 1",
                    on_pre="v_post += vote * w_fb * fb_window(t)\n"
                           "w_fb = clip(w_fb + recruiting_pre * int(t - last_query_post < "
                           "window), 0, 1)",
                    namespace={"vote": 1.0 / mec.closure_votes, "window": window + 0.5 * ms},
                    name="recall_hold*")
    layers.gate("feedback", s_fb, "fb_window")
    s_fb.connect()
    layers.add(recall_hold=s_fb)


def build_network(params: HippocampusParams, modules: GridModules, world: World, *,
                  record: tuple[str, ...] = DEFAULT_RECORD) -> LoopNetwork:
    """Create the loop's groups, synapses and spike monitors (nothing is run).

    Parameters
    ----------
    params
        Loop parameters.
    modules
        The MEC's grid modules of ``world`` (:func:`~circuits.hippocampus.inputs.mec_modules`).
    world
        The world (its actions gate the conjunctive cells).
    record
        Populations whose spikes the loop's own monitors keep (the readout needs
        :data:`DEFAULT_RECORD`).

    Returns
    -------
    LoopNetwork
        Walk-independent: :func:`present_walk` sets the stimuli and gates of a walk.
    """
    mem = params.memory
    layers = _Layers()
    # the stimuli: spike generators every layer reads (the walk sets their spikes)
    layers.generator("start", modules.n_cells)
    layers.generator("action", modules.n_modules * world.n_actions)
    layers.generator("observation", mem.n_lec)
    layers.generator("recruit", mem.n)
    layers.generator("theta", 1)
    layers.generator("recall_onset", 1)
    mec_layer(layers, params, modules, world)
    lec_layer(layers, params)
    memory_layer(layers, params, modules, world)
    if params.mec.loop_closure:
        closure_layer(layers, params)
    objects = layers.objects
    unknown = [name for name in record if not isinstance(objects.get(name), brian2.Group)
               or isinstance(objects.get(name), brian2.Synapses)]
    if unknown:
        groups = [k for k, v in objects.items()
                  if isinstance(v, brian2.Group) and not isinstance(v, brian2.Synapses)]
        raise ValueError(f"record: unknown population {unknown[0]!r}; choose from "
                         f"{', '.join(groups)}")
    monitors = {name: SpikeMonitor(objects[name], name=f"spikes_{name}*") for name in record}
    network = brian2.Network(*objects.values(), *monitors.values())
    groups = {k: v for k, v in objects.items() if not isinstance(v, brian2.Synapses)}
    synapses = {k: v for k, v in objects.items() if isinstance(v, brian2.Synapses)}
    return LoopNetwork(params=params, modules=modules, world=world, network=network,
                       groups=groups, synapses=synapses, spike_monitors=monitors,
                       gates=layers.gates)


def present_walk(net: LoopNetwork, inputs: LoopInputs) -> None:
    """Set the spike generators and fill the gate arrays for the walk of ``inputs``."""
    params = net.params
    for name, (i, t) in walk_stimuli(params, inputs).items():
        net.groups[name].set_spikes(i, t * second)
    slots = len(inputs.walk.actions) + 1
    for name, entries in net.gates.items():
        if entries:
            start, stop = _GATES[name](params.timing)
            array = slot_window(params, slots, start, stop)
            for namespace, key in entries:
                namespace[key] = array
