"""One standalone build of the cerebellar SDM, many runs with new inputs.

:class:`CerebellarSDM` with ``backend="cpp_standalone"`` compiles and runs its whole history
at every call. :class:`StandaloneRunner` instead builds the circuit once for a fixed
structure (parameters, wiring, seed, recorded populations) and a fixed *layout* (the
number of write and read presentations, which fixes the simulated duration), then runs
any number of schedules with new keys, values and queries through Brian2's
``device.run(run_args=...)``, which sets array values in the compiled program from files
without recompiling::

    runner = StandaloneRunner(params, [("write", 20), ("read", 20)], seed=0)
    write, read = runner.run([("write", keys, values), ("read", queries, None)])
    runner.build_s, read.timings["run_s"]

A run may also change the parameters of the Golgi loop that sets the granule coding level
(:data:`~circuits.cerebellum.network.RUN_PARAMETERS`: ``golgi.inhibition``,
``golgi.mf_drive``, ``golgi.feedback_drive``), which the build reads from one-value
TimedArrays: ``runner.run(schedule, parameters={"golgi.inhibition": 25 * pA})`` gives the
readouts of a circuit built with that value; every other parameter is part of the structure.

What changes between runs is data only: SpikeGeneratorGroup spikes are read-only for
``run_args`` (and their size is fixed at build time), so the mossy and climbing fibres
replay per-fibre *spike tables* (TimedArrays, ``build_network(spike_tables=...)``); the
plasticity gate is a TimedArray too. The fibres fire in the same steps as the spike
generators of :class:`CerebellarSDM` would, and the stimuli and readouts are made by the
same code, so a run returns the readouts :class:`CerebellarSDM` returns for the same
schedule (same ``seed``), spike for spike. The program always simulates the whole layout;
a shorter schedule is followed by silence, which changes no readout (no input, plasticity
gated off).

The build is ``cpp_standalone`` unless ``params.backend`` is ``"cuda_standalone"``: then the
same network is generated as a CUDA project (brian2cuda, :mod:`circuits.cuda`; options in
the runner's ``cuda`` argument), compiled with ``nvcc`` and run on a GPU with the same
``run_args``. Creating the runner only builds and compiles, so on a machine with ``nvcc``
but no GPU a runner with an explicit compute capability checks that the circuit compiles
(:attr:`StandaloneRunner.compiled`); :meth:`StandaloneRunner.run` needs the GPU.

Build directories live under a cache root (``cache_dir``, else ``MEMCIRCUITS_CACHE``/
``standalone``, else ``~/.cache/memcircuits/standalone``) at ``<structure hash>/<worker>``.
A worker directory is held under an exclusive file lock while a runner uses it, so
concurrent processes (Dask workers) get separate directories (``w0``, ``w1``, ... or the
``worker`` name given). The cache survives the process: a later runner with the same
structure regenerates the code (identical files are not rewritten) and ``make`` finds
nothing to compile (:attr:`StandaloneRunner.compiled` is False).

Brian2 has one standalone device per process: while a runner is open, do not build
another standalone project in the same process (a :class:`CerebellarSDM` with
``cpp_standalone`` would reset it; the runner then refuses to run). Runtime-mode
simulations may run in between.
"""

from __future__ import annotations

import gc
import hashlib
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import brian2
import numpy as np
from brian2 import ms, second

from circuits.backend import STANDALONE_BACKENDS, compile_slot
from circuits.cerebellum.network import (
    RUN_PARAMETERS,
    CerebellarNetwork,
    GranuleWiring,
    build_network,
    golgi_weights,
    random_wiring,
)
from circuits.cerebellum.params import CerebellumParams, GolgiParams
from circuits.cerebellum.protocol import (
    CerebellarSDM,
    CerebellumReadout,
    check_schedule,
    lead_in,
)
from circuits.cuda import CudaOptions, build_identity, require_for, standalone_setup
from models.rundir import try_lock

__all__ = [
    "StandaloneRunner",
    "canonical_params",
    "collect_readouts",
    "default_cache_dir",
    "input_arrays",
    "process_runner",
    "schedule_batches",
    "spike_table",
]

_FORMAT = 5  # bump when the generated project changes for the same structure


