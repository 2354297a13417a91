r"""Voltage imaging of spiking cells: indicator presets, a kHz-rig forward model, spike inference.

Input: membrane potentials :math:`V(t)` of N cells on the simulation grid (volts; a LIF trace,
no spike shape) and their spike times :math:`t_i`. Per cell:

1. **APs.** :math:`v = V + \sum_i A_i\, g(t - t_i)`, :math:`g` a unit Gaussian of half-width
   :math:`w` peaking at :math:`t_i + w`, :math:`A_i = V(t_i^-) + a - V(t_i + w)`: the AP peaks
   :math:`a` (``ap.amplitude``) above the pre-spike (threshold) potential, reset or not.
2. **Kinetics.** Two sensor components (fast, slow; weights :math:`f, 1-f`) follow

   .. math:: \dot u_k = (v - u_k)/\tau_k, \qquad \tau_k = \tau^{\mathrm{on}}_k \text{ if }
             v > u_k \text{ else } \tau^{\mathrm{off}}_k,

   as in the -70 -> +30 -> -70 mV steps the constants come from. The subthreshold trace is
   filtered linearly with :math:`\tau^{\mathrm{off}}_k` (the sensor's relaxation near rest;
   ~1-ms lags do not matter for slow signals); the AP response is integrated once on a fine
   grid (it scales exactly with :math:`A_i`) and superposed.
3. **dF/F** :math:`= s\,(\sum_k f_k u_k - v_0) / 100\,\mathrm{mV}`, :math:`s` the sensitivity
   per 100 mV (negative: ASAP, JEDI, Voltron dim), :math:`v_0` the rest (default: median).
4. **Frames.** Frame :math:`j` is the exact mean over its exposure :math:`[j, j+1)/f_s`.
5. **Shot noise.** :math:`F` photons per frame at rest, counts
   :math:`\sim\mathcal{N}(\lambda, \lambda)` (Poisson under 50), :math:`\lambda =
   F(1 + \Delta F/F)`; recorded dF/F = counts/F - 1, sd at rest :math:`\sigma = F^{-1/2}`.

**Noise level**, one of: ``noise_sd`` :math:`\sigma_{1k}`, the dF/F sd per frame at rest at
1 kHz (fixed photon flux: :math:`\sigma = \sigma_{1k}\sqrt{f_s / 1\,\mathrm{kHz}}`), or
``spike_snr`` as voltage-imaging papers report it: 1-AP dF/F in its best frame (mean over the
spike's phase in the frame) over :math:`\sigma` at :math:`f_s`.

**Supported frame rates.** ``min_fps``: lowest rate (to 10 Hz) at which that best frame keeps
half the continuous 1-AP peak of :data:`PURKINJE_SIMPLE_SPIKE`; below it frame averaging, not
the sensor, sets the spike's size, burst spikes (100-200 Hz) share frames and the detector's
15-ms window holds few frames. ``max_fps`` :math:`= 4/\tau^{\mathrm{on}}_{\mathrm{fast}}`
(to 100 Hz): a quarter of the fastest constant resolves the sensor's rise; shorter frames add
only shot noise and ask the fits (made at 1-3 kHz) for detail they do not hold.

Caveats: linear F-V (ASAP3 saturates above ~0 mV); no bleaching, motion, neuropil or
background; kinetics from HEK cells or cultures at 22-35 degC, not in vivo.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import median_filter, uniform_filter1d
from scipy.signal import find_peaks, lfilter

from analysis._presets import lookup_preset
from analysis.calcium_frames import check_frame_rate
from models._checks import check_int, check_real
from models.seeding import child_seed

__all__ = [
    "PURKINJE_SIMPLE_SPIKE", "REFERENCE_FPS", "VOLTAGE_INDICATORS", "ActionPotential",
    "DetectionPerformance", "VoltageImagingParams", "VoltageIndicator", "VoltageTraces",
    "count_in_windows", "detect_spikes", "detection_performance",
    "get_voltage_indicator", "spikes_from_frames", "subthreshold_dff", "synthesize_voltage",
]

REFERENCE_FPS = 1000.0  #: Hz, frame rate at which ``noise_sd`` is stated
_GAUSS_ABOVE = 50.0  # photons per frame at rest above which shot noise is drawn as Gaussian
_MAD_DIFF = 0.6744897501960817 * math.sqrt(2.0)  # median |diff| of unit white noise
_DB = ("as tabulated with that reference by GEVIBench (github.com/DZGong/GEVIBench, "
       "src/gevis/{f}.json, 309fe87), not checked against the paper")


@dataclass(frozen=True)
class VoltageIndicator:
    """A voltage indicator: sensitivity, two-component kinetics (ms), supported frame rates."""

    name: str
    sensitivity: float  # s: dF/F per +100 mV step from -70 mV (negative: dims on depolarising)
    tau_on_fast: float  # ms, fast activation constant (depolarising step)
    tau_on_slow: float  # ms, slow activation constant
    tau_off_fast: float  # ms, fast deactivation constant (repolarising step)
    tau_off_slow: float  # ms, slow deactivation (= tau_off_fast where it is mono-exponential)
    fast_fraction: float  # f: amplitude fraction of the fast activation component
    min_fps: float  # Hz, lowest supported frame rate (module docstring: the rule)
    max_fps: float  # Hz, highest supported frame rate
    source: str = ""
    confidence: str = ""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if not 0 < abs(s := check_real("indicator.sensitivity", self.sensitivity)) < 1:
            raise ValueError(f"indicator.sensitivity must be nonzero in (-1, 1), got {s}")
        for name in ("tau_on_fast", "tau_on_slow", "tau_off_fast", "tau_off_slow", "min_fps"):
            check_real(f"indicator.{name}", getattr(self, name), minimum=0.0, strict_minimum=True)
        check_real("indicator.fast_fraction", self.fast_fraction, minimum=0.0, maximum=1.0)
        check_real("indicator.max_fps", self.max_fps, minimum=self.min_fps, strict_minimum=True)

    @property
    def polarity(self) -> int:
        """+1 if the indicator brightens on depolarisation, -1 if it dims."""
        return 1 if self.sensitivity > 0 else -1


#: Presets: sensitivity per 100 mV and kinetics as published (see each ``source``).
VOLTAGE_INDICATORS: dict[str, VoltageIndicator] = {
    "ASAP3": VoltageIndicator(
        "ASAP3", -0.51, 0.94, 7.24, 3.79, 16.0, 0.72, 220.0, 4200.0,
        source="Villette et al. 2019, Cell 179:1590, Table 1: -51% dF/F per -70->+30 mV step "
               "(HEK293, 1P, 22-23 degC; the abstract's '51%'); kinetics (CHO cells, 32-35 degC): "
               "on 0.94 ms (72%) + 7.24 ms, off 3.79 ms (76%) + 16.0 ms; " + _DB.format(f="asap3"),
        confidence="sensitivity high (abstract); kinetics medium (secondary table copy, "
                   "agrees with 0.98 ms in Liu et al. 2022 Table S2)"),
    "Voltron": VoltageIndicator(
        "Voltron", -0.23, 0.64, 4.1, 0.78, 3.9, 0.61, 690.0, 6200.0,
        source="Abdelfattah et al. 2019, Science 365:699 (Voltron525, JF525): -23% per "
               "-70->+30 mV (main text, Fig. 1E, cultured neurons); Table S3 (neurons, "
               "3.2 kHz): on 0.64 ms (61%) + 4.1 ms, off 0.78 ms (55%) + 3.9 ms; "
               + _DB.format(f="voltron"),
        confidence="medium (secondary table copy; temperature not stated, room temperature)"),
    "Voltron2": VoltageIndicator(
        "Voltron2", -0.32, 0.67, 3.26, 0.89, 6.27, 0.79, 660.0, 5900.0,
        source="Abdelfattah et al. 2023, Neuron 111:1547 (Voltron2-525): -32% at +30 mV read "
               "off the F-V curve, Fig. 2B (cultured neurons); Fig. 2D-E text (23 degC, "
               "3.2 kHz): on 0.67 + 3.26 ms, off 0.89 + 6.27 ms, fast fraction ~79% read off "
               "the Fig. 2E bars; " + _DB.format(f="voltron2"),
        confidence="low-medium (sensitivity and fraction read off figures, +-3%)"),
    "JEDI-2P": VoltageIndicator(
        "JEDI-2P", -0.45, 0.54, 7.78, 1.21, 1.21, 0.875, 570.0, 7400.0,
        source="Liu et al. 2022, Cell 185:3408: about -45% per -70->+30 mV, 1P, HEK293A "
               "(Fig. S4C, read off the scatter; -48% under 2P, Fig. 2C); Table S2 (32-35 "
               "degC): on 0.54 ms (87.5%) + 7.78 ms, off mono-exponential 1.21 ms; "
               + _DB.format(f="jedi2p"),
        confidence="kinetics medium; sensitivity low-medium (read off a figure)"),
    "Archon1": VoltageIndicator(
        "Archon1", 0.43, 0.61, 8.1, 1.1, 13.0, 0.88, 600.0, 6500.0,
        source="Piatkevich et al. 2018, Nat Chem Biol 14:352: +43% per 100 mV (Fig. 2e); "
               "Table S1 (neurons, 32 degC): on 0.61 ms (88%) + 8.1 ms, "
               "off 1.1 ms (88%) + 13 ms; " + _DB.format(f="archon1"),
        confidence="medium (secondary table copy; Milosevic et al. 2020 measured +49%)"),
}


def get_voltage_indicator(name: str | VoltageIndicator) -> VoltageIndicator:
    """The preset called ``name`` (case-insensitive), or one ``ValueError`` listing them."""
    return lookup_preset(name, VOLTAGE_INDICATORS, VoltageIndicator, "voltage indicator")


@dataclass(frozen=True)
class ActionPotential:
    """Stereotyped AP added at each spike: peak above the pre-spike potential, half-width."""

    amplitude: float  # a (V): peak above the pre-spike (threshold) potential
    half_width: float  # w (s): full width at half maximum
    source: str = ""


#: Purkinje simple spike: peak near +30 mV from a -50 mV threshold, half-width 0.25 ms.
PURKINJE_SIMPLE_SPIKE = ActionPotential(
    0.080, 0.25e-3,
    source="peak: Martina, Metz & Bean 2007, J Neurophysiol 97:563 (abstract: +30 mV is 'near "
           "the peak of the spike' of rat Purkinje neurons), threshold -50 mV of the LIF "
           "(circuits PurkinjeParams.V_th); half-width: Purkinje spikes are narrow "
           "(Carter & Bean 2009, Neuron 64:898, 37 degC) - 0.25 ms is assumed within the "
           "0.2-0.3 ms usually reported, not checked against a table (medium confidence)")


@dataclass(frozen=True)
class VoltageImagingParams:
    """Parameters of :func:`synthesize_voltage`; give ``noise_sd`` or ``spike_snr``."""

    indicator: str | VoltageIndicator = "ASAP3"
    fps: float = 1000.0  # f_s (Hz)
    noise_sd: float | None = None  # sigma_1k: dF/F sd per frame at rest at 1 kHz (0.01 if neither)
    spike_snr: float | None = None  # peak 1-AP frame dF/F / sd per frame at f_s
    ap: ActionPotential = PURKINJE_SIMPLE_SPIKE
    v_rest: float | None = None  # v_0 (V) of F0; None: each cell's median potential

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        get_voltage_indicator(self.indicator)
        check_real("fps", self.fps, minimum=0.0, strict_minimum=True)
        if self.noise_sd is not None and self.spike_snr is not None:
            raise ValueError("noise: give noise_sd or spike_snr, not both")
        for name in ("noise_sd", "spike_snr"):
            if getattr(self, name) is not None:
                check_real(name, getattr(self, name), minimum=0.0, strict_minimum=True)
        check_real("ap.amplitude", self.ap.amplitude, minimum=0.0, strict_minimum=True)
        check_real("ap.half_width", self.ap.half_width, minimum=0.0, maximum=5e-3,
                   strict_minimum=True)
        if self.v_rest is not None:
            check_real("v_rest", self.v_rest, minimum=-0.2, maximum=0.1)


@dataclass
class VoltageTraces:
    """Synthetic voltage imaging of N cells: arrays ``(N, frames)``; frame j is [j, j+1)/fps."""

    dff: np.ndarray  # recorded dF/F (shot noise)
    clean_dff: np.ndarray  # noise-free dF/F
    fps: float
    photons: float  # F: photons per frame at rest
    noise_sd: float  # sigma: dF/F sd per frame at rest at fps
    one_ap_peak: float  # signed dF/F of one AP in its best frame (mean over phase)
    indicator: VoltageIndicator

    @property
    def spike_snr(self) -> float:
        """Peak 1-AP frame dF/F over the per-frame noise sd."""
        return abs(self.one_ap_peak) / self.noise_sd

    @property
    def times(self) -> np.ndarray:
        """Centre of each frame's exposure (s)."""
        return (np.arange(self.dff.shape[1]) + 0.5) / self.fps


