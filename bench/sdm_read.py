#!/usr/bin/env python
r"""Benchmark of the dense SDM read: r hard locations x n bits, batched queries.

The read is the naive dense one (SCIENCE.md section 7), in bipolar form:

.. math:: D = A_{\mathrm{addr}}\, Q^\top \ (r \times b), \qquad
          M = [D \ge n - 2d], \qquad s = M^\top C \ (b \times n), \qquad
          \hat p = [s > 0],

with :math:`A_{\mathrm{addr}} \in \{\pm 1\}^{r \times n}` the addresses,
:math:`Q \in \{\pm1\}^{b \times n}` the queries and :math:`C` the ``r x n`` counters (small
random integers), all in ``--dtype``. The radius ``d`` defaults to the one whose activation
probability is nearest 0.001 in log (451 for n = 1000, Kanerva's sample memory).

Reported per device and batch: time per read (median of the repeats after a warm-up; CUDA
timed with events after ``torch.cuda.synchronize``), achieved bandwidth (bytes of addresses +
counters, :math:`2 r n` elements, per second), TFLOP/s (:math:`2 r n b \cdot 2` per read),
the percentage of the card's peak (known cards only), peak memory (CUDA: max allocated; CPU:
the process's peak resident set) and, for CUDA rows, the throughput ratio to the CPU row of
the same batch.

bf16 is exact here as long as :math:`|n - 2d| \le 256` (the threshold and its neighbours are
representable) and the matmul accumulates in float32 (then rounding keeps the sign of every
sum); ``--check`` compares the bits with the exact reference :class:`models.sdm.SDM`.

Examples
--------
``python bench/sdm_read.py --device all`` (GPU and CPU side by side);
``python bench/sdm_read.py --device cpu --cpu-neurons 100000 --dtype float32``.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["dense_read", "main", "make_memory", "peak_specs", "run_device"]

#: (name fragment, HBM bandwidth B/s, dense bf16 FLOP/s, dense fp32 FLOP/s); first match wins.
_CARDS: tuple[tuple[str, float, float, float], ...] = (
    ("H200", 4.8e12, 989e12, 67e12),
    ("H100 PCIe", 2.0e12, 756e12, 51e12),
    ("H100", 3.35e12, 989e12, 67e12),
    ("A100", 2.039e12, 312e12, 19.5e12),
)


def peak_specs(card: str, dtype: torch.dtype) -> tuple[float | None, float | None]:
    """Peak bandwidth (B/s) and dense FLOP/s of ``card`` for ``dtype`` (None if unknown)."""
    for fragment, bandwidth, bf16, fp32 in _CARDS:
        if fragment.lower() in card.lower():
            return bandwidth, (bf16 if dtype in (torch.bfloat16, torch.float16) else fp32)
    return None, None


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where available)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_has_native_bf16() -> bool:
    """Whether /proc/cpuinfo lists a bf16 matrix/vector extension (x86 or Arm)."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = handle.read()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16", " bf16"))


def default_radius(n: int, probability: float = 1e-3) -> int:
    """The radius whose activation probability P(Bin(n, 1/2) <= d) is nearest in log."""
    from scipy import stats

    cdf = stats.binom.cdf(range(n + 1), n, 0.5)
    return int(np.argmin(np.abs(np.log(np.maximum(cdf, 1e-300)) - np.log(probability))))


