r"""Exact Hamming-ball and hyperspherical-cap intersections, the fitted softmax beta.

Sparse distributed memory (Kanerva 1988) reads a stored pattern with a weight equal to the
number of hard locations (neurons) that lie within Hamming radius :math:`d` of both the
pattern's key and the query. For neurons at random addresses the expected weight is

.. math:: E(d_v) = \frac{r}{2^n} \, I(n, d, d_v),

where :math:`I` counts the points of :math:`\{0,1\}^n` in the intersection of two Hamming
balls of radius :math:`d` whose centres are :math:`d_v` apart. This module computes

- :func:`binary_intersection` / :func:`log_binary_intersection`: :math:`I` exactly with
  Python integers (Kanerva's "ball minus lune" form, appendix B), vectorised over
  :math:`d_v`, exact for any ``n`` (checked to 4096 bits), and its natural logarithm;
- :func:`continuous_intersection` / :func:`log_continuous_intersection`: the continuous
  analogue, the overlap of two hyperspherical caps on :math:`S^{n-1}` (Lee & Kim 2014);
- :func:`fit_beta` / :func:`fit_beta_line` / :func:`fit_beta_continuous`: the
  :math:`\beta` for which :math:`\mathrm{softmax}(\beta \cos)` approximates the normalised
  intersection weights (Bricken & Pehlevan 2021), and the Taylor lower bound
  :func:`taylor_beta_bound`;
- :func:`snr_squared` / :func:`memory_capacity`: the read signal-to-noise ratio and the
  memory capacity of a radius (:func:`models.radius.optimal_radius` picks the best radius).

Hamming distance and cosine similarity of the corresponding bipolar, L2-normalised vectors
are related by :math:`\cos = 1 - 2 d_v / n` (:func:`hamming_to_cosine`).
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
from scipy import integrate, special, stats

from models._checks import check_choice, check_int, check_real

__all__ = [
    "BetaFit",
    "activation_probability",
    "ball_size",
    "binary_intersection",
    "cap_fraction",
    "continuous_intersection",
    "continuous_intersection_from_hamming",
    "fit_beta",
    "fit_beta_continuous",
    "fit_beta_line",
    "hamming_to_cosine",
    "log_activation_probability",
    "log_binary_intersection",
    "log_cap_fraction",
    "log_continuous_intersection",
    "log_continuous_intersection_from_hamming",
    "memory_capacity",
    "retrieval_z_score",
    "snr_optimal_probability",
    "snr_squared",
    "taylor_beta_bound",
]

_LOG2 = math.log(2.0)


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------

def _check_n_radius(n: Any, radius: Any) -> tuple[int, int]:
    n = check_int("n", n, minimum=1)
    radius = check_int("radius", radius, minimum=0)
    if radius > n:
        raise ValueError(f"radius must be <= n ({n}), got {radius}")
    return n, radius


def _check_neurons(neurons: Any) -> Fraction | None:
    """``None`` (every point of the space is a neuron) or a positive, finite number, exactly."""
    if neurons is None:
        return None
    if isinstance(neurons, bool) or not isinstance(neurons, numbers.Real | np.integer
                                                   | np.floating):
        raise TypeError(f"neurons must be None or a positive number, got {neurons!r}")
    if isinstance(neurons, numbers.Integral | np.integer):
        value = Fraction(int(neurons))
    else:
        as_float = float(neurons)
        if not math.isfinite(as_float):
            raise ValueError(f"neurons must be finite, got {neurons!r}")
        value = Fraction(as_float)
    if value <= 0:
        raise ValueError(f"neurons must be > 0, got {neurons!r}")
    return value


def _check_distances(name: str, distance: Any, n: int) -> tuple[np.ndarray, bool]:
    """Integer distances in ``0..n`` as an int64 array, and whether the input was a scalar."""
    scalar = np.ndim(distance) == 0
    array = np.asarray(distance)
    if array.dtype.kind == "b":
        raise TypeError(f"{name} must hold integers, got booleans")
    if array.dtype == object or array.dtype.kind not in "iuf":
        try:
            array = np.asarray(array, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} must be an integer or an array of integers, "
                            f"got {distance!r}") from exc
    if array.dtype.kind == "f":
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise TypeError(f"{name} must hold integers, got {distance!r}")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() > n):
        bad = array[(array < 0) | (array > n)].flat[0]
        raise ValueError(f"{name} must lie in 0..n ({n}), found {int(bad)}")
    return array, scalar


# --------------------------------------------------------------------------------------------
# exact binary intersections
# --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=256)
def _ball_sizes(n: int) -> tuple[int, ...]:
    """Cumulative sums :math:`\\sum_{i \\le d} C(n, i)` for d = 0..n (exact)."""
    sizes = []
    term, total = 1, 0
    for i in range(n + 1):
        total += term
        sizes.append(total)
        term = term * (n - i) // (i + 1)
    return tuple(sizes)


def _lune_terms(n: int, radius: int) -> list[int]:
    r"""The terms :math:`C(2k, k) \, C(n - 2k - 1, d - k)` for k = 0, 1, ... (exact).

    Computed with the recurrences :math:`C(2k+2, k+1) = C(2k, k) \, 2(2k+1)/(k+1)` and
    :math:`C(N-2, K-1) = C(N, K) \, K (N-K) / (N (N-1))` (exact integer divisions), so all
    terms cost O(n) big-integer operations instead of O(n) calls to ``math.comb`` each.
    """
    terms = []
    central = 1  # C(2k, k)
    big_n, big_k = n - 1, radius  # N = n - 2k - 1, K = d - k
    binom = math.comb(big_n, big_k) if big_n >= 0 else 0
    k = 0
    while big_k >= 0 and big_n >= 0:
        terms.append(central * binom)
        if big_n >= 2 and big_k >= 1:
            binom = binom * big_k * (big_n - big_k) // (big_n * (big_n - 1))
        else:
            binom = math.comb(big_n - 2, big_k - 1) if big_n >= 2 and big_k >= 1 else 0
        central = central * 2 * (2 * k + 1) // (k + 1)
        k += 1
        big_n -= 2
        big_k -= 1
    return terms


@functools.lru_cache(maxsize=64)
def _intersection_table(n: int, radius: int) -> tuple[int, ...]:
    r"""Exact :math:`I(n, d, d_v)` for every :math:`d_v = 0..n`.

    Ball minus lune (Kanerva 1988, appendix B):

    .. math:: I(d_v) = \sum_{i=0}^{d} \binom{n}{i}
              - \sum_{k=0}^{\lfloor (d_v - 1)/2 \rfloor} \binom{2k}{k} \binom{n-2k-1}{d-k},

    a cumulative sum over :math:`k`, so the whole table costs O(n) big-integer operations.
    Distances ``2k - 1`` and ``2k`` share a value.
    """
    ball = _ball_sizes(n)[radius]
    terms = _lune_terms(n, radius)
    table = [ball]
    lune = 0
    for dv in range(1, n + 1):
        if dv % 2 == 1:  # j = dv odd adds the term k = (dv - 1) / 2
            k = (dv - 1) // 2
            lune += terms[k] if k < len(terms) else 0
        table.append(ball - lune)
    return tuple(table)


@functools.lru_cache(maxsize=128)
def _log_intersection_table(n: int, radius: int) -> np.ndarray:
    table = _intersection_table(n, radius)
    logs = np.array([math.log(v) if v > 0 else -math.inf for v in table], dtype=np.float64)
    logs.setflags(write=False)
    return logs


def ball_size(n: int, radius: int) -> int:
    r"""Number of points of :math:`\{0,1\}^n` within Hamming distance ``radius`` of a point.

    .. math:: |B(n, d)| = \sum_{i=0}^{d} \binom{n}{i}

    Returns an exact Python int.
    """
    n, radius = _check_n_radius(n, radius)
    return _ball_sizes(n)[radius]


def activation_probability(n: int, radius: int) -> float:
    r"""Probability :math:`p` that a random neuron lies within ``radius`` of a given address.

    .. math:: p = P(\mathrm{Binomial}(n, 1/2) \le d) = 2^{-n} \sum_{i=0}^{d} \binom{n}{i}

    Computed from exact integers (correctly rounded); values below float64's range round
    to 0, use :func:`log_activation_probability` there.
    """
    n, radius = _check_n_radius(n, radius)
    return _ratio_to_float(_ball_sizes(n)[radius], 1 << n)


def log_activation_probability(n: int, radius: int) -> float:
    """Natural log of :func:`activation_probability`, finite for every ``n``."""
    n, radius = _check_n_radius(n, radius)
    return math.log(_ball_sizes(n)[radius]) - n * _LOG2


def _ratio_to_float(numerator: int, denominator: int) -> float:
    """``numerator / denominator`` correctly rounded; ``inf`` past float64's range."""
    try:
        return numerator / denominator
    except OverflowError:
        return math.inf


