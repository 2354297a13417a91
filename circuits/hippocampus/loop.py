r"""The entorhinal-hippocampal loop as a spiking TEM-t (Brian2).

The dynamics, and the old entry points.

The loop is laid out like the cerebellum: :mod:`circuits.hippocampus.params` (frozen
parameters), :mod:`circuits.hippocampus.inputs` (grid modules, LEC codes, a walk's
stimuli), :mod:`circuits.hippocampus.network` (layer builders composed by one
``build_network``) and :mod:`circuits.hippocampus.protocol` (:class:`HippocampalLoop`,
:func:`run_walk`, the readout). This module keeps the names it always had
(``run_walk``, ``prepare_inputs``, ``HippocampusReadout`` ...) and documents the dynamics.

Populations (one walk step per slot; see :mod:`circuits.hippocampus.params`):

- ``grid`` (MEC, query): one cell per phase of each grid module
  (:mod:`models.grid_codes`: analytic modules, or with ``mec.source = "tem-t"`` the cyclic
  modules and learned action shifts of a trained TEM-t, :func:`mec_modules`); the cells of
  the current phases fire at each slot onset.
- ``hold`` (MEC, hold): the same cells a few ms later; a ramp gate makes the cell with the
  most input in each module fire first and a module interneuron silences the rest
  (winner-take-all). Input: the query spike of the same phase (path integration) and, with
  loop closure, recall votes from memory neurons (their stored keys).
- ``action``: one cell per (module, action); a wrong action in a module is a drift error.
- ``conjunctive``: (module, phase, action) coincidence cells; a hold spike and an action
  spike together fire one, which makes the next phase's query cell fire at the next slot
  onset: the spiking form of :math:`g_{t+1} = W_a g_t`.
- ``lec``: a sparse population code per symbol (``lec_per_symbol`` of ``n_lec`` cells).
  Observation spikes drive it; memory neurons drive it with their stored values (the
  prediction); each LEC spike relays one unit of input (exact counts).
- ``memory`` (HPC): integrate-and-fire on an exponential rate (threshold 1, or with
  ``memory.spiking = "poisson"`` a threshold drawn from Exp(1) after each spike: Poisson
  spikes of the same rate),

  .. math:: \dot\phi_\tau = r_{max}\, [\tau \text{ written}]\,
            \exp\big(\beta (u_\tau - M) - c_\tau\big)

  with :math:`u_\tau` the query's overlap with the stored key (MEC->HPC weights),
  :math:`o_\tau` the observation's overlap with the stored value (LEC->HPC), and
  :math:`c_\tau` the inhibition from the interneurons: each memory spike raises it by
  ``inhibition``, and it falls at the rate that ``target_rate`` spikes would raise it (down
  to ``-max_boost``), so the total memory activity is pulled towards ``target_rate``
  whatever the match (divisive normalisation: rates are :math:`e^{-c}` times their
  unnormalised values, the same factor for every memory). The gain :math:`\beta` is
  ``memory.beta``, or with ``memory.beta_scale`` :math:`b` it is :math:`b \log(1 + N) / M`
  with :math:`N` the memories written so far (counted by the one-cell ``engrams``
  integrator): TEM-t's inverse temperature on the key-query cosine. Between the
  observation and the hold (recall) the rate is boosted and the exponent becomes
  :math:`\beta_k \min(0, m_\tau - n_{mod} + s) + \beta_o (o_\tau - 1)`, with
  :math:`m_\tau` the number of modules whose query phase equals the stored one (an exact
  key learned like the graded one): memories whose value matches the observation and whose
  key matches the query in all but :math:`s` = ``recall_tolerated_modules`` modules
  dominate, and their keys vote for the phase each module keeps (loop closure): a drifted
  module does not silence the memory of the node, a node that merely shares the symbol
  (different phases in several modules) stays silent. Because the inhibition is shared,
  normalised spike counts follow :math:`\mathrm{softmax}(\beta\, k_\tau \cdot q)`: the
  memory neurons are the softmax units of attention. A theta signal at each slot onset
  resets :math:`u, m, o`.
- ``interneuron``: relays memory spikes into the shared inhibition (soft winner-take-all).
- ``recruit``: at each step one memory neuron is recruited; on that spike, Hebbian
  plasticity sets the MEC->HPC weights from the query cells that fired this slot (key),
  and the HPC->LEC and LEC->HPC weights from the observed LEC cells (value).
"""

from __future__ import annotations

from circuits.hippocampus.inputs import LoopInputs, lec_codes, mec_modules, prepare_inputs
from circuits.hippocampus.network import (
    build_network,
    bump_connectivity,
    full_similarity,
    present_walk,
)
from circuits.hippocampus.params import HippocampusParams
from circuits.hippocampus.protocol import (
    HippocampalLoop,
    HippocampusReadout,
    check_loop_memory,
    decode,
    loop_memory,
    run_walk,
)

__all__ = [
    "HippocampalLoop",
    "HippocampusReadout",
    "LoopInputs",
    "build_loop",
    "bump_connectivity",
    "check_loop_memory",
    "decode",
    "full_similarity",
    "lec_codes",
    "loop_memory",
    "mec_modules",
    "prepare_inputs",
    "run_walk",
]


def build_loop(params: HippocampusParams, inputs: LoopInputs) -> dict:
    """The loop's groups and synapses for the walk of ``inputs``, by name (nothing is run).

    The old form of :func:`circuits.hippocampus.network.build_network` plus
    :func:`~circuits.hippocampus.network.present_walk`, without the spike monitors.
    """
    net = build_network(params, inputs.modules, inputs.world, record=())
    present_walk(net, inputs)
    return {**net.groups, **net.synapses}
