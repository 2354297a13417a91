r"""Population presets: indicator, firing and imaging parameters per recorded population."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["POPULATION_PRESETS", "PopulationPreset", "get_preset"]


@dataclass(frozen=True)
class PopulationPreset:
    """How one imaged population turns its spikes into indicator calcium, and its ROIs."""

    name: str
    description: str
    spike_weight: float = 1.0  # AP-equivalents of calcium per own spike
    partner_weight: float = 0.0  # AP-equivalents per spike of the partner input (e.g. CF)
    roi_sigma_um: tuple[float, float] = (3.0, 3.0)  # Gaussian footprint sd (along x, y)
    rationale: str = ""


#: Population presets of the imaged cell types.
POPULATION_PRESETS: dict[str, PopulationPreset] = {
    "granule_soma": PopulationPreset(
        name="granule_soma", description="cerebellar granule-cell somata",
        spike_weight=1.0, roi_sigma_um=(1.5, 1.5),
        rationale="small (5-7 um) densely packed somata: every spike is one AP of calcium; "
                  "tight footprints, strong neuropil"),
    "purkinje_dendrite": PopulationPreset(
        name="purkinje_dendrite", description="Purkinje-cell dendrites (complex spikes)",
        spike_weight=0.0, partner_weight=4.0, roi_sigma_um=(2.0, 20.0),
        rationale="dendritic calcium is dominated by climbing-fibre complex spikes (dendritic "
                  "Ca spikes; Ozden et al. 2008, Kitamura & Hausser 2011); simple spikes do "
                  "not invade the dendrite actively (Stuart & Hausser 1994), so they add "
                  "nothing here; one complex spike counts as 4 AP-equivalents (assumed); "
                  "ROIs are sagittal dendritic bands"),
    "dopaminergic_terminal": PopulationPreset(
        name="dopaminergic_terminal",
        description="dopaminergic-neuron axon terminals in a mushroom-body compartment",
        spike_weight=1.0, roi_sigma_um=(5.0, 5.0),
        rationale="a compartment's DAN terminals imaged as one ROI (GCaMP in PAM/PPL1 "
                  "terminals: Cohn, Morantte & Ruta 2015); one spike counts as one AP "
                  "(assumed)"),
    "place_cell": PopulationPreset(
        name="place_cell", description="hippocampal place-cell somata (memory neurons)",
        spike_weight=0.1, roi_sigma_um=(4.0, 4.0),
        rationale="the loop's memory neurons code the softmax weight as a rate of up to "
                  "~5 kHz in a theta window (the strongest memory fires 40-100 spikes in a "
                  "step); 10 spikes count as one AP, so those bursts give 4-10 AP "
                  "transients, weak matches (1-5 spikes) stay below one AP (assumed)"),
    "soma": PopulationPreset(
        name="soma", description="generic neuronal somata", spike_weight=1.0,
        rationale="one spike, one AP"),
}


def get_preset(name: str | PopulationPreset) -> PopulationPreset:
    """The population preset ``name``, or one ``ValueError`` listing them."""
    if isinstance(name, PopulationPreset):
        return name
    if name in POPULATION_PRESETS:
        return POPULATION_PRESETS[name]
    raise ValueError(f"preset: unknown population preset {name!r}; known: "
                     f"{', '.join(POPULATION_PRESETS)}")


