r"""CA3 as a spiking classic Hopfield network.

Hebbian storage of ``g (x) x``, attractor retrieval in gamma cycles.

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

from circuits.hippocampus.ca3.codes import (
    conjunction,
    decode_stimulus,
    position_cue,
    stimulus_prior,
    two_hot_codes,
)
from circuits.hippocampus.ca3.network import (
    CA3Network,
    SynapticState,
    build_network,
    hebbian_state,
)
from circuits.hippocampus.ca3.params import CA3Derived, CA3Params, derive
from circuits.hippocampus.ca3.protocol import CA3Circuit, CA3Readout, WriteReadout

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
