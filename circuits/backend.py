"""Brian2 backends: runtime (numpy or Cython code generation), C++ and CUDA standalone.

Every simulation in :mod:`circuits` runs inside :func:`brian_backend`, which selects the code
generation target or device, and restores Brian2's global state afterwards, so two circuits
with different backends can run one after the other in one process.

- ``"numpy"``: runtime mode, no compiler needed; what the fast tests use.
- ``"cython"``: runtime mode with compiled code objects (cached in ``~/.cython``).
- ``"cpp_standalone"``: the whole run compiled to C++ in ``directory`` (one directory per
  worker; reused builds are cached by the compiler's object files there).
- ``"cuda_standalone"``: the same, as a CUDA project compiled with ``nvcc`` and run on a GPU
  (brian2cuda, Python >= 3.12; set up by :mod:`circuits.cuda`, whose
  :class:`~circuits.cuda.CudaOptions` the ``cuda`` argument takes). Without a GPU it
  generates and compiles for a given compute capability but cannot run.

Compilation never uses more than the machine's cores (:func:`compile_slot`): Brian2's
default ``make -j`` starts one compiler per source file (about 75 for the cerebellum), and
two concurrent builds on a 2-core machine ran about 150; here each build runs ``make -jN``
with N the usable cores, and builds of concurrent processes take turns.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import brian2

from models._checks import check_choice

if TYPE_CHECKING:
    from circuits.cuda import CudaOptions

__all__ = ["BACKENDS", "STANDALONE_BACKENDS", "BackendInfo", "brian_backend", "compile_jobs",
           "compile_slot", "run_network"]

BACKENDS = ("numpy", "cython", "cpp_standalone", "cuda_standalone")

#: the backends that generate, compile and run a whole project (one ``run`` per build)
STANDALONE_BACKENDS = ("cpp_standalone", "cuda_standalone")


def compile_jobs() -> int:
    """Parallel compiler jobs of one build: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


#: the wrapper that runs a compiled program and writes its peak memory, run as a script (as
#: ``-m circuits._measure`` it would first import the whole package, ~3 s counted as run time)
MEASURE_SCRIPT = Path(__file__).resolve().parent / "_measure.py"

#: the lock file that makes concurrent builds (sweep workers, parallel runs) take turns
COMPILE_LOCK = Path(tempfile.gettempdir()) / "memcircuits-compile.lock"


