"""Synthetic calcium imaging: the vectorised synthesis next to a naive per-neuron loop.

Both parts synthesise the *same* data: ``--neurons`` Poisson spike trains (``--rate`` Hz)
of ``--minutes`` minutes, imaged at ``--fps`` with ``--indicator`` (spike-to-fluorescence
model of :mod:`analysis.calcium`: kernel sum, Hill saturation, neuropil, drift, photon shot
noise, neuropil correction, maximin baseline, dF/F and the noise level of every trace).

1. ``vectorised``: :func:`analysis.calcium.synthesize` on the whole population (blocks of
   128 neurons, one ``lfilter`` each, ``--workers`` threads), the photon budget calibrated
   to ``--noise-level``.
2. ``naive``: the textbook loop over neurons and, within a neuron, over spikes (each spike
   adds its kernel, truncated at 20 decay constants, to the trace), then the same
   per-neuron steps on 1-D arrays; the photon budget of part 1 (no calibration). It runs on
   the first ``--naive-neurons`` neurons and its time is extrapolated linearly to all of
   them (``--naive-neurons`` = ``--neurons`` runs it all). Its noise-free dF/F is compared
   with the vectorised kernel sum on the same neurons (largest absolute difference).

Each part runs in its own Python process (imports excluded from the timings). Use::

    python bench/calcium_synth.py                            # 10^4 neurons x 10 min x 30 Hz
    python bench/calcium_synth.py --neurons 1000 --minutes 2 # quick
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
from _parts import emit, measure


def spikes(args):
    """The benchmark's spike trains (same in both parts)."""
    from analysis.calcium import SpikeEvents

    duration = args.minutes * 60.0
    rng = np.random.default_rng(args.seed)
    counts = rng.poisson(args.rate * duration, args.neurons)
    idx = np.repeat(np.arange(args.neurons), counts)
    times = rng.random(counts.sum()) * duration
    return SpikeEvents.of(idx, times), duration


def params(args, photons: float = 0.0):
    from analysis.calcium import SynthesisParams

    return SynthesisParams(indicator=args.indicator, fps=args.fps,
                           noise_level=args.noise_level, photons=photons)


