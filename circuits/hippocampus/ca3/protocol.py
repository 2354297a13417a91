# ruff: noqa: RUF009  (Brian2 quantities are unhashable: dataclass defaults go through _q)
r"""CA3 as a spiking classic Hopfield network: Hebbian storage of ``g (x) x``, attractor
retrieval in gamma cycles.

The abstract model (:mod:`models.hopfield`)
-------------------------------------------
Bipolar patterns :math:`x^\mu \in \{-1,+1\}^N` are stored with the Hebbian rule and
retrieved by synchronous sign updates, a zero field keeping the unit's state:

.. math:: W = \frac{1}{N} \sum_{\mu=1}^{m} x^\mu {x^\mu}^\top, \; W_{ii} = 0, \qquad
          s_i(k+1) = \operatorname{sign}\big(h_i(k)\big), \quad h_i = \sum_{j \ne i} W_{ij} s_j .

In TEM the stored patterns are conjunctions :math:`p = \operatorname{flatten}(g \otimes x)`
of a position code :math:`g` (medial entorhinal) and a stimulus code :math:`x` (lateral
entorhinal); a query with the position only retrieves the stimulus (:func:`conjunction`,
:func:`position_cue`, :func:`decode_stimulus`).

The circuit
-----------
``N`` pyramidal cells per network; a cell's state in cycle ``k`` is whether it fires
(:math:`z = 1`, :math:`s = +1`) or stays silent (:math:`z = 0`, :math:`s = -1`). With integer
couplings :math:`J = N W` and :math:`s = 2z - 1`,

.. math:: N h_i = 2 \sum_{j \ne i} J_{ij} z_j - \sum_{j \ne i} J_{ij},

so the update "fire iff :math:`N h_i + s_i/2 > 0`" (the :math:`s_i/2` breaks ties toward the
current state, as :mod:`models.hopfield` does: :math:`N h_i` is an integer, so it changes no
other decision) reads

.. math:: \sum_{j \ne i} J_{ij} z_j + \tfrac{1}{2} z_i > \theta_i, \qquad
          \theta_i = \tfrac{1}{2} \sum_{j \ne i} J_{ij} + \tfrac{1}{4} .

**Dale's law.** Recurrent collaterals are excitatory only, :math:`w_{ij} = J_{ij} + m \ge 0`
(:math:`|J_{ij}| \le m`), and one basket cell per network relays the number of active cells
with inhibitory weight :math:`c = m` to every cell. The cell's own spike reaches its basket
cell too; an autapse (equivalently a depolarising afterpotential) of :math:`w_{ii} = m +
\tfrac{1}{2}` gives back that share and adds the tie-breaking half:

.. math:: \sum_j w_{ij} z_j - c \sum_j z_j = \sum_{j \ne i} J_{ij} z_j + \tfrac{1}{2} z_i .

The **drive** of cell ``i`` relative to its threshold is therefore

.. math:: F_i = \sum_j w_{ij} z_j - c \sum_j z_j - \theta_i = \tfrac{1}{2}
          \big(N h_i + \tfrac{1}{2} s_i\big), \qquad |F_i| \ge \tfrac{1}{4},

in *coupling units* (one unit of :math:`J`), never zero. :attr:`CA3Readout.fields` returns
the local field :math:`h_i = (2 F_i - s_i/2) / N` read back from the membrane.

**One gamma cycle** (period ``cycle``, all times on the ``dt`` grid):

1. the cells of state :math:`s(k)` fire together (a volley);
2. ``cycle - dt`` later the volley arrives: excitation :math:`u \sum_j w_{ij} z_j` and, in the
   same time step, the basket cells' inhibition :math:`u c \sum_j z_j` (their own relay
   takes one step). In that step the pacemaker's **clock** input adds
   :math:`K - u \theta_i` (rhythmic drive with a per-cell excitability :math:`\theta_i`), so
   :math:`v - E_L = u F_i + K`, with :math:`u = 2 g_h / N` (:math:`u F_i = g_h (h_i +
   s_i/2N)`, :math:`g_h` = ``field_gain``) and :math:`K = (V_{th} - E_L) e^{dt/\tau_m}`:
   after one exactly integrated leak step the cell is above threshold iff :math:`F_i > 0`;
3. the cells with :math:`F_i > 0` fire: state :math:`s(k+1)`; every cell is then brought
   back to rest by the pacemaker's **reset** input (shunting perisomatic inhibition at
   ``reset_phase`` of the cycle) before the next volley arrives.

So the circuit runs :math:`s \leftarrow \operatorname{sign}(W s)` exactly, one update per
cycle. ``noise`` adds a Gaussian membrane fluctuation :math:`\sigma \xi` at each decision,
i.e. Glauber-like dynamics at temperature :math:`\sigma / g_h` in units of :math:`h`:
cell ``i`` fires iff :math:`h_i + s_i/2N + (\sigma/g_h)\,\xi_i > 0`.

**Cue.** The afferent input (perforant path / mossy fibres) fires the cells of the cue
:math:`s(0)` with a suprathreshold ("detonator") input at the start of a probe; the cycles
follow. Between probes every cell is reset and the last volley is cleared.

**Online Hebbian write** (three-factor rule). Pattern :math:`s` is clamped by the afferent
input; every cell that fires gets an activity tag :math:`a_i = 1` (:math:`a_i = 0`
otherwise). Half a cycle later the write gate (a neuromodulatory signal, e.g. cholinergic,
one per network) turns the tags into weight changes at every synapse:

.. math:: \Delta w_{ij} = 1 + s_i s_j \; (j \ne i), \quad \Delta w_{ii} = 1, \quad
          \Delta c = 1, \quad \Delta \theta_i = \tfrac{1}{2} \sum_{j \ne i} s_i s_j ,

with :math:`s = 2a - 1`: an excitatory synapse potentiates by 2 when pre- and postsynaptic
cells agree (both fired or both silent; the covariance rule, Sejnowski 1977) and is
unchanged otherwise; inhibition grows by one unit per write and each cell's threshold
follows the sum of its synaptic changes. Recurrent transmission is off during writes
(cholinergic suppression of recurrent collaterals during encoding; Hasselmo et al. 1995).
After ``m`` writes the weights equal the offline Hebbian matrix exactly
(:meth:`CA3Circuit.store` sets them directly).

**Blocks.** ``n_blocks`` independent networks (own weights, thresholds, noise) share one
Brian2 network and run side by side, so a sweep over loads costs one simulation.

Backends: every :meth:`CA3Circuit.write` and :meth:`CA3Circuit.retrieve` builds a fresh
network from the stored synaptic state and runs it with :func:`circuits.backend.brian_backend`
(``numpy``, ``cython`` or ``cpp_standalone``); the synaptic state lives in numpy arrays
between calls.

Design choices
--------------
- *Synchrony from a pacemaker, not from the recurrent loop alone.* A cell must be able to
  fire with no recurrent input (all-silent state, negative :math:`\theta_i`), so the decision
  needs a clock; the clock's kick arriving with the volley makes the decision a pure sign
  test, and the shunting reset between volleys removes every residue of the previous cycle.
  Without them the membrane would integrate across cycles and the update would no longer
  be :math:`\operatorname{sign}(W s)`.
- *Exact equivalence.* All drives are multiples of a quarter coupling unit
  (:math:`|F_i| \ge 1/4`, i.e. :math:`g_h / 2N` volts, 8 uV at N = 300), far above float64
  rounding, so the circuit's states equal the equation's bit for bit at every load; the
  comparison is limited only by the deliberate ``noise``.
- *Dale's law* costs one basket cell per network, the autapse and a threshold offset; with
  signed synapses it would be :math:`w = J`, :math:`c = 0`, autapse 1/2 - same dynamics.
- *Cost.* ``n_blocks * N**2`` recurrent synapses (dense Hebbian matrix); the numpy target
  pays ~20 us per Brian2 object per step, so the default ``dt`` (0.5 ms) is coarse: the
  dynamics do not depend on it (the leak is integrated exactly and compensated in ``K``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import brian2
import numpy as np
from brian2 import (
    NeuronGroup,
    Quantity,
    SpikeGeneratorGroup,
    SpikeMonitor,
    StateMonitor,
    Synapses,
    ms,
    mV,
    second,
    volt,
)
from brian2.units.fundamentalunits import get_dimensions

import circuits.units  # noqa: F401  (registers quantities with the config loader)
from circuits._fields import quantity_field as _q
from circuits.backend import BACKENDS, brian_backend, run_network
from circuits.cerebellum.protocol import SpikeTrains
from models._checks import check_bipolar, check_choice, check_int
from models.seeding import numpy_rng

__all__ = [
    "CA3Circuit",
    "CA3Derived",
    "CA3Network",
    "CA3Params",
    "CA3Readout",
    "SynapticState",
    "WriteReadout",
    "build_network",
    "conjunction",
    "decode_stimulus",
    "derive",
    "hebbian_state",
    "position_cue",
    "stimulus_prior",
    "two_hot_codes",
]


# ----------------------------------------------------------------------------------------
# parameters
# ----------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------
# conjunctive codes g (x) x
# ----------------------------------------------------------------------------------------


def _as_bipolar_codes(name: str, value: Any) -> np.ndarray:
    """A 2-D code matrix, binary (mapped by 2b - 1) or bipolar, as int8 +-1."""
    arr = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be a (m, n) matrix of codes, got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold numbers 0/1 or -1/+1, got dtype {arr.dtype}")
    if np.isin(arr, (0, 1)).all():
        return (2 * arr.astype(np.int8) - 1).astype(np.int8)
    if np.isin(arr, (-1, 1)).all():
        return arr.astype(np.int8)
    bad = arr[~np.isin(arr, (-1, 0, 1))]
    what = (f"found the value {bad.flat[0].item()!r}" if bad.size
            else "found a mix of 0 and -1")
    raise ValueError(f"{name} must be binary (0/1) or bipolar (-1/+1), {what}")


def two_hot_codes(n_x: int = 10) -> np.ndarray:
    r"""All two-hot stimulus codes of length ``n_x`` as bipolar rows (TEM's symbol code).

    Row ``k`` has :math:`+1` on the ``k``-th pair of units (lexicographic order) and
    :math:`-1` elsewhere; ``n_x = 10`` gives TEM's 45 symbols.
    """
    n_x = check_int("n_x", n_x, minimum=2)
    pairs = [(a, b) for a in range(n_x) for b in range(a + 1, n_x)]
    codes = -np.ones((len(pairs), n_x), dtype=np.int8)
    for k, (a, b) in enumerate(pairs):
        codes[k, [a, b]] = 1
    return codes


def conjunction(g: Any, x: Any) -> np.ndarray:
    r"""Conjunctive patterns :math:`p = \operatorname{flatten}(g \otimes x)`, bipolar.

    .. math:: p_{a n_x + b} = g_a x_b

    Binary codes are first mapped to bipolar by :math:`2b - 1`, so the product of two
    bipolar codes is bipolar: cell :math:`(a, b)` is active when grid cell ``a`` and stimulus
    cell ``b`` are both active *or both inactive* (the bipolar conjunction: the Hopfield
    network's :math:`s = 2z - 1` applied to TEM's :math:`g \otimes x`).

    Parameters
    ----------
    g
        ``(m, n_g)`` position codes, binary or bipolar.
    x
        ``(m, n_x)`` stimulus codes, binary or bipolar.

    Returns
    -------
    numpy.ndarray
        ``(m, n_g * n_x)`` int8 patterns (row-major flatten of each outer product).
    """
    g_b = _as_bipolar_codes("g", g)
    x_b = _as_bipolar_codes("x", x)
    if len(g_b) != len(x_b):
        raise ValueError(f"x must have as many rows as g ({len(g_b)}), got {len(x_b)}")
    return (g_b[:, :, None] * x_b[:, None, :]).reshape(len(g_b), -1).astype(np.int8)


def stimulus_prior(codes: Any) -> np.ndarray:
    r"""The uninformative stimulus: the sign of the mean code, :math:`\bar x =
    \operatorname{sign}(\langle x \rangle)` (ties +1).

    For two-hot codes of length 10 every unit is active in 9 of 45 codes, so
    :math:`\bar x = -\mathbf{1}`.
    """
    codes_b = _as_bipolar_codes("codes", codes)
    mean = codes_b.astype(np.float64).mean(axis=0)
    return np.where(mean >= 0, 1, -1).astype(np.int8)


def position_cue(g: Any, prior: Any) -> np.ndarray:
    r"""Position-only cue :math:`g \otimes \bar x`: the stimulus part replaced by ``prior``.

    Its overlap with a stored conjunction is
    :math:`(g \cdot g^\mu)(\bar x \cdot x^\mu) / N`; with stimulus codes of constant
    :math:`\bar x \cdot x^\mu` (two-hot codes: 6 of 10 for every symbol) the cue weights the
    memories by their position overlap :math:`g \cdot g^\mu` alone, as TEM's query with an
    uninformative stimulus does (SCIENCE.md section 3).

    Parameters
    ----------
    g
        ``(P, n_g)`` position codes (binary or bipolar).
    prior
        ``(n_x,)`` bipolar stimulus part, e.g. :func:`stimulus_prior`.

    Returns
    -------
    numpy.ndarray
        ``(P, n_g * n_x)`` int8 bipolar cues.
    """
    g_b = _as_bipolar_codes("g", g)
    prior_b = _as_bipolar_codes("prior", prior)
    if len(prior_b) != 1:
        raise ValueError(f"prior must be one code (a vector), got shape {prior_b.shape}")
    return conjunction(g_b, np.repeat(prior_b, len(g_b), axis=0))


def decode_stimulus(states: Any, g: Any, codes: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Read the stimulus out of conjunctive states, given the position.

    The state is reshaped to :math:`S \in \{\pm 1\}^{n_g \times n_x}` and projected on the
    known position, :math:`\hat x = g^\top S` (:math:`n_g\, x` for :math:`S = g \otimes x`);
    the decoded symbol is the code with the largest :math:`c \cdot \hat x`.

    Parameters
    ----------
    states
        ``(P, n_g * n_x)`` bipolar states.
    g
        ``(P, n_g)`` positions of the probes (binary or bipolar).
    codes
        ``(K, n_x)`` stimulus codes of the alphabet (binary or bipolar).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(P,)`` decoded symbol indices and ``(P, n_x)`` projections :math:`\hat x`.
    """
    g_b = _as_bipolar_codes("g", g).astype(np.float64)
    c_b = _as_bipolar_codes("codes", codes).astype(np.float64)
    s = np.asarray(states, dtype=np.float64)
    if s.ndim == 1:
        s = s[None, :]
    n_g, n_x = g_b.shape[1], c_b.shape[1]
    if s.ndim != 2 or s.shape[1] != n_g * n_x:
        raise ValueError(f"states must have shape (P, {n_g * n_x}) = (P, n_g * n_x), "
                         f"got {s.shape}")
    if len(s) != len(g_b):
        raise ValueError(f"g must have one row per state ({len(s)}), got {len(g_b)}")
    projection = np.einsum("pa,pab->pb", g_b, s.reshape(len(s), n_g, n_x))
    return np.argmax(projection @ c_b.T, axis=1), projection


# ----------------------------------------------------------------------------------------
# synaptic state
# ----------------------------------------------------------------------------------------


@dataclass
class SynapticState:
    """Weights of ``B`` networks in coupling units (one unit = :math:`1/N` of :math:`W`).

    Attributes
    ----------
    excitatory
        ``(B, N, N)`` recurrent weights :math:`w_{ij}` (row ``i`` postsynaptic; the diagonal
        holds the autapses :math:`c + 1/2`).
    inhibitory
        ``(B,)`` basket-cell weight :math:`c` onto every cell of each network.
    threshold
        ``(B, N)`` excitability offsets :math:`\\theta_i`.
    """

    excitatory: np.ndarray
    inhibitory: np.ndarray
    threshold: np.ndarray

    @classmethod
    def empty(cls, n_blocks: int, n_units: int) -> SynapticState:
        """Nothing stored: :math:`w = \\tfrac12 I`, :math:`c = 0`, :math:`\\theta = 1/4`."""
        w = np.zeros((n_blocks, n_units, n_units))
        w[:, np.arange(n_units), np.arange(n_units)] = 0.5
        return cls(excitatory=w, inhibitory=np.zeros(n_blocks),
                   threshold=np.full((n_blocks, n_units), 0.25))

    def copy(self) -> SynapticState:
        """A deep copy."""
        return SynapticState(self.excitatory.copy(), self.inhibitory.copy(),
                             self.threshold.copy())

    @property
    def couplings(self) -> np.ndarray:
        """``(B, N, N)`` Hebbian couplings :math:`J = w - c` with zero diagonal."""
        j = self.excitatory - self.inhibitory[:, None, None]
        n = j.shape[1]
        j[:, np.arange(n), np.arange(n)] = 0.0
        return j


def hebbian_state(patterns: Sequence[np.ndarray], n_units: int) -> SynapticState:
    r"""The synaptic state after storing each network's patterns (the offline rule).

    For network ``b`` with patterns :math:`x^1..x^m`: :math:`J = X^\top X - m I`,
    :math:`w_{ij} = J_{ij} + m` (:math:`i \ne j`), :math:`w_{ii} = m + 1/2`,
    :math:`c = m`, :math:`\theta_i = \tfrac12 \sum_{j \ne i} J_{ij} + \tfrac14`.
    """
    state = SynapticState.empty(len(patterns), n_units)
    for b, x in enumerate(patterns):
        state.excitatory[b], state.inhibitory[b], state.threshold[b] = _hebbian_block(
            np.asarray(x, dtype=np.float64), n_units, state.excitatory[b],
            state.inhibitory[b], state.threshold[b])
    return state


def _hebbian_block(x: np.ndarray, n: int, w: np.ndarray, c: float,
                   theta: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    m = len(x)
    j = x.T @ x                                            # (N, N): integers, exact
    j[np.arange(n), np.arange(n)] = 0.0
    w = w + j + m                                          # diagonal: + m (autapse)
    return w, c + m, theta + 0.5 * j.sum(axis=1)


# ----------------------------------------------------------------------------------------
# network
# ----------------------------------------------------------------------------------------


@dataclass
class CA3Network:
    """Every Brian2 object of one simulation (``mode`` "retrieve" or "write")."""

    params: CA3Params
    derived: CA3Derived
    n_blocks: int
    mode: str
    network: brian2.Network
    groups: dict[str, brian2.Group]
    synapses: dict[str, brian2.Synapses]
    spike_monitor: SpikeMonitor | None
    field_monitor: StateMonitor | None
    pre: np.ndarray  # presynaptic cell of each recurrent synapse (global index)
    post: np.ndarray  # postsynaptic cell of each recurrent synapse


def build_network(params: CA3Params, state: SynapticState, *, mode: str = "retrieve",
                  noise: np.ndarray | None = None, record_field: bool = True) -> CA3Network:
    """Create the groups, synapses and monitors of ``B`` CA3 networks (nothing is run).

    Parameters
    ----------
    params
        Circuit parameters.
    state
        Initial synaptic state (``B`` networks).
    mode
        ``"retrieve"``: recurrent transmission, basket relay, pacemaker clock and reset.
        ``"write"``: transmission off, plasticity on (tags and write-gate events).
    noise
        ``(R, B N)`` membrane noise (volts) added at the decision step ``t = k * cycle``
        (row ``k``) of each cell, or None for none.
    record_field
        Record each cell's drive once per cycle (retrieve mode).

    Populations: ``pyramidal`` (B N cells), ``basket`` (one per network), ``afferent``
    (spike generators, one per cell: cue or clamp), ``pacemaker`` (clock and reset,
    retrieve mode) or ``modulator`` (write gate per network, write mode).
    """
    d = derive(params)
    check_choice("mode", mode, ("retrieve", "write"))
    n, b_count = params.n_units, len(state.inhibitory)
    total = n * b_count
    dt = params.dt
    write = mode == "write"
    u = d.coupling
    events = {"plasticity": "write_flag > 0.5"} if write else None
    pyramidal = NeuronGroup(
        total,
        """
        dv/dt = (E_L - v) / tau_m : volt (unless refractory)
        theta : 1
        tag : 1
        write_flag : 1
        """,
        threshold="v > V_th", reset="v = V_reset\ntag = 1", refractory=params.refractory,
        method="exact", events=events, dt=dt,
        namespace={"E_L": params.E_L, "tau_m": params.tau_m, "V_th": params.V_th,
                   "V_reset": params.V_reset},
        name="pyramidal*")
    pyramidal.v = params.E_L
    pyramidal.theta = state.threshold.ravel()
    if write:
        pyramidal.run_on_event("plasticity", "write_flag = 0\ntag = 0")

    block_of = np.arange(total) // n
    local = np.arange(n)
    pre = (np.repeat(local[None, :], n, 0).ravel()[None, :] + n * np.arange(b_count)[:, None])
    post = (np.repeat(local, n)[None, :] + n * np.arange(b_count)[:, None])
    pre, post = pre.ravel(), post.ravel()  # block-major, post-major: w[b, post, pre]

    hebb = "(2 * tag_pre - 1) * (2 * tag_post - 1) * int(i != j)"
    if write:
        recurrent = Synapses(
            pyramidal, pyramidal, model="w : 1",
            on_post=f"w += 1 + {hebb}\ntheta_post += 0.5 * {hebb}",
            on_event={"post": "plasticity"}, dt=dt, name="recurrent*")
    else:
        recurrent = Synapses(pyramidal, pyramidal, model="w : 1", on_pre="v_post += u * w",
                             delay=d.recurrent_delay, dt=dt, namespace={"u": u},
                             name="recurrent*")
    recurrent.connect(i=pre, j=post)
    recurrent.w = state.excitatory.ravel()

    basket = NeuronGroup(b_count, "v : 1", threshold="v > 0.5", reset="v = 0", dt=dt,
                         name="basket*")
    groups: dict[str, brian2.Group] = {"pyramidal": pyramidal, "basket": basket}
    synapses: dict[str, brian2.Synapses] = {"recurrent": recurrent}
    if write:
        inhibition = Synapses(basket, pyramidal, model="w_inh : 1", on_post="w_inh += 1",
                              on_event={"post": "plasticity"}, dt=dt, name="inhibition*")
    else:
        excite_basket = Synapses(pyramidal, basket, on_pre="v_post += 1",
                                 delay=d.basket_delay, dt=dt, name="pyramidal_basket*")
        excite_basket.connect(i=np.arange(total), j=block_of)
        synapses["pyramidal_basket"] = excite_basket
        inhibition = Synapses(basket, pyramidal, model="w_inh : 1",
                              on_pre="v_post -= u * w_inh * v_pre", dt=dt,
                              namespace={"u": u}, name="inhibition*")
    inhibition.connect(i=block_of, j=np.arange(total))
    inhibition.w_inh = np.repeat(state.inhibitory, n)
    synapses["inhibition"] = inhibition

    afferent = SpikeGeneratorGroup(total, np.array([], dtype=int), np.array([]) * ms, dt=dt,
                                   name="afferent*")
    drive = Synapses(afferent, pyramidal, on_pre="v_post += kick", dt=dt,
                     namespace={"kick": d.cue_kick}, name="afferent_pyramidal*")
    drive.connect(j="i")
    groups["afferent"] = afferent
    synapses["afferent"] = drive

    field_monitor = None
    if write:
        modulator = SpikeGeneratorGroup(b_count, np.array([], dtype=int), np.array([]) * ms,
                                        dt=dt, name="modulator*")
        gate = Synapses(modulator, pyramidal, on_pre="write_flag_post = 1", dt=dt,
                        name="write_gate*")
        gate.connect(i=block_of, j=np.arange(total))
        groups["modulator"] = modulator
        synapses["write_gate"] = gate
    else:
        pacemaker = SpikeGeneratorGroup(2, np.array([], dtype=int), np.array([]) * ms, dt=dt,
                                        name="pacemaker*")
        namespace = {"u": u, "K": d.clock_kick}
        kick = "v_post += K - u * theta_post"
        if noise is not None:
            namespace["decision_noise"] = brian2.TimedArray(np.asarray(noise) * volt,
                                                            dt=params.cycle)
            kick += " + decision_noise(t, j)"
        clock = Synapses(pacemaker, pyramidal, on_pre=kick, dt=dt, namespace=namespace,
                         name="clock*")
        clock.connect(i=0, j=np.arange(total))
        reset = Synapses(pacemaker, pyramidal, on_pre="v_post = E_L", dt=dt,
                         namespace={"E_L": params.E_L}, name="reset*")
        reset.connect(i=1, j=np.arange(total))
        # within the decision step: volley and basket inhibition, then the clock reads the
        # drive; the reset comes last (it also clears the last volley of a probe)
        recurrent.pre.order = 0
        inhibition.pre.order = 0
        clock.pre.order = 1
        reset.pre.order = 2
        groups["pacemaker"] = pacemaker
        synapses["clock"] = clock
        synapses["reset"] = reset
        if record_field:
            # v at the end of each decision step: E_L + u F_i + K (+ noise)
            field_monitor = StateMonitor(pyramidal, "v", record=True, dt=params.cycle,
                                         when="end", name="field_monitor*")
    spike_monitor = SpikeMonitor(pyramidal, name="spikes_pyramidal*")
    extra = [m for m in (spike_monitor, field_monitor) if m is not None]
    network = brian2.Network(*groups.values(), *synapses.values(), *extra)
    return CA3Network(params=params, derived=d, n_blocks=b_count, mode=mode, network=network,
                      groups=groups, synapses=synapses, spike_monitor=spike_monitor,
                      field_monitor=field_monitor, pre=pre, post=post)


# ----------------------------------------------------------------------------------------
# protocols
# ----------------------------------------------------------------------------------------


@dataclass
class CA3Readout:
    """What one :meth:`CA3Circuit.retrieve` call produced.

    Attributes
    ----------
    cues
        ``(B, P, N)`` bipolar cues as presented.
    states
        ``(B, P, cycles + 1, N)`` int8 bipolar states read from the spikes: index 0 is the
        cue volley, index ``k`` the volley after ``k`` cycles.
    fields
        ``(B, P, cycles, N)`` local fields :math:`h_i = \\sum_j W_{ij} s_j` of the state
        after ``k`` cycles, read from the membrane at the decision (None if not recorded).
    noise
        ``(B, P, cycles, N)`` membrane noise of each decision in units of :math:`h`
        (:math:`\\sigma \\xi / g_h`); cell ``i`` fires in cycle ``k + 1`` iff
        ``fields + states / (2 N) + noise > 0``. Zeros without noise.
    onsets
        ``(P,)`` probe onsets (s); probe ``p`` lasts ``(cycles + 2) * cycle``.
    spikes
        Pyramidal spikes (global indices ``b * N + i``, times in s).
    stray_spikes
        Spikes off the volley times (0 in a correct run).
    """

    cues: np.ndarray
    states: np.ndarray
    fields: np.ndarray | None
    noise: np.ndarray
    onsets: np.ndarray
    cycle: float
    spikes: SpikeTrains
    stray_spikes: int
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def final(self) -> np.ndarray:
        """``(B, P, N)`` states after the last cycle."""
        return self.states[:, :, -1]


@dataclass
class WriteReadout:
    """What one :meth:`CA3Circuit.write` call produced: the state before and after."""

    patterns: list[np.ndarray]
    before: SynapticState
    after: SynapticState
    spikes: SpikeTrains
    timings: dict[str, float] = field(default_factory=dict)


class CA3Circuit:
    """``n_blocks`` spiking CA3 attractor networks of ``params.n_units`` cells each.

    Parameters
    ----------
    params
        Circuit parameters (default :class:`CA3Params`).
    n_blocks
        Independent networks simulated side by side (own patterns, weights, noise).
    seed
        Seeds the membrane noise (a child seed per call).
    directory
        Build directory of the ``cpp_standalone`` backend.
    report
        Brian2 progress report (``"text"``, ``"stdout"``) or None.

    Examples
    --------
    >>> ca3 = CA3Circuit(CA3Params(n_units=100))           # doctest: +SKIP
    >>> ca3.store(patterns)                                  # offline Hebbian weights
    >>> out = ca3.retrieve(noisy_patterns, cycles=8)         # synchronous attractor steps
    >>> out.final                                            # (1, P, 100) states
    """

    def __init__(self, params: CA3Params | None = None, *, n_blocks: int = 1,
                 seed: int | None = 0, directory: str | Path | None = None,
                 report: str | None = None) -> None:
        self.params = params if params is not None else CA3Params()
        self.derived = derive(self.params)
        self.n_blocks = check_int("n_blocks", n_blocks, minimum=1)
        self.seed = seed
        self.directory = directory
        self.report = report
        self.state = SynapticState.empty(self.n_blocks, self.params.n_units)
        self.stored = [0] * self.n_blocks
        self._calls = 0

    # ------------------------------------------------------------------ inputs
    def _patterns(self, name: str, patterns: Any) -> list[np.ndarray]:
        """Per-network bipolar patterns: a (m, N) array (one network), a (B, m, N) array,
        or a list of B arrays (m_b, N)."""
        n = self.params.n_units
        if isinstance(patterns, list | tuple):
            if len(patterns) != self.n_blocks:
                raise ValueError(f"{name} must hold one pattern matrix per network "
                                 f"({self.n_blocks}), got {len(patterns)}")
            blocks = [_bipolar_matrix(f"{name}[{b}]", p, n) for b, p in enumerate(patterns)]
        else:
            blocks = list(self._block_array(name, patterns, "m", "patterns"))
        if sum(len(p) for p in blocks) == 0:
            raise ValueError(f"{name} is empty")
        return blocks

    def _block_array(self, name: str, value: Any, rows: str, what: str, *,
                     single: bool = False) -> np.ndarray:
        """A bipolar ``(B, rows, N)`` array; with one network also ``(rows, N)`` (and ``(N,)``
        if ``single``). The error names ``name`` and the expected shape."""
        n = self.params.n_units
        arr = _bipolar_array(name, value)
        if self.n_blocks == 1 and arr.ndim == 2:
            arr = arr[None]
        elif self.n_blocks == 1 and single and arr.ndim == 1:
            arr = arr[None, None]
        if arr.ndim != 3 or arr.shape[0] != self.n_blocks or arr.shape[2] != n:
            raise ValueError(f"{name} must have shape ({self.n_blocks}, {rows}, {n}) "
                             f"(networks, {what}, n_units)"
                             + (f" or ({rows}, {n})" if self.n_blocks == 1 else "")
                             + f", got {arr.shape}")
        return arr

    def _cues(self, cues: Any) -> np.ndarray:
        arr = self._block_array("cues", cues, "P", "probes", single=True)
        if arr.shape[1] == 0:
            raise ValueError("cues is empty")
        return arr

    def _noise(self, noise: Any) -> np.ndarray:
        """Noise sigma per network in volts: None (params.noise), one voltage, or B."""
        if noise is None:
            return np.full(self.n_blocks, float(self.params.noise / volt))
        values = list(noise) if isinstance(noise, list | tuple) else [noise]
        for k, value in enumerate(values):
            where = "noise" if len(values) == 1 else f"noise[{k}]"
            if not isinstance(value, Quantity) or (get_dimensions(value)
                                                   is not get_dimensions(mV)):
                raise ValueError(f"{where} must be a voltage (e.g. 1*mV), got {value!r}")
        arr = np.concatenate([np.atleast_1d(np.asarray(v / volt, dtype=np.float64))
                              for v in values])
        if arr.size == 1:
            arr = np.full(self.n_blocks, arr[0])
        if arr.shape != (self.n_blocks,):
            raise ValueError(f"noise must be one voltage or one per network "
                             f"({self.n_blocks}), got {arr.size} values")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise ValueError("noise must be finite and >= 0 mV")
        return arr

    # ------------------------------------------------------------------ storage
    def store(self, patterns: Any) -> None:
        """Add ``patterns`` with the offline Hebbian rule (no simulation).

        Parameters
        ----------
        patterns
            ``(m, N)`` bipolar patterns (one network), ``(B, m, N)``, or a list of ``B``
            ``(m_b, N)`` matrices.
        """
        blocks = self._patterns("patterns", patterns)
        n = self.params.n_units
        for b, x in enumerate(blocks):
            if len(x) == 0:
                continue
            s = self.state
            s.excitatory[b], s.inhibitory[b], s.threshold[b] = _hebbian_block(
                x.astype(np.float64), n, s.excitatory[b], s.inhibitory[b], s.threshold[b])
            self.stored[b] += len(x)

    def clear(self) -> None:
        """Forget everything (the empty synaptic state)."""
        self.state = SynapticState.empty(self.n_blocks, self.params.n_units)
        self.stored = [0] * self.n_blocks

    @property
    def weights(self) -> np.ndarray:
        """``(B, N, N)`` Hopfield weights :math:`W = (w - c) / N`, zero diagonal."""
        return self.state.couplings / self.params.n_units

    @property
    def thresholds(self) -> np.ndarray:
        """``(B, N)`` excitability offsets :math:`\\theta_i` (coupling units)."""
        return self.state.threshold.copy()

    def write(self, patterns: Any) -> WriteReadout:
        """Store ``patterns`` by simulating the online Hebbian write protocol.

        Pattern ``k`` of every network is clamped by the afferent input in write cycle
        ``k`` (cells of its +1 entries fire); half a cycle later the network's write gate
        turns the activity tags into weight changes (module docstring). Networks with
        fewer patterns idle (no clamp, no gate) once theirs are written.
        """
        blocks = self._patterns("patterns", patterns)
        start = time.perf_counter()
        params, d = self.params, self.derived
        n, c = params.n_units, d.cycle_steps
        dt = float(params.dt / second)
        n_writes = max(len(p) for p in blocks)
        aff_i, aff_s, mod_i, mod_s = [], [], [], []
        for b, x in enumerate(blocks):
            for k in range(len(x)):
                cells = np.flatnonzero(x[k] > 0)
                aff_i.append(b * n + cells)
                aff_s.append(np.full(len(cells), k * c))
                mod_i.append(np.array([b]))
                mod_s.append(np.array([k * c + d.reset_steps]))
        before = self.state.copy()
        with brian_backend(params.backend, self.directory) as info:
            if params.backend == "cpp_standalone":
                self.directory = info.directory
            net = build_network(params, self.state, mode="write")
            _set_spikes(net.groups["afferent"], aff_i, aff_s, dt)
            _set_spikes(net.groups["modulator"], mod_i, mod_s, dt)
            run_network(net.network, (n_writes * c + 2) * params.dt, info,
                        report=self.report)
            w = np.asarray(net.synapses["recurrent"].w[:], dtype=np.float64)
            syn_i = np.asarray(net.synapses["recurrent"].i[:])
            syn_j = np.asarray(net.synapses["recurrent"].j[:])
            inh = np.asarray(net.synapses["inhibition"].w_inh[:], dtype=np.float64)
            inh_j = np.asarray(net.synapses["inhibition"].j[:])
            theta = np.asarray(net.groups["pyramidal"].theta[:], dtype=np.float64)
            spikes = _spike_trains(net.spike_monitor)
        after = SynapticState.empty(self.n_blocks, n)
        blk, post_l, pre_l = syn_j // n, syn_j % n, syn_i % n
        after.excitatory[blk, post_l, pre_l] = w
        per_cell = np.empty(self.n_blocks * n)
        per_cell[inh_j] = inh
        after.inhibitory = per_cell.reshape(self.n_blocks, n)[:, 0].copy()
        after.threshold = theta.reshape(self.n_blocks, n)
        self.state = after
        for b, x in enumerate(blocks):
            self.stored[b] += len(x)
        timings = dict(info.timings)
        timings["wall_s"] = time.perf_counter() - start
        return WriteReadout(patterns=blocks, before=before, after=after.copy(), spikes=spikes,
                            timings=timings)

    # ------------------------------------------------------------------ retrieval
    def retrieve(self, cues: Any, cycles: int = 10, *, noise: Any = None,
                 record_field: bool = True) -> CA3Readout:
        """Present each cue and let the network run ``cycles`` synchronous updates.

        Parameters
        ----------
        cues
            ``(B, P, N)`` bipolar cues (``(P, N)`` or ``(N,)`` for one network). Probe ``p``
            of every network is presented at the same time.
        cycles
            Gamma cycles (synchronous updates) per probe, >= 1.
        noise
            Membrane noise sigma: one voltage, or one per network (default ``params.noise``).
        record_field
            Read each cell's drive once per cycle (:attr:`CA3Readout.fields`).

        Returns
        -------
        CA3Readout
        """
        cue_arr = self._cues(cues)
        cycles = check_int("cycles", cycles, minimum=1)
        sigma = self._noise(noise)
        start = time.perf_counter()
        params, d = self.params, self.derived
        n, c = params.n_units, d.cycle_steps
        n_probes = cue_arr.shape[1]
        slot = (cycles + 2) * c
        dt = float(params.dt / second)
        bases = np.arange(n_probes) * slot
        aff_i, aff_s = [], []
        for p in range(n_probes):
            cells = np.flatnonzero(cue_arr[:, p].reshape(-1) > 0)  # global b * N + i
            aff_i.append(cells)
            aff_s.append(np.full(len(cells), bases[p]))
        kicks = (bases[:, None] + c * np.arange(1, cycles + 1)[None, :]).ravel()
        resets = np.concatenate([
            (bases[:, None] + c * np.arange(cycles)[None, :] + d.reset_steps).ravel(),
            bases + (cycles + 1) * c])
        pace_i = [np.zeros(len(kicks), dtype=int), np.ones(len(resets), dtype=int)]
        pace_s = [kicks, resets]
        self._calls += 1
        records = n_probes * (cycles + 2) + 1  # decision steps are multiples of the cycle
        noise_v = None
        if np.any(sigma > 0):
            # one named child seed per call and network: a network's noise does not depend
            # on which other networks share the simulation
            noise_v = np.zeros((records, self.n_blocks, n))
            for b in np.flatnonzero(sigma > 0):
                rng = numpy_rng(self.seed, "ca3_noise", self._calls, int(b))
                noise_v[:, b] = sigma[b] * rng.standard_normal((records, n))
            noise_v = noise_v.reshape(records, self.n_blocks * n)
        with brian_backend(params.backend, self.directory) as info:
            if params.backend == "cpp_standalone":
                self.directory = info.directory
            net = build_network(params, self.state, mode="retrieve", noise=noise_v,
                                record_field=record_field)
            _set_spikes(net.groups["afferent"], aff_i, aff_s, dt)
            _set_spikes(net.groups["pacemaker"], pace_i, pace_s, dt)
            run_network(net.network, n_probes * slot * params.dt, info, report=self.report)
            spikes = _spike_trains(net.spike_monitor)
            raw_fields = None
            if net.field_monitor is not None:
                v = np.asarray(net.field_monitor.v[:] / volt, dtype=np.float64)
                raw_fields = (v - float((params.E_L + d.clock_kick) / volt)) / float(
                    d.coupling / volt)
        states, stray = _states_from_spikes(spikes, self.n_blocks, n, n_probes, cycles, c,
                                            dt)
        # records at t = k * cycle; probe p's decision k + 1 is record p (cycles+2) + k + 1
        idx = (np.arange(n_probes)[:, None] * (cycles + 2)
               + np.arange(1, cycles + 1)[None, :])        # (P, cycles)

        def per_decision(values: np.ndarray) -> np.ndarray:  # (B N, R) -> (B, P, cycles, N)
            picked = values[:, idx].reshape(self.n_blocks, n, n_probes, cycles)
            return picked.transpose(0, 2, 3, 1)

        u_volt = float(d.coupling / volt)
        noise_h = np.zeros((self.n_blocks, n_probes, cycles, n))
        if noise_v is not None:
            noise_h = per_decision(noise_v.T) / float(params.field_gain / volt)
        fields = None
        if raw_fields is not None:
            prev = states[:, :, :-1].astype(np.float64)     # s_i of the deciding cycle
            # v - E_L - K = u F_i + noise; F_i = (N h_i + s_i / 2) / 2
            drive = per_decision(raw_fields) - noise_h * float(params.field_gain / volt) / u_volt
            fields = (2 * drive - 0.5 * prev) / n
        timings = dict(info.timings)
        timings["wall_s"] = time.perf_counter() - start
        return CA3Readout(cues=cue_arr, states=states, fields=fields, noise=noise_h,
                          onsets=bases * dt, cycle=c * dt, spikes=spikes, stray_spikes=stray,
                          timings=timings)


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------


def _bipolar_array(name: str, value: Any) -> np.ndarray:
    tensor = check_bipolar(name, value)
    return tensor.detach().cpu().numpy().astype(np.int8)


def _bipolar_matrix(name: str, value: Any, n: int) -> np.ndarray:
    arr = _bipolar_array(name, value)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != n:
        raise ValueError(f"{name} must have shape (m, {n}) (patterns, n_units), "
                         f"got {arr.shape}")
    return arr


def _set_spikes(group: SpikeGeneratorGroup, indices: list[np.ndarray],
                steps: list[np.ndarray], dt: float) -> None:
    if not indices:
        return
    i = np.concatenate(indices).astype(np.int64)
    s = np.concatenate(steps).astype(np.int64)
    if len(i):
        group.set_spikes(i, s * dt * second)


def _spike_trains(monitor: SpikeMonitor) -> SpikeTrains:
    t = np.asarray(monitor.t[:] / second, dtype=np.float64)
    i = np.asarray(monitor.i[:], dtype=np.int64)
    order = np.argsort(t, kind="stable")
    return SpikeTrains(indices=i[order], times=t[order])


def _states_from_spikes(spikes: SpikeTrains, n_blocks: int, n: int, n_probes: int,
                        cycles: int, c: int, dt: float) -> tuple[np.ndarray, int]:
    """Volleys at steps ``p (cycles+2) c + k c + 1`` -> ``(B, P, cycles+1, N)`` states."""
    states = -np.ones((n_blocks, n_probes, cycles + 1, n), dtype=np.int8)
    steps = np.round(spikes.times / dt).astype(np.int64)
    volley, offset = np.divmod(steps - 1, c)
    probe, k = np.divmod(volley, cycles + 2)
    ok = (offset == 0) & (k <= cycles) & (probe < n_probes) & (steps >= 1)
    cell = spikes.indices[ok]
    states[cell // n, probe[ok], k[ok], cell % n] = 1
    return states, int((~ok).sum())
