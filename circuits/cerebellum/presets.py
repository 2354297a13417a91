"""The presets of the cerebellar circuit: which biology a :class:`CerebellumParams` runs.

A preset sets the mossy-fibre, granule and Golgi parameters; sizes (address bits aside for
the mushroom body), the backend, the Purkinje layer, plasticity and the protocol stay as
they are. Every command that takes a cerebellar circuit accepts
``--set circuit.preset=NAME`` (or ``preset = "NAME"`` in the ``[circuit]`` table of a
``--config`` file): the preset is applied first, the other keys of the table after it.

``kanerva``
    Kanerva's limit: granule cells read all ``n`` address bits (two rails each) and fire
    within Hamming radius ``d`` of the key; mossy fibres fire in synchronous volleys and the
    Golgi cells' first-volley veto holds the coding level. The circuit whose spikes equal
    the abstract SDM exactly.
``biological``
    Four-claw granule cells (selected coordinates, Jaeckel 1989; 4 mossy fibres per granule
    cell, Eccles et al. 1967, 3.9 in mouse, Jakab & Hamori 1988), asynchronous Poisson
    mossy fibres whose rates carry the key, and a rate-coded Golgi loop (feedforward from
    mossy fibres, feedback from granule cells, tonic GABA_A inhibition) that holds the
    coding level across input rates. Granule count from the mossy fibre -> granule cell
    divergence (~460 granule cells per mossy fibre, 4 claws each: 115 granule cells per
    mossy fibre; SCIENCE.md section 4). Work in progress: the loop holds the level, but the
    code is only weakly key-selective (about a quarter of the active cells have all four
    claws on, chance 1/16; ``python -m circuits.cerebellum.selectivity``): a granule cell
    integrates its Poisson inputs over a few milliseconds only.
``mushroom_body``
    The insect mushroom body: projection neurons (one rail per glomerulus, ~45% active per
    odour) -> Kenyon cells (6 inputs, fire with >= 5 active; APL feedback inhibition) ->
    two output neurons, one per valence. Expected Kenyon-cell sparseness
    P(>= 5 of 6 active) ~ 7% at 45% projection-neuron activity (5-10%, Lin et al. 2014).
"""

from __future__ import annotations

from dataclasses import replace

from brian2 import Hz, ms, nS

from circuits.cerebellum.params import (
    PRESETS,
    CerebellumParams,
    GolgiParams,
    GranuleParams,
    MossyFibreParams,
)

__all__ = ["GRANULE_PER_MOSSY_FIBRE", "PRESETS", "apply_preset", "biological_granule_count"]

#: Granule cells per mossy fibre: MF -> GrC divergence ~460 over 4 claws per granule cell
#: (SCIENCE.md section 4; Eccles et al. 1967; Jakab & Hamori 1988).
GRANULE_PER_MOSSY_FIBRE = 460 / 4


def biological_granule_count(address_bits: int) -> int:
    """Granule cells for ``2 * address_bits`` mossy fibres at the anatomical divergence."""
    return round(2 * address_bits * GRANULE_PER_MOSSY_FIBRE)


def _kanerva(base: CerebellumParams) -> CerebellumParams:
    return replace(base, preset="kanerva", mossy=MossyFibreParams(),
                   granule=GranuleParams(n=base.granule.n), golgi=GolgiParams())


def _mushroom_body(base: CerebellumParams) -> CerebellumParams:
    return replace(
        base,
        address_bits=50,
        value_bits=2,
        preset="mushroom_body",
        mossy=MossyFibreParams(rails="one", activity=0.45),
        granule=GranuleParams(n=2000, design="selected", inputs=6, mismatches=1,
                              coding_level=None),
        golgi=GolgiParams(ratio=2000, minimum=1, inputs_per_granule=1, feedforward=False,
                          feedback_drive=0.1),
    )


def _biological(base: CerebellumParams) -> CerebellumParams:
    """Four-claw granule cells, Poisson mossy fibres with a tonic background, Golgi loop.

    Mossy fibres fire tonically (``background``) at the mean rate, 45 Hz; during a stimulus
    on rails fire at 75 Hz and off rails at 15 Hz: rates of tens of Hz at rest rising to
    100-200 Hz (and more) when driven (van Kan et al. 1993; Arenz et al. 2008; Rancz et al.
    2007). Granule cells: 2 coincident MF EPSPs cross threshold from rest (Chadderton et al.
    2004: 2-4), tonic GABA_A 0.5 nS (Brickley et al. 1996; Hamann et al. 2002), Golgi IPSC
    decay 15 ms (phasic + spillover, Rossi & Hamann 1998). Golgi cells (GrC:GoC 430:1, 4 per
    GrC): pacemakers at 2 Hz (Dieudonne 1998; Forti et al. 2006), linear f-I (perfect
    integrators), feedforward ``mf_drive`` 0.9 (GoC rate ~ 2 Hz + 1.8 x the mean MF rate),
    GrC feedback ``feedback_drive`` 0.02 (a GoC threshold per 50 GrC spikes), 0.85 nS per
    GoC spike.
    """
    stimulus, tau_inh = 45 * ms, 15 * ms
    return replace(
        base,
        preset="biological",
        mossy=MossyFibreParams(rate=75 * Hz, off_rate=15 * Hz, firing="poisson",
                               stimulus=stimulus, background=True),
        granule=GranuleParams(n=biological_granule_count(base.address_bits),
                              design="selected", inputs=4, mismatches=0, coding_level=None,
                              coincidence=2, g_tonic=0.5 * nS, tau_inh=tau_inh),
        golgi=GolgiParams(mode="rate", leaky=False, spontaneous_rate=2 * Hz, mf_drive=0.9,
                          feedback_drive=0.02, conductance=0.85 * nS),
    )


_BUILDERS = {"kanerva": _kanerva, "biological": _biological, "mushroom_body": _mushroom_body}


def apply_preset(base: CerebellumParams, name: str) -> CerebellumParams:
    """``base`` with the biology of preset ``name`` (module docstring).

    Raises
    ------
    ValueError
        For a name that is not a preset (the known ones listed).
    """
    if not isinstance(name, str) or name not in _BUILDERS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
    return _BUILDERS[name](base)
