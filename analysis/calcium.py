r"""Synthetic calcium imaging: spikes -> fluorescence, dF/F and noise at a chosen frame rate.

Two forward models, both vectorised over the whole population (one ``lfilter`` call per
block of neurons; no Python loop over neurons or spikes):

**AR model** (what OASIS and CaImAn invert; :func:`ar_calcium`, :func:`ar_traces`):

.. math:: c_t = g_1 c_{t-1} + g_2 c_{t-2} + s_t, \qquad y_t = b + a\, c_t + \sigma \epsilon_t,

with :math:`s_t` the number of spikes in frame :math:`t` and, for AR(1),
:math:`g = e^{-1/(f_s \tau_d)}` (AR(2): :math:`g_1 = d + r`, :math:`g_2 = -d r` with
:math:`d = e^{-1/(f_s\tau_d)}`, :math:`r = e^{-1/(f_s\tau_r)}`).

**Spike-to-fluorescence model** (:func:`synthesize`): free calcium above rest is a sum of
rise/decay kernels, the indicator's fluorescence a Hill function of calcium (NAOMi-style
steady-state binding, Song et al. 2021),

.. math::
    [\mathrm{Ca}](t) &= \mathrm{Ca}_0 + \Delta \sum_k w_k\, h(t - t_k), \qquad
    h(t) = \frac{e^{-t/\tau_d} - e^{-t/\tau_r}}{\max_t(\cdot)} \;(t \ge 0), \\
    \frac{\Delta F}{F}(t) &= \frac{R_f\,\bigl(H([\mathrm{Ca}](t)) - H(\mathrm{Ca}_0)\bigr)}
        {1 + R_f\, H(\mathrm{Ca}_0)}, \qquad H(x) = \frac{x^{n}}{x^{n} + K_d^{n}},

(:math:`R_f = F_{max}/F_{min} - 1`, :math:`w_k` the spike's weight in AP-equivalents).
:math:`\tau_r, \tau_d, \Delta` are fitted per indicator (:func:`fit_kernel`) so that one
action potential gives the cited peak dF/F, time to peak and half-decay time
(:data:`INDICATORS`). The recorded ROI adds neuropil, drift and photon shot noise:

.. math::
    \lambda_{\mathrm{roi}}(t) &= m_i(t)\,\bigl[F_i\,(1 + \Delta F/F_i(t))
        + r\, F_{np}\,(1 + \Delta F/F_{np}(t))\bigr], \qquad
    F_{\mathrm{roi}} \sim \mathrm{Poisson}(\lambda_{\mathrm{roi}}), \\
    F_{\mathrm{corr}} &= F_{\mathrm{roi}} - r\, F_{\mathrm{neuropil}}, \qquad
    \frac{\Delta F}{F}_{\mathrm{obs}} = \frac{F_{\mathrm{corr}} - F_0(t)}{F_0(t)},

(exact Poisson draws below ``gaussian_above`` photons per frame, the normal approximation
:math:`\lambda + \sqrt{\lambda} z` above), with :math:`F_i` the photon budget per frame,
:math:`r` the neuropil coefficient (~0.7),
the neuropil dF/F the indicator's response to the population-mean calcium, :math:`m_i(t)`
a slow multiplicative drift (shared slow process, per-ROI gain, plus a linear trend), the
neuropil annulus measured with ``neuropil_pixels`` times the ROI's photons, and
:math:`F_0(t)` the suite2p "maximin" baseline (min then max filter of 1-s bin means over
``baseline_window``, constant within a bin). The photon budget is chosen so that the dF/F
traces have the requested **noise level** (CASCADE, Rupprecht et al. 2021):

.. math:: \nu = \frac{\mathrm{median}_t\, |\Delta F/F_{t+1} - \Delta F/F_t|}{\sqrt{f_s}}
          \times 100 .

**Frames.** Frame :math:`j` covers :math:`[j/f_s, (j+1)/f_s)` and is read at its end,
:math:`t_j = (j+1)/f_s`; a spike at time :math:`t` falls in frame
:math:`\lfloor t f_s \rfloor` and is seen in that frame with its exact sub-frame delay
(the exponentials are integrated exactly between frames). A frame rate above the
simulation's time resolution (``fps > 1/dt``) is refused.

**Empty input.** No spikes gives flat traces plus noise (the documented empty result);
zero neurons give ``(0, T)`` arrays.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d
from scipy.optimize import brentq, least_squares
from scipy.signal import lfilter

from models._checks import check_int, check_real
from models.seeding import child_seed

__all__ = [
    "INDICATORS",
    "POPULATION_PRESETS",
    "ARTraces",
    "CalciumTraces",
    "Indicator",
    "KernelFit",
    "PopulationPreset",
    "SpikeEvents",
    "SynthesisParams",
    "ar_calcium",
    "ar_coefficients",
    "ar_traces",
    "bin_spikes",
    "check_frame_rate",
    "clean_dff",
    "deconvolve_oasis",
    "fit_kernel",
    "frame_count",
    "frame_indices",
    "frame_times",
    "get_indicator",
    "get_preset",
    "hill_dff",
    "measure_transient",
    "noise_level",
    "one_ap_response",
    "smoothed_correlation",
    "synthesize",
]

#: median |N(0, 2 sigma^2)| / sigma: median absolute difference of white noise of sd sigma
_MAD_DIFF = 0.6744897501960817 * math.sqrt(2.0)
_BLOCK = 128  # neurons per vectorised block (fixed, so noise draws never depend on it)


# ============================================================================ indicators
@dataclass(frozen=True)
class Indicator:
    """A genetically encoded calcium indicator: cited 1-AP response and binding constants.

    The first three numbers are what :func:`fit_kernel` reproduces (checked within 20% by
    ``tests/test_calcium.py``); the binding constants shape saturation and supralinearity.
    """

    name: str
    dff_1ap: float  # peak dF/F0 of one action potential (fraction)
    time_to_peak: float  # s, AP to peak of the 1-AP transient
    half_decay: float  # s, peak to half of the peak on the decay
    kd: float  # K_d (nM): apparent dissociation constant (Hill)
    hill: float  # n_H: Hill coefficient
    dff_max: float  # R_f = F_max / F_min - 1: saturating fluorescence change
    ca_rest: float = 50.0  # Ca_0 (nM): resting free calcium (NAOMi default, Song et al. 2021)
    source: str = ""  # where the 1-AP numbers come from
    binding_source: str = ""  # where K_d, n_H, R_f come from
    assay: str = ""  # preparation of the cited 1-AP numbers

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        for name in ("dff_1ap", "time_to_peak", "half_decay", "kd", "hill", "dff_max",
                     "ca_rest"):
            check_real(f"indicator.{name}", getattr(self, name), minimum=0.0,
                       strict_minimum=True)
        top = self.dff_max * (1 - _hill(self.ca_rest, self)) / (
            1 + self.dff_max * _hill(self.ca_rest, self))
        if self.dff_1ap >= top:
            raise ValueError(f"indicator.dff_1ap ({self.dff_1ap}) must be below the saturating "
                             f"dF/F {top:.3g} of dff_max, kd, hill and ca_rest")


_CHEN = ("Chen et al. 2013, Nature 499:295, Suppl. Table 3 (mouse V1 L2/3 in vivo, "
         "cell-attached, 1 AP): time to peak and half-decay")
_ZHANG_REL = ("1-AP dF/F: Zhang et al. 2023 (Nature 615:884) Suppl. Table 1 ratio to GCaMP6s "
              "(x{ratio}) times GCaMP6s 13.3% of Dana et al. 2019 (Nat Methods 16:649), as "
              "tabulated by the Cleo simulator")
_ZHANG_CULTURE = ("Zhang et al. 2023, Nature 615:884, Fig. 1 / Janelia jGCaMP8 table "
                  "(cultured neurons, 1 AP field stimulation): peak dF/F, time to peak, "
                  "half-decay")
_NAOMI = "NAOMi (Song et al. 2021, J Neurosci Methods 358:109173): K_d, n_H, F_max/F_min - 1"

#: Indicator presets (see the README table for the measured 1-AP responses).
INDICATORS: dict[str, Indicator] = {
    "GCaMP6f": Indicator(
        name="GCaMP6f", dff_1ap=0.098, time_to_peak=0.045, half_decay=0.142,
        kd=290.0, hill=2.7, dff_max=25.2,
        source=f"{_CHEN}; " + _ZHANG_REL.format(ratio=0.735),
        binding_source=_NAOMI, assay="in vivo (mouse V1)"),
    "GCaMP6s": Indicator(
        name="GCaMP6s", dff_1ap=0.133, time_to_peak=0.179, half_decay=0.550,
        kd=147.0, hill=2.45, dff_max=27.2,
        source=f"{_CHEN}; 1-AP dF/F 13.3%: Dana et al. 2019, Nat Methods 16:649 (GCaMP6s "
               "in vivo control)",
        binding_source=_NAOMI, assay="in vivo (mouse V1)"),
    "jGCaMP7f": Indicator(
        name="jGCaMP7f", dff_1ap=0.21, time_to_peak=0.0995, half_decay=0.1819,
        kd=174.0, hill=2.3, dff_max=30.2,
        source=f"sensor: Dana et al. 2019, Nat Methods 16:649; numbers: {_ZHANG_CULTURE} "
               "(jGCaMP7f control)",
        binding_source="Dana et al. 2019 purified protein, as used by NAOMi",
        assay="cultured neurons"),
    "jGCaMP8m": Indicator(
        name="jGCaMP8m", dff_1ap=0.76, time_to_peak=0.029, half_decay=0.1183,
        kd=108.0, hill=1.9, dff_max=40.0,
        source=_ZHANG_CULTURE,
        binding_source="assumed (not cited): K_d 108 nM, n_H 1.9, R_f 40; jGCaMP8 sensors "
                       "have lower cooperativity than GCaMP6s (Zhang et al. 2023)",
        assay="cultured neurons"),
}


def get_indicator(name: str | Indicator) -> Indicator:
    """The preset called ``name`` (case-insensitive), or one ``ValueError`` listing them."""
    if isinstance(name, Indicator):
        name.validate()
        return name
    if isinstance(name, str):
        for key, value in INDICATORS.items():
            if key.lower() == name.lower():
                return value
    raise ValueError(f"indicator: unknown indicator {name!r}; known: {', '.join(INDICATORS)}")


def _hill(ca: Any, ind: Indicator) -> Any:
    x = np.asarray(ca, dtype=float) / ind.kd
    xn = np.power(np.maximum(x, 0.0), ind.hill)
    return xn / (1.0 + xn)


def hill_dff(ca: np.ndarray, indicator: str | Indicator) -> np.ndarray:
    r"""dF/F of free calcium ``ca`` (nM) relative to rest.

    .. math:: \frac{\Delta F}{F} = \frac{R_f\,(H(\mathrm{Ca}) - H(\mathrm{Ca}_0))}
              {1 + R_f\,H(\mathrm{Ca}_0)}, \qquad H(x) = \frac{x^n}{x^n + K_d^n}
    """
    ind = get_indicator(indicator)
    rest = _hill(ind.ca_rest, ind)
    return ind.dff_max * (_hill(ca, ind) - rest) / (1.0 + ind.dff_max * rest)


def _dff_of_increment(c: np.ndarray, ind: Indicator, ca_per_ap: float,
                      work: np.ndarray | None = None) -> np.ndarray:
    r"""dF/F of the kernel sum ``c`` (AP-equivalents), in place and in ``c``'s dtype.

    With :math:`u = \Delta c / \mathrm{Ca}_0`, :math:`x_0 = \mathrm{Ca}_0 / K_d` and
    :math:`a = (1 + u)^n - 1` (exactly 0 at rest):

    .. math:: H - H_0 = \frac{x_0^n\, a}{(1 + x_0^n (1 + a))(1 + x_0^n)}
    """
    dtype = c.dtype.type
    x0n = (ind.ca_rest / ind.kd) ** ind.hill
    rest = x0n / (1.0 + x0n)
    c *= dtype(ca_per_ap / ind.ca_rest)  # u >= 0: spike weights are never negative
    c += dtype(1.0)
    np.log(c, out=c)  # log and exp (SIMD) rather than log1p/expm1: 1 + u is exact at rest
    c *= dtype(ind.hill)
    np.exp(c, out=c)
    c -= dtype(1.0)  # a = (1 + u)^n - 1
    denom = np.multiply(c, dtype(x0n), out=work)  # ``work``: scratch of c's shape
    denom += dtype(1.0 + x0n)
    np.divide(c, denom, out=c)
    c *= dtype(ind.dff_max * x0n / ((1.0 + x0n) * (1.0 + ind.dff_max * rest)))
    return c


# ============================================================================ kernel fit
@dataclass(frozen=True)
class KernelFit:
    """Kernel constants of an indicator, fitted to its cited 1-AP response."""

    tau_rise: float  # tau_r (s)
    tau_decay: float  # tau_d (s)
    ca_per_ap: float  # Delta (nM): calcium above rest at the kernel peak for one AP
    peak_time: float  # s, time to peak of h (and of the 1-AP dF/F)
    norm: float  # max of e^{-t/tau_d} - e^{-t/tau_r}


def _kernel_peak(tau_r: float, tau_d: float) -> tuple[float, float]:
    """Time of the maximum of :math:`e^{-t/\\tau_d} - e^{-t/\\tau_r}` and the maximum."""
    tp = tau_r * tau_d / (tau_d - tau_r) * math.log(tau_d / tau_r)
    return tp, math.exp(-tp / tau_d) - math.exp(-tp / tau_r)


def _half_time(tau_r: float, tau_d: float, level: float) -> float:
    """Time after the peak at which the normalised kernel falls to ``level``."""
    tp, norm = _kernel_peak(tau_r, tau_d)

    def f(t):
        return (math.exp(-t / tau_d) - math.exp(-t / tau_r)) / norm - level

    hi = tp + tau_d
    while f(hi) > 0:
        hi = tp + 2 * (hi - tp)
    return brentq(f, tp, hi, xtol=1e-12) - tp


@functools.lru_cache(maxsize=64)
def fit_kernel(indicator: str | Indicator) -> KernelFit:
    r"""Fit :math:`\tau_r, \tau_d, \Delta` so one AP gives the indicator's cited response.

    The Hill transform is monotone, so the 1-AP dF/F peaks when the kernel does: the peak
    fixes :math:`\Delta` (Hill inverse), the time to peak and the half-decay fix
    :math:`\tau_r, \tau_d` (the half-decay point is where the kernel reaches the calcium
    level giving half the peak dF/F).
    """
    ind = get_indicator(indicator)
    ind.validate()
    rest = _hill(ind.ca_rest, ind)
    scale = ind.dff_max / (1 + ind.dff_max * rest)

    def ca_for(dff):  # Hill inverse: calcium giving this dF/F
        h = rest + dff / scale
        return ind.kd * (h / (1 - h)) ** (1 / ind.hill)

    delta = ca_for(ind.dff_1ap) - ind.ca_rest
    level = (ca_for(ind.dff_1ap / 2) - ind.ca_rest) / delta  # kernel level of half dF/F

    def residual(p):
        tau_r, tau_d = math.exp(p[0]), math.exp(p[0]) + math.exp(p[1])
        tp, _ = _kernel_peak(tau_r, tau_d)
        return [math.log(tp / ind.time_to_peak),
                math.log(_half_time(tau_r, tau_d, level) / ind.half_decay)]

    guess = [math.log(ind.time_to_peak / 4), math.log(ind.half_decay)]
    fit = least_squares(residual, guess, xtol=1e-12, ftol=1e-12)
    tau_r = math.exp(fit.x[0])
    tau_d = tau_r + math.exp(fit.x[1])
    if max(abs(v) for v in fit.fun) > 1e-3:
        raise ValueError(f"indicator {ind.name}: no rise/decay kernel reproduces time to peak "
                         f"{ind.time_to_peak} s and half-decay {ind.half_decay} s")
    tp, norm = _kernel_peak(tau_r, tau_d)
    return KernelFit(tau_rise=tau_r, tau_decay=tau_d, ca_per_ap=delta, peak_time=tp,
                     norm=norm)


# ============================================================================ frames
def check_frame_rate(fps: Any, dt: float | None = None) -> float:
    """``fps`` as a float > 0, refusing rates above the simulation's ``1/dt``."""
    fps = check_real("fps", fps, minimum=0.0, strict_minimum=True)
    if dt is not None:
        dt = check_real("dt", dt, minimum=0.0, strict_minimum=True)
        if fps * dt > 1 + 1e-9:
            raise ValueError(f"fps: {fps:g} Hz is above the simulation's time resolution "
                             f"1/dt = {1 / dt:g} Hz (dt = {dt:g} s); choose fps <= {1 / dt:g}")
    return fps