def make_memory(r: int, n: int, dtype: torch.dtype, device: torch.device | str,
                seed: int = 0, counter_range: int = 15) -> tuple[torch.Tensor, torch.Tensor]:
    """Random bipolar addresses ``(r, n)`` and integer counters ``(r, n)`` in ``dtype``."""
    device = torch.device(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    addresses = torch.randint(0, 2, (r, n), generator=generator, device=device,
                              dtype=torch.int8)
    addresses = (addresses * 2 - 1).to(dtype)
    counters = torch.randint(-counter_range, counter_range + 1, (r, n), generator=generator,
                             device=device, dtype=torch.int8).to(dtype)
    return addresses, counters


def make_queries(batch: int, n: int, dtype: torch.dtype, device: torch.device | str,
                 seed: int = 1) -> torch.Tensor:
    """``(n, batch)`` bipolar queries (one query per column)."""
    device = torch.device(device)
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    queries = torch.randint(0, 2, (n, batch), generator=generator, device=device,
                            dtype=torch.int8)
    return (queries * 2 - 1).to(dtype)


def dense_read(addresses: torch.Tensor, counters: torch.Tensor, queries_t: torch.Tensor,
               threshold: int) -> torch.Tensor:
    """Dense SDM read; ``queries_t`` is ``(n, batch)``; returns ``(batch, n)`` bool bits."""
    dots = addresses @ queries_t  # (r, batch) = n - 2 * Hamming distance
    mask = (dots >= threshold).to(addresses.dtype)  # (r, batch) active hard locations
    sums = mask.T @ counters  # (batch, n)
    return sums > 0


def _available_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _time_once(device: torch.device, fn: Any) -> float:
    if device.type == "cuda":
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize(device)
        start.record()
        fn()
        stop.record()
        torch.cuda.synchronize(device)
        return start.elapsed_time(stop) / 1000.0
    begin = time.perf_counter()
    fn()
    return time.perf_counter() - begin


def run_device(device: str, r: int, n: int, batches: Sequence[int], dtype: torch.dtype, *,
               radius: int, repeats: int = 5, min_time: float = 0.2,
               max_seconds: float | None = None, seed: int = 0,
               log: Any = print) -> list[dict[str, Any]]:
    """Time the dense read on one device for every batch; one row dict per batch."""
    dev = torch.device(device)
    if dev.type == "cuda":
        card = torch.cuda.get_device_name(dev)
    else:
        card = f"CPU {cpu_model()} ({torch.get_num_threads()} threads)"
    bandwidth_peak, flops_peak = peak_specs(card, dtype) if dev.type == "cuda" else (None,
                                                                                      None)
    elt = torch.empty((), dtype=dtype).element_size()
    threshold = n - 2 * radius
    addresses, counters = make_memory(r, n, dtype, dev, seed=seed)
    # warm-up (kernels, allocator, thread pools) with the smallest batch
    warm_q = make_queries(min(batches), n, dtype, dev)
    dense_read(addresses, counters, warm_q, threshold)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    rows: list[dict[str, Any]] = []
    previous: tuple[int, float] | None = None
    for batch in batches:
        row: dict[str, Any] = {"device": dev.type, "card": card, "neurons": r, "bits": n,
                               "batch": batch, "dtype": str(dtype).replace("torch.", "")}
        need = r * batch * (2 * elt + 1) + 2 * n * batch * elt  # dots, mask, compare, io
        available = _available_bytes(dev)
        estimate = None if previous is None else previous[1] * batch / previous[0]
        if available is not None and need > 0.8 * available:
            row["skipped"] = f"needs ~{need / 2**30:.1f} GiB > 80% of free memory"
        elif max_seconds is not None and estimate is not None and estimate > max_seconds:
            row["skipped"] = f"estimated {estimate:.0f} s > --cpu-max-seconds {max_seconds:g}"
        if "skipped" in row:
            log(f"  {dev.type} batch {batch}: skipped ({row['skipped']})")
            rows.append(row)
            continue
        queries = make_queries(batch, n, dtype, dev)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)

        def read(q: torch.Tensor = queries) -> torch.Tensor:
            return dense_read(addresses, counters, q, threshold)

        times = [_time_once(dev, read)]
        while len(times) < repeats and sum(times) < min_time * repeats:
            times.append(_time_once(dev, read))
        seconds = statistics.median(times)
        previous = (batch, seconds)
        touched = 2 * r * n * elt
        flops = 2 * r * n * batch * 2
        row.update({
            "time_ms": seconds * 1e3,
            "repeats": len(times),
            "gb_s": touched / seconds / 1e9,
            "tflop_s": flops / seconds / 1e12,
            "pct_bandwidth": (None if bandwidth_peak is None
                              else 100 * touched / seconds / bandwidth_peak),
            "pct_flops": None if flops_peak is None else 100 * flops / seconds / flops_peak,
            "peak_mib": (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda"
                         else _peak_rss_bytes()) / 2**20,
        })
        log(f"  {dev.type} batch {batch}: {row['time_ms']:.3f} ms")
        rows.append(row)
    return rows


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """Rows grouped by batch (CPU then CUDA), with the CUDA/CPU throughput ratio."""
    header = (f"{'batch':>6} {'device':>6} {'neurons':>9} {'time/read':>12} {'GB/s':>9} "
              f"{'TFLOP/s':>9} {'%peakBW':>8} {'%peakFLOP':>9} {'peak MiB':>9} {'x cpu':>7}")
    lines = [header, "-" * len(header)]
    cpu_rate = {row["batch"]: row["gb_s"] for row in rows
                if row["device"] == "cpu" and "gb_s" in row}
    order = {"cpu": 0, "cuda": 1}
    for row in sorted(rows, key=lambda x: (x["batch"], order.get(x["device"], 2))):
        if "skipped" in row:
            lines.append(f"{row['batch']:>6} {row['device']:>6} {row['neurons']:>9}   "
                         f"skipped: {row['skipped']}")
            continue
        ratio = None
        if row["device"] == "cuda" and row["batch"] in cpu_rate:
            ratio = row["gb_s"] / cpu_rate[row["batch"]]
        time_text = (f"{row['time_ms']:.3f} ms" if row["time_ms"] < 1e4
                     else f"{row['time_ms'] / 1e3:.1f} s")
        lines.append(f"{row['batch']:>6} {row['device']:>6} {row['neurons']:>9} "
                     f"{time_text:>12} {row['gb_s']:>9.3g} {row['tflop_s']:>9.3g} "
                     f"{_fmt(row['pct_bandwidth'], '.1f'):>8} "
                     f"{_fmt(row['pct_flops'], '.1f'):>9} {row['peak_mib']:>9.0f} "
                     f"{_fmt(ratio, '.1f'):>7}")
    return "\n".join(lines)


