"""Argument checks shared by the whole package.

Every check raises one :class:`ValueError` (or :class:`TypeError` for a wrong type) whose
message starts with the offending argument's name, so a user sees what to fix without a
traceback from deep inside torch or Brian2.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "as_tensor",
    "check_batch",
    "check_binary",
    "check_bipolar",
    "check_bool",
    "check_choice",
    "check_device",
    "check_int",
    "check_last_dim",
    "check_matrix",
    "check_probability",
    "check_real",
]


def check_int(name: str, value: Any, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Return ``value`` as a Python int, or raise naming ``name``.

    Booleans and non-integral floats are refused; ``minimum``/``maximum`` are inclusive.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | np.integer):
        if isinstance(value, float | np.floating) and float(value).is_integer():
            value = int(value)
        else:
            raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_real(name: str, value: Any, *, minimum: float | None = None,
               maximum: float | None = None, strict_minimum: bool = False) -> float:
    """Return ``value`` as a finite float, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | np.floating | np.integer):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None:
        if strict_minimum and value <= minimum:
            raise ValueError(f"{name} must be > {minimum}, got {value}")
        if not strict_minimum and value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return value


def check_probability(name: str, value: Any) -> float:
    """Return ``value`` as a float in [0, 1], or raise naming ``name``."""
    return check_real(name, value, minimum=0.0, maximum=1.0)


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise listing them."""
    choices = tuple(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def as_tensor(name: str, value: Any, *, device: torch.device | str | None = None,
              dtype: torch.dtype | None = None) -> torch.Tensor:
    """Convert ``value`` (tensor, array or nested sequence) to a tensor, naming it on failure."""
    if isinstance(value, torch.Tensor):
        out = value
    else:
        try:
            out = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be a tensor or array, got {type(value).__name__}"
                            ) from exc
    if device is not None or dtype is not None:
        out = out.to(device=device if device is not None else out.device,
                     dtype=dtype if dtype is not None else out.dtype)
    return out


def check_binary(name: str, value: Any) -> torch.Tensor:
    """Return ``value`` as a tensor after checking every entry is 0 or 1."""
    tensor = as_tensor(name, value)
    if tensor.numel() and not bool(((tensor == 0) | (tensor == 1)).all()):
        bad = tensor[(tensor != 0) & (tensor != 1)].flatten()[0].item()
        raise ValueError(f"{name} must be binary (0/1), found the value {bad!r}")
    return tensor


def check_bipolar(name: str, value: Any) -> torch.Tensor:
    """Return ``value`` as a tensor after checking every entry is -1 or +1."""
    tensor = as_tensor(name, value)
    if tensor.numel() and not bool(((tensor == -1) | (tensor == 1)).all()):
        bad = tensor[(tensor != -1) & (tensor != 1)].flatten()[0].item()
        raise ValueError(f"{name} must be bipolar (-1/+1), found the value {bad!r}")
    return tensor


def check_matrix(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """Accept a vector (one pattern) or a matrix (a batch); always return a matrix."""
    if tensor.dim() == 1:
        return tensor.unsqueeze(0)
    if tensor.dim() != 2:
        raise ValueError(f"{name} must be a vector or a (batch, dim) matrix, "
                         f"got shape {tuple(tensor.shape)}")
    return tensor


def check_last_dim(name: str, tensor: torch.Tensor, size: int,
                   what: str | Sequence[str] = "") -> torch.Tensor:
    """Raise naming ``name`` unless ``tensor.shape[-1] == size``."""
    if tensor.shape[-1] != size:
        suffix = f" ({what})" if what else ""
        raise ValueError(f"{name} must have last dimension {size}{suffix}, "
                         f"got shape {tuple(tensor.shape)}")
    return tensor


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is ``True`` or ``False`` (not merely truthy), else raise."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_device(name: str, value: Any) -> torch.device:
    """Return ``value`` as a ``torch.device``; refuse unknown names and absent CUDA."""
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"{name} must name a torch device, got {value!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name} {value!r} requested but CUDA is not available")
    return device


_KINDS = ("real", "binary", "bipolar")


def check_batch(name: str, value: Any, *, kind: str = "real", length: int | None = None,
                length_name: str | None = None, what: str = "", finite: bool = False,
                nonempty: bool = False, device: torch.device | str | None = None,
                dtype: torch.dtype | None = None) -> tuple[torch.Tensor, bool]:
    """A vector (one pattern) or a ``(batch, length)`` matrix, checked, as a matrix.

    The one convention of every read, write and update in ``models``: a ``(length,)``
    vector is a batch of one, and the caller returns its result without the batch axis.

    Parameters
    ----------
    name
        Argument name, the first word of every error.
    value
        Tensor, array or nested sequence.
    kind
        ``"binary"`` (entries 0/1, :func:`check_binary`), ``"bipolar"`` (-1/+1,
        :func:`check_bipolar`) or ``"real"`` (any real dtype; bool and complex are refused;
        integers become the default float dtype unless ``dtype`` is given).
    length
        Required last dimension (``None``: any). The error reads "last dimension n=8" with
        ``length_name="n"``, else "last dimension 8 (what)" as :func:`check_last_dim`.
    finite
        Refuse NaN and infinities.
    nonempty
        Refuse a batch of zero rows or a last dimension of zero.
    device, dtype
        Where and as what the matrix is returned (default: unchanged).

    Returns
    -------
    (torch.Tensor, bool)
        The ``(batch, length)`` matrix and whether ``value`` was a vector.
    """
    kind = check_choice("kind", kind, _KINDS)
    if kind == "binary":
        tensor = check_binary(name, value)
    elif kind == "bipolar":
        tensor = check_bipolar(name, value)
    else:
        tensor = as_tensor(name, value)
        if tensor.dtype == torch.bool or tensor.is_complex():
            raise TypeError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
        if dtype is None and not tensor.is_floating_point():
            dtype = torch.get_default_dtype()
    squeeze = tensor.dim() == 1
    tensor = check_matrix(name, tensor)
    if nonempty and (tensor.shape[0] < 1 or tensor.shape[1] < 1):
        raise ValueError(f"{name} must be non-empty, got shape {tuple(tensor.shape)}")
    if length is not None:
        if length_name is None:
            check_last_dim(name, tensor, length, what)
        elif tensor.shape[-1] != length:
            raise ValueError(f"{name} must have last dimension {length_name}={length}, "
                             f"got shape {tuple(tensor.shape)}")
    if device is not None or dtype is not None:
        tensor = tensor.to(device=device if device is not None else tensor.device,
                           dtype=dtype if dtype is not None else tensor.dtype)
    if finite and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    return tensor, squeeze
