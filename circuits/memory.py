r"""Memory guard: estimate a cerebellar run's footprint before allocating it; refuse above budget.

The estimate is a sum over components, each a count times a size:

- **synapses** of every projection: the count follows from the parameters (e.g. PF->PC:
  :math:`r \cdot v \cdot c_\mathrm{PF}`; mossy->granule: :math:`r \times` inputs per granule
  cell), the bytes per synapse from the Brian2 variables of that projection (indices, weights,
  traces, delays), read off a tiny copy of the same network so they follow the equations, plus
  the C++ spike queue's 4-byte synapse index (cpp_standalone);
- **neurons**: the same for every population's state variables;
- **construction** (transient, in the Python process): the index arrays handed to
  ``Synapses.connect`` (two int64 per synapse) and the connectivity draws;
- **Python**: the interpreter with Brian2 and its generated code (0.45 GiB), and with
  cpp_standalone the device's copy of every synapse array it writes for the C++ program;
- **monitors**: spike monitors (one int32 index and one float64 time per spike; granule cells
  fire about ``spikes_per_presentation`` times per presentation at the coding level) and the
  Purkinje drive monitor (two float64 per cell per millisecond).

:func:`check_budget` raises :class:`MemoryBudgetError` naming the largest components before
anything is built. The budget defaults to 80% of the machine's physical memory; set
``MEMCIRCUITS_MEMORY_BUDGET_GIB`` or pass ``budget_gib`` to change it.
"""

from __future__ import annotations

import gc
import math
import os
from dataclasses import dataclass, replace

import numpy as np

from circuits.cerebellum.params import CerebellumParams, derive

__all__ = [
    "Footprint",
    "MemoryBudgetError",
    "cerebellum_footprint",
    "check_budget",
    "default_budget_bytes",
]

GIB = 1024 ** 3
#: spikes of an active granule cell per presentation assumed for the monitor estimate
SPIKES_PER_PRESENTATION = 2.0
#: resident memory of a Python process with Brian2, numpy, torch imported and code generated
PYTHON_BASELINE_GIB = 0.45


class MemoryBudgetError(ValueError):
    """A configuration's estimated memory exceeds the budget; nothing was allocated."""


@dataclass(frozen=True)
class Footprint:
    """Estimated bytes per component of one run."""

    items: dict[str, int]

    @property
    def total(self) -> int:
        """Sum of all components (bytes)."""
        return int(sum(self.items.values()))

    def largest(self, k: int = 3) -> list[tuple[str, int]]:
        """The ``k`` largest components, largest first."""
        return sorted(self.items.items(), key=lambda kv: -kv[1])[:k]

    def describe(self, k: int = 3) -> str:
        """``total (largest: a 1.2 GiB, b 0.3 GiB, ...)``."""
        parts = ", ".join(f"{name} {b / GIB:.2f} GiB" for name, b in self.largest(k))
        return f"{self.total / GIB:.2f} GiB (largest: {parts})"


def default_budget_bytes() -> int:
    """``MEMCIRCUITS_MEMORY_BUDGET_GIB`` if set, else 80% of physical memory."""
    env = os.environ.get("MEMCIRCUITS_MEMORY_BUDGET_GIB")
    if env:
        try:
            value = float(env)
        except ValueError:
            raise MemoryBudgetError(f"MEMCIRCUITS_MEMORY_BUDGET_GIB must be a number of GiB, "
                                    f"got {env!r}") from None
        if not value > 0:
            raise MemoryBudgetError(f"MEMCIRCUITS_MEMORY_BUDGET_GIB must be > 0, got {env!r}")
        return int(value * GIB)
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return int(0.8 * pages)


_SIZES: dict[str, dict[str, float]] = {}


def _bytes_per_element(params: CerebellumParams) -> dict[str, float]:
    """Bytes per synapse (``syn:<name>``) and per neuron (``group:<name>``) of every
    Brian2 object of the network, measured on a tiny copy with the numpy target (cached
    per parameter set; parameters hold unhashable quantities, so the key is their repr)."""
    key = repr(params)
    if key not in _SIZES:
        _SIZES[key] = _measure_sizes(params)
    return _SIZES[key]


def _measure_sizes(params: CerebellumParams) -> dict[str, float]:
    from brian2.core.variables import ArrayVariable
    from brian2.utils.logger import catch_logs

    from circuits.backend import brian_backend
    from circuits.cerebellum.network import build_network, random_wiring

    # enough cells that a few are active (derive refuses a level x n below 1)
    tiny_n = max(64, math.ceil(4 / derive(params).expected_coding_level))
    tiny = replace(params, backend="numpy",
                   granule=replace(params.granule, n=tiny_n, coding_level=None,
                                   radius=derive(params).radius)
                   if params.granule.design == "full" else replace(params.granule, n=tiny_n),
                   golgi=replace(params.golgi, minimum=2))
    out: dict[str, float] = {}
    with brian_backend("numpy", dt=tiny.protocol.dt), catch_logs():
        # catch_logs: the tiny network is never run (no "unused object" warnings)
        net = build_network(tiny, random_wiring(tiny, 0), seed=0)
        for name, syn in net.synapses.items():
            size = len(syn)
            per = sum(np.dtype(v.dtype).itemsize for v in syn.variables.values()
                      if isinstance(v, ArrayVariable) and not v.scalar and size
                      and v.size == size)
            out[f"syn:{name}"] = float(per)
        for name, group in net.groups.items():
            per = sum(np.dtype(v.dtype).itemsize for v in group.variables.values()
                      if isinstance(v, ArrayVariable) and not v.scalar
                      and v.size == len(group) and len(group) > 1)
            out[f"group:{name}"] = float(per)
        del net, syn, group  # the loop variables hold the last objects
        gc.collect()
    return out


