r"""Synapse-level imaging: what a release or receptor indicator shows as efficacy changes.

An experiment images, at parallel-fibre (PF) -> Purkinje synapses or Kenyon-cell (KC) -> output
neuron (MBON) synapses, a signal that follows the change learning makes. The simulator gives per
synapse its presynaptic spikes and an efficacy :math:`e_i(t)` (weight over baseline, 1 =
unchanged), piecewise constant in time. Two kinds of indicator (:data:`SYNAPTIC_INDICATORS`):

* ``reports="release"`` (iGluSnFR3, GRAB-ACh3.0): transmitter released per presynaptic spike.
  A ROI of :math:`P` synapses (``per_roi``) shows

  .. math:: \frac{\Delta F}{F}(t) = \frac{A}{P}\sum_{i\in\mathrm{ROI}}\sum_s w_s\,
            e^{\mathrm{pre}}_i(t_s)\, h(t - t_s), \qquad
            h(t) = \frac{e^{-t/\tau_d} - e^{-t/\tau_r}}{\max_t (e^{-t/\tau_d} - e^{-t/\tau_r})}

  with :math:`e^{\mathrm{pre}}_i = e_i` if the plasticity is presynaptic (``site="pre"``) and 1
  if it is postsynaptic: **a release sensor does not see a purely postsynaptic change** (e.g.
  PF-PC LTD, which is GluA2 endocytosis: Wang & Linden 2000, Neuron 25:635; Matsuda et al. 2000).
* ``reports="receptors"`` (SEP-GluA2): surface receptor number. Surface fluorescence follows the
  postsynaptic efficacy with time constant :math:`\tau` (spikes play no part):

  .. math:: \tau\,\dot{\tilde e}_i = e^{\mathrm{post}}_i(t) - \tilde e_i, \qquad
            \frac{\Delta F}{F}(t) = \frac{D}{P}\sum_{i\in\mathrm{ROI}} (\tilde e_i(t) - 1)

  with :math:`e^{\mathrm{post}}_i = e_i` if ``site="post"``, else 1 (a receptor sensor does not
  see a change of release). dF/F is relative to the fluorescence at efficacy 1.

Frame :math:`j` is the mean over :math:`[j/f_s, (j+1)/f_s)` (computed exactly). Noise is photon
shot noise, Gaussian, white: with :math:`\sigma_{30}` (``noise``) the dF/F sd per frame at rest
at 30 Hz, a frame at :math:`f_s` has

.. math:: \sigma_j = \sigma_{30}\sqrt{f_s / 30\,\mathrm{Hz}}\;\sqrt{1 + \Delta F/F_j}

(a frame collects :math:`1/f_s` of a fixed photon flux; counts grow with F). In the CASCADE
units of :func:`analysis.calcium_ar.noise_level`, :math:`\nu \approx 17.4\,\sigma_{30}`.

Caveats: the model is linear (no sensor saturation), release is deterministic (no failures or
quantal variance), and each synapse of a ROI contributes equal resting fluorescence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.signal import lfilter

from analysis._presets import lookup_preset
from analysis.calcium_frames import SpikeEvents, _check_events, frame_count, frame_times
from analysis.calcium_indicators import _kernel_peak
from models._checks import check_choice, check_int, check_real
from models.seeding import numpy_rng

__all__ = ["MAX_FPS", "REFERENCE_FPS", "SYNAPTIC_INDICATORS", "RecoveryError", "SynapticImaging",
           "SynapticImagingParams", "SynapticIndicator", "estimate_efficacy",
           "get_synaptic_indicator", "image_synapses", "pooled_efficacy", "recovery_error",
           "supported_frame_rates", "window_levels", "window_means"]

REFERENCE_FPS = 30.0  #: Hz, frame rate at which ``noise`` (sigma_30) is stated
MAX_FPS = 1000.0  #: Hz, fastest frame rate modelled (kHz frames of small synaptic ROIs)
_MIN_PHOTONS = 10.0  # photons per frame at rest below which Gaussian shot noise is refused


@dataclass(frozen=True)
class SynapticIndicator:
    """A synaptic indicator: what it reports, its kinetics, its dF/F per unit signal, sources.

    ``confidence`` says how each number was obtained; ``preparation`` which experiment it fits.
    """

    name: str
    reports: str  # "release" (transmitter per spike; presynaptic change) or "receptors"
    target: str  # the molecule sensed
    tau_rise: float  # tau_r (s): rise of the per-spike transient (release); 0 for receptors
    tau_decay: float  # tau_d (s): decay of the transient; receptors: tau, F follows receptors
    dff_per_unit: float  # A: peak dF/F per spike at e = 1, one synapse; receptors: D per unit e
    preparation: str = ""
    source: str = ""
    confidence: str = ""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        check_choice("indicator.reports", self.reports, ("release", "receptors"))
        check_real("indicator.tau_decay", self.tau_decay, minimum=0.0, strict_minimum=True)
        check_real("indicator.dff_per_unit", self.dff_per_unit, minimum=0.0,
                   strict_minimum=True)
        if self.reports == "release":
            check_real("indicator.tau_rise", self.tau_rise, minimum=0.0, strict_minimum=True)
            if self.tau_rise >= self.tau_decay:
                raise ValueError(f"indicator.tau_rise ({self.tau_rise}) must be below "
                                 f"tau_decay ({self.tau_decay})")


def _sep_contrast(pka: float = 7.2, ph_surface: float = 7.4, ph_endosome: float = 5.5) -> float:
    r"""Fraction of a surface pHluorin's fluorescence lost on endocytosis (one-site titration).

    .. math:: D = 1 - \frac{1 + 10^{pK_a - pH_s}}{1 + 10^{pK_a - pH_e}}
    """
    return 1.0 - (1.0 + 10 ** (pka - ph_surface)) / (1.0 + 10 ** (pka - ph_endosome))


#: Presets. Numbers marked "assumed" or "not checked" are to be replaced by pilot data.
SYNAPTIC_INDICATORS: dict[str, SynapticIndicator] = {
    "iGluSnFR3": SynapticIndicator(
        name="iGluSnFR3", reports="release", target="glutamate",
        tau_rise=0.002, tau_decay=0.029, dff_per_unit=1.0,
        preparation=("PF boutons (or PC spines, postsynaptic-display variant): sees presynaptic "
                     "PF plasticity (cAMP-dependent LTP; Lev-Ram et al., PNAS, 'Reversing "
                     "cerebellar long-term depression'), NOT PF-PC LTD, which is postsynaptic"),
        source=("Aggarwal et al. 2023, Nat Methods 20:925 (iGluSnFR3.v857). tau_d 29 ms: 1-AP "
                "decay in cultured neurons as summarised by a third-party sensor registry "
                "(pyBer) citing that paper and later benchmarks; figure not checked. tau_r 2 "
                "ms: assumed (activation is faster than any supported frame). A = 1: assumed; "
                "1-AP iGluSnFR responses of single boutons are of order 1 dF/F0 (Nat Commun "
                "2022, doi 10.1038/s41467-022-33565-6, Fig. 3a, scale bar 2 dF/F0; an earlier "
                "variant)"),
        confidence="tau_d within ~x1.5; A within ~x3; tau_r assumed"),
    "GRAB-ACh3.0": SynapticIndicator(
        name="GRAB-ACh3.0", reports="release", target="acetylcholine",
        tau_rise=0.09, tau_decay=0.91, dff_per_unit=0.1,
        preparation=("KC boutons in mushroom-body compartments: KC->MBON plasticity is "
                     "presynaptic (Hige et al. 2015, Neuron 88:985), imaged as ACh release with "
                     "GRAB-ACh (Stahl et al. 2022, eLife 11:e76712); a postsynaptic component "
                     "(Pribbenow et al. 2022, eLife 11:e80445) is invisible to it"),
        source=("Jing et al. 2020, Nat Methods 17:1139, Extended Data Fig. 5i (one 2-ms pulse, "
                "MHb-IPN slice, 4-AP): tau_on ~0.09 s, tau_off ~0.91 s as summarised by a "
                "third-party sensor registry (pyBer); figure not checked. A = 0.1: assumed "
                "(no per-spike, per-bouton value published to our knowledge)"),
        confidence="kinetics within ~x1.5 (mouse slice; fly tissue may differ); A assumed"),
    "SEP-GluA2": SynapticIndicator(
        name="SEP-GluA2", reports="receptors", target="surface GluA2 (AMPA receptors)",
        tau_rise=0.0, tau_decay=4.0, dff_per_unit=_sep_contrast(),
        preparation=("PF-PC spines: PF-PC LTD is GluA2 endocytosis (Wang & Linden 2000, Neuron "
                     "25:635; Matsuda et al. 2000); misses any presynaptic change and LTP by "
                     "GluA3 conductance (Gutierrez-Castellanos et al. 2017, Neuron 93:409)"),
        source=("D = 0.968: super-ecliptic pHluorin pKa 7.2, nearly dark at pH 5.5 "
                "(Sankaranarayanan et al. 2000, Biophys J 79:2199, as stated by Shen et al. "
                "2014, J Cell Biol 207:419); one-site titration, surface pH 7.4, endosome 5.5. "
                "tau 4 s: re-acidification of endocytosed pHluorin-tagged membrane (Atluri & "
                "Ryan 2006, J Neurosci 26:2313; from memory, not checked)"),
        confidence=("D is an upper bound (intracellular neutral-pH SEP-GluA2 lowers it); tau "
                    "within ~x2; LTD expression itself takes minutes (the simulator's efficacy)")),
}


def get_synaptic_indicator(name: str | SynapticIndicator) -> SynapticIndicator:
    """The preset called ``name`` (case-insensitive), or one ``ValueError`` listing them."""
    return lookup_preset(name, SYNAPTIC_INDICATORS, SynapticIndicator, "synaptic indicator")


def supported_frame_rates(indicator: str | SynapticIndicator,
                          noise: float = 0.0) -> tuple[float, float]:
    r"""``(lowest, highest)`` frame rate (Hz) the model supports for ``indicator`` at ``noise``.

    Release sensors need frames no longer than the transient's decay,
    :math:`f_s \ge 1/\tau_d`, to resolve single spikes; receptor sensors have no lower bound
    (time-lapse imaging is fine). The top is :data:`MAX_FPS`, lowered where the per-frame noise
    would mean fewer than 10 photons per frame at rest (:math:`\sigma_f^2 > 1/10`), below which
    Gaussian shot noise is no model of photon counts.
    """
    ind = get_synaptic_indicator(indicator)
    noise = check_real("noise", noise, minimum=0.0)
    low = 1.0 / ind.tau_decay if ind.reports == "release" else 0.0
    high = MAX_FPS if noise == 0 else min(MAX_FPS, REFERENCE_FPS / (_MIN_PHOTONS * noise**2))
    return low, high


@dataclass(frozen=True)
class SynapticImagingParams:
    """Parameters of :func:`image_synapses`."""

    indicator: str | SynapticIndicator = "iGluSnFR3"  # preset name or an indicator
    fps: float = 100.0  # f_s (Hz)
    noise: float = 0.05  # sigma_30: dF/F sd per frame at rest at 30 Hz (0: noiseless)
    site: str = "pre"  # where the plasticity is expressed: "pre" or "post"
    per_roi: int = 1  # P: synapses summed in one ROI (consecutive synapse indices)

    @property
    def ind(self) -> SynapticIndicator:
        """The resolved indicator."""
        return get_synaptic_indicator(self.indicator)

    @property
    def frame_noise(self) -> float:
        r""":math:`\sigma_f = \sigma_{30}\sqrt{f_s/30}`, dF/F sd per frame at rest."""
        return self.noise * math.sqrt(self.fps / REFERENCE_FPS)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field (fps outside its range included)."""
        ind = self.ind
        fps = check_real("fps", self.fps, minimum=0.0, strict_minimum=True)
        noise = check_real("noise", self.noise, minimum=0.0)
        check_choice("site", self.site, ("pre", "post"))
        check_int("per_roi", self.per_roi, minimum=1)
        low, high = supported_frame_rates(ind, noise)
        if low > high:
            raise ValueError(f"noise: {noise:g} leaves no frame rate for {ind.name}: frames "
                             f"fast enough ({low:g} Hz) hold under {_MIN_PHOTONS:g} photons")
        if not low <= fps <= high:
            why = (f"{ind.name} needs frames no longer than its decay tau_d = {ind.tau_decay:g} s"
                   if fps < low else f"{MAX_FPS:g} Hz is the fastest modelled" if high == MAX_FPS
                   else f"faster frames hold under {_MIN_PHOTONS:g} photons at noise {noise:g}")
            raise ValueError(f"fps: {fps:g} Hz is outside the supported range [{low:g}, "
                             f"{high:g}] Hz for {ind.name}: {why}")


