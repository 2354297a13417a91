r"""The spike-to-fluorescence model: kernel sum, Hill saturation, neuropil, drift, shot noise.

:func:`synthesize` turns spikes into the dF/F traces of a two-photon recording at the
requested noise level; the equations are in :mod:`analysis.calcium`.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d
from scipy.signal import lfilter

from analysis.calcium_ar import _MAD_DIFF, _noise_level, noise_level
from analysis.calcium_frames import (
    SpikeEvents,
    _check_events,
    check_frame_rate,
    frame_count,
    frame_indices,
    frame_times,
)
from analysis.calcium_indicators import (
    Indicator,
    KernelFit,
    _dff_of_increment,
    fit_kernel,
    get_indicator,
)
from models._checks import check_int, check_real
from models.seeding import child_seed

__all__ = [
    "CalciumTraces",
    "SynthesisParams",
    "clean_dff",
    "measure_transient",
    "one_ap_response",
    "synthesize",
]


_BLOCK = 128  # neurons per vectorised block (fixed, so noise draws never depend on it)

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
    """A float64 buffer of ``size`` elements owned by the calling thread.

    Reused between blocks, so their memory is not returned to the system and faulted in again.
    """
    buffer = getattr(_THREAD, "buffer", None)
    if buffer is None or buffer.size < size:
        buffer = _THREAD.buffer = np.empty(size)
    return buffer[:size]


def _calcium_block(idx: np.ndarray, times: np.ndarray, weights: np.ndarray, lo: int, n: int,
                   T: int, fps: float, kernel: KernelFit, *,
                   spare: list[np.ndarray] | None = None) -> np.ndarray:
    r"""Kernel sum :math:`\sum_k w_k h(t_j - t_k)` of neurons ``lo..lo+n-1`` (float64).

    Both exponentials are exact between frames, so the sum obeys the AR(2) recursion
    :math:`c_j = (d + r) c_{j-1} - d r\, c_{j-2} + v_j` with a sparse input
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
    r"""suite2p-style maximin baseline on bin means: ``(n, bins)`` and the bin length.

    Bin means of ``bin_s`` seconds (the last bin may be shorter), a minimum filter and then
    a maximum filter over ``window`` seconds; frame :math:`j` takes the value of its bin
    :math:`\lfloor j / B \rfloor`.
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
    """Generator of the shot noise: SFC64.

    SFC64 is 20-25% faster than PCG64 for normal draws (the largest single cost of the synthesis).
    """
    return np.random.Generator(np.random.SFC64(seed))


def _shot(lam: np.ndarray, rest: np.ndarray, threshold: float, rng: np.random.Generator,
          scratch: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    r"""Photon counts of mean ``lam``, in place.

    Rows whose resting mean is below ``threshold`` get exact Poisson counts; the others the
    normal approximation :math:`\lambda + \sqrt{\lambda}\, z` (not rounded: at 50
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
    r"""Fixed point :math:`F \leftarrow F (\nu/\nu^*)^2` on a random subset of ROIs.

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