#: one clock reset in Brian2's generated main.cpp (``_array_<clock>_timestep[0] = 0;``)
_CLOCK_RESET = re.compile(r"^\s*_array_(\w*clock\w*?)_(timestep|t)\[0\] = [^;]*;\s*$")

#: brian2cuda's main.cu: the random-number buffer added to the network once per clock, in the
#: order of a ``set`` of clocks (``magicnetwork.add(&<clock>, _run_random_number_buffer);``)
_RANDOM_BUFFER = re.compile(r"^\s*(\w+)\.add\(&(\w+), _run_random_number_buffer\);\s*$")


def canonical_main_source(text: str) -> str:
    """``main.cpp`` (``main.cu``) with each run of consecutive clock resets sorted by clock.

    Brian2 resets the clocks of a run in the iteration order of a ``set`` of clocks, which
    differs between processes (it follows object addresses), so the same network generates
    two versions of ``main.cpp`` and a cached build would recompile at random. The resets
    are independent assignments; their order does not matter. brian2cuda also adds its
    random-number buffer to the network once per clock in that order: the same function,
    first in every step of each clock, so those lines are sorted too.
    """
    lines = text.split("\n")
    out: list[str] = []
    k = 0
    while k < len(lines):
        pattern = next((p for p in (_CLOCK_RESET, _RANDOM_BUFFER) if p.match(lines[k])), None)
        if pattern is None:
            out.append(lines[k])
            k += 1
            continue
        end = k
        while end < len(lines) and pattern.match(lines[end]):
            end += 1

        def order(line: str, pattern: re.Pattern = pattern) -> tuple[str, bool]:
            match = pattern.match(line)
            if pattern is _RANDOM_BUFFER:
                return match.group(2), False
            return match.group(1), match.group(2) != "timestep"

        out.extend(sorted(lines[k:end], key=order))
        k = end
    return "\n".join(out)


def _canonicalise_main(source: Path, previous: tuple[str, os.stat_result] | None) -> None:
    """Rewrite a freshly generated ``main.cpp`` canonically.

    When that equals the previous build's file, keep its modification time so that ``make``
    recompiles nothing.
    """
    generated = source.read_text()
    text = canonical_main_source(generated)
    if generated != text:
        source.write_text(text)
    if previous is not None and previous[0] == text:
        os.utime(source, ns=(previous[1].st_atime_ns, previous[1].st_mtime_ns))


def canonical_params(params: CerebellumParams) -> CerebellumParams:
    """``params`` with the run parameters at their defaults: what a runner compiles.

    The defaults are those of :class:`~circuits.cerebellum.params.GolgiParams` (a zero drive stays
    zero). This is what a runner compiles and what its structure hash covers; each run sets the
    actual values. The backend is ``cuda_standalone`` if ``params`` has it, else
    ``cpp_standalone``.
    """
    go, default = params.golgi, GolgiParams()
    return replace(params, backend=_standalone(params.backend), golgi=replace(
        go, inhibition=default.inhibition,
        mf_drive=default.mf_drive if go.mf_drive > 0 else 0.0,
        feedback_drive=default.feedback_drive if go.feedback_drive > 0 else 0.0))


def _standalone(backend: str) -> str:
    """The standalone backend a runner builds for ``backend``: itself, or cpp_standalone."""
    return backend if backend in STANDALONE_BACKENDS else "cpp_standalone"


_PROCESS_RUNNER: dict[str, Any] = {}  # the open runner of this process and its key


def process_runner(params: CerebellumParams, layout: Sequence[tuple[str, int]], *,
                   seed: int | None = 0, record: tuple[str, ...] | None = None,
                   memory_budget_gib: float | None = None,
                   cuda: CudaOptions | None = None) -> StandaloneRunner:
    """The :class:`StandaloneRunner` of this process for a structure, kept open between calls.

    Brian2 holds one standalone project per process, so a process (a sweep's worker)
    keeps one runner: a call with the same structure, layout, seed and record returns it
    (no code generation, no compilation; run parameters may differ); any other call
    closes it and opens a new one (from the on-disk cache when that structure was built
    before). Set the values of the run parameters per run with ``run(parameters=...)``.
    ``cuda`` is the runner's (``cuda_standalone`` builds).
    """
    key = repr((canonical_params(params), seed, record,
                [(k, int(c)) for k, c in layout], cuda))
    runner = _PROCESS_RUNNER.get("runner")
    if runner is not None and _PROCESS_RUNNER.get("key") == key and runner._holds_device():
        return runner
    if runner is not None:
        runner.close()
        _PROCESS_RUNNER.clear()
    runner = StandaloneRunner(params, layout, seed=seed, record=record,
                              memory_budget_gib=memory_budget_gib, cuda=cuda)
    _PROCESS_RUNNER.update(runner=runner, key=key)
    return runner


