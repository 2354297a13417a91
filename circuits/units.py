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
import numpy as np
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


_NON_FINITE = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)
#: longest unit expression read (a guard on parsing time and recursion depth)
MAX_EXPRESSION_LENGTH = 200
#: largest power in a unit expression (``Hz**-1``, ``um**2``; no unit needs more)
MAX_EXPONENT = 8


def _evaluate(text: str) -> Any:
    """Evaluate a unit expression using numbers, unit names, * / ** and parentheses only.

    The expression is walked node by node, never handed to ``eval``: numbers are floats (an
    overflow raises instead of growing an integer without bound), powers must be plain
    numbers of magnitude at most :data:`MAX_EXPONENT`, and every intermediate value must be
    finite, so no input can hang the parser or yield ``inf``/``nan``.
    """
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ValueError(f"longer than {MAX_EXPRESSION_LENGTH} characters")
    if _NON_FINITE.search(text):
        raise ValueError("not a finite number")
    match = _NUMBER_THEN_UNIT.match(text)
    if match:
        text = f"{match.group(1)} * ({match.group(2)})"
    return _node_value(ast.parse(text, mode="eval").body)


def _finite(value: Any) -> Any:
    if not np.all(np.isfinite(np.asarray(value, dtype=float))):
        raise ValueError("not a finite value")
    return value


def _node_value(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ValueError(f"unsupported constant {node.value!r}")
        try:
            return _finite(float(node.value))
        except OverflowError as exc:
            raise ValueError("a number beyond the floating-point range") from exc
    if isinstance(node, ast.Name):
        if node.id not in _UNITS:
            raise ValueError(f"unknown unit {node.id!r}")
        return _UNITS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        value = _node_value(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Div | ast.Pow):
        left, right = _node_value(node.left), _node_value(node.right)
        try:
            if isinstance(node.op, ast.Mult):
                return _finite(left * right)
            if isinstance(node.op, ast.Div):
                return _finite(left / right)
            if isinstance(right, Quantity) and not get_dimensions(right).is_dimensionless:
                raise ValueError("a power must be a plain number")
            if abs(float(right)) > MAX_EXPONENT:
                raise ValueError(f"a power beyond +-{MAX_EXPONENT}")
            return _finite(left ** float(right))
        except OverflowError as exc:
            raise ValueError("a value beyond the floating-point range") from exc
    raise ValueError(f"unsupported syntax {type(node).__name__}")


def _shown(value: Any) -> str:
    """``repr(value)``, shortened for an error message."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} characters)"


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
        except (SyntaxError, ValueError, TypeError, ZeroDivisionError, RecursionError,
                MemoryError) as exc:
            raise ConfigError(f"{where}: cannot read {_shown(value)} as a quantity ({exc}); "
                              f"write e.g. '10 ms'") from exc
    else:
        raise ConfigError(f"{where}: expected a quantity such as '10 ms', got {_shown(value)}")
    if not np.all(np.isfinite(np.asarray(quantity, dtype=float))):
        raise ConfigError(f"{where}: expected a finite quantity, got {_shown(value)}")
    if default is not None:
        try:
            expected = get_dimensions(default)
            if get_dimensions(quantity) is not expected:
                raise DimensionMismatchError("", expected, get_dimensions(quantity))
        except DimensionMismatchError as exc:
            unit = format_quantity(default).split(" ", 1)[-1]
            raise ConfigError(f"{where}: {_shown(value)} has the wrong dimensions; expected units "
                              f"like {unit!r}") from exc
    return quantity


def format_quantity(quantity: Any) -> str:
    """Write a quantity as ``"<number> <unit>"`` in its best unit (round-trips exactly)."""
    if not isinstance(quantity, Quantity) or get_dimensions(quantity).is_dimensionless:
        return repr(float(quantity))
    unit = quantity.get_best_unit()
    return f"{float(quantity / unit):.12g} {unit!s}"


register_type(Quantity, parse_quantity, format_quantity)
