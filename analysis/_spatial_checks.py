"""Argument checks of the spatial metrics.

Shared by :mod:`analysis.rate_maps`, :mod:`analysis.gridness`,
:mod:`analysis.spatial_information` and :mod:`analysis.remapping`. Each raises a
:class:`TypeError` or :class:`ValueError` whose message starts with the argument's name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__: list[str] = []


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _real(name: str, value: Any, *, minimum: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum}, got {value}")
    return value


def _array(name: str, value: Any, *, ndim: tuple[int, ...] | None = None,
           finite: bool = False, allow_nan: bool = True) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of real numbers") from exc
    if ndim is not None and arr.ndim not in ndim:
        raise ValueError(f"{name} must have {' or '.join(map(str, ndim))} dimensions, "
                         f"got shape {arr.shape}")
    if finite and not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (found NaN or inf)")
    if not allow_nan and np.isinf(arr).any():
        raise ValueError(f"{name} must not hold infinities")
    return arr