def frame_count(duration: float, fps: float) -> int:
    """Frames covering ``[0, duration)``: :math:`\\lceil \\mathrm{duration}\\, f_s \\rceil`."""
    duration = check_real("duration", duration, minimum=0.0)
    return math.ceil(duration * fps - 1e-9)


def frame_indices(times: Any, fps: float) -> np.ndarray:
    """Frame of each time: :math:`\\lfloor t f_s \\rfloor` (int64)."""
    return np.floor(np.asarray(times, dtype=float) * fps).astype(np.int64)


def frame_times(n_frames: int, fps: float) -> np.ndarray:
    """Read-out time of each frame, its end: :math:`t_j = (j + 1) / f_s`."""
    return (np.arange(n_frames) + 1.0) / fps


@dataclass(frozen=True)
class SpikeEvents:
    """Spikes driving one imaged population: neuron index, time (s), weight (AP-equivalents).

    ``weights`` None means 1 per spike. Several sources (e.g. simple spikes and complex
    spikes of a Purkinje cell) are concatenated with their own weights (:meth:`concat`).
    """

    indices: np.ndarray
    times: np.ndarray
    weights: np.ndarray | None = None

    @classmethod
    def of(cls, indices: Any, times: Any, weight: float = 1.0) -> SpikeEvents:
        """Events with one weight for every spike."""
        i = np.asarray(indices, dtype=np.int64).ravel()
        t = np.asarray(times, dtype=float).ravel()
        if i.shape != t.shape:
            raise ValueError(f"spikes: indices ({i.size}) and times ({t.size}) differ in "
                             f"length")
        return cls(i, t, None if weight == 1.0 else np.full(i.size, float(weight)))

    @staticmethod
    def concat(parts: Sequence[SpikeEvents]) -> SpikeEvents:
        """All spikes of ``parts`` (weights kept)."""
        if not parts:
            return SpikeEvents(np.array([], np.int64), np.array([]))
        i = np.concatenate([p.indices for p in parts])
        t = np.concatenate([p.times for p in parts])
        w = np.concatenate([p.weights if p.weights is not None else np.ones(p.indices.size)
                            for p in parts])
        return SpikeEvents(i, t, w)

    def weight_array(self) -> np.ndarray:
        """Weights, ones where None."""
        return np.ones(self.indices.size) if self.weights is None else self.weights

    def __len__(self) -> int:
        return int(self.indices.size)


