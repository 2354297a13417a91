"""The hippocampal loop as one object.

:class:`HippocampalLoop` runs a walk and returns a :class:`HippocampusReadout`::

    from brian2 import SpikeMonitor
    from circuits import HippocampalLoop, HippocampusParams
    from models.worlds import random_walk, square_world

    world = square_world(4, 4, seed=0)
    loop = HippocampalLoop(HippocampusParams(), world, seed=0)
    mec = SpikeMonitor(loop.groups["grid"])       # a monitor of your own
    loop.network.add(mec)
    out = loop.run(random_walk(world, 40, seed=1))
    out.predicted, out.spikes["memory"]            # decoded symbols, SpikeTrains

:func:`run_walk` is the same in one call. :func:`loop_memory` and
:func:`check_loop_memory` estimate and guard a walk's memory before anything is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import brian2
import numpy as np
from brian2 import second

from circuits.backend import brian_backend, run_network
from circuits.hippocampus.inputs import LoopInputs, mec_modules, prepare_inputs
from circuits.hippocampus.network import (
    DEFAULT_RECORD,
    LoopNetwork,
    build_network,
    present_walk,
)
from circuits.hippocampus.params import HippocampusParams
from circuits.spikes import SpikeTrains
from models.seeding import child_seed
from models.worlds import Walk, World

__all__ = [
    "HippocampalLoop",
    "HippocampusReadout",
    "check_loop_memory",
    "decode",
    "loop_memory",
    "run_walk",
]


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
        Population name -> :class:`~circuits.spikes.SpikeTrains` (unpacks as
        ``(indices, times_s, size)``; ``analysis.nwb.write_spikes(path, readout.spikes,
        ...)`` writes them to NWB).
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
    spikes: dict[str, SpikeTrains]
    timings: dict[str, float] = field(default_factory=dict)


class HippocampalLoop:
    """The spiking entorhinal-hippocampal loop (TEM-t) on one world.

    Parameters
    ----------
    params
        Loop parameters (default :class:`~circuits.hippocampus.params.HippocampusParams`).
    world
        The graph world whose walks the loop runs (:mod:`models.worlds`); it fixes the
        grid modules (:func:`~circuits.hippocampus.inputs.mec_modules`) and the actions.
    seed
        Seeds the LEC codes and the path-integration drift (child seeds by name).
    record
        Populations whose spikes the readout holds (default :data:`DEFAULT_RECORD`, all
        the decoding needs).
    directory
        Build directory of the ``cpp_standalone`` backend.
    report
        Brian2 progress report (``"text"``, ``"stdout"``) or None.
    memory_budget_gib
        Refuse (:class:`models._memory.MemoryBudgetError`) a walk whose estimate
        (:func:`loop_memory`) exceeds this many GiB (default: the machine's budget).

    Notes
    -----
    One loop runs one walk: memory neurons are recruited from the walk's first step and the
    clock starts at zero; build a new loop for another walk. With the numpy and cython
    backends :attr:`network` and :attr:`groups` are there before :meth:`run`, so monitors
    of your own can be added; with ``cpp_standalone`` the network is built inside
    :meth:`run` (one C++ project per walk).
    """

    def __init__(self, params: HippocampusParams | None, world: World, *,
                 seed: int | None = 0, record: tuple[str, ...] = DEFAULT_RECORD,
                 directory: str | Path | None = None, report: str | None = None,
                 memory_budget_gib: float | None = None) -> None:
        self.params = params if params is not None else HippocampusParams()
        if not isinstance(world, World):
            raise TypeError(f"world must be a models.worlds.World (e.g. square_world(4, 4)), "
                            f"got {type(world).__name__}")
        self.params.validate()
        self.world = world
        self.seed = seed
        self.record = tuple(record)
        self.directory = directory
        self.report = report
        self.memory_budget_gib = memory_budget_gib
        self.modules = mec_modules(self.params.mec, world)
        self._net: LoopNetwork | None = None
        self._ran = False

    @property
    def network(self) -> brian2.Network:
        """The loop's ``brian2.Network`` (numpy and cython backends; built on first use).

        Add monitors of your own before :meth:`run`; they never change the simulation::

            mon = SpikeMonitor(loop.groups["memory"])
            loop.network.add(mon)
        """
        return self._built().network

    @property
    def groups(self) -> dict[str, brian2.Group]:
        """Population name -> Brian2 group.

        MEC ``grid`` (query), ``bump``, ``hold``, ``arbiter``, ``conjunctive``; ``lec``; HPC
        ``memory`` and ``interneuron``; the spike generators ``start``, ``action``, ``observation``,
        ``recruit``, ``theta``, ``recall_onset``
        (:class:`~circuits.hippocampus.network.LoopNetwork`).
        """
        return self._built().groups

    @property
    def synapses(self) -> dict[str, brian2.Synapses]:
        """Projection name -> ``brian2.Synapses``.

        E.g. ``key``: MEC->HPC, ``value``: HPC->LEC.
        """
        return self._built().synapses

    def _built(self) -> LoopNetwork:
        if self.params.backend == "cpp_standalone":
            raise RuntimeError("HippocampalLoop.network needs the numpy or cython backend: "
                               "with cpp_standalone run() builds a fresh C++ project")
        if self._net is None:
            check_loop_memory(self.params, 0, budget_gib=self.memory_budget_gib)
            with brian_backend(self.params.backend, dt=self.params.timing.dt):
                seed_memory_spikes(self.params, self.seed)
                self._net = build_network(self.params, self.modules, self.world,
                                          record=self.record)
        return self._net

    def run(self, walk: Walk) -> HippocampusReadout:
        """Run the loop along ``walk``; decode MEC phases and predictions per step.

        Parameters
        ----------
        walk
            A walk on the loop's world (:func:`models.worlds.random_walk`); ``T`` actions
            make ``T + 1`` slots of ``timing.step``.

        Returns
        -------
        HippocampusReadout

        Raises
        ------
        ValueError
            A walk the world does not allow, or more steps than memory neurons without
            ``memory.recycle``; the message names the field.
        RuntimeError
            A second walk on the same loop.
        """
        if self._ran:
            raise RuntimeError("a HippocampalLoop runs one walk (its memories and clock "
                               "carry on); build a new HippocampalLoop for another walk")
        params = self.params
        check_loop_memory(params, len(walk.actions), budget_gib=self.memory_budget_gib)
        inputs = prepare_inputs(params, self.world, walk, self.seed, modules=self.modules)
        T = len(walk.actions)
        self._ran = True
        with brian_backend(params.backend, self.directory, dt=params.timing.dt) as info:
            if params.backend == "cpp_standalone":
                self.directory = info.directory
            if self._net is None:
                seed_memory_spikes(params, self.seed)
                self._net = build_network(params, self.modules, self.world,
                                          record=self.record)
            net = self._net
            present_walk(net, inputs)
            run_network(net.network, (T + 1) * inputs.step * second, info,
                        report=self.report)
            spikes = {name: SpikeTrains(indices=np.asarray(m.i[:]),
                                        times=np.asarray(m.t[:] / second),
                                        size=len(net.groups[name]), name=name)
                      for name, m in net.spike_monitors.items()}
            key_syn = net.synapses["key"]
            keys = np.zeros((inputs.modules.n_cells, params.memory.n))
            keys[np.asarray(key_syn.i[:]), np.asarray(key_syn.j[:])] = np.asarray(key_syn.w[:])
            value_syn = net.synapses["value"]
            values = np.zeros((params.memory.n, params.memory.n_lec))
            values[np.asarray(value_syn.i[:]), np.asarray(value_syn.j[:])] = \
                np.asarray(value_syn.w[:])
        return decode(params, inputs, spikes, keys, values, info.timings)


def seed_memory_spikes(params: HippocampusParams, seed: int | None) -> None:
    """Seed Brian2's generator for Poisson memory neurons (``memory.spiking``).

    Call it inside the backend's context, before the network is built (the first
    thresholds are drawn then). Deterministic memory neurons draw nothing: no call is made.
    """
    if params.memory.spiking == "poisson":
        brian2.seed(child_seed(seed, "memory_spikes") % 2**32)


def run_walk(params: HippocampusParams, world: World, walk: Walk, *, seed: int | None = 0,
             directory=None, record: tuple[str, ...] = DEFAULT_RECORD,
             report: str | None = None) -> HippocampusReadout:
    """Run the loop along ``walk`` and decode MEC phases and predictions per step.

    Same as ``HippocampalLoop(params, world, seed=seed, ...).run(walk)``; the memory guard comes
    first, before anything is made.
    """
    check_loop_memory(params, len(walk.actions))  # before any input or object is built
    loop = HippocampalLoop(params, world, seed=seed, record=record, directory=directory,
                           report=report)
    return loop.run(walk)


def decode(params: HippocampusParams, inputs: LoopInputs, spikes: dict[str, SpikeTrains],
           keys: np.ndarray, values: np.ndarray, timings: dict) -> HippocampusReadout:
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
    """Estimated bytes of :func:`run_walk` on a walk of ``steps`` steps, per component.

    Each with the field that drives it (``(bytes, field)``; fields without prefix).

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
    """Refuse a walk of ``steps`` steps whose estimate exceeds the memory budget.

    Raises :class:`models._memory.MemoryBudgetError` when the estimate (:func:`loop_memory`) is over
    the budget, before anything is built.

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

