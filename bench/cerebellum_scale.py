"""Cerebellar circuit at scale: cpp_standalone cost against a minimal Brian2 network.

Four measurements, each in its own Python subprocess (fresh Brian2 state; peak memory of
that process and its compiled child read from ``getrusage``):

1. ``circuit``: the full cerebellar SDM (:class:`circuits.cerebellum.protocol.CerebellarSDM`)
   in ``cpp_standalone`` with ``--granule`` cells and ``--purkinje`` Purkinje cells (dense
   PF->PC: granule x purkinje plastic synapses), ``--writes`` writes then ``--reads`` reads.
   Its granule layer is the fused loop of :mod:`circuits.cerebellum.granule_kernel`.
   ``circuit_brian2``: the same circuit with Brian2's own granule code objects
   (``granule_kernel="brian2"``), the reference: the bench compares a SHA-256 of every
   spike (index, time step) of the recorded populations and every read bit of the two
   (``--skip-reference`` leaves it out).
2. ``minimal``: a hand-written Brian2 network of the same size and activity: the same
   mossy-fibre spikes drive the same number of LIF granule cells through the same
   connectivity and weights (so the same cells fire), which drive the same number of LIF
   Purkinje cells through static dense PF synapses. No Golgi cells, interneurons,
   plasticity, climbing fibres, nuclei or readout.
3. ``runtime``/``standalone_small``: the circuit at ``--small-granule`` cells with the numpy
   runtime backend and with cpp_standalone, same presentations.

The stimulus is one volley per presentation (20 ms at 50 Hz) so both networks see exactly
the same granule activity. Prints a table; ratios are measured side by side in one run.

``--backend cuda_standalone`` runs the ``circuit`` part on a GPU (brian2cuda, Python >=
3.12; :mod:`circuits.cuda`) with Brian2's granule code; ``circuit_brian2`` stays
``cpp_standalone``, so the digest comparison is then GPU against CPU, and the ratio
``circuit / circuit_brian2`` the GPU's run time against the CPU's.

    python bench/cerebellum_scale.py                     # 10^5 granule cells, 100+100
    python bench/cerebellum_scale.py --granule 20000 --writes 10 --reads 10   # quick
    python bench/cerebellum_scale.py --backend cuda_standalone   # circuit on the GPU
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


def circuit_params(granule: int, purkinje: int, backend: str, coding_level: float,
                   pairing: str = "all", granule_kernel: str = "auto",
                   preset: str = "kanerva"):
    from brian2 import ms

    from circuits.cerebellum.params import CerebellumParams, GranuleParams

    base = CerebellumParams(address_bits=64, value_bits=purkinje, backend=backend,
                            granule=GranuleParams(n=granule, coding_level=coding_level),
                            granule_kernel=granule_kernel)
    if preset != "kanerva":  # its own mossy fibres, granule cells and Golgi loop; n kept
        base = base.with_preset(preset)
        return replace(base, granule=replace(base.granule, n=granule),
                       plasticity=replace(base.plasticity, pairing=pairing))
    return replace(base, mossy=replace(base.mossy, stimulus=20 * ms),
                   plasticity=replace(base.plasticity, pairing=pairing))


def patterns(args):
    """Random keys/values; the reads query stored keys (``which`` says which)."""
    rng = np.random.default_rng(args.seed)
    keys = rng.integers(0, 2, (args.writes, 64), dtype=np.uint8)
    values = rng.integers(0, 2, (args.writes, args.purkinje), dtype=np.uint8)
    which = rng.integers(0, args.writes, args.reads)
    return keys, values, keys[which], which


def run_circuit(args, granule: int, backend: str, granule_kernel: str = "auto") -> dict:
    from circuits.backend import STANDALONE_BACKENDS
    from circuits.cerebellum.protocol import CerebellarSDM

    params = circuit_params(granule, args.purkinje, backend, args.coding_level, args.pairing,
                            granule_kernel, args.preset)
    keys, values, queries, which = patterns(args)
    directory = tempfile.mkdtemp(prefix="bench-circuit-")
    start = time.perf_counter()
    sdm = CerebellarSDM(params, seed=args.seed, directory=directory,
                        record=("granule", "purkinje", "nuclei"))
    write, read = sdm.write_then_read(keys, values, queries)
    if backend in STANDALONE_BACKENDS:
        timings = dict(sdm.timings)
    else:
        timings = {"run_s": write.timings["run_s"] + read.timings["run_s"]}
    wall = time.perf_counter() - start
    simulated = (args.writes * float(params.protocol.write_slot)
                 + args.reads * float(params.protocol.read_slot))
    return {"wall_s": wall, "build_s": timings.get("build_s", 0.0),
            "run_s": timings["run_s"], "simulated_s": simulated,
            "peak_rss_simulation_mib": timings.get("peak_rss_mib"),
            "granule_spikes_per_read": float(np.mean([len(a) for a in read.active_granule])),
            "read_bit_accuracy": float((read.bits == values[which]).mean()),
            "pf_synapses": len(read.pf_pre), "spikes_and_reads": spike_digest(
                [([r.bits], r.spikes) for r in (write, read)], float(params.protocol.dt)),
            "granule_spikes_total": int(len(write.spikes["granule"].indices)
                                        + len(read.spikes["granule"].indices))}


def run_minimal(args) -> dict:
    """Same mossy spikes, granule LIFs with the same wiring and weights, static PF->PC."""
    import brian2
    from brian2 import NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, Synapses, second

    from circuits.backend import brian_backend, run_network
    from circuits.cerebellum.network import random_wiring
    from circuits.cerebellum.params import derive
    from circuits.cerebellum.protocol import mossy_spike_trains
    from models.seeding import numpy_rng

    params = circuit_params(args.granule, args.purkinje, "cpp_standalone", args.coding_level)
    d = derive(params)
    keys, _values, queries, _ = patterns(args)
    wiring = random_wiring(params, args.seed)
    write_slot = float(params.protocol.write_slot / second)
    read_slot = float(params.protocol.read_slot / second)
    onsets = np.concatenate([write_slot * np.arange(args.writes),
                             write_slot * args.writes + read_slot * np.arange(args.reads)])
    mf_i, mf_t = mossy_spike_trains(params, np.concatenate([keys, queries]), onsets,
                                    numpy_rng(args.seed, "mossy_spikes", 0))
    g = params.granule
    directory = tempfile.mkdtemp(prefix="bench-minimal-")
    start = time.perf_counter()
    with brian_backend("cpp_standalone", directory) as info:
        mossy = SpikeGeneratorGroup(2 * 64, mf_i, mf_t * second)
        granule = NeuronGroup(g.n, """dv/dt = (E_L - v) / tau_m + I / C : volt (unless refractory)
                                      dI/dt = -I / tau_e : amp""",
                              threshold="v > V_th", reset="v = V_reset",
                              refractory=g.refractory, method="exact",
                              namespace={"E_L": g.E_L, "tau_m": g.tau_m, "C": g.C,
                                         "tau_e": g.tau_e, "V_th": g.V_th,
                                         "V_reset": g.V_reset})
        granule.v = g.E_L
        rails = wiring.rails(64, True)
        mf_grc = Synapses(mossy, granule, on_pre="I_post += J", delay=g.mf_delay,
                          namespace={"J": d.granule_weight})
        mf_grc.connect(i=rails.ravel(), j=np.repeat(np.arange(g.n), rails.shape[1]))
        pk = params.purkinje
        purkinje = NeuronGroup(args.purkinje,
                               "dv/dt = (E_L - v) / tau_m + I_tonic / C : volt",
                               threshold="v > V_th", reset="v = E_L", method="exact",
                               namespace={"E_L": pk.E_L, "tau_m": pk.tau_m, "C": pk.C,
                                          "I_tonic": d.pc_tonic, "V_th": pk.V_th})
        pf = Synapses(granule, purkinje, "w : volt", on_pre="v_post += w")
        pf.connect()
        pf.w = 0.01 * brian2.mV
        spikes = SpikeMonitor(granule)
        network = brian2.Network(mossy, granule, mf_grc, purkinje, pf, spikes)
        run_network(network, onsets[-1] * second + read_slot * second, info)
        n_spikes = int(spikes.num_spikes)
    wall = time.perf_counter() - start
    return {"wall_s": wall, "build_s": info.timings["build_s"], "run_s": info.timings["run_s"],
            "peak_rss_simulation_mib": info.timings.get("peak_rss_mib"),
            "simulated_s": float(onsets[-1] + read_slot), "granule_spikes_total": n_spikes,
            "pf_synapses": g.n * args.purkinje}


def child(args) -> None:
    if args.part == "circuit":
        result = run_circuit(args, args.granule, args.backend)
    elif args.part == "circuit_brian2":
        result = run_circuit(args, args.granule, "cpp_standalone", granule_kernel="brian2")
    elif args.part == "minimal":
        result = run_minimal(args)
    elif args.part == "runtime":
        result = run_circuit(args, args.small_granule, "numpy")
    else:
        result = run_circuit(args, args.small_granule, "cpp_standalone")
    emit(result)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--granule", type=int, default=100_000)
    parser.add_argument("--purkinje", type=int, default=64)
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--reads", type=int, default=100)
    parser.add_argument("--coding-level", type=float, default=0.016)
    parser.add_argument("--small-granule", type=int, default=4000)
    parser.add_argument("--small-presentations", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pairing", choices=("all", "nearest"), default="all",
                        help="PF-CF pairing of the circuit's plasticity (see PlasticityParams)")
    parser.add_argument("--preset", default="kanerva",
                        choices=("kanerva", "biological"),
                        help="the circuit's biology (granule.n kept); the minimal network "
                             "runs with kanerva only (it replays its volleys)")
    parser.add_argument("--skip-reference", action="store_true",
                        help="skip the circuit with Brian2's own granule code objects "
                             "(granule_kernel='brian2'), the reference for spikes and reads")
    parser.add_argument("--backend", choices=("cpp_standalone", "cuda_standalone"),
                        default="cpp_standalone",
                        help="backend of the circuit part (cuda_standalone: on a GPU with "
                             "Brian2's granule code; the reference stays cpp_standalone)")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        if args.part in ("runtime", "standalone_small"):
            args.writes = args.reads = args.small_presentations
        child(args)
        return
    argv = list(sys.argv[1:])
    results = {}
    # the minimal network replays the kanerva preset's synchronous volleys
    parts = ["circuit", *(["minimal"] if args.preset == "kanerva" else []), "runtime",
             "standalone_small"]
    if not args.skip_reference:
        parts.insert(1, "circuit_brian2")
    for part in parts:
        print(f"measuring {part} ...", flush=True)
        results[part] = measure(__file__, part, argv)
        print("  " + json.dumps(results[part]), flush=True)
    c, m = results["circuit"], results.get("minimal")
    rt, sa = results["runtime"], results["standalone_small"]
    rows = [
        (f"circuit ({args.backend})", c),
        *([("circuit, Brian2's granule code objects", results["circuit_brian2"])]
          if "circuit_brian2" in results else []),
        *([("minimal network (cpp_standalone)", m)] if m else []),
        (f"circuit numpy runtime, {args.small_granule} GrC", rt),
        (f"circuit cpp_standalone, {args.small_granule} GrC", sa),
    ]
    print()
    print(f"{args.granule} granule cells, {args.purkinje} Purkinje cells "
          f"({args.granule * args.purkinje:,} PF->PC synapses), {args.writes} writes + "
          f"{args.reads} reads, pairing={args.pairing!r}, preset={args.preset!r}")
    print(f"{'':42s} {'build s':>9s} {'run s':>9s} {'run s per sim s':>16s} "
          f"{'peak RSS MiB: python':>21s} {'simulation':>11s}")
    for name, r in rows:
        sim = r["peak_rss_simulation_mib"]
        print(f"{name:42s} {r['build_s']:9.1f} {r['run_s']:9.1f} "
              f"{r['run_s'] / r['simulated_s']:16.2f} "
              f"{r['peak_rss_python_mib']:21.0f} {sim if sim is not None else '-':>11}")
    print()
    if m:
        print(f"ratio circuit / minimal network (run time, same size and activity): "
              f"{c['run_s'] / m['run_s']:.2f}  (goal < 1.0)")
    print(f"ratio runtime (numpy) / cpp_standalone at {args.small_granule} GrC (run time): "
          f"{rt['run_s'] / sa['run_s']:.1f}")
    summary = {}
    if "circuit_brian2" in results:
        ref = results["circuit_brian2"]
        same = ref["spikes_and_reads"] == c["spikes_and_reads"]
        summary = {"circuit_over_brian2_granule": c["run_s"] / ref["run_s"],
                   "same_spikes_and_reads": same, "backend": args.backend}
        print(f"ratio circuit / circuit with Brian2's granule code objects (run time): "
              f"{c['run_s'] / ref['run_s']:.2f}")
        print(f"every spike (index, step) and every read bit identical to that reference: "
              f"{same}")
    print(f"circuit run s per simulated s: {c['run_s'] / c['simulated_s']:.2f}  (goal <= 1.0)")
    print("RESULT " + json.dumps({
        **summary, "circuit_run_s_per_sim_s": c["run_s"] / c["simulated_s"],
        "circuit_over_minimal": c["run_s"] / m["run_s"] if m else None,
        "runtime_over_standalone": rt["run_s"] / sa["run_s"], "granule": args.granule,
        "small_granule": args.small_granule, "parts": results}))


if __name__ == "__main__":
    main()