@dataclass
class SynapticImaging:
    """Imaged synapses: arrays ``(n_rois, n_frames)``; frame ``j`` covers ``[j, j+1)/fps``."""

    dff: np.ndarray  # dF/F with shot noise
    clean: np.ndarray  # noise-free dF/F
    regressor: np.ndarray | None  # release: noise-free dF/F at efficacy 1 (what spikes predict)
    params: SynapticImagingParams

    @property
    def times(self) -> np.ndarray:
        """Frame ends (s)."""
        return frame_times(self.dff.shape[1], self.params.fps)

    def levels(self, windows: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
        """:func:`window_levels` of these traces."""
        return window_levels(self.dff, windows, fps=self.params.fps, indicator=self.params.ind,
                             regressor=self.regressor)

    def estimate(self, windows: Sequence[tuple[float, float]], baseline: int = 0) -> np.ndarray:
        """:func:`estimate_efficacy` of these traces."""
        return estimate_efficacy(self.dff, windows, fps=self.params.fps,
                                 indicator=self.params.ind, regressor=self.regressor,
                                 baseline=baseline)


def _check_schedule(efficacy: Any, change_times: Any, n: int,
                    duration: float) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(efficacy, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape[0] != n:
        raise ValueError(f"efficacy must have shape (n_synapses={n}, K) or ({n},), got "
                         f"{np.shape(efficacy)}")
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("efficacy must be finite and >= 0 (1 = baseline weight)")
    times = np.zeros(1) if change_times is None else np.asarray(change_times, float).ravel()
    if times.size != values.shape[1]:
        raise ValueError(f"change_times must hold one time per efficacy column "
                         f"({values.shape[1]}), got {times.size}")
    if times[0] != 0 or (np.diff(times) <= 0).any() or times[-1] >= duration:
        raise ValueError(f"change_times must start at 0, increase strictly and stay below "
                         f"duration = {duration:g} s")
    return values, times


def _exp_frames(rows: np.ndarray, times: np.ndarray, amps: np.ndarray, n_rows: int, T: int,
                fps: float, tau: float) -> np.ndarray:
    r"""Frame means of :math:`\sum_s a_s e^{-(t - t_s)/\tau}` for :math:`t \ge t_s`, per row.

    The spike's own frame gets :math:`a\tau f_s(1 - e^{-\ell/\tau})` (:math:`\ell`: spike to
    frame end); later frames decay by :math:`d = e^{-1/(f_s\tau)}`: an AR(1) ``lfilter`` of
    two injections per spike.
    """
    j = np.floor(times * fps).astype(np.int64)
    d = math.exp(-1.0 / (fps * tau))
    lead = np.exp(-((j + 1) / fps - times) / tau)
    own = amps * tau * fps * (1.0 - lead)
    nxt = amps * tau * fps * lead * (1.0 - d) - d * own
    more = j + 1 < T
    where = np.concatenate([rows * T + j, (rows * T + j + 1)[more]])
    what = np.concatenate([own, nxt[more]])
    v = np.bincount(where, weights=what, minlength=n_rows * T).reshape(n_rows, T)
    return lfilter([1.0], [1.0, -d], v, axis=1)


def _release(rows: np.ndarray, times: np.ndarray, amps: np.ndarray, n_rows: int, T: int,
             fps: float, ind: SynapticIndicator) -> np.ndarray:
    """Frame means of the rise/decay transients, peak ``amps`` each."""
    _, norm = _kernel_peak(ind.tau_rise, ind.tau_decay)
    return (_exp_frames(rows, times, amps, n_rows, T, fps, ind.tau_decay)
            - _exp_frames(rows, times, amps, n_rows, T, fps, ind.tau_rise)) / norm


def _step_frames(starts: np.ndarray, T: int, fps: float, tau: float) -> np.ndarray:
    r"""``(K, T)`` frame means of :math:`1 - e^{-(t - c_k)/\tau}` for :math:`t \ge c_k`."""
    a = np.arange(T)[None, :] / fps
    b = a + 1.0 / fps
    c = starts[:, None]
    lo = np.maximum(a, c)
    hi = np.maximum(b, c)
    mean = fps * ((hi - lo) - tau * (np.exp(-(lo - c) / tau) - np.exp(-(hi - c) / tau)))
    return np.where(b > c, mean, 0.0)


def _shot(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal(clean.shape)
    return clean + sigma * np.sqrt(np.maximum(1.0 + clean, 0.0)) * z


def image_synapses(spikes: SpikeEvents, n_synapses: int, duration: float, efficacy: Any,
                   params: SynapticImagingParams | None = None, *, change_times: Any = None,
                   seed: int | None = 0) -> SynapticImaging:
    """Imaged dF/F of ``n_synapses // per_roi`` ROIs (see the module docstring for the model).

    Parameters
    ----------
    spikes
        Presynaptic spikes: synapse index, time (s), weight (spikes per event, default 1).
    n_synapses
        Imaged synapses; ROI ``r`` holds synapses ``r*P .. r*P + P - 1``.
    duration
        Recording length (s); ``ceil(duration * fps)`` frames.
    efficacy
        ``(n_synapses, K)`` efficacies (>= 0), column ``k`` from ``change_times[k]`` on, or
        ``(n_synapses,)`` constant.
    params
        Indicator, frame rate, noise, plasticity site, synapses per ROI.
    change_times
        ``(K,)`` times (s), the first 0, increasing (default ``[0]``).
    seed
        Seeds the shot noise (child seed ``("synaptic_imaging", "shot")``).

    Raises
    ------
    ValueError
        Unknown indicator, fps outside :func:`supported_frame_rates`, efficacy of the wrong
        shape or negative, ``per_roi`` not dividing ``n_synapses``, spikes outside the
        synapses or the recording.
    """
    params = params if params is not None else SynapticImagingParams()
    params.validate()
    ind, fps, P = params.ind, float(params.fps), int(params.per_roi)
    n = check_int("n_synapses", n_synapses, minimum=1)
    duration = check_real("duration", duration, minimum=0.0, strict_minimum=True)
    if n % P:
        raise ValueError(f"per_roi ({P}) must divide n_synapses ({n})")
    values, starts = _check_schedule(efficacy, change_times, n, duration)
    _check_events(spikes, n, duration)
    T, R = frame_count(duration, fps), n // P
    regressor = None
    if ind.reports == "release":
        syn, t = spikes.indices, spikes.times
        base = ind.dff_per_unit / P * spikes.weight_array()
        e = (values[syn, np.searchsorted(starts, t, side="right") - 1]
             if params.site == "pre" else 1.0)
        clean = _release(syn // P, t, base * e, R, T, fps, ind)
        regressor = _release(syn // P, t, base, R, T, fps, ind)
    else:
        post = values if params.site == "post" else np.ones_like(values)
        roi = post.reshape(R, P, -1).mean(axis=1)  # (R, K)
        steps = np.diff(roi, axis=1) @ _step_frames(starts[1:], T, fps, ind.tau_decay)
        clean = ind.dff_per_unit * (roi[:, :1] - 1.0 + steps)
    rng = numpy_rng(seed, "synaptic_imaging", "shot")
    dff = _shot(clean, params.frame_noise, rng) if params.noise > 0 else clean.copy()
    return SynapticImaging(dff=dff, clean=clean, regressor=regressor, params=params)


def _window_masks(windows: Sequence[tuple[float, float]], T: int, fps: float) -> np.ndarray:
    """``(W, T)`` frames lying wholly inside each window ``[start, stop)``."""
    starts, ends = np.arange(T) / fps, (np.arange(T) + 1) / fps
    masks = []
    for w, window in enumerate(windows):
        start, stop = (float(x) for x in window)
        mask = (starts >= start - 1e-9) & (ends <= stop + 1e-9)
        if not mask.any():
            raise ValueError(f"windows[{w}] = ({start:g}, {stop:g}) s holds no whole frame of "
                             f"the {T / fps:g}-s recording at {fps:g} Hz")
        masks.append(mask)
    if not masks:
        raise ValueError("windows must hold at least one (start, stop) pair")
    return np.array(masks, dtype=float)


def window_means(dff: np.ndarray, windows: Sequence[tuple[float, float]],
                 fps: float) -> np.ndarray:
    """Mean dF/F of each ROI over the whole frames of each window: ``(n_rois, W)``."""
    masks = _window_masks(windows, np.shape(dff)[-1], fps)
    return np.asarray(dff) @ masks.T / masks.sum(axis=1)


def window_levels(dff: np.ndarray, windows: Sequence[tuple[float, float]], *, fps: float,
                  indicator: str | SynapticIndicator, regressor: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    r"""Each ROI's signal level per window as a ratio ``numerator / denominator``.

    Release sensors: the least-squares amplitude per presynaptic spike, with :math:`x` the
    ``regressor`` (the noise-free dF/F of the same spikes at efficacy 1,
    :attr:`SynapticImaging.regressor`): numerator :math:`\sum_{j\in w} y_j x_j`, denominator
    :math:`\sum_{j\in w} x_j^2` (0: no spike of the ROI in the window). Receptor sensors: the
    mean fluorescence :math:`1 + \overline{y}_w / D` over denominator 1. Kept as a ratio so
    that ROIs can be pooled (:func:`pooled_efficacy`). Both ``(n_rois, W)``.
    """
    ind = get_synaptic_indicator(indicator)
    fps = check_real("fps", fps, minimum=0.0, strict_minimum=True)
    y = np.atleast_2d(np.asarray(dff, dtype=float))
    masks = _window_masks(windows, y.shape[1], fps)
    if ind.reports == "release":
        if regressor is None or np.shape(regressor) != y.shape:
            raise ValueError(f"regressor: a release sensor needs the noise-free response to "
                             f"the same spikes, shape {y.shape}, got "
                             f"{None if regressor is None else np.shape(regressor)}")
        x = np.asarray(regressor, dtype=float)
        return (y * x) @ masks.T, (x * x) @ masks.T
    level = 1.0 + window_means(y, windows, fps) / ind.dff_per_unit
    return level, np.ones_like(level)


def estimate_efficacy(dff: np.ndarray, windows: Sequence[tuple[float, float]], *, fps: float,
                      indicator: str | SynapticIndicator, regressor: np.ndarray | None = None,
                      baseline: int = 0) -> np.ndarray:
    r"""Per ROI and trial, the efficacy relative to the ``baseline`` trial: ``(n_rois, W)``.

    The ROI's level in each window (:func:`window_levels`: for a release sensor the
    amplitude per presynaptic spike :math:`\hat a_w = \sum_{j\in w} y_j x_j / \sum_{j\in w}
    x_j^2`, for a receptor sensor the mean fluorescence :math:`1 + \overline{y}_w / D`)
    divided by that of the baseline trial, :math:`\hat e_w = \hat a_w / \hat
    a_{\mathrm{baseline}}`. A window with no spike of a ROI gives NaN.
    """
    numerator, denominator = window_levels(dff, windows, fps=fps, indicator=indicator,
                                           regressor=regressor)
    baseline = check_int("baseline", baseline, minimum=0, maximum=numerator.shape[1] - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = numerator / denominator
        return level / level[:, baseline:baseline + 1]


def pooled_efficacy(numerator: np.ndarray, denominator: np.ndarray, baseline: int = 0
                    ) -> np.ndarray:
    r"""The efficacy of a set of ROIs together, per window, relative to the ``baseline`` one.

    One common level fitted to all ROIs (from :func:`window_levels`): :math:`\hat a_w =
    \sum_r n_{rw} / \sum_r d_{rw}`, then :math:`\hat a_w / \hat a_{\mathrm{baseline}}`
    (ROIs with a window lacking a spike count where they have one). Pooling before the ratio
    avoids the heavy tail of per-ROI ratios whose baseline amplitude is near 0 (a release
    sensor's single-spike responses at low SNR). ``(W,)``; NaN where no ROI has a level.
    """
    numerator, denominator = np.atleast_2d(numerator), np.atleast_2d(denominator)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = numerator.sum(axis=0) / denominator.sum(axis=0)
        return level / level[baseline]


@dataclass(frozen=True)
class RecoveryError:
    """Monte-Carlo error of the estimated efficacy change (:func:`recovery_error`)."""

    true_change: float  # efficacy of the test trial over the baseline trial
    sd_roi: float  # sd of one ROI's estimate around the truth (measurement error per ROI)
    sd_roi_robust: float  # IQR / 1.349 of the same (robust to heavy ratio tails)
    sd_mean: float  # sd of the mean over the n_rois ROIs
    bias: float  # mean estimate minus the truth
    n_rois: int
    n_draws: int
    frame_noise: float  # sigma_f at rest (dF/F)


def recovery_error(indicator: str | SynapticIndicator, *, fps: float, noise: float,
                   n_rois: int, change: float = 0.6, site: str | None = None, per_roi: int = 1,
                   rate: float = 10.0, trial: float = 1.0, n_draws: int = 200,
                   seed: int | None = 0) -> RecoveryError:
    r"""How well a change of efficacy from 1 to ``change`` is recovered from imaged ROIs.

    Protocol: a baseline trial ``[0, trial)`` at efficacy 1, the change at ``trial``, a gap of
    :math:`10\tau_d` (transients and the receptor low-pass settle to :math:`e^{-10}`), a test
    trial of the same length. Each synapse fires a regular train at ``rate`` with a random
    phase (child seed ``("synaptic_imaging", "recovery", "spikes")``) in both trials; only the
    shot noise is redrawn (``n_draws`` draws, child seed ``(..., "recovery", "noise")``).
    ``site`` defaults to the one the indicator sees (release: ``"pre"``, receptors: ``"post"``).
    """
    ind = get_synaptic_indicator(indicator)
    site = site if site is not None else ("pre" if ind.reports == "release" else "post")
    params = SynapticImagingParams(ind, fps, noise, site, per_roi)
    params.validate()
    n_rois = check_int("n_rois", n_rois, minimum=1)
    change = check_real("change", change, minimum=0.0)
    rate = check_real("rate", rate, minimum=0.0, strict_minimum=True)
    trial = check_real("trial", trial, minimum=0.0, strict_minimum=True)
    n_draws = check_int("n_draws", n_draws, minimum=2)
    per_spike = math.floor(rate * trial + 1e-9)
    if per_spike < 1:
        raise ValueError(f"rate * trial must give at least one spike per trial, got "
                         f"{rate:g} Hz * {trial:g} s")
    n = n_rois * params.per_roi
    gap = 10.0 * ind.tau_decay
    phase = numpy_rng(seed, "synaptic_imaging", "recovery", "spikes").uniform(0.0, 1.0 / rate, n)
    t0 = phase[:, None] + np.arange(per_spike)[None, :] / rate  # (n, spikes), < trial
    times = np.concatenate([t0, t0 + trial + gap], axis=1)
    syn = np.repeat(np.arange(n), times.shape[1])
    spikes = SpikeEvents.of(syn, times.ravel())
    efficacy = np.tile([1.0, change], (n, 1))
    quiet = SynapticImagingParams(ind, fps, 0.0, site, per_roi)
    img = image_synapses(spikes, n, 2 * trial + gap, efficacy, quiet,
                         change_times=[0.0, trial])
    windows = [(0.0, trial), (trial + gap, 2 * trial + gap)]
    rng = numpy_rng(seed, "synaptic_imaging", "recovery", "noise")
    sigma = params.frame_noise
    est = np.empty((n_draws, n_rois))
    for k in range(n_draws):
        y = _shot(img.clean, sigma, rng) if sigma > 0 else img.clean
        est[k] = estimate_efficacy(y, windows, fps=fps, indicator=ind,
                                   regressor=img.regressor)[:, 1]
    err = est - change
    q75, q25 = np.nanpercentile(err, [75, 25])
    return RecoveryError(true_change=change, sd_roi=float(np.nanstd(err)),
                         sd_roi_robust=float((q75 - q25) / 1.349),
                         sd_mean=float(np.nanstd(np.nanmean(err, axis=1), ddof=1)),
                         bias=float(np.nanmean(err)), n_rois=n_rois, n_draws=n_draws,
                         frame_noise=sigma)
