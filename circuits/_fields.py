"""Helpers shared by the circuits' frozen parameter dataclasses.

``quantity_field`` gives a dataclass field a Brian2-quantity default (quantities are
unhashable arrays, so they need a factory); the ``check_*`` functions raise one
``ValueError`` that names the field.
"""

from __future__ import annotations

from dataclasses import field

import numpy as np
from brian2 import Quantity

__all__ = ["check_choice_field", "check_int_at_least", "check_positive", "quantity_field"]


def quantity_field(value: Quantity):
    """A dataclass field whose default is a quantity (quantities are unhashable arrays)."""
    return field(default_factory=lambda: value)


def check_positive(name: str, value) -> None:
    """Raise ``ValueError`` unless ``value > 0``."""
    if not float(value) > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def check_int_at_least(name: str, value, minimum: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_choice_field(name: str, value, choices) -> None:
    """Raise ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, "
                         f"got {value!r}")
