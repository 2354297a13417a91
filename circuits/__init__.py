"""Spiking memory circuits in Brian2: the cerebellum as SDM, the hippocampal loop as TEM-t.

The cerebellar cortex acts as a sparse distributed memory and the entorhinal-hippocampal loop as
TEM-t.

Every circuit has one API shape: it is built from a frozen parameter dataclass and a seed,
exposes its ``brian2.Network`` (``.network``, with the populations in ``.groups``, so you
can add monitors of your own before running), and its protocol methods return readouts
whose ``spikes`` map population names to :class:`SpikeTrains` (indices, times in seconds,
population size; ``analysis.nwb.write_spikes(path, readout.spikes, ...)`` writes them to
NWB)::

    from circuits import CerebellarSDM, CerebellumParams, HippocampalLoop, CA3Circuit

- :class:`CerebellarSDM` (:class:`CerebellumParams`): write / read
  (:mod:`circuits.cerebellum`);
- :class:`HippocampalLoop` (:class:`HippocampusParams`): run a walk on a world
  (:mod:`circuits.hippocampus`);
- :class:`CA3Circuit` (:class:`CA3Params`): store / write patterns, retrieve from cues
  (:mod:`circuits.hippocampus.ca3`).
"""

from circuits.cerebellum import CerebellarSDM, CerebellumParams, CerebellumReadout
from circuits.hippocampus.ca3 import CA3Circuit, CA3Params, CA3Readout, WriteReadout
from circuits.hippocampus.params import HippocampusParams
from circuits.hippocampus.protocol import HippocampalLoop, HippocampusReadout
from circuits.spikes import SpikeTrains

__all__ = [
    "CA3Circuit",
    "CA3Params",
    "CA3Readout",
    "CerebellarSDM",
    "CerebellumParams",
    "CerebellumReadout",
    "HippocampalLoop",
    "HippocampusParams",
    "HippocampusReadout",
    "SpikeTrains",
    "WriteReadout",
]
