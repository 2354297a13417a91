r"""The fused packed SDM read: distances, activation and the counter sums in one Triton kernel.

The packed read of :mod:`models.sdm_packed` computes the :math:`b \times r` Hamming
distances, writes them to memory, selects the active (query, location) pairs and then sums
the active counter rows. At :math:`r = 10^6` the distances are the largest array of the
read. :func:`fused_sums` never stores them: each Triton program computes the distances of
a tile of queries and locations in registers,

.. math:: D_{bj} = \sum_{w} \operatorname{popcount}(\xi_{bw} \oplus a_{wj}),

and adds the counter row :math:`C_j` of every active location to the query's sum in the
same pass, loading a row only when it is active for some query of the tile:

.. math:: s_b = \sum_{j \in S_b} C_j .

- **Radius** (:math:`S_b = \{j : D_{bj} \le d\}`): one kernel.
- **Top-k** (the ``k`` smallest :math:`(D_{bj}, j)`, ties at the cut-off to the lowest
  index, as :func:`models.sdm.top_k_mask`): a first kernel counts the distances up to a cap
  per query (a histogram, never the distances); the cut-off :math:`t_b` is the smallest
  distance with :math:`|\{j : D_{bj} \le t_b\}| \ge k`. The fused kernel then sums every
  location with :math:`D_{bj} < t_b` and lists the ties :math:`D_{bj} = t_b`; the
  :math:`k - |\{j : D_{bj} < t_b\}|` lowest-indexed ties are added by
  :func:`models.sdm_packed.gather_sums`. The cap starts at the binomial quantile where
  random addresses would give :math:`4k` locations and grows until every query's cut-off is
  inside it, so any address set is read exactly.

Sums are integer additions (int32, or int64 when ``sum_bound`` could exceed int32),
accumulated per program and added to the output atomically, so the result does not depend
on the order and equals :func:`models.sdm_packed.gather_sums` over
:func:`models.sdm_packed.active_pairs` bit for bit.

Where it runs: CUDA tensors with Triton (compiled, hardware ``popc``), and CPU tensors under
Triton's interpreter (``TRITON_INTERPRET=1`` for the whole process; numpy and a SWAR
popcount: slow, for tests and small checks).
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

import torch

from models._checks import check_int
from models.sdm_packed import _check_words, gather_sums

__all__ = ["available", "fused_sums"]

#: Tile shapes: locations per tile, value columns per program, queries per program.
_BLOCK_R = 64
_BLOCK_V_MAX = 1024
_BLOCK_Q_MAX = 16
#: Programs to aim for on a GPU (a few per SM); the interpreter runs programs one by one.
_TARGET_PROGRAMS = {True: 4, False: 2048}


def _interpreting() -> bool:
    """Whether Triton runs kernels in its interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on",
                                                                        "yes")