def _check_events(events: SpikeEvents, n_neurons: int, duration: float) -> None:
    i, t = events.indices, events.times
    if i.shape != t.shape or (events.weights is not None and events.weights.shape != i.shape):
        raise ValueError("spikes: indices, times and weights must have the same length")
    if i.size == 0:
        return
    if events.weights is not None and not (events.weights >= 0).all():
        raise ValueError("spikes: weights (AP-equivalents) must be >= 0")
    if i.min() < 0 or i.max() >= n_neurons:
        raise ValueError(f"spikes: neuron index outside 0..{n_neurons - 1}")
    if not np.isfinite(t).all() or t.min() < 0 or t.max() >= duration:
        raise ValueError(f"spikes: times must lie in [0, duration = {duration:g} s)")


def bin_spikes(events: SpikeEvents, n_neurons: int, n_frames: int, fps: float) -> np.ndarray:
    """``(n_neurons, n_frames)`` summed spike weights per frame (frame ``floor(t fps)``)."""
    j = frame_indices(events.times, fps)
    keep = (j >= 0) & (j < n_frames)
    flat = events.indices[keep] * n_frames + j[keep]
    w = events.weight_array()[keep]
    return np.bincount(flat, weights=w, minlength=n_neurons * n_frames).reshape(
        n_neurons, n_frames)


