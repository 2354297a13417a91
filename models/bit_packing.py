r"""Binary patterns packed 64 bits to an int64 word, and the population count of a word.

Bit :math:`i` of a pattern is bit :math:`i \bmod 64` of word :math:`\lfloor i / 64
\rfloor`; the padding bits of the last word are 0, so :math:`W = \lceil n / 64 \rceil`
words hold ``n`` bits. :func:`popcount64` is a SWAR population count with torch bitwise ops
in which every value stays in :math:`[0, 2^{63})` (the sign bit is counted separately), so
no step relies on integer overflow. The Hamming kernels of :mod:`models.sdm_packed` build on
these.
"""

from __future__ import annotations

import sys

import torch

from models._checks import check_binary, check_int

__all__ = ["WORD_BITS", "n_words", "pack_addresses", "pack_bits", "popcount64", "unpack_bits"]

#: Bits per packed word (int64).
WORD_BITS = 64
#: Default bound on the elements of one (queries x neurons) intermediate.
_BUDGET = 2**26

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

