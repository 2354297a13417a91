"""Helpers shared by the circuits' frozen parameter dataclasses.

``quantity_field`` gives a dataclass field a Brian2-quantity default (quantities are
unhashable arrays, so they need a factory); the ``check_*`` functions raise one
``ValueError`` that names the field.
"""

from __future__ import annotations

from dataclasses import field

import numpy as np
from brian2 import Quantity
from brian2.units.fundamentalunits import get_dimensions

from models.config import LIKE

__all__ = ["check_choice_field", "check_dimensions", "check_int_at_least", "check_positive",
           "optional_quantity_field", "quantity_field"]


def quantity_field(value: Quantity):
    """A dataclass field whose default is a quantity (quantities are unhashable arrays)."""
    return field(default_factory=lambda: value)


def optional_quantity_field(like: Quantity):
    """A field whose default is None and whose values must have the dimensions of ``like``.

    The configuration loader checks a quantity's dimensions against the field's default;
    with a default of None it reads them from ``like`` instead (``metadata["like"]``).
    """
    return field(default=None, metadata={LIKE: like})


def check_dimensions(name: str, value, like: Quantity) -> None:
    """Raise ``ValueError`` unless ``value`` is a quantity with the dimensions of ``like``."""
    if not isinstance(value, Quantity) or get_dimensions(value) is not get_dimensions(like):
        unit = like.get_best_unit() if isinstance(like, Quantity) else like
        raise ValueError(f"{name} must be a quantity in units like {unit!s}, got {value!r}")


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
