"""What a calcium indicator sees of a run's spikes: the events of the imaged neurons.

:func:`imaged_population` turns the spikes of a population (and, for presets that also see
a partner population, its partner's) into the weighted spike events the calcium synthesis
of :mod:`analysis.calcium` takes; ``memcircuits calcium`` and ``figures calcium-protocol``
both use it.
"""

from __future__ import annotations

import numpy as np

from analysis.calcium import SpikeEvents, get_preset

__all__ = ["imaged_population"]


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