def _parse_batches(text: str) -> list[int]:
    try:
        batches = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--batches must be comma-separated integers, "
                                         f"got {text!r}") from exc
    if not batches or min(batches) < 1:
        raise argparse.ArgumentTypeError(f"--batches must be positive integers, got {text!r}")
    return batches


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="all",
                        help="which devices to time (all: CUDA if present, and the CPU)")
    parser.add_argument("--neurons", type=int, default=10**6,
                        help="hard locations r (default 10^6, Kanerva's sample memory)")
    parser.add_argument("--cpu-neurons", type=int, default=None,
                        help="hard locations for the CPU rows (default: min(--neurons, "
                             "10^5); a dense 10^6 x 1000 read is minutes per batch on a "
                             "small CPU)")
    parser.add_argument("--bits", type=int, default=1000, help="address/value length n")
    parser.add_argument("--radius", type=int, default=None,
                        help="Hamming radius d (default: activation probability ~0.001)")
    parser.add_argument("--batches", type=_parse_batches, default=[1, 4, 16, 64, 256, 1024],
                        help="comma-separated query batch sizes")
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed reads per batch (fewer when one read is slow)")
    parser.add_argument("--cpu-max-seconds", type=float, default=60.0,
                        help="skip CPU batches whose estimated time per read exceeds this")
    parser.add_argument("--check", action="store_true",
                        help="verify the bits against models.sdm.SDM on a small copy first")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.neurons < 1 or args.bits < 1:
        parser.error("--neurons and --bits must be >= 1")
    if args.cpu_neurons is not None and args.cpu_neurons < 1:
        parser.error("--cpu-neurons must be >= 1")
    if args.radius is not None and not 0 <= args.radius <= args.bits:
        parser.error(f"--radius must be in [0, --bits={args.bits}]")
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return args