# ============================================================================ AR model
def ar_coefficients(tau_decay: float, fps: float, tau_rise: float = 0.0) -> tuple[float, ...]:
    r"""AR coefficients of a decay (AR(1)) or rise and decay (AR(2)) at ``fps``.

    AR(1): :math:`g = e^{-1/(f_s\tau_d)}`; AR(2): :math:`(d + r, -d r)` with
    :math:`d = e^{-1/(f_s\tau_d)}`, :math:`r = e^{-1/(f_s\tau_r)}` (OASIS's convention
    :math:`c_t = g_1 c_{t-1} + g_2 c_{t-2} + s_t`).
    """
    tau_decay = check_real("tau_decay", tau_decay, minimum=0.0, strict_minimum=True)
    fps = check_real("fps", fps, minimum=0.0, strict_minimum=True)
    d = math.exp(-1.0 / (fps * tau_decay))
    if not tau_rise:
        return (d,)
    tau_rise = check_real("tau_rise", tau_rise, minimum=0.0, strict_minimum=True)
    r = math.exp(-1.0 / (fps * tau_rise))
    return (d + r, -d * r)


def ar_calcium(counts: Any, g: Sequence[float]) -> np.ndarray:
    r""":math:`c_t = \sum_i g_i c_{t-i} + s_t` along the last axis (``lfilter``, all rows)."""
    s = np.asarray(counts, dtype=float)
    if len(g) not in (1, 2):
        raise ValueError(f"g must hold 1 or 2 AR coefficients, got {len(g)}")
    return lfilter([1.0], np.r_[1.0, -np.asarray(g, dtype=float)], s, axis=-1)


def noise_level(dff: Any, fps: float) -> np.ndarray:
    r"""CASCADE noise level of each row (dF/F as a fraction):

    .. math:: \nu = \mathrm{median}_t |\Delta F/F_{t+1} - \Delta F/F_t| / \sqrt{f_s} \times 100

    Rows with fewer than 2 frames give NaN.
    """
    return _noise_level(np.asarray(dff), fps)


def _noise_level(x: np.ndarray, fps: float, scratch: np.ndarray | None = None) -> np.ndarray:
    """:func:`noise_level`, the differences written into ``scratch`` (``x``'s shape) if given."""
    if x.shape[-1] < 2:
        return np.full(x.shape[:-1], np.nan)
    if scratch is None:
        d = np.diff(x, axis=-1)
    else:
        d = np.subtract(x[..., 1:], x[..., :-1], out=scratch[..., : x.shape[-1] - 1])
    np.abs(d, out=d)
    m = d.shape[-1]
    k = m // 2
    d.partition([k - 1, k] if m % 2 == 0 else [k], axis=-1)  # in place: the median order
    median = d[..., k] if m % 2 else 0.5 * (d[..., k - 1] + d[..., k])
    return median.astype(float) / math.sqrt(fps) * 100.0


@dataclass
class ARTraces:
    """Output of :func:`ar_traces`."""

    y: np.ndarray  # (N, T) b + a c + sigma eps
    calcium: np.ndarray  # (N, T) c
    counts: np.ndarray  # (N, T) spikes per frame
    g: tuple[float, ...]
    sigma: float  # noise sd (dF/F units)
    noise_level: np.ndarray  # (N,) measured nu
    fps: float


def ar_traces(counts: Any, fps: float, *, tau_decay: float, amplitude: float,
              noise_level_target: float, tau_rise: float = 0.0, baseline: float = 0.0,
              seed: int | None = 0) -> ARTraces:
    r"""AR(1)/AR(2) traces :math:`y = b + a c + \sigma \epsilon` at a requested noise level.

    :math:`\sigma` is solved (Brent) so that the median over rows of the measured
    :math:`\nu` of :math:`y` equals ``noise_level_target`` on these very noise draws.

    Parameters
    ----------
    counts
        ``(N, T)`` spikes per frame (e.g. :func:`bin_spikes`).
    fps
        Frame rate (Hz).
    tau_decay, tau_rise
        Time constants (s); ``tau_rise = 0`` gives AR(1).
    amplitude
        :math:`a`, dF/F of one spike at its frame.
    noise_level_target
        Requested :math:`\nu` (> 0).
    baseline
        :math:`b`.
    seed
        Seeds the noise.
    """
    fps = check_frame_rate(fps)
    amplitude = check_real("amplitude", amplitude)
    target = check_real("noise_level", noise_level_target, minimum=0.0, strict_minimum=True)
    s = np.atleast_2d(np.asarray(counts, dtype=float))
    g = ar_coefficients(tau_decay, fps, tau_rise)
    c = ar_calcium(s, g)
    z = np.random.default_rng(child_seed(seed, "ar_noise")).standard_normal(s.shape)
    signal = amplitude * c

    def excess(sigma):
        return float(np.median(noise_level(signal + sigma * z, fps))) - target

    hi = target * math.sqrt(fps) / 100 / _MAD_DIFF * 2 + 1e-6
    while excess(hi) < 0:
        hi *= 2
    sigma = brentq(excess, 0.0, hi, xtol=1e-10) if excess(0.0) < 0 else 0.0
    y = baseline + signal + sigma * z
    return ARTraces(y=y, calcium=c, counts=s, g=g, sigma=sigma,
                    noise_level=noise_level(y, fps), fps=fps)


# ============================================================================ presets
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


