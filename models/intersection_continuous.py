r"""Continuous SDM intersections: the overlap of two hyperspherical caps on :math:`S^{n-1}`.

The continuous analogue of :mod:`models.intersection_binary` (Lee & Kim 2014; the continuous
SDM of Bricken & Pehlevan 2021): :func:`continuous_intersection` /
:func:`log_continuous_intersection` give the fraction of the sphere within cosine threshold
:math:`t` of two centres, :func:`cap_fraction` / :func:`log_cap_fraction` that of one cap,
and the ``*_from_hamming`` variants map a Hamming radius and distance to cosines
(:math:`\cos = 1 - 2 d_v / n`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import integrate, special

from models._checks import check_int, check_real
from models.intersection_binary import hamming_to_cosine

__all__ = [
    "cap_fraction",
    "continuous_intersection",
    "continuous_intersection_from_hamming",
    "log_cap_fraction",
    "log_continuous_intersection",
    "log_continuous_intersection_from_hamming",
]


# --------------------------------------------------------------------------------------------
# continuous intersections (hyperspherical caps)
# --------------------------------------------------------------------------------------------

def _log_betainc(a: float, b: float, x: float) -> float:
    r"""Natural log of the regularised incomplete beta :math:`I_x(a, b)`, without underflow.

    Where ``scipy.special.betainc`` is representable it is used directly; in its far lower
    tail the hypergeometric series

    .. math:: I_x(a, b) = \frac{x^a (1-x)^b}{a B(a, b)} \, {}_2F_1(a+b, 1; a+1; x)

    is evaluated in log space.
    """
    if x <= 0.0:
        return -math.inf
    if x >= 1.0:
        return 0.0
    value = special.betainc(a, b, x)
    if value > 1e-250:
        return math.log(value)
    series = special.hyp2f1(a + b, 1.0, a + 1.0, x)
    return (a * math.log(x) + b * math.log1p(-x) - math.log(a) - special.betaln(a, b)
            + math.log(series))


def _check_cos(name: str, value: Any) -> float:
    value = check_real(name, value)
    if not -1.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [-1, 1], got {value}")
    return value


def log_cap_fraction(n: int, cos_threshold: float) -> float:
    r"""Log of the fraction of :math:`S^{n-1}` in the cap :math:`\{x: \cos(x, c) \ge t\}`.

    With :math:`\theta = \arccos t`, for :math:`\theta \le \pi/2` (Li 2011)

    .. math:: A_\mathrm{cap} / A_\mathrm{sphere}
              = \tfrac12 I_{\sin^2\theta}\left(\tfrac{n-1}{2}, \tfrac12\right),

    and :math:`1 -` that of the complementary cap for :math:`\theta > \pi/2`.
    """
    n = check_int("n", n, minimum=2)
    t = _check_cos("cos_threshold", cos_threshold)
    return _log_cap_fraction(n, t)


def cap_fraction(n: int, cos_threshold: float) -> float:
    """Fraction of :math:`S^{n-1}` in a cap; see :func:`log_cap_fraction`."""
    return math.exp(log_cap_fraction(n, cos_threshold))


def _log_cap_fraction(n: int, t: float) -> float:
    if t >= 1.0:
        return -math.inf  # a single point
    if t <= -1.0:
        return 0.0
    sin2 = 1.0 - t * t
    half = math.log(0.5) + _log_betainc((n - 1) / 2.0, 0.5, sin2)
    if t >= 0.0:
        return half
    return math.log1p(-math.exp(half))


def _log_half_lens(n: int, theta: float, phi: float) -> float:
    r"""Log of :math:`J_n^{\phi/2, \theta} / A_\mathrm{sphere}` (Lee & Kim 2014), theta <= pi/2.

    .. math::

        \frac{J_n^{\theta_a, \theta_b}}{A_\mathrm{sphere}}
        = \frac{\Gamma(n/2)}{2 \sqrt{\pi}\, \Gamma((n-1)/2)}
          \int_{\theta_a}^{\theta_b} \sin^{n-2}\psi \;
          I_{1 - \tan^2\theta_a / \tan^2\psi}\left(\tfrac{n-2}{2}, \tfrac12\right) d\psi

    The integrand rises monotonically to its maximum at :math:`\psi = \theta_b`; it is
    integrated divided by that maximum (log-space scaling of :math:`\sin^{n-2}`), so nothing
    underflows for n in the thousands.
    """
    a = (n - 2) / 2.0
    theta_a = phi / 2.0
    tan_a = math.tan(theta_a)

    def log_integrand(psi: float) -> float:
        ratio = tan_a / math.tan(psi)
        return (n - 2) * math.log(math.sin(psi)) + _log_betainc(a, 0.5, 1.0 - ratio * ratio)

    peak = log_integrand(theta)
    if not math.isfinite(peak):
        return -math.inf

    def scaled(psi: float) -> float:
        if psi <= theta_a:
            return 0.0
        return math.exp(log_integrand(psi) - peak)

    value, _ = integrate.quad(scaled, theta_a, theta, epsabs=0.0, epsrel=1e-11, limit=400)
    if value <= 0.0:
        return -math.inf
    # J_n / A_sphere = Gamma(n/2) / (2 sqrt(pi) Gamma((n-1)/2)) * integral
    prefactor = (special.gammaln(n / 2.0) - special.gammaln((n - 1) / 2.0)
                 - 0.5 * math.log(math.pi) - math.log(2.0))
    return prefactor + peak + math.log(value)


def _log_cap_intersection(n: int, t: float, c: float) -> float:
    """Log fraction of the sphere in two caps of threshold ``t`` whose centres have cosine c."""
    if t <= -1.0:
        return 0.0
    if t >= 1.0:
        return -math.inf
    theta = math.acos(t)
    phi = math.acos(min(1.0, max(-1.0, c)))
    if theta <= math.pi / 2:
        if phi <= 0.0:
            return _log_cap_fraction(n, t)
        if phi >= 2.0 * theta:
            return -math.inf
        return math.log(2.0) + _log_half_lens(n, theta, phi)
    # Caps larger than a hemisphere: |A n B| = |A| + |B| - 1 + |A^c n B^c|, where the
    # complements are caps of angle pi - theta around the antipodes, also phi apart.
    log_cap = _log_cap_fraction(n, t)
    inner = _log_cap_intersection(n, -t, c)
    value = 2.0 * math.exp(log_cap) - 1.0 + (math.exp(inner) if math.isfinite(inner) else 0.0)
    return math.log(value) if value > 0.0 else -math.inf


def log_continuous_intersection(n: int, cos_threshold: float, cos_between: Any) -> Any:
    r"""Log fraction of :math:`S^{n-1}` in the intersection of two hyperspherical caps.

    Each cap is :math:`\{x \in S^{n-1}: \cos(x, c_i) \ge t\}` with :math:`t` =
    ``cos_threshold``; the centres have cosine similarity ``cos_between``. With
    :math:`\theta = \arccos t` and :math:`\phi = \arccos(\cos(c_1, c_2))`, for
    :math:`\theta \le \pi/2` and :math:`0 < \phi < 2\theta` Lee & Kim (2014) give, for equal
    caps (:math:`\theta_\mathrm{min} = \phi / 2`),

    .. math:: A_\cap = J_n^{\phi/2, \theta} + J_n^{\phi/2, \theta} = 2 J_n^{\phi/2, \theta},

    :math:`A_\cap = A_\mathrm{cap}` at :math:`\phi = 0` and :math:`0` for
    :math:`\phi \ge 2\theta`; caps larger than a hemisphere use inclusion-exclusion with
    their complements. See :func:`_log_half_lens` for :math:`J_n`.

    Parameters
    ----------
    n
        Dimension of the ambient space (the sphere is :math:`S^{n-1}`), n >= 3.
    cos_threshold
        Cap threshold :math:`t \in [-1, 1]`.
    cos_between
        Cosine(s) between the centres, scalar or array, in [-1, 1].

    Returns
    -------
    float or numpy.ndarray
        Natural logs (``-inf`` where the intersection has zero area).
    """
    n = check_int("n", n, minimum=3)
    t = _check_cos("cos_threshold", cos_threshold)
    scalar = np.ndim(cos_between) == 0
    values = np.asarray(cos_between, dtype=np.float64)
    if not np.all(np.isfinite(values)) or np.any(np.abs(values) > 1.0):
        raise ValueError(f"cos_between must lie in [-1, 1], got {cos_between!r}")
    cache: dict[float, float] = {}
    out = np.empty(values.shape, dtype=np.float64)
    flat = out.reshape(-1)
    for i, c in enumerate(values.reshape(-1)):
        key = float(c)
        if key not in cache:
            cache[key] = _log_cap_intersection(n, t, key)
        flat[i] = cache[key]
    return float(out) if scalar else out


def continuous_intersection(n: int, cos_threshold: float, cos_between: Any) -> Any:
    """Fraction of :math:`S^{n-1}` in the intersection of two caps.

    ``exp`` of :func:`log_continuous_intersection` (which see); may underflow to 0 for large
    ``n``.
    """
    out = np.exp(log_continuous_intersection(n, cos_threshold, cos_between))
    return float(out) if np.ndim(out) == 0 else out


def log_continuous_intersection_from_hamming(n: int, radius: float, distance: Any) -> Any:
    r"""Log cap-intersection fraction with the Hamming radius and distance mapped to cosines.

    Threshold :math:`t = 1 - 2d/n`, centre cosine :math:`1 - 2 d_v / n`
    (:func:`hamming_to_cosine`); this is the continuous SDM of Bricken & Pehlevan (2021).
    """
    n = check_int("n", n, minimum=3)
    radius = check_real("radius", radius, minimum=0.0, maximum=float(n))
    return log_continuous_intersection(n, hamming_to_cosine(radius, n),
                                       hamming_to_cosine(distance, n))


def continuous_intersection_from_hamming(n: int, radius: float, distance: Any) -> Any:
    """``exp`` of :func:`log_continuous_intersection_from_hamming`."""
    out = np.exp(log_continuous_intersection_from_hamming(n, radius, distance))
    return float(out) if np.ndim(out) == 0 else out
