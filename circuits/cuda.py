"""Brian2's CUDA standalone device (brian2cuda) for the circuits: toolkit, cuRAND, GPU choice.

``backend="cuda_standalone"`` generates the whole simulation as a CUDA project
(`brian2cuda <https://brian2cuda.readthedocs.io>`_), compiles it with ``nvcc`` and runs it on
a GPU, through the same API as ``cpp_standalone`` (:func:`circuits.backend.brian_backend`,
:class:`circuits.cerebellum.protocol.CerebellarSDM`,
:class:`circuits.cerebellum.standalone.StandaloneRunner` with build reuse and ``run_args``).
brian2cuda 1.0b1 needs Brian2 2.10.1, so Python >= 3.12; install it into such an
environment with ``pip install brian2cuda`` (it is not a dependency of this package).

What this module sets up (:func:`configure_cuda`, called by every CUDA build):

- the CUDA toolkit (``nvcc``): :attr:`CudaOptions.cuda_path`, else ``$CUDA_PATH``,
  ``$CUDA_HOME``, the toolkit of the ``nvcc`` on ``PATH``, ``/usr/local/cuda``;
- cuRAND, which every brian2cuda program links (``-lcurand``, ``curand_kernel.h``): from the
  toolkit, else from the pip package ``nvidia-curand`` (its ``nvidia/cu13`` or
  ``nvidia/curand`` folder), whose library has only a versioned name (``libcurand.so.10``):
  a folder with a ``libcurand.so`` link to it is made under the cache
  (:func:`curand_location`), and the program finds the library at run time by its rpath;
- the GPU: brian2cuda detects it (``nvidia-smi``) and compiles for its compute capability.
  Without a GPU nothing can run, but a project can still be generated and compiled for a
  given compute capability (:attr:`CudaOptions.compute_capability`, or the environment
  variable ``MEMCIRCUITS_CUDA_COMPUTE_CAPABILITY``, e.g. ``9.0`` for H100/H200): the
  compile-only mode of the tests on machines with ``nvcc`` but no GPU.

Only brian2cuda's own preferences (``devices.cuda_standalone.*``) and the CUDA device object
are changed, so ``cpp_standalone`` builds in the same process are unaffected.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CUDA_BACKEND",
    "CudaOptions",
    "CudaSetup",
    "build_identity",
    "configure_cuda",
    "cuda_build",
    "curand_location",
    "find_cuda_path",
    "gpu_count",
    "require_brian2cuda",
    "require_for",
    "standalone_setup",
]

#: the backend name (``CerebellumParams.backend``, :func:`circuits.backend.brian_backend`)
CUDA_BACKEND = "cuda_standalone"

#: environment variable: compute capability to compile for (``9.0``); needed without a GPU
ENV_COMPUTE_CAPABILITY = "MEMCIRCUITS_CUDA_COMPUTE_CAPABILITY"

#: brian2cuda's default extra nvcc arguments (kept: ``-use_fast_math`` is its choice for speed)
DEFAULT_NVCC_ARGS = ("-w", "-use_fast_math")

#: the C++ standard of every CUDA build: CUDA 13's thrust/CUB (CCCL) need C++17, and
#: brian2cuda's makefile asks for C++11 (nvcc keeps the last ``-std``; the host compiler's
#: comes from Brian2's ``codegen.cpp.extra_compile_args_gcc``, see :func:`cuda_build`)
CXX_STANDARD = "-std=c++17"


@dataclass(frozen=True)
class CudaOptions:
    """How a CUDA standalone project is compiled and where it runs.

    Every field may stay at its default on a machine with a GPU and the CUDA toolkit.
    """

    compute_capability: float | None = None  # GPU architecture to compile for (9.0: sm_90,
    # H100/H200); None: the detected GPU's (brian2cuda), else $MEMCIRCUITS_CUDA_COMPUTE_CAPABILITY;
    # required without a GPU (generate and compile only)
    gpu_id: int | None = None  # GPU the program runs on (among CUDA_VISIBLE_DEVICES); None:
    # brian2cuda's choice (highest compute capability, lowest id), 0 without a GPU
    cuda_path: str | None = None  # CUDA toolkit folder (holds bin/nvcc); None: found
    # (find_cuda_path)
    nvcc_args: tuple[str, ...] = DEFAULT_NVCC_ARGS  # extra nvcc arguments of every source
    # file (brian2cuda's default: no warnings, fast math)


@dataclass
class CudaSetup:
    """What :func:`configure_cuda` found and set."""

    cuda_path: Path  # the toolkit folder
    nvcc: Path  # its compiler
    compute_capability: float | None  # compiled for; None: the detected GPU's (brian2cuda)
    gpus: int  # GPUs nvidia-smi lists (0: compile only, the program cannot run here)
    curand_include: Path  # folder of curand.h
    curand_link_dir: Path  # folder with libcurand.so (-L)
    curand_runtime_dir: Path  # folder of the library the program loads (its rpath)
    brian2cuda_version: str
    nvcc_args: list[str] = field(default_factory=list)

    @property
    def can_run(self) -> bool:
        """Whether a GPU is present (else a build compiles but cannot run)."""
        return self.gpus > 0


def require_brian2cuda() -> Any:
    """Import and return brian2cuda, or raise one ImportError that says what it needs.

    Raises
    ------
    ImportError
        If brian2cuda is not installed or does not import (it needs Brian2 2.10.1 and so
        Python >= 3.12).
    """
    import brian2

    try:
        import brian2cuda
    except Exception as error:  # ImportError, or brian2cuda failing against this Brian2
        raise ImportError(
            f"backend='cuda_standalone' needs brian2cuda (pip install brian2cuda), which "
            f"needs Brian2 2.10.1 and so Python >= 3.12; this environment has Python "
            f"{sys.version_info.major}.{sys.version_info.minor} and Brian2 "
            f"{brian2.__version__} ({type(error).__name__}: {error})") from error
    return brian2cuda


def find_cuda_path(cuda_path: str | Path | None = None) -> Path:
    """The CUDA toolkit folder (the one with ``bin/nvcc``).

    ``cuda_path`` if given, else ``$CUDA_PATH``, ``$CUDA_HOME``, the toolkit of the ``nvcc``
    on ``PATH`` (a wrapper script that runs the toolkit's ``nvcc`` is followed), then
    ``/usr/local/cuda``.

    Raises
    ------
    FileNotFoundError
        Naming the folders tried, if none holds ``bin/nvcc``.
    """
    candidates: list[Path] = []
    if cuda_path is not None:
        candidates.append(Path(cuda_path).expanduser())
    else:
        candidates += [Path(os.environ[k]) for k in ("CUDA_PATH", "CUDA_HOME")
                       if os.environ.get(k)]
        nvcc = shutil.which("nvcc")
        if nvcc is not None:
            real = Path(nvcc).resolve()
            try:  # a wrapper script: "exec /usr/local/cuda-13.0/bin/nvcc ..."
                head = real.read_bytes()[:4096] if real.stat().st_size < 8192 else b""
            except OSError:
                head = b""
            if head.startswith(b"#!"):
                candidates += [Path(word).parent.parent
                               for word in head.decode(errors="replace").split()
                               if word.endswith("/bin/nvcc")]
            else:
                candidates.append(real.parent.parent)
        candidates.append(Path("/usr/local/cuda"))
    for candidate in candidates:
        if (candidate / "bin" / "nvcc").is_file():
            return candidate.resolve()
    tried = ", ".join(str(c) for c in candidates) or "none"
    raise FileNotFoundError(f"no CUDA toolkit (bin/nvcc) found; tried {tried}. Give "
                            f"CudaOptions(cuda_path=...) or set CUDA_PATH")


def _pip_curand_dirs() -> list[Path]:
    """Folders of the pip ``nvidia-curand`` packages (``nvidia/cu13``, ``nvidia/curand``)."""
    spec = importlib.util.find_spec("nvidia")
    if spec is None or spec.submodule_search_locations is None:
        return []
    out = []
    for root in spec.submodule_search_locations:
        for sub in ("cu13", "curand", "cu12"):
            if (Path(root) / sub / "include" / "curand.h").is_file():
                out.append(Path(root) / sub)
    return out


def _cache_root() -> Path:
    root = os.environ.get("MEMCIRCUITS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "memcircuits") / "cuda"


def curand_location(cuda_path: Path) -> tuple[Path, Path, Path]:
    """``(include, link_dir, runtime_dir)`` of cuRAND: header folder, ``-L`` folder, rpath.

    The toolkit's (``include/curand.h``, ``lib64/libcurand.so``) if it has them, else the pip
    package ``nvidia-curand``'s; its library has only a versioned name, so ``link_dir`` is a
    folder under the cache (``$MEMCIRCUITS_CACHE/cuda`` or ``~/.cache/memcircuits/cuda``)
    holding a ``libcurand.so`` link to it.

    Raises
    ------
    FileNotFoundError
        If neither has cuRAND (install ``nvidia-curand`` with pip, or a full toolkit).
    """
    for lib in ("lib64", "lib", "targets/x86_64-linux/lib"):
        if ((cuda_path / "include" / "curand.h").is_file()
                and (cuda_path / lib / "libcurand.so").exists()):
            return cuda_path / "include", cuda_path / lib, cuda_path / lib
    for root in _pip_curand_dirs():
        libs = sorted((root / "lib").glob("libcurand.so*"))
        if not libs:
            continue
        real = libs[-1].resolve()  # libcurand.so.10 (or the unversioned name, if present)
        if real.name == "libcurand.so":
            return root / "include", real.parent, real.parent
        key = hashlib.sha256(str(real).encode()).hexdigest()[:12]
        link_dir = _cache_root() / f"curand-{key}"
        link = link_dir / "libcurand.so"
        if not (link.is_symlink() and link.resolve() == real):
            link_dir.mkdir(parents=True, exist_ok=True)
            temporary = link_dir / f".libcurand.so.{os.getpid()}"
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(real)
            temporary.replace(link)  # atomic: concurrent processes see one link or none
        return root / "include", link_dir, real.parent
    raise FileNotFoundError(f"cuRAND not found in the CUDA toolkit {cuda_path} nor in a pip "
                            f"package; pip install nvidia-curand (brian2cuda links it)")


def gpu_count() -> int:
    """GPUs that ``nvidia-smi -L`` lists (0 without the tool or a driver)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    return _run_line([smi, "-L"], lambda text: sum(
        1 for line in text.splitlines() if line.startswith("GPU "))) or 0


def _run_line(argv: list[str], pick: Any) -> str | None:
    """``pick(stdout)`` of a tool run for at most 30 s; None if it is missing or fails."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return pick(out.stdout) if out.returncode == 0 else None


def _detected_capability(gpu_id: int | None) -> str:
    """Compute capability of GPU ``gpu_id`` (None: the highest, brian2cuda's choice)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "none"
    listed = _run_line([smi, "--query-gpu=compute_cap", "--format=csv,noheader"],
                       lambda text: text.strip())
    caps = [line.strip() for line in (listed or "").splitlines() if line.strip()]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and all(v.strip().isdigit() for v in visible.split(",") if v.strip()):
        # nvidia-smi lists every GPU; gpu_id counts among the visible ones
        caps = [caps[int(v)] for v in visible.split(",") if v.strip() and int(v) < len(caps)]
    if not caps:
        return "none"
    if gpu_id is not None:
        return caps[gpu_id] if 0 <= gpu_id < len(caps) else "none"
    return max(caps, key=lambda c: tuple(int(x) for x in c.split(".") if x.isdigit()))


def build_identity(options: CudaOptions | None = None) -> str:
    """What a compiled CUDA program depends on beyond its source: architecture and compiler.

    ``"cc=<capability> nvcc=<release>"``: the compute capability it is compiled for (the
    given one, else :data:`ENV_COMPUTE_CAPABILITY`, else the detected GPU's through
    ``nvidia-smi``: ``gpu_id``'s, or the highest as brian2cuda chooses; ``none`` without a
    GPU) and nvcc's release line (``unknown`` without the toolkit). A build cache keyed on
    it is not reused on another GPU architecture or compiler.
    """
    options = options or CudaOptions()
    capability: Any = options.compute_capability or os.environ.get(ENV_COMPUTE_CAPABILITY)
    if capability:
        try:
            capability = f"{float(capability):.1f}"
        except ValueError:  # configure_cuda refuses it with its own message
            capability = str(capability)
    else:
        capability = _detected_capability(options.gpu_id)
    try:
        nvcc = str(find_cuda_path(options.cuda_path) / "bin" / "nvcc")
    except FileNotFoundError:
        nvcc = None
    release = None if nvcc is None else _run_line(
        [nvcc, "--version"], lambda text: next((line.strip() for line in text.splitlines()
                                                if "release" in line), None))
    return f"cc={capability} nvcc={release or 'unknown'}"


def _compute_capability(options: CudaOptions, gpus: int) -> float | None:
    value: Any = options.compute_capability
    if value is None and os.environ.get(ENV_COMPUTE_CAPABILITY):
        value = os.environ[ENV_COMPUTE_CAPABILITY]
    if value is None:
        if gpus == 0:
            raise RuntimeError(
                "cuda_standalone: no CUDA GPU found (nvidia-smi lists none), so the compute "
                "capability to compile for cannot be detected; give "
                f"CudaOptions(compute_capability=9.0) or set {ENV_COMPUTE_CAPABILITY}=9.0 to "
                "generate and compile only (the program needs a GPU to run)")
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"compute_capability must be a number such as 9.0, got "
                         f"{value!r}") from None
    if not 3.5 <= value < 20:
        raise ValueError(f"compute_capability must be a CUDA compute capability such as "
                         f"9.0, got {value!r}")
    return value


def configure_cuda(options: CudaOptions | None = None,
                   device: Any | None = None) -> CudaSetup:
    """Set brian2cuda's preferences (and ``device``'s link flags) for a CUDA build.

    Parameters
    ----------
    options
        Toolkit, GPU and compiler choices (default ``CudaOptions()``).
    device
        The active ``cuda_standalone`` device (after ``reinit``/``activate``, which reset
        its link flags); its ``library_dirs`` get cuRAND's link folder and its link
        arguments the rpath of the library. None: preferences only.

    Returns
    -------
    CudaSetup

    Raises
    ------
    ImportError
        Without brian2cuda (:func:`require_brian2cuda`).
    FileNotFoundError
        Without ``nvcc`` or cuRAND.
    RuntimeError
        Without a GPU and without a compute capability to compile for.

    Notes
    -----
    Preferences set, in ``prefs.devices.cuda_standalone.cuda_backend``:

    - ``detect_cuda`` False and ``cuda_path``: the toolkit found here, not brian2cuda's
      search, which takes a wrapper script's folder for the toolkit;
    - ``detect_gpus``, ``gpu_id`` and ``compute_capability``: detection with a GPU unless a
      capability is given; without one, the given capability and GPU 0;
    - ``extra_compile_args_nvcc``: ``options.nvcc_args``, ``-std=c++17`` and ``-I``
      cuRAND's headers, which the device code includes.

    The host compiler's C++ standard is set by :func:`cuda_build`, which wraps this.
    """
    options = options or CudaOptions()
    brian2cuda = require_brian2cuda()
    from brian2 import prefs
    from brian2cuda.utils import gputools

    cuda_path = find_cuda_path(options.cuda_path)
    include, link_dir, runtime_dir = curand_location(cuda_path)
    gpus = gpu_count()
    capability = _compute_capability(options, gpus)
    backend = prefs.devices.cuda_standalone.cuda_backend
    if str(backend.cuda_path) != str(cuda_path):
        gputools.reset_cuda_installation()  # brian2cuda caches the toolkit it found
    backend.detect_cuda = False
    backend.cuda_path = str(cuda_path)
    detect = gpus > 0 and capability is None
    gputools.reset_gpu_selection()  # brian2cuda caches its choice; each build chooses anew
    backend.detect_gpus = detect
    backend.compute_capability = capability
    backend.gpu_id = options.gpu_id if (options.gpu_id is not None or detect) else 0
    nvcc_args = [*options.nvcc_args, CXX_STANDARD, f"-I{include}"]
    backend.extra_compile_args_nvcc = list(nvcc_args)  # a fresh list: brian2cuda edits it
    if device is not None:
        device.library_dirs = [*device.library_dirs, str(link_dir)]
        device.extra_link_args = [*device.extra_link_args, "-Xlinker",
                                  f"-rpath={runtime_dir}"]
    return CudaSetup(cuda_path=cuda_path, nvcc=cuda_path / "bin" / "nvcc",
                     compute_capability=capability, gpus=gpus, curand_include=include,
                     curand_link_dir=link_dir, curand_runtime_dir=runtime_dir,
                     brian2cuda_version=str(getattr(brian2cuda, "__version__", "unknown")),
                     nvcc_args=nvcc_args)


def standalone_setup(backend: str, options: CudaOptions | None = None,
                     device: Any | None = None) -> contextlib.AbstractContextManager:
    """The context a standalone build of ``backend`` runs in.

    :func:`cuda_build` for ``"cuda_standalone"``, nothing for ``"cpp_standalone"``.
    """
    if backend == CUDA_BACKEND:
        return cuda_build(options, device)
    return contextlib.nullcontext()


def require_for(backend: str) -> None:
    """For ``"cuda_standalone"``, :func:`require_brian2cuda` (one clear error, early)."""
    if backend == CUDA_BACKEND:
        require_brian2cuda()


@contextlib.contextmanager
def cuda_build(options: CudaOptions | None = None,
               device: Any | None = None) -> Iterator[CudaSetup]:
    """Generate or compile a CUDA project inside this block: :func:`configure_cuda` and C++17.

    brian2cuda passes Brian2's host compiler flags (``codegen.cpp.extra_compile_args_gcc``,
    ``-std=c++11`` by default) to ``nvcc -Xcompiler``, where they override nvcc's standard;
    inside the block that flag reads :data:`CXX_STANDARD` (the makefile is written by
    ``device.build``). The preference is restored on leaving, so ``cpp_standalone`` builds
    keep their flags.

    Yields
    ------
    CudaSetup
    """
    from brian2 import prefs

    setup = configure_cuda(options, device)
    previous = list(prefs.codegen.cpp.extra_compile_args_gcc)
    prefs.codegen.cpp.extra_compile_args_gcc = [
        CXX_STANDARD if arg.startswith("-std=") else arg for arg in previous]
    if not any(arg.startswith("-std=") for arg in previous):
        prefs.codegen.cpp.extra_compile_args_gcc.append(CXX_STANDARD)
    try:
        yield setup
    finally:
        prefs.codegen.cpp.extra_compile_args_gcc = previous
