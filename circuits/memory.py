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
from dataclasses import dataclass, replace

import numpy as np

from circuits.backend import STANDALONE_BACKENDS
from circuits.cerebellum.params import CerebellumParams, derive
from models._memory import GIB, MemoryBudgetError, budget_bytes, default_budget_bytes

__all__ = [
    "GIB",
    "MAX_STEPS",
    "Footprint",
    "MemoryBudgetError",
    "cerebellum_footprint",
    "check_budget",
    "check_cerebellum",
    "default_budget_bytes",
]

#: spikes of an active granule cell per presentation assumed for the monitor estimate
SPIKES_PER_PRESENTATION = 2.0
#: resident memory of a Python process with Brian2, numpy, torch imported and code generated
PYTHON_BASELINE_GIB = 0.45
#: runs of more time steps are refused: even a tiny network costs Brian2 >= ~10 us a step
#: (numpy target), so 10^10 steps would take more than a day
MAX_STEPS = 10 ** 10


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


_SIZES: dict[str, dict[str, float]] = {}


def _bytes_per_element(params: CerebellumParams) -> dict[str, float]:
    """Bytes per synapse and per neuron of every Brian2 object of the network.

    Keys ``syn:<name>`` and ``group:<name>``. Measured on a tiny copy with the numpy target (cached
    per parameter set; parameters hold unhashable quantities, so the key is their repr).
    """
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
    tiny = replace(params, backend="numpy", granule_kernel="auto",
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
    standalone = params.backend in STANDALONE_BACKENDS
    items: dict[str, int] = {}
    total_syn = 0.0
    counts = _synapse_counts(params)
    for name, count in counts.items():
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
            for name, count in counts.items())
    items["Python, Brian2 and code generation"] = int(PYTHON_BASELINE_GIB * GIB)
    # the granule wiring (random_wiring, then CerebellarSDM._check_wiring), drawn before
    # anything else: full design, (r, n) uint8 addresses plus two (r, n) bool masks of the
    # binary check; selected design, an (r, n) float64 draw and its int64 argsort, then
    # (r, k) int64 coordinates and uint8 targets
    n_bits = params.address_bits
    items["granule wiring"] = int(3 * r * n_bits if params.granule.design == "full"
                                  else 16 * r * n_bits + 9 * r * params.granule.inputs)
    # connect(i=..., j=...) index arrays (int64) and the draws behind them, in Python; with
    # reliable release the mossy->granule pairs are built sorted by fibre (one more int64 each)
    mossy_sorted = counts["mossy_granule"] * (
        params.granule.release_probability == 1)
    items["construction (transient)"] = int(total_syn * 16 + mossy_sorted * 8
                                            + r * params.address_bits * 8
                                            + v * r * 9 * (params.purkinje.pf_connectivity
                                                           < 1))
    level = params.granule.coding_level or d.expected_coding_level
    granule_spikes = r * level * SPIKES_PER_PRESENTATION * presentations
    items["spike monitors"] = int(12 * (granule_spikes + 50 * v * presentations))
    items["drive monitor"] = int(2 * 8 * v * duration_s * 1000 + 8 * duration_s * 1000)
    return Footprint(items)


def check_budget(footprint: Footprint, budget_gib: float | None = None, *,
                 what: str = "this configuration", field: str | None = None,
                 value: object = None) -> None:
    """Raise :class:`MemoryBudgetError` if the estimate exceeds the budget.

    Parameters
    ----------
    footprint
        The estimate (:func:`cerebellum_footprint`).
    budget_gib
        Budget in GiB (the field ``memory_budget_gib``); default
        :func:`default_budget_bytes`. Non-finite, non-positive or absurd budgets are refused.
    what
        What needs the memory (named in the message).
    field, value
        The size field that drives the estimate and its value: the message starts with
        ``field = value``.
    """
    budget, source = budget_bytes(budget_gib)
    if footprint.total > budget:
        head = f"{field} = {value}: " if field else ""
        raise MemoryBudgetError(
            f"{head}{what} needs an estimated {footprint.describe()}, above the memory budget "
            f"of {budget / GIB:.2f} GiB ({source}); reduce granule.n, "
            f"purkinje.pf_connectivity or the recorded populations, or raise the budget "
            f"(MEMCIRCUITS_MEMORY_BUDGET_GIB or memory_budget_gib)")


def check_cerebellum(params: CerebellumParams, *, presentations: int, duration_s: float,
                     budget_gib: float | None = None, prefix: str = "",
                     presentations_field: str = "presentations",
                     presentations_value: object = None) -> Footprint:
    """Refuse a cerebellar run whose estimate exceeds the budget, before anything is drawn.

    Checks the number of time steps (``duration_s / protocol.dt`` at most :data:`MAX_STEPS`)
    and the footprint (:func:`cerebellum_footprint`; the granule wiring included). The
    message names the field that drives the largest component: ``{prefix}granule.n`` for
    synapses, neurons and wiring, ``presentations_field`` for the monitors and the time
    steps, shown with ``presentations_value`` (default: ``presentations``; an experiment
    whose presentations follow from a field, e.g. ``clusters``, passes that field's value).
    Returns the footprint.
    """
    shown = presentations if presentations_value is None else presentations_value
    dt = float(params.protocol.dt / _second())
    steps = duration_s / dt
    if steps > MAX_STEPS:
        raise MemoryBudgetError(
            f"{presentations_field} = {shown} with {prefix}protocol.dt = "
            f"{params.protocol.dt} gives {steps:.3g} time steps for {duration_s:.3g} s of "
            f"simulation, more than the {MAX_STEPS:.0e} this simulator accepts (>= ~10 us a "
            f"step: days of wall time); lower {presentations_field} or raise "
            f"{prefix}protocol.dt")
    footprint = cerebellum_footprint(params, presentations=presentations,
                                     duration_s=duration_s)
    scaling = {k: v for k, v in footprint.items.items() if not k.startswith("Python")}
    largest = max(scaling, key=scaling.__getitem__)  # the largest that a size field sets
    if "monitor" in largest:
        field, value = presentations_field, shown
    else:
        field, value = f"{prefix}granule.n", params.granule.n
    check_budget(footprint, budget_gib, field=field, value=value,
                 what=f"the cerebellar circuit ({presentations} presentations, "
                      f"{duration_s:.3g} s simulated)")
    return footprint


def _second():
    from brian2 import second

    return second