def check_against_reference(device: str, dtype: torch.dtype, *, r: int = 2000, n: int = 64,
                            radius: int = 24, batch: int = 32, seed: int = 0) -> int:
    """Number of bits where :func:`dense_read` differs from :class:`models.sdm.SDM`."""
    from models.sdm import SDM

    addresses, counters = make_memory(r, n, dtype, device, seed=seed)
    queries_t = make_queries(batch, n, dtype, device, seed=seed + 1)
    bits = dense_read(addresses, counters, queries_t, n - 2 * radius)
    reference = SDM((addresses.float().cpu() > 0).to(torch.uint8), radius=radius,
                    counter_dtype=torch.int32)
    reference.set_counters(counters.float().cpu().to(torch.int32))
    expected = reference.read((queries_t.T.float().cpu() > 0).to(torch.uint8))
    return int((bits.cpu().to(torch.uint8) != expected).sum())


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark, print the table, return the rows."""
    args = parse_args(argv)
    dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32}[args.dtype]
    n = args.bits
    radius = default_radius(n) if args.radius is None else args.radius
    cuda = torch.cuda.is_available()
    devices = []
    if args.device in ("cuda", "all"):
        if cuda:
            devices.append("cuda")
        else:
            print("no CUDA GPU is available (torch.cuda.is_available() is False); "
                  + ("running the CPU rows only" if args.device == "all" else
                     "nothing to time for --device cuda"))
    if args.device in ("cpu", "all"):
        devices.append("cpu")
    cpu_neurons = (args.cpu_neurons if args.cpu_neurons is not None
                   else min(args.neurons, 10**5))
    if "cpu" in devices and cpu_neurons != args.neurons:
        print(f"note: CPU rows use r={cpu_neurons} hard locations (not {args.neurons}); "
              f"set --cpu-neurons to change it")
    from scipy import stats

    probability = float(stats.binom.cdf(radius, n, 0.5))
    print(f"dense SDM read: n={n} bits, radius d={radius} (activation probability "
          f"{probability:.3g}, bipolar threshold {n - 2 * radius}), dtype {args.dtype}, "
          f"torch {torch.__version__}")
    if dtype == torch.bfloat16 and abs(n - 2 * radius) > 256:
        print("warning: |n - 2d| > 256, the bf16 threshold comparison may round")
    if "cpu" in devices and dtype == torch.bfloat16 and not _cpu_has_native_bf16():
        print("note: this CPU has no native bf16 matmul (avx512_bf16/amx_bf16), so bf16 "
              "CPU rows run a slow fallback; --dtype float32 shows what the CPU can do")
    if args.check:
        for device in devices:
            wrong = check_against_reference(device, dtype)
            print(f"check vs models.sdm.SDM on {device}: {wrong} differing bits")
    rows: list[dict[str, Any]] = []
    for device in devices:
        r = cpu_neurons if device == "cpu" else args.neurons
        label = (torch.cuda.get_device_name() if device == "cuda"
                 else f"{cpu_model()}, {torch.get_num_threads()} threads")
        print(f"timing {device} ({label}), r={r} ...")
        rows += run_device(device, r, n, args.batches, dtype, radius=radius,
                           repeats=args.repeats,
                           max_seconds=args.cpu_max_seconds if device == "cpu" else None,
                           seed=args.seed)
    if not rows:
        return rows
    print()
    print(format_table(rows))
    cards = sorted({row["card"] for row in rows})
    print("devices: " + "; ".join(cards))
    print("GB/s counts the addresses and counters (2 r n elements) once per read; TFLOP/s "
          "counts 2 r n batch x 2; % of peak only for known cards (H100 3.35 TB/s, H200 "
          "4.8 TB/s, 989 TFLOP/s dense bf16); peak MiB: CUDA max allocated, CPU process "
          "peak RSS")
    return rows


if __name__ == "__main__":
    main()
