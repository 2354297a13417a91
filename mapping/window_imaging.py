r"""The PF->PC plasticity window as an imaging experiment would recover it.

The window (weight change against the interval from a parallel-fibre spike to the climbing
fibre's, :func:`circuits.cerebellum.plasticity.measure_window`) is measured on the circuit's
own Brian2 synapses. An experiment sees it through a microscope: it images each pairing's
parallel-fibre bouton and the Purkinje dendrite's climbing-fibre calcium event at a frame
rate :math:`f_s` and noise level :math:`\nu`, infers when each happened, and images the
synapse's efficacy before and after the pairing. This module runs that experiment on the
measured window:

1. Pairing :math:`p` (interval :math:`\Delta_p`, one synapse, ``repeats`` per interval) puts
   a PF spike at :math:`t_p = t_0 + u_p` and the CF event at :math:`t_p + \Delta_p`, with
   :math:`u_p` uniform over one frame (the pairings are not locked to the frame clock).
2. Both are synthesised as calcium imaging (:func:`analysis.calcium_synthesis.synthesize`;
   the PF event one action potential, the CF's dendritic event ``cf_event`` AP-equivalents),
   and each event is timed by a matched filter, the frame at which the trace best matches
   the indicator's one-AP response: :math:`\hat\Delta_p = (k^{CF}_p - k^{PF}_p) / f_s` (the
   indicator's latency is common to both and cancels).
3. The synapse's efficacy is imaged through a surface-receptor sensor (SEP-GluA2 time-lapse,
   :func:`analysis.synaptic_imaging.image_synapses`): ``baseline`` s before the pairing and
   after it, :math:`\widehat{\Delta w}_p = \hat e_p - 1` (in units of :math:`w_0`).
4. The recovered window is the mean :math:`\widehat{\Delta w}` in bins of :math:`\hat\Delta`
   (``bin_ms`` wide), compared with the true window binned by the true intervals: its peak
   (the bin of strongest depression, refined by a parabola) and its Pearson correlation with
   the truth. The window is *recovered* when the peak lies within ``peak_tolerance_ms`` of
   the measured one and the correlation reaches ``min_correlation``.

:func:`recover_window` does this at one frame rate and noise level; a grid of them gives the
lowest frame rate and noise level that recover the window (``memcircuits figures
window-imaging``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.calcium_presets import POPULATION_PRESETS
from models._checks import check_int, check_real
from models.seeding import child_seed

__all__ = ["RecoveredWindow", "WindowImaging", "binned_window", "recover_window"]

#: seconds from a trial's start to its PF spike (before the frame-phase jitter)
_PF_AT = 0.2


@dataclass(frozen=True)
class WindowImaging:
    """How the pairings are imaged and what counts as recovering the window."""

    indicator: str = "GCaMP6f"  #: calcium indicator of the PF boutons and the PC dendrite
    repeats: int = 8  #: pairings (synapses) per interval
    #: calcium of a PF event (one granule-cell spike) and of the CF's dendritic event (a
    #: complex spike: the purkinje_dendrite preset's 4 AP-equivalents, an assumption), in
    #: one-AP units
    pf_event: float = POPULATION_PRESETS["granule_soma"].spike_weight
    cf_event: float = float(POPULATION_PRESETS["purkinje_dendrite"].partner_weight)
    synaptic_indicator: str = "SEP-GluA2"  #: efficacy sensor (surface receptors)
    synaptic_fps: float = 1.0  #: Hz, time-lapse of the efficacy
    #: sigma_30 of one synapse's ROI (an assumption, as in mapping.imaged_outputs)
    synaptic_noise: float = 0.2
    baseline: float = 30.0  #: s imaged before and after each pairing for its efficacy
    bin_ms: float = 20.0  #: width of the interval bins of the recovered window
    peak_tolerance_ms: float = 20.0  #: largest peak error of a recovered window
    min_correlation: float = 0.9  #: least correlation of a recovered window with the truth

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        from analysis.calcium_indicators import get_indicator
        from analysis.synaptic_imaging import SynapticImagingParams

        get_indicator(self.indicator)
        check_int("repeats", self.repeats, minimum=1)
        for name in ("pf_event", "cf_event"):
            check_real(name, getattr(self, name), minimum=0.0, strict_minimum=True)
        SynapticImagingParams(indicator=self.synaptic_indicator, fps=self.synaptic_fps,
                              noise=self.synaptic_noise, site="post").validate()
        for name in ("baseline", "bin_ms", "peak_tolerance_ms"):
            check_real(name, getattr(self, name), minimum=0.0, strict_minimum=True)
        check_real("min_correlation", self.min_correlation, minimum=-1.0, maximum=1.0)


@dataclass(frozen=True)
class RecoveredWindow:
    """The window recovered at one frame rate and noise level."""

    fps: float
    noise_level: float
    centres: np.ndarray  #: bin centres (s)
    recovered: np.ndarray  #: mean imaged weight change per bin (NaN: no pairing in it)
    true: np.ndarray  #: mean true weight change of the pairings whose true interval is in it
    timing_error: float  #: median absolute difference of imaged and true intervals (s)
    mistimed: float  #: fraction of pairings whose imaged interval is off by more than 50 ms
    peak: float  #: interval (s) of the recovered window's strongest depression
    true_peak: float  #: the same for the measured window
    correlation: float  #: Pearson r of recovered and true over bins holding both
    ok: bool  #: peak within tolerance and correlation at least the minimum

    @property
    def peak_error(self) -> float:
        """Absolute difference of the recovered and the true peak interval (s)."""
        return abs(self.peak - self.true_peak)


def binned_window(intervals: np.ndarray, change: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Mean ``change`` of the intervals in each bin ``[edges[k], edges[k+1])`` (NaN: none)."""
    k = np.searchsorted(edges, intervals, side="right") - 1
    inside = (k >= 0) & (k < len(edges) - 1) & np.isfinite(change)
    total = np.bincount(k[inside], weights=change[inside], minlength=len(edges) - 1)
    count = np.bincount(k[inside], minlength=len(edges) - 1)
    with np.errstate(invalid="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _peak(centres: np.ndarray, values: np.ndarray) -> float:
    """Centre of the lowest bin, refined by a parabola through it and its neighbours."""
    finite = np.flatnonzero(np.isfinite(values))
    k = int(finite[np.argmin(values[finite])])
    if 0 < k < len(values) - 1 and np.isfinite(values[k - 1:k + 2]).all():
        y0, y1, y2 = values[k - 1:k + 2]
        curvature = y0 - 2 * y1 + y2
        if curvature > 0:
            step = centres[1] - centres[0]
            return float(centres[k] + 0.5 * step * (y0 - y2) / curvature)
    return float(centres[k])


def _event_frames(traces: Any) -> np.ndarray:
    """Frame at which each trace best matches the indicator's one-AP response.

    The matched filter (cross-correlation of the trace with the noise-free 1-AP dF/F at the
    frame rate, the template starting in the frame of the spike): the least-squares onset of
    one event of known shape in white noise.
    """
    from scipy.signal import fftconvolve

    from analysis.calcium_synthesis import one_ap_response

    fps = float(traces.fps)
    _, template = one_ap_response(traces.indicator, fps=fps, duration=1.0)
    dff = np.asarray(traces.dff, dtype=float)
    score = fftconvolve(dff, template[None, ::-1], mode="full", axes=1)
    # score[:, j + len(template) - 1] is the match of a template starting at frame j
    return np.argmax(score[:, len(template) - 1:], axis=1)


def _imaged_changes(change: np.ndarray, imaging: WindowImaging, seed: int) -> np.ndarray:
    """Each synapse's efficacy change as the receptor sensor shows it (units of w0)."""
    from analysis.calcium_frames import SpikeEvents
    from analysis.synaptic_imaging import SynapticImagingParams, image_synapses

    params = SynapticImagingParams(indicator=imaging.synaptic_indicator,
                                   fps=imaging.synaptic_fps, noise=imaging.synaptic_noise,
                                   site="post")
    b = float(imaging.baseline)
    efficacy = np.stack([np.ones_like(change), np.maximum(1.0 + change, 0.0)], axis=1)
    images = image_synapses(SpikeEvents.of([], []), len(change), 2 * b, efficacy, params,
                            change_times=[0.0, b], seed=child_seed(seed, "efficacy"))
    # the second window starts once the sensor has settled (5 time constants)
    settle = min(5 * params.ind.tau_decay, 0.5 * b)
    estimate = images.estimate([(0.0, b), (b + settle, 2 * b)], baseline=0)
    return estimate[:, 1] - 1.0


def recover_window(intervals: Sequence[float], change: Sequence[float], fps: float,
                   noise_level: float, imaging: WindowImaging | None = None, *,
                   seed: int = 0, dt: float | None = None) -> RecoveredWindow:
    r"""Image the pairings of a measured window and recover it (see the module docstring).

    Parameters
    ----------
    intervals, change
        The measured window: PF-CF intervals (s; CF minus PF) and each synapse's weight
        change (units of :math:`w_0`), e.g. from
        :func:`~circuits.cerebellum.plasticity.measure_window`.
    fps, noise_level
        Frame rate (Hz) and noise level :math:`\nu` of the calcium imaging.
    imaging
        Indicators, repeats, bins and the recovery criteria.
    seed
        Seeds the frame phases and every noise draw.
    dt
        Simulation step (s): a frame rate above ``1/dt`` is refused.
    """
    from analysis.calcium_frames import SpikeEvents
    from analysis.calcium_synthesis import SynthesisParams, synthesize

    imaging = imaging if imaging is not None else WindowImaging()
    imaging.validate()
    delta = np.repeat(np.asarray(intervals, dtype=float), imaging.repeats)
    true = np.repeat(np.asarray(change, dtype=float), imaging.repeats)
    if delta.ndim != 1 or len(delta) < 3 or delta.shape != true.shape:
        raise ValueError("intervals and change must be 1-d of the same length >= 3")
    params = SynthesisParams(indicator=imaging.indicator, fps=fps, noise_level=noise_level)
    params.validate()
    rng = np.random.default_rng(child_seed(seed, "frame_phase"))
    pf = _PF_AT + max(0.0, -delta.min()) + rng.uniform(0.0, 1.0 / fps, len(delta))
    cf = pf + delta
    duration = float(cf.max() + 1.0)
    n = len(delta)
    events = SpikeEvents(np.concatenate([2 * np.arange(n), 2 * np.arange(n) + 1]),
                         np.concatenate([pf, cf]),
                         np.repeat([imaging.pf_event, imaging.cf_event], n))
    traces = synthesize(events, 2 * n, duration, params, seed=child_seed(seed, "calcium"),
                        dt=dt)
    frames = _event_frames(traces)
    imaged_delta = (frames[1::2] - frames[0::2]) / float(fps)
    imaged_change = _imaged_changes(true, imaging, seed)
    width = imaging.bin_ms * 1e-3
    edges = np.arange(delta.min() - width / 2, delta.max() + width, width)
    centres = (edges[:-1] + edges[1:]) / 2
    recovered = binned_window(imaged_delta, imaged_change, edges)
    reference = binned_window(delta, true, edges)
    both = np.isfinite(recovered) & np.isfinite(reference)
    r = float(np.corrcoef(recovered[both], reference[both])[0, 1]) if both.sum() > 2 \
        else float("nan")
    peak, true_peak = _peak(centres, recovered), _peak(centres, reference)
    ok = bool(abs(peak - true_peak) <= imaging.peak_tolerance_ms * 1e-3
              and np.isfinite(r) and r >= imaging.min_correlation)
    return RecoveredWindow(fps=float(fps), noise_level=float(noise_level), centres=centres,
                           recovered=recovered, true=reference,
                           timing_error=float(np.median(np.abs(imaged_delta - delta))),
                           mistimed=float(np.mean(np.abs(imaged_delta - delta) > 0.05)),
                           peak=peak,
                           true_peak=true_peak, correlation=r, ok=ok)