# ============================================================================ S2F model
@dataclass(frozen=True)
class SynthesisParams:
    """Parameters of the spike-to-fluorescence synthesis (:func:`synthesize`)."""

    indicator: str = "GCaMP6f"  # preset name (INDICATORS)
    fps: float = 30.0  # f_s: frame rate (Hz)
    noise_level: float = 1.0  # nu (CASCADE, % Hz^-1/2): 1 very good, 3-4 decent, >5 poor
    photons: float = 0.0  # F: photons per frame of a ROI at rest; 0: chosen to meet nu
    neuropil: float = 0.7  # r: neuropil contamination coefficient (~0.7)
    neuropil_brightness: float = 0.5  # F_np / F: neuropil photons per ROI-area at rest
    neuropil_pixels: float = 4.0  # neuropil annulus photons / ROI photons (its lower noise)
    drift: float = 0.03  # sd of the slow multiplicative drift gain per ROI
    drift_timescale: float = 60.0  # s: correlation time of the shared slow drift
    trend: float = 0.02  # sd of a per-ROI linear trend over the recording (bleaching)
    brightness_cv: float = 0.0  # coefficient of variation of F across ROIs (lognormal)
    baseline_window: float = 30.0  # s: maximin baseline window
    baseline_bin: float = 1.0  # s: bins whose means the baseline filters
    gaussian_above: float = 50.0  # photons: normal approximation of Poisson above this mean
    calibration_neurons: int = 64  # ROIs on which the photon budget is calibrated

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        get_indicator(self.indicator)
        check_frame_rate(self.fps)
        check_real("noise_level", self.noise_level, minimum=0.0, strict_minimum=True)
        check_real("photons", self.photons, minimum=0.0)
        for name in ("neuropil", "neuropil_brightness", "drift", "trend", "brightness_cv",
                     "gaussian_above"):
            check_real(name, getattr(self, name), minimum=0.0)
        for name in ("neuropil_pixels", "drift_timescale", "baseline_window", "baseline_bin"):
            check_real(name, getattr(self, name), minimum=0.0, strict_minimum=True)
        check_int("calibration_neurons", self.calibration_neurons, minimum=1)


@dataclass
class CalciumTraces:
    """Synthesised imaging data of one population (arrays ``(N, T)``, float32).

    Frame ``j`` is read at ``times[j] = (j + 1) / fps``.
    """

    dff: np.ndarray  # dF/F a pipeline computes (neuropil-corrected, maximin baseline)
    fluorescence: np.ndarray  # raw ROI photons per frame
    neuropil: np.ndarray  # neuropil photons per frame (per ROI area)
    fps: float
    photons: float  # F: photons per frame at rest (median ROI)
    brightness: np.ndarray  # (N,) F_i / F
    noise_level: np.ndarray  # (N,) measured nu of dff
    indicator: str
    clean_dff: np.ndarray | None = None  # noise-free indicator dF/F (if kept)
    neuropil_dff: np.ndarray | None = None  # (T,) neuropil dF/F (noise-free)
    drift: np.ndarray | None = None  # (T,) shared slow drift process
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.dff.shape[1])

    @property
    def times(self) -> np.ndarray:
        """Read-out time of each frame (s)."""
        return frame_times(self.n_frames, self.fps)


def _sorted_events(events: SpikeEvents) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(events.indices, kind="stable")
    return events.indices[order], events.times[order], events.weight_array()[order]


_THREAD = threading.local()


def _thread_buffer(size: int) -> np.ndarray:
    """A float64 buffer of ``size`` elements owned by the calling thread, reused between
    blocks (so their memory is not returned to the system and faulted in again)."""
    buffer = getattr(_THREAD, "buffer", None)
    if buffer is None or buffer.size < size:
        buffer = _THREAD.buffer = np.empty(size)
    return buffer[:size]


def _calcium_block(idx: np.ndarray, times: np.ndarray, weights: np.ndarray, lo: int, n: int,
                   T: int, fps: float, kernel: KernelFit, *,
                   spare: list[np.ndarray] | None = None) -> np.ndarray:
    """Kernel sum :math:`\\sum_k w_k h(t_j - t_k)` of neurons ``lo..lo+n-1`` (float64).

    Both exponentials are exact between frames, so the sum obeys the AR(2) recursion
    :math:`c_j = (d + r) c_{j-1} - d r\\, c_{j-2} + v_j` with a sparse input
    :math:`v_j` (spikes of frames :math:`j` and :math:`j - 1`), built with one
    ``np.bincount`` and filtered with one ``lfilter`` over the block. With ``spare`` (a list)
    the input lives in the thread's reused buffer and is handed back, free once filtered,
    as scratch memory for the caller.
    """
    j = frame_indices(times, fps)
    keep = j < T
    j, idx, times, weights = j[keep], idx[keep], times[keep], weights[keep]
    delay = np.maximum((j + 1) / fps - times, 0.0)  # spike to the frame's read-out
    ed = weights * np.exp(-delay / kernel.tau_decay)
    er = weights * np.exp(-delay / kernel.tau_rise)
    d = math.exp(-1.0 / (fps * kernel.tau_decay))
    r = math.exp(-1.0 / (fps * kernel.tau_rise))
    flat = (idx - lo) * T + j
    nxt = j + 1 < T  # the frame-(j - 1) terms of v_{j+1}
    where = np.concatenate([flat, flat[nxt] + 1])
    what = np.concatenate([ed - er, d * er[nxt] - r * ed[nxt]])
    if spare is None:
        v = np.bincount(where, weights=what, minlength=n * T).reshape(n, T)
    else:  # this thread's reused input buffer: no fresh memory per block
        v = _thread_buffer(n * T).reshape(n, T)
        v.fill(0.0)
        np.add.at(v.reshape(-1), where, what)
    c = lfilter([1.0 / kernel.norm], [1.0, -(d + r), d * r], v, axis=1)
    if spare is not None:
        spare.append(v)
    return c


def clean_dff(events: SpikeEvents, n_neurons: int, n_frames: int, fps: float,
              indicator: str | Indicator) -> np.ndarray:
    """Noise-free indicator dF/F ``(n_neurons, n_frames)`` (float64) of ``events``."""
    ind = get_indicator(indicator)
    kernel = fit_kernel(ind)
    idx, t, w = _sorted_events(events)
    c = _calcium_block(idx, t, w, 0, n_neurons, n_frames, fps, kernel)
    return _dff_of_increment(c, ind, kernel.ca_per_ap)


def one_ap_response(indicator: str | Indicator, *, fps: float = 1000.0,
                    duration: float = 3.0, spike_time: float = 0.0) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """Noise-free dF/F of one AP sampled at ``fps``: ``(times, dff)``, spike at ``spike_time``."""
    n = frame_count(duration, fps)
    dff = clean_dff(SpikeEvents.of([0], [spike_time]), 1, n, fps, indicator)[0]
    return frame_times(n, fps) - spike_time, dff


def measure_transient(times: np.ndarray, dff: np.ndarray) -> dict[str, float]:
    """Peak dF/F, time to peak and half-decay time (peak to half, linear interpolation)."""
    k = int(np.argmax(dff))
    peak = float(dff[k])
    after = np.flatnonzero(dff[k:] <= peak / 2)
    if not len(after):
        return {"peak": peak, "time_to_peak": float(times[k]), "half_decay": float("nan")}
    m = k + int(after[0])
    t_half = times[m - 1] + (times[m] - times[m - 1]) * (dff[m - 1] - peak / 2) / (
        dff[m - 1] - dff[m])
    return {"peak": peak, "time_to_peak": float(times[k]), "half_decay": float(t_half - times[k])}