def naive_population(events, n: int, duration: float, p, *, seed: int = 0,
                     clean_only: bool = False) -> dict[str, np.ndarray]:
    """The naive per-neuron, per-spike synthesis (same model as ``synthesize``)."""
    from analysis.calcium import fit_kernel, frame_count, get_indicator, hill_dff

    ind = get_indicator(p.indicator)
    kernel = fit_kernel(ind)
    fps = p.fps
    T = frame_count(duration, fps)
    tf = (np.arange(T) + 1) / fps
    L = math.ceil(20 * kernel.tau_decay * fps) + 1
    rng = np.random.default_rng(seed)
    drift = np.sin(2 * np.pi * tf / 120.0)
    ramp = np.arange(T) / max(T - 1, 1) - 0.5
    weights = events.weight_array()
    clean, dff, nu = [], [], []
    for i in range(n):
        mine = events.indices == i
        c = np.zeros(T)
        for tk, wk in zip(events.times[mine], weights[mine], strict=True):
            j0 = int(np.floor(tk * fps))
            seg = tf[j0:j0 + L] - tk
            c[j0:j0 + L] += wk * (np.exp(-seg / kernel.tau_decay)
                                  - np.exp(-seg / kernel.tau_rise)) / kernel.norm
        d = hill_dff(ind.ca_rest + kernel.ca_per_ap * c, ind)
        clean.append(d)
        if clean_only:
            continue
        f0, np0 = p.photons, p.photons * p.neuropil_brightness
        m = np.maximum(1 + rng.normal(0, p.drift) * drift + rng.normal(0, p.trend) * ramp, 0.05)
        lam = m * (f0 * (1 + d) + p.neuropil * np0)
        lam_np = m * p.neuropil_pixels * np0
        f = lam + np.sqrt(lam) * rng.standard_normal(T)
        fn = (lam_np + np.sqrt(lam_np) * rng.standard_normal(T)) / p.neuropil_pixels
        corr = f - p.neuropil * fn
        B = max(1, round(p.baseline_bin * fps))
        means = np.array([corr[k:k + B].mean() for k in range(0, T, B)])
        w = max(1, round(p.baseline_window / p.baseline_bin))
        lo = np.array([means[max(0, k - w // 2):k + w - w // 2].min()
                       for k in range(len(means))])
        hi = np.array([lo[max(0, k - w // 2):k + w - w // 2].max() for k in range(len(lo))])
        base = np.interp((np.arange(T) - (B - 1) / 2) / B, np.arange(len(hi)), hi)
        trace = corr / base - 1
        dff.append(trace)
        nu.append(np.median(np.abs(np.diff(trace))) / np.sqrt(fps) * 100)
    return {"clean": np.array(clean), "dff": np.array(dff), "nu": np.array(nu)}


def child(args) -> None:
    from analysis.calcium import synthesize

    events, duration = spikes(args)
    if args.part == "vectorised":
        start = time.perf_counter()
        traces = synthesize(events, args.neurons, duration, params(args), seed=args.seed,
                            workers=args.workers)
        wall = time.perf_counter() - start
        emit({"part": "vectorised", "neurons": args.neurons, "wall_s": wall,
              "photons": traces.photons,
              "noise_level_median": float(np.median(traces.noise_level)),
              "frames": traces.n_frames, "spikes": len(events)})
        return
    from analysis.calcium import clean_dff, frame_count

    n = min(args.naive_neurons, args.neurons)
    p = params(args, photons=args.photons)
    start = time.perf_counter()
    out = naive_population(events, n, duration, p, seed=args.seed)
    wall = time.perf_counter() - start
    subset = events.indices < n
    from analysis.calcium import SpikeEvents

    reference = clean_dff(SpikeEvents(events.indices[subset], events.times[subset]), n,
                          frame_count(duration, args.fps), args.fps, args.indicator)
    emit({"part": "naive", "neurons": n, "wall_s": wall,
          "wall_s_extrapolated": wall * args.neurons / n,
          "noise_level_median": float(np.median(out["nu"])),
          "clean_max_abs_diff": float(np.abs(out["clean"] - reference).max())})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--neurons", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=1.0, help="Poisson rate (Hz)")
    parser.add_argument("--indicator", default="GCaMP6f")
    parser.add_argument("--noise-level", type=float, default=1.0)
    parser.add_argument("--naive-neurons", type=int, default=500)
    parser.add_argument("--workers", type=int, default=0,
                        help="threads of the vectorised part (0: min(2, cores))")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--photons", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        child(args)
        return
    argv = list(sys.argv[1:])
    print("measuring vectorised ...", flush=True)
    vec = measure(__file__, "vectorised", argv)
    print("  " + json.dumps(vec), flush=True)
    print("measuring naive ...", flush=True)
    naive = measure(__file__, "naive", [*argv, "--photons", str(vec["photons"])])
    print("  " + json.dumps(naive), flush=True)
    print()
    print(f"{args.neurons} neurons x {args.minutes:g} min at {args.fps:g} Hz "
          f"({vec['frames']} frames, {vec['spikes']} spikes), {args.indicator}, "
          f"noise level {args.noise_level}")
    print(f"{'':42s} {'neurons run':>11s} {'wall s':>8s} {'s for all':>10s} {'nu':>6s}")
    print(f"{'vectorised (analysis.calcium.synthesize)':42s} {vec['neurons']:11d} "
          f"{vec['wall_s']:8.2f} {vec['wall_s']:10.2f} {vec['noise_level_median']:6.3f}")
    print(f"{'naive per-neuron, per-spike loop':42s} {naive['neurons']:11d} "
          f"{naive['wall_s']:8.2f} {naive['wall_s_extrapolated']:10.2f} "
          f"{naive['noise_level_median']:6.3f}")
    print(f"ratio naive / vectorised (all neurons): "
          f"{naive['wall_s_extrapolated'] / vec['wall_s']:.1f}x; noise-free dF/F of the two "
          f"differs by at most {naive['clean_max_abs_diff']:.2e}")


if __name__ == "__main__":
    main()
