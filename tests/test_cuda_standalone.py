"""The cerebellum on brian2cuda's ``cuda_standalone`` (:mod:`circuits.cuda`).

Three kinds of test:

- set-up and errors (fast, any Python): the toolkit and cuRAND are found, a missing
  brian2cuda, the fused granule loop or OpenMP threads with CUDA, and no GPU without a compute
  capability each raise one clear error;
- code generation and compilation (``standalone``, ``slow``: about 12 minutes of ``nvcc`` on
  2 busy cores): under Python >= 3.12 with brian2cuda and ``nvcc``, a small cerebellum (2000
  granule cells) builds as a CUDA project for sm_90 through :class:`StandaloneRunner`, with
  the ``run_args`` entries its runs set, and a second runner reuses the build; no GPU needed;
- runs (``gpu``): the CUDA program's readouts against ``cpp_standalone``'s for the same
  inputs and seed. They cannot be required identical spike for spike: the GPU sums
  synaptic inputs with atomic additions in no fixed order, and nvcc (``-use_fast_math``:
  fused multiply-adds) and g++ (``-ffast-math -march=native``) round the state updates
  differently, so membrane potentials may differ in their last bits. Inputs are the same
  (mossy and climbing spikes are made in Python; reliable release draws no device random
  numbers). What is required identical is what such last-bit differences cannot move: the
  granule spikes (every mossy input adds the same ``J``, a sum whose value does not depend on
  its order, and the volleys put each cell far from its threshold) and the read bits; the
  Purkinje and nuclear spike counts and the weights are compared with stated tolerances.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest
from small_runs import schedule, small_circuit

from circuits import cuda as cuda_module
from circuits.backend import brian_backend
from circuits.cerebellum.params import CerebellumParams
from circuits.cerebellum.protocol import CerebellarSDM
from circuits.cerebellum.standalone import StandaloneRunner, canonical_main_source
from circuits.cuda import CudaOptions, curand_location, find_cuda_path

RECORD = ("granule", "purkinje", "nuclei")
HAS_BRIAN2CUDA = importlib.util.find_spec("brian2cuda") is not None
NEEDS_BRIAN2CUDA = pytest.mark.skipif(
    not HAS_BRIAN2CUDA,
    reason=f"needs brian2cuda (Brian2 2.10.1, Python >= 3.12; this is Python "
           f"{sys.version_info.major}.{sys.version_info.minor})")


def _toolkit() -> str | None:
    """Why nvcc + cuRAND are unusable here, or None if they are usable."""
    try:
        curand_location(find_cuda_path())
    except FileNotFoundError as error:
        return str(error)
    return None


def small(**changes) -> CerebellumParams:
    """32-bit addresses, 8 outputs, 2000 granule cells, CUDA."""
    return small_circuit(2000, **{"backend": "cuda_standalone", **changes})


# ---------------------------------------------------------------- set-up and errors
def test_fused_granule_kernel_is_refused_with_cuda():
    with pytest.raises(ValueError, match=r"granule_kernel='fused'.*cpp_standalone only"):
        small(granule_kernel="fused").validate()
    small(granule_kernel="auto").validate()  # auto: Brian2's granule code on the GPU
    small(granule_kernel="brian2").validate()


def test_auto_granule_kernel_is_brian2s_code_with_cuda():
    from circuits.cerebellum.granule_kernel import uses_fused_granule

    assert not uses_fused_granule(small())
    assert uses_fused_granule(small(backend="cpp_standalone"))


def test_cuda_without_brian2cuda_says_what_it_needs(monkeypatch):
    monkeypatch.setitem(sys.modules, "brian2cuda", None)  # import brian2cuda -> ImportError
    with pytest.raises(ImportError, match=r"brian2cuda.*Brian2 2\.10\.1.*Python >= 3\.12"):
        CerebellarSDM(small(), seed=0)
    with pytest.raises(ImportError, match="brian2cuda"):
        StandaloneRunner(small(), [("write", 1)], seed=0)
    with pytest.raises(ImportError, match="brian2cuda"), brian_backend("cuda_standalone"):
        pass


def test_cuda_refuses_openmp_threads():
    with pytest.raises(ValueError, match="threads"), brian_backend("cuda_standalone",
                                                                   threads=2):
        pass


def test_no_gpu_needs_a_compute_capability(monkeypatch):
    monkeypatch.delenv(cuda_module.ENV_COMPUTE_CAPABILITY, raising=False)
    with pytest.raises(RuntimeError, match=r"no CUDA GPU.*compute_capability=9\.0"):
        cuda_module._compute_capability(CudaOptions(), gpus=0)
    assert cuda_module._compute_capability(CudaOptions(), gpus=1) is None  # detected
    assert cuda_module._compute_capability(CudaOptions(compute_capability=9.0), 0) == 9.0
    monkeypatch.setenv(cuda_module.ENV_COMPUTE_CAPABILITY, "8.0")
    assert cuda_module._compute_capability(CudaOptions(), gpus=0) == 8.0
    with pytest.raises(ValueError, match="compute_capability"):
        cuda_module._compute_capability(CudaOptions(compute_capability=90), gpus=0)


def test_build_identity_names_the_architecture_and_compiler(tmp_path, monkeypatch):
    """The build cache key: another GPU architecture or nvcc release is another build."""
    import subprocess

    nvcc = tmp_path / "cuda" / "bin" / "nvcc"
    nvcc.parent.mkdir(parents=True)
    nvcc.write_text("#!/bin/sh\necho 'Cuda compilation tools, release 13.0, V13.0.48'\n")
    nvcc.chmod(0o755)
    caps = {"out": "8.0\n9.0\n"}

    def fake_run(argv, run=subprocess.run, **kwargs):
        if argv[0] == "nvidia-smi":
            return subprocess.CompletedProcess(argv, 0, caps["out"], "")
        return run(argv, **kwargs)

    monkeypatch.setattr(cuda_module.shutil, "which",
                        lambda name: name if name == "nvidia-smi" else None)
    monkeypatch.setattr(cuda_module.subprocess, "run", fake_run)
    monkeypatch.delenv(cuda_module.ENV_COMPUTE_CAPABILITY, raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    toolkit = str(tmp_path / "cuda")
    identity = cuda_module.build_identity
    assert identity(CudaOptions(cuda_path=toolkit)) == "cc=9.0 nvcc=Cuda compilation tools, " \
                                                       "release 13.0, V13.0.48"
    assert identity(CudaOptions(cuda_path=toolkit, gpu_id=0)).startswith("cc=8.0 ")
    assert identity(CudaOptions(cuda_path=toolkit, compute_capability=9)).startswith("cc=9.0 ")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # gpu_id counts the visible GPUs only
    assert identity(CudaOptions(cuda_path=toolkit, gpu_id=0)).startswith("cc=9.0 ")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv(cuda_module.ENV_COMPUTE_CAPABILITY, "8.6")
    assert identity(CudaOptions(cuda_path=toolkit)).startswith("cc=8.6 ")
    monkeypatch.setenv(cuda_module.ENV_COMPUTE_CAPABILITY, "sm_90")  # refused by configure_cuda
    assert identity(CudaOptions(cuda_path=toolkit)).startswith("cc=sm_90 ")
    monkeypatch.delenv(cuda_module.ENV_COMPUTE_CAPABILITY)
    caps["out"] = ""  # no GPU listed; and no toolkit
    assert identity(CudaOptions(cuda_path=str(tmp_path / "none"))) == "cc=none nvcc=unknown"


def test_toolkit_behind_a_wrapper_script_is_found(tmp_path, monkeypatch):
    toolkit = tmp_path / "cuda-13.0"
    (toolkit / "bin").mkdir(parents=True)
    (toolkit / "bin" / "nvcc").write_text("")
    wrapper = tmp_path / "bin" / "nvcc"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {toolkit}/bin/nvcc "$@"\n')
    wrapper.chmod(0o755)
    for name in ("CUDA_PATH", "CUDA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(wrapper.parent))
    assert find_cuda_path() == toolkit.resolve()
    with pytest.raises(FileNotFoundError, match="bin/nvcc"):
        find_cuda_path(tmp_path / "nowhere")


def test_pip_curand_gets_an_unversioned_link(tmp_path, monkeypatch):
    """The pip package has only libcurand.so.10; brian2cuda links -lcurand."""
    root = tmp_path / "nvidia" / "cu13"
    (root / "include").mkdir(parents=True)
    (root / "include" / "curand.h").write_text("")
    (root / "lib").mkdir()
    (root / "lib" / "libcurand.so.10").write_text("")
    monkeypatch.setattr(cuda_module, "_pip_curand_dirs", lambda: [root])
    monkeypatch.setenv("MEMCIRCUITS_CACHE", str(tmp_path / "cache"))
    include, link_dir, runtime_dir = curand_location(tmp_path / "toolkit-without-curand")
    assert include == root / "include"
    assert runtime_dir == root / "lib"
    assert (link_dir / "libcurand.so").resolve() == (root / "lib" / "libcurand.so.10").resolve()
    assert curand_location(tmp_path / "toolkit-without-curand")[1] == link_dir  # reused
    monkeypatch.setattr(cuda_module, "_pip_curand_dirs", lambda: [])
    with pytest.raises(FileNotFoundError, match="nvidia-curand"):
        curand_location(tmp_path / "toolkit-without-curand")


def test_random_buffer_lines_of_main_cu_are_sorted_by_clock():
    """brian2cuda adds its random-number buffer per clock in a set's order (varies between
    processes); the canonical source does not."""
    a = ("  net.add(&defaultclock, _run_random_number_buffer);\n"
         "  net.add(&clock_1, _run_random_number_buffer);\n"
         "  net.add(&defaultclock, _run_x);")
    b = ("  net.add(&clock_1, _run_random_number_buffer);\n"
         "  net.add(&defaultclock, _run_random_number_buffer);\n"
         "  net.add(&defaultclock, _run_x);")
    assert canonical_main_source(a) == canonical_main_source(b) == b


# ---------------------------------------------------------------- code generation + nvcc
@pytest.mark.standalone
@pytest.mark.slow
@NEEDS_BRIAN2CUDA
def test_small_cerebellum_generates_and_compiles_for_sm90(tmp_path):
    """Build only (no GPU needed): the CUDA project of a 2000-GrC cerebellum compiles and links
    for compute capability 9.0, holds the entries ``run_args`` sets, and a second runner of
    the same structure compiles nothing."""
    reason = _toolkit()
    if reason is not None:
        pytest.skip(reason)
    options = CudaOptions(compute_capability=9.0)
    layout = [("write", 2), ("read", 2)]
    with StandaloneRunner(small(), layout, seed=0, record=RECORD, cache_dir=tmp_path,
                          cuda=options) as runner:
        assert runner.compiled
        directory = runner.directory
        assert (directory / "main").is_file()
        assert "-arch=sm_90" in (directory / "makefile").read_text()
        objects = (directory / "objects.cu").read_text()
        assert runner.reference.params.backend == "cuda_standalone"
        from circuits.cerebellum.standalone import schedule_batches

        # names only: a live TimedArray of this build would rename the next build's
        # unnamed ones (_timedarray_2), change its code and make it recompile
        names = [table.name for table in runner.run_args(schedule_batches(
            runner.params, runner.wiring, schedule(1), seed=0, record=RECORD))]
        assert {"mossy_table", "climbing_table"} <= set(names)
        for name in names:  # every input the runs set is settable in the program
            assert f'name == "{name}.values"' in objects, name
    with StandaloneRunner(small(), layout, seed=0, record=RECORD, cache_dir=tmp_path,
                          cuda=options) as again:
        assert again.directory == directory
        assert not again.compiled  # the cached build: code regenerated, nothing compiled


# ---------------------------------------------------------------- runs on a GPU
def _by_step(spikes) -> np.ndarray:
    """``(2, n)`` time steps and indices of ``spikes``, sorted by step, then index."""
    steps = np.round(np.asarray(spikes.times) * 1e4).astype(np.int64)  # dt = 0.1 ms
    indices = np.asarray(spikes.indices, dtype=np.int64)
    order = np.lexsort((indices, steps))
    return np.stack([steps[order], indices[order]])


def _assert_close_to_cpp(gpu, cpu):
    """Readouts of the CUDA and the C++ program for the same inputs (see module docstring)."""
    for a, b in zip(gpu, cpu, strict=True):
        assert a.kind == b.kind
        # identical: granule spikes (index and step) and read bits
        # brian2cuda records the spikes of one step in no fixed order: compare them sorted
        # by (step, index)
        ga, gb = (_by_step(x.spikes["granule"]) for x in (a, b))
        np.testing.assert_array_equal(ga, gb)
        for x, y in zip(a.active_granule, b.active_granule, strict=True):
            np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a.bits, b.bits)
        # counts per cell and decode window: a last-bit difference can move a spike by a
        # step across a window's edge, one spike in one entry; allow that in one entry per
        # readout (or 2% of the entries), nothing more
        for name in ("purkinje_counts", "nuclei_counts"):
            diff = np.abs(getattr(a, name).astype(int) - getattr(b, name).astype(int))
            assert diff.max(initial=0) <= 1, name
            assert (diff > 0).sum() <= max(1, 0.02 * diff.size), name
        # weights: the same plasticity events, rounding aside
        if np.isfinite(b.weights_after).all():
            np.testing.assert_allclose(a.weights_after, b.weights_after, rtol=1e-6,
                                       atol=1e-9)


@pytest.mark.gpu
@pytest.mark.standalone
@pytest.mark.slow
@NEEDS_BRIAN2CUDA
def test_cuda_runner_matches_cpp_and_reuses_its_build(tmp_path):
    """Two schedules from one CUDA build (run_args, no recompilation) against cpp_standalone
    (Brian2's granule code, the same code objects) for the same inputs."""
    layout = [("write", 2), ("read", 2)]
    cpu_params = small(backend="cpp_standalone", granule_kernel="brian2")
    with StandaloneRunner(small(), layout, seed=0, record=RECORD,
                          cache_dir=tmp_path / "cuda") as gpu:
        gpu_runs = [gpu.run(schedule(s)) for s in (1, 2)]
        assert gpu.runs == 2
    with StandaloneRunner(cpu_params, layout, seed=0, record=RECORD,
                          cache_dir=tmp_path / "cpp") as cpu:
        cpu_runs = [cpu.run(schedule(s)) for s in (1, 2)]
    for g, c in zip(gpu_runs, cpu_runs, strict=True):
        _assert_close_to_cpp(g, c)
    assert not np.array_equal(gpu_runs[0][1].active_granule[0],
                              gpu_runs[1][1].active_granule[0])  # new inputs, new spikes


@pytest.mark.gpu
@pytest.mark.standalone
@pytest.mark.slow
@NEEDS_BRIAN2CUDA
def test_cuda_sdm_write_then_read_matches_cpp(tmp_path):
    """CerebellarSDM(backend='cuda_standalone'): one build and run, as cpp_standalone."""
    keys_values = schedule(3)[0]
    keys, values = keys_values[1], keys_values[2]
    gpu = CerebellarSDM(small(), seed=0, record=RECORD, directory=tmp_path / "cuda")
    cpu = CerebellarSDM(small(backend="cpp_standalone", granule_kernel="brian2"), seed=0,
                        record=RECORD, directory=tmp_path / "cpp")
    g = gpu.write_then_read(keys, values, keys)
    c = cpu.write_then_read(keys, values, keys)
    _assert_close_to_cpp(g, c)
    assert gpu.timings["build_s"] > 0 and gpu.timings["run_s"] > 0
    assert os.path.isfile(tmp_path / "cuda" / "main")
