"""The cerebellar cortex as a spiking sparse distributed memory (and the mushroom body).

- :mod:`~circuits.cerebellum.params`: frozen parameter dataclasses, presets, calibration;
- :mod:`~circuits.cerebellum.network`: the Brian2 groups, synapses and monitors;
- :mod:`~circuits.cerebellum.protocol`: :class:`CerebellarSDM` (write / read) and readouts;
- :mod:`~circuits.cerebellum.plasticity`: the measured PF->PC plasticity window.
"""

from circuits.cerebellum.params import CerebellumParams, biological, mushroom_body
from circuits.cerebellum.protocol import CerebellarSDM, CerebellumReadout, granule_active_sets

__all__ = [
    "CerebellarSDM",
    "CerebellumParams",
    "CerebellumReadout",
    "biological",
    "granule_active_sets",
    "mushroom_body",
]
