"""Parameters of the cerebellar SDM circuit (and its mushroom-body preset).

One frozen dataclass per population, gathered in :class:`CerebellumParams`. Every field
carries its physical unit (Brian2 quantities) and a comment with its symbol and source.
:func:`derive` turns a parameter set into the quantities the network needs (granule
threshold weight, Purkinje tonic current, nuclear drive, delays) and raises one clear
:class:`ValueError` naming the field for an infeasible combination.

Presets (:func:`apply_preset`, ``--set circuit.preset=NAME``) choose the biology:
``kanerva`` (the defaults below), ``biological``, ``mushroom_body``.

Design of the ``kanerva`` circuit (see ``docs`` in the module :mod:`circuits.cerebellum`):

- Mossy fibres carry each address bit on two rails (on/off). In the ``regular`` firing mode
  all active rails fire together every ``1/rate`` (volleys) during the stimulus.
- A granule cell sums the rails of its address (full design: all ``n``; selected design:
  ``k`` rails). Its synaptic weight is calibrated so that one volley brings it over threshold
  exactly when at least ``c* = n - d`` of its rails are active (``d``: Hamming radius).
- Golgi cells (feedforward from mossy fibres, feedback from granule cells) fire a few ms
  after the first volley and inhibit granule cells with an IPSC that outlasts the
  stimulus: later volleys cannot add to the first, so the coding level is the radius-``d``
  ball whatever the mossy-fibre rate. Without Golgi cells, volleys summate and the coding
  level rises with the rate.
- Each active granule cell fires one spike per presentation; its parallel fibre contacts
  every Purkinje cell (weight ``w``) and one molecular-layer interneuron, which relays it as
  one spike to every Purkinje cell with the baseline weight ``w0``. The Purkinje cell
  therefore receives ``sum_i (w_i - w0)``: the SDM sum of counters with
  ``counter = (w0 - w) / ltp``.
- Plasticity: a PF spike potentiates by ``ltp``; a climbing-fibre spike depresses every
  PF synapse by ``ltd * K(dt)``, ``K`` a normalised gamma-shaped window of the PF-CF
  interval (peak at ``window_peak``). With ``ltd = 2 ltp`` a write with the climbing fibre
  changes the weight by ``-ltp`` and one without by ``+ltp``: Kanerva's bipolar counter.
  Weights stay within ``[0, w0 + headroom * ltp]``; ``headroom = 1`` keeps a single write's
  ``+-ltp`` but lets repeated writes without the climbing fibre raise a weight by one unit
  at most, so a synapse they restored re-learns exactly as a naive one.
- Read: a Purkinje cell whose counters sum to > 0 receives net inhibition and pauses; its
  nuclear cell, reset by every Purkinje spike, fires when the pause exceeds the baseline
  inter-spike interval by ``margin``: the nuclear cell fires for a stored 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from brian2 import Hz, Quantity, ms, mV, nS, pA, pF, second

import circuits.units  # noqa: F401  (registers quantities with the config loader)
from circuits._fields import check_choice_field as _choice
from circuits._fields import check_dimensions as _dimensions
from circuits._fields import check_int_at_least as _int_at_least
from circuits._fields import check_positive as _positive
from circuits._fields import optional_quantity_field as _optional_q
from circuits._fields import quantity_field as _q
from circuits.backend import BACKENDS
from circuits.cerebellum.derived import (
    Derived,
    derive,
    granule_rest,
    granule_unit_response,
    window_kernel,
)

__all__ = [
    "GRANULE_KERNELS",
    "GRANULE_PER_MOSSY_FIBRE",
    "PRESETS",
    "CerebellumParams",
    "ClimbingFibreParams",
    "Derived",
    "GolgiParams",
    "GranuleParams",
    "InterneuronParams",
    "MossyFibreParams",
    "NucleiParams",
    "PlasticityParams",
    "ProtocolParams",
    "PurkinjeParams",
    "apply_preset",
    "biological",
    "biological_granule_count",
    "derive",
    "granule_rest",
    "granule_unit_response",
    "mushroom_body",
    "window_kernel",
]


@dataclass(frozen=True)
class MossyFibreParams:
    """Mossy fibres (projection neurons in the mushroom body)."""

    rate: Quantity = _q(50 * Hz)  # f_MF: rate of an active rail (MF 10-200 Hz in vivo)
    off_rate: Quantity = _q(0 * Hz)  # rate of an inactive rail
    firing: str = "regular"  # "regular": synchronous volleys every 1/rate; "poisson":
    # asynchronous renewal trains (Poisson, or gamma of shape ``regularity``)
    regularity: float = 1.0  # kappa: shape of the gamma inter-spike-interval distribution of
    # asynchronous trains, CV = 1/sqrt(kappa); 1 is Poisson. Some MF sources fire far more
    # regularly than Poisson: regular vestibular afferents (peripheral zones, tonic signals)
    # have rate-normalised CV* < 0.1 (Goldberg et al. 1984; Eatock & Songer 2011)
    rails: str = "two"  # "two": on and off rail per bit (Kanerva 0/1 matching); "one": on only
    activity: float = 0.5  # expected fraction of 1 bits in inputs (sets one-rail expectations)
    stimulus: Quantity = _q(30 * ms)  # T_stim: how long active rails fire per presentation
    calibration_rate: Quantity | None = _optional_q(1 * Hz)  # rate the granule weights are
    # tuned for (None: ``rate``); Poisson input only, volleys need no rate. Set it to study inputs
    # arriving at rates the circuit was not tuned for.
    background: bool = False  # True (Poisson only): outside stimuli (between them and in the
    # protocol.lead_in before the first) every rail fires Poisson at ``mean_rate``, so the
    # layer's mean input never changes and a key only changes which fibres fire fast (MFs fire
    # tonically in vivo; a stimulus modulates their rates: van Kan et al. 1993; Arenz et al.
    # 2008). False: rails are silent outside stimuli

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        _positive("mossy.rate", self.rate)
        if self.calibration_rate is not None:
            _dimensions("mossy.calibration_rate", self.calibration_rate, Hz)
            _positive("mossy.calibration_rate", self.calibration_rate)
        if float(self.off_rate) < 0:
            raise ValueError(f"mossy.off_rate must be >= 0 Hz, got {self.off_rate}")
        if self.off_rate > self.rate:
            raise ValueError(f"mossy.off_rate ({self.off_rate}) must not exceed mossy.rate "
                             f"({self.rate}): the key's active rails fire faster")
        _choice("mossy.firing", self.firing, ("regular", "poisson"))
        if not (isinstance(self.regularity, (int, float)) and not isinstance(self.regularity, bool)
                and math.isfinite(self.regularity)
                and self.regularity > 0):
            raise ValueError(f"mossy.regularity (gamma shape of the inter-spike intervals) "
                             f"must be a finite number > 0, got {self.regularity!r}")
        _choice("mossy.rails", self.rails, ("two", "one"))
        if not 0 < self.activity < 1:
            raise ValueError(f"mossy.activity must lie in (0, 1), got {self.activity}")
        _positive("mossy.stimulus", self.stimulus)
        if self.background and self.firing != "poisson":
            raise ValueError("mossy.background needs mossy.firing = 'poisson'")

    @property
    def mean_rate(self) -> Quantity:
        """Mean rate over all rails during a stimulus (and of the background).

        Two rails: one of each pair is active, ``(rate + off_rate) / 2``; one rail:
        ``activity * rate + (1 - activity) * off_rate``.
        """
        share = 0.5 if self.rails == "two" else self.activity
        return share * self.rate + (1 - share) * self.off_rate


@dataclass(frozen=True)
class GranuleParams:
    """Granule cells: the hard locations (Kanerva) or selected-coordinate cells (Jaeckel)."""

    n: int = 4000  # r: number of granule cells (hard locations)
    design: str = "full"  # "full": all n bits (Kanerva 1988); "selected": k bits (Jaeckel 1989)
    inputs: int = 4  # k: rails per cell in the selected design (3.9 MF per GrC in mouse)
    mismatches: int = 0  # selected design: inactive rails tolerated (0: all k must be active)
    radius: int | None = None  # d: Hamming radius of the full design (None: from coding level)
    coding_level: float | None = 0.03  # target fraction of active cells (Golgi-held)
    C: Quantity = _q(3 * pF)  # C_m: membrane capacitance (D'Angelo et al. 1995: ~3 pF)
    tau_m: Quantity = _q(4 * ms)  # tau_m: membrane time constant (GrC: high input resistance)
    E_L: Quantity = _q(-70 * mV)  # resting potential
    V_th: Quantity = _q(-40 * mV)  # spike threshold
    V_reset: Quantity = _q(-70 * mV)  # reset potential
    refractory: Quantity = _q(2 * ms)  # absolute refractory period
    tau_e: Quantity = _q(1 * ms)  # tau_AMPA: MF->GrC synaptic current decay (fast EPSC)
    tau_inh: Quantity = _q(10 * ms)  # Golgi IPSC decay (phasic + spillover, Rossi 1998)
    tau_slow: Quantity = _q(30 * ms)  # tau_NMDA: decay of the slow MF->GrC current; the NMDA
    # EPSC of mature GrCs decays in tens of ms (D'Angelo et al. 1995; Cathala et al. 2003)
    slow_share: float = 0.0  # share of the MF->GrC EPSC charge carried by the slow current
    # (golgi.mode="rate" only; 0: none). NMDA receptors carry a large share of the charge at
    # MF->GrC synapses and, with their incomplete Mg2+ block in GrCs, act near rest
    # (D'Angelo et al. 1995; Schwartz et al. 2012); modelled as a linear current
    mf_delay: Quantity = _q(0.5 * ms)  # MF->GrC synaptic delay
    g_tonic: Quantity = _q(0 * nS)  # g_tonic: tonic GABA_A (alpha6/delta, extrasynaptic)
    # conductance; used with golgi.mode="rate" (0: none). Adult rat GrCs carry a tonic GABA_A
    # conductance of a few tenths of nS that lowers their input resistance and MF->GrC gain
    # (Brickley et al. 1996; Hamann et al. 2002; Brickley et al. 2001: ~0.5 nS)
    E_GABA: Quantity = _q(-75 * mV)  # E_GABA: GABA_A reversal in GrCs, near rest (shunting;
    # Brickley et al. 1996: ~-75 mV); golgi.mode="rate" only
    coincidence: int | None = None  # n_co: MF EPSPs that, arriving together on a resting GrC
    # (with its tonic conductance), just cross threshold (n_co - 1 do not); Poisson input only.
    # None: calibrate for mossy.calibration_rate. In vivo GrCs need ~2-4 coincident MF inputs
    # (Chadderton et al. 2004; D'Angelo et al. 1995): a synaptic weight, not a rate
    release_probability: float = 1.0  # P_rel: each MF->GrC synapse releases on a spike with
    # this probability, independently (selected design). 1: reliable, the deterministic
    # design; MF->GrC synapses release with P ~ 0.5 (Sargent et al. 2005). With volleys a
    # cell fires when >= k - mismatches of its matched inputs release: the coding level is
    # P(Bin(k, P_rel / 2) >= k - mismatches)

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        _int_at_least("granule.n", self.n, 1)
        _choice("granule.design", self.design, ("full", "selected"))
        _int_at_least("granule.inputs", self.inputs, 1)
        _int_at_least("granule.mismatches", self.mismatches, 0)
        if self.mismatches >= self.inputs:
            raise ValueError(f"granule.mismatches ({self.mismatches}) must be smaller than "
                             f"granule.inputs ({self.inputs})")
        if self.radius is not None:
            _int_at_least("granule.radius", self.radius, 0)
        if self.coding_level is not None and not 0 < self.coding_level < 1:
            raise ValueError(f"granule.coding_level must be in (0, 1), got {self.coding_level}")
        if self.design == "full" and (self.radius is None) == (self.coding_level is None):
            raise ValueError("give exactly one of granule.radius and granule.coding_level "
                             "for the full design")
        for name in ("C", "tau_m", "tau_e", "tau_inh", "tau_slow"):
            _positive(f"granule.{name}", getattr(self, name))
        if not (isinstance(self.slow_share, (int, float)) and not isinstance(self.slow_share, bool)
                and 0 <= self.slow_share < 1):
            raise ValueError(f"granule.slow_share must lie in [0, 1), got {self.slow_share!r}")
        if not self.V_th > self.E_L:
            raise ValueError("granule.V_th must be above granule.E_L")
        _dimensions("granule.g_tonic", self.g_tonic, nS)
        if float(self.g_tonic) < 0:
            raise ValueError(f"granule.g_tonic must be >= 0 nS, got {self.g_tonic}")
        _dimensions("granule.E_GABA", self.E_GABA, mV)
        if self.coincidence is not None:
            _int_at_least("granule.coincidence", self.coincidence, 1)
        if not 0 < self.release_probability <= 1:
            raise ValueError(f"granule.release_probability must lie in (0, 1], "
                             f"got {self.release_probability}")
        if self.release_probability < 1 and self.design != "selected":
            raise ValueError("granule.release_probability < 1 needs granule.design = "
                             "'selected' (the full design's theory assumes reliable synapses)")
        if self.tau_e >= self.tau_m:
            raise ValueError("granule.tau_e must be shorter than granule.tau_m")


@dataclass(frozen=True)
class GolgiParams:
    """Golgi cells (APL in the mushroom body): feedforward and feedback inhibition."""

    enabled: bool = True  # False: hard radius, volleys summate (coding level rises with rate)
    ratio: int = 430  # GrC per GoC (GoC:GrC ~ 1:430)
    minimum: int = 4  # at least this many Golgi cells
    feedforward: bool = True  # MF -> GoC drive
    feedback: bool = True  # GrC -> GoC drive
    inputs_per_granule: int = 4  # GoC synapsing on each GrC
    C: Quantity = _q(50 * pF)  # GoC capacitance
    tau_m: Quantity = _q(10 * ms)  # GoC membrane time constant
    E_L: Quantity = _q(-60 * mV)
    V_th: Quantity = _q(-50 * mV)
    V_reset: Quantity = _q(-60 * mV)
    refractory: Quantity = _q(2 * ms)
    mf_drive: float = 3.0  # one volley of active rails, in units of the GoC threshold
    feedback_drive: float = 0.05  # one GrC spike (per expected active GrC), in thresholds
    inhibition: Quantity = _q(30 * pA)  # I_GoC: inhibitory current jump per GoC spike
    mf_delay: Quantity = _q(0.5 * ms)  # MF -> GoC delay
    grc_delay: Quantity = _q(0.5 * ms)  # GrC -> GoC delay
    inhibition_delay: Quantity = _q(1.5 * ms)  # GoC -> GrC delay
    mode: str = "volley"  # "volley": current-based IPSC (``inhibition``) tuned for synchronous
    # volleys; "rate": for asynchronous (Poisson) MFs, conductance-based shunting inhibition
    # (``conductance``, reversal granule.E_GABA) on top of granule.g_tonic, from spontaneously
    # active GoCs whose rate follows the mean MF rate (feedforward) and GrC activity (feedback)
    spontaneous_rate: Quantity = _q(0 * Hz)  # r_GoC,0: pacemaker rate without input; GoCs
    # fire spontaneously at ~2-10 Hz (Dieudonne 1998; Forti et al. 2006). 0: silent at rest
    leaky: bool = True  # False: perfect integrator, whose rate grows linearly with its input
    # from the pacemaker rate (GoC f-I curves are close to linear from their spontaneous rate
    # up to ~100 Hz: Dieudonne 1998; Forti et al. 2006); True: LIF with tau_m
    conductance: Quantity = _q(0.3 * nS)  # g_GoC: GrC GABA_A conductance jump per GoC spike
    # (phasic IPSC + spillover, decaying with granule.tau_inh; Rossi & Hamann 1998: fast
    # component of a few ms plus a spillover component of tens of ms); mode "rate" only

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        _int_at_least("golgi.ratio", self.ratio, 1)
        _int_at_least("golgi.minimum", self.minimum, 1)
        _int_at_least("golgi.inputs_per_granule", self.inputs_per_granule, 1)
        for name in ("C", "tau_m", "inhibition"):
            _positive(f"golgi.{name}", getattr(self, name))
        if self.mf_drive < 0 or self.feedback_drive < 0:
            raise ValueError("golgi.mf_drive and golgi.feedback_drive must be >= 0")
        _choice("golgi.mode", self.mode, ("volley", "rate"))
        _dimensions("golgi.spontaneous_rate", self.spontaneous_rate, Hz)
        if float(self.spontaneous_rate) < 0:
            raise ValueError(f"golgi.spontaneous_rate must be >= 0 Hz, "
                             f"got {self.spontaneous_rate}")
        if float(self.spontaneous_rate) > 0 and self.refractory >= 1 / self.spontaneous_rate:
            raise ValueError("golgi.refractory must be shorter than 1/golgi.spontaneous_rate")
        _dimensions("golgi.conductance", self.conductance, nS)
        if float(self.conductance) < 0:
            raise ValueError(f"golgi.conductance must be >= 0 nS, got {self.conductance}")

    @property
    def pacemaker(self) -> Quantity:
        r"""Pacemaker drive that makes a GoC fire at ``spontaneous_rate`` without input.

        Leaky: the potential ``D`` (volts above ``E_L``) it relaxes to; it fires every
        refractory period plus :math:`\tau_m \ln(D / (D - \theta))`,
        :math:`\theta = V_{th} - E_L`, solved for ``D``. Perfect integrator: the slope
        :math:`\theta / (1/r_0 - t_{ref})` (volts per second).
        """
        theta = self.V_th - self.E_L
        if float(self.spontaneous_rate) <= 0:
            return 0 * mV if self.leaky else 0 * mV / second
        if not self.leaky:
            return theta / (1 / self.spontaneous_rate - self.refractory)
        free = float((1 / self.spontaneous_rate - self.refractory) / self.tau_m)
        return theta / (1 - math.exp(-free))


@dataclass(frozen=True)
class PurkinjeParams:
    """Purkinje cells (mushroom-body output neurons): one per output element."""

    C: Quantity = _q(200 * pF)  # C_m
    tau_m: Quantity = _q(20 * ms)  # membrane time constant
    E_L: Quantity = _q(-65 * mV)
    V_th: Quantity = _q(-50 * mV)
    V_reset: Quantity = _q(-65 * mV)
    refractory: Quantity = _q(2 * ms)
    rate: Quantity = _q(50 * Hz)  # baseline simple-spike rate (~50 Hz in vitro)
    tau_syn: Quantity = _q(10 * ms)  # PF and MLI synaptic current decay
    counter_gain: Quantity = _q(2 * mV)  # membrane kick of one counter unit (ltp of weight)
    V_floor: Quantity = _q(-85 * mV)  # lowest potential (bounds the pause after inhibition)
    pf_connectivity: float = 1.0  # fraction of granule cells contacting each Purkinje cell

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        for name in ("C", "tau_m", "rate", "tau_syn", "counter_gain"):
            _positive(f"purkinje.{name}", getattr(self, name))
        if not 0 < self.pf_connectivity <= 1:
            raise ValueError(f"purkinje.pf_connectivity must be in (0, 1], "
                             f"got {self.pf_connectivity}")
        if not self.V_th > self.E_L:
            raise ValueError("purkinje.V_th must be above purkinje.E_L")
        if not self.V_floor < self.E_L:
            raise ValueError("purkinje.V_floor must be below purkinje.E_L")
        if self.refractory >= 1 / self.rate:
            raise ValueError("purkinje.refractory must be shorter than 1/purkinje.rate")


@dataclass(frozen=True)
class InterneuronParams:
    """Molecular-layer interneurons (basket/stellate): feedforward inhibition of PCs.

    Modelled as linear relays: an integrator with threshold half a PF input; a spike
    transmits the number of PF inputs integrated since the last one (``round(v)``, then
    subtracted), so the inhibition a Purkinje cell receives is ``w0`` times its PF input
    count, arriving in the same step as the PF excitation.
    """

    granule_per_interneuron: int = 32  # PF inputs per MLI (sets the MLI count)
    pf_delay: Quantity = _q(0.5 * ms)  # PF -> MLI delay (MLI -> PC acts within the step)

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        _int_at_least("interneuron.granule_per_interneuron", self.granule_per_interneuron, 1)


@dataclass(frozen=True)
class NucleiParams:
    """Deep cerebellar nuclear cells: one per Purkinje cell, fire during its pauses."""

    tau_m: Quantity = _q(10 * ms)
    E_L: Quantity = _q(-60 * mV)
    V_th: Quantity = _q(-50 * mV)
    V_reset: Quantity = _q(-60 * mV)
    V_hyper: Quantity = _q(-70 * mV)  # potential a Purkinje spike resets the DCN cell to
    refractory: Quantity = _q(1 * ms)
    margin: Quantity = _q(3 * ms)  # PC silence beyond the baseline interval that makes a spike
    # MF -> nuclear plasticity (a second learning site; 0: none, no MF -> DCN synapses):
    mf_learning: Quantity = _q(0 * mV)  # eta: weight change per DCN spike per unit MF trace
    # above (or below) the mean fibre's
    mf_max: Quantity = _q(0.01 * mV)  # m_max: largest |m|, the MF -> DCN weight's deviation
    # from its baseline (depolarisation per MF spike)
    mf_trace: Quantity = _q(20 * ms)  # tau_x: decay of the MF trace a DCN spike pairs with
    learning_pause: Quantity | None = _optional_q(1 * ms)  # theta: None, MF -> DCN learns at
    # each nuclear spike; a duration, at each Purkinje pause that lasts this long (once per
    # pause, whether or not the nuclear cell fires: MF -> nuclear LTP in pauses of Purkinje
    # inhibition, Medina & Mauk 2000; Pugh & Raman 2006)

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        _positive("nuclei.tau_m", self.tau_m)
        _positive("nuclei.margin", self.margin)
        if float(self.mf_learning) < 0:
            raise ValueError(f"nuclei.mf_learning must be >= 0 mV, got {self.mf_learning}")
        _positive("nuclei.mf_max", self.mf_max)
        _positive("nuclei.mf_trace", self.mf_trace)
        if self.learning_pause is not None:
            _dimensions("nuclei.learning_pause", self.learning_pause, second)
            _positive("nuclei.learning_pause", self.learning_pause)
        if not self.V_hyper < self.V_th:
            raise ValueError("nuclei.V_hyper must be below nuclei.V_th")


@dataclass(frozen=True)
class PlasticityParams:
    """PF->PC plasticity gated by the climbing fibre (Marr-Albus-Ito)."""

    baseline_weight: float = 1.0  # w0: PF->PC weight before learning (counter 0)
    counter_range: int = 8  # w0 / ltp: counter units between w0 and w_min
    headroom: int | None = None  # counter units the weight may rise above w0 (None:
    # counter_range, symmetric bipolar counters; 0: LTP only undoes LTD, the naive weight is
    # the ceiling; LTP reverses LTD: Lev-Ram et al. 2003)
    window_peak: Quantity = _q(100 * ms)  # PF-before-CF interval of strongest LTD (50-150 ms)
    window_stages: int = 5  # S: stages of the event-driven trace chain (gamma shape)
    ltd_ratio: float = 2.0  # ltd / ltp: 2 gives symmetric +-ltp counters
    pairing: str = "all"  # "all": every earlier PF spike (S traces per synapse); "nearest":
    # the latest PF spike only (one spike time per synapse: far less memory at scale; the
    # same window whenever a granule cell fires once per presentation, as with Golgi cells)
    opposing: bool = False  # True: PF LTP without a CF is stored apart, in an opposing trace
    # u that adds to the PC's drive while w keeps only the CF-paired change (extinction as a
    # separate memory: Jorntell & Ekerot 2002 PF->MLI LTD; Felsenberg et al. 2018)
    opposing_tau: Quantity | None = _optional_q(1 * second)  # tau_u: decay of the opposing trace
    # (None: it does not decay)
    backward: float = 0.0  # b: potentiation of a PF spike that follows a CF spike, in units
    # of ltd, decaying with the CF-PF interval (0: none; the fly's backward pairing, dopamine
    # before the odour potentiates: Handler et al. 2019; Aso & Rubin 2016)
    backward_tau: Quantity = _q(100 * ms)  # tau_b: decay of that potentiation with the interval

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        if not self.baseline_weight > 0:
            raise ValueError("plasticity.baseline_weight must be > 0")
        if not isinstance(self.opposing, bool):
            raise ValueError(f"plasticity.opposing must be true or false, got "
                             f"{self.opposing!r}")
        if self.opposing_tau is not None:
            _dimensions("plasticity.opposing_tau", self.opposing_tau, second)
            _positive("plasticity.opposing_tau", self.opposing_tau)
            if not self.opposing:
                raise ValueError("plasticity.opposing_tau needs plasticity.opposing = true "
                                 "(there is no opposing trace to decay)")
        _int_at_least("plasticity.counter_range", self.counter_range, 1)
        if self.headroom is not None:
            _int_at_least("plasticity.headroom", self.headroom, 0)
        if not self.backward >= 0:
            raise ValueError(f"plasticity.backward must be >= 0, got {self.backward}")
        _positive("plasticity.backward_tau", self.backward_tau)
        _positive("plasticity.window_peak", self.window_peak)
        _int_at_least("plasticity.window_stages", self.window_stages, 2)
        if not self.ltd_ratio >= 0:
            raise ValueError("plasticity.ltd_ratio must be >= 0")
        _choice("plasticity.pairing", self.pairing, ("all", "nearest"))

    @property
    def ltp(self) -> float:
        """LTP per PF spike (weight units): ``w0 / counter_range``."""
        return self.baseline_weight / self.counter_range

    @property
    def w_max(self) -> float:
        """Largest weight: ``w0 + headroom * ltp`` (``headroom`` None: ``counter_range``)."""
        units = self.counter_range if self.headroom is None else self.headroom
        return self.baseline_weight + units * self.ltp

    @property
    def ltd(self) -> float:
        """LTD at the window peak per PF spike paired with a CF spike."""
        return self.ltd_ratio * self.ltp

    @property
    def tau(self) -> Quantity:
        """Time constant of each trace stage: ``window_peak / (S - 1)``."""
        return self.window_peak / (self.window_stages - 1)


@dataclass(frozen=True)
class ClimbingFibreParams:
    """Climbing fibres (dopaminergic neurons in the mushroom body): one per PC."""

    pairing: Quantity | None = _optional_q(1 * ms)  # CF time after the PF volley (None: the
    # window peak)
    burst: int = 1  # B: most spikes of one climbing-fibre burst; a write's value v in 0..B
    # fires v of them, each a complex spike that depresses (olivary axonal bursts of 1-5
    # spikes grade the plasticity: Mathy et al. 2009; Yang & Lisberger 2014). 1: all-or-none
    burst_interval: Quantity = _q(2 * ms)  # spacing of a burst's spikes (~2-3 ms)
    graded: bool = False  # True: a protocol sets each teaching burst by the output's error
    # (nucleo-olivary feedback: the olive fires less once the learned output appears; Kim,
    # Krupa & Thompson 1998; Medina, Nores & Mauk 2002): mapping.protocols

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        if self.pairing is not None:
            _dimensions("climbing.pairing", self.pairing, ms)
        if self.pairing is not None and float(self.pairing) < 0:
            raise ValueError("climbing.pairing must be >= 0 ms")
        _int_at_least("climbing.burst", self.burst, 1)
        _positive("climbing.burst_interval", self.burst_interval)
        if not isinstance(self.graded, bool):
            raise ValueError(f"climbing.graded must be true or false, got {self.graded!r}")


@dataclass(frozen=True)
class ProtocolParams:
    """Presentation timing."""

    write_slot: Quantity = _q(250 * ms)  # one write presentation, rest included
    read_slot: Quantity = _q(120 * ms)  # one read presentation, rest included
    decode_window: Quantity = _q(100 * ms)  # DCN spikes counted from onset for this long
    dt: Quantity = _q(0.1 * ms)  # simulation time step
    lead_in: Quantity = _q(150 * ms)  # background before the first stimulus (mossy.background
    # only): lets the Golgi loop settle (>= 5 granule.tau_inh)

    def validate(self) -> None:
        """Check the fields; raise ``ValueError`` naming the first invalid one."""
        for name in ("write_slot", "read_slot", "decode_window", "dt"):
            _positive(f"protocol.{name}", getattr(self, name))
        _dimensions("protocol.lead_in", self.lead_in, ms)
        if float(self.lead_in) < 0:
            raise ValueError(f"protocol.lead_in must be >= 0 ms, got {self.lead_in}")
        if self.decode_window > self.read_slot:
            raise ValueError("protocol.decode_window must fit in protocol.read_slot")


#: How the granule layer is stepped (``CerebellumParams.granule_kernel``): ``"auto"`` (the
#: fused loop of :mod:`circuits.cerebellum.granule_kernel` in ``cpp_standalone``, Brian2's code
#: objects otherwise, ``cuda_standalone`` included), ``"brian2"`` (Brian2's code objects, the
#: reference), ``"fused"`` (``cpp_standalone`` only: the loop is C++ for the CPU).
GRANULE_KERNELS = ("auto", "brian2", "fused")

#: The presets :meth:`CerebellumParams.with_preset` knows (:func:`apply_preset`).
PRESETS = ("kanerva", "biological", "mushroom_body")


@dataclass(frozen=True)
class CerebellumParams:
    """All parameters of the cerebellar SDM circuit."""

    address_bits: int = 64  # n: key length (bits)
    value_bits: int = 64  # number of output elements (Purkinje cells)
    backend: str = "numpy"  # "numpy" | "cython" | "cpp_standalone" | "cuda_standalone"
    # (brian2cuda on a GPU, Python >= 3.12; circuits.cuda)
    granule_kernel: str = "auto"  # how the granule layer is stepped: "auto" (one fused,
    # vectorised C++ loop in cpp_standalone, Brian2's code objects otherwise), "brian2"
    # (Brian2's code objects: the reference), "fused" (cpp_standalone only); see
    # circuits.cerebellum.granule_kernel
    preset: str = "kanerva"  # the biology (apply_preset): "kanerva"
    # (full-address granule cells, synchronous volleys: Kanerva's limit), "biological"
    # (four-claw granule cells, Poisson mossy fibres, rate-coded Golgi loop) or
    # "mushroom_body" (the fly's relative, with its population names)
    mossy: MossyFibreParams = field(default_factory=MossyFibreParams)
    granule: GranuleParams = field(default_factory=GranuleParams)
    golgi: GolgiParams = field(default_factory=GolgiParams)
    purkinje: PurkinjeParams = field(default_factory=PurkinjeParams)
    interneuron: InterneuronParams = field(default_factory=InterneuronParams)
    nuclei: NucleiParams = field(default_factory=NucleiParams)
    plasticity: PlasticityParams = field(default_factory=PlasticityParams)
    climbing: ClimbingFibreParams = field(default_factory=ClimbingFibreParams)
    protocol: ProtocolParams = field(default_factory=ProtocolParams)

    def validate(self) -> None:
        """Check every field and every part, then the derived quantities (:func:`derive`).

        Raises
        ------
        ValueError
            Naming the first invalid field or infeasible combination
            (:class:`models._memory.MemoryBudgetError` when ``protocol.dt`` is too small for the
            memory budget).
        """
        _int_at_least("address_bits", self.address_bits, 1)
        _int_at_least("value_bits", self.value_bits, 1)
        _choice("backend", self.backend, BACKENDS)
        _choice("granule_kernel", self.granule_kernel, GRANULE_KERNELS)
        if self.granule_kernel == "fused" and self.backend != "cpp_standalone":
            raise ValueError(f"granule_kernel='fused' needs backend='cpp_standalone' (got "
                             f"backend={self.backend!r}): the loop is C++ for the CPU "
                             f"(cpp_standalone only); use 'auto' or 'brian2' (Brian2's "
                             f"granule code)")
        _choice("preset", self.preset, PRESETS)
        for part in (self.mossy, self.granule, self.golgi, self.purkinje, self.interneuron,
                     self.nuclei, self.plasticity, self.climbing, self.protocol):
            part.validate()
        self._check_time_step()
        derive(self)  # raises for infeasible combinations

    def _check_time_step(self) -> None:
        """Refuse a ``protocol.dt`` whose granule calibration would not fit the memory budget.

        The granule calibration of :func:`derive` (:func:`granule_unit_response`) takes ``5
        granule.tau_m / protocol.dt`` samples, about four float64 arrays of that length: times, two
        exponentials, their difference. The budget is ``MEMCIRCUITS_MEMORY_BUDGET_GIB`` or 80% of
        physical memory.
        """
        from models._memory import refuse_over_budget

        samples = float(5 * self.granule.tau_m / self.protocol.dt)
        refuse_over_budget("protocol.dt", self.protocol.dt, 4 * 8 * samples,
                           f"{samples:.3g} samples of the granule calibration, "
                           f"5 granule.tau_m / protocol.dt")

    def with_preset(self, name: str) -> CerebellumParams:
        """These parameters with the biology of preset ``name``.

        The preset sets the mossy-fibre, granule and Golgi parameters (and, for
        ``"mushroom_body"``, the address and value sizes and the fly's backward pairing,
        ``plasticity.backward``, which the other presets undo); the backend, the Purkinje
        layer, the rest of plasticity and the protocol are kept. The configuration loader
        applies a ``preset`` key first, then the other keys of the same table.
        See :func:`apply_preset`.
        """
        return apply_preset(self, name)

    @property
    def population_names(self) -> dict[str, str]:
        """Display names of the populations for this preset."""
        if self.preset == "mushroom_body":
            return {"mossy": "PN", "granule": "KC", "golgi": "APL", "purkinje": "MBON",
                    "interneuron": "FFI", "nuclei": "OUT", "climbing": "DAN"}
        return {"mossy": "MF", "granule": "GrC", "golgi": "GoC", "purkinje": "PC",
                "interneuron": "MLI", "nuclei": "DCN", "climbing": "CF"}


def mushroom_body(**overrides) -> CerebellumParams:
    """The mushroom-body preset built by the same code (:func:`apply_preset`).

    ``overrides`` replace top-level fields of the result.
    """
    return replace(CerebellumParams().with_preset("mushroom_body"), **overrides)


def biological(address_bits: int = 64, value_bits: int = 64, **overrides) -> CerebellumParams:
    """The ``biological`` preset (:func:`apply_preset`) for ``address_bits``-bit keys.

    The circuit the predictions use by default (``memcircuits cerebellum``, the demo, the
    calcium commands), with ``value_bits`` outputs. The granule count follows the address
    (:func:`biological_granule_count`); ``overrides`` replace top-level fields of the result.
    """
    base = CerebellumParams(address_bits=address_bits, value_bits=value_bits)
    return replace(base.with_preset("biological"), **overrides)


# --------------------------------------------------------------------------------------------
# presets: which biology a CerebellumParams runs (CerebellumParams.with_preset)
# --------------------------------------------------------------------------------------------

#: Granule cells per mossy fibre: MF -> GrC divergence ~460 over 4 claws per granule cell
#: (SCIENCE.md section 4; Eccles et al. 1967; Jakab & Hamori 1988).
GRANULE_PER_MOSSY_FIBRE = 460 / 4


def biological_granule_count(address_bits: int) -> int:
    """Granule cells for ``2 * address_bits`` mossy fibres at the anatomical divergence."""
    return round(2 * address_bits * GRANULE_PER_MOSSY_FIBRE)


#: the mushroom body's backward pairing (``plasticity.backward``): dopamine before the odour
#: potentiates as much as dopamine after it depresses at the window's peak (an assumption:
#: Handler et al. 2019 show both directions of MBON plasticity, trial by trial, with
#: reversed order; the relative size is not fixed there)
FLY_BACKWARD = 1.0


def _cerebellar_plasticity(base: CerebellumParams) -> PlasticityParams:
    """``base``'s plasticity, the fly's backward pairing undone if it had the fly's preset."""
    if base.preset != "mushroom_body":
        return base.plasticity
    return replace(base.plasticity, backward=PlasticityParams().backward)