def binary_intersection(n: int, radius: int, distance: Any,
                        neurons: int | float | None = None) -> Any:
    r"""Expected number of hard locations in the intersection of two Hamming balls.

    The two balls have radius ``radius`` (:math:`d`) in :math:`\{0,1\}^n` and centres
    ``distance`` (:math:`d_v`) apart:

    .. math::

        I(n, d, d_v) = \sum_{i=0}^{d} \binom{n}{i}
        - \sum_{\substack{j\ \mathrm{odd} \\ 1 \le j \le d_v}}
          \binom{j-1}{(j-1)/2} \binom{n-j}{d-(j-1)/2},
        \qquad E = \frac{r}{2^n} I.

    Parameters
    ----------
    n
        Address length in bits (any n >= 1; exact for thousands of bits).
    radius
        Hamming radius :math:`d` of both balls, ``0 <= radius <= n``.
    distance
        Hamming distance(s) :math:`d_v` between the centres: an int, a list or an array of
        ints in ``0..n``.
    neurons
        ``None``: count every point of the space (the number of points, exact). Otherwise the
        number of random hard locations :math:`r` (int, exact even for ``2**64``, or float):
        the result is the expectation :math:`r I / 2^n`.

    Returns
    -------
    int, numpy.ndarray or float
        ``neurons=None``: an exact Python ``int`` for a scalar ``distance``, else a numpy
        *object* array of Python ints with the shape of ``distance``. Otherwise float64 (a
        float or an array), computed from exact integers and correctly rounded: values below
        float64's range (about 1e-308) round to 0 and values above it give ``inf``; use
        :func:`log_binary_intersection` for those.

    Notes
    -----
    Odd and even distances pair up, :math:`I(2k-1) = I(2k)`, and :math:`I = 0` exactly
    for :math:`d_v > 2d` (no point is within :math:`d` of both centres). The whole table
    for :math:`d_v = 0..n` costs O(n) big-integer operations and is cached.
    """
    n, radius = _check_n_radius(n, radius)
    distances, scalar = _check_distances("distance", distance, n)
    scale = _check_neurons(neurons)
    table = _intersection_table(n, radius)
    if scale is None:
        if scalar:
            return table[int(distances)]
        out = np.empty(distances.shape, dtype=object)
        flat = out.reshape(-1)
        for i, dv in enumerate(distances.reshape(-1)):
            flat[i] = table[int(dv)]
        return out
    numerator_scale = scale.numerator
    denominator = scale.denominator << n
    values = {int(dv): _ratio_to_float(table[int(dv)] * numerator_scale, denominator)
              for dv in np.unique(distances)}
    if scalar:
        return values[int(distances)]
    return np.vectorize(values.__getitem__, otypes=[np.float64])(distances) \
        if distances.size else np.zeros(distances.shape, dtype=np.float64)


