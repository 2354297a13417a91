#!/usr/bin/env python
r"""Benchmark: packed/sparse vs dense binary SDM reads, side by side on the same data.

One memory of ``--locations`` hard locations x ``--bits`` bits (radius ``d`` with activation
probability ~0.001, Kanerva's sample memory; random counters in [-15, 15]) is read with
batches of random queries by three parts, each in a fresh process (bench/_parts.py) so that
each has its own peak memory:

- ``dense``: :class:`models.sdm.SDM` with ``read_path="dense"``, the exact reference (float32
  matmuls :math:`D = Q A^\top`, mask, :math:`s = M C`);
- ``packed``: the same class with ``read_path="packed"``: XOR-popcount distances on
  addresses packed 64 bits to a word, then only the active rows of :math:`C` are summed;
- ``naive``: ``dense_read`` of bench/sdm_read.py, the bandwidth-bound baseline of SCIENCE.md
  section 7 (bf16 on CUDA, float32 on the CPU).

All parts draw the same addresses, counters and queries from ``--seed``; the parent checks
that their read bits agree batch by batch (a hash of the bits), and prints times, the ratios
dense/packed and naive/packed, and the memory each part held (addresses, dense float copy,
counters; peak resident set, and CUDA max allocated).

``--footprint`` computes the footprint of ``--gpu-locations`` (10^7) x ``--bits`` on a GPU
(packed addresses :math:`8 r \lceil n/64 \rceil` bytes plus counters, for each counter
dtype), and allocates and reads a packed memory of ``--footprint-locations`` (10^6) here
(on CUDA too when present, at ``--gpu-locations``). ``--crossover`` times dense vs packed on
small memories, the measurement behind ``read_path="auto"``'s CPU rule.

Examples
--------
``python bench/sdm_packed.py --device cpu`` (10^5 x 1000, batches 1..1024);
``python bench/sdm_packed.py --device cuda`` (10^6 x 1000);
``python bench/sdm_packed.py --footprint``; ``python bench/sdm_packed.py --crossover``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from _parts import emit, measure
from sdm_read import cpu_model, default_radius, dense_read

__all__ = ["main"]

_COUNTER_DTYPES = {"int8": torch.int8, "int16": torch.int16, "int32": torch.int32}
_PARTS = ("dense", "packed", "naive")
_GB = 1e9


# ---------------------------------------------------------------------------------------------
# shared data (every part draws the same)
# ---------------------------------------------------------------------------------------------


def make_counters(r: int, v: int, seed: int, device: torch.device,
                  counter_range: int = 15) -> torch.Tensor:
    """``(r, v)`` int8 counters uniform in ``[-counter_range, counter_range]`` on ``device``.

    Drawn on ``device`` in blocks of rows from one generator (int8: the smallest buffer;
    :meth:`SDM.set_counters` converts into the memory's own counters).
    """
    generator = torch.Generator(device=device)
    generator.manual_seed(seed + 7)
    out = torch.empty((r, v), dtype=torch.int8, device=device)
    rows = max(1, 2**26 // v)
    for start in range(0, r, rows):
        stop = min(r, start + rows)
        out[start:stop] = torch.randint(-counter_range, counter_range + 1, (stop - start, v),
                                        generator=generator, device=device, dtype=torch.int8)
    return out


def make_queries(batch: int, n: int, seed: int, device: torch.device) -> torch.Tensor:
    """``(batch, n)`` uint8 random binary queries (drawn on the CPU, the same everywhere)."""
    generator = torch.Generator().manual_seed(seed * 7919 + batch)
    return torch.randint(0, 2, (batch, n), generator=generator, dtype=torch.uint8).to(device)


def random_words(r: int, n: int, seed: int, device: torch.device) -> torch.Tensor:
    """``(r, ceil(n/64))`` random packed addresses (padding bits 0), drawn on the CPU in
    blocks of rows and moved to ``device`` (8 bytes per 64 bits: 1.28 GB at 10^7 x 1000)."""
    from models.sdm_packed import WORD_BITS, n_words

    generator = torch.Generator().manual_seed(seed + 11)
    width = n_words(n)
    words = torch.empty((r, width), dtype=torch.int64, device=device)
    rows = max(1, 2**24 // width)
    for start in range(0, r, rows):
        stop = min(r, start + rows)
        words[start:stop] = torch.randint(-2**63, 2**63 - 1, (stop - start, width),
                                          generator=generator, dtype=torch.int64).to(device)
    used = n - (width - 1) * WORD_BITS
    if used < WORD_BITS:
        words[:, -1] &= (1 << used) - 1
    return words


def _digest(bits: torch.Tensor) -> str:
    return hashlib.sha1(bits.to("cpu", torch.uint8).contiguous().numpy().tobytes()
                        ).hexdigest()[:16]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(device: torch.device, fn: Callable[[], Any], repeats: int,
          min_time: float) -> tuple[float, int]:
    """Median seconds per call over ``repeats`` calls (fewer if one call is slow)."""
    times: list[float] = []
    while len(times) < repeats and (not times or sum(times) < min_time * repeats):
        _sync(device)
        begin = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - begin)
    return statistics.median(times), len(times)


def _cuda_peak_mib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


# ---------------------------------------------------------------------------------------------
# parts (child processes)
# ---------------------------------------------------------------------------------------------


def _timed_batches(args: argparse.Namespace, device: torch.device,
                   read: Callable[[torch.Tensor], torch.Tensor]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    previous: tuple[int, float] | None = None
    for batch in args.batches:
        estimate = None if previous is None else previous[1] * batch / previous[0]
        if estimate is not None and estimate > args.max_seconds:
            rows.append({"batch": batch, "skipped": f"estimated {estimate:.0f} s > "
                                                    f"--max-seconds {args.max_seconds:g}"})
            continue
        queries = make_queries(batch, args.bits, args.seed, device)
        bits = read(queries)  # warm-up (caches, kernels) and the bits to compare
        seconds, count = _time(device, lambda q=queries: read(q), args.repeats, args.min_time)
        previous = (batch, seconds)
        rows.append({"batch": batch, "time_ms": seconds * 1e3, "repeats": count,
                     "digest": _digest(bits)})
    return rows


def run_part(args: argparse.Namespace) -> dict[str, Any]:
    """One part (``--part``) on one device; returns the RESULT dict."""
    from models.sdm import SDM

    device = torch.device(args.device)
    r, n = args.locations, args.bits
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    result: dict[str, Any] = {"part": args.part, "device": device.type}
    if args.part in ("dense", "packed"):
        begin = time.perf_counter()
        sdm = SDM.random(r, n, radius=args.radius, seed=args.seed, device=device,
                         counter_dtype=_COUNTER_DTYPES[args.counter_dtype],
                         read_path=args.part)
        sdm.set_counters(make_counters(r, n, args.seed, device))
        _sync(device)
        result["build_s"] = time.perf_counter() - begin
        if args.part == "packed":
            probe = make_queries(16, n, args.seed + 1, device)
            result["active_per_query"] = sum(len(s) for s in sdm.active_sets(probe)) / 16
        result["rows"] = _timed_batches(args, device, sdm.read)
        result["memory"] = sdm.memory_bytes()
    elif args.part == "naive":
        from models.seeding import torch_generator

        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        generator = torch_generator(args.seed, "sdm_addresses")  # SDM.random's addresses
        addresses = torch.randint(0, 2, (r, n), generator=generator, dtype=torch.uint8)
        addresses = (addresses.to(device=device, dtype=dtype) * 2 - 1)
        counters = make_counters(r, n, args.seed, device).to(dtype)
        threshold = n - 2 * args.radius

        def read(queries: torch.Tensor) -> torch.Tensor:
            queries_t = (queries.to(dtype) * 2 - 1).T  # (n, batch)
            return dense_read(addresses, counters, queries_t, threshold)

        result["dtype"] = str(dtype).replace("torch.", "")
        result["rows"] = _timed_batches(args, device, read)
        size = addresses.element_size()
        result["memory"] = {"addresses": r * n * size, "dense_cache": 0,
                            "counters": r * n * size, "total": 2 * r * n * size}
    elif args.part == "footprint":
        begin = time.perf_counter()
        sdm = SDM.from_packed(random_words(r, n, args.seed, device), n, radius=args.radius,
                              counter_dtype=_COUNTER_DTYPES[args.counter_dtype],
                              device=device, read_path="packed")
        sdm.set_counters(make_counters(r, n, args.seed, device))
        _sync(device)
        result["build_s"] = time.perf_counter() - begin
        result["rows"] = _timed_batches(args, device, sdm.read)
        result["memory"] = sdm.memory_bytes()
    else:
        raise ValueError(f"unknown part {args.part!r}")
    result["cuda_peak_mib"] = _cuda_peak_mib(device)
    return result


# ---------------------------------------------------------------------------------------------
# parent
# ---------------------------------------------------------------------------------------------


def _parse_ints(text: str) -> list[int]:
    try:
        values = [int(float(part)) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}"
                                         ) from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _positive_int(text: str) -> int:
    value = int(float(text))
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="all",
                        help="devices to time (all: CUDA if present, and the CPU)")
    parser.add_argument("--locations", type=_positive_int, default=None,
                        help="hard locations r (default: 10^6 on CUDA, 10^5 on the CPU)")
    parser.add_argument("--bits", type=_positive_int, default=1000, help="address length n")
    parser.add_argument("--batches", type=_parse_ints, default=[1, 4, 16, 64, 256, 1024],
                        help="comma-separated query batch sizes")
    parser.add_argument("--radius", type=int, default=None,
                        help="Hamming radius d (default: activation probability ~0.001)")
    parser.add_argument("--counter-dtype", choices=tuple(_COUNTER_DTYPES), default="int32",
                        help="SDM counter dtype (default int32, the SDM default)")
    parser.add_argument("--parts", default="dense,packed,naive",
                        help="comma-separated parts among dense, packed, naive")
    parser.add_argument("--repeats", type=_positive_int, default=5,
                        help="timed reads per batch (fewer when one read is slow)")
    parser.add_argument("--min-time", type=float, default=0.2,
                        help="stop repeating once the reads took repeats x this (s)")
    parser.add_argument("--max-seconds", type=float, default=60.0,
                        help="skip batches whose estimated time per read exceeds this")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help="torch CPU threads in every part (default: torch's default)")
    parser.add_argument("--footprint", action="store_true",
                        help="report the 10^7 x n GPU footprint and allocate and read "
                             "--footprint-locations x n here")
    parser.add_argument("--footprint-locations", type=_positive_int, default=10**6,
                        help="hard locations allocated on the CPU by --footprint")
    parser.add_argument("--gpu-locations", type=_positive_int, default=10**7,
                        help="hard locations of the GPU footprint (allocated on CUDA if "
                             "present)")
    parser.add_argument("--gpu-memory-gb", type=float, default=80.0,
                        help="GPU memory the footprint must fit (GB, 10^9 bytes)")
    parser.add_argument("--crossover", action="store_true",
                        help="time dense vs packed on small memories (the auto rule)")
    parser.add_argument("--crossover-locations", type=_parse_ints,
                        default=[64, 256, 1024, 4096, 16384])
    parser.add_argument("--crossover-bits", type=_parse_ints, default=[64, 256, 1000])
    parser.add_argument("--crossover-batches", type=_parse_ints, default=[1, 16, 256])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.radius is not None and not 0 <= args.radius <= args.bits:
        parser.error(f"--radius must be in [0, --bits={args.bits}]")
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(_PARTS))
    if unknown or not parts:
        parser.error(f"--parts must name some of {', '.join(_PARTS)}, got {args.parts!r}")
    args.parts = parts
    return args


def _child_argv(args: argparse.Namespace, device: str, locations: int,
                batches: Sequence[int]) -> list[str]:
    argv = ["--device", device, "--locations", str(locations), "--bits", str(args.bits),
            "--batches", ",".join(map(str, batches)), "--radius", str(args.radius),
            "--counter-dtype", args.counter_dtype, "--repeats", str(args.repeats),
            "--min-time", str(args.min_time), "--max-seconds", str(args.max_seconds),
            "--seed", str(args.seed)]
    if args.threads is not None:
        argv += ["--threads", str(args.threads)]
    return argv


def _fmt_ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}" if value < 1e4 else f"{value:.0f}"


def _fmt_ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a / b:.1f}x"


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def format_table(results: dict[str, dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Times per batch for each part, the ratios to packed, and whether the bits agree."""
    by_part = {part: {row["batch"]: row for row in res["rows"]}
               for part, res in results.items()}
    batches = sorted({b for rows in by_part.values() for b in rows})
    header = (f"{'batch':>6} {'dense ms':>10} {'packed ms':>10} {'naive ms':>10} "
              f"{'dense/packed':>12} {'naive/packed':>12} {'same bits':>9}")
    lines, table = [header, "-" * len(header)], []

    def ms(part: str, batch: int) -> float | None:
        return by_part.get(part, {}).get(batch, {}).get("time_ms")

    for batch in batches:
        digests = {row["digest"] for rows in by_part.values()
                   if (row := rows.get(batch)) and "digest" in row}
        same = "-" if not digests else ("yes" if len(digests) == 1 else "NO")
        dense, packed, naive = ms("dense", batch), ms("packed", batch), ms("naive", batch)
        lines.append(f"{batch:>6} {_fmt_ms(dense):>10} {_fmt_ms(packed):>10} "
                     f"{_fmt_ms(naive):>10} {_fmt_ratio(dense, packed):>12} "
                     f"{_fmt_ratio(naive, packed):>12} {same:>9}")
        table.append({"batch": batch, "dense_ms": dense, "packed_ms": packed,
                      "naive_ms": naive, "same_bits": same})
    skipped = [f"{part} batch {row['batch']}: {row['skipped']}"
               for part, rows in by_part.items() for row in rows.values() if "skipped" in row]
    if skipped:
        lines.append("skipped: " + "; ".join(skipped))
    return "\n".join(lines), table


def format_memory(results: dict[str, dict[str, Any]]) -> str:
    header = (f"{'part':>8} {'addresses MiB':>14} {'dense copy MiB':>15} {'counters MiB':>13} "
              f"{'held MiB':>9} {'peak RSS MiB':>13} {'CUDA peak MiB':>14}")
    lines = [header, "-" * len(header)]
    for part, res in results.items():
        mem = res["memory"]
        lines.append(f"{part:>8} {mem['addresses'] / 2**20:>14,.1f} "
                     f"{mem['dense_cache'] / 2**20:>15,.1f} {mem['counters'] / 2**20:>13,.1f} "
                     f"{(mem['addresses'] + mem['dense_cache'] + mem['counters']) / 2**20:>9,.0f}"
                     f" {_mib(res.get('peak_rss_python_mib')):>13} "
                     f"{_mib(res.get('cuda_peak_mib')):>14}")
    return "\n".join(lines)


def _devices(args: argparse.Namespace) -> list[str]:
    devices = []
    if args.device in ("cuda", "all"):
        if torch.cuda.is_available():
            devices.append("cuda")
        else:
            print("no CUDA GPU is available (torch.cuda.is_available() is False); "
                  + ("CPU rows only" if args.device == "all" else "no CUDA rows"))
    if args.device in ("cpu", "all"):
        devices.append("cpu")
    return devices


def _label(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"CPU {cpu_model()}, {torch.get_num_threads()} torch threads"


def run_comparison(args: argparse.Namespace, script: str) -> dict[str, Any]:
    """Dense, packed and naive parts side by side on every device."""
    from scipy import stats

    out: dict[str, Any] = {}
    for device in _devices(args):
        r = args.locations or (10**6 if device == "cuda" else 10**5)
        p = float(stats.binom.cdf(args.radius, args.bits, 0.5))
        print(f"\n== {device} ({_label(device)}): r={r:,} x n={args.bits}, radius "
              f"{args.radius} (activation probability {p:.3g}, ~{p * r:.0f} active per "
              f"query), counters {args.counter_dtype}, torch {torch.__version__}")
        results = {}
        for part in args.parts:
            print(f"  running {part} ...", flush=True)
            results[part] = measure(script, part, _child_argv(args, device, r, args.batches))
        text, table = format_table(results)
        print(text)
        if "packed" in results and "active_per_query" in results["packed"]:
            print(f"measured active locations per query: "
                  f"{results['packed']['active_per_query']:.1f}")
        naive_dtype = results.get("naive", {}).get("dtype")
        print("dense: SDM(read_path='dense') (exact float32 matmuls); packed: "
              "SDM(read_path='packed'); naive: bench/sdm_read.py dense_read"
              + (f" in {naive_dtype}" if naive_dtype else ""))
        print(format_memory(results))
        out[device] = {"rows": table, "results": results, "locations": r}
    return out


def run_footprint(args: argparse.Namespace, script: str) -> dict[str, Any]:
    """Computed GPU footprint at --gpu-locations; allocated and read at
    --footprint-locations on the CPU (and at --gpu-locations on CUDA if present)."""
    from models.sdm_packed import footprint_bytes

    n, big = args.bits, args.gpu_locations
    print(f"\n== footprint of {big:,} x {n} (computed; fits {args.gpu_memory_gb:g} GB?)")
    header = f"{'path':>7} {'counters':>8} {'addresses GB':>13} {'counters GB':>12} " \
             f"{'extra GB':>9} {'total GB':>9} {'fits':>5}"
    print(header + "\n" + "-" * len(header))
    computed = []
    rows = [("packed", dtype) for dtype in ("int8", "int16", "int32")] + [("dense", "int32")]
    for path, dtype in rows:
        fp = footprint_bytes(big, n, counter_dtype=_COUNTER_DTYPES[dtype], path=path)
        fits = fp["total"] <= args.gpu_memory_gb * _GB
        computed.append({"path": path, "counter_dtype": dtype, **fp, "fits": fits})
        print(f"{path:>7} {dtype:>8} {fp['addresses'] / _GB:>13.2f} "
              f"{fp['counters'] / _GB:>12.2f} {fp['extra'] / _GB:>9.2f} "
              f"{fp['total'] / _GB:>9.2f} {'yes' if fits else 'no':>5}")
    print("dense extra: the float32 bipolar copy of the addresses and the float32 copy of "
          "the counters a dense read makes; transients (distances of one chunk of queries, "
          "at most 2^26 elements) come on top")
    out: dict[str, Any] = {"computed": computed, "measured": []}
    targets = [("cpu", args.footprint_locations)]
    if torch.cuda.is_available():
        targets.insert(0, ("cuda", big))
    else:
        print("no CUDA GPU is available: the GPU footprint is computed, not measured")
    for device, r in targets:
        print(f"\n== allocate and read {r:,} x {n} packed on {device} ({_label(device)}), "
              f"counters {args.counter_dtype} ...", flush=True)
        res = measure(script, "footprint", _child_argv(args, device, r, args.batches))
        mem = res["memory"]
        print(f"held: addresses {mem['addresses'] / 2**20:,.1f} MiB + counters "
              f"{mem['counters'] / 2**20:,.1f} MiB (+ write counts "
              f"{mem['write_counts'] / 2**20:,.1f} MiB) = {mem['total'] / 2**30:.2f} GiB; "
              f"peak RSS {res['peak_rss_python_mib'] / 1024:.2f} GiB"
              + (f"; CUDA max allocated {res['cuda_peak_mib'] / 1024:.2f} GiB"
                 if res.get("cuda_peak_mib") else "")
              + f"; build {res['build_s']:.1f} s")
        for row in res["rows"]:
            if "time_ms" in row:
                print(f"  read batch {row['batch']}: {_fmt_ms(row['time_ms'])} ms")
            else:
                print(f"  read batch {row['batch']}: skipped ({row['skipped']})")
        out["measured"].append({"device": device, "locations": r, **res})
    return out


def run_crossover(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Dense vs packed read times on small memories, in this process."""
    from models.sdm import SDM

    print(f"\n== crossover on the CPU ({_label('cpu')}): dense/packed time ratio "
          f"(> 1: packed faster)")
    rows = []
    header = f"{'r':>7} {'n':>5} {'r*n':>10} " + " ".join(
        f"{'b=' + str(b):>9}" for b in args.crossover_batches)
    print(header + "\n" + "-" * len(header))
    for n in args.crossover_bits:
        radius = default_radius(n)
        for r in args.crossover_locations:
            device = torch.device("cpu")
            paths = {path: SDM.random(r, n, radius=radius, seed=args.seed, read_path=path)
                     for path in ("dense", "packed")}
            counters = make_counters(r, n, args.seed, device)
            for sdm in paths.values():
                sdm.set_counters(counters)
            ratios = []
            for batch in args.crossover_batches:
                queries = make_queries(batch, n, args.seed, device)
                times = {}
                for path, sdm in paths.items():
                    sdm.read(queries)  # warm-up
                    times[path] = _time(device, lambda s=sdm, q=queries: s.read(q),
                                        max(args.repeats, 5), 0.05)[0]
                ratios.append(times["dense"] / times["packed"])
                rows.append({"r": r, "n": n, "batch": batch, **times})
            print(f"{r:>7} {n:>5} {r * n:>10,} " + " ".join(f"{x:>9.2f}" for x in ratios))
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark (or one part with ``--part``); print the tables."""
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.radius is None:
        args.radius = default_radius(args.bits)
    if args.part:
        emit(run_part(args))
        return {}
    script = str(__file__)
    out: dict[str, Any] = {}
    if args.crossover:
        out["crossover"] = run_crossover(args)
    if args.footprint:
        out["footprint"] = run_footprint(args, script)
    if not args.crossover and not args.footprint:
        out["comparison"] = run_comparison(args, script)
        summary = {}
        for device, res in out["comparison"].items():
            rows = res["rows"]
            summary[device] = {f"dense_over_packed_batch{row['batch']}":
                               row["dense_ms"] / row["packed_ms"] for row in rows
                               if row.get("dense_ms") and row.get("packed_ms")}
        print("RESULT " + json.dumps(summary))
    return out


if __name__ == "__main__":
    main()