def default_cache_dir() -> Path:
    """``$MEMCIRCUITS_CACHE/standalone`` or ``~/.cache/memcircuits/standalone``."""
    root = os.environ.get("MEMCIRCUITS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "memcircuits") / "standalone"


def spike_table(indices: np.ndarray, steps: np.ndarray, n: int, per_rail: int,
                what: str = "spikes") -> np.ndarray:
    """``(per_rail + 1, n)`` table: entry ``(k, i)`` the step of fibre ``i``'s ``k``-th spike.

    Unused entries are -1 (the last row always is: a fibre that has fired all its spikes
    reads it). Raises ValueError if a fibre has more than ``per_rail`` spikes.
    """
    table = np.full((per_rail + 1, n), -1.0)
    if len(indices) == 0:
        return table
    indices = np.asarray(indices, dtype=np.int64)
    steps = np.asarray(steps, dtype=np.int64)
    order = np.lexsort((steps, indices))  # by fibre, then time
    idx, st = indices[order], steps[order]
    counts = np.bincount(idx, minlength=n)
    if counts.max() > per_rail:
        raise ValueError(f"{what}: a fibre fires {counts.max()} times but the build holds "
                         f"at most {per_rail} spikes per fibre (max_spikes_per_rail)")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(idx)) - starts[idx]
    table[rank, idx] = st
    return table


def schedule_batches(params: CerebellumParams, wiring: GranuleWiring,
                     schedule: Sequence[tuple[str, Any, Any]], *, seed: int | None = 0,
                     record: tuple[str, ...] | None = None) -> CerebellarSDM:
    """A :class:`CerebellarSDM` (never run) holding the stimuli of ``schedule``.

    The batches (mossy and climbing spikes, onsets) are made by
    :meth:`CerebellarSDM._make_batch`, exactly as ``CerebellarSDM(params, seed=seed,
    wiring=wiring).present(schedule)`` makes them.
    """
    sdm = CerebellarSDM(params, seed=seed, wiring=wiring, record=record)
    for kind, patterns, values in check_schedule(params, schedule):
        sdm._batches.append(sdm._make_batch(kind, patterns, values))
    return sdm