def log_binary_intersection(n: int, radius: int, distance: Any,
                            neurons: int | float | None = None) -> Any:
    r"""Natural log of :func:`binary_intersection`, never overflowing or underflowing.

    .. math:: \log E = \log I(n, d, d_v) + \log r - n \log 2

    Returns a float (scalar ``distance``) or a float64 array; ``-inf`` where the
    intersection is empty (:math:`d_v > 2d`).
    """
    n, radius = _check_n_radius(n, radius)
    distances, scalar = _check_distances("distance", distance, n)
    scale = _check_neurons(neurons)
    logs = _log_intersection_table(n, radius)
    offset = 0.0 if scale is None else (math.log(scale.numerator)
                                        - math.log(scale.denominator) - n * _LOG2)
    out = logs[distances] + offset
    return float(out) if scalar else out


def hamming_to_cosine(distance: Any, n: int) -> Any:
    r"""Cosine similarity of the bipolar vectors of two binary patterns ``distance`` apart.

    .. math:: \cos = 1 - \frac{2 d_v}{n}

    Accepts scalars or arrays (non-integer distances allowed, e.g. radii); returns float64.
    """
    n = check_int("n", n, minimum=1)
    array = np.asarray(distance, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array > n):
        raise ValueError(f"distance must lie in [0, n] ({n}), got {distance!r}")
    out = 1.0 - 2.0 * array / n
    return float(out) if np.ndim(distance) == 0 else out


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


