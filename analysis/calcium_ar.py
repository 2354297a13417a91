r"""The AR calcium model (what OASIS and CaImAn invert) and the CASCADE noise level.

.. math:: c_t = g_1 c_{t-1} + g_2 c_{t-2} + s_t, \qquad y_t = b + a\, c_t + \sigma \epsilon_t

(see :mod:`analysis.calcium`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.signal import lfilter

from analysis.calcium_frames import check_frame_rate
from models._checks import check_real
from models.seeding import child_seed

__all__ = ["ARTraces", "ar_calcium", "ar_coefficients", "ar_traces", "noise_level"]


#: median |N(0, 2 sigma^2)| / sigma: median absolute difference of white noise of sd sigma
_MAD_DIFF = 0.6744897501960817 * math.sqrt(2.0)

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
    r"""CASCADE noise level of each row (dF/F as a fraction).

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


