"""What a calcium indicator sees of a run's spikes: the events of the imaged neurons.

:func:`circuit_populations` collects a cerebellar (or mushroom-body) circuit's spikes by
population name, as ``analysis.nwb.write_spikes`` writes them. :func:`imaged_population`
turns the spikes of a population (and, for presets that also see a partner population, its
partner's) into the weighted spike events the calcium synthesis of :mod:`analysis.calcium`
takes; ``memcircuits calcium`` and ``figures calcium-protocol`` both use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from analysis.calcium import SpikeEvents, get_preset

if TYPE_CHECKING:
    from circuits.cerebellum.protocol import CerebellarSDM, CerebellumReadout

__all__ = ["circuit_populations", "imaged_population"]


def circuit_populations(circuit: CerebellarSDM, readouts: Sequence[CerebellumReadout]
                        ) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Population display name -> (indices, times in s, size) over all ``readouts``.

    Names are the preset's (``GrC``, ``PC``, ... or ``KC``, ``MBON``, ... for the mushroom
    body: :attr:`~circuits.cerebellum.params.CerebellumParams.population_names`).
    """
    names = circuit.params.population_names
    sizes = circuit.population_sizes()
    out = {}
    for key in readouts[0].spikes:
        indices = np.concatenate([r.spikes[key].indices for r in readouts])
        times = np.concatenate([r.spikes[key].times for r in readouts])
        out[names[key]] = (indices, times, sizes[key])
    return out


def imaged_population(name: str, spikes: dict[str, tuple[np.ndarray, np.ndarray, int]],
                      preset_name: str, partner: str, rows: np.ndarray) -> SpikeEvents:
    """Events of the imaged neurons ``rows`` of population ``name``.

    Indices 0..len(rows)-1: own spikes times the preset's ``spike_weight``, partner spikes (same
    neuron index) times ``partner_weight``.
    """
    preset = get_preset(preset_name)
    position = np.full(spikes[name][2], -1, dtype=np.int64)
    position[rows] = np.arange(len(rows))
    parts = []
    sources = [(name, preset.spike_weight)]
    if partner and preset.partner_weight:
        if partner not in spikes:
            raise ValueError(f"populations: {name} ({preset_name}) needs the spikes of "
                             f"{partner}, which the run does not hold")
        sources.append((partner, preset.partner_weight))
    for source, weight in sources:
        if weight == 0:
            continue
        i, t, _size = spikes[source]
        i = np.asarray(i, dtype=np.int64)
        ok = i < len(position)
        keep = np.zeros(len(i), bool)
        keep[ok] = position[i[ok]] >= 0
        parts.append(SpikeEvents.of(position[i[keep]], np.asarray(t)[keep], weight))
    return SpikeEvents.concat(parts)