# --------------------------------------------------------------------------------------------
# fitted beta
# --------------------------------------------------------------------------------------------

class BetaFit(NamedTuple):
    r"""A least-squares line :math:`\log E(d_v) \approx \beta \cos(d_v) + b`."""

    beta: float  #: slope :math:`\beta` (the softmax inverse temperature)
    intercept: float  #: :math:`b`; shifts by :math:`\log(r / 2^n)` with the neuron count


_ESTIMATORS = ("ols", "bricken2021")


def _fit_line(x: np.ndarray, y: np.ndarray, estimator: str) -> BetaFit:
    x_mean, y_mean = x.mean(), y.mean()
    dx = x - x_mean
    var = float(np.sum(dx * dx))
    if var == 0.0:
        raise ValueError("fit_range must cover at least two distances")
    slope = float(np.sum(dx * (y - y_mean)) / var)
    if estimator == "bricken2021":
        # np.cov(x, y)[0, 1] / np.var(x): an unbiased (ddof=1) covariance over a biased
        # (ddof=0) variance, i.e. the OLS slope times N / (N - 1).
        slope *= len(x) / (len(x) - 1)
    intercept = float(y_mean - slope * x_mean)
    return BetaFit(slope, intercept)


def _fit_distances(n: int, radius: int, fit_range: Sequence[int] | None) -> np.ndarray:
    if fit_range is None:
        if radius < 2:
            raise ValueError(f"radius must be >= 2 to fit beta over d_v = 0..radius-1 "
                             f"(at least two distances), got {radius}")
        low, high = 0, radius - 1
    else:
        if isinstance(fit_range, str) or len(fit_range) != 2:
            raise ValueError(f"fit_range must be a pair (first, last) of distances, "
                             f"got {fit_range!r}")
        low = check_int("fit_range[0]", fit_range[0], minimum=0, maximum=n)
        high = check_int("fit_range[1]", fit_range[1], minimum=0, maximum=n)
    if high - low < 1:
        raise ValueError(f"fit_range must cover at least two distances, got {(low, high)}")
    return np.arange(low, high + 1)


