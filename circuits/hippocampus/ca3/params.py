
"""Parameters of the CA3 attractor circuit (:class:`CA3Params`) and derived quantities.

The quantities are derived from the parameters once per build (:func:`derive`); see
:mod:`circuits.hippocampus.ca3`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from brian2 import Quantity, ms, mV
from brian2.units.fundamentalunits import get_dimensions

import circuits.units  # noqa: F401  (registers quantities with the config loader)
from circuits._fields import quantity_field as _q
from circuits.backend import BACKENDS
from models._checks import check_choice, check_int

__all__ = ["CA3Derived", "CA3Params", "derive"]


@dataclass(frozen=True)
class CA3Params:
    """Parameters of the CA3 attractor circuit (see the module docstring)."""

    n_units: int = 300  # N: pyramidal cells (Hopfield units) per network
    cycle: Quantity = _q(20 * ms)  # T: one synchronous update = one gamma cycle (30-100 Hz)
    dt: Quantity = _q(0.5 * ms)  # simulation step (the dynamics are exact at any dt)
    tau_m: Quantity = _q(20 * ms)  # tau_m: pyramidal membrane time constant (CA3: 20-60 ms)
    E_L: Quantity = _q(-65 * mV)  # resting potential (and the shunting reset's reversal)
    V_th: Quantity = _q(-50 * mV)  # spike threshold
    V_reset: Quantity = _q(-65 * mV)  # potential after a spike
    refractory: Quantity = _q(2 * ms)  # absolute refractory period
    field_gain: Quantity = _q(10 * mV)  # g_h: membrane deflection per unit local field h
    noise: Quantity = _q(0 * mV)  # sigma: Gaussian membrane noise per decision (0: exact)
    cue_drive: float = 2.0  # afferent ("detonator") kick in units of V_th - E_L; > e^(dt/tau)
    reset_phase: float = 0.5  # when the shunting reset arrives, as a fraction of the cycle
    backend: str = "numpy"  # "numpy" | "cython" | "cpp_standalone"

    def validate(self) -> None:
        """Raise ``ValueError``/``TypeError`` naming the first bad field."""
        check_int("n_units", self.n_units, minimum=2)
        for name in ("cycle", "dt", "tau_m", "refractory", "field_gain"):
            _quantity(name, getattr(self, name), ms if name != "field_gain" else mV,
                      positive=True)
        for name in ("E_L", "V_th", "V_reset", "noise"):
            _quantity(name, getattr(self, name), mV)
        if float(self.noise) < 0:
            raise ValueError(f"noise must be >= 0 mV, got {self.noise}")
        if not self.V_th > self.E_L:
            raise ValueError("V_th must be above E_L")
        if not self.V_reset < self.V_th:
            raise ValueError("V_reset must be below V_th")
        check_choice("backend", self.backend, BACKENDS)
        steps = float(self.cycle / self.dt)
        if abs(steps - round(steps)) > 1e-6 or round(steps) < 4:
            raise ValueError(f"cycle ({self.cycle}) must be a multiple of dt ({self.dt}) of at "
                             f"least 4 steps")
        if not 0 < self.reset_phase < 1:
            raise ValueError(f"reset_phase must lie in (0, 1), got {self.reset_phase}")
        c = round(steps)
        r = round(self.reset_phase * c)
        if not 2 <= r <= c - 1:
            raise ValueError(f"reset_phase {self.reset_phase} puts the reset {r} steps into a "
                             f"{c}-step cycle; it must come after the volley (step >= 2) and "
                             f"before the next decision (step <= {c - 1})")
        if self.refractory > self.cycle - 2 * self.dt:
            raise ValueError(f"refractory ({self.refractory}) must be at most cycle - 2 dt "
                             f"({self.cycle - 2 * self.dt}) so a cell can fire every cycle")
        if isinstance(self.cue_drive, bool) or not isinstance(self.cue_drive, int | float):
            raise TypeError(f"cue_drive must be a number, got {self.cue_drive!r}")
        if not self.cue_drive > math.exp(float(self.dt / self.tau_m)):
            raise ValueError(f"cue_drive must exceed exp(dt / tau_m) = "
                             f"{math.exp(float(self.dt / self.tau_m)):.4f} to make cue cells "
                             f"fire, got {self.cue_drive}")


def _quantity(name: str, value: Any, unit: Quantity, *, positive: bool = False) -> None:
    if not isinstance(value, Quantity) or get_dimensions(value) is not get_dimensions(unit):
        raise ValueError(f"{name} must be a quantity in units like {unit!s}, got {value!r}")
    if not np.isfinite(float(value / unit)):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and not float(value) > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


@dataclass(frozen=True)
class CA3Derived:
    """Quantities the network needs, derived from :class:`CA3Params`."""

    coupling: Quantity  # u: membrane deflection per coupling unit, 2 g_h / N
    clock_kick: Quantity  # K = (V_th - E_L) exp(dt / tau_m)
    cue_kick: Quantity  # cue_drive (V_th - E_L)
    cycle_steps: int  # c: time steps per cycle
    reset_steps: int  # steps from a decision to the shunting reset
    recurrent_delay: Quantity  # cycle - dt: volley arrives at the next decision step
    basket_delay: Quantity  # cycle - 2 dt: basket relays in the decision step


def derive(params: CA3Params) -> CA3Derived:
    """Derive the calibrated quantities (``params.validate()`` is called here)."""
    params.validate()
    c = round(float(params.cycle / params.dt))
    return CA3Derived(
        coupling=2 * params.field_gain / params.n_units,
        clock_kick=(params.V_th - params.E_L) * math.exp(float(params.dt / params.tau_m)),
        cue_kick=params.cue_drive * (params.V_th - params.E_L),
        cycle_steps=c,
        reset_steps=round(params.reset_phase * c),
        recurrent_delay=params.cycle - params.dt,
        basket_delay=params.cycle - 2 * params.dt,
    )

