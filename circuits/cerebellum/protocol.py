"""Write and read protocols of the cerebellar SDM circuit, and their readouts.

:class:`CerebellarSDM` is the user-facing object::

    sdm = CerebellarSDM(CerebellumParams(), seed=0)
    sdm.write(keys, values)        # keys on the mossy fibres, climbing fibres = value bits
    out = sdm.read(queries)        # plasticity off; out.bits decoded from the nuclear cells

Each call presents its patterns one per time slot and returns a :class:`CerebellumReadout`:
spikes per population, decoded bits, the active granule set of every presentation, the
summed PF (and MLI) drive of every Purkinje cell, and the PF->PC weights before and after.

Backends: with ``"numpy"`` or ``"cython"`` the network lives in this process and each call
continues the simulation. With ``"cpp_standalone"`` each call compiles and runs the whole
history so far (all earlier writes and reads, with the same spikes) in one C++ program and
returns the readout of the new presentations; the build directory is reused, so only the
first build compiles everything. ``"cuda_standalone"`` does the same as a CUDA program on a
GPU (brian2cuda; :mod:`circuits.cuda`, the ``cuda`` argument), with Brian2's own granule code.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import brian2
import numpy as np
from brian2 import ms, second

from circuits.backend import STANDALONE_BACKENDS, BackendInfo, brian_backend, run_network
from circuits.cerebellum.mossy import (
    active_window,
    background_spike_trains,
    lead_in,
    mossy_spike_trains,
)
from circuits.cerebellum.network import (
    CerebellarNetwork,
    GranuleWiring,
    build_network,
    random_wiring,
)
from circuits.cerebellum.params import CerebellumParams, derive
from circuits.cuda import CudaOptions, require_for
from circuits.spikes import SpikeTrains
from models.seeding import numpy_rng

__all__ = [
    "CerebellarSDM",
    "CerebellumReadout",
    "SpikeTrains",
    "check_patterns",
    "counters_from_weights",
    "granule_active_sets",
    "lead_in",
    "mossy_spike_trains",
]

POPULATIONS = ("mossy", "granule", "golgi", "interneuron", "purkinje", "climbing", "nuclei")


@dataclass
class CerebellumReadout:
    """What one ``write`` or ``read`` call produced.

    Attributes
    ----------
    kind
        ``"write"`` or ``"read"``.
    onsets
        ``(P,)`` presentation onsets (s); presentation ``k`` lasts ``slot`` seconds.
    patterns, values
        What was presented: keys or queries ``(P, n)``, and the value bits of writes.
    spikes
        Population name -> :class:`~circuits.spikes.SpikeTrains` within this call's time
        span (``analysis.nwb.write_spikes(path, readout.spikes, ...)`` writes them to NWB).
    bits
        ``(P, v)`` decoded bits: 1 where the nuclear cell fired in the decode window.
    nuclei_counts, purkinje_counts
        ``(P, v)`` spike counts in the decode window.
    active_granule
        For every presentation, the sorted indices of granule cells that fired.
    pf_drive, mli_drive
        ``(P, v)`` summed PF weight and summed MLI relay weight reaching each Purkinje
        cell; ``net_drive = pf_drive - mli_drive`` is ``-ltp`` times the SDM sum of counters.
    weights_before, weights_after
        PF->PC weights (one per synapse, see ``pf_pre``/``pf_post``) around this call.
    """

    kind: str
    onsets: np.ndarray
    slot: float
    patterns: np.ndarray
    values: np.ndarray | None
    spikes: dict[str, SpikeTrains]
    bits: np.ndarray
    nuclei_counts: np.ndarray
    purkinje_counts: np.ndarray
    active_granule: list[np.ndarray]
    pf_drive: np.ndarray
    mli_drive: np.ndarray
    weights_before: np.ndarray
    weights_after: np.ndarray
    pf_pre: np.ndarray
    pf_post: np.ndarray
    n_granule: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def net_drive(self) -> np.ndarray:
        """``pf_drive - mli_drive``: PF input above the interneuron-subtracted baseline."""
        return self.pf_drive - self.mli_drive

    @property
    def coding_level(self) -> np.ndarray:
        """``(P,)`` fraction of granule cells active in each presentation."""
        return np.array([len(a) / self.n_granule for a in self.active_granule])

    def weight_matrix(self, which: str = "after") -> np.ndarray:
        """Dense ``(n_granule, v)`` PF->PC weights (NaN where no synapse)."""
        weights = self.weights_after if which == "after" else self.weights_before
        v = int(self.pf_post.max()) + 1 if len(self.pf_post) else 0
        out = np.full((self.n_granule, v), np.nan)
        out[self.pf_pre, self.pf_post] = weights
        return out


def counters_from_weights(weights: np.ndarray, params: CerebellumParams) -> np.ndarray:
    r"""SDM counters encoded by PF->PC weights: :math:`c = (w_0 - w) / \mathrm{ltp}`.

    A stored 1 (climbing fibre present) depresses the synapse, so a positive counter means
    the majority of writes through that granule cell stored a 1 on that output.
    """
    pl = params.plasticity
    return (pl.baseline_weight - np.asarray(weights)) / pl.ltp


@dataclass
class _Batch:
    kind: str
    patterns: np.ndarray
    values: np.ndarray | None
    onset: float  # seconds
    slot: float  # seconds
    mossy: tuple[np.ndarray, np.ndarray]
    climbing: tuple[np.ndarray, np.ndarray]
    lead: float = 0.0  # seconds of background before ``onset`` (first batch, mossy.background)
    rest: float = 0.0  # seconds without a stimulus after the presentations (a "rest" entry)

    @property
    def duration(self) -> float:
        return self.slot * len(self.patterns) + self.rest

    @property
    def onsets(self) -> np.ndarray:
        return self.onset + self.slot * np.arange(len(self.patterns))


def check_patterns(name: str, x: Any, length: int, what: str, maximum: int = 1) -> np.ndarray:
    """``x`` as a ``(batch, length)`` uint8 array of 0/1, or one ValueError naming ``name``.

    ``maximum`` > 1 allows the integers ``0..maximum`` (climbing-fibre burst sizes).
    """
    arr = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a (batch, {length}) array, got shape {arr.shape}")
    if arr.shape[1] != length:
        raise ValueError(f"{name} must have last dimension {length} ({what}), "
                         f"got shape {arr.shape}")
    allowed = np.arange(maximum + 1)
    if arr.size and not np.isin(arr, allowed).all():
        bad = arr[~np.isin(arr, allowed)].flat[0].item()
        if maximum == 1:
            raise ValueError(f"{name} must be binary (0/1), found the value {bad!r}")
        raise ValueError(f"{name} must be integers in 0..{maximum} (climbing.burst), found "
                         f"the value {bad!r}")
    if len(arr) == 0:
        raise ValueError(f"{name} is empty")
    return arr.astype(np.uint8)


def granule_active_sets(params: CerebellumParams, patterns: Any, *,
                        wiring: GranuleWiring | None = None, seed: int | None = 0,
                        directory: str | Path | None = None) -> list[np.ndarray]:
    """Active granule cells for each pattern, simulating the granular layer only.

    Mossy fibres, granule and Golgi cells (no Purkinje layer), one pattern per read slot;
    cheaper than a full :class:`CerebellarSDM` when only the granule code is needed.
    """
    params.validate()
    patterns = check_patterns("patterns", patterns, params.address_bits, "address_bits")
    slot = float(params.protocol.read_slot / second)
    if wiring is None:  # refuse sizes over budget before the wiring is drawn
        from circuits.memory import check_cerebellum

        check_cerebellum(params, presentations=len(patterns),
                         duration_s=lead_in(params) + slot * len(patterns))
        wiring = random_wiring(params, seed)
    lead = lead_in(params)
    onsets = lead + slot * np.arange(len(patterns))
    mf_i, mf_t = mossy_spike_trains(params, patterns, onsets,
                                    numpy_rng(seed, "mossy_spikes", 0), slot=slot, lead=lead)
    with brian_backend(params.backend, directory, dt=params.protocol.dt) as info:
        net = build_network(params, wiring, seed=seed, record=("granule",),
                            layers="granular")
        net.groups["mossy"].set_spikes(mf_i, mf_t * second)
        run_network(net.network, (lead + slot * len(patterns)) * second, info)
        monitor = net.spike_monitors["granule"]
        t = np.asarray(monitor.t[:] / second)
        i = np.asarray(monitor.i[:])
    begin, end = active_window(params, slot)
    return [np.unique(i[(t >= onset + begin - 1e-12) & (t < onset + end - 1e-12)])
            for onset in onsets]


def check_schedule(params: CerebellumParams, schedule: Sequence[tuple[str, Any, Any]]
                   ) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """Validate a schedule: ``(kind, patterns, values)`` entries as uint8 arrays.

    A ``("rest", seconds, None)`` entry is a time without stimuli (its "patterns" are the
    duration in s, as a float).

    Raises one ``ValueError`` naming the entry: not a triple, unknown kind, a read or rest
    with values, keys and values of different lengths, bad patterns, a rest that is not a
    positive duration, or an empty schedule.
    """
    batches: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    for k, entry in enumerate(schedule):
        if not isinstance(entry, tuple | list) or len(entry) != 3:
            raise ValueError(f"schedule[{k}] must be (kind, patterns, values), "
                             f"got {entry!r:.60}")
        kind, patterns, values = entry
        if kind == "write":
            keys = check_patterns(f"schedule[{k}] keys", patterns, params.address_bits,
                                  "address_bits")
            values = check_patterns(f"schedule[{k}] values", values, params.value_bits,
                                    "value_bits", maximum=params.climbing.burst)
            if len(keys) != len(values):
                raise ValueError(f"schedule[{k}]: keys and values must have the same "
                                 f"number of rows, got {len(keys)} and {len(values)}")
            batches.append(("write", keys, values))
        elif kind == "read":
            if values is not None:
                raise ValueError(f"schedule[{k}]: a read takes no values")
            batches.append(("read", check_patterns(f"schedule[{k}] queries", patterns,
                                                   params.address_bits, "address_bits"),
                            None))
        elif kind == "rest":
            if values is not None:
                raise ValueError(f"schedule[{k}]: a rest takes no values")
            if isinstance(patterns, bool) or not isinstance(patterns, int | float) \
                    or not math.isfinite(patterns) or patterns <= 0:
                raise ValueError(f"schedule[{k}]: a rest takes its duration in s (> 0), got "
                                 f"{patterns!r:.60}")
            batches.append(("rest", float(patterns), None))
        else:
            raise ValueError(f"schedule[{k}]: kind must be 'write', 'read' or 'rest', got "
                             f"{kind!r}")
    if not batches:
        raise ValueError("schedule is empty")
    return batches


class CerebellarSDM:
    """The cerebellar cortex as a spiking sparse distributed memory.

    Parameters
    ----------
    params
        Circuit parameters (defaults: :class:`CerebellumParams`).
    seed
        Seeds the wiring (when not given), connectivity and Poisson mossy-fibre spikes.
    wiring
        Granule-cell addresses or selected coordinates; random if omitted. Hand the same
        wiring to the abstract SDM (:meth:`abstract_sdm`) to compare neuron by neuron.
    directory
        Build directory of a standalone backend (``cpp_standalone``, ``cuda_standalone``).
    report
        Brian2 progress report (``"text"``, ``"stdout"``) or None.
    record
        Populations whose spikes are kept (default all; must include granule, purkinje and
        nuclei). Fewer monitors make long numpy-backend runs faster.
    memory_budget_gib
        Refuse (:class:`circuits.memory.MemoryBudgetError`) before building a network whose
        estimated memory exceeds this many GiB (default: ``MEMCIRCUITS_MEMORY_BUDGET_GIB`` or
        80% of physical memory; :func:`circuits.memory.cerebellum_footprint`).
    cuda
        Toolkit, GPU and compute capability of ``backend="cuda_standalone"``
        (:class:`circuits.cuda.CudaOptions`; default: found and detected).
    """

    def __init__(self, params: CerebellumParams | None = None, *, seed: int | None = 0,
                 wiring: GranuleWiring | None = None, directory: str | Path | None = None,
                 report: str | None = None, record: tuple[str, ...] | None = None,
                 memory_budget_gib: float | None = None,
                 cuda: CudaOptions | None = None) -> None:
        self.params = params if params is not None else CerebellumParams()
        self.params.validate()
        require_for(self.params.backend)  # one clear error now, not at the first presentation
        self.derived = derive(self.params)
        self.seed = seed
        if wiring is None:  # refuse sizes over budget before the wiring is drawn
            from circuits.memory import check_cerebellum

            check_cerebellum(self.params, presentations=0, duration_s=0.0,
                             budget_gib=memory_budget_gib)
        self.wiring = wiring if wiring is not None else random_wiring(self.params, seed)
        self._check_wiring(self.wiring)
        self.directory = directory
        self.report = report
        self.record = record
        if record is not None:
            missing = {"granule", "purkinje", "nuclei"} - set(record)
            if missing:
                raise ValueError(f"record must include {', '.join(sorted(missing))} "
                                 f"(the readout needs them)")
        self.memory_budget_gib = memory_budget_gib
        self.cuda = cuda
        self._batches: list[_Batch] = []
        self._readouts: list[CerebellumReadout] = []
        self._net: CerebellarNetwork | None = None
        self._time = 0.0
        self.timings: dict[str, float] = {}

    # ----------------------------------------------------------------- validation
    def _check_wiring(self, wiring: GranuleWiring) -> None:
        g, n = self.params.granule, self.params.address_bits
        if g.design == "full":
            a = wiring.addresses
            if a is None:
                raise ValueError("wiring.addresses is required for the full granule design")
            if a.ndim != 2 or a.shape[1] != n:
                raise ValueError(f"wiring.addresses must have shape (granule.n, {n}), "
                                 f"got {a.shape}")
            if not np.isin(a, (0, 1)).all():
                raise ValueError("wiring.addresses must be binary (0/1)")
        else:
            c, t = wiring.coordinates, wiring.targets
            if c is None or t is None:
                raise ValueError("wiring.coordinates and wiring.targets are required for the "
                                 "selected granule design")
            if c.shape != t.shape or c.ndim != 2 or c.shape[1] != g.inputs:
                raise ValueError(f"wiring.coordinates and targets must have shape "
                                 f"(granule.n, {g.inputs})")
            if c.min() < 0 or c.max() >= n:
                raise ValueError(f"wiring.coordinates must be bit indices in [0, {n})")
        if wiring.n_granule != g.n:
            raise ValueError(f"the wiring has {wiring.n_granule} granule cells but "
                             f"granule.n is {g.n}")

    # ----------------------------------------------------------------- stimuli
    def _climbing_spikes(self, values: np.ndarray | None,
                         onsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if values is None:
            return np.array([], dtype=np.int64), np.array([])
        dt = float(self.params.protocol.dt / second)
        offset = float(self.derived.cf_offset / second)
        rows, cols = np.nonzero(values)
        count = values[rows, cols].astype(np.int64)  # spikes of each burst (1: one spike)
        rows, cols = np.repeat(rows, count), np.repeat(cols, count)
        nth = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)  # k-th spike
        gap = float(self.params.climbing.burst_interval / second)
        steps = np.round((onsets[rows] + offset + nth * gap) / dt).astype(np.int64)
        order = np.lexsort((cols, steps))
        return cols[order].astype(np.int64), steps[order] * dt

    def _make_batch(self, kind: str, patterns: Any, values: np.ndarray | None) -> _Batch:
        if kind == "rest":
            return self._rest_batch(float(patterns))
        proto = self.params.protocol
        slot = float((proto.write_slot if kind == "write" else proto.read_slot) / second)
        lead = 0.0 if self._batches else lead_in(self.params)
        onset = (self._batches[-1].onset + self._batches[-1].duration if self._batches
                 else lead)
        batch = _Batch(kind=kind, patterns=patterns, values=values, onset=onset, slot=slot,
                       mossy=(np.array([], dtype=np.int64), np.array([])),
                       climbing=(np.array([], dtype=np.int64), np.array([])), lead=lead)
        batch.mossy = mossy_spike_trains(self.params, patterns, batch.onsets,
                                         numpy_rng(self.seed, "mossy_spikes",
                                                   len(self._batches)), slot=slot, lead=lead)
        batch.climbing = self._climbing_spikes(values, batch.onsets)
        return batch

    def _rest_batch(self, seconds: float) -> _Batch:
        """A batch without stimuli: ``seconds`` of silence (or of the tonic background)."""
        lead = 0.0 if self._batches else lead_in(self.params)
        onset = (self._batches[-1].onset + self._batches[-1].duration if self._batches
                 else lead)
        empty = (np.array([], dtype=np.int64), np.array([]))
        batch = _Batch(kind="rest", patterns=np.zeros((0, self.params.address_bits), np.uint8),
                       values=None, onset=onset,
                       slot=float(self.params.protocol.read_slot / second), mossy=empty,
                       climbing=empty, lead=lead, rest=seconds)
        if self.params.mossy.background:
            batch.mossy = background_spike_trains(
                self.params, onset - lead, onset + seconds,
                numpy_rng(self.seed, "mossy_spikes", len(self._batches)))
        return batch

    # ----------------------------------------------------------------- public API
    def rest(self, seconds: float) -> CerebellumReadout:
        """Let ``seconds`` pass without stimuli (the tonic background fires if it exists).

        Nothing is written (the plasticity gate is closed); time-dependent traces, such as
        a decaying opposing memory (``plasticity.opposing_tau``), evolve. The readout has
        no presentations, only the spikes of the rest.
        """
        return self.present([("rest", seconds, None)])[0]

    def write(self, keys: Any, values: Any) -> CerebellumReadout:
        """Present each key on the mossy fibres with climbing fibres firing for value bits 1.

        Parameters
        ----------
        keys
            ``(P, address_bits)`` binary keys (addresses).
        values
            ``(P, value_bits)`` binary values: the climbing fibre of Purkinje cell ``j``
            fires in presentation ``k`` iff ``values[k, j] == 1``. With ``climbing.burst``
            B > 1, integers ``0..B``: the climbing fibre fires a burst of ``values[k, j]``
            spikes ``climbing.burst_interval`` apart.

        Returns
        -------
        CerebellumReadout
            The ``"write"`` readout: spikes, active granule cells, PF->PC weights before and
            after, and the bits the nuclear cells decoded during the writes.

        Raises
        ------
        ValueError
            If ``keys`` or ``values`` are not binary matrices of the circuit's widths, or
            differ in row count.
        """
        keys = check_patterns("keys", keys, self.params.address_bits, "address_bits")
        values = check_patterns("values", values, self.params.value_bits, "value_bits",
                                maximum=self.params.climbing.burst)
        if len(keys) != len(values):
            raise ValueError(f"keys and values must have the same number of rows, "
                             f"got {len(keys)} and {len(values)}")
        return self._present(self._make_batch("write", keys, values))

    def read(self, queries: Any) -> CerebellumReadout:
        """Present each query with plasticity off and decode the nuclear cells' output.

        Parameters
        ----------
        queries
            ``(P, address_bits)`` binary queries.

        Returns
        -------
        CerebellumReadout
            The ``"read"`` readout: ``bits`` ``(P, value_bits)`` decoded from the nuclear
            cells, spike counts, active granule cells and the PF/MLI drive per Purkinje cell.

        Raises
        ------
        ValueError
            If ``queries`` is not a binary matrix of ``address_bits`` columns.
        """
        queries = check_patterns("queries", queries, self.params.address_bits,
                                       "address_bits")
        return self._present(self._make_batch("read", queries, None))

    def population_sizes(self) -> dict[str, int]:
        """Number of neurons in each population."""
        d, p = self.derived, self.params
        n_rails = 2 * p.address_bits if p.mossy.rails == "two" else p.address_bits
        if self._net is not None:
            return {name: len(group) for name, group in self._net.groups.items()}
        sizes = {"mossy": n_rails, "granule": p.granule.n, "purkinje": p.value_bits,
                 "climbing": p.value_bits, "nuclei": p.value_bits}
        if p.golgi.enabled:
            sizes["golgi"] = d.n_golgi
        if p.purkinje.pf_connectivity >= 1:  # sparse: pools depend on the drawn connectivity
            sizes["interneuron"] = d.n_interneurons
        return sizes

    @property
    def network(self) -> brian2.Network:
        """The circuit's ``brian2.Network`` (numpy and cython backends; built on first use).

        Every group, synapse and monitor of the circuit is in it (:attr:`groups`); add
        monitors of your own before :meth:`write` / :meth:`read` and they record every later
        call (the simulation continues from call to call)::

            sdm = CerebellarSDM(params, seed=0)
            mon = SpikeMonitor(sdm.groups["granule"])
            sdm.network.add(mon)
            sdm.write(keys, values)

        A monitor never changes the simulation. With ``cpp_standalone`` every call compiles
        and runs the whole history in a fresh C++ project, so there is no network to add
        to: a ``RuntimeError`` says so.
        """
        return self._built().network

    @property
    def groups(self) -> dict[str, brian2.Group]:
        """Population name -> Brian2 group, built on first use, as :attr:`network`.

        ``mossy``, ``granule``, ``golgi``, ``interneuron``, ``purkinje``, ``climbing``, ``nuclei``;
        see :mod:`circuits.cerebellum.network`.
        """
        return self._built().groups

    def _built(self) -> CerebellarNetwork:
        if self.params.backend in STANDALONE_BACKENDS:
            raise RuntimeError("CerebellarSDM.network needs the numpy or cython backend: "
                               f"with {self.params.backend} every call builds a fresh project")
        if self._net is None:
            if not self._batches:
                self._guard_memory([])
            with brian_backend(self.params.backend, dt=self.params.protocol.dt):
                self._net = build_network(self.params, self.wiring, seed=self.seed,
                                          record=self.record)
        return self._net

    @property
    def history(self) -> list[CerebellumReadout]:
        """Readouts of every call so far, in order."""
        return list(self._readouts)

    def initial_weights(self) -> np.ndarray:
        """PF->PC weights before any presentation (the baseline ``w0``)."""
        n_syn = len(self._pf_indices()[0])
        return np.full(n_syn, self.params.plasticity.baseline_weight)

    def _pf_indices(self) -> tuple[np.ndarray, np.ndarray]:
        if self._net is not None:
            return self._net.pf_pre, self._net.pf_post
        r, v = self.params.granule.n, self.params.value_bits
        if self.params.purkinje.pf_connectivity >= 1:
            return np.tile(np.arange(r), v), np.repeat(np.arange(v), r)
        raise RuntimeError("connectivity is known once the network is built")

    # ----------------------------------------------------------------- simulation
    def write_then_read(self, keys: Any, values: Any,
                        queries: Any) -> tuple[CerebellumReadout, CerebellumReadout]:
        """``write(keys, values)`` then ``read(queries)``, simulated together.

        Same result as the two calls; with ``cpp_standalone`` it compiles and runs once
        instead of twice.
        """
        write, read = self.present([("write", keys, values), ("read", queries, None)])
        return write, read

    def present(self, schedule: Sequence[tuple[str, Any, Any]]) -> list[CerebellumReadout]:
        """Run a schedule of writes and reads in order; one readout per entry.

        Parameters
        ----------
        schedule
            Entries ``("write", keys, values)`` or ``("read", queries, None)``. The same as
            calling :meth:`write` and :meth:`read` in turn, but with ``cpp_standalone`` the
            whole schedule compiles and runs once (a capacity sweep that reads after every
            load costs one build, not one per entry).
        """
        batches = check_schedule(self.params, schedule)
        if self.params.backend not in STANDALONE_BACKENDS:
            return [self._present(self._make_batch(kind, x, v)) for kind, x, v in batches]
        for kind, x, v in batches:
            self._batches.append(self._make_batch(kind, x, v))
        readouts = self._simulate_standalone(new=len(batches))
        self._readouts.extend(readouts)
        return readouts

    def _present(self, batch: _Batch) -> CerebellumReadout:
        backend = self.params.backend
        start = time.perf_counter()
        if backend in STANDALONE_BACKENDS:
            self._batches.append(batch)
            (readout,) = self._simulate_standalone(new=1)
        else:
            before = (self._readouts[-1].weights_after.copy() if self._readouts else None)
            if not self._batches:
                self._guard_memory([batch])
            with brian_backend(backend, dt=self.params.protocol.dt) as info:
                if self._net is None:
                    self._net = build_network(self.params, self.wiring, seed=self.seed,
                                              record=self.record)
                if before is None:
                    before = self._net.synapses["pf_purkinje"].w[:].copy()
                self._batches.append(batch)
                self._run_batch(self._net, batch, info)
                readout = self._collect(self._net, batch, before)
            readout.timings.update(info.timings)
        readout.timings["wall_s"] = time.perf_counter() - start
        self._readouts.append(readout)
        return readout

    def _guard_memory(self, batches: list[_Batch]) -> None:
        """Refuse before building if the estimated memory of ``batches`` is over budget."""
        from circuits.memory import check_cerebellum

        check_cerebellum(self.params, presentations=sum(len(b.patterns) for b in batches),
                         duration_s=sum(b.lead + b.duration for b in batches),
                         budget_gib=self.memory_budget_gib)

    def _plasticity_gate(self) -> brian2.TimedArray:
        """TimedArray (1-ms bins) that is 1 during write slots, 0 elsewhere.

        With a tonic background (``mossy.background``) only during each write's stimulus
        (the active window, :func:`~circuits.cerebellum.mossy.active_window`, plus the PF
        delay) and around its climbing-fibre spikes (a burst's too): the spontaneous granule
        spikes between stimuli do not write.
        """
        total = self._batches[-1].onset + self._batches[-1].duration
        gate = np.zeros(round(total * 1000) + 1)
        for batch in self._batches:
            if batch.kind != "write":
                continue
            if not self.params.mossy.background:
                start = round(batch.onset * 1000)
                gate[start:start + round(batch.duration * 1000)] = 1.0
                continue
            begin, end = active_window(self.params, batch.slot)
            delay = float(self.derived.pf_delay / second)
            cf = float(self.derived.cf_offset / second)
            climbing = self.params.climbing
            last = cf + (climbing.burst - 1) * float(climbing.burst_interval / second)
            for onset in batch.onsets:  # PF arrivals of the active window's spikes
                gate[round((onset + begin + delay) * 1000):
                     math.ceil((onset + end + delay) * 1000) + 1] = 1.0
                gate[round((onset + cf) * 1000) - 1:round((onset + last) * 1000) + 2] = 1.0
        return brian2.TimedArray(gate, dt=1 * ms)

    def _run_batch(self, net: CerebellarNetwork, batch: _Batch, info: BackendInfo) -> None:
        net.namespace["plastic_gate"] = self._plasticity_gate()
        net.groups["mossy"].set_spikes(batch.mossy[0], batch.mossy[1] * second)
        net.groups["climbing"].set_spikes(batch.climbing[0], batch.climbing[1] * second)
        run_network(net.network, (batch.lead + batch.duration) * second, info,
                    report=self.report)

    def _simulate_standalone(self, new: int) -> list[CerebellumReadout]:
        """Compile and run the whole history as one C++ (or CUDA) program (one ``run``).

        Returns the readouts of the last ``new`` batches.
        """
        start = time.perf_counter()
        try:
            self._guard_memory(self._batches)
        except ValueError:
            del self._batches[-new:]  # nothing ran: the refused entries are not history
            raise
        with brian_backend(self.params.backend, self.directory, dt=self.params.protocol.dt,
                           cuda=self.cuda) as info:
            self.directory = info.directory
            net = build_network(self.params, self.wiring, seed=self.seed, record=self.record)
            net.namespace["plastic_gate"] = self._plasticity_gate()
            net.groups["mossy"].set_spikes(
                np.concatenate([b.mossy[0] for b in self._batches]),
                np.concatenate([b.mossy[1] for b in self._batches]) * second)
            net.groups["climbing"].set_spikes(
                np.concatenate([b.climbing[0] for b in self._batches]),
                np.concatenate([b.climbing[1] for b in self._batches]) * second)
            total = self._batches[-1].onset + self._batches[-1].duration
            run_network(net.network, total * second, info, report=self.report)
            self.timings = dict(info.timings)
            self._net = net
            final = net.synapses["pf_purkinje"].w[:].copy()
            before = (self._readouts[-1].weights_after if self._readouts
                      else self.initial_weights())
            batches = self._batches[-new:]
            readouts = []
            for k, batch in enumerate(batches):
                later_writes = any(b.kind == "write" for b in batches[k + 1:])
                # weights are read at the end only: exact after the last write
                after = np.full_like(final, np.nan) if later_writes else final
                readout = self._collect(net, batch, before, weights_after=after)
                readout.timings.update(self.timings)
                readout.timings["wall_s"] = time.perf_counter() - start
                readouts.append(readout)
                before = after
        return readouts

    def _collect(self, net: CerebellarNetwork, batch: _Batch, before: np.ndarray,
                 weights_after: np.ndarray | None = None) -> CerebellumReadout:
        start, stop = batch.onset, batch.onset + batch.duration
        spikes = {}
        for name, monitor in net.spike_monitors.items():
            t = np.asarray(monitor.t[:] / second)
            i = np.asarray(monitor.i[:])
            sel = (t >= start - 1e-12) & (t < stop - 1e-12)
            spikes[name] = SpikeTrains(indices=i[sel].astype(np.int64), times=t[sel],
                                       size=len(net.groups[name]), name=name)
        onsets = batch.onsets
        v = self.params.value_bits
        decode = float(self.params.protocol.decode_window / second)
        windows = np.stack([onsets, onsets + decode], axis=1)
        nuclei_counts = spikes["nuclei"].counts(v, windows)
        purkinje_counts = spikes["purkinje"].counts(v, windows)
        slots = np.stack([onsets, onsets + batch.slot], axis=1)
        begin, end = active_window(self.params, batch.slot)
        active = []
        granule = spikes["granule"]
        for onset in onsets:
            sel = ((granule.times >= onset + begin - 1e-12)
                   & (granule.times < onset + end - 1e-12))
            active.append(np.unique(granule.indices[sel]))
        monitor = net.drive_monitor
        mt = np.asarray(monitor.t[:] / second)
        pf = np.asarray(monitor.pf_drive[:])  # (v, samples)
        mli = np.asarray(monitor.mli_drive[:])
        first = np.searchsorted(mt, slots[:, 0] - 1e-9)
        last = np.searchsorted(mt, slots[:, 1] - 1e-9) - 1
        pf_drive = (pf[:, last] - pf[:, first]).T
        mli_drive = (mli[:, last] - mli[:, first]).T
        if weights_after is None:
            weights_after = net.synapses["pf_purkinje"].w[:].copy()
        return CerebellumReadout(
            kind=batch.kind, onsets=onsets, slot=batch.slot, patterns=batch.patterns,
            values=batch.values, spikes=spikes, bits=(nuclei_counts > 0).astype(np.uint8),
            nuclei_counts=nuclei_counts, purkinje_counts=purkinje_counts,
            active_granule=active, pf_drive=pf_drive, mli_drive=mli_drive,
            weights_before=np.asarray(before), weights_after=np.asarray(weights_after),
            pf_pre=net.pf_pre, pf_post=net.pf_post, n_granule=self.params.granule.n)