def _maximin_bins(f: np.ndarray, fps: float, window: float,
                  bin_s: float) -> tuple[np.ndarray, int]:
    """suite2p-style maximin baseline on bin means: ``(n, bins)`` and the bin length.

    Bin means of ``bin_s`` seconds (the last bin may be shorter), a minimum filter and then
    a maximum filter over ``window`` seconds; frame :math:`j` takes the value of its bin
    :math:`\\lfloor j / B \\rfloor`.
    """
    n, T = f.shape
    B = min(T, max(1, round(bin_s * fps)))
    nb = T // B
    means = f[:, :nb * B].reshape(n, nb, B).mean(axis=2)
    if nb * B < T:  # last partial bin
        means = np.concatenate([means, f[:, nb * B:].mean(axis=1, keepdims=True)], axis=1)
    w = max(1, round(window / bin_s))
    base = maximum_filter1d(minimum_filter1d(means, w, axis=1, mode="nearest"), w, axis=1,
                            mode="nearest")
    return base, B


def _divide_by_baseline(f: np.ndarray, base: np.ndarray, B: int) -> None:
    """``f <- f / F0 - 1`` in place, ``F0`` constant over each bin of ``B`` frames."""
    n, T = f.shape
    nb = T // B
    full = f[:, :nb * B].reshape(n, nb, B)
    full /= base[:, :nb, None]
    if nb * B < T:
        f[:, nb * B:] /= base[:, nb:nb + 1]
    f -= f.dtype.type(1.0)


def _shot_rng(seed: int) -> np.random.Generator:
    """Generator of the shot noise: SFC64, 20-25% faster than PCG64 for normal draws (the
    largest single cost of the synthesis)."""
    return np.random.Generator(np.random.SFC64(seed))


