r"""Calcium indicators: cited 1-AP responses, the Hill fluorescence of calcium, kernel fits.

:data:`INDICATORS` holds the presets; :func:`fit_kernel` fits the rise/decay kernel and the
calcium step per action potential so that one AP gives the cited peak dF/F, time to peak and
half-decay time. The equations are in :mod:`analysis.calcium`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import brentq, least_squares

from analysis._presets import lookup_preset
from models._checks import check_real

__all__ = ["INDICATORS", "Indicator", "KernelFit", "fit_kernel", "get_indicator", "hill_dff"]


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
    return lookup_preset(name, INDICATORS, Indicator, "indicator")


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
    r"""Time of the maximum of :math:`e^{-t/\tau_d} - e^{-t/\tau_r}` and the maximum."""
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


