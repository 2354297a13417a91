r"""Softmax attention, the continuous relative of the SDM read (Bricken & Pehlevan 2021).

For queries :math:`q_b` (rows of ``queries``), keys :math:`k_\mu` and values :math:`v_\mu`,

.. math:: \mathrm{out}_b = \sum_\mu \operatorname{softmax}_\mu\!\bigl(\beta\, k_\mu \cdot q_b
          \bigr)\, v_\mu = V^\top \operatorname{softmax}(\beta K q_b).

With L2-normalised keys and queries (``normalize=True``) the dot product is the cosine,
:math:`k_\mu \cdot q = \cos = 1 - 2 d_\mu / n` for bipolar patterns at Hamming distance
:math:`d_\mu`, and the softmax weights approximate the SDM's normalised Hamming-ball
intersections :math:`I(n, d, d_\mu)` when :math:`\beta` is the slope of :math:`\log I` on
the cosine (:func:`beta_for_radius`). The usual transformer scaling :math:`1/\sqrt{d_k}` is
one choice of :math:`\beta`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from models._checks import check_batch, check_bool, check_int, check_matrix, check_real
from models.intersection import fit_beta

__all__ = ["attention", "attention_weights", "beta_for_radius", "beta_softmax"]


def beta_softmax(scores: Any, beta: Any = None, dim: int = -1) -> Any:
    r"""Softmax with inverse temperature, :math:`w_i = e^{\beta s_i} / \sum_j e^{\beta s_j}`.

    The one softmax-with-:math:`\beta` of the library: attention, the modern Hopfield update
    and the per-distance weights of the mapping all call it.

    Parameters
    ----------
    scores
        Scores :math:`s` (a torch tensor, or anything numpy takes).
    beta
        Inverse temperature :math:`\beta`: a float or a tensor/array that broadcasts against
        ``scores``; ``None``: the scores are the logits already (no multiplication).
    dim
        Axis over which the weights sum to 1.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Weights of the shape of ``scores``: ``torch.softmax(beta * scores, dim)`` for a
        tensor; for numpy, max-shifted exponentials in which non-finite logits (e.g. the
        :math:`-\infty` log of an empty intersection) get weight 0.
    """
    logits = scores if beta is None else beta * scores
    if isinstance(logits, torch.Tensor):
        return torch.softmax(logits, dim=dim)
    logits = np.asarray(logits, dtype=float)
    finite = np.isfinite(logits)
    if not bool(finite.any(axis=dim).all()):
        raise ValueError("scores must have a finite logit along dim")
    peak = np.max(np.where(finite, logits, -np.inf), axis=dim, keepdims=True)
    weights = np.where(finite, np.exp(logits - peak), 0.0)
    return weights / weights.sum(axis=dim, keepdims=True)


def _check_real_matrix(name: str, value: Any) -> tuple[torch.Tensor, bool]:
    return check_batch(name, value, finite=True, nonempty=True)


def _normalise(name: str, tensor: torch.Tensor) -> torch.Tensor:
    norms = tensor.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError(f"{name} must have no zero rows when normalize=True")
    return tensor / norms


def _check_beta(beta: Any, batch: int, device: torch.device,
                dtype: torch.dtype) -> torch.Tensor:
    """``beta`` as a ``(batch, 1)`` or ``(1, 1)`` tensor of non-negative finite reals."""
    if isinstance(beta, torch.Tensor):
        if beta.dim() == 0:
            beta = beta.reshape(1, 1)
        elif beta.dim() == 1 and beta.shape[0] in (1, batch):
            beta = beta.reshape(-1, 1)
        else:
            raise ValueError(f"beta must be a scalar or have one entry per query ({batch}), "
                             f"got shape {tuple(beta.shape)}")
        beta = beta.to(device=device, dtype=dtype)
        if not bool(torch.isfinite(beta).all()) or bool((beta < 0).any()):
            raise ValueError("beta must be finite and >= 0")
        return beta
    value = check_real("beta", beta, minimum=0.0)
    return torch.tensor([[value]], device=device, dtype=dtype)


def attention_weights(queries: Any, keys: Any, beta: float | torch.Tensor, *,
                      normalize: bool = False) -> torch.Tensor:
    r"""Softmax weights :math:`w_{b\mu} = \operatorname{softmax}_\mu(\beta\, k_\mu \cdot q_b)`.

    Parameters
    ----------
    queries
        ``(batch, d)`` queries (or one ``(d,)`` query).
    keys
        ``(m, d)`` keys.
    beta
        Inverse temperature :math:`\beta \ge 0`: a float, a 0-d tensor, or a ``(batch,)``
        tensor with one :math:`\beta` per query.
    normalize
        L2-normalise keys and queries first (then :math:`k_\mu \cdot q_b` is a cosine).

    Returns
    -------
    torch.Tensor
        ``(batch, m)`` (or ``(m,)``) weights; each row sums to 1.
    """
    queries, squeeze = _check_real_matrix("queries", queries)
    keys, _ = _check_real_matrix("keys", keys)
    check_bool("normalize", normalize)
    if keys.shape[1] != queries.shape[1]:
        raise ValueError(f"keys must have last dimension d={queries.shape[1]} (the query "
                         f"length), got shape {tuple(keys.shape)}")
    dtype = torch.promote_types(queries.dtype, keys.dtype)
    queries = queries.to(dtype)
    keys = keys.to(device=queries.device, dtype=dtype)
    beta_t = _check_beta(beta, queries.shape[0], queries.device, dtype)
    if normalize:
        queries = _normalise("queries", queries)
        keys = _normalise("keys", keys)
    weights = beta_softmax(queries @ keys.T, beta_t, dim=1)  # (batch, m)
    return weights[0] if squeeze else weights


def attention(queries: Any, keys: Any, values: Any, beta: float | torch.Tensor, *,
              normalize: bool = False) -> torch.Tensor:
    r"""Softmax attention :math:`\mathrm{out}_b = \sum_\mu w_{b\mu} v_\mu`.

    .. math:: \mathrm{out} = \operatorname{softmax}(\beta\, Q K^\top)\, V

    Parameters
    ----------
    queries, keys, beta, normalize
        As in :func:`attention_weights`.
    values
        ``(m, dv)`` values, one row per key (values are not normalised).

    Returns
    -------
    torch.Tensor
        ``(batch, dv)`` (or ``(dv,)``) outputs.
    """
    keys_t, _ = _check_real_matrix("keys", keys)
    values, _ = _check_real_matrix("values", values)
    if values.shape[0] != keys_t.shape[0]:
        raise ValueError(f"values must have one row per key ({keys_t.shape[0]} keys), "
                         f"got {values.shape[0]} rows")
    weights = attention_weights(queries, keys_t, beta, normalize=normalize)
    squeeze = weights.dim() == 1
    weights = check_matrix("weights", weights)
    dtype = torch.promote_types(weights.dtype, values.dtype)
    out = weights.to(dtype) @ values.to(device=weights.device, dtype=dtype)
    return out[0] if squeeze else out


def beta_for_radius(n: int, radius: int) -> float:
    r"""The :math:`\beta` that makes softmax attention approximate an SDM of radius ``d``.

    Least-squares slope of :math:`\log I(n, d, d_v)` on :math:`\cos(d_v) = 1 - 2 d_v / n`
    over :math:`d_v = 0 .. d-1`, computed by :func:`models.intersection.fit_beta`.

    Parameters
    ----------
    n
        Address length (bits).
    radius
        SDM Hamming radius :math:`d`, ``2 <= radius <= n`` (the fit needs at least the two
        distances :math:`d_v = 0, 1`).

    Returns
    -------
    float
        The fitted inverse temperature :math:`\beta`.
    """
    n = check_int("n", n, minimum=1)
    radius = check_int("radius", radius, minimum=0, maximum=n)
    return float(fit_beta(n, radius))
