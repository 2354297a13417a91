r"""The position code of TEM-t: one path-integration step and the cyclic-group shifts.

:func:`position_step` applies :math:`g' = f(W_a g)`; :func:`group_difference_index`
builds the index of a circular convolution on a cyclic or toroidal module (see
:mod:`models.tem_t`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["group_difference_index", "position_step"]


def position_step(position: torch.Tensor, transition: torch.Tensor,
                  activation: str = "relu_norm") -> torch.Tensor:
    r"""One path-integration step :math:`e' = \sigma(W_a e)` for a batch.

    Parameters
    ----------
    position
        ``(B, d)`` codes :math:`e`.
    transition
        ``(B, d, d)`` the matrices :math:`W_{a}` of each walk's action.
    activation
        ``"relu_norm"``: :math:`\sigma(h) = \mathrm{relu}(h) / \lVert \mathrm{relu}(h) \rVert`;
        ``"tanh"``: :math:`\sigma(h) = \tanh(h)`.
    """
    h = torch.bmm(transition, position.unsqueeze(-1)).squeeze(-1)  # (B, d)
    return _activate(h, activation)


def group_difference_index(size: int, rank: int = 1) -> torch.Tensor:
    r"""Index of the difference of two phases of :math:`\mathbb{Z}_P^R`, ``(P^R, P^R)``.

    Phases are flattened row-major (:math:`R = 2`: :math:`(p_1, p_2) \mapsto p_1 P + p_2`);
    entry :math:`[p, q]` is the flat index of :math:`(p - q) \bmod P`, so that
    ``kernel[index]`` is the group convolution matrix :math:`C[p, q] = \kappa[p - q]`
    (circulant for :math:`R = 1`, block-circulant with circulant blocks for :math:`R = 2`).

    Parameters
    ----------
    size
        :math:`P`, the phases per axis.
    rank
        :math:`R`, the number of axes.
    """
    phases = torch.cartesian_prod(*[torch.arange(size)] * rank).reshape(size ** rank, rank)
    diff = (phases[:, None, :] - phases[None, :, :]) % size  # (P^R, P^R, R)
    weights = size ** torch.arange(rank - 1, -1, -1)
    return (diff * weights).sum(-1)


def _activate(h: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "relu_norm":
        h = F.relu(h)
        return h / (h.norm(dim=-1, keepdim=True) + 1e-6)
    if activation == "norm":
        return h / (h.norm(dim=-1, keepdim=True) + 1e-6)
    if activation == "linear":
        return h
    return torch.tanh(h)
