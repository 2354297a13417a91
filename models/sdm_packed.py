r"""Bit-packed addresses and sparse counter reads for the binary SDM (issue 9).

The dense read of :class:`models.sdm.SDM` touches every address bit and every counter of
every hard location. Two properties of the SDM make most of that traffic unnecessary:

- **Binary addresses pack 64 bits to a word.** With :math:`W = \lceil n / 64 \rceil` words
  per address (bit :math:`i` of an address is bit :math:`i \bmod 64` of word
  :math:`\lfloor i / 64 \rfloor`, the padding bits of the last word are 0), the Hamming
  distance is an XOR and a population count per word,

  .. math:: d_H(\xi, a_j) = \sum_{w=0}^{W-1} \operatorname{popcount}(\xi_w \oplus a_{jw}),

  8 bytes per 64 bits instead of 2 (bf16) or 4 (float32) bytes per bit.
- **Few locations are active.** With activation probability :math:`p` (~0.001 in Kanerva's
  sample memory) a read needs only the :math:`p\,r` active rows of the counters,

  .. math:: s_b = \sum_{j \in S_b} C_j, \qquad
            S_b = \{ j : d_H(\xi_b, a_j) \le d \}\ \text{(radius)}\ \text{or the
            top-}k\ \text{set},

  and a write changes only those rows, :math:`C_j \leftarrow C_j + \sum_{\mu : j \in S_\mu}
  (2 v_\mu - 1)`.

All functions here are pure (except the in-place :func:`scatter_add`) and exact: distances
are integers, sums are integer additions in a dtype wide enough for the bound the caller
passes, so results equal the dense reference bit for bit. Activation follows the dense
rules exactly: radius :math:`d_H \le d`; top-k takes the ``k`` smallest keys
:math:`(d_H, j)` in lexicographic order, i.e. ties at the cut-off go to the lowest index,
as :func:`models.sdm.top_k_mask`.

Backends for the distances (``backend=``):

- ``"numpy"`` (CPU; numpy >= 2.0): ``np.bitwise_count`` on uint64 words, word-major
  addresses processed in cache-sized blocks, split over ``torch.get_num_threads()`` threads
  (numpy releases the GIL inside ufuncs).
- ``"torch"`` (any device): a SWAR popcount with torch bitwise ops; every value stays in
  ``[0, 2^{63})`` (the sign bit is counted separately), so no step relies on integer
  overflow.
- ``"jiterator"`` (CUDA): one fused elementwise kernel per 4 words,
  ``__popcll(a ^ q)`` summed in registers, compiled at run time by
  ``torch.cuda.jiterator``; it is checked once per process against ``"torch"`` and replaced
  by it (with a warning) if it fails.

Counter sums use a sparse (CSR, scipy) product on the CPU and ``index_add_`` elsewhere.
The bit packing and :func:`popcount64` live in :mod:`models.bit_packing`, the counter reads
and writes (:func:`gather_sums`, :func:`scatter_add`) in :mod:`models.sdm_packed_counters`;
this module re-exports them.
Addresses are stored *word-major*, ``(W, r)``: word ``w`` of every neuron is one contiguous
row, so a block of neurons is a contiguous slice of each word row.

Memory: packed addresses take :math:`8 r W` bytes (:math:`r \lceil n/64 \rceil \cdot 8`,
0.125 bytes per bit), the counters :math:`r v` times their element size; a read adds
:math:`O(b\,r)` distances per chunk of queries (bounded by ``budget``) and the gathered rows.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import torch

from models._checks import check_choice, check_int
from models.bit_packing import (
    _BUDGET,
    _INT64_MAX,
    _LANE_WORDS,
    WORD_BITS,
    _byte_counts,
    _lane_sum,
    n_words,
    pack_addresses,
    pack_bits,
    popcount64,
    unpack_bits,
)
from models.sdm_packed_counters import footprint_bytes, gather_sums, scatter_add

__all__ = [
    "BACKENDS",
    "WORD_BITS",
    "Backend",
    "active_pairs",
    "active_radius",
    "active_top_k",
    "default_backend",
    "footprint_bytes",
    "gather_sums",
    "hamming_distances",
    "n_words",
    "pack_addresses",
    "pack_bits",
    "popcount64",
    "scatter_add",
    "unpack_bits",
]
#: Distance backends (see the module docstring).
BACKENDS: tuple[str, ...] = ("numpy", "torch", "jiterator")

#: Type of the ``backend`` arguments.
Backend = Literal["numpy", "torch", "jiterator"]
#: Elements of one numpy block (queries x neurons): the uint64 XOR buffer (256 KiB) and the
#: counts stay in a core's L2 cache.
_NUMPY_BLOCK = 2**15


# ---------------------------------------------------------------------------------------------
# Hamming distances
# ---------------------------------------------------------------------------------------------


def _hamming_torch(queries: torch.Tensor, addresses: torch.Tensor) -> torch.Tensor:
    """SWAR distances, ``(b, W)`` x word-major ``(W, r)`` -> ``(b, r)`` int32."""
    words = addresses.shape[0]
    total = torch.zeros((queries.shape[0], addresses.shape[1]), dtype=torch.int64,
                        device=addresses.device)
    lanes: torch.Tensor | None = None
    for w in range(words):
        x = queries[:, w, None] ^ addresses[w][None, :]  # (b, r)
        total += x < 0  # the sign bit
        counts = _byte_counts(x & _INT64_MAX)
        lanes = counts if lanes is None else lanes.add_(counts)
        if (w + 1) % _LANE_WORDS == 0 or w == words - 1:  # lanes <= 8 * 15 = 120 < 128
            total += _lane_sum(lanes)
            lanes = None
    return total.to(torch.int32)


_JIT_FUNCTION: list[object] = []
_JIT_STATUS: dict[str, bool] = {}
_JIT_WIDTH = 4  # word pairs per kernel: 8 inputs, jiterator's maximum


def _jit_function() -> object:
    """Jiterator kernel: the sum of ``__popcll(a_i ^ q_i)`` over 4 word pairs."""
    if not _JIT_FUNCTION:
        from torch.cuda import jiterator

        params = ", ".join([f"T a{i}" for i in range(_JIT_WIDTH)]
                           + [f"T q{i}" for i in range(_JIT_WIDTH)])
        terms = " + ".join(f"__popcll(static_cast<unsigned long long>(a{i} ^ q{i}))"
                           for i in range(_JIT_WIDTH))
        code = (f"template <typename T> T sdm_xor_popcount({params}) "
                f"{{ return static_cast<T>({terms}); }}")
        _JIT_FUNCTION.append(jiterator._create_jit_fn(code))
    return _JIT_FUNCTION[0]


def _hamming_jiterator(queries: torch.Tensor, addresses: torch.Tensor) -> torch.Tensor:
    """Fused XOR-popcount distances on CUDA (4 words per kernel), ``(b, r)`` int32.

    One kernel serves every word count: a group of fewer than 4 words is completed with a
    broadcast zero word (popcount(0 ^ 0) = 0), so only one kernel is ever compiled.
    """
    fn = _jit_function()
    words = addresses.shape[0]
    zero = torch.zeros(1, dtype=torch.int64, device=addresses.device)
    total: torch.Tensor | None = None
    for start in range(0, words, _JIT_WIDTH):
        span = range(start, start + _JIT_WIDTH)
        part = fn(*[addresses[w] if w < words else zero for w in span],  # (r,) broadcast
                  *[queries[:, w:w + 1] if w < words else zero for w in span])  # (b, 1)
        total = part if total is None else total.add_(part)
    return total.to(torch.int32)


def _jiterator_works(device: torch.device) -> bool:
    """Whether the jiterator kernel compiles and agrees with the SWAR path (checked once)."""
    key = str(device)
    if key not in _JIT_STATUS:
        try:
            generator = torch.Generator().manual_seed(0)
            q = torch.randint(-2**62, 2**62, (3, 6), generator=generator) * 2 + 1
            a = torch.randint(-2**62, 2**62, (6, 37), generator=generator) * 2
            q, a = q.to(device), a.to(device)
            ok = torch.equal(_hamming_jiterator(q, a).cpu(), _hamming_torch(q, a).cpu())
            if not ok:
                warnings.warn("the jiterator popcount kernel disagrees with the SWAR path; "
                              "using the SWAR path", RuntimeWarning, stacklevel=3)
        except Exception as exc:  # any failure means: use the fallback
            warnings.warn(f"the jiterator popcount kernel is unavailable ({exc}); using the "
                          f"SWAR path", RuntimeWarning, stacklevel=3)
            ok = False
        _JIT_STATUS[key] = ok
    return _JIT_STATUS[key]


def _numpy_blocks(q: np.ndarray, a: np.ndarray, lo: int, hi: int, out: np.ndarray | None,
                  radius: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    r"""Distances of queries ``q`` (b, W) to neurons ``lo:hi`` of word-major ``a`` (W, r).

    Block by block (a few queries x a few thousand neurons, so the buffers stay in cache):
    the distances go to ``out`` (b, r) when it is given, else the block's radius pairs
    :math:`D \le d` are returned (row, column) while the block is still in cache.
    """
    b, words = q.shape
    qb = min(b, 8)
    rb = max(256, _NUMPY_BLOCK // qb)
    acc_dtype = np.uint16 if words * WORD_BITS < 2**16 else np.int32
    pairs = []
    x = np.empty(qb * rb, dtype=np.uint64)
    c = np.empty(qb * rb, dtype=np.uint8)
    acc = np.empty(qb * rb, dtype=acc_dtype)
    for r0 in range(lo, hi, rb):
        r1 = min(hi, r0 + rb)
        for q0 in range(0, b, qb):
            q1 = min(b, q0 + qb)
            shape = (q1 - q0, r1 - r0)
            size = shape[0] * shape[1]
            xb, cb, ab = (buf[:size].reshape(shape) for buf in (x, c, acc))
            ab[...] = 0
            for w in range(words):
                np.bitwise_xor(q[q0:q1, w, None], a[w, None, r0:r1], out=xb)
                np.bitwise_count(xb, out=cb)
                np.add(ab, cb, out=ab)
            if out is not None:
                out[q0:q1, r0:r1] = ab
            else:
                rows, cols = np.nonzero(ab <= radius)
                if rows.size:
                    pairs.append((rows + q0, cols + r0))
    return pairs


def _numpy_threads(work: int, threads: int | None) -> int:
    """Threads for ``work`` word XORs: each thread gets at least 2^20 of them."""
    threads = torch.get_num_threads() if threads is None else threads
    return max(1, min(threads, work >> 20))


def _numpy_run(q: np.ndarray, a: np.ndarray, out: np.ndarray | None, radius: int | None,
               threads: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`_numpy_blocks` over all neurons, split into contiguous ranges per thread."""
    r = a.shape[1]
    threads = _numpy_threads(q.shape[0] * r * a.shape[0], threads)
    if threads == 1:
        return _numpy_blocks(q, a, 0, r, out, radius)
    edges = [r * i // threads for i in range(threads + 1)]
    with ThreadPoolExecutor(threads) as pool:  # numpy releases the GIL inside ufuncs
        parts = pool.map(lambda i: _numpy_blocks(q, a, edges[i], edges[i + 1], out, radius),
                         range(threads))
        return [pair for part in parts for pair in part]


def _as_numpy_words(words: torch.Tensor) -> np.ndarray:
    return words.contiguous().numpy().view(np.uint64)


def _hamming_numpy(queries: torch.Tensor, addresses: torch.Tensor,
                   threads: int | None = None) -> torch.Tensor:
    """``np.bitwise_count`` distances on the CPU, ``(b, r)`` int32."""
    q, a = _as_numpy_words(queries), _as_numpy_words(addresses)
    out = np.empty((q.shape[0], a.shape[1]), dtype=np.int32)
    _numpy_run(q, a, out, None, threads)
    return torch.from_numpy(out)


def _pairs_numpy(queries: torch.Tensor, addresses: torch.Tensor, radius: int | None,
                 top_k: int | None, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Active pairs on the CPU without torch ops on (b, r) arrays: numpy only.

    Torch's thread pool costs milliseconds per op on a busy 2-core machine.
    """
    q, a = _as_numpy_words(queries), _as_numpy_words(addresses)
    b, r = q.shape[0], a.shape[1]
    if radius is not None:
        pairs = _numpy_run(q, a, None, radius, threads)
        if not pairs:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        key = np.sort(np.concatenate([rows.astype(np.int64) * r + cols
                                      for rows, cols in pairs]))
        return key // r, key % r
    distances = np.empty((b, r), dtype=np.int32)
    _numpy_run(q, a, distances, None, threads)
    chosen = np.empty((b, top_k), dtype=np.int64)
    step = max(1, 2**22 // r)  # rows of int64 keys at a time (32 MiB)
    for start in range(0, b, step):
        # keys D r + j: distinct, ordered as (D, j), so the k smallest are the top-k set
        key = distances[start:start + step].astype(np.int64) * r + np.arange(r)
        part = (np.argpartition(key, top_k - 1, axis=1)[:, :top_k] if top_k < r
                else np.broadcast_to(np.arange(r), key.shape))
        chosen[start:start + step] = np.sort(part, axis=1)
    return np.repeat(np.arange(b), top_k), chosen.reshape(-1)


def default_backend(device: torch.device | str) -> Backend:
    """The distance backend used on ``device`` when none is named.

    CPU: ``"numpy"`` when ``np.bitwise_count`` exists (numpy >= 2.0), else ``"torch"``;
    CUDA: ``"jiterator"`` when its kernel compiles and passes a self-check, else ``"torch"``.
    """
    device = torch.device(device)
    if device.type == "cpu":
        return "numpy" if hasattr(np, "bitwise_count") else "torch"
    if device.type == "cuda" and _jiterator_works(device):
        return "jiterator"
    return "torch"


def _check_words(query_words: torch.Tensor, address_words: torch.Tensor) -> None:
    if query_words.dtype != torch.int64 or address_words.dtype != torch.int64:
        raise TypeError(f"query_words and address_words must be int64 packed words, got "
                        f"{query_words.dtype} and {address_words.dtype}")
    if query_words.dim() != 2 or address_words.dim() != 2:
        raise ValueError(f"query_words must be (b, W) and address_words word-major (W, r), "
                         f"got shapes {tuple(query_words.shape)} and "
                         f"{tuple(address_words.shape)}")
    if query_words.shape[1] != address_words.shape[0]:
        raise ValueError(f"query_words must have W={address_words.shape[0]} words per row "
                         f"(address_words is (W, r)), got {query_words.shape[1]}")
    if query_words.device != address_words.device:
        raise ValueError(f"query_words and address_words must be on one device, got "
                         f"{query_words.device} and {address_words.device}")


def _resolve_backend(backend: str | None, device: torch.device) -> str:
    if backend is None:
        return default_backend(device)
    backend = check_choice("backend", backend, BACKENDS)
    if backend == "numpy" and (device.type != "cpu" or not hasattr(np, "bitwise_count")):
        raise ValueError("backend 'numpy' needs CPU tensors and numpy >= 2.0 "
                         "(np.bitwise_count)")
    if backend == "jiterator" and device.type != "cuda":
        raise ValueError("backend 'jiterator' needs CUDA tensors")
    return backend


def _hamming(query_words: torch.Tensor, address_words: torch.Tensor,
             backend: str) -> torch.Tensor:
    if backend == "numpy":
        return _hamming_numpy(query_words, address_words)
    if backend == "jiterator":
        return _hamming_jiterator(query_words, address_words)
    return _hamming_torch(query_words, address_words)


def hamming_distances(query_words: torch.Tensor, address_words: torch.Tensor, *,
                      backend: Backend | None = None, budget: int = _BUDGET) -> torch.Tensor:
    r"""Hamming distances between packed queries and packed addresses.

    .. math:: D_{bj} = \sum_w \operatorname{popcount}(\xi_{bw} \oplus a_{jw})

    Parameters
    ----------
    query_words
        ``(b, W)`` int64 packed queries (:func:`pack_bits`).
    address_words
        ``(W, r)`` int64 word-major packed addresses (:func:`pack_addresses`).
    backend
        ``"numpy"``, ``"torch"`` or ``"jiterator"`` (``None``: :func:`default_backend`).
    budget
        Queries are processed in chunks of ``max(1, budget // r)``.

    Returns
    -------
    torch.Tensor
        ``(b, r)`` int32 distances.
    """
    _check_words(query_words, address_words)
    backend = _resolve_backend(backend, address_words.device)
    chunk = max(1, budget // max(1, address_words.shape[1]))
    parts = [_hamming(query_words[s:s + chunk], address_words, backend)
             for s in range(0, query_words.shape[0], chunk)]
    if not parts:
        return torch.zeros((0, address_words.shape[1]), dtype=torch.int32,
                           device=address_words.device)
    return torch.cat(parts)


# ---------------------------------------------------------------------------------------------
# activation
# ---------------------------------------------------------------------------------------------


def active_radius(distances: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Active (query, neuron) pairs of the radius rule, :math:`D_{bj} \le d`.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        int64 ``rows`` (query) and ``cols`` (neuron), sorted by row then neuron.
    """
    rows, cols = torch.nonzero(distances <= radius, as_tuple=True)
    return rows, cols


def active_top_k(distances: torch.Tensor, k: int) -> torch.Tensor:
    r"""The ``k`` neurons of each query with the smallest distance, ties to the lowest index.

    The keys :math:`D_{bj}\, r + j` are distinct and ordered as :math:`(D_{bj}, j)`
    lexicographically, so the ``k`` smallest keys are exactly the set of
    :func:`models.sdm.top_k_mask` (smaller distance first; among neurons tied at the
    cut-off the lowest indices).

    Returns
    -------
    torch.Tensor
        ``(b, k)`` int64 neuron indices, ascending in each row.
    """
    r = distances.shape[1]
    k = check_int("k", k, minimum=1, maximum=r)
    key = distances.to(torch.int64) * r + torch.arange(r, device=distances.device)
    chosen = torch.topk(key, k, dim=1, largest=False, sorted=False).indices
    return chosen.sort(dim=1).values


def active_pairs(query_words: torch.Tensor, address_words: torch.Tensor, *,
                 radius: int | None = None, top_k: int | None = None,
                 backend: Backend | None = None,
                 budget: int = _BUDGET) -> tuple[torch.Tensor, torch.Tensor]:
    """Active (query, neuron) pairs by radius or top-k, chunked over queries.

    Exactly one of ``radius`` and ``top_k`` must be given. Other arguments as in
    :func:`hamming_distances`.

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        int64 ``rows`` and ``cols`` sorted by query then neuron.
    """
    _check_words(query_words, address_words)
    if (radius is None) == (top_k is None):
        raise ValueError("radius: give exactly one of radius or top_k")
    backend = _resolve_backend(backend, address_words.device)
    b, r = query_words.shape[0], address_words.shape[1]
    chunk = max(1, budget // max(1, r))
    if top_k is not None:
        top_k = check_int("top_k", top_k, minimum=1, maximum=r)
    rows, cols = [], []
    for start in range(0, b, chunk):
        if backend == "numpy":
            part_rows, part_cols = _pairs_numpy(query_words[start:start + chunk],
                                                address_words, radius, top_k)
            rows.append(torch.from_numpy(part_rows + start))
            cols.append(torch.from_numpy(part_cols))
            continue
        distances = _hamming(query_words[start:start + chunk], address_words, backend)
        if radius is not None:
            part_rows, part_cols = active_radius(distances, radius)
        else:
            part_cols = active_top_k(distances, top_k).flatten()
            part_rows = torch.arange(distances.shape[0], device=distances.device
                                     ).repeat_interleave(top_k)
        rows.append(part_rows + start)
        cols.append(part_cols)
    if not rows:
        empty = torch.zeros(0, dtype=torch.int64, device=address_words.device)
        return empty, empty.clone()
    return torch.cat(rows), torch.cat(cols)
