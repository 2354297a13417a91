"""Skaggs spatial information of rate maps (bits per unit of activity).

Plain numpy (no torch, no Brian2); maps come from :mod:`analysis.rate_maps`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from analysis._spatial_checks import _array
from analysis.rate_maps import RateMap

__all__ = ["spatial_information"]


def spatial_information(rate_map: Any, occupancy: Any) -> float | np.ndarray:
    r"""Skaggs et al. (1993) spatial information in bits per spike (per unit of activity).

    .. math::

        I = \sum_i p_i \frac{\lambda_i}{\bar\lambda} \log_2 \frac{\lambda_i}{\bar\lambda},
        \qquad p_i = \frac{O_i}{\sum_j O_j}, \quad \bar\lambda = \sum_i p_i \lambda_i,

    over bins (or nodes) with positive occupancy and a finite rate; terms with
    :math:`\lambda_i = 0` are 0. Rates must be non-negative (shift or rectify model
    activations first). A unit with :math:`\bar\lambda = 0` gets NaN.

    Parameters
    ----------
    rate_map
        ``(...,)`` map whose trailing axes match ``occupancy``; leading axes are units.
    occupancy
        Samples (or time) per bin/node, e.g. ``RateMap.occupancy`` or ``NodeRateMap.visits``.

    Returns
    -------
    float or numpy.ndarray
        One value per unit (a float for a single map).
    """
    lam = _array("rate_map", rate_map.rate if isinstance(rate_map, RateMap) else rate_map,
                 allow_nan=False)
    occ = _array("occupancy", occupancy, finite=True)
    if occ.ndim == 0 or lam.shape[lam.ndim - occ.ndim:] != occ.shape:
        raise ValueError(f"occupancy shape {occ.shape} must match the trailing axes of "
                         f"rate_map {lam.shape}")
    if (occ < 0).any():
        raise ValueError("occupancy must be non-negative")
    lead = lam.shape[:lam.ndim - occ.ndim]
    lam = lam.reshape(-1, occ.size)
    occ = occ.ravel()
    if (lam[np.isfinite(lam)] < 0).any():
        raise ValueError("rate_map must be non-negative for Skaggs information "
                         "(shift or rectify the activity first)")
    use = (occ > 0)[None] & np.isfinite(lam)
    p = np.where(use, occ[None], 0.0)
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-300)
    lam0 = np.where(use, lam, 0.0)
    mean = (p * lam0).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = lam0 / mean
        terms = np.where(lam0 > 0, p * ratio * np.log2(np.where(lam0 > 0, ratio, 1.0)), 0.0)
    info = np.where(mean[:, 0] > 0, terms.sum(axis=1), np.nan)
    return float(info[0]) if not lead else info.reshape(lead)
