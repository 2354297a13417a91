r"""Conjunctive codes :math:`g \otimes x` for the CA3 network (TEM's memories).

Two-hot stimulus codes, conjunctions, position-only cues and the stimulus read-out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models._checks import check_int

__all__ = ["conjunction", "decode_stimulus", "position_cue", "stimulus_prior",
           "two_hot_codes"]


def _as_bipolar_codes(name: str, value: Any) -> np.ndarray:
    """A 2-D code matrix, binary (mapped by 2b - 1) or bipolar, as int8 +-1."""
    arr = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be a (m, n) matrix of codes, got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must hold numbers 0/1 or -1/+1, got dtype {arr.dtype}")
    if np.isin(arr, (0, 1)).all():
        return (2 * arr.astype(np.int8) - 1).astype(np.int8)
    if np.isin(arr, (-1, 1)).all():
        return arr.astype(np.int8)
    bad = arr[~np.isin(arr, (-1, 0, 1))]
    what = (f"found the value {bad.flat[0].item()!r}" if bad.size
            else "found a mix of 0 and -1")
    raise ValueError(f"{name} must be binary (0/1) or bipolar (-1/+1), {what}")


def two_hot_codes(n_x: int = 10) -> np.ndarray:
    r"""All two-hot stimulus codes of length ``n_x`` as bipolar rows (TEM's symbol code).

    Row ``k`` has :math:`+1` on the ``k``-th pair of units (lexicographic order) and
    :math:`-1` elsewhere; ``n_x = 10`` gives TEM's 45 symbols.
    """
    n_x = check_int("n_x", n_x, minimum=2)
    pairs = [(a, b) for a in range(n_x) for b in range(a + 1, n_x)]
    codes = -np.ones((len(pairs), n_x), dtype=np.int8)
    for k, (a, b) in enumerate(pairs):
        codes[k, [a, b]] = 1
    return codes


def conjunction(g: Any, x: Any) -> np.ndarray:
    r"""Conjunctive patterns :math:`p = \operatorname{flatten}(g \otimes x)`, bipolar.

    .. math:: p_{a n_x + b} = g_a x_b

    Binary codes are first mapped to bipolar by :math:`2b - 1`, so the product of two
    bipolar codes is bipolar: cell :math:`(a, b)` is active when grid cell ``a`` and stimulus
    cell ``b`` are both active *or both inactive* (the bipolar conjunction: the Hopfield
    network's :math:`s = 2z - 1` applied to TEM's :math:`g \otimes x`).

    Parameters
    ----------
    g
        ``(m, n_g)`` position codes, binary or bipolar.
    x
        ``(m, n_x)`` stimulus codes, binary or bipolar.

    Returns
    -------
    numpy.ndarray
        ``(m, n_g * n_x)`` int8 patterns (row-major flatten of each outer product).
    """
    g_b = _as_bipolar_codes("g", g)
    x_b = _as_bipolar_codes("x", x)
    if len(g_b) != len(x_b):
        raise ValueError(f"x must have as many rows as g ({len(g_b)}), got {len(x_b)}")
    return (g_b[:, :, None] * x_b[:, None, :]).reshape(len(g_b), -1).astype(np.int8)


def stimulus_prior(codes: Any) -> np.ndarray:
    r"""The uninformative stimulus: the sign of the mean code (ties +1).

    :math:`\bar x = \operatorname{sign}(\langle x \rangle)`.

    For two-hot codes of length 10 every unit is active in 9 of 45 codes, so
    :math:`\bar x = -\mathbf{1}`.
    """
    codes_b = _as_bipolar_codes("codes", codes)
    mean = codes_b.astype(np.float64).mean(axis=0)
    return np.where(mean >= 0, 1, -1).astype(np.int8)


def position_cue(g: Any, prior: Any) -> np.ndarray:
    r"""Position-only cue :math:`g \otimes \bar x`: the stimulus part replaced by ``prior``.

    Its overlap with a stored conjunction is
    :math:`(g \cdot g^\mu)(\bar x \cdot x^\mu) / N`; with stimulus codes of constant
    :math:`\bar x \cdot x^\mu` (two-hot codes: 6 of 10 for every symbol) the cue weights the
    memories by their position overlap :math:`g \cdot g^\mu` alone, as TEM's query with an
    uninformative stimulus does (SCIENCE.md section 3).

    Parameters
    ----------
    g
        ``(P, n_g)`` position codes (binary or bipolar).
    prior
        ``(n_x,)`` bipolar stimulus part, e.g. :func:`stimulus_prior`.

    Returns
    -------
    numpy.ndarray
        ``(P, n_g * n_x)`` int8 bipolar cues.
    """
    g_b = _as_bipolar_codes("g", g)
    prior_b = _as_bipolar_codes("prior", prior)
    if len(prior_b) != 1:
        raise ValueError(f"prior must be one code (a vector), got shape {prior_b.shape}")
    return conjunction(g_b, np.repeat(prior_b, len(g_b), axis=0))


def decode_stimulus(states: Any, g: Any, codes: Any) -> tuple[np.ndarray, np.ndarray]:
    r"""Read the stimulus out of conjunctive states, given the position.

    The state is reshaped to :math:`S \in \{\pm 1\}^{n_g \times n_x}` and projected on the
    known position, :math:`\hat x = g^\top S` (:math:`n_g\, x` for :math:`S = g \otimes x`);
    the decoded symbol is the code with the largest :math:`c \cdot \hat x`.

    Parameters
    ----------
    states
        ``(P, n_g * n_x)`` bipolar states.
    g
        ``(P, n_g)`` positions of the probes (binary or bipolar).
    codes
        ``(K, n_x)`` stimulus codes of the alphabet (binary or bipolar).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(P,)`` decoded symbol indices and ``(P, n_x)`` projections :math:`\hat x`.
    """
    g_b = _as_bipolar_codes("g", g).astype(np.float64)
    c_b = _as_bipolar_codes("codes", codes).astype(np.float64)
    s = np.asarray(states, dtype=np.float64)
    if s.ndim == 1:
        s = s[None, :]
    n_g, n_x = g_b.shape[1], c_b.shape[1]
    if s.ndim != 2 or s.shape[1] != n_g * n_x:
        raise ValueError(f"states must have shape (P, {n_g * n_x}) = (P, n_g * n_x), "
                         f"got {s.shape}")
    if len(s) != len(g_b):
        raise ValueError(f"g must have one row per state ({len(s)}), got {len(g_b)}")
    projection = np.einsum("pa,pab->pb", g_b, s.reshape(len(s), n_g, n_x))
    return np.argmax(projection @ c_b.T, axis=1), projection

