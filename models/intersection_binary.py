r"""Exact Hamming-ball intersections: how many SDM hard locations lie near a key and a query.

Sparse distributed memory (Kanerva 1988) reads a stored pattern with a weight equal to the
number of hard locations (neurons) that lie within Hamming radius :math:`d` of both the
pattern's key and the query. For neurons at random addresses the expected weight is

.. math:: E(d_v) = \frac{r}{2^n} \, I(n, d, d_v),

where :math:`I` counts the points of :math:`\{0,1\}^n` in the intersection of two Hamming
balls of radius :math:`d` whose centres are :math:`d_v` apart.
:func:`binary_intersection` / :func:`log_binary_intersection` compute :math:`I` exactly with
Python integers (Kanerva's "ball minus lune" form, appendix B), vectorised over
:math:`d_v`, exact for any ``n`` (checked to 4096 bits), and its natural logarithm;
:func:`ball_size` and :func:`activation_probability` give the ball itself.

Hamming distance and cosine similarity of the corresponding bipolar, L2-normalised vectors
are related by :math:`\cos = 1 - 2 d_v / n` (:func:`hamming_to_cosine`).
"""

from __future__ import annotations

import functools
import math
import numbers
from fractions import Fraction
from typing import Any

import numpy as np

from models._checks import check_int

__all__ = [
    "activation_probability",
    "ball_size",
    "binary_intersection",
    "hamming_to_cosine",
    "log_activation_probability",
    "log_binary_intersection",
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
    r"""Cumulative sums :math:`\sum_{i \le d} C(n, i)` for d = 0..n (exact)."""
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