def fit_beta_line(n: int, radius: int, neurons: int | float | None = None, *,
                  geometry: str = "binary", fit_range: Sequence[int] | None = None,
                  estimator: str = "ols") -> BetaFit:
    r"""Least-squares line of :math:`\log E(d_v)` on :math:`\cos(d_v) = 1 - 2 d_v / n`.

    .. math::

        \beta = \frac{\sum_k (x_k - \bar x)(y_k - \bar y)}{\sum_k (x_k - \bar x)^2},
        \quad b = \bar y - \beta \bar x,
        \quad x_k = 1 - \frac{2 k}{n},\ y_k = \log E(k),\ k = 0..d-1,

    so that the normalised intersection weights are approximately
    :math:`\mathrm{softmax}(\beta \cos)`.

    Parameters
    ----------
    n, radius
        Address length and Hamming radius :math:`d` (``radius >= 2`` with the default range).
    neurons
        Number of random hard locations; only adds :math:`\log(r/2^n)` to the intercept
        (``None``: all :math:`2^n` points, intercept of :math:`\log I`).
    geometry
        ``"binary"``: exact Hamming-ball intersections (:func:`log_binary_intersection`);
        ``"continuous"``: hyperspherical caps with :math:`t = 1 - 2d/n`
        (:func:`log_continuous_intersection_from_hamming`, as a fraction of the sphere
        times :math:`r`, or a fraction alone for ``neurons=None``).
    fit_range
        Inclusive ``(first, last)`` distances to fit; default ``(0, radius - 1)``, the range
        of SCIENCE.md and of Bricken & Pehlevan's public code (``dvs = arange(0, radius)``).
    estimator
        ``"ols"`` (default): the ordinary least-squares slope above. ``"bricken2021"``:
        what the public code of Bricken & Pehlevan computes, ``np.cov(x, y)[0][1] /
        np.var(x)``, which mixes ddof=1 and ddof=0 and equals the OLS slope times
        :math:`N/(N-1)` for :math:`N` fitted points (for n=64 it reproduces their published
        :math:`\beta \approx 35.5, 15.9, 10.1` at d = 5, 11, 15).

    Returns
    -------
    BetaFit
        ``(beta, intercept)`` in natural-log units.
    """
    n, radius = _check_n_radius(n, radius)
    check_choice("geometry", geometry, ("binary", "continuous"))
    check_choice("estimator", estimator, _ESTIMATORS)
    scale = _check_neurons(neurons)
    distances = _fit_distances(n, radius, fit_range)
    x = hamming_to_cosine(distances, n)
    if geometry == "binary":
        y = log_binary_intersection(n, radius, distances, neurons)
    else:
        if n < 3:
            raise ValueError(f"n must be >= 3 for geometry='continuous', got {n}")
        y = log_continuous_intersection_from_hamming(n, radius, distances)
        if scale is not None:
            y = y + math.log(scale.numerator) - math.log(scale.denominator)
    if not np.all(np.isfinite(y)):
        raise ValueError(f"fit_range includes distances with an empty intersection "
                         f"(radius {radius}); fit only where the intersection is non-empty")
    return _fit_line(x, y, estimator)


def fit_beta(n: int, radius: int, neurons: int | float | None = None, *,
             fit_range: Sequence[int] | None = None, estimator: str = "ols") -> float:
    r"""The softmax :math:`\beta` fitted to the exact binary SDM intersection.

    Least squares of :math:`\log I(d_v)` on :math:`\cos(d_v) = 1 - 2 d_v/n` over
    :math:`d_v = 0..d-1` (closed form slope = cov/var); see :func:`fit_beta_line` for the
    equations, ``fit_range`` and ``estimator``. ``neurons`` only shifts the intercept, so
    :math:`\beta` does not depend on it (it is accepted for symmetry and checked).

    For n = 64 this gives about 28.4, 14.4 and 9.4 at d = 5, 11, 15 with the default OLS
    estimator, and 35.5, 15.9 and 10.1 (the published values) with
    ``estimator="bricken2021"``.
    """
    return fit_beta_line(n, radius, neurons, fit_range=fit_range, estimator=estimator).beta


def fit_beta_continuous(n: int, radius: int, *, fit_range: Sequence[int] | None = None,
                        estimator: str = "ols") -> float:
    r"""The :math:`\beta` fitted to the continuous (hyperspherical cap) SDM intersection.

    Same estimator as :func:`fit_beta`, with :math:`\log` of the cap-intersection fraction
    (threshold :math:`1 - 2d/n`) in place of :math:`\log I`.
    """
    return fit_beta_line(n, radius, geometry="continuous", fit_range=fit_range,
                         estimator=estimator).beta


