r"""Validation helpers: smoothed spike-train correlation and OASIS deconvolution."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from analysis.calcium_ar import ar_coefficients

__all__ = ["deconvolve_oasis", "smoothed_correlation"]


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
                     penalty: int = 1, sn: float | None = None
                     ) -> tuple[np.ndarray, tuple[float, ...], float]:
    """Deconvolve one trace with OASIS (package ``oasis-deconv``).

    With ``tau_decay`` None the AR coefficients are estimated by OASIS
    (``estimate_parameters``: noise from the power spectrum, AR(``order``) fitted by
    nonlinear least squares to ``lags`` lags of the autocovariance); otherwise the given
    time constants are used (AR(1), or AR(2) when ``tau_rise > 0``). ``deconvolve`` then
    solves the noise-constrained L1 problem (``penalty=1``) with the per-frame noise sd
    ``sn`` (default: OASIS's estimate from the trace's power spectrum).

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
    if tau_decay is None:
        g_est, sn_est = estimate_parameters(trace, p=order, lags=lags, nonlinear_fit=True)
        sn = sn_est if sn is None else sn
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