def _shot(lam: np.ndarray, rest: np.ndarray, threshold: float, rng: np.random.Generator,
          scratch: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Photon counts of mean ``lam``, in place.

    Rows whose resting mean is below ``threshold`` get exact Poisson counts; the others the
    normal approximation :math:`\\lambda + \\sqrt{\\lambda}\\, z` (not rounded: at 50
    photons or more the skewness is below 0.15 and rounding would add a variance of 1/12).
    ``scratch``: two C-contiguous float32 arrays of ``lam``'s shape to work in.
    """
    exact = rest < threshold
    if exact.all():
        lam[...] = rng.poisson(np.maximum(lam, 0.0))
        return lam
    if exact.any():
        counts = rng.poisson(np.maximum(lam[exact], 0.0))
    if scratch is None:
        scratch = (np.empty(lam.shape, np.float32), np.empty(lam.shape, np.float32))
    noise, z = scratch
    np.sqrt(lam, out=noise)  # lam > 0: drift gains are clipped at 0.05
    rng.standard_normal(out=z, dtype=np.float32)
    noise *= z
    lam += noise
    if exact.any():
        lam[exact] = counts
    return lam


@dataclass
class _Shared:
    """What every block needs: population neuropil, drift process, per-ROI draws."""

    kernel: KernelFit
    ind: Indicator
    T: int
    fps: float
    neuropil_dff: np.ndarray  # (T,)
    drift: np.ndarray  # (T,)
    ramp: np.ndarray  # (T,) in [-1/2, 1/2]
    brightness: np.ndarray  # (N,)
    gain: np.ndarray  # (N,) drift gain
    slope: np.ndarray  # (N,) trend

    @functools.cached_property
    def drift_basis(self) -> np.ndarray:
        """``(3, T)`` float32: drift process, linear ramp, ones."""
        return np.stack([self.drift, self.ramp, np.ones(self.T)]).astype(np.float32)

    @functools.cached_property
    def drift_bound(self) -> np.ndarray:
        """Largest possible ``1 - m`` per ROI."""
        top = float(np.abs(self.drift).max()) if self.drift.size else 0.0
        return np.abs(self.gain) * top + 0.5 * np.abs(self.slope)


def _block_traces(rows: np.ndarray, ev: tuple[np.ndarray, np.ndarray, np.ndarray],
                  shared: _Shared, params: SynthesisParams, photons: float,
                  rng: np.random.Generator, keep_clean: bool,
                  dest: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Traces of the contiguous neuron range ``rows`` (one vectorised block, float32).

    ``dest`` holds ``(len(rows), T)`` float32 views to fill (``dff``, ``fluorescence``,
    ``neuropil``, ``clean_dff``); fresh arrays when None.
    """
    lo, n = int(rows[0]), len(rows)
    f32 = np.float32
    if dest is None:
        dest = {}
    for key in ("dff", "fluorescence", "neuropil") + (("clean_dff",) if keep_clean else ()):
        if key not in dest:
            dest[key] = np.empty((n, shared.T), np.float32)
    idx, times, weights = ev
    a, b = np.searchsorted(idx, [lo, lo + n])
    spare: list[np.ndarray] = []
    c = _calcium_block(idx[a:b], times[a:b], weights[a:b], lo, n, shared.T, shared.fps,
                       shared.kernel, spare=spare)
    dff = dest["fluorescence"]  # built in place: calcium -> dF/F -> photons -> counts
    dff[...] = c
    # the two float64 blocks are free now: four float32 scratch arrays, no new allocation
    work = [part.reshape(n, shared.T) for buf in (spare[0], c)
            for part in np.split(buf.reshape(-1).view(np.float32), 2)]
    del c, spare
    _dff_of_increment(dff, shared.ind, shared.kernel.ca_per_ap, work[0])
    if keep_clean:
        dest["clean_dff"][...] = dff
    r = f32(params.neuropil)
    f_rest = (photons * shared.brightness[rows]).astype(np.float32)[:, None]
    np_rest = photons * params.neuropil_brightness
    np_true = (np_rest * (1 + shared.neuropil_dff)).astype(np.float32)[None, :]  # (1, T)
    # drift gain m = 1 + g_i D(t) + s_i R(t): one (n, 3) x (3, T) product
    coef = np.stack([shared.gain[rows], shared.slope[rows], np.ones(n)], axis=1)
    m = np.matmul(coef.astype(np.float32), shared.drift_basis, out=work[1])
    if shared.drift_bound[rows].max() > 0.9:  # only a huge drift can reach 0.05
        np.maximum(m, f32(0.05), out=m)
    lam = dff  # expected ROI photons, built in place
    lam *= f_rest
    lam += f_rest
    lam += r * np_true
    lam *= m
    rest_mean = f_rest[:, 0] + params.neuropil * np_rest
    f_roi = _shot(lam, rest_mean, params.gaussian_above, rng, (work[2], work[3]))
    k = f32(params.neuropil_pixels)
    f_np = dest["neuropil"]
    np.multiply(m, k * np_true, out=f_np)  # expected annulus photons
    del m
    _shot(f_np, np.full(n, float(k) * np_rest), params.gaussian_above, rng,
          (work[2], work[3]))
    f_np /= k
    corr = dest["dff"]
    np.multiply(f_np, -r, out=corr)
    corr += f_roi
    base, B = _maximin_bins(corr, shared.fps, params.baseline_window, params.baseline_bin)
    np.maximum(base, f32(1e-3 * max(photons, 1.0)), out=base)
    _divide_by_baseline(corr, base, B)
    dest["_scratch"] = work[0]  # for the caller's noise level
    return dest


def _shared(events: SpikeEvents, n: int, T: int, params: SynthesisParams,
            seed: int | None) -> _Shared:
    ind = get_indicator(params.indicator)
    kernel = fit_kernel(ind)
    fps = params.fps
    # neuropil: the indicator's response to the population-mean calcium
    if n and len(events):
        pooled = SpikeEvents(np.zeros(len(events), np.int64), events.times,
                             events.weight_array() / n)
        c = _calcium_block(*_sorted_events(pooled), 0, 1, T, fps, kernel)[0]
        np_dff = _dff_of_increment(c, ind, kernel.ca_per_ap)
    else:
        np_dff = np.zeros(T)
    # shared slow drift: unit white noise on a 0.1-s grid, Gaussian-filtered (sd
    # drift_timescale), scaled to unit variance (that of the filtered process, so a short
    # recording sees a nearly constant offset), interpolated to the frames
    rng = np.random.default_rng(child_seed(seed, "calcium", "drift"))
    t_frames = frame_times(T, fps)
    grid = np.arange(0.0, t_frames[-1] + 0.1 + 1e-9, 0.1) if T else np.zeros(1)
    width = params.drift_timescale / 0.1
    white = gaussian_filter1d(rng.standard_normal(grid.size + int(8 * width)), width,
                              mode="wrap")[: grid.size]
    drift = np.interp(t_frames, grid, white * math.sqrt(2 * math.sqrt(math.pi) * width))
    ramp = (np.arange(T) / max(T - 1, 1)) - 0.5
    rng_roi = np.random.default_rng(child_seed(seed, "calcium", "rois"))
    cv = params.brightness_cv
    s2 = math.log(1 + cv * cv)
    brightness = np.exp(rng_roi.normal(0.0, math.sqrt(s2), n)) if cv > 0 else np.ones(n)
    gain = rng_roi.normal(0.0, params.drift, n)
    slope = rng_roi.normal(0.0, params.trend, n)
    return _Shared(kernel=kernel, ind=ind, T=T, fps=fps, neuropil_dff=np_dff, drift=drift,
                   ramp=ramp, brightness=brightness, gain=gain, slope=slope)


def _initial_photons(params: SynthesisParams) -> float:
    """Photon budget that meets nu for white noise (activity and baseline bias ignored)."""
    r, nb, k = params.neuropil, params.neuropil_brightness, params.neuropil_pixels
    sigma = params.noise_level * math.sqrt(params.fps) / 100.0 / _MAD_DIFF
    return (1 + r * nb + r * r * nb / k) / sigma ** 2


def _calibrate_photons(ev, shared: _Shared, n: int, params: SynthesisParams,
                       seed: int | None) -> tuple[float, float, int]:
    """Fixed point :math:`F \\leftarrow F (\\nu/\\nu^*)^2` on a random subset of ROIs.

    The same noise draws are used in every iteration; a population of at most
    ``calibration_neurons`` (and one block) is calibrated on the draws of the synthesis
    itself, so its measured nu is the calibrated one. Returns the photon budget, the median
    nu on the subset and the iterations.
    """
    rng = np.random.default_rng(child_seed(seed, "calcium", "calibration_rows"))
    count = min(n, params.calibration_neurons)
    whole = count == n and n <= _BLOCK  # calibrate on the very draws of the synthesis
    rows = np.arange(n) if whole else np.sort(rng.choice(n, size=count, replace=False))
    # the subset as its own small population (same per-ROI draws)
    idx, times, weights = ev
    take = np.isin(idx, rows)
    remap = np.searchsorted(rows, idx[take])
    sub_ev = (remap, times[take], weights[take])
    sub = _Shared(kernel=shared.kernel, ind=shared.ind, T=shared.T, fps=shared.fps,
                  neuropil_dff=shared.neuropil_dff, drift=shared.drift, ramp=shared.ramp,
                  brightness=shared.brightness[rows], gain=shared.gain[rows],
                  slope=shared.slope[rows])
    photons = _initial_photons(params)
    target = params.noise_level
    nu = float("nan")
    for iteration in range(1, 13):  # same draws every iteration (common random numbers)
        draw = _shot_rng(child_seed(seed, "calcium", "shot", 0) if whole
                         else child_seed(seed, "calcium", "calibration"))
        nu_rows = noise_level(_block_traces(np.arange(count), sub_ev, sub, params, photons,
                                            draw, False)["dff"], shared.fps)
        nu = float(np.median(nu_rows))
        if abs(nu / target - 1) < 0.01:
            return photons, nu, iteration
        photons *= (nu / target) ** 2
        photons = float(np.clip(photons, 1e-3, 1e9))
    return photons, nu, iteration


@contextlib.contextmanager
def _small_pages() -> Iterator[None]:
    """Allocate without numpy's transparent-huge-page hint inside the block.

    The synthesis allocates gigabytes of arrays in all; where the kernel compacts memory on
    demand for ``madvise`` huge pages (``defrag = madvise``, common), that cost 3-10 s of
    system time per 10^4 x 18000 traces here (outputs included), more than the faults of
    4-kB pages. numpy's private switch is used when present and restored afterwards.
    """
    switch = getattr(getattr(np, "_core", np).multiarray, "_set_madvise_hugepage", None)
    if switch is None:  # pragma: no cover - other numpy layouts
        yield
        return
    previous = switch(False)
    try:
        yield
    finally:
        switch(previous)


def synthesize(events: SpikeEvents, n_neurons: int, duration: float,
               params: SynthesisParams | None = None, *, seed: int | None = 0,
               dt: float | None = None, keep_clean: bool = False,
               workers: int = 0) -> CalciumTraces:
    r"""Synthesise the imaging data of one population from its spikes.

    See the module docstring for the model. Vectorised over neurons in blocks of 128 rows
    (kernel sums with ``np.bincount`` + one AR(2) ``lfilter`` per block).

    Parameters
    ----------
    events
        Spikes (neuron index, time in s, weight in AP-equivalents).
    n_neurons
        Number of ROIs (one per neuron, index order).
    duration
        Recording length (s); frames ``ceil(duration * fps)``.
    params
        Model parameters (defaults: :class:`SynthesisParams`).
    seed
        Seeds drift, ROI draws, calibration and shot noise (named child seeds).
    dt
        Simulation time step (s): ``fps > 1/dt`` is refused.
    keep_clean
        Also return the noise-free dF/F (``clean_dff``).
    workers
        Threads over blocks (0: ``min(2, cpu_count)``); results do not depend on it.

    Returns
    -------
    CalciumTraces
        With ``photons`` the budget that met ``params.noise_level`` (or ``params.photons``)
        and ``noise_level`` the measured :math:`\nu` per ROI. No spikes: flat traces plus
        noise; ``n_neurons = 0``: ``(0, T)`` arrays.

    Raises
    ------
    ValueError
        Unknown indicator (the known ones listed), ``fps`` above ``1/dt``, a recording
        shorter than one frame, spikes outside the population or the recording.
    """
    params = params if params is not None else SynthesisParams()
    params.validate()
    with _small_pages():
        return _synthesize(events, n_neurons, duration, params, seed=seed, dt=dt,
                           keep_clean=keep_clean, workers=workers)


def _synthesize(events: SpikeEvents, n_neurons: int, duration: float,
                params: SynthesisParams, *, seed: int | None, dt: float | None,
                keep_clean: bool, workers: int) -> CalciumTraces:
    fps = check_frame_rate(params.fps, dt)
    n = check_int("n_neurons", n_neurons, minimum=0)
    duration = check_real("duration", duration, minimum=0.0, strict_minimum=True)
    T = frame_count(duration, fps)
    if T < 2:
        raise ValueError(f"duration: {duration:g} s gives {T} frame(s) at {fps:g} Hz; at least "
                         f"2 are needed")
    _check_events(events, n, duration)
    shared = _shared(events, n, T, params, seed)
    ev = _sorted_events(events)
    meta: dict[str, Any] = {"kernel_tau_rise_s": shared.kernel.tau_rise,
                            "kernel_tau_decay_s": shared.kernel.tau_decay,
                            "ca_per_ap_nM": shared.kernel.ca_per_ap}
    if n == 0:
        empty = np.zeros((0, T), np.float32)
        return CalciumTraces(dff=empty, fluorescence=empty.copy(), neuropil=empty.copy(),
                             fps=fps, photons=float(params.photons), brightness=np.zeros(0),
                             noise_level=np.zeros(0), indicator=shared.ind.name,
                             clean_dff=empty.copy() if keep_clean else None,
                             neuropil_dff=shared.neuropil_dff, drift=shared.drift,
                             metadata=meta)
    if params.photons > 0:
        photons = float(params.photons)
    else:
        photons, nu_cal, iterations = _calibrate_photons(ev, shared, n, params, seed)
        meta.update(calibration_noise_level=nu_cal, calibration_iterations=iterations)
    keys = ["dff", "fluorescence", "neuropil"] + (["clean_dff"] if keep_clean else [])
    arrays = {key: np.empty((n, T), np.float32) for key in keys}
    nu = np.empty(n)

    def run_block(lo: int) -> None:
        rows = np.arange(lo, min(n, lo + _BLOCK))
        rng = _shot_rng(child_seed(seed, "calcium", "shot", lo))
        views = {key: arrays[key][lo:lo + len(rows)] for key in keys}
        _block_traces(rows, ev, shared, params, photons, rng, keep_clean, views)
        nu[lo:lo + len(rows)] = _noise_level(views["dff"], fps, views["_scratch"])

    starts = range(0, n, _BLOCK)
    threads = check_int("workers", workers, minimum=0) or min(2, os.cpu_count() or 1)
    if threads > 1 and len(starts) > 1:  # numpy, scipy and the RNG release the GIL
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(run_block, starts))
    else:
        for lo in starts:
            run_block(lo)
    return CalciumTraces(dff=arrays["dff"], fluorescence=arrays["fluorescence"],
                         neuropil=arrays["neuropil"], fps=fps, photons=photons,
                         brightness=shared.brightness, noise_level=nu,
                         indicator=shared.ind.name, clean_dff=arrays.get("clean_dff"),
                         neuropil_dff=shared.neuropil_dff, drift=shared.drift, metadata=meta)


