"""Memory budget shared by every guard: resolve it, refuse an estimate above it.

``models`` never imports ``circuits``, so the budget lives here; :mod:`circuits.memory`
re-exports it. A guard estimates the bytes a run would need from the sizes a user set and
calls :func:`refuse_over_budget` *before* allocating anything; the error names the field,
its value, the estimate and the budget.
"""

from __future__ import annotations

import math
import os

__all__ = ["GIB", "MAX_BUDGET_GIB", "MemoryBudgetError", "budget_bytes",
           "default_budget_bytes", "format_bytes", "refuse_over_budget"]

GIB = 1024 ** 3
#: budgets above this many GiB (1 PiB) are refused as absurd (no machine has them)
MAX_BUDGET_GIB = 2.0 ** 20
ENV = "MEMCIRCUITS_MEMORY_BUDGET_GIB"


class MemoryBudgetError(ValueError):
    """A configuration's estimated memory exceeds the budget (or the budget is absurd).

    Nothing was allocated. A ``ValueError`` (the configuration loader wraps it in a
    :class:`~models.config.ConfigError` naming the table): the command line prints it in one line
    and exits with status 2.
    """


def _check_gib(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MemoryBudgetError(f"{name} must be a number of GiB, got {value!r}")
    if not math.isfinite(value) or not 0 < value <= MAX_BUDGET_GIB:
        raise MemoryBudgetError(f"{name} must be a finite number of GiB in (0, "
                                f"{MAX_BUDGET_GIB:.0f}], got {value!r}")
    return float(value)


def default_budget_bytes() -> int:
    """``MEMCIRCUITS_MEMORY_BUDGET_GIB`` if set, else 80% of physical memory."""
    env = os.environ.get(ENV)
    if env:
        try:
            value = float(env)
        except ValueError:
            raise MemoryBudgetError(f"{ENV} must be a number of GiB, got {env!r}") from None
        if not value > 0:
            raise MemoryBudgetError(f"{ENV} must be > 0, got {env!r}")
        return int(_check_gib(ENV, value) * GIB)
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(0.8 * pages)


def budget_bytes(budget_gib: float | None = None,
                 field: str = "memory_budget_gib") -> tuple[int, str]:
    """The budget in bytes and where it came from (for the error message).

    ``budget_gib`` (the field ``field``) wins; ``None`` falls back on
    :func:`default_budget_bytes`. Non-finite, non-positive or absurd values are refused.
    """
    if budget_gib is not None:
        if isinstance(budget_gib, int | float) and not isinstance(budget_gib, bool) \
                and not budget_gib > 0:  # keeps the older wording for 0 and negatives
            raise MemoryBudgetError(f"{field}: memory budget must be > 0 GiB, got {budget_gib}")
        return int(_check_gib(field, budget_gib) * GIB), field
    source = ENV if os.environ.get(ENV) else f"80% of physical memory; set {ENV}"
    return default_budget_bytes(), source


def format_bytes(n: float) -> str:
    """``1.5 GiB``, ``320 MiB``, ``12 KiB``."""
    for unit, size in (("TiB", 1024 ** 4), ("GiB", GIB), ("MiB", 1024 ** 2)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{max(n, 0) / 1024:.3g} KiB"


def refuse_over_budget(field: str, value: object, need: float, detail: str, *,
                       budget_gib: float | None = None,
                       budget_field: str = "memory_budget_gib") -> None:
    """Raise :class:`MemoryBudgetError` if ``need`` bytes exceed the budget.

    The message reads ``FIELD = VALUE needs about N GiB (DETAIL), more than the memory
    budget of B GiB (SOURCE)``.
    """
    budget, source = budget_bytes(budget_gib, budget_field)
    if need > budget:
        raise MemoryBudgetError(
            f"{field} = {value} needs about {format_bytes(need)} ({detail}), more than the "
            f"memory budget of {format_bytes(budget)} ({source})")