def _kanerva(base: CerebellumParams) -> CerebellumParams:
    protocol, n = base.protocol, base.granule.n
    if base.preset == "biological":  # undo the slots and the count the biological preset set
        default = ProtocolParams()
        protocol = replace(protocol, read_slot=default.read_slot,
                           write_slot=default.write_slot,
                           decode_window=min(protocol.decode_window, default.read_slot))
        n = GranuleParams().n
    return replace(base, preset="kanerva", mossy=MossyFibreParams(), protocol=protocol,
                   granule=GranuleParams(n=n), golgi=GolgiParams(),
                   nuclei=replace(base.nuclei, margin=NucleiParams().margin),
                   plasticity=_cerebellar_plasticity(base))


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
        plasticity=replace(base.plasticity, backward=FLY_BACKWARD),
    )


def _biological(base: CerebellumParams) -> CerebellumParams:
    """Four-claw granule cells, regular asynchronous mossy fibres, Golgi loop, slow EPSCs.

    Mossy fibres fire tonically (``background``) at the mean rate, 90 Hz, between stimuli;
    during a stimulus on rails fire at 170 Hz and off rails at 10 Hz: tonic rates of tens
    to ~100 Hz modulated to 100-200 Hz and more when driven (vestibular MFs: Goldberg et al.
    1984; Arenz et al. 2008; van Kan et al. 1993; Rancz et al. 2007). Trains are gamma
    renewal processes of shape 10 (CV 0.32): between Poisson and the regular vestibular
    afferents (CV* < 0.1, Goldberg et al. 1984). Granule cells: 2 coincident MF EPSPs cross
    threshold from rest (Chadderton et al. 2004: 2-4); a slow NMDA-like current (tau 30 ms)
    carries 70% of the EPSC charge (D'Angelo et al. 1995; Cathala et al. 2003), so a cell
    integrates its claws' rates over tens of ms; tonic GABA_A 0.5 nS (Brickley et al. 1996;
    Hamann et al. 2002); Golgi IPSC decay 15 ms (phasic + spillover, Rossi & Hamann 1998).
    Golgi cells (GrC:GoC 430:1, 4 per GrC): pacemakers at 2 Hz (Dieudonne 1998; Forti et
    al. 2006), linear f-I (perfect integrators), feedforward ``mf_drive`` 0.66 (GoC rate ~
    2 Hz + 1.3 x the mean MF rate), GrC feedback ``feedback_drive`` 0.05 (a GoC threshold
    per 20 GrC spikes), 1.6 nS per GoC spike. The last three are tuned (seeds 0-4) so the
    coding level stays at ~2% (:data:`circuits.cerebellum.coding.TARGET`) from 20 to 120 Hz
    mean MF rate.
    """
    stimulus, tau_inh, tau_slow = 45 * ms, 15 * ms, 30 * ms
    # a read slot long enough for the slow current of one stimulus to fade (stimulus +
    # 4 tau_slow + 5 ms), a write slot longer than the LTD window's reach from the next CF
    slot = max(base.protocol.read_slot, 170 * ms)
    write_slot = max(base.protocol.write_slot, 260 * ms)
    return replace(
        base,
        preset="biological",
        protocol=replace(base.protocol, read_slot=slot, write_slot=write_slot),
        mossy=MossyFibreParams(rate=170 * Hz, off_rate=10 * Hz, firing="poisson",
                               regularity=10.0, stimulus=stimulus, background=True),
        granule=GranuleParams(n=biological_granule_count(base.address_bits),
                              design="selected", inputs=4, mismatches=0, coding_level=None,
                              coincidence=2, slow_share=0.7, tau_slow=tau_slow,
                              g_tonic=0.5 * nS, tau_inh=tau_inh),
        golgi=GolgiParams(mode="rate", leaky=False, spontaneous_rate=2 * Hz, mf_drive=0.66,
                          feedback_drive=0.05, conductance=1.6 * nS),
        # the background PF input makes Purkinje intervals irregular: a nuclear cell fires
        # only on a pause 15 ms beyond the baseline interval, not on one long interval
        nuclei=replace(base.nuclei, margin=15 * ms),
        plasticity=_cerebellar_plasticity(base),
    )


