"""Brian2 quantities in configuration files.

Parameter dataclasses of the circuits hold Brian2 quantities (``10*ms``). In TOML files and
``--set`` overrides they are written as strings with their unit, ``"10 ms"``, ``"10*ms"`` or
``"0.5 nA"``; the unit must have the dimensions of the field's default. ``config.json``
stores them the same way, so a run directory's configuration reloads as it was.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import brian2.units.allunits as _allunits
import brian2.units.stdunits as _stdunits
from brian2.units.fundamentalunits import DimensionMismatchError, Quantity, get_dimensions

from models.config import ConfigError, register_type

__all__ = ["format_quantity", "parse_quantity"]

_UNITS: dict[str, Any] = {
    name: value
    for module in (_allunits, _stdunits)
    for name, value in vars(module).items()
    if not name.startswith("_") and isinstance(value, Quantity)
}
_NUMBER_THEN_UNIT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s+([A-Za-z].*)$")


def _evaluate(text: str) -> Any:
    """Evaluate a unit expression using numbers, unit names, * / ** and parentheses only."""
    match = _NUMBER_THEN_UNIT.match(text)
    if match:
        text = f"{match.group(1)} * ({match.group(2)})"
    tree = ast.parse(text, mode="eval")
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load,
               ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise ValueError(f"unsupported syntax {type(node).__name__}")
        if isinstance(node, ast.Name) and node.id not in _UNITS:
            raise ValueError(f"unknown unit {node.id!r}")
    return eval(compile(tree, "<quantity>", "eval"), {"__builtins__": {}}, dict(_UNITS))


def parse_quantity(where: str, value: Any, default: Any = None) -> Any:
    """Read ``value`` ("10 ms", "10*ms", a Quantity or a number) as a quantity.

    Raises
    ------
    ConfigError
        If the text is not a unit expression, or its dimensions differ from ``default``'s.
    """
    if isinstance(value, Quantity):
        quantity = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        quantity = Quantity(value)
    elif isinstance(value, str):
        try:
            quantity = _evaluate(value)
        except (SyntaxError, ValueError, TypeError, ZeroDivisionError) as exc:
            raise ConfigError(f"{where}: cannot read {value!r} as a quantity ({exc}); "
                              f"write e.g. '10 ms'") from exc
    else:
        raise ConfigError(f"{where}: expected a quantity such as '10 ms', got {value!r}")
    if default is not None:
        try:
            expected = get_dimensions(default)
            if get_dimensions(quantity) is not expected:
                raise DimensionMismatchError("", expected, get_dimensions(quantity))
        except DimensionMismatchError as exc:
            unit = format_quantity(default).split(" ", 1)[-1]
            raise ConfigError(f"{where}: {value!r} has the wrong dimensions; expected units "
                              f"like {unit!r}") from exc
    return quantity


def format_quantity(quantity: Any) -> str:
    """Write a quantity as ``"<number> <unit>"`` in its best unit (round-trips exactly)."""
    if not isinstance(quantity, Quantity) or get_dimensions(quantity).is_dimensionless:
        return repr(float(quantity))
    unit = quantity.get_best_unit()
    return f"{float(quantity / unit):.12g} {unit!s}"


register_type(Quantity, parse_quantity, format_quantity)
