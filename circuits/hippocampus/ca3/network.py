"""The CA3 synaptic state and the Brian2 network of ``B`` CA3 attractor networks.

The synaptic state holds Hebbian couplings in Dale's-law form; the network is built by
:func:`build_network`; see :mod:`circuits.hippocampus.ca3`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import brian2
import numpy as np
from brian2 import NeuronGroup, SpikeGeneratorGroup, SpikeMonitor, StateMonitor, Synapses, ms, volt

from circuits.hippocampus.ca3.params import CA3Derived, CA3Params, derive
from models._checks import check_choice

__all__ = ["CA3Network", "SynapticState", "build_network", "hebbian_state", "load_state"]


@dataclass
class SynapticState:
    r"""Weights of ``B`` networks in coupling units (one unit = :math:`1/N` of :math:`W`).

    Attributes
    ----------
    excitatory
        ``(B, N, N)`` recurrent weights :math:`w_{ij}` (row ``i`` postsynaptic; the diagonal
        holds the autapses :math:`c + 1/2`).
    inhibitory
        ``(B,)`` basket-cell weight :math:`c` onto every cell of each network.
    threshold
        ``(B, N)`` excitability offsets :math:`\theta_i`.
    """

    excitatory: np.ndarray
    inhibitory: np.ndarray
    threshold: np.ndarray

    @classmethod
    def empty(cls, n_blocks: int, n_units: int) -> SynapticState:
        r"""Nothing stored: :math:`w = \tfrac12 I`, :math:`c = 0`, :math:`\theta = 1/4`."""
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



def load_state(net: CA3Network, state: SynapticState) -> None:
    """Set the recurrent weights, basket-cell weights and thresholds of ``net`` to ``state``.

    This is what :func:`build_network` does with its ``state``.
    """
    if state.excitatory.shape != (net.n_blocks, net.params.n_units, net.params.n_units):
        raise ValueError(f"state holds {state.excitatory.shape[0]} networks of "
                         f"{state.excitatory.shape[1]} cells; the network "
                         f"{net.n_blocks} of {net.params.n_units}")
    net.groups["pyramidal"].theta = state.threshold.ravel()
    net.synapses["recurrent"].w = state.excitatory.ravel()
    net.synapses["inhibition"].w_inh = np.repeat(state.inhibitory, net.params.n_units)