def _check_fps(fps: Any, ind: VoltageIndicator, dt: float) -> float:
    """``fps`` as a float, refusing rates above ``1/dt`` or outside the indicator's range."""
    fps = check_frame_rate(fps, dt)
    if not ind.min_fps <= fps <= ind.max_fps:
        raise ValueError(f"fps: {fps:g} Hz is outside the {ind.min_fps:g}-{ind.max_fps:g} Hz "
                         f"supported for {ind.name} (frames short against its optical spike, "
                         f"not below its fitted kinetics)")
    return fps


def _kinetics(ind: VoltageIndicator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(tau_on, tau_off, weight)`` of the fast and slow components, times in s."""
    return (np.array([ind.tau_on_fast, ind.tau_on_slow]) * 1e-3,
            np.array([ind.tau_off_fast, ind.tau_off_slow]) * 1e-3,
            np.array([ind.fast_fraction, 1.0 - ind.fast_fraction]))


@functools.lru_cache(maxsize=32)
def _ap_template(ind: VoltageIndicator, half_width: float) -> tuple[float, float, np.ndarray]:
    r"""Sensor response to a unit AP :math:`g` from rest: ``(t0, h, R)``.

    ``R`` is the running integral :math:`\int_{t_0}^{t} \sum_k f_k u_k` (s) on the grid
    :math:`t_0 + n h`, :math:`t_0 = -w`, :math:`h = w/20`; the on/off switch is integrated
    through the AP, then the tail decays with :math:`\tau^{\mathrm{off}}_k` (12 of the slowest).
    """
    w, h = half_width, half_width / 20.0
    tau_on, tau_off, weight = _kinetics(ind)
    t = -w + h * np.arange(100)  # -w .. 4w: g(4w) ~ 1e-11
    g = np.exp(-4.0 * math.log(2.0) * ((t - w) / w) ** 2)
    u, during = np.zeros(2), np.empty((t.size, 2))
    for n, gn in enumerate(g):  # exact for g constant over each step
        during[n] = u
        u = gn + (u - gn) * np.exp(-h / np.where(gn > u, tau_on, tau_off))
    tail = u * np.exp(-h * np.arange(math.ceil(12 * tau_off.max() / h))[:, None] / tau_off)
    r = np.concatenate([during, tail]) @ weight
    return -w, h, np.concatenate([[0.0], np.cumsum(0.5 * (r[1:] + r[:-1]) * h)])


def _spike_frames(cells: np.ndarray, times: np.ndarray, amp: np.ndarray, shape: tuple[int, int],
                  fps: float, tmpl: tuple[float, float, np.ndarray]) -> np.ndarray:
    """Frame means ``(N, frames)`` of the superposed AP responses (volts)."""
    n_cells, n_frames = shape
    t0, h, R = tmpl
    m = math.ceil((R.size * h) * fps) + 2
    out = np.zeros(n_cells * n_frames)
    for lo in range(0, times.size, 8192):
        ts, a = times[lo:lo + 8192, None], amp[lo:lo + 8192, None]
        j = np.floor((ts + t0) * fps).astype(np.int64) + np.arange(m + 1)
        pos = np.clip((j / fps - ts - t0) / h, 0.0, R.size - 1.000001)  # R at frame edges
        at = R[pos.astype(np.int64)] + (pos % 1.0) * np.diff(R)[pos.astype(np.int64)]
        mean = np.diff(at, axis=1) * fps * a
        j, keep = j[:, :-1], (j[:, :-1] >= 0) & (j[:, :-1] < n_frames)
        flat = (cells[lo:lo + 8192, None] * n_frames + j)[keep]
        out += np.bincount(flat, weights=mean[keep], minlength=out.size)
    return out.reshape(shape)


def _subthreshold_frames(v: np.ndarray, dt: float, fps: float, n_frames: int,
                         ind: VoltageIndicator) -> np.ndarray:
    """Frame means ``(N, frames)`` of the linearly filtered trace (zero-order hold input)."""
    _, tau_off, weight = _kinetics(ind)
    d = v - v[:, :1]  # starts at equilibrium
    mean = np.zeros_like(d)
    for tau, f in zip(tau_off, weight, strict=True):
        a = math.exp(-dt / tau)
        x = lfilter([0.0, 1.0 - a], [1.0, -a], d, axis=1)  # value at each step's start
        mean += f * (d + (x - d) * tau * (1.0 - a) / dt)  # exact mean over each step
    mean += v[:, :1]
    cum = np.concatenate([np.zeros((v.shape[0], 1)), np.cumsum(mean, axis=1) * dt], axis=1)
    pos = np.arange(n_frames + 1) / (fps * dt)
    n = np.minimum(pos.astype(np.int64), v.shape[1] - 1)
    at = cum[:, n] + (pos - n) * dt * mean[:, n]
    return np.diff(at, axis=1) * fps


def _one_ap_peak(ind: VoltageIndicator, ap: ActionPotential, fps: float) -> float:
    """Signed dF/F of one AP in its best frame, mean over 64 phases of the spike in the frame."""
    tmpl = _ap_template(ind, ap.half_width)
    phase = (np.arange(64) + 0.5) / 64 / fps
    best = _spike_frames(np.arange(64), phase, np.ones(64), (64, math.ceil(
        tmpl[2].size * tmpl[1] * fps) + 4), fps, tmpl).max(axis=1)
    return float(ind.sensitivity * ap.amplitude / 0.1 * best.mean())


def _check_inputs(voltage: Any, dt: float, indices: Any, times: Any,
                  fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    v = np.asarray(voltage, dtype=float)
    if v.ndim != 2 or v.shape[1] < 2:
        raise ValueError(f"voltage must be (cells, steps) with >= 2 steps, got {v.shape}")
    if not np.isfinite(v).all() or np.abs(v).max() > 0.5:
        raise ValueError(f"voltage must be finite, in volts (|V| <= 0.5): max |V| = "
                         f"{np.abs(v).max():g}, millivolts?")
    cells, t = np.asarray(indices, np.int64).ravel(), np.asarray(times, float).ravel()
    duration = v.shape[1] * dt
    if cells.shape != t.shape:
        raise ValueError(f"spikes: {cells.size} indices but {t.size} times")
    if cells.size and (cells.min() < 0 or cells.max() >= v.shape[0]):
        raise ValueError(f"spike_indices must lie in 0..{v.shape[0] - 1}")
    if cells.size and not (np.isfinite(t).all() and 0 <= t.min() and t.max() < duration):
        raise ValueError(f"spike_times must lie in [0, {duration:g}) s")
    if (n_frames := math.floor(duration * fps + 1e-9)) < 1:
        raise ValueError(f"voltage covers {duration:g} s: less than one frame at {fps:g} Hz")
    return v, cells, t, n_frames


def synthesize_voltage(voltage: Any, dt: float, spike_indices: Any, spike_times: Any,
                       params: VoltageImagingParams | None = None, *,
                       seed: int | None = 0) -> VoltageTraces:
    """Frames a voltage-imaging rig records of N cells (module docstring: the model).

    Parameters
    ----------
    voltage
        ``(N, T)`` membrane potential (V) on the simulation grid ``k dt``.
    dt
        Simulation step (s); ``fps`` may not exceed ``1/dt``.
    spike_indices, spike_times
        Cell and time (s, in ``[0, T dt)``) of every spike.
    params
        Indicator, frame rate, noise level, AP; default :class:`VoltageImagingParams`.
    seed
        Seeds the shot noise (child seed ``("voltage", "shot")``).
    """
    p = params or VoltageImagingParams()
    p.validate()
    ind = get_voltage_indicator(p.indicator)
    dt = check_real("dt", dt, minimum=0.0, strict_minimum=True)
    fps = _check_fps(p.fps, ind, dt)
    v, cells, times, n_frames = _check_inputs(voltage, dt, spike_indices, spike_times, fps)
    w = p.ap.half_width
    pre = v[cells, np.floor(times / dt).astype(np.int64)]
    under = v[cells, np.minimum(np.floor((times + w) / dt).astype(np.int64), v.shape[1] - 1)]
    amp = pre + p.ap.amplitude - under  # A_i: the AP peaks ap.amplitude above V(t_i^-)
    volts = _subthreshold_frames(v, dt, fps, n_frames, ind) + _spike_frames(
        cells, times, amp, (v.shape[0], n_frames), fps, _ap_template(ind, w))
    v0 = np.median(v, axis=1, keepdims=True) if p.v_rest is None else p.v_rest
    clean = ind.sensitivity * (volts - v0) / 0.1
    peak = _one_ap_peak(ind, p.ap, fps)
    sigma = (abs(peak) / p.spike_snr if p.spike_snr is not None else
             (p.noise_sd or 0.01) * math.sqrt(fps / REFERENCE_FPS))
    photons = 1.0 / sigma ** 2
    lam = np.maximum(photons * (1.0 + clean), 0.0)
    rng = np.random.default_rng(child_seed(seed, "voltage", "shot"))
    counts = (lam + np.sqrt(lam) * rng.standard_normal(lam.shape) if photons >= _GAUSS_ABOVE
              else rng.poisson(lam).astype(float))
    return VoltageTraces(dff=counts / photons - 1.0, clean_dff=clean, fps=fps, photons=photons,
                         noise_sd=sigma, one_ap_peak=peak, indicator=ind)


def _check_trace(dff: Any, fps: float) -> tuple[np.ndarray, float]:
    x = np.atleast_2d(np.asarray(dff, dtype=float))
    if x.ndim != 2 or x.shape[1] < 3 or not np.isfinite(x).all():
        raise ValueError(f"dff must be a finite (cells, frames) array, got shape {x.shape}")
    return x, check_real("fps", fps, minimum=0.0, strict_minimum=True)


def _noise_sd(y: np.ndarray) -> float:
    """Sigma-clipped MAD of first differences: white-noise sd, blind to ramps and steps."""
    d = np.abs(np.diff(y))
    sd = float(np.median(d)) / _MAD_DIFF
    for _ in range(2):  # drop jumps above 3 sd (spikes, resets) and their neighbours
        big = d > 3.0 * math.sqrt(2.0) * sd
        big[1:] |= big[:-1].copy()
        big[:-1] |= big[1:].copy()
        sd = float(np.median(d[~big])) / _MAD_DIFF if (~big).any() else sd
    return sd


def detect_spikes(dff: Any, fps: float, *, polarity: int, threshold: float = 4.0,
                  highpass: float = 0.015, refractory: float = 0.002) -> list[np.ndarray]:
    r"""Spike frames per cell: running-median high-pass, robust sd, thresholded peaks.

    :math:`y = p\,\Delta F/F - \mathrm{median}_{\mathrm{highpass}}(p\,\Delta F/F)` with
    ``polarity`` :math:`p = \pm 1`; :math:`\hat\sigma` is the MAD of :math:`\Delta y` over
    :math:`0.6745\sqrt 2`, sigma-clipped at 3 sd twice (the AHP sawtooth of a LIF and the spikes
    would inflate a plain MAD); ``highpass`` is the median's window (s). A spike is a peak of
    :math:`y` whose height and prominence (rise above the surrounding troughs) both exceed
    ``threshold`` :math:`\hat\sigma`; peaks closer than ``refractory`` (s) merge into the
    larger. Fixed-threshold first pass of VolPy/SpikePursuit (Cai et al. 2021, PLoS Comput
    Biol 17:e1008806), without their adaptive threshold and matched filter.
    """
    x, fps = _check_trace(dff, fps)
    if polarity not in (1, -1):
        raise ValueError(f"polarity must be +1 or -1, got {polarity!r}")
    threshold = check_real("threshold", threshold, minimum=0.0, strict_minimum=True)
    k = max(3, 2 * round(check_real("highpass", highpass, minimum=0.0) * fps / 2) + 1)
    y = polarity * x
    y = y - median_filter(y, size=(1, k), mode="nearest")
    gap = max(1, round(check_real("refractory", refractory, minimum=0.0) * fps))
    out = []
    for row in y:
        level = threshold * _noise_sd(row) or np.inf
        out.append(find_peaks(row, height=level, prominence=level, distance=gap)[0]
                   .astype(np.int64))
    return out


def spikes_from_frames(spike_frames: Sequence[np.ndarray],
                       fps: float) -> tuple[np.ndarray, np.ndarray]:
    """``(indices, times)`` of detected spikes, each dated to its peak frame's start (s)."""
    idx = np.concatenate([np.full(len(f), i, np.int64) for i, f in enumerate(spike_frames)]
                         + [np.zeros(0, np.int64)])
    frames = np.concatenate([np.asarray(f, float) for f in spike_frames] + [np.zeros(0)])
    return idx, frames / fps


def _windows(windows: Sequence[tuple[float, float]]) -> np.ndarray:
    w = np.asarray(windows, dtype=float).reshape(-1, 2)
    if not np.isfinite(w).all() or (w[:, 0] < 0).any() or (w[:, 1] <= w[:, 0]).any():
        raise ValueError("windows must be (start, stop) pairs in s with 0 <= start < stop")
    return w


def count_in_windows(indices: Any, times: Any, n_cells: int,
                     windows: Sequence[tuple[float, float]]) -> np.ndarray:
    """``(n_cells, windows)`` spikes with time in ``[start, stop)`` of each window."""
    n_cells = check_int("n_cells", n_cells, minimum=1)
    i, t = np.asarray(indices, np.int64).ravel(), np.asarray(times, float).ravel()
    return np.stack([np.bincount(i[(t >= a) & (t < b)], minlength=n_cells)[:n_cells]
                     for a, b in _windows(windows)], axis=1)


def subthreshold_dff(dff: Any, fps: float, spike_frames: Sequence[np.ndarray],
                     windows: Sequence[tuple[float, float]], *,
                     blank: tuple[float, float] = (0.001, 0.006),
                     lowpass: float = 0.010) -> np.ndarray:
    """``(N, windows)`` mean dF/F per window with the detected spikes removed.

    Frames from ``blank[0]`` before to ``blank[1]`` after each spike frame are replaced by
    linear interpolation, the trace is low-passed by a ``lowpass``-s running mean, and frames
    whose exposure centre lies in a window are averaged. Divide by ``sensitivity / 0.1 V`` for
    volts. Tails slower than ``blank[1]`` (ASAP3's 16-ms component) stay, a bias that grows
    with the rate.
    """
    x, fps = _check_trace(dff, fps)
    x = x.copy()
    if len(spike_frames) != x.shape[0]:
        raise ValueError(f"spike_frames: {len(spike_frames)} cells, dff has {x.shape[0]}")
    before, after = (math.ceil(check_real("blank", b, minimum=0.0) * fps) for b in blank)
    frames = np.arange(x.shape[1])
    for row, spikes in zip(x, spike_frames, strict=True):
        bad = np.zeros(row.size, bool)
        for d in np.asarray(spikes, np.int64):
            bad[max(d - before, 0):d + after + 1] = True
        if bad.all():
            raise ValueError("subthreshold_dff: spikes blank every frame of a cell")
        row[bad] = np.interp(frames[bad], frames[~bad], row[~bad])
    x = uniform_filter1d(x, max(1, round(check_real("lowpass", lowpass, minimum=0.0) * fps)),
                         axis=1, mode="nearest")
    centre = (frames + 0.5) / fps
    return np.stack([x[:, (centre >= a) & (centre < b)].mean(axis=1) if
                     ((centre >= a) & (centre < b)).any() else np.full(x.shape[0], np.nan)
                     for a, b in _windows(windows)], axis=1)


@dataclass(frozen=True)
class DetectionPerformance:
    """How well :func:`detect_spikes` recovers the true spikes (:func:`detection_performance`)."""

    hit_rate: float  # true spikes with a detection within the tolerance (one-to-one)
    false_positives_per_s: float  # unmatched detections per cell and second
    count_error: float  # mean |detected - true| spikes per cell and window
    count_bias: float  # mean (detected - true) spikes per cell and window
    n_true: int
    n_detected: int
    spike_snr: float
    noise_sd: float  # dF/F sd per frame at rest at fps


def _match(true: np.ndarray, found: np.ndarray, tolerance: int) -> int:
    """One-to-one matches of sorted frames within ``tolerance`` frames (two-pointer greedy)."""
    i = k = hits = 0
    while i < true.size and k < found.size:
        d = found[k] - true[i]
        if d < -tolerance:
            k += 1
        elif d > tolerance:
            i += 1
        else:
            hits, i, k = hits + 1, i + 1, k + 1
    return hits


def detection_performance(voltage: Any, dt: float, spike_indices: Any, spike_times: Any,
                          params: VoltageImagingParams | None = None, *,
                          windows: Sequence[tuple[float, float]] | None = None,
                          tolerance: int = 2, threshold: float = 4.0,
                          seed: int | None = 0) -> DetectionPerformance:
    r"""Synthesize, detect and score against the true spikes.

    A true spike in frame :math:`\lfloor t f_s \rfloor` is hit by an unmatched detection at
    most ``tolerance`` frames away; counts are compared per cell in ``windows`` (default: the
    whole recording).
    """
    tolerance = check_int("tolerance", tolerance, minimum=0)
    traces = synthesize_voltage(voltage, dt, spike_indices, spike_times, params, seed=seed)
    fps, (n, n_frames) = traces.fps, traces.dff.shape
    found = detect_spikes(traces.dff, fps, polarity=traces.indicator.polarity,
                          threshold=threshold)
    cells = np.asarray(spike_indices, np.int64).ravel()
    times = np.asarray(spike_times, float).ravel()
    frames = np.floor(times * fps).astype(np.int64)
    keep = frames < n_frames
    cells, frames = cells[keep], frames[keep]
    hits = sum(_match(np.sort(frames[cells == c]), found[c], tolerance) for c in range(n))
    n_found = sum(len(f) for f in found)
    wins = windows if windows is not None else [(0.0, n_frames / fps)]
    diff = (count_in_windows(*spikes_from_frames(found, fps), n, wins)
            - count_in_windows(cells, times[keep], n, wins))
    return DetectionPerformance(
        hit_rate=hits / cells.size if cells.size else float("nan"),
        false_positives_per_s=(n_found - hits) / (n * n_frames / fps),
        count_error=float(np.abs(diff).mean()), count_bias=float(diff.mean()),
        n_true=int(cells.size), n_detected=int(n_found), spike_snr=traces.spike_snr,
        noise_sd=traces.noise_sd)
