"""Random binary and bipolar patterns, noisy copies, and Hamming distances.

Conventions used across ``models``:

- a *binary* pattern has entries in {0, 1} (Kanerva's address space ``{0,1}^n``);
- a *bipolar* pattern has entries in {-1, +1} (Hopfield networks, SDM counters);
- a batch of patterns is a ``(batch, n)`` tensor, one pattern per row.

Random draws happen on the CPU from a generator seeded by ``seed`` and the result is then
moved to ``device``, so one seed gives the same patterns on every device.
"""

from __future__ import annotations

import torch

from models._checks import (
    as_tensor,
    check_binary,
    check_bipolar,
    check_int,
    check_matrix,
    check_probability,
)
from models.seeding import SeedLike, torch_generator

__all__ = [
    "flip_bits",
    "flip_exact",
    "hamming_distance",
    "random_binary",
    "random_bipolar",
    "to_binary",
    "to_bipolar",
]


def random_binary(m: int, n: int, *, p: float = 0.5, seed: SeedLike | torch.Generator = None,
                  device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    r"""Draw ``m`` random binary patterns of length ``n``.

    Each bit is independently 1 with probability ``p``: :math:`x_{\mu i} \sim
    \mathrm{Bernoulli}(p)`.

    Parameters
    ----------
    m, n
        Number of patterns and their length (bits).
    p
        Probability of a 1 (0.5 gives Kanerva's uniform address space).
    seed
        Integer seed or a CPU ``torch.Generator``.
    device, dtype
        Where and as what the result is returned.

    Returns
    -------
    torch.Tensor
        Shape ``(m, n)``, entries in {0, 1}.
    """
    m = check_int("m", m, minimum=0)
    n = check_int("n", n, minimum=1)
    p = check_probability("p", p)
    generator = torch_generator(seed, "random_binary")
    bits = torch.rand((m, n), generator=generator) < p
    return bits.to(device=device, dtype=dtype)


def random_bipolar(m: int, n: int, *, p: float = 0.5, seed: SeedLike | torch.Generator = None,
                   device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Draw ``m`` random bipolar patterns of length ``n`` (+1 with probability ``p``).

    Returns a ``(m, n)`` tensor with entries in {-1, +1}; see :func:`random_binary`.
    """
    return to_bipolar(random_binary(m, n, p=p, seed=seed, device=device), dtype=dtype)


def to_bipolar(binary: torch.Tensor, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    r"""Map {0, 1} to {-1, +1}: :math:`s = 2x - 1`."""
    binary = check_binary("binary", binary)
    return binary.to(dtype) * 2 - 1


def to_binary(bipolar: torch.Tensor, *, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    r"""Map {-1, +1} to {0, 1}: :math:`x = (s + 1) / 2`."""
    bipolar = check_bipolar("bipolar", bipolar)
    return (bipolar > 0).to(dtype)


def _flip(patterns: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Flip the entries of ``patterns`` where ``mask`` is true (binary or bipolar)."""
    mask = mask.to(patterns.device)
    if bool(((patterns == 0) | (patterns == 1)).all()):
        return torch.where(mask, 1 - patterns, patterns)
    return torch.where(mask, -patterns, patterns)


def _check_patterns(name: str, patterns: torch.Tensor) -> torch.Tensor:
    """Binary or bipolar patterns as a tensor; anything else raises naming ``name``."""
    patterns = as_tensor(name, patterns)
    binary = (patterns == 0) | (patterns == 1)
    if not bool((binary | (patterns == -1)).all()):
        bad = patterns[~(binary | (patterns == -1))].flatten()[0].item()
        raise ValueError(f"{name} must be binary (0/1) or bipolar (-1/+1), "
                         f"found the value {bad!r}")
    if not bool(binary.all()) and bool((patterns == 0).any()):
        raise ValueError(f"{name} must be binary (0/1) or bipolar (-1/+1), not a mix of both")
    return patterns


def flip_exact(patterns: torch.Tensor, distance: int, *,
               seed: SeedLike | torch.Generator = None) -> torch.Tensor:
    """Noisy copies at an exact Hamming distance.

    Every row gets exactly ``distance`` distinct positions flipped, chosen uniformly.

    Parameters
    ----------
    patterns
        ``(batch, n)`` or ``(n,)`` binary or bipolar patterns.
    distance
        Number of bits to flip in each pattern, ``0 <= distance <= n``.
    seed
        Integer seed or a CPU ``torch.Generator``.

    Returns
    -------
    torch.Tensor
        Same shape, dtype and device as ``patterns``.
    """
    patterns = _check_patterns("patterns", patterns)
    squeeze = patterns.dim() == 1
    matrix = check_matrix("patterns", patterns)
    batch, n = matrix.shape
    distance = check_int("distance", distance, minimum=0, maximum=n)
    generator = torch_generator(seed, "flip_exact")
    # The `distance` smallest of n uniform keys per row give a uniform random subset.
    ranks = torch.rand((batch, n), generator=generator).argsort(dim=1).argsort(dim=1)
    out = _flip(matrix, ranks < distance)
    return out[0] if squeeze else out


def flip_bits(patterns: torch.Tensor, probability: float, *,
              seed: SeedLike | torch.Generator = None) -> torch.Tensor:
    """Noisy copies where each bit flips independently with ``probability``."""
    patterns = _check_patterns("patterns", patterns)
    probability = check_probability("probability", probability)
    generator = torch_generator(seed, "flip_bits")
    mask = torch.rand(tuple(patterns.shape), generator=generator) < probability
    return _flip(patterns, mask)


def hamming_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""Pairwise Hamming distances between two batches of binary patterns.

    .. math:: D_{ij} = \sum_k a_{ik} (1 - b_{jk}) + (1 - a_{ik}) b_{jk}

    Parameters
    ----------
    a, b
        ``(A, n)`` and ``(B, n)`` binary tensors (vectors are treated as one row).

    Returns
    -------
    torch.Tensor
        ``(A, B)`` int64 distances.
    """
    a = check_matrix("a", check_binary("a", a))
    b = check_matrix("b", check_binary("b", b))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"b must have the same length as a ({a.shape[1]} bits), "
                         f"got {b.shape[1]}")
    # float64 products are exact integers for any n we can hold in memory.
    af = a.to(torch.float64)
    bf = b.to(device=a.device, dtype=torch.float64)
    distances = af @ (1 - bf).T + (1 - af) @ bf.T
    return distances.round().to(torch.int64)
