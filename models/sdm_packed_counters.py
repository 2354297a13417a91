r"""Sparse reads and writes of SDM counters by active (query, neuron) pairs, and memory sizes.

A read sums only the active rows of the counters, :math:`s_b = \sum_{j \in S_b} C_j`
(:func:`gather_sums`); a write adds only to them (:func:`scatter_add`). Both are exact:
integer additions in an accumulator wide enough for the bound the caller passes. They use a
sparse (CSR, scipy) product on the CPU and ``index_add_`` elsewhere. :func:`footprint_bytes`
gives the memory of the packed and dense SDM paths.
"""

from __future__ import annotations

import numpy as np
import torch

from models._checks import check_choice, check_int
from models.bit_packing import _BUDGET, n_words

__all__ = ["footprint_bytes", "gather_sums", "scatter_add"]


def _accumulator(bound: int) -> torch.dtype:
    """int32 when every partial sum stays within int32, else int64."""
    return torch.int32 if bound < 2**31 else torch.int64


def _csr(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], dtype: np.dtype) -> object:
    """CSR matrix of ones at (rows, cols); rows sorted ascending."""
    from scipy import sparse

    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sparse.csr_matrix((np.ones(len(cols), dtype=dtype), cols, indptr), shape=shape)


def gather_sums(counters: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, batch: int, *,
                max_abs: int | None = None, budget: int = _BUDGET) -> torch.Tensor:
    r"""Sums of the active counters, :math:`s_b = \sum_{(b, j)} C_j`, exactly.

    Parameters
    ----------
    counters
        ``(r, v)`` integer counters :math:`C`.
    rows, cols
        int64 active pairs (query ``rows[i]`` activates neuron ``cols[i]``), each pair once.
    batch
        Number of queries ``b`` (rows without pairs sum to 0).
    max_abs
        Bound on :math:`|C_{jv}|` (``None``: computed, one pass over ``counters``). With the
        largest number of pairs of one query it bounds every partial sum and picks an int32
        or int64 accumulator.
    budget
        Elements of one gathered ``(pairs, v)`` block on non-CPU devices.

    Returns
    -------
    torch.Tensor
        ``(b, v)`` int64 sums.
    """
    batch = check_int("batch", batch, minimum=0)
    r, v = counters.shape
    if max_abs is None:
        max_abs = int(counters.abs().max()) if counters.numel() else 0
    if rows.numel() == 0:
        return torch.zeros((batch, v), dtype=torch.int64, device=counters.device)
    if counters.device.type == "cpu":
        # numpy and scipy only (see _pairs_numpy on torch ops for small arrays)
        r_np, c_np = rows.numpy(), cols.numpy()
        if r_np.size > 1 and bool((r_np[1:] < r_np[:-1]).any()):
            order = np.argsort(r_np, kind="stable")
            r_np, c_np = r_np[order], c_np[order]
        acc_np = np.int32 if _accumulator(int(np.bincount(r_np).max()) * max_abs
                                          ) == torch.int32 else np.int64
        c = counters.contiguous().numpy()
        if c.dtype == acc_np:
            # (b, r) CSR of ones times C: scipy's loop adds C rows straight into the result
            out = _csr(r_np, c_np, (batch, r), acc_np) @ c
        else:
            # widen only the active rows: compact the columns to the distinct neurons
            unique, inverse = np.unique(c_np, return_inverse=True)
            out = _csr(r_np, inverse.reshape(-1), (batch, len(unique)), acc_np
                       ) @ c[unique].astype(acc_np)
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.int64))
    acc = _accumulator(int(torch.bincount(rows, minlength=batch).max()) * max_abs)
    out = torch.zeros((batch, v), dtype=acc, device=counters.device)
    step = max(1, budget // max(1, v))
    for start in range(0, rows.numel(), step):
        out.index_add_(0, rows[start:start + step],
                       counters[cols[start:start + step]].to(acc))
    return out.to(torch.int64)


def scatter_add(counters: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
                values: torch.Tensor, *, budget: int = _BUDGET) -> None:
    r"""In place, :math:`C_j \mathrel{+}= \sum_{i : \mathrm{cols}_i = j} V_{\mathrm{rows}_i}`.

    Only the listed neurons' counters change. The caller guarantees that no counter leaves
    the range of its dtype (every intermediate lies between the old and the new value's
    bounds, :math:`|C| + \#\text{keys}`), so the result is exact.

    Parameters
    ----------
    counters
        ``(r, v)`` integer counters, updated in place.
    rows, cols
        int64 pairs: key ``rows[i]`` activates neuron ``cols[i]``, each pair once.
    values
        ``(m, v)`` integer increments per key (e.g. bipolar values :math:`2 p_v - 1`).
    budget
        Elements of one gathered ``(pairs, v)`` block on non-CPU devices.
    """
    if rows.numel() == 0:
        return
    v = counters.shape[1]
    if counters.device.type == "cpu":
        c = counters.numpy()  # shares memory: updates land in `counters`
        unique, inverse = np.unique(cols.numpy(), return_inverse=True)
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")  # pairs grouped by neuron (CSR rows)
        # every increment is a sum of at most (keys per neuron) values
        values_np = values.numpy()
        bound = int(np.bincount(inverse).max()) * int(np.abs(values_np).max())
        acc_np = np.int32 if bound < 2**31 else np.int64
        increments = _csr(inverse[order], rows.numpy()[order], (len(unique), values.shape[0]),
                          acc_np) @ values_np.astype(acc_np, copy=False)
        c[unique] = (c[unique].astype(np.int64) + increments).astype(c.dtype)
        return
    step = max(1, budget // max(1, v))
    for start in range(0, rows.numel(), step):
        counters.index_add_(0, cols[start:start + step],
                            values[rows[start:start + step]].to(counters.dtype))


def footprint_bytes(r: int, n: int, value_dim: int | None = None, *,
                    counter_dtype: torch.dtype = torch.int32,
                    path: str = "packed") -> dict[str, int]:
    r"""Bytes held by a binary SDM of ``r`` neurons x ``n`` bits (excluding transients).

    - ``"packed"``: addresses :math:`8 r \lceil n/64 \rceil` (int64 words), counters
      :math:`r v \cdot` element size.
    - ``"dense"``: uint8 addresses :math:`r n`, the cached float32 bipolar copy :math:`4 r n`
      (float64 when :math:`n \ge 2^{24}`), counters, and the float copy of the counters each
      dense read makes (:math:`4 r v`, float32).

    Returns
    -------
    dict
        ``addresses``, ``counters``, ``extra`` (dense cache and read copy) and ``total``.
    """
    r = check_int("r", r, minimum=1)
    n = check_int("n", n, minimum=1)
    v = n if value_dim is None else check_int("value_dim", value_dim, minimum=1)
    path = check_choice("path", path, ("packed", "dense"))
    element = torch.empty((), dtype=counter_dtype).element_size()
    counters = r * v * element
    if path == "packed":
        addresses, extra = r * n_words(n) * 8, 0
    else:
        addresses = r * n
        extra = r * n * (4 if n < 2**24 else 8) + r * v * 4
    return {"addresses": addresses, "counters": counters, "extra": extra,
            "total": addresses + counters + extra}