def input_arrays(sdm: CerebellarSDM, n_rails: int, n_climbing: int,
                 max_spikes_per_rail: tuple[int, int],
                 gate_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mossy and climbing spike tables and the plasticity gate presenting ``sdm``'s batches.

    In 1-ms bins, ``gate_len`` values, zero after the schedule.
    """
    dt = float(sdm.params.protocol.dt / second)
    tables = []
    for which, n, per_rail in (("mossy", n_rails, max_spikes_per_rail[0]),
                               ("climbing", n_climbing, max_spikes_per_rail[1])):
        i = np.concatenate([getattr(b, which)[0] for b in sdm._batches])
        t = np.concatenate([getattr(b, which)[1] for b in sdm._batches])
        steps = np.round(t / dt).astype(np.int64)
        tables.append(spike_table(i, steps, n, per_rail, f"{which} fibres"))
    values = sdm._plasticity_gate().values
    if len(values) > gate_len:
        raise ValueError(f"the schedule needs {len(values)} gate bins, the build {gate_len}")
    gate = np.zeros(gate_len)
    gate[:len(values)] = values
    return tables[0], tables[1], gate


def collect_readouts(sdm: CerebellarSDM, net: CerebellarNetwork) -> list[CerebellumReadout]:
    """Readouts of ``sdm``'s batches from a network that has run them (in one run).

    As :meth:`CerebellarSDM.present` returns them with ``cpp_standalone``.
    """
    final = net.synapses["pf_purkinje"].w[:].copy()
    before = np.full(len(net.pf_pre), sdm.params.plasticity.baseline_weight)
    readouts = []
    for k, batch in enumerate(sdm._batches):
        later_writes = any(b.kind == "write" for b in sdm._batches[k + 1:])
        # weights are read at the end only: exact after the last write
        after = np.full_like(final, np.nan) if later_writes else final
        readouts.append(sdm._collect(net, batch, before, weights_after=after))
        before = after
    return readouts


def _lock(directory: Path):
    """Exclusive non-blocking lock on ``directory``.lock: the open file, or None if held."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    return try_lock(directory.with_suffix(".lock"))  # held while the runner lives


class StandaloneRunner:
    """The cerebellar SDM compiled once, run many times with new inputs.

    Parameters
    ----------
    params
        Circuit parameters. The build is ``cuda_standalone`` if ``params.backend`` says so,
        else ``cpp_standalone`` (whatever runtime backend the field names).
    layout
        ``[(kind, count), ...]`` with kind ``"write"`` or ``"read"``: the presentations
        the build has room for; it fixes the simulated duration (sum of the slots) and,
        with ``max_spikes_per_rail``, the size of the input tables. A schedule given to
        :meth:`run` may be any sequence of writes and reads that fits in that duration.
    seed
        Seeds the wiring (if not given) and connectivity, as :class:`CerebellarSDM`; also
        the default ``input_seed`` of :meth:`run` (Poisson mossy-fibre spikes).
    wiring
        Granule wiring (random from ``seed`` if omitted).
    record
        Populations whose spikes are monitored (default all; must include granule,
        purkinje and nuclei).
    cache_dir
        Cache root (default :func:`default_cache_dir`).
    worker
        Name of this worker's build directory; default: the first of ``w0``, ``w1``, ...
        not locked by another runner.
    max_spikes_per_rail
        ``(mossy, climbing)`` spikes a fibre may fire in one run; default: the volleys of
        every presentation of the layout (regular firing) or a bound far above the Poisson
        mean, and one climbing-fibre burst (``climbing.burst`` spikes) per write.
    memory_budget_gib
        As :class:`CerebellarSDM` (checked for the whole layout before building).
    cuda
        Toolkit, GPU and compute capability of a ``cuda_standalone`` build
        (:class:`circuits.cuda.CudaOptions`); with an explicit compute capability the build
        compiles without a GPU (and :meth:`run` then fails: the program needs one).

    Attributes
    ----------
    directory
        The build directory.
    build_s
        Seconds spent building (code generation and compilation) in this process.
    compiled
        Whether building compiled or linked anything (False on a cache hit).
    runs
        Number of runs so far.
    """

    def __init__(self, params: CerebellumParams, layout: Sequence[tuple[str, int]], *,
                 seed: int | None = 0, wiring: GranuleWiring | None = None,
                 record: tuple[str, ...] | None = None, cache_dir: str | Path | None = None,
                 worker: str | None = None,
                 max_spikes_per_rail: tuple[int, int] | None = None,
                 memory_budget_gib: float | None = None,
                 cuda: CudaOptions | None = None) -> None:
        self.params = replace(params, backend=_standalone(params.backend))
        self.params.validate()
        require_for(self.params.backend)  # before drawing the wiring: one clear error
        self.cuda = cuda
        self.seed = seed
        if wiring is None:  # refuse sizes over budget before the wiring is drawn
            from circuits.memory import check_cerebellum

            check_cerebellum(self.params, presentations=0, duration_s=0.0,
                             budget_gib=memory_budget_gib)
        self.wiring = wiring if wiring is not None else random_wiring(self.params, seed)
        self.record = record
        # validates wiring and record, and makes stimuli exactly as CerebellarSDM does
        self._reference = CerebellarSDM(self.params, seed=seed, wiring=self.wiring,
                                        record=record, memory_budget_gib=memory_budget_gib)
        proto, mf = self.params.protocol, self.params.mossy
        self.layout = self._check_layout(layout)
        writes = sum(c for k, c in self.layout if k == "write")
        reads = sum(c for k, c in self.layout if k == "read")
        self._dt = float(proto.dt / second)
        lead = lead_in(self.params)  # background before the first stimulus
        self.duration = (lead + writes * float(proto.write_slot / second)
                         + reads * float(proto.read_slot / second))
        if max_spikes_per_rail is None:
            stim = float(mf.stimulus / second)
            on = (math.ceil(stim * float(mf.rate / brian2.Hz) - 1e-9)
                  if mf.firing == "regular" else _poisson_bound(stim * float(mf.rate)))
            off = _poisson_bound(stim * float(mf.off_rate)) if float(mf.off_rate) > 0 else 0
            per_rail = (writes + reads) * max(on, off, 1)
            if mf.background:  # every rail fires at the mean rate outside the stimuli
                per_rail += _poisson_bound((self.duration - (writes + reads) * stim)
                                           * float(mf.mean_rate))
            max_spikes_per_rail = (per_rail, max(writes * self.params.climbing.burst, 1))
        self.max_spikes_per_rail = tuple(int(k) for k in max_spikes_per_rail)
        self._gate_len = round(self.duration * 1000) + 1
        self._guard_memory(writes, reads, memory_budget_gib)

        self.key = self.structure_hash()
        root = (Path(cache_dir) if cache_dir is not None else default_cache_dir()).resolve()
        self.directory, self._lock = self._claim(root / self.key, worker)
        self.build_s = 0.0
        self.compiled = False
        self.runs = 0
        self._device = self._net = self._tables = None
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ set-up
    @staticmethod
    def _check_layout(layout) -> list[tuple[str, int]]:
        out = []
        for k, entry in enumerate(layout):
            if not isinstance(entry, tuple | list) or len(entry) != 2:
                raise ValueError(f"layout[{k}] must be (kind, count), got {entry!r:.60}")
            kind, count = entry
            if kind not in ("write", "read"):
                raise ValueError(f"layout[{k}]: kind must be 'write' or 'read', got {kind!r}")
            if int(count) != count or count < 0:
                raise ValueError(f"layout[{k}]: count must be an integer >= 0, got {count!r}")
            out.append((kind, int(count)))
        if not any(c for _, c in out):
            raise ValueError("layout holds no presentation")
        return out

    def _guard_memory(self, writes: int, reads: int, budget: float | None) -> None:
        from circuits.memory import check_cerebellum

        check_cerebellum(self.params, presentations=writes + reads, duration_s=self.duration,
                         budget_gib=budget)

    def structure_hash(self) -> str:
        """Hex digest of everything the compiled program depends on (not the inputs)."""
        h = hashlib.sha256()
        for part in (f"format={_FORMAT}", f"brian2={brian2.__version__}",
                     repr(canonical_params(self.params)), f"seed={self.seed}",
                     f"record={self.record}",
                     f"steps={round(self.duration / self._dt)}",
                     f"tables={self.max_spikes_per_rail}"):
            h.update(part.encode() + b"\0")
        if self.params.backend == "cuda_standalone":  # what nvcc is asked for
            import brian2cuda

            options = self.cuda or CudaOptions()
            h.update(f"brian2cuda={brian2cuda.__version__} {options!r} "
                     f"{build_identity(options)}".encode() + b"\0")
        for name in ("addresses", "coordinates", "targets"):
            arr = getattr(self.wiring, name)
            if arr is not None:
                arr = np.ascontiguousarray(arr)
                h.update(f"{name}{arr.shape}{arr.dtype}".encode() + arr.tobytes())
        return h.hexdigest()[:16]

    @staticmethod
    def _claim(base: Path, worker: str | None) -> tuple[Path, Any]:
        if worker is not None:
            directory = base / worker
            handle = _lock(directory)
            if handle is None:
                raise RuntimeError(f"the build directory {directory} is in use by another "
                                   f"runner; give another worker name")
            return directory, handle
        for k in range(1024):
            directory = base / f"w{k}"
            handle = _lock(directory)
            if handle is not None:
                return directory, handle
        raise RuntimeError(f"no free worker directory under {base}")

    def _build(self) -> None:
        main = self.directory / "main"
        before = main.stat().st_mtime_ns if main.is_file() else None
        backend = self.params.backend
        source = self.directory / ("main.cu" if backend == "cuda_standalone" else "main.cpp")
        previous_main = (source.read_text(), source.stat()) if source.is_file() else None
        previous_target = brian2.prefs.codegen.target
        previous_dt = brian2.defaultclock.dt
        start = time.perf_counter()
        # Brian2 objects no longer used but not yet collected keep their names, which would
        # rename ours ("granule_1"), change the generated code and force a recompilation
        gc.collect()
        self.directory.mkdir(parents=True, exist_ok=True)
        brian2.set_device(backend, directory=str(self.directory), build_on_run=False)
        self._device = brian2.get_device()
        # a fresh project: the generated main.cpp records every dt assignment the device saw,
        # so without this it would depend on what this process built before (and recompile)
        self._device.reinit()
        self._device.activate(build_on_run=False, directory=str(self.directory))
        # after reinit, which resets the device's link flags
        setup = standalone_setup(backend, self.cuda, self._device)
        try:
            brian2.defaultclock.dt = self.params.protocol.dt
            # the run parameters' build-time values are canonical (every run sets them), so
            # that builds differing only in them generate identical code and share the cache
            net = build_network(canonical_params(self.params), self.wiring, seed=self.seed,
                                record=self.record,
                                spike_tables=self.max_spikes_per_rail)
            net.namespace["plastic_gate"] = brian2.TimedArray(np.zeros(self._gate_len),
                                                              dt=1 * ms)
            net.network.run(self.duration * second, namespace={})
            from brian2.codegen.cpp_prefs import get_compiler_and_args

            with setup:
                self._device.build(directory=str(self.directory), compile=False, run=False,
                                   debug=False, clean=False, with_output=False)
                _canonicalise_main(source, previous_main)
                with compile_slot():
                    self._device.compile_source(str(self.directory),
                                                get_compiler_and_args()[0], debug=False,
                                                clean=False)
        except BaseException:
            self._device.reinit()
            self._device.activate()
            self._device = None
            raise
        finally:
            # later runtime-mode code must not land in this project
            brian2.set_device("runtime")
            brian2.prefs.codegen.target = previous_target
            brian2.defaultclock.dt = previous_dt
        self.build_s = time.perf_counter() - start
        self.compiled = before is None or main.stat().st_mtime_ns != before
        self._net = net
        self._reference._net = net  # population sizes and PF indices of this build
        self._tables = (net.namespace["mossy_table"], net.namespace["climbing_table"],
                        net.namespace["plastic_gate"])
        self._weights = {key: net.namespace[f"{key}_value"]
                         for key in ("w_ff", "w_fb", "I_goc") if f"{key}_value" in net.namespace}

    @property
    def reference(self) -> CerebellarSDM:
        """The circuit this runner was built from (never run).

        Its params, derived quantities, wiring and population sizes serve analysis code written for
        :class:`CerebellarSDM`.
        """
        return self._reference

    # ------------------------------------------------------------------ running
    def run_parameters(self, parameters: dict[str, Any] | None = None) -> CerebellumParams:
        """The build's parameters with ``parameters`` changed, validated against the build.

        ``parameters`` maps names of :data:`RUN_PARAMETERS` to values, e.g. ``{"golgi.inhibition":
        25 * pA}``.

        Raises
        ------
        ValueError
            For a name that is not a run parameter (one that would change the compiled
            program), an invalid value, or a drive set non-zero whose synapses the build
            lacks (it was built with that drive at zero).
        """
        parameters = dict(parameters or {})
        unknown = sorted(set(parameters) - set(RUN_PARAMETERS))
        if unknown:
            raise ValueError(f"run parameters: {unknown[0]!r} cannot change without a new "
                             f"build; a run can set {', '.join(RUN_PARAMETERS)}")
        golgi = replace(self.params.golgi, **{name.split(".", 1)[1]: value
                                              for name, value in parameters.items()})
        params = replace(self.params, golgi=golgi)
        params.validate()
        built = self.params.golgi
        for field_name, key in (("mf_drive", "w_ff"), ("feedback_drive", "w_fb")):
            if getattr(golgi, field_name) > 0 and key not in self._weights:
                raise ValueError(f"run parameters: golgi.{field_name} was "
                                 f"{getattr(built, field_name)} at build time, so this build "
                                 f"has no synapses for it; build with a non-zero value")
        return params

    def run_args(self, sdm: CerebellarSDM, params: CerebellumParams | None = None) -> dict:
        """The ``run_args`` presenting ``sdm``'s batches (spike tables and plasticity gate).

        With the Golgi weights of ``params`` (default: the build's).
        """
        mossy_table, climbing_table, gate_table = self._tables
        mossy, climbing, gate = input_arrays(sdm, mossy_table.values.shape[1],
                                             climbing_table.values.shape[1],
                                             self.max_spikes_per_rail, self._gate_len)
        args = {mossy_table: mossy, climbing_table: climbing, gate_table: gate}
        weights = golgi_weights(self.params if params is None else params)
        for key, table in self._weights.items():
            value = weights[key]
            args[table] = np.array([float(value)]) * brian2.get_unit(value.dim)
        return args

    def run(self, schedule: Sequence[tuple[str, Any, Any]], *,
            input_seed: int | None = None,
            parameters: dict[str, Any] | None = None) -> list[CerebellumReadout]:
        """Run a schedule of writes and reads from a fresh start, without recompiling.

        Parameters
        ----------
        schedule
            Entries ``("write", keys, values)`` or ``("read", queries, None)``, as
            :meth:`CerebellarSDM.present`; it must fit in the layout's duration.
        input_seed
            Seed of the Poisson mossy-fibre spikes (default: the runner's ``seed``, which
            gives the spikes of ``CerebellarSDM(params, seed=seed).present(schedule)``).
        parameters
            New values of run parameters for this run (:meth:`run_parameters`; the others
            keep the build's values): the readouts equal ``CerebellarSDM`` built with
            those values.

        Returns
        -------
        list of CerebellumReadout
            One per entry; ``timings`` holds ``run_s`` (the compiled program, input files
            included), ``collect_s`` (reading results) and ``build_s`` (0 after the first
            run: no build happens here).
        """
        if not self._holds_device():
            raise RuntimeError("this runner is closed, or another standalone build in this "
                               "process reset Brian2's device; create a new runner")
        run_params = self.run_parameters(parameters)
        sdm = schedule_batches(self.params, self.wiring, schedule,
                               seed=self.seed if input_seed is None else input_seed,
                               record=self.record)
        end = sdm._batches[-1].onset + sdm._batches[-1].duration
        if end > self.duration + 1e-9:
            raise ValueError(f"the schedule lasts {end:.4g} s but the build simulates "
                             f"{self.duration:.4g} s (layout {self.layout})")
        start = time.perf_counter()
        args = self.run_args(sdm, run_params)
        try:
            self._device.run(directory=str(self.directory), with_output=False,
                             run_args=args)
        finally:
            for name in self._device.run_args_arrays:  # input files: one set per run
                (self.directory / "static_arrays" / name).unlink(missing_ok=True)
                (self.directory / "static_arrays" / f"{name}.lock").unlink(missing_ok=True)
        run_s = time.perf_counter() - start
        build_s = self.build_s if self.runs == 0 else 0.0
        self.runs += 1
        collect_start = time.perf_counter()
        net = self._net
        readouts = collect_readouts(sdm, net)
        collect_s = time.perf_counter() - collect_start
        for readout in readouts:
            readout.timings.update(build_s=build_s, run_s=run_s, collect_s=collect_s,
                                   wall_s=run_s + collect_s)
        return readouts

    def _holds_device(self) -> bool:
        project = getattr(self._device, "project_dir", None)
        return project is not None and Path(project).resolve() == self.directory.resolve()

    # ------------------------------------------------------------------ tear-down
    def close(self) -> None:
        """Forget the Brian2 project (the build directory stays cached) and release it."""
        if self._holds_device():
            dt = brian2.defaultclock.dt
            # reinit only while active: else the next standalone project misses its clock
            brian2.set_device(self._device, build_on_run=False)
            self._device.reinit()
            self._device.activate()
            brian2.set_device("runtime")
            brian2.defaultclock.dt = dt
        self._device = None
        self._net = self._tables = None  # free the Brian2 objects (and their names)
        if getattr(self, "_reference", None) is not None:
            self._reference._net = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> StandaloneRunner:
        """The runner itself; :meth:`close` runs on leaving the ``with`` block."""
        return self

    def __exit__(self, *exc) -> None:
        """Close the runner (:meth:`close`)."""
        self.close()


def _poisson_bound(mean: float) -> int:
    """A count a Poisson variable of this mean exceeds with probability below ~1e-12."""
    return math.ceil(mean + 8 * math.sqrt(mean) + 10) if mean > 0 else 0
