r"""Small pure functions shared by the SDMs of :mod:`models.sdm`.

Hamming radius and cosine threshold (:math:`\cos = 1 - 2d/n`), the top-k activation mask
with ties to the lowest index, exact integer matmuls, and the checks of the activation
arguments (``"radius"`` or ``"top_k"``).
"""

from __future__ import annotations

from typing import Any

import torch

from models._checks import as_tensor, check_batch, check_choice, check_int, check_matrix, check_real

__all__ = ["ACTIVATIONS", "READ_PATHS", "cosine_for_radius", "radius_for_cosine", "top_k_mask"]

#: Names of the activation rules (see the module docstring).
ACTIVATIONS: tuple[str, ...] = ("radius", "top_k")

#: Read paths of the binary SDM (see :class:`SDM`).
READ_PATHS: tuple[str, ...] = ("auto", "dense", "packed", "fused")

#: Integers up to these magnitudes are exact in float32 / float64.
_FLOAT32_EXACT = 2**24
_FLOAT64_EXACT = 2**53


def cosine_for_radius(n: int, radius: float) -> float:
    r"""Cosine similarity of two bipolar vectors at Hamming distance ``radius``.

    .. math:: \cos = 1 - \frac{2 d}{n}

    Parameters
    ----------
    n
        Vector length (bits).
    radius
        Hamming distance :math:`d`, ``0 <= radius <= n`` (real values allowed).

    Returns
    -------
    float
        The cosine, in ``[-1, 1]``.
    """
    n = check_int("n", n, minimum=1)
    radius = check_real("radius", radius, minimum=0.0, maximum=float(n))
    return 1.0 - 2.0 * radius / n


def radius_for_cosine(n: int, cosine: float) -> float:
    r"""Hamming distance matching a cosine, the inverse of :func:`cosine_for_radius`.

    .. math:: d = \frac{n (1 - \cos)}{2}
    """
    n = check_int("n", n, minimum=1)
    cosine = check_real("cosine", cosine, minimum=-1.0, maximum=1.0)
    return n * (1.0 - cosine) / 2.0


def top_k_mask(scores: torch.Tensor, k: int, *, largest: bool = False) -> torch.Tensor:
    r"""Boolean mask of the ``k`` best entries of each row, ties to the lowest index.

    Row by row, the mask selects every entry strictly better than the ``k``-th best value and
    then, among the entries equal to it, the ones with the lowest column index until exactly
    ``k`` are selected. The result is deterministic on every device.

    Parameters
    ----------
    scores
        ``(batch, r)`` real or integer scores (a vector is one row).
    k
        Number of entries to keep per row, ``1 <= k <= r``.
    largest
        Keep the largest scores (e.g. cosines) instead of the smallest (distances).

    Returns
    -------
    torch.Tensor
        Bool tensor of the shape of ``scores`` with exactly ``k`` true entries per row.
    """
    scores = as_tensor("scores", scores)
    squeeze = scores.dim() == 1
    scores = check_matrix("scores", scores)
    k = check_int("k", k, minimum=1)
    if k > scores.shape[1]:
        raise ValueError(f"k must be <= the number of columns ({scores.shape[1]}), got {k}")
    if scores.is_floating_point() and bool(torch.isnan(scores).any()):
        raise ValueError("scores must not contain NaN")
    kth = torch.topk(scores, k, dim=1, largest=largest, sorted=True).values[:, -1:]
    better = scores > kth if largest else scores < kth
    tied = scores == kth
    need = k - better.sum(dim=1, keepdim=True)
    mask = better | (tied & (tied.cumsum(dim=1) <= need))
    return mask[0] if squeeze else mask


def _check_pattern_batch(name: str, value: Any, length: int, length_name: str,
                         device: torch.device) -> tuple[torch.Tensor, bool]:
    """Binary (batch, length) patterns on ``device``; also whether a vector was given."""
    return check_batch(name, value, kind="binary", length=length, length_name=length_name,
                       device=device)


def _float32_is_exact(device: torch.device, max_entry: int) -> bool:
    """Whether float32 matmuls on ``device`` reproduce integer inputs up to ``max_entry``.

    With the default "highest" precision float32 inputs are used as they are. If reduced
    precision is enabled (TF32 on CUDA, bf16 inside oneDNN on CPU), inputs are rounded to as
    few as 8 significant bits, so only small integers survive.
    """
    reduced = torch.get_float32_matmul_precision() != "highest"
    if device.type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        reduced = True
    return max_entry <= (2**8 if reduced else _FLOAT32_EXACT)


def _exact_matmul(left: torch.Tensor, right: torch.Tensor, *, left_max: int,
                  right_max: int, bound: int) -> torch.Tensor:
    """``left @ right`` for integer-valued tensors, exactly, returned as int64.

    ``left_max``/``right_max`` bound the magnitude of the entries and ``bound`` bounds every
    partial sum. The product runs in float32 when that is exact, else float64, else int64 on
    the CPU (integer matmul is not available on every device).
    """
    device = left.device
    if bound < _FLOAT32_EXACT and _float32_is_exact(device, max(left_max, right_max)):
        dtype = torch.float32
    elif bound < _FLOAT64_EXACT and device.type != "mps":
        dtype = torch.float64
    else:
        out = left.to("cpu", torch.int64) @ right.to("cpu", torch.int64)
        return out.to(device)
    product = left.to(dtype) @ right.to(dtype)
    return product.round().to(torch.int64)


# ---------------------------------------------------------------------------------------------
# Binary SDM
# ---------------------------------------------------------------------------------------------

def _resolve_activation(activation: str | None, top_k: int | None) -> str:
    if activation is None:
        return "top_k" if top_k is not None else "radius"
    return check_choice("activation", activation, ACTIVATIONS)


def _check_top_k(top_k: int | None, r: int) -> int:
    if top_k is None:
        raise ValueError("top_k is required when activation='top_k'")
    top_k = check_int("top_k", top_k, minimum=1)
    if top_k > r:
        raise ValueError(f"top_k must be <= r={r} (the number of hard locations), "
                         f"got {top_k}")
    return top_k


def _check_activation_args(r: int, n: int, radius: int | None, activation: str | None,
                           top_k: int | None) -> None:
    """Validate activation arguments before drawing random addresses (cheap checks first)."""
    activation = _resolve_activation(activation, top_k)
    if activation == "radius":
        if radius is None:
            raise ValueError("radius is required when activation='radius'")
        check_int("radius", radius, minimum=0, maximum=n)
    else:
        _check_top_k(top_k, r)