def taylor_beta_bound(n: int, radius: int) -> float:
    r"""The Taylor lower bound on the fitted beta, :math:`\beta \ge (n - 2d)^2 / (4n)`."""
    n, radius = _check_n_radius(n, radius)
    return (n - 2 * radius) ** 2 / (4.0 * n)


# --------------------------------------------------------------------------------------------
# optimal radius
# --------------------------------------------------------------------------------------------

def _neuron_count(n: int, neurons: int | float | None) -> Fraction:
    scale = _check_neurons(neurons)
    return Fraction(1 << n) if scale is None else scale


def snr_optimal_probability(m: int, neurons: int | float) -> float:
    r"""Activation probability that maximises the read signal-to-noise ratio.

    .. math:: p^* = (2 m r)^{-1/3}

    (maximum of :math:`\mathrm{SNR}^2 = (pr)^2 / (pr + m(p^2 r + p^4 r^2))`).
    """
    m = check_int("m", m, minimum=1)
    r = _check_neurons(neurons)
    if r is None:
        raise ValueError("neurons must be a number here, got None")
    return math.exp(-(math.log(2 * m) + math.log(r.numerator) - math.log(r.denominator)) / 3.0)


def snr_squared(n: int, m: int, radius: int, neurons: int | float | None = None) -> float:
    r"""Squared signal-to-noise ratio of a noise-free read with ``m`` stored random patterns.

    .. math:: \mathrm{SNR}^2 = \frac{(pr)^2}{pr + m (p^2 r + p^4 r^2)},
              \quad p = P(\mathrm{Binomial}(n, 1/2) \le d)

    Evaluated with exact rationals (``neurons=None`` means :math:`r = 2^n`).
    """
    n, radius = _check_n_radius(n, radius)
    m = check_int("m", m, minimum=1)
    r = _neuron_count(n, neurons)
    p = Fraction(_ball_sizes(n)[radius], 1 << n)
    pr = p * r
    value = pr * pr / (pr + m * (p * p * r + p ** 4 * r * r))
    return float(value)


def retrieval_z_score(n: int, retrieval_probability: float = 0.5) -> float:
    r""":math:`z = \Phi^{-1}(P^{1/n})`: per-bit z-score for whole-pattern retrieval with
    probability :math:`P` (``retrieval_probability``)."""
    n = check_int("n", n, minimum=1)
    prob = check_real("retrieval_probability", retrieval_probability, minimum=0.0,
                      maximum=1.0, strict_minimum=True)
    if prob >= 1.0:
        raise ValueError("retrieval_probability must be < 1")
    return float(stats.norm.ppf(prob ** (1.0 / n)))


def _memory_capacity_exact(p: Fraction, r: Fraction, z: Fraction) -> Fraction:
    pr = p * r
    p2r = p * p * r
    return (pr * pr / (z * z) - pr) / (p2r + p2r * p2r)


def memory_capacity(n: int, radius: int, neurons: int | float | None = None, *,
                    retrieval_probability: float = 0.5) -> float:
    r"""Maximum number of stored patterns retrievable with the given probability.

    .. math:: m_\max(p) = \frac{(pr)^2 / z^2 - pr}{p^2 r + (p^2 r)^2},
              \quad z = \Phi^{-1}(P^{1/n}),

    from requiring :math:`\mathrm{SNR} \ge z` (SCIENCE.md §1). Evaluated with exact
    rationals; negative where even one pattern cannot reach the required SNR
    (:math:`pr < z^2`).
    """
    n, radius = _check_n_radius(n, radius)
    r = _neuron_count(n, neurons)
    z = Fraction(retrieval_z_score(n, retrieval_probability))
    p = Fraction(_ball_sizes(n)[radius], 1 << n)
    value = _memory_capacity_exact(p, r, z)
    return _ratio_to_float(value.numerator, value.denominator)
