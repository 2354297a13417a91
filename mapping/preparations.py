"""The two preparations a protocol can run on: the cerebellar microzone and the mushroom body.

Both are the circuit of :mod:`circuits.cerebellum` (the mushroom body is its preset
``mushroom_body``, :func:`circuits.cerebellum.params.mushroom_body`); what differs for an
experiment is named here:

``cerebellum``
    Mossy fibres (two rails per cue bit) -> granule cells with Golgi inhibition -> Purkinje
    cells taught by climbing fibres -> nuclear cells. Cues are random bits. PF->PC
    long-term depression is postsynaptic: endocytosis of GluA2-containing AMPA receptors
    (Wang & Linden 2000, Neuron 25:635; Matsuda et al. 2000), so the synaptic signal is a
    surface-receptor sensor at the spine (SEP-GluA2). The teaching signal is imaged as
    climbing-fibre calcium in the Purkinje dendrites (a complex spike: a dendritic calcium
    spike, Kitamura & Hausser 2011).
``mushroom_body``
    Projection neurons (one rail per glomerulus) -> Kenyon cells with APL feedback
    inhibition -> output neurons (MBONs, one per valence) taught by their own dopaminergic
    neurons. Every odour activates the same number of glomeruli
    (:func:`~circuits.cerebellum.mossy.odours_with_activity`). Dopamine-induced KC->MBON
    depression is presynaptic, a drop of acetylcholine release from the Kenyon-cell boutons
    (Hige et al. 2015, Neuron 88:985; Stahl et al. 2022, eLife 11:e76712, imaged with the
    GRAB-ACh sensor), so the synaptic signal is a release sensor (GRAB-ACh3.0). The
    teaching signal is imaged as calcium in the compartment's dopaminergic terminals
    (Cohn, Morantte & Ruta 2015). Generalisation probes move glomeruli in pairs (one off,
    one on), so an odour of graded similarity activates as many
    (:func:`mapping.protocols.check_protocol` refuses distances that cannot).
"""

from __future__ import annotations

from dataclasses import dataclass

from circuits.cerebellum.params import CerebellumParams

__all__ = ["PREPARATIONS", "Preparation", "get_preparation", "preparation_of"]


@dataclass(frozen=True)
class Preparation:
    """What an experiment on one preparation images and can run."""

    name: str
    preset: str | None  #: the circuit preset it needs (None: any but the others' presets)
    #: where the taught synapses change: "post" (receptors) or "pre" (release)
    plasticity_site: str
    synaptic_indicator: str  #: the synaptic sensor an experiment would use there
    #: where the teaching signal is imaged (an analysis.calcium_presets population)
    teaching_population: str


#: the preparations :func:`get_preparation` knows
PREPARATIONS: dict[str, Preparation] = {p.name: p for p in (
    Preparation("cerebellum", None, "post", "SEP-GluA2", "purkinje_dendrite"),
    Preparation("mushroom_body", "mushroom_body", "pre", "GRAB-ACh3.0",
                "dopaminergic_terminal"),
)}


def get_preparation(name: str) -> Preparation:
    """The preparation called ``name``; ``ValueError`` names the known ones."""
    if not isinstance(name, str) or name not in PREPARATIONS:
        raise ValueError(f"unknown preparation {name!r}; known: {', '.join(PREPARATIONS)}")
    return PREPARATIONS[name]


def preparation_of(params: CerebellumParams) -> Preparation:
    """The preparation a circuit belongs to (by its preset)."""
    return next((p for p in PREPARATIONS.values() if p.preset == params.preset),
                PREPARATIONS["cerebellum"])