def available(device: torch.device | str) -> tuple[bool, str]:
    """Whether :func:`fused_sums` can run on ``device`` in this process, and why not.

    CUDA tensors need Triton and a GPU; CPU tensors need Triton's interpreter, switched on
    for the whole process by ``TRITON_INTERPRET=1`` before the first fused read (Triton
    decides the mode once per process).

    Returns
    -------
    (bool, str)
        ``(True, "")``, or ``(False, reason)``.
    """
    device = torch.device(device)
    if importlib.util.find_spec("triton") is None:
        return False, ("the fused read needs Triton (pip install triton; Linux x86-64 wheels "
                       "on PyPI)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False, "the fused read on 'cuda' needs a CUDA GPU"
        if _interpreting():
            return False, ("the fused read on CUDA tensors needs compiled kernels; unset "
                           "TRITON_INTERPRET")
        return True, ""
    if device.type == "cpu":
        if not _interpreting():
            return False, ("the fused read runs on CPU tensors only under Triton's "
                           "interpreter: set TRITON_INTERPRET=1 before the first fused read")
        return True, ""
    return False, f"the fused read runs on CUDA or (interpreted) on the CPU, not {device.type!r}"


def _kernels() -> ModuleType:
    """The kernel module (imported on first use: Triton is an optional dependency)."""
    from models import _sdm_fused_kernels

    return _sdm_fused_kernels


def _next_pow2(x: int) -> int:
    return 1 << max(0, (x - 1).bit_length())


def _geometry(b: int, r: int, v: int, interpret: bool) -> dict[str, int]:
    """Tile sizes and the split of the locations over programs."""
    block_q = min(_BLOCK_Q_MAX, _next_pow2(b))
    block_v = min(_BLOCK_V_MAX, _next_pow2(v))
    blocks = -(-b // block_q) * -(-v // block_v)
    target = _TARGET_PROGRAMS[interpret]
    tiles = -(-r // _BLOCK_R)
    splits = max(1, min(tiles, -(-target // blocks)))
    span = -(-tiles // splits) * _BLOCK_R
    return {"BQ": block_q, "BV": block_v, "splits": -(-r // span), "span": span}


def _launch_sums(kernels: ModuleType, queries: torch.Tensor, addresses: torch.Tensor,
                 counters: torch.Tensor, thresholds: torch.Tensor, acc_64: bool,
                 interpret: bool, ties: tuple[torch.Tensor, torch.Tensor, int] | None
                 ) -> torch.Tensor:
    b, words = queries.shape
    r, v = counters.shape
    g = _geometry(b, r, v, interpret)
    out = torch.zeros((b, v), dtype=torch.int64 if acc_64 else torch.int32,
                      device=counters.device)
    tie_buffer, tie_counts, tie_cap = ties if ties is not None else (out, out, 0)
    grid = (-(-b // g["BQ"]), -(-v // g["BV"]), g["splits"])
    kernels.fused_sums_kernel[grid](
        queries, addresses, counters, out, thresholds, tie_buffer, tie_counts,
        b, r, v, g["span"], tie_cap,
        W=words, BQ=g["BQ"], BR=_BLOCK_R, BV=g["BV"], ACC_64=acc_64,
        TIES=ties is not None, HW_POPC=not interpret,
        num_warps=8 if g["BQ"] * g["BV"] >= 8192 else 4)  # accumulator: <= 64 registers
    return out.to(torch.int64)


def _histogram(kernels: ModuleType, queries: torch.Tensor, addresses: torch.Tensor,
               cap: int, interpret: bool) -> torch.Tensor:
    b, words = queries.shape
    r = addresses.shape[1]
    g = _geometry(b, r, 1, interpret)
    hist = torch.zeros((b, cap + 1), dtype=torch.int32, device=addresses.device)
    kernels.distance_histogram_kernel[(-(-b // g["BQ"]), g["splits"])](
        queries, addresses, hist, b, r, g["span"], cap,
        W=words, BQ=g["BQ"], BR=_BLOCK_R, HW_POPC=not interpret)
    return hist


def _initial_cap(n_bits: int, r: int, k: int) -> int:
    """Distance below which random addresses would leave about ``4 k`` of ``r`` locations."""
    from scipy import stats

    cap = int(stats.binom.ppf(min(1.0, 4.0 * k / r), n_bits, 0.5))
    return max(0, min(n_bits, cap))


def _top_k_cutoffs(kernels: ModuleType, queries: torch.Tensor, addresses: torch.Tensor,
                   k: int, n_bits: int, interpret: bool
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per query: cut-off distance ``t``, ties needed ``k - #{D < t}``, ties ``#{D = t}``."""
    r = addresses.shape[1]
    cap = _initial_cap(n_bits, r, k)
    while True:
        cumulative = _histogram(kernels, queries, addresses, cap, interpret
                                ).to(torch.int64).cumsum(dim=1)
        if bool((cumulative[:, -1] >= k).all()) or cap >= n_bits:
            break
        cap = min(n_bits, 2 * cap + 8)
    cutoff = (cumulative < k).sum(dim=1)  # first t with #{D <= t} >= k
    below = torch.where(cutoff > 0,
                        cumulative.gather(1, (cutoff - 1).clamp(min=0)[:, None])[:, 0],
                        torch.zeros_like(cutoff))
    at = cumulative.gather(1, cutoff[:, None])[:, 0] - below
    return cutoff, k - below, at


def fused_sums(query_words: torch.Tensor, address_words: torch.Tensor,
               counters: torch.Tensor, *, radius: int | None = None,
               top_k: int | None = None, n_bits: int | None = None,
               max_abs: int | None = None, sum_bound: int | None = None) -> torch.Tensor:
    r"""Sums of the active counters, :math:`s_b = \sum_{j \in S_b} C_j`, in one fused pass.

    Parameters
    ----------
    query_words
        ``(b, W)`` int64 packed queries (:func:`models.sdm_packed.pack_bits`).
    address_words
        ``(W, r)`` int64 word-major packed addresses
        (:func:`models.sdm_packed.pack_addresses`).
    counters
        ``(r, v)`` integer counters :math:`C` (int8, int16, int32 or int64).
    radius, top_k
        Exactly one: the Hamming radius :math:`d` or the number of active locations ``k``.
    n_bits
        Address length ``n`` (``None``: ``64 W``); bounds the top-k histogram.
    max_abs
        Bound on :math:`|C_{jv}|` (``None``: computed).
    sum_bound
        Bound on every partial sum :math:`|\sum_{j \in S} C_{jv}|` (``None``:
        :math:`r` ``max_abs``, or :math:`k` ``max_abs`` for top-k); int32 accumulators when
        it is below :math:`2^{31}`, else int64.

    Returns
    -------
    torch.Tensor
        ``(b, v)`` int64 sums, equal to ``gather_sums(counters, *active_pairs(...), b)``.

    Raises
    ------
    RuntimeError
        If Triton is missing or the device cannot run it (see :func:`available`).
    ValueError, TypeError
        For malformed words or counters, or not exactly one of ``radius`` and ``top_k``.
    """
    _check_words(query_words, address_words)
    words, r = address_words.shape
    if counters.dim() != 2 or counters.shape[0] != r:
        raise ValueError(f"counters must be (r, v) with r={r} rows (one per address), got "
                         f"shape {tuple(counters.shape)}")
    if counters.is_floating_point() or counters.dtype == torch.bool:
        raise TypeError(f"counters must be integers, got {counters.dtype}")
    if counters.device != address_words.device:
        raise ValueError(f"counters and address_words must be on one device, got "
                         f"{counters.device} and {address_words.device}")
    if (radius is None) == (top_k is None):
        raise ValueError("radius: give exactly one of radius or top_k")
    n_bits = 64 * words if n_bits is None else check_int("n_bits", n_bits, minimum=1,
                                                         maximum=64 * words)
    if radius is not None:
        radius = check_int("radius", radius, minimum=0)
    else:
        top_k = check_int("top_k", top_k, minimum=1, maximum=r)
    ok, why = available(address_words.device)
    if not ok:
        raise RuntimeError(why)
    b, v = query_words.shape[0], counters.shape[1]
    if b == 0 or r == 0:
        return torch.zeros((b, v), dtype=torch.int64, device=counters.device)
    if max_abs is None:
        max_abs = int(counters.abs().max()) if counters.numel() else 0
    interpret = address_words.device.type == "cpu"
    kernels = _kernels()
    queries = query_words.contiguous()
    addresses = address_words.contiguous()
    table = counters.contiguous()
    if radius is not None:
        bound = r * max_abs if sum_bound is None else sum_bound
        thresholds = torch.full((b,), min(radius, n_bits), dtype=torch.int32,
                                device=counters.device)
        return _launch_sums(kernels, queries, addresses, table, thresholds, bound >= 2**31,
                            interpret, None)
    k = top_k
    bound = k * max_abs if sum_bound is None else sum_bound
    cutoff, needed, at = _top_k_cutoffs(kernels, queries, addresses, k, n_bits, interpret)
    tie_cap = max(1, int(at.max()))
    tie_buffer = torch.full((b, tie_cap), r, dtype=torch.int64, device=counters.device)
    tie_counts = torch.zeros(b, dtype=torch.int32, device=counters.device)
    sums = _launch_sums(kernels, queries, addresses, table, (cutoff - 1).to(torch.int32),
                        bound >= 2**31, interpret, (tie_buffer, tie_counts, tie_cap))
    # the lowest-indexed `needed` ties of each query (unused slots hold r, sorted last)
    ranked = tie_buffer.sort(dim=1).values
    chosen = torch.arange(tie_cap, device=counters.device)[None, :] < needed[:, None]
    rows = torch.arange(b, device=counters.device)[:, None].expand(b, tie_cap)[chosen]
    return sums + gather_sums(table, rows, ranked[chosen], b, max_abs=max_abs)