@contextlib.contextmanager
def compile_slot() -> Iterator[int]:
    """Compile inside this block: at most :func:`compile_jobs` compilers machine-wide.

    Sets Brian2's ``make`` arguments to ``-jN`` (N = usable cores; Brian2's default ``-j``
    has no limit) and holds an exclusive ``flock`` on :data:`COMPILE_LOCK`, so builds of
    concurrent processes wait for each other instead of running N compilers each. The
    operating system releases the lock when a process ends, however it ends.

    Yields
    ------
    int
        N, the compiler jobs of this build.
    """
    jobs = compile_jobs()
    prefs = brian2.prefs.devices.cpp_standalone
    previous = list(prefs.extra_make_args_unix)
    prefs.extra_make_args_unix = [f"-j{jobs}"]
    with open(COMPILE_LOCK, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield jobs
        finally:
            prefs.extra_make_args_unix = previous


@dataclass
class BackendInfo:
    """What a backend context did: its name, build directory and timings (seconds)."""

    name: str
    directory: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def brian_backend(name: str, directory: str | Path | None = None, *,
                  threads: int | None = None,
                  dt: brian2.Quantity | None = None,
                  cuda: CudaOptions | None = None) -> Iterator[BackendInfo]:
    """Select a Brian2 backend for the objects created inside the block.

    Parameters
    ----------
    name
        ``"numpy"``, ``"cython"``, ``"cpp_standalone"`` or ``"cuda_standalone"``.
    directory
        Build directory of a standalone backend (a fresh temporary one if omitted).
    threads
        OpenMP threads for ``cpp_standalone`` (``None``: Brian2's default of 0, no OpenMP);
        must be ``None`` with ``cuda_standalone``.
    dt
        Simulation time step of objects on the default clock (restored afterwards).
    cuda
        Toolkit, GPU and compute capability of ``cuda_standalone``
        (:class:`circuits.cuda.CudaOptions`; default: found and detected).

    Yields
    ------
    BackendInfo
        Filled in with the build directory and, after :func:`run_network`, timings.

    Raises
    ------
    ImportError
        For ``cuda_standalone`` without brian2cuda (:func:`circuits.cuda.require_brian2cuda`).
    """
    check_choice("backend", name, BACKENDS)
    if name == "cuda_standalone" and threads is not None:
        raise ValueError("threads: cuda_standalone runs on a GPU, not OpenMP threads; "
                         "leave threads=None")
    if name in STANDALONE_BACKENDS:
        from circuits.cuda import require_for, standalone_setup

        require_for(name)  # brian2cuda registers its device on import
    previous_target = brian2.prefs.codegen.target
    previous_threads = brian2.prefs.devices.cpp_standalone.openmp_threads
    previous_dt = brian2.defaultclock.dt
    info = BackendInfo(name=name)
    setup: contextlib.AbstractContextManager = contextlib.nullcontext()
    if name in STANDALONE_BACKENDS:
        if directory is None:
            directory = tempfile.mkdtemp(prefix="memcircuits-standalone-")
        info.directory = Path(directory)
        info.directory.mkdir(parents=True, exist_ok=True)
        if threads is not None:
            brian2.prefs.devices.cpp_standalone.openmp_threads = int(threads)
        brian2.set_device(name, directory=str(info.directory), build_on_run=False)
        setup = standalone_setup(name, cuda, brian2.get_device())
    else:
        brian2.set_device("runtime")
        brian2.prefs.codegen.target = name
    if dt is not None:
        brian2.defaultclock.dt = dt
    try:
        with setup:
            yield info
    finally:
        if name in STANDALONE_BACKENDS:
            brian2.device.reinit()
            brian2.device.activate()
            brian2.set_device("runtime")
        brian2.prefs.codegen.target = previous_target
        brian2.prefs.devices.cpp_standalone.openmp_threads = previous_threads
        if dt is not None:
            brian2.defaultclock.dt = previous_dt


def run_network(network: brian2.Network, duration: brian2.Quantity, info: BackendInfo, *,
                report: str | None = None, namespace: dict | None = None) -> None:
    """Run ``network`` for ``duration`` on the backend described by ``info``.

    For a standalone backend this also builds, compiles and executes the project, recording
    ``info.timings["build_s"]`` (code generation + compilation), ``["run_s"]`` and the
    compiled program's peak resident memory ``["peak_rss_mib"]`` (host memory only with
    ``cuda_standalone``).
    """
    start = time.perf_counter()
    network.run(duration, report=report, namespace=namespace or {})
    if info.name not in STANDALONE_BACKENDS:
        info.timings["run_s"] = time.perf_counter() - start
        return
    device = brian2.get_device()
    build_start = time.perf_counter()
    with compile_slot():
        device.build(directory=str(info.directory), compile=True, run=False, debug=False,
                     clean=False)
    info.timings["build_s"] = time.perf_counter() - build_start
    memory_file = info.directory / "peak_rss_mib.txt"
    previous = brian2.prefs.devices.cpp_standalone.run_cmd_unix
    brian2.prefs.devices.cpp_standalone.run_cmd_unix = [
        sys.executable, "-I", str(MEASURE_SCRIPT), str(memory_file), "./main"]
    run_start = time.perf_counter()
    try:
        device.run(directory=str(info.directory), with_output=report is not None)
    finally:
        brian2.prefs.devices.cpp_standalone.run_cmd_unix = previous
    info.timings["run_s"] = time.perf_counter() - run_start
    if memory_file.is_file():
        info.timings["peak_rss_mib"] = float(memory_file.read_text())
