r"""Triton kernels of the fused packed SDM read (:mod:`models.sdm_fused` launches them).

Imported on first use by :func:`models.sdm_fused._kernels`: compiled for CUDA tensors, or run
by Triton's interpreter (``TRITON_INTERPRET=1``) on CPU tensors.

Both kernels tile a block of ``BQ`` queries against ``BR`` hard locations and compute the
tile's Hamming distances in registers, word by word,

.. math:: D_{bj} = \sum_{w=0}^{W-1} \operatorname{popcount}(\xi_{bw} \oplus a_{wj}),

with the hardware population count on a GPU (``HW_POPC``) or a SWAR count otherwise (the
interpreter has no ``popc``). The distances never leave the tile.
"""

from __future__ import annotations

import triton
import triton.language as tl
from triton.language.extra import libdevice


@triton.jit
def _popcount(x, HW_POPC: tl.constexpr):
    """Set bits of each int64 word, int32."""
    if HW_POPC:
        return libdevice.popc(x).to(tl.int32)
    u = x.to(tl.uint64, bitcast=True)
    u = u - ((u >> 1) & 0x5555555555555555)
    u = (u & 0x3333333333333333) + ((u >> 2) & 0x3333333333333333)
    u = (u + (u >> 4)) & 0x0F0F0F0F0F0F0F0F
    return ((u * 0x0101010101010101) >> 56).to(tl.int32)


@triton.jit
def _tile_distances(q_ptr, a_ptr, qs, rs, q_ok, r_ok, R, W: tl.constexpr,
                    BQ: tl.constexpr, BR: tl.constexpr, HW_POPC: tl.constexpr):
    """``(BQ, BR)`` int32 Hamming distances of queries ``qs`` to locations ``rs``."""
    d = tl.zeros((BQ, BR), dtype=tl.int32)
    for w in range(W):
        qw = tl.load(q_ptr + qs * W + w, mask=q_ok, other=0)  # (BQ,) query words, row-major
        aw = tl.load(a_ptr + w * R + rs, mask=r_ok, other=0)  # (BR,) word-major addresses
        d += _popcount(qw[:, None] ^ aw[None, :], HW_POPC)
    return d


@triton.jit
def _block_and_span(pid_q, pid_s, B, R, span, BQ: tl.constexpr):
    """A program's queries and locations.

    Returns the queries ``pid_q BQ ..``, their in-range mask, and the locations
    ``[start, end)`` of span ``pid_s``.
    """
    qs = pid_q * BQ + tl.arange(0, BQ)
    r_start = pid_s * span
    return qs, qs < B, r_start, tl.minimum(R, r_start + span)