def _synapse_counts(params: CerebellumParams) -> dict[str, float]:
    """Expected synapse count of every projection (see ``build_network``)."""
    d = derive(params)
    r, v, n = params.granule.n, params.value_bits, params.address_bits
    two = params.mossy.rails == "two"
    n_rails = 2 * n if two else n
    inputs = n if params.granule.design == "full" else params.granule.inputs
    go, pk = params.golgi, params.purkinje
    counts = {"mossy_granule": float(r * inputs)}
    if go.enabled:
        per = min(go.inputs_per_granule, d.n_golgi)
        if go.feedforward and go.mf_drive > 0:
            counts["mossy_golgi"] = float(n_rails * d.n_golgi)
        if go.feedback and go.feedback_drive > 0:
            counts["granule_golgi"] = float(r * per)
        counts["golgi_granule"] = float(r * per)
    conn = min(pk.pf_connectivity, 1.0)
    pf = r * v * conn
    counts["pf_purkinje"] = pf
    if conn >= 1:
        counts["pf_interneuron"] = float(r)
        counts["interneuron_purkinje"] = float(d.n_interneurons * v)
    else:
        pools = v * math.ceil(r * conn / params.interneuron.granule_per_interneuron)
        counts["pf_interneuron"] = pf
        counts["interneuron_purkinje"] = float(pools)
    counts["climbing_purkinje"] = float(v)
    counts["purkinje_nuclei"] = float(v)
    return counts


def cerebellum_footprint(params: CerebellumParams, *, presentations: int,
                         duration_s: float) -> Footprint:
    """Estimated memory of a cerebellar run with ``presentations`` over ``duration_s``.

    See the module docstring for the components. Synapse and neuron sizes are read from
    a small copy of the network (64 granule cells, or enough for four to be active; cached
    per parameter set).
    """
    if presentations < 0 or duration_s < 0:
        raise ValueError("presentations and duration_s must be >= 0")
    params.validate()
    d = derive(params)
    sizes = _bytes_per_element(params)
    standalone = params.backend == "cpp_standalone"
    items: dict[str, int] = {}
    total_syn = 0.0
    for name, count in _synapse_counts(params).items():
        per = sizes.get(f"syn:{name}", 16.0) + (4.0 if standalone else 0.0)
        items[f"synapses {name}"] = int(count * per)
        total_syn += count
    r, v = params.granule.n, params.value_bits
    n_rails = 2 * params.address_bits if params.mossy.rails == "two" else params.address_bits
    population = {"mossy": n_rails, "granule": r, "golgi": d.n_golgi, "purkinje": v,
                  "climbing": v, "nuclei": v, "interneuron": d.n_interneurons}
    items["neurons"] = int(sum(population[g] * sizes.get(f"group:{g}", 0.0)
                               for g in population))
    if standalone:
        # the Python process keeps the device's copy of every array it writes for the C++
        # program (indices, initial values), next to the running simulation
        items["synapses: Python copy (cpp_standalone)"] = sum(
            int(count * sizes.get(f"syn:{name}", 16.0))
            for name, count in _synapse_counts(params).items())
    items["Python, Brian2 and code generation"] = int(PYTHON_BASELINE_GIB * GIB)
    # connect(i=..., j=...) index arrays (int64) and the draws behind them, in Python
    items["construction (transient)"] = int(total_syn * 16 + r * params.address_bits * 8
                                            + v * r * 9 * (params.purkinje.pf_connectivity
                                                           < 1))
    level = params.granule.coding_level or d.expected_coding_level
    granule_spikes = r * level * SPIKES_PER_PRESENTATION * presentations
    items["spike monitors"] = int(12 * (granule_spikes + 50 * v * presentations))
    items["drive monitor"] = int(2 * 8 * v * duration_s * 1000 + 8 * duration_s * 1000)
    return Footprint(items)


def check_budget(footprint: Footprint, budget_gib: float | None = None, *,
                 what: str = "this configuration") -> None:
    """Raise :class:`MemoryBudgetError` if the estimate exceeds the budget.

    Parameters
    ----------
    footprint
        The estimate (:func:`cerebellum_footprint`).
    budget_gib
        Budget in GiB; default :func:`default_budget_bytes`.
    """
    if budget_gib is not None and not budget_gib > 0:
        raise MemoryBudgetError(f"memory budget must be > 0 GiB, got {budget_gib}")
    budget = default_budget_bytes() if budget_gib is None else int(budget_gib * GIB)
    if footprint.total > budget:
        raise MemoryBudgetError(
            f"{what} needs an estimated {footprint.describe()}, above the memory budget of "
            f"{budget / GIB:.2f} GiB; reduce granule.n, purkinje.pf_connectivity or the "
            f"recorded populations, or raise the budget (MEMCIRCUITS_MEMORY_BUDGET_GIB or "
            f"memory_budget_gib)")
