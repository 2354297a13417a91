"""A cerebellar SDM with 10^6 granule cells in cpp_standalone (or on a GPU): time and memory.

10^6 granule cells (full Kanerva design: 64 mossy-fibre inputs each, 64 M mossy->granule
synapses), Golgi feedback, 64 Purkinje cells with sparse PF->PC connectivity
(``--pf-connectivity`` 0.15: about 150 k plastic PF synapses per Purkinje cell), molecular
interneuron pools, climbing fibres and nuclear cells; ``--writes`` writes then ``--reads``
reads of stored keys, simulated as one C++ program. Runs in a fresh Python process
(:mod:`_parts`) and prints build and run time, run time per simulated second, peak resident
memory of the Python process and of the simulation, next to the memory guard's estimate
(:func:`circuits.memory.cerebellum_footprint`), the read accuracy and a SHA-256 of every
spike (index, step) and read bit of the recorded populations (``spikes_and_reads``,
:func:`_parts.spike_digest`).

``--backend cuda_standalone`` runs the circuit on a GPU (brian2cuda, Python >= 3.12;
:mod:`circuits.cuda`; Brian2's granule code, the fused loop being C++ for the CPU);
``--reference`` also runs it in ``cpp_standalone`` and says whether the digests agree.
``--compile-only`` generates and compiles the project (through
:class:`~circuits.cerebellum.standalone.StandaloneRunner`) without running it; with
``--compute-capability`` that works without a GPU.

    python bench/cerebellum_million.py                      # 10^6 GrC, 20 + 20
    python bench/cerebellum_million.py --granule 100000     # quick
    python bench/cerebellum_million.py --backend cuda_standalone --reference   # GPU vs CPU
    python bench/cerebellum_million.py --backend cuda_standalone --compile-only \
        --compute-capability 9.0                            # nvcc, no GPU
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np
from _parts import emit, measure, spike_digest


def params_for(args, backend: str):
    from brian2 import ms

    from circuits.cerebellum.params import CerebellumParams, GranuleParams

    base = CerebellumParams(address_bits=64, value_bits=args.purkinje,
                            backend=backend,
                            granule=GranuleParams(n=args.granule,
                                                  coding_level=args.coding_level))
    return replace(base, mossy=replace(base.mossy, stimulus=20 * ms),
                   purkinje=replace(base.purkinje, pf_connectivity=args.pf_connectivity))


def cuda_options(args):
    from circuits.cuda import CudaOptions

    return CudaOptions(compute_capability=args.compute_capability)


def compile_only(args, backend: str) -> None:
    """Generate and compile the project (a StandaloneRunner's build), run nothing."""
    from circuits.cerebellum.standalone import StandaloneRunner

    params = params_for(args, backend)
    start = time.perf_counter()
    runner = StandaloneRunner(params, [("write", args.writes), ("read", args.reads)],
                              seed=args.seed, record=("granule", "purkinje", "nuclei"),
                              cache_dir=tempfile.mkdtemp(prefix="bench-million-build-"),
                              cuda=cuda_options(args) if backend == "cuda_standalone" else None)
    wall = time.perf_counter() - start
    timers = getattr(runner._device, "timers", {}).get("compile", {})
    emit({"backend": backend, "wall_s": wall, "build_s": runner.build_s,
          "make_s": timers.get("make"), "compiled": runner.compiled,
          "directory": str(runner.directory)})
    runner.close()


def child(args) -> None:
    from circuits.cerebellum.protocol import CerebellarSDM
    from circuits.memory import cerebellum_footprint

    backend = "cpp_standalone" if args.part == "reference" else args.backend
    if args.compile_only:
        compile_only(args, backend)
        return
    params = params_for(args, backend)
    rng = np.random.default_rng(args.seed)
    keys = rng.integers(0, 2, (args.writes, 64), dtype=np.uint8)
    values = rng.integers(0, 2, (args.writes, args.purkinje), dtype=np.uint8)
    which = rng.integers(0, args.writes, args.reads)
    simulated = (args.writes * float(params.protocol.write_slot)
                 + args.reads * float(params.protocol.read_slot))
    estimate = cerebellum_footprint(params, presentations=args.writes + args.reads,
                                    duration_s=simulated)
    start = time.perf_counter()
    sdm = CerebellarSDM(params, seed=args.seed,
                        directory=tempfile.mkdtemp(prefix="bench-million-"),
                        record=("granule", "purkinje", "nuclei"),
                        cuda=cuda_options(args) if backend == "cuda_standalone" else None)
    write, read = sdm.write_then_read(keys, values, keys[which])
    wall = time.perf_counter() - start
    per_cell = np.bincount(read.pf_post, minlength=args.purkinje)
    emit({"backend": backend, "wall_s": wall, "build_s": sdm.timings.get("build_s"),
          "run_s": sdm.timings.get("run_s"), "simulated_s": simulated,
          "peak_rss_simulation_mib": sdm.timings.get("peak_rss_mib"),
          "estimate_mib": estimate.total / 2 ** 20,
          "estimate_largest": estimate.describe(4),
          "pf_synapses": len(read.pf_pre),
          "pf_per_purkinje_min": int(per_cell.min()), "pf_per_purkinje_max": int(per_cell.max()),
          "coding_level": float(np.mean([len(a) for a in read.active_granule])) / args.granule,
          "read_bit_accuracy": float((read.bits == values[which]).mean()),
          "spikes_and_reads": spike_digest([([r.bits], r.spikes) for r in (write, read)],
                                           float(params.protocol.dt)),
          "reads": spike_digest([([r.bits], {}) for r in (write, read)],
                                float(params.protocol.dt))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--granule", type=int, default=1_000_000)
    parser.add_argument("--purkinje", type=int, default=64)
    parser.add_argument("--pf-connectivity", type=float, default=0.15)
    parser.add_argument("--coding-level", type=float, default=0.005)
    parser.add_argument("--writes", type=int, default=20)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", choices=("cpp_standalone", "cuda_standalone"),
                        default="cpp_standalone")
    parser.add_argument("--reference", action="store_true",
                        help="also run the circuit in cpp_standalone and compare the digests "
                             "of every spike and read bit")
    parser.add_argument("--compile-only", action="store_true",
                        help="generate and compile only (no run): build time")
    parser.add_argument("--compute-capability", type=float, default=None,
                        help="cuda_standalone: compile for this compute capability (9.0: "
                             "H100/H200); needed without a GPU; default: the GPU's")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        child(args)
        return
    if args.compile_only:
        r = measure(__file__, "circuit", list(sys.argv[1:]))
        print(json.dumps(r, indent=1))
        print(f"\n{args.granule:,} granule cells, {args.backend}: generated and compiled in "
              f"{r['build_s']:.1f} s (make {r['make_s'] or float('nan'):.1f} s); not run")
        print("RESULT " + json.dumps(r))
        return
    reference = None
    if args.reference:
        print("measuring reference (cpp_standalone) ...", flush=True)
        reference = measure(__file__, "reference", list(sys.argv[1:]))
        print("  " + json.dumps(reference), flush=True)
    r = measure(__file__, "circuit", list(sys.argv[1:]))
    print(json.dumps(r, indent=1))
    total = r["peak_rss_python_mib"] + (r["peak_rss_simulation_mib"] or 0)
    print(f"\n{args.granule:,} granule cells x {args.purkinje} Purkinje cells, "
          f"{r['pf_synapses']:,} PF->PC synapses ({r['pf_per_purkinje_min']:,}-"
          f"{r['pf_per_purkinje_max']:,} per Purkinje cell), coding level "
          f"{r['coding_level']:.4f}; {args.writes} writes + {args.reads} reads")
    print(f"build {r['build_s']:.1f} s, run {r['run_s']:.1f} s = "
          f"{r['run_s'] / r['simulated_s']:.2f} s per simulated s; peak RSS: Python "
          f"{r['peak_rss_python_mib']:.0f} MiB + simulation {r['peak_rss_simulation_mib']} MiB "
          f"= {total:.0f} MiB (memory guard estimate {r['estimate_mib']:.0f} MiB, "
          f"{r['estimate_mib'] / total:.2f} of measured); read bit accuracy "
          f"{r['read_bit_accuracy']:.4f}")
    summary = {"backend": args.backend, "granule": args.granule,
               "run_s_per_sim_s": r["run_s"] / r["simulated_s"], "circuit": r}
    if reference is not None:
        same = reference["spikes_and_reads"] == r["spikes_and_reads"]
        summary.update(reference=reference, same_spikes_and_reads=same,
                       same_reads=reference["reads"] == r["reads"],
                       run_over_reference=r["run_s"] / reference["run_s"])
        print(f"reference cpp_standalone: build {reference['build_s']:.1f} s, run "
              f"{reference['run_s']:.1f} s; run time {args.backend} / cpp_standalone: "
              f"{r['run_s'] / reference['run_s']:.3f}; read bit accuracy "
              f"{reference['read_bit_accuracy']:.4f}")
        print(f"every spike (index, step) and every read bit identical to cpp_standalone: "
              f"{same}")
    print("RESULT " + json.dumps(summary))


if __name__ == "__main__":
    main()