# ============================================================================ validation
def smoothed_correlation(a: Any, b: Any, fps: float, sigma_s: float = 0.05) -> np.ndarray:
    """Pearson r of each row of ``a`` and ``b`` after Gaussian smoothing (sd ``sigma_s``)."""
    x = gaussian_filter1d(np.atleast_2d(np.asarray(a, float)), sigma_s * fps, axis=-1)
    y = gaussian_filter1d(np.atleast_2d(np.asarray(b, float)), sigma_s * fps, axis=-1)
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((x * x).sum(-1) * (y * y).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (x * y).sum(-1) / den, np.nan)


def deconvolve_oasis(y: Any, fps: float, *, tau_decay: float | None = None,
                     tau_rise: float = 0.0, order: int = 1, lags: int = 20,
                     penalty: int = 1) -> tuple[np.ndarray, tuple[float, ...], float]:
    """Deconvolve one trace with OASIS (package ``oasis-deconv``).

    With ``tau_decay`` None the AR coefficients are estimated by OASIS
    (``estimate_parameters``: noise from the power spectrum, AR(``order``) fitted by
    nonlinear least squares to ``lags`` lags of the autocovariance); otherwise the given
    time constants are used (AR(1), or AR(2) when ``tau_rise > 0``). ``deconvolve`` then
    solves the noise-constrained L1 problem (``penalty=1``).

    Returns
    -------
    spikes, g, tau_decay
        Inferred activity per frame, the AR coefficients and the decay time constant (s)
        (estimated, or the one given).

    Raises
    ------
    ValueError
        If the estimated AR process is not a decay (no root in (0, 1)).
    """
    try:
        from oasis.functions import deconvolve, estimate_parameters
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("deconvolve_oasis needs OASIS: pip install oasis-deconv "
                          "(or memcircuits[calcium])") from exc
    trace = np.asarray(y, dtype=float)
    sn = None
    if tau_decay is None:
        g_est, sn = estimate_parameters(trace, p=order, lags=lags, nonlinear_fit=True)
        g_est = np.atleast_1d(g_est)
        roots = np.abs(np.roots(np.r_[1.0, -g_est]))
        roots = np.sort(roots[(roots > 0) & (roots < 1)])[::-1]
        if not len(roots):
            raise ValueError(f"y: OASIS estimated AR coefficients {g_est.tolist()} without a "
                             f"decay; pass tau_decay")
        tau_decay = -1.0 / (fps * math.log(roots[0]))
        if order == 2 and len(roots) > 1:
            tau_rise = -1.0 / (fps * math.log(roots[1]))
    g = ar_coefficients(tau_decay, fps, tau_rise)
    result = deconvolve(trace, tau_d=tau_decay, tau_r=tau_rise or 0, framerate=fps, sn=sn,
                        penalty=penalty)
    return np.asarray(result[1]), g, float(tau_decay)
