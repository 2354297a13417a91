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
Addresses are stored *word-major*, ``(W, r)``: word ``w`` of every neuron is one contiguous
row, so a block of neurons is a contiguous slice of each word row.

Memory: packed addresses take :math:`8 r W` bytes (:math:`r \lceil n/64 \rceil \cdot 8`,
0.125 bytes per bit), the counters :math:`r v` times their element size; a read adds
:math:`O(b\,r)` distances per chunk of queries (bounded by ``budget``) and the gathered rows.
"""

from __future__ import annotations

import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import torch

from models._checks import check_binary, check_choice, check_int

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

#: Bits per packed word (int64).
WORD_BITS = 64

#: Distance backends (see the module docstring).
BACKENDS: tuple[str, ...] = ("numpy", "torch", "jiterator")

#: Type of the ``backend`` arguments.
Backend = Literal["numpy", "torch", "jiterator"]

#: Default bound on the elements of one (queries x neurons) intermediate.
_BUDGET = 2**26

#: Elements of one numpy block (queries x neurons): the uint64 XOR buffer (256 KiB) and the
#: counts stay in a core's L2 cache.
_NUMPY_BLOCK = 2**15

# SWAR masks; all below 2**63, so they are ordinary non-negative int64 values.
_INT64_MAX = 0x7FFFFFFFFFFFFFFF
_M1 = 0x5555555555555555
_M2 = 0x3333333333333333
_M4 = 0x0F0F0F0F0F0F0F0F
_M8 = 0x00FF00FF00FF00FF
_M16 = 0x0000FFFF0000FFFF
_M32 = 0x00000000FFFFFFFF

#: Words whose byte-lane counts (each <= 8) can be added before a lane could reach 128.
_LANE_WORDS = 15


def n_words(n: int) -> int:
    r"""Words per packed address, :math:`W = \lceil n / 64 \rceil`."""
    n = check_int("n", n, minimum=1)
    return -(-n // WORD_BITS)


# ---------------------------------------------------------------------------------------------
# packing
# ---------------------------------------------------------------------------------------------


def _check_little_endian() -> None:
    if sys.byteorder != "little":  # pragma: no cover - every supported CPU/GPU is little
        raise RuntimeError("bit packing views bytes as int64 words and needs a little-endian "
                           "host")


def pack_bits(bits: torch.Tensor) -> torch.Tensor:
    r"""Pack binary vectors into int64 words, 64 bits per word.

    Bit :math:`i` of a vector becomes bit :math:`i \bmod 64` of word :math:`\lfloor i/64
    \rfloor`; the padding bits of the last word are 0, so XOR-ing two packed vectors never
    counts them.

    Parameters
    ----------
    bits
        ``(..., n)`` binary tensor (0/1, any dtype), on any device.

    Returns
    -------
    torch.Tensor
        ``(..., ceil(n / 64))`` int64 words on the device of ``bits``.
    """
    bits = check_binary("bits", bits)
    if bits.dim() < 1 or bits.shape[-1] < 1:
        raise ValueError(f"bits must have a non-empty last dimension, got shape "
                         f"{tuple(bits.shape)}")
    _check_little_endian()
    lead, n = tuple(bits.shape[:-1]), int(bits.shape[-1])
    words = n_words(n)
    flat = bits.reshape(-1, n)
    out = torch.empty((flat.shape[0], words), dtype=torch.int64, device=bits.device)
    weights = torch.tensor([1 << i for i in range(8)], dtype=torch.int32, device=bits.device)
    # rows in chunks: the padded uint8 copy and the byte products stay below ~2^26 elements
    rows = max(1, _BUDGET // (words * WORD_BITS))
    for start in range(0, flat.shape[0], rows):
        block = flat[start:start + rows]
        padded = torch.zeros((block.shape[0], words * WORD_BITS), dtype=torch.uint8,
                             device=bits.device)
        padded[:, :n] = block
        # (rows, 8 W, 8) bits -> (rows, 8 W) bytes, bit i of a byte weighted 2^i
        packed = (padded.view(block.shape[0], words * 8, 8) * weights).sum(dim=2)
        out[start:start + rows] = packed.to(torch.uint8).view(torch.int64)
    return out.reshape(*lead, words)


def unpack_bits(words: torch.Tensor, n: int) -> torch.Tensor:
    """Inverse of :func:`pack_bits`: ``(..., W)`` int64 words to ``(..., n)`` uint8 bits."""
    n = check_int("n", n, minimum=1)
    if words.dtype != torch.int64:
        raise TypeError(f"words must be int64, got {words.dtype}")
    if words.dim() < 1 or words.shape[-1] != n_words(n):
        raise ValueError(f"words must have last dimension ceil(n/64)={n_words(n)}, got shape "
                         f"{tuple(words.shape)}")
    _check_little_endian()
    lead, width = tuple(words.shape[:-1]), int(words.shape[-1])
    flat = words.reshape(-1, width).contiguous()
    out = torch.empty((flat.shape[0], n), dtype=torch.uint8, device=words.device)
    shifts = torch.arange(8, dtype=torch.uint8, device=words.device)
    rows = max(1, _BUDGET // (width * WORD_BITS))
    for start in range(0, flat.shape[0], rows):
        block = flat[start:start + rows]
        # flat view first: a (rows, 1) slice may carry a non-unit last stride
        block = block.reshape(-1).view(torch.uint8).view(block.shape[0], width * 8)
        bits = (block.unsqueeze(-1) >> shifts) & 1  # (rows, 8 W, 8)
        out[start:start + rows] = bits.reshape(block.shape[0], width * WORD_BITS)[:, :n]
    return out.reshape(*lead, n)


def pack_addresses(addresses: torch.Tensor) -> torch.Tensor:
    """``(r, n)`` binary addresses to word-major ``(W, r)`` int64 words (contiguous rows)."""
    return pack_bits(addresses).T.contiguous()


# ---------------------------------------------------------------------------------------------
# popcount and Hamming distances
# ---------------------------------------------------------------------------------------------


def _byte_counts(x: torch.Tensor) -> torch.Tensor:
    """Per-byte popcounts (each <= 7) of non-negative int64 ``x`` (sign bit already 0)."""
    x = (x & _M1) + ((x >> 1) & _M1)  # 2-bit lanes <= 2
    x = (x & _M2) + ((x >> 2) & _M2)  # 4-bit lanes <= 4
    return (x & _M4) + ((x >> 4) & _M4)  # 8-bit lanes <= 8 (the top lane <= 7)


def _lane_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of the eight byte lanes of non-negative int64 ``x`` (each lane < 128)."""
    x = (x & _M8) + ((x >> 8) & _M8)
    x = (x & _M16) + ((x >> 16) & _M16)
    return (x & _M32) + (x >> 32)


def popcount64(x: torch.Tensor) -> torch.Tensor:
    r"""Number of set bits of every int64 word (SWAR, torch bitwise ops, any device).

    The sign bit is counted apart, :math:`\operatorname{popcount}(x) = [x < 0] +
    \operatorname{popcount}(x \wedge (2^{63} - 1))`, so every intermediate stays in
    :math:`[0, 2^{63})`: arithmetic right shifts then equal logical ones and no addition can
    overflow.

    Parameters
    ----------
    x
        int64 tensor of any shape.

    Returns
    -------
    torch.Tensor
        int64 tensor of the shape of ``x``, values in ``[0, 64]``.
    """
    if x.dtype != torch.int64:
        raise TypeError(f"x must be int64, got {x.dtype}")
    return _lane_sum(_byte_counts(x & _INT64_MAX)) + (x < 0)


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
    """Active pairs on the CPU without torch ops on (b, r) arrays: numpy only (torch's
    thread pool costs milliseconds per op on a busy 2-core machine)."""
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


# ---------------------------------------------------------------------------------------------
# sparse counter reads and writes
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# memory
# ---------------------------------------------------------------------------------------------


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

