"""The CA3 protocols: :class:`CA3Circuit` stores patterns and retrieves them from cues.

Storage is offline, or simulates the online Hebbian write; retrieval runs in gamma cycles. Readouts:
:class:`CA3Readout` and :class:`WriteReadout` (see :mod:`circuits.hippocampus.ca3`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import brian2
import numpy as np
from brian2 import Quantity, SpikeGeneratorGroup, SpikeMonitor, mV, second, volt
from brian2.units.fundamentalunits import get_dimensions

from circuits.backend import brian_backend, run_network
from circuits.hippocampus.ca3.network import (
    CA3Network,
    SynapticState,
    _hebbian_block,
    build_network,
    load_state,
)
from circuits.hippocampus.ca3.params import CA3Params, derive
from circuits.spikes import SpikeTrains
from models._checks import check_bipolar, check_int
from models.seeding import numpy_rng

__all__ = ["CA3Circuit", "CA3Readout", "WriteReadout"]


@dataclass
class CA3Readout:
    r"""What one :meth:`CA3Circuit.retrieve` call produced.

    Attributes
    ----------
    cues
        ``(B, P, N)`` bipolar cues as presented.
    states
        ``(B, P, cycles + 1, N)`` int8 bipolar states read from the spikes: index 0 is the
        cue volley, index ``k`` the volley after ``k`` cycles.
    fields
        ``(B, P, cycles, N)`` local fields :math:`h_i = \sum_j W_{ij} s_j` of the state
        after ``k`` cycles, read from the membrane at the decision (None if not recorded).
    noise
        ``(B, P, cycles, N)`` membrane noise of each decision in units of :math:`h`
        (:math:`\sigma \xi / g_h`); cell ``i`` fires in cycle ``k + 1`` iff
        ``fields + states / (2 N) + noise > 0``. Zeros without noise.
    onsets
        ``(P,)`` probe onsets (s); probe ``p`` lasts ``(cycles + 2) * cycle``.
    spikes
        ``{"pyramidal": SpikeTrains}``: pyramidal spikes (global indices ``b * N + i``,
        times in s; :class:`~circuits.spikes.SpikeTrains`).
    stray_spikes
        Spikes off the volley times (0 in a correct run).
    """

    cues: np.ndarray
    states: np.ndarray
    fields: np.ndarray | None
    noise: np.ndarray
    onsets: np.ndarray
    cycle: float
    spikes: dict[str, SpikeTrains]
    stray_spikes: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def final(self) -> np.ndarray:
        """``(B, P, N)`` states after the last cycle."""
        return self.states[:, :, -1]


@dataclass
class WriteReadout:
    """What one :meth:`CA3Circuit.write` call produced: the state before and after."""

    patterns: list[np.ndarray]
    before: SynapticState
    after: SynapticState
    spikes: dict[str, SpikeTrains]  # {"pyramidal": ...}
    timings: dict[str, float] = field(default_factory=dict)


class CA3Circuit:
    """``n_blocks`` spiking CA3 attractor networks of ``params.n_units`` cells each.

    Parameters
    ----------
    params
        Circuit parameters (default :class:`CA3Params`).
    n_blocks
        Independent networks simulated side by side (own patterns, weights, noise).
    seed
        Seeds the membrane noise (a child seed per call).
    directory
        Build directory of the ``cpp_standalone`` backend.
    report
        Brian2 progress report (``"text"``, ``"stdout"``) or None.

    Examples
    --------
    >>> ca3 = CA3Circuit(CA3Params(n_units=100))           # doctest: +SKIP
    >>> ca3.store(patterns)                                  # offline Hebbian weights
    >>> out = ca3.retrieve(noisy_patterns, cycles=8)         # synchronous attractor steps
    >>> out.final                                            # (1, P, 100) states
    """

    def __init__(self, params: CA3Params | None = None, *, n_blocks: int = 1,
                 seed: int | None = 0, directory: str | Path | None = None,
                 report: str | None = None) -> None:
        self.params = params if params is not None else CA3Params()
        self.derived = derive(self.params)
        self.n_blocks = check_int("n_blocks", n_blocks, minimum=1)
        self.seed = seed
        self.directory = directory
        self.report = report
        self.state = SynapticState.empty(self.n_blocks, self.params.n_units)
        self.stored = [0] * self.n_blocks
        self._calls = 0
        self._pending: CA3Network | None = None

    # ------------------------------------------------------------------ network
    @property
    def network(self) -> brian2.Network:
        """The ``brian2.Network`` that the next :meth:`retrieve` runs.

        Numpy and cython backends; built on first use.

        Each :meth:`retrieve` and :meth:`write` simulates a fresh network from the synaptic
        state (which lives in numpy arrays between calls): monitors added here record the
        next retrieval (probe onsets from t = 0), after which this property holds a new
        network for the one after. The states are the same with or without it (the
        network always has the noise input, zero without noise: ``x + 0.0 = x``)::

            ca3 = CA3Circuit(CA3Params(n_units=100), seed=0)
            ca3.store(patterns)
            mon = SpikeMonitor(ca3.groups["pyramidal"])
            ca3.network.add(mon)
            out = ca3.retrieve(cues, cycles=5)
        """
        return self._prepared().network

    @property
    def groups(self) -> dict[str, brian2.Group]:
        """Population name -> group of :attr:`network`.

        ``pyramidal`` (``B N`` cells, global index ``b N + i``), ``basket`` (one per network),
        ``afferent`` (cue) and ``pacemaker`` (clock and reset) spike generators.
        """
        return self._prepared().groups

    def _prepared(self) -> CA3Network:
        if self.params.backend == "cpp_standalone":
            raise RuntimeError("CA3Circuit.network needs the numpy or cython backend: with "
                               "cpp_standalone every call builds a fresh C++ project")
        if self._pending is None:
            with brian_backend(self.params.backend):
                self._pending = build_network(
                    self.params, self.state, mode="retrieve",
                    noise=np.zeros((1, self.n_blocks * self.params.n_units)))
        return self._pending

    # ------------------------------------------------------------------ inputs
    def _patterns(self, name: str, patterns: Any) -> list[np.ndarray]:
        """Per-network bipolar patterns.

        A (m, N) array (one network), a (B, m, N) array, or a list of B arrays (m_b, N).
        """
        n = self.params.n_units
        if isinstance(patterns, list | tuple):
            if len(patterns) != self.n_blocks:
                raise ValueError(f"{name} must hold one pattern matrix per network "
                                 f"({self.n_blocks}), got {len(patterns)}")
            blocks = [_bipolar_matrix(f"{name}[{b}]", p, n) for b, p in enumerate(patterns)]
        else:
            blocks = list(self._block_array(name, patterns, "m", "patterns"))
        if sum(len(p) for p in blocks) == 0:
            raise ValueError(f"{name} is empty")
        return blocks

    def _block_array(self, name: str, value: Any, rows: str, what: str, *,
                     single: bool = False) -> np.ndarray:
        """A bipolar ``(B, rows, N)`` array, checked.

        With one network also ``(rows, N)`` (and ``(N,)`` if ``single``). The error names ``name``
        and the expected shape.
        """
        n = self.params.n_units
        arr = _bipolar_array(name, value)
        if self.n_blocks == 1 and arr.ndim == 2:
            arr = arr[None]
        elif self.n_blocks == 1 and single and arr.ndim == 1:
            arr = arr[None, None]
        if arr.ndim != 3 or arr.shape[0] != self.n_blocks or arr.shape[2] != n:
            raise ValueError(f"{name} must have shape ({self.n_blocks}, {rows}, {n}) "
                             f"(networks, {what}, n_units)"
                             + (f" or ({rows}, {n})" if self.n_blocks == 1 else "")
                             + f", got {arr.shape}")
        return arr

    def _cues(self, cues: Any) -> np.ndarray:
        arr = self._block_array("cues", cues, "P", "probes", single=True)
        if arr.shape[1] == 0:
            raise ValueError("cues is empty")
        return arr

    def _noise(self, noise: Any) -> np.ndarray:
        """Noise sigma per network in volts: None (params.noise), one voltage, or B."""
        if noise is None:
            return np.full(self.n_blocks, float(self.params.noise / volt))
        values = list(noise) if isinstance(noise, list | tuple) else [noise]
        for k, value in enumerate(values):
            where = "noise" if len(values) == 1 else f"noise[{k}]"
            if not isinstance(value, Quantity) or (get_dimensions(value)
                                                   is not get_dimensions(mV)):
                raise ValueError(f"{where} must be a voltage (e.g. 1*mV), got {value!r}")
        arr = np.concatenate([np.atleast_1d(np.asarray(v / volt, dtype=np.float64))
                              for v in values])
        if arr.size == 1:
            arr = np.full(self.n_blocks, arr[0])
        if arr.shape != (self.n_blocks,):
            raise ValueError(f"noise must be one voltage or one per network "
                             f"({self.n_blocks}), got {arr.size} values")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError("noise must be finite and >= 0 mV")
        return arr

    # ------------------------------------------------------------------ storage
    def store(self, patterns: Any) -> None:
        """Add ``patterns`` with the offline Hebbian rule (no simulation).

        Parameters
        ----------
        patterns
            ``(m, N)`` bipolar patterns (one network), ``(B, m, N)``, or a list of ``B``
            ``(m_b, N)`` matrices.

        Raises
        ------
        ValueError
            If the patterns are not bipolar, or their shape does not match the ``B`` networks
            of ``N`` units.
        """
        blocks = self._patterns("patterns", patterns)
        n = self.params.n_units
        for b, x in enumerate(blocks):
            if len(x) == 0:
                continue
            s = self.state
            s.excitatory[b], s.inhibitory[b], s.threshold[b] = _hebbian_block(
                x.astype(np.float64), n, s.excitatory[b], s.inhibitory[b], s.threshold[b])
            self.stored[b] += len(x)

    def clear(self) -> None:
        """Forget everything (the empty synaptic state)."""
        self.state = SynapticState.empty(self.n_blocks, self.params.n_units)
        self.stored = [0] * self.n_blocks

    @property
    def weights(self) -> np.ndarray:
        """``(B, N, N)`` Hopfield weights :math:`W = (w - c) / N`, zero diagonal."""
        return self.state.couplings / self.params.n_units

    @property
    def thresholds(self) -> np.ndarray:
        r"""``(B, N)`` excitability offsets :math:`\theta_i` (coupling units)."""
        return self.state.threshold.copy()

    def write(self, patterns: Any) -> WriteReadout:
        """Store ``patterns`` by simulating the online Hebbian write protocol.

        Pattern ``k`` of every network is clamped by the afferent input in write cycle
        ``k`` (cells of its +1 entries fire); half a cycle later the network's write gate
        turns the activity tags into weight changes (module docstring). Networks with
        fewer patterns idle (no clamp, no gate) once theirs are written.
        """
        blocks = self._patterns("patterns", patterns)
        start = time.perf_counter()
        params, d = self.params, self.derived
        n, c = params.n_units, d.cycle_steps
        dt = float(params.dt / second)
        n_writes = max(len(p) for p in blocks)
        aff_i, aff_s, mod_i, mod_s = [], [], [], []
        for b, x in enumerate(blocks):
            for k in range(len(x)):
                cells = np.flatnonzero(x[k] > 0)
                aff_i.append(b * n + cells)
                aff_s.append(np.full(len(cells), k * c))
                mod_i.append(np.array([b]))
                mod_s.append(np.array([k * c + d.reset_steps]))
        before = self.state.copy()
        with brian_backend(params.backend, self.directory) as info:
            if params.backend == "cpp_standalone":
                self.directory = info.directory
            net = build_network(params, self.state, mode="write")
            _set_spikes(net.groups["afferent"], aff_i, aff_s, dt)
            _set_spikes(net.groups["modulator"], mod_i, mod_s, dt)
            run_network(net.network, (n_writes * c + 2) * params.dt, info,
                        report=self.report)
            w = np.asarray(net.synapses["recurrent"].w[:], dtype=np.float64)
            syn_i = np.asarray(net.synapses["recurrent"].i[:])
            syn_j = np.asarray(net.synapses["recurrent"].j[:])
            inh = np.asarray(net.synapses["inhibition"].w_inh[:], dtype=np.float64)
            inh_j = np.asarray(net.synapses["inhibition"].j[:])
            theta = np.asarray(net.groups["pyramidal"].theta[:], dtype=np.float64)
            spikes = _spike_trains(net.spike_monitor)
        after = SynapticState.empty(self.n_blocks, n)
        blk, post_l, pre_l = syn_j // n, syn_j % n, syn_i % n
        after.excitatory[blk, post_l, pre_l] = w
        per_cell = np.empty(self.n_blocks * n)
        per_cell[inh_j] = inh
        after.inhibitory = per_cell.reshape(self.n_blocks, n)[:, 0].copy()
        after.threshold = theta.reshape(self.n_blocks, n)
        self.state = after
        for b, x in enumerate(blocks):
            self.stored[b] += len(x)
        timings = dict(info.timings)
        timings["wall_s"] = time.perf_counter() - start
        return WriteReadout(patterns=blocks, before=before, after=after.copy(), spikes=spikes,
                            timings=timings)

    # ------------------------------------------------------------------ retrieval
    def retrieve(self, cues: Any, cycles: int = 10, *, noise: Any = None,
                 record_field: bool = True) -> CA3Readout:
        """Present each cue and let the network run ``cycles`` synchronous updates.

        Parameters
        ----------
        cues
            ``(B, P, N)`` bipolar cues (``(P, N)`` or ``(N,)`` for one network). Probe ``p``
            of every network is presented at the same time.
        cycles
            Gamma cycles (synchronous updates) per probe, >= 1.
        noise
            Membrane noise sigma: one voltage, or one per network (default ``params.noise``).
        record_field
            Read each cell's drive once per cycle (:attr:`CA3Readout.fields`).

        Returns
        -------
        CA3Readout
        """
        cue_arr = self._cues(cues)
        cycles = check_int("cycles", cycles, minimum=1)
        sigma = self._noise(noise)
        start = time.perf_counter()
        params, d = self.params, self.derived
        n, c = params.n_units, d.cycle_steps
        n_probes = cue_arr.shape[1]
        slot = (cycles + 2) * c
        dt = float(params.dt / second)
        bases = np.arange(n_probes) * slot
        aff_i, aff_s = [], []
        for p in range(n_probes):
            cells = np.flatnonzero(cue_arr[:, p].reshape(-1) > 0)  # global b * N + i
            aff_i.append(cells)
            aff_s.append(np.full(len(cells), bases[p]))
        kicks = (bases[:, None] + c * np.arange(1, cycles + 1)[None, :]).ravel()
        resets = np.concatenate([
            (bases[:, None] + c * np.arange(cycles)[None, :] + d.reset_steps).ravel(),
            bases + (cycles + 1) * c])
        pace_i = [np.zeros(len(kicks), dtype=int), np.ones(len(resets), dtype=int)]
        pace_s = [kicks, resets]
        self._calls += 1
        records = n_probes * (cycles + 2) + 1  # decision steps are multiples of the cycle
        noise_v = None
        if np.any(sigma > 0):
            # one named child seed per call and network: a network's noise does not depend
            # on which other networks share the simulation
            noise_v = np.zeros((records, self.n_blocks, n))
            for b in np.flatnonzero(sigma > 0):
                rng = numpy_rng(self.seed, "ca3_noise", self._calls, int(b))
                noise_v[:, b] = sigma[b] * rng.standard_normal((records, n))
            noise_v = noise_v.reshape(records, self.n_blocks * n)
        with brian_backend(params.backend, self.directory) as info:
            if params.backend == "cpp_standalone":
                self.directory = info.directory
            net = self._pending
            if net is None:
                net = build_network(params, self.state, mode="retrieve", noise=noise_v,
                                    record_field=record_field)
            else:  # the network of ``self.network``, maybe with monitors of the user's
                self._pending = None
                load_state(net, self.state)
                zeros = np.zeros((records, self.n_blocks * n))
                net.synapses["clock"].namespace["decision_noise"] = brian2.TimedArray(
                    (zeros if noise_v is None else noise_v) * volt, dt=params.cycle)
                net.field_monitor.active = record_field
            _set_spikes(net.groups["afferent"], aff_i, aff_s, dt)
            _set_spikes(net.groups["pacemaker"], pace_i, pace_s, dt)
            run_network(net.network, n_probes * slot * params.dt, info, report=self.report)
            spikes = _spike_trains(net.spike_monitor)
            raw_fields = None
            if net.field_monitor is not None and record_field:
                v = np.asarray(net.field_monitor.v[:] / volt, dtype=np.float64)
                raw_fields = (v - float((params.E_L + d.clock_kick) / volt)) / float(
                    d.coupling / volt)
        states, stray = _states_from_spikes(spikes["pyramidal"], self.n_blocks, n, n_probes,
                                            cycles, c, dt)
        # records at t = k * cycle; probe p's decision k + 1 is record p (cycles+2) + k + 1
        idx = (np.arange(n_probes)[:, None] * (cycles + 2)
               + np.arange(1, cycles + 1)[None, :])        # (P, cycles)

        def per_decision(values: np.ndarray) -> np.ndarray:  # (B N, R) -> (B, P, cycles, N)
            picked = values[:, idx].reshape(self.n_blocks, n, n_probes, cycles)
            return picked.transpose(0, 2, 3, 1)

        u_volt = float(d.coupling / volt)
        noise_h = np.zeros((self.n_blocks, n_probes, cycles, n))
        if noise_v is not None:
            noise_h = per_decision(noise_v.T) / float(params.field_gain / volt)
        fields = None
        if raw_fields is not None:
            prev = states[:, :, :-1].astype(np.float64)     # s_i of the deciding cycle
            # v - E_L - K = u F_i + noise; F_i = (N h_i + s_i / 2) / 2
            drive = per_decision(raw_fields) - noise_h * float(params.field_gain / volt) / u_volt
            fields = (2 * drive - 0.5 * prev) / n
        timings = dict(info.timings)
        timings["wall_s"] = time.perf_counter() - start
        return CA3Readout(cues=cue_arr, states=states, fields=fields, noise=noise_h,
                          onsets=bases * dt, cycle=c * dt, spikes=spikes, stray_spikes=stray,
                          timings=timings)


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------


def _bipolar_array(name: str, value: Any) -> np.ndarray:
    tensor = check_bipolar(name, value)
    return tensor.detach().cpu().numpy().astype(np.int8)


def _bipolar_matrix(name: str, value: Any, n: int) -> np.ndarray:
    arr = _bipolar_array(name, value)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != n:
        raise ValueError(f"{name} must have shape (m, {n}) (patterns, n_units), "
                         f"got {arr.shape}")
    return arr


def _set_spikes(group: SpikeGeneratorGroup, indices: list[np.ndarray],
                steps: list[np.ndarray], dt: float) -> None:
    if not indices:
        return
    i = np.concatenate(indices).astype(np.int64)
    s = np.concatenate(steps).astype(np.int64)
    if len(i):
        group.set_spikes(i, s * dt * second)


def _spike_trains(monitor: SpikeMonitor) -> dict[str, SpikeTrains]:
    return {"pyramidal": SpikeTrains.from_monitor(monitor, name="pyramidal")}


def _states_from_spikes(spikes: SpikeTrains, n_blocks: int, n: int, n_probes: int,
                        cycles: int, c: int, dt: float) -> tuple[np.ndarray, int]:
    """Volleys at steps ``p (cycles+2) c + k c + 1`` -> ``(B, P, cycles+1, N)`` states."""
    states = -np.ones((n_blocks, n_probes, cycles + 1, n), dtype=np.int8)
    steps = np.round(spikes.times / dt).astype(np.int64)
    volley, offset = np.divmod(steps - 1, c)
    probe, k = np.divmod(volley, cycles + 2)
    ok = (offset == 0) & (k <= cycles) & (probe < n_probes) & (steps >= 1)
    cell = spikes.indices[ok]
    states[cell // n, probe[ok], k[ok], cell % n] = 1
    return states, int((~ok).sum())
