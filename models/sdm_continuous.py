r"""Continuous sparse distributed memory: real addresses on the unit sphere, cosine activation.

:class:`ContinuousSDM` is the real-valued variant of :class:`models.sdm.SDM` (L2-normalised
addresses, cosine similarity, activation by a cosine threshold or top-k).
:func:`models.sdm.cosine_for_radius` maps a Hamming radius to the cosine threshold,
:math:`\cos = 1 - 2d/n`.
"""

from __future__ import annotations

from typing import Any

import torch

from models._checks import as_tensor, check_batch, check_choice, check_int, check_real
from models.sdm_functions import _check_top_k, cosine_for_radius, top_k_mask
from models.seeding import SeedLike, torch_generator

__all__ = ["ContinuousSDM"]


class ContinuousSDM:
    r"""Real-valued SDM on the unit sphere (continuous addresses, cosine similarity).

    Addresses and queries are L2-normalised; neuron :math:`j` is active when

    .. math:: \cos(\xi, a_j) = \frac{\xi \cdot a_j}{\lVert \xi \rVert \lVert a_j \rVert}
              \ge \theta

    (``activation="threshold"``; ``radius`` gives :math:`\theta = 1 - 2d/n`), or when it is
    among the ``top_k`` largest cosines (ties to the lowest index). Writes add real values,
    :math:`C \leftarrow C + A^\top V`, and count the writes per neuron, :math:`N \leftarrow N
    + A^\top 1`; the read is the intersection-weighted mean of the stored values,

    .. math:: \hat v(\xi) = \frac{A(\xi)\, C}{A(\xi)\, N}
              = \frac{\sum_\mu w_\mu v_\mu}{\sum_\mu w_\mu},

    :math:`w_\mu` = number of neurons active for both key :math:`\mu` and the query
    (0 where no written neuron is active).

    Parameters
    ----------
    addresses
        ``(r, n)`` real addresses (normalised here; no zero rows).
    threshold
        Cosine threshold :math:`\theta \in [-1, 1]` (``activation="threshold"``).
    radius
        Alternative to ``threshold``: a Hamming-equivalent radius ``0 <= radius <= n``.
    activation
        ``"threshold"`` or ``"top_k"`` (``None``: ``"top_k"`` if ``top_k`` is given).
    top_k
        Number of active neurons per query, ``1 <= top_k <= r``.
    value_dim
        Length of the values (``None``: ``n``).
    tolerance
        Cosines within ``tolerance`` below the threshold still count as active, absorbing
        rounding (``None``: :math:`n \epsilon` of ``dtype``, a bound on the rounding error of
        a dot product of unit vectors; it keeps bipolar vectors exactly on the radius
        active).
    dtype, device
        Storage/compute dtype (float32 or float64) and device.
    """

    def __init__(self, addresses: Any, *, threshold: float | None = None,
                 radius: float | None = None, activation: str | None = None,
                 top_k: int | None = None, value_dim: int | None = None,
                 tolerance: float | None = None, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> None:
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        addresses = as_tensor("addresses", addresses)
        if addresses.dim() != 2 or addresses.shape[0] < 1 or addresses.shape[1] < 1:
            raise ValueError("addresses must be a non-empty (r, n) matrix, "
                             f"got shape {tuple(addresses.shape)}")
        addresses = addresses.to(dtype)
        if not bool(torch.isfinite(addresses).all()):
            raise ValueError("addresses must be finite")
        norms = addresses.norm(dim=1, keepdim=True)
        if bool((norms == 0).any()):
            raise ValueError("addresses must have no zero rows (they are L2-normalised)")
        r, n = addresses.shape
        if activation is None:
            activation = "top_k" if top_k is not None else "threshold"
        activation = check_choice("activation", activation, ("threshold", "top_k"))
        if activation == "threshold":
            if (threshold is None) == (radius is None):
                raise ValueError("threshold: give exactly one of threshold or radius when "
                                 "activation='threshold'")
            if radius is not None:
                threshold = cosine_for_radius(n, radius)
            threshold = check_real("threshold", threshold, minimum=-1.0, maximum=1.0)
            if top_k is not None:
                raise ValueError("top_k must be None when activation='threshold'")
        else:
            if threshold is not None or radius is not None:
                raise ValueError("threshold and radius must be None when activation='top_k'")
            top_k = _check_top_k(top_k, r)
        if tolerance is None:
            tolerance = n * torch.finfo(dtype).eps
        self.tolerance = check_real("tolerance", tolerance, minimum=0.0)
        self.device = torch.device(device) if device is not None else addresses.device
        self.n = n
        self.r = r
        self.activation = activation
        self.threshold: float | None = threshold
        self.top_k: int | None = top_k
        self.value_dim = n if value_dim is None else check_int("value_dim", value_dim,
                                                                minimum=1)
        self.dtype = dtype
        self.addresses = (addresses / norms).to(self.device)
        self.counters = torch.zeros((r, self.value_dim), dtype=dtype, device=self.device)
        self.write_counts = torch.zeros(r, dtype=dtype, device=self.device)
        self.n_writes = 0

    @classmethod
    def random(cls, r: int, n: int, *, seed: SeedLike | torch.Generator = None,
               device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
               **kwargs: Any) -> ContinuousSDM:
        """``r`` addresses uniform on the unit sphere (normalised Gaussians).

        Drawn on the CPU from the child seed ``(seed, "continuous_sdm_addresses")``; other
        keyword arguments as in :class:`ContinuousSDM`.
        """
        r = check_int("r", r, minimum=1)
        n = check_int("n", n, minimum=1)
        generator = torch_generator(seed, "continuous_sdm_addresses")
        addresses = torch.randn((r, n), generator=generator, dtype=torch.float64)
        return cls(addresses, device=device, dtype=dtype, **kwargs)

    def _check_real(self, name: str, value: Any, length: int,
                    length_name: str) -> tuple[torch.Tensor, bool]:
        return check_batch(name, value, length=length, length_name=length_name, finite=True,
                           device=self.device, dtype=self.dtype)

    def _cosines(self, queries: torch.Tensor) -> torch.Tensor:
        norms = queries.norm(dim=1, keepdim=True)
        if bool((norms == 0).any()):
            raise ValueError("queries must have no zero rows (they are L2-normalised)")
        return (queries / norms) @ self.addresses.T  # (batch, r)

    def _activations(self, queries: torch.Tensor) -> torch.Tensor:
        cos = self._cosines(queries)
        if self.activation == "top_k":
            return top_k_mask(cos, self.top_k, largest=True)
        return cos >= self.threshold - self.tolerance

    def cosines(self, queries: Any) -> torch.Tensor:
        """``(batch, r)`` cosine similarities between queries and addresses."""
        queries, squeeze = self._check_real("queries", queries, self.n, "n")
        out = self._cosines(queries)
        return out[0] if squeeze else out

    def activations(self, queries: Any) -> torch.Tensor:
        """``(batch, r)`` bool activation mask."""
        queries, squeeze = self._check_real("queries", queries, self.n, "n")
        out = self._activations(queries)
        return out[0] if squeeze else out

    def write(self, keys: Any, values: Any) -> None:
        r"""Add ``values`` to the active neurons' counters: :math:`C \leftarrow C + A^\top V`."""
        keys, _ = self._check_real("keys", keys, self.n, "n")
        values, _ = self._check_real("values", values, self.value_dim, "value_dim")
        if values.shape[0] != keys.shape[0]:
            raise ValueError(f"values must have one row per key ({keys.shape[0]} keys), "
                             f"got {values.shape[0]} rows")
        mask = self._activations(keys).to(self.dtype)  # (m, r)
        self.counters += mask.T @ values
        self.write_counts += mask.sum(dim=0)
        self.n_writes += keys.shape[0]

    def sums(self, queries: Any) -> torch.Tensor:
        r"""Pre-normalisation sums :math:`A(\xi) C`, ``(batch, value_dim)``."""
        queries, squeeze = self._check_real("queries", queries, self.n, "n")
        out = self._activations(queries).to(self.dtype) @ self.counters
        return out[0] if squeeze else out

    def read(self, queries: Any) -> torch.Tensor:
        r"""Intersection-weighted mean of the stored values, :math:`A C / A N`."""
        queries, squeeze = self._check_real("queries", queries, self.n, "n")
        mask = self._activations(queries).to(self.dtype)
        weight = mask @ self.write_counts  # (batch,) = sum_mu w_mu
        out = (mask @ self.counters) / weight.clamp_min(1)[:, None]
        out = torch.where(weight[:, None] > 0, out, torch.zeros_like(out))
        return out[0] if squeeze else out