@triton.jit
def fused_sums_kernel(q_ptr, a_ptr, c_ptr, out_ptr, thr_ptr, tie_ptr, tie_count_ptr,
                      B, R, V, span, tie_cap,
                      W: tl.constexpr, BQ: tl.constexpr, BR: tl.constexpr,
                      BV: tl.constexpr, ACC_64: tl.constexpr, TIES: tl.constexpr,
                      HW_POPC: tl.constexpr):
    r"""Sums of the active counters, :math:`s_b \mathrel{+}= \sum_{j : D_{bj} \le t_b} C_j`.

    Program ``(i, k, s)``: queries ``i BQ ..``, value columns ``k BV ..``, locations
    ``s span .. (s + 1) span``. For every tile it computes the distances and visits only
    the locations within some query's threshold ``t_b`` (``thr_ptr``), adding each one's
    counter row to the accumulator rows of the queries it is active for; no other row is
    loaded. At the end the accumulator is added atomically to
    ``out`` (integer additions: the result does not depend on their order).

    With ``TIES`` (the top-k read), locations at exactly :math:`t_b + 1` are ties at the
    cut-off: programs with ``k = 0`` append their indices to row ``b`` of ``tie_ptr``
    (``tie_cap`` slots, slot counters in ``tie_count_ptr``), to be resolved by the caller.
    """
    pid_v = tl.program_id(1)
    qs, q_ok, r_start, r_end = _block_and_span(tl.program_id(0), tl.program_id(2), B, R,
                                               span, BQ)
    vs = pid_v * BV + tl.arange(0, BV)
    v_ok = vs < V
    thr = tl.load(thr_ptr + qs, mask=q_ok, other=-1)  # (BQ,) int32; -1: nothing active
    lanes = tl.arange(0, BR)
    if ACC_64:
        acc = tl.zeros((BQ, BV), dtype=tl.int64)
    else:
        acc = tl.zeros((BQ, BV), dtype=tl.int32)
    for r0 in range(r_start, r_end, BR):
        rs = r0 + lanes
        r_ok = rs < r_end
        d = _tile_distances(q_ptr, a_ptr, qs, rs, q_ok, r_ok, R, W, BQ, BR, HW_POPC)
        valid = q_ok[:, None] & r_ok[None, :]
        active = ((d <= thr[:, None]) & valid).to(tl.int32)
        if TIES:
            if pid_v == 0:
                tie = (d == thr[:, None] + 1) & valid
                if tl.max(tl.max(tie.to(tl.int32), axis=1), axis=0) > 0:
                    slot = tl.atomic_add(tie_count_ptr + qs[:, None] + 0 * lanes[None, :],
                                         1, mask=tie)
                    tl.store(tie_ptr + qs[:, None].to(tl.int64) * tie_cap + slot,
                             rs[None, :].to(tl.int64) + 0 * qs[:, None],
                             mask=tie & (slot < tie_cap))
        # the tile's active locations, one at a time (about p * BQ * BR of them per tile)
        remaining = tl.max(active, axis=0)  # (BR,): active for some query of the block
        for _ in range(tl.sum(remaining, axis=0)):
            jj = tl.min(tl.where(remaining > 0, lanes, BR), axis=0)  # lowest left
            remaining = tl.where(lanes == jj, 0, remaining)
            column = tl.max(tl.where(lanes[None, :] == jj, active, 0), axis=1)  # (BQ,)
            j = tl.zeros((BV,), dtype=tl.int64) + (r0 + jj)  # 64-bit row offsets
            row = tl.load(c_ptr + j * V + vs, mask=v_ok, other=0)
            if ACC_64:
                row = row.to(tl.int64)
            else:
                row = row.to(tl.int32)
            acc += tl.where(column[:, None] > 0, row[None, :], 0)
    if tl.max(tl.max(tl.abs(acc), axis=1), axis=0) > 0:  # adding zeros changes nothing
        out_offsets = qs[:, None].to(tl.int64) * V + vs[None, :]
        tl.atomic_add(out_ptr + out_offsets, acc, mask=q_ok[:, None] & v_ok[None, :])


@triton.jit
def distance_histogram_kernel(q_ptr, a_ptr, hist_ptr, B, R, span, cap,
                              W: tl.constexpr, BQ: tl.constexpr, BR: tl.constexpr,
                              HW_POPC: tl.constexpr):
    r"""Counts of the distances up to ``cap`` per query, :math:`h_{bt} = |\{j : D_{bj} = t\}|`.

    ``hist_ptr`` is ``(B, cap + 1)`` int32; only distances :math:`\le` ``cap`` are counted
    (the top-k cut-off lies there when the caller's ``cap`` is large enough; it checks).
    """
    qs, q_ok, r_start, r_end = _block_and_span(tl.program_id(0), tl.program_id(1), B, R,
                                               span, BQ)
    lanes = tl.arange(0, BR)
    for r0 in range(r_start, r_end, BR):
        rs = r0 + lanes
        r_ok = rs < r_end
        d = _tile_distances(q_ptr, a_ptr, qs, rs, q_ok, r_ok, R, W, BQ, BR, HW_POPC)
        counted = (d <= cap) & q_ok[:, None] & r_ok[None, :]
        if tl.max(tl.max(counted.to(tl.int32), axis=1), axis=0) > 0:
            tl.atomic_add(hist_ptr + qs[:, None].to(tl.int64) * (cap + 1) + d, 1,
                          mask=counted)