_BUILDERS = {"kanerva": _kanerva, "biological": _biological, "mushroom_body": _mushroom_body}


def apply_preset(base: CerebellumParams, name: str) -> CerebellumParams:
    """``base`` with the biology of preset ``name``.

    A preset sets the mossy-fibre, granule and Golgi parameters; sizes (address bits aside
    for the mushroom body), the backend, the Purkinje layer, plasticity and the protocol
    stay as they are (``biological`` lengthens read slots shorter than 170 ms and write slots
    shorter than 260 ms, and asks a 15 ms longer pause of the nuclear cells,
    ``nuclei.margin``, and sets the granule count from the address;
    ``kanerva`` applied to a biological circuit restores the default slots, margin and
    granule count, so ``--set circuit.preset=kanerva`` on a command whose default is
    biological gives the same circuit as on one whose default is Kanerva's).

    ``kanerva``
        Kanerva's limit: granule cells read all ``n`` address bits (two rails each) and fire
        within Hamming radius ``d`` of the key; mossy fibres fire in synchronous volleys and the
        Golgi cells' first-volley veto holds the coding level. The circuit whose spikes equal
        the abstract SDM exactly.
    ``biological``
        Four-claw granule cells (selected coordinates, Jaeckel 1989; 4 mossy fibres per granule
        cell, Eccles et al. 1967, 3.9 in mouse, Jakab & Hamori 1988) with a slow NMDA-like
        EPSC component, asynchronous gamma-renewal mossy fibres with a tonic background whose
        rates carry the key, and a rate-coded Golgi loop (feedforward from mossy fibres,
        feedback from granule cells, tonic GABA_A inhibition) that holds the coding level
        across input rates. Granule count from the mossy fibre -> granule cell divergence
        (~460 granule cells per mossy fibre, 4 claws each: 115 granule cells per mossy fibre;
        SCIENCE.md section 4). The code is key-selective where the rates carry enough spikes
        (at the preset's 90 Hz mean rate ~80% of the active cells have all four claws on,
        chance 1/16; ``python -m circuits.cerebellum.selectivity``); its overlaps follow the
        selected-coordinate theory with the measured firing probability g(M)
        (``figures cerebellum-beta``).
    ``mushroom_body``
        The insect mushroom body: projection neurons (one rail per glomerulus, ~45% active per
        odour) -> Kenyon cells (6 inputs, fire with >= 5 active; APL feedback inhibition) ->
        two output neurons, one per valence; the fly's plasticity timing (dopamine after
        the Kenyon-cell spikes depresses, before them potentiates: ``plasticity.backward``
        = :data:`FLY_BACKWARD`). Expected Kenyon-cell sparseness
        P(>= 5 of 6 active) ~ 7% at 45% projection-neuron activity (5-10%, Lin et al. 2014).

    Raises
    ------
    ValueError
        For a name that is not a preset (the known ones listed).
    """
    if not isinstance(name, str) or name not in _BUILDERS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
    return _BUILDERS[name](base)
