"""Hypotheses about the cerebellar microzone as circuit variants.

A hypothesis is a named change to a :class:`~circuits.cerebellum.params.CerebellumParams`:
the same Brian2 circuit, inputs and seeds, with the mechanism the hypothesis is about
replaced. What each hypothesis *predicts* is never written here: it comes from running the
variants side by side (:mod:`mapping.protocols`). ``expects`` says why a hypothesis is worth
testing, in the words of the papers that argue it.

``H0`` (``sdm``)
    The circuit as it is: a fixed sparse granule code held by the Golgi loop, PF->PC
    plasticity gated by the climbing fibre, a conflicting write overwrites (Marr 1969; Albus
    1971; Kanerva 1988; Ito 2001).
``H1`` (``dense_code``)
    A dense granule code: Golgi inhibition a third as strong, so many more granule cells
    fire per cue and cue representations overlap (dense task-related granule-cell activity
    imaged in vivo: Giovannucci et al. 2017; Wagner et al. 2017; Knogler et al. 2017). The
    plastic variant of H1 (MF->GrC or Golgi plasticity) is not built yet.
``H2`` (``two_sites``)
    Two learning sites, in Medina & Mauk's (2000) form: the cortex (CF-gated PF->PC
    plasticity, as H0) and the nuclei, whose mossy-fibre synapses learn in the pauses of
    their Purkinje cell, and without which the nuclei do not produce the output. A nuclear
    cell's tonic drive is lower than H0's (``nuclei.margin`` ``NUCLEAR_MARGIN``: it fires
    after an 80 ms Purkinje silence, not 35 ms), so a pause that makes H0's fire is not enough;
    at each Purkinje silence as long as the one that makes H0's nucleus fire
    (``nuclei.learning_pause``), whether or not the nuclear cell fires, the cue's active
    fibres potentiate and its inactive ones depress (a covariance rule; MF->nuclear LTP
    in pauses of Purkinje inhibition: Medina & Mauk 2000; Pugh & Raman 2006; LTD: Zhang &
    Linden 2006). The learned mossy drive then lets the cell fire in the cortex's pauses:
    acquisition waits for the slower nuclear site. Extinction restores the Purkinje
    cell's firing, so there are no pauses to learn in and the nuclear trace stays, masked
    (Medina, Garcia & Mauk 2001); on re-learning only the cortex has to learn again, so
    the output returns faster than it first appeared (savings: Napier, Macrae & Kehoe
    1992; the nucleus's own learned responses: Ohyama et al. 2006).
``H3`` (``opposing_extinction``)
    Extinction as a separate, opposing memory: potentiation of parallel-fibre input
    without a climbing fibre is stored apart from the climbing-fibre-paired depression (as
    a depression of the same fibres' input to the molecular-layer interneurons that inhibit
    the Purkinje cell: Jorntell & Ekerot 2002, reciprocal PF->PC / PF->MLI plasticity) and
    decays with ``OPPOSING_TAU``, while the PF->PC trace itself persists through extinction
    (``plasticity.opposing``). Extinction as new, more labile learning that leaves the
    original memory in place, so the response recovers with time (spontaneous recovery:
    Pavlov 1927; Bouton 2004; in the fly mushroom body, an opposing memory in another
    output compartment: Felsenberg et al. 2018). Without decay and clipping the drive of
    every Purkinje cell equals H0's at every moment; the decay is the only mechanism that
    can make them differ.
``H4`` (``graded_teaching``)
    A graded teaching signal: the climbing fibre fires a burst of up to ``GRADED_BURST``
    spikes, each a complex spike that depresses (``climbing.burst``; the depression per
    spike is ``1 / GRADED_BURST`` of H0's, so a full burst teaches as much as H0's single
    spike), and the burst follows the output's error: the olive fires less once the nuclei
    produce the taught output (``climbing.graded``; closed loop in
    :mod:`mapping.protocols`). Complex-spike duration grades PF->PC depression and learning
    (Yang & Lisberger 2014; olivary axonal bursts of 1-5 spikes: Mathy et al. 2009; graded
    climbing-fibre signals: Najafi & Medina 2013); nucleo-olivary inhibition closes the
    loop (Kim, Krupa & Thompson 1998; Medina, Nores & Mauk 2002). H0's climbing fibre is
    all-or-none and fires on every taught presentation, learned or not.
``H5`` (``no_normalisation``)
    Golgi inhibition that does not follow the input: Golgi cells fire at a fixed rate, no
    feedforward or feedback; the rate starts at what the loop's pacemaker and feedforward
    drive give at the circuit's mean mossy-fibre rate and is then matched so the coding
    level equals the loop's at that input (:func:`match_golgi_rate`). The level rises and
    falls with the input instead of being normalised (the normalising role of Golgi
    feedforward inhibition: Marr 1969; Albus 1971; Billings et al. 2014; its absence:
    Duguid et al. 2012 on tonic inhibition setting a fixed threshold).

Only asynchronous circuits with a rate-coded Golgi loop (``golgi.mode = "rate"``, the
``biological`` preset) have the loop H1 and H5 change; they refuse other cerebellar circuits.

In the mushroom body (the ``mushroom_body`` preset: Kenyon cells for granule cells, the APL
for Golgi cells, output neurons for Purkinje cells, dopaminergic neurons for climbing
fibres) the hypotheses take the fly's form (:attr:`Hypothesis.mushroom_body`):

``H0``
    KC->MBON depression gated by the output's dopaminergic neuron, a sparse Kenyon-cell code
    held by the APL (Heisenberg 2003; Aso et al. 2014; Lin et al. 2014).
``H1``
    A dense Kenyon-cell code: a Kenyon cell fires with one active claw fewer (4 of its 6
    inputs instead of 5), so many more Kenyon cells answer each odour (a KC needs several
    claws active: Gruntman & Turner 2013; denser KC codes discriminate odours worse: Lin
    et al. 2014).
``H3``
    The same opposing trace as in the cerebellum: extinction stored apart, in another
    output compartment, and labile (Felsenberg et al. 2018).
``H4``
    The dopaminergic teaching signal graded by the output's error, as in the cerebellum
    (output neurons feed back onto the dopaminergic neurons: Ichinose et al. 2015;
    Felsenberg et al. 2017).
``H5``
    No APL normalisation: the APL removed (its block makes KC responses denser and less
    odour-specific as the input grows: Papadopoulou et al. 2011; Lin et al. 2014).

``H2`` has no mushroom-body form: projection neurons do not synapse onto the output
neurons, so there is no second site of the kind H2 names; it refuses the preset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from brian2 import Hz, ms, mV, second

from circuits.cerebellum.params import CerebellumParams, derive

__all__ = ["HYPOTHESES", "Hypothesis", "get_hypothesis", "match_golgi_rate"]


@dataclass(frozen=True)
class Hypothesis:
    """One hypothesis: a name, what it says, where it comes from, and the circuit change."""

    name: str  #: short label used in tables ("H0", "H1", ...)
    key: str  #: the name a configuration uses ("sdm", "dense_code", ...)
    title: str  #: one line
    mechanism: str  #: what differs in the circuit
    sources: tuple[str, ...]  #: the literature that argues it
    change: Callable[[CerebellumParams], CerebellumParams]
    #: what differs in the mushroom-body preset ("": the hypothesis has no form there)
    mushroom_body: str = ""
    #: matches the changed circuit to the unchanged one where the hypothesis says they agree
    #: (``(reference, changed, seed) -> changed``; simulates), or None
    match: Callable[[CerebellumParams, CerebellumParams, int], CerebellumParams] | None = None
    #: the change in the mushroom-body preset (None: ``change`` itself)
    fly_change: Callable[[CerebellumParams], CerebellumParams] | None = None

    def mechanism_in(self, params: CerebellumParams) -> str:
        """What this hypothesis changes in the circuit ``params`` (its preparation's words)."""
        return self.mushroom_body if params.preset == "mushroom_body" else self.mechanism

    def apply(self, params: CerebellumParams) -> CerebellumParams:
        """``params`` with this hypothesis's mechanism (validated; no simulation).

        The mushroom-body preset gets the fly's form (``fly_change``), every other circuit
        ``change``.
        """
        params.validate()
        fly = params.preset == "mushroom_body" and self.fly_change is not None
        out = (self.fly_change if fly else self.change)(params)
        out.validate()
        return out

    def circuit(self, params: CerebellumParams, *, seed: int = 0) -> CerebellumParams:
        """The circuit to run: :meth:`apply`, then matched to ``params`` if asked.

        H5 is matched to the same coding level at the circuit's own input rate (simulates
        the granular layer a few times, :func:`match_golgi_rate`).
        """
        out = self.apply(params)
        return out if self.match is None else self.match(params, out, seed)


def _needs_rate_loop(params: CerebellumParams, key: str) -> None:
    if params.golgi.mode != "rate" or not params.golgi.enabled:
        raise ValueError(f"hypothesis {key!r} changes the rate-coded Golgi loop; the circuit "
                         f"has golgi.mode = {params.golgi.mode!r} (enabled: "
                         f"{params.golgi.enabled}): use circuit.preset = 'biological'")


def _sdm(params: CerebellumParams) -> CerebellumParams:
    return params


#: H1: the Golgi conductance divided by this (a dense code)
DENSE_FACTOR = 3.0


def _fewer_claws(params: CerebellumParams) -> CerebellumParams:
    """H1 in the mushroom body: Kenyon cells fire with one active claw fewer."""
    granule = params.granule
    if granule.mismatches + 1 >= granule.inputs:
        raise ValueError(f"hypothesis 'dense_code': Kenyon cells with {granule.inputs} "
                         f"inputs already fire with {granule.inputs - granule.mismatches} "
                         f"active; one fewer would be none")
    return replace(params, granule=replace(granule, mismatches=granule.mismatches + 1))


def _dense_code(params: CerebellumParams) -> CerebellumParams:
    _needs_rate_loop(params, "dense_code")
    golgi = params.golgi
    return replace(params, golgi=replace(golgi, conductance=golgi.conductance / DENSE_FACTOR))


#: H2: MF -> nuclear weight change per Purkinje pause per unit MF trace above the mean, and
#: the largest weight (``network.mossy_nuclear_synapses``). Fully learned, a cue's 32 active
#: rails at 170 Hz (+0.04 mV) and its 32 inactive ones at 10 Hz (-0.04 mV) raise a nuclear
#: cell's drive by 10 ms x 32 x 160 Hz x 0.04 mV = 2 mV during the cue, so it fires 24 ms
#: after a Purkinje spike instead of 80 ms: in any learned pause, not at the Purkinje cell's
#: baseline interval (20 ms). A pause moves an active rail by ~0.004 x 1.6 mV, so the bound
#: takes several pauses, i.e. several trials. In the background the learned weights sum to
#: 0 on average.
NUCLEAR_LEARNING, NUCLEAR_MAX = 0.004 * mV, 0.04 * mV
#: H2: Purkinje silence beyond the baseline interval after which a naive nuclear cell fires
#: (H0's biological circuit: 15 ms); with 60 ms it needs an 80 ms silence instead of 35 ms,
#: so the output waits for the learned mossy drive (Medina & Mauk 2000)
NUCLEAR_MARGIN = 60 * ms


def _no_second_site(params: CerebellumParams) -> CerebellumParams:
    """H2 in the mushroom body: refused, with the reason."""
    raise ValueError("hypothesis 'two_sites' has no mushroom-body form: projection neurons "
                     "do not synapse onto the output neurons, so there is no second "
                     "learning site of the kind it names")


def _two_sites(params: CerebellumParams) -> CerebellumParams:
    """Nuclei that learn in the pauses that make ``params``' nuclei fire, and need to."""
    nu = params.nuclei
    pause = derive(params).pc_interval + nu.margin
    return replace(params, nuclei=replace(nu, mf_learning=NUCLEAR_LEARNING, mf_max=NUCLEAR_MAX,
                                          margin=max(NUCLEAR_MARGIN, nu.margin),
                                          learning_pause=pause))


#: H3: decay time constant of the opposing (extinction) trace. Simulated time is compressed
#: (presentations 120-250 ms apart instead of seconds to minutes), so this stands for the
#: hours over which spontaneous recovery develops (Bouton 2004), scaled with the trial spacing.
OPPOSING_TAU = 5.0 * second


def _opposing_extinction(params: CerebellumParams) -> CerebellumParams:
    return replace(params, plasticity=replace(params.plasticity, opposing=True,
                                              opposing_tau=OPPOSING_TAU))


#: H4: most spikes of one climbing-fibre burst (olivary axonal bursts of 1-5 spikes: Mathy
#: et al. 2009); the depression per spike is divided by it
GRADED_BURST = 4


def _graded_teaching(params: CerebellumParams) -> CerebellumParams:
    pl = params.plasticity
    return replace(params, climbing=replace(params.climbing, burst=GRADED_BURST, graded=True),
                   plasticity=replace(pl, ltd_ratio=pl.ltd_ratio / GRADED_BURST))


def _no_apl(params: CerebellumParams) -> CerebellumParams:
    """H5 in the mushroom body: the APL removed (``golgi.enabled = False``)."""
    return replace(params, golgi=replace(params.golgi, enabled=False))


def _no_normalisation(params: CerebellumParams) -> CerebellumParams:
    r"""Golgi cells at a fixed rate, without feedforward or feedback.

    :math:`r = 1 / (t_{ref} + 1 / D)`, with :math:`D = 1 / (1/r_0 - t_{ref}) +
    2\,\mathrm{mf\_drive}\,\bar f` the drive (thresholds per second) that pacemaker and
    mossy fibres give a perfect-integrator Golgi cell at the mean mossy-fibre rate
    :math:`\bar f` (two rails; one rail: :math:`\mathrm{mf\_drive}\,\bar f / a`).
    """
    _needs_rate_loop(params, "no_normalisation")
    golgi = params.golgi
    if golgi.leaky:
        raise ValueError("hypothesis 'no_normalisation' needs perfect-integrator Golgi cells "
                         "(golgi.leaky = false, as in the biological preset)")
    refractory = float(golgi.refractory)
    pacemaker = float(golgi.pacemaker / (golgi.V_th - golgi.E_L))  # thresholds per second
    mean_rate = float(params.mossy.mean_rate)
    rails = 2.0 if params.mossy.rails == "two" else 1.0 / params.mossy.activity
    drive = pacemaker + rails * golgi.mf_drive * mean_rate
    if drive <= 0:
        raise ValueError("hypothesis 'no_normalisation': the Golgi loop has no drive to fix "
                         "(golgi.spontaneous_rate and golgi.mf_drive are both 0)")
    rate = 1 / (refractory + 1 / drive)
    return replace(params, golgi=replace(golgi, mf_drive=0.0, feedback_drive=0.0,
                                         spontaneous_rate=rate * Hz))


def match_golgi_rate(reference: CerebellumParams, fixed: CerebellumParams, seed: int, *,
                     presentations: int = 8, circuits: int = 3, iterations: int = 10,
                     span: float = 4.0) -> CerebellumParams:
    """``fixed`` with its Golgi rate set so its mean coding level equals ``reference``'s.

    Both are measured at the circuit's own mean input rate, averaged over ``circuits``
    wirings and spike draws (seeds ``seed``, ``seed + 1``, ...) of ``presentations`` random
    keys each, the same for both; bisection on the log of ``golgi.spontaneous_rate`` within
    a factor ``span`` of the starting rate (the level falls as the rate rises). So H5 agrees
    with the loop on average at the input it was set at; without the loop its level varies
    more from one circuit to the next. The mushroom body's H5 (no APL) is not matched:
    ``fixed`` is returned as it is.

    Raises
    ------
    ValueError
        If the reference level lies outside what the rate range reaches.
    """
    if fixed.preset == "mushroom_body":
        return fixed
    from circuits.cerebellum.coding import bisect_inhibition, presentation_levels
    from models.seeding import numpy_rng

    draws = [(s, numpy_rng(s, "hypothesis_level_keys").integers(
        0, 2, (presentations, reference.address_bits))) for s in range(seed, seed + circuits)]

    def level(params: CerebellumParams) -> float:
        return float(np.mean([presentation_levels(params, keys, s)[0].mean()
                              for s, keys in draws]))

    target = level(reference)
    start = fixed.golgi.spontaneous_rate
    ceiling = float(0.9 / fixed.golgi.refractory)  # the refractory period bounds the rate

    def at(log_factor: float) -> tuple[CerebellumParams, float]:
        rate = min(float(start) * float(np.exp(log_factor)), ceiling) * Hz
        p = replace(fixed, golgi=replace(fixed.golgi, spontaneous_rate=rate))
        return p, level(p)

    found, _ = bisect_inhibition(
        at, target, span=span, iterations=iterations, miss=lambda m: abs(m - target),
        refusal=lambda weakest, strongest: (
            f"no fixed Golgi rate within {span:g}x of {start} gives the reference coding "
            f"level {target:.4g} ({weakest:.4g} to {strongest:.4g})"))
    return found


HYPOTHESES: dict[str, Hypothesis] = {
    h.key: h for h in (
        Hypothesis("H0", "sdm", "sparse distributed memory",
                   "fixed sparse granule code held by the Golgi loop; climbing-fibre-gated "
                   "PF->PC plasticity; a conflicting write overwrites",
                   ("Marr 1969", "Albus 1971", "Kanerva 1988", "Ito 2001", "Heisenberg 2003",
                    "Aso et al. 2014"), _sdm,
                   "sparse Kenyon-cell code held by the APL; KC->MBON depression gated by "
                   "the output's dopaminergic neuron; a conflicting pairing overwrites"),
        Hypothesis("H1", "dense_code", "dense granule code",
                   f"Golgi conductance / {DENSE_FACTOR:g}: many more granule cells per cue, "
                   "overlapping cue representations",
                   ("Giovannucci et al. 2017", "Wagner et al. 2017", "Knogler et al. 2017",
                    "Gruntman & Turner 2013", "Lin et al. 2014"),
                   _dense_code,
                   "Kenyon cells fire with one active claw fewer (4 of 6): many more of "
                   "them per odour, overlapping odour representations",
                   fly_change=_fewer_claws),
        Hypothesis("H2", "two_sites", "two learning sites",
                   "nuclear cells need a learned mossy drive to fire in a Purkinje pause "
                   f"(margin {float(NUCLEAR_MARGIN / ms):g} ms); MF->nuclear synapses learn "
                   "by covariance in every pause (the cue's active fibres potentiate, its "
                   "inactive ones depress); nothing undoes them on extinction",
                   ("Medina & Mauk 2000", "Medina, Garcia & Mauk 2001", "Ohyama et al. 2006",
                    "Pugh & Raman 2006", "Zhang & Linden 2006"), _two_sites,
                   fly_change=_no_second_site),
        Hypothesis("H3", "opposing_extinction", "extinction as an opposing memory",
                   "PF potentiation without a CF stored apart from the CF-paired PF->PC "
                   f"depression and decaying (tau {float(OPPOSING_TAU / second):g} s); the "
                   "PF->PC trace persists "
                   "through extinction",
                   ("Jorntell & Ekerot 2002", "Bouton 2004", "Felsenberg et al. 2018"),
                   _opposing_extinction,
                   "KC potentiation without dopamine stored apart (another output "
                   "compartment) and decaying (tau "
                   f"{float(OPPOSING_TAU / second):g} s); the KC->MBON depression persists "
                   "through extinction"),
        Hypothesis("H4", "graded_teaching", "graded teaching signal",
                   f"climbing-fibre bursts of up to {GRADED_BURST} spikes, each depressing "
                   f"1/{GRADED_BURST} of H0's; the burst follows the output's error (closed "
                   "loop): teaching stops once the taught output appears",
                   ("Yang & Lisberger 2014", "Mathy et al. 2009", "Najafi & Medina 2013",
                    "Kim, Krupa & Thompson 1998", "Medina, Nores & Mauk 2002"),
                   _graded_teaching,
                   f"dopaminergic bursts of up to {GRADED_BURST} spikes, each depressing "
                   f"1/{GRADED_BURST} of H0's, following the output's error (MBON->DAN "
                   "feedback)"),
        Hypothesis("H5", "no_normalisation", "no Golgi normalisation",
                   "Golgi cells at one fixed rate, matched to the loop's coding level at "
                   "the circuit's own input: no feedforward or feedback, the coding level "
                   "follows the input",
                   ("Marr 1969", "Albus 1971", "Billings et al. 2014", "Duguid et al. 2012",
                    "Papadopoulou et al. 2011", "Lin et al. 2014"),
                   _no_normalisation,
                   "no APL: Kenyon-cell activity is not normalised, KC spikes summate over "
                   "the odour's volleys", match_golgi_rate, fly_change=_no_apl),
    )
}


def get_hypothesis(key: str) -> Hypothesis:
    """The hypothesis called ``key`` (:data:`HYPOTHESES`).

    Raises
    ------
    ValueError
        For an unknown key, naming the known ones.
    """
    if not isinstance(key, str) or key not in HYPOTHESES:
        raise ValueError(f"unknown hypothesis {key!r}; known: {', '.join(HYPOTHESES)}")
    return HYPOTHESES[key]
