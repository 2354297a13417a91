r"""TEM's attractor retrieval as one autograd node, with a hand-written backward pass.

The forward pass is :func:`models.tem_hebbian.attractor` (the reference, built from autograd
operations):

.. math:: h_0 = f_p(q), \qquad z_k = \kappa h_k + h_k M, \qquad
          h_{k+1} = m_k \odot f_p(z_k) + (1 - m_k) \odot h_k

with :math:`f_p(z) = \mathrm{leaky\_relu}(\mathrm{clip}(z, -1, 1))` and :math:`m_k` the
early-stopping mask of iteration :math:`k`. Run by autograd, every iteration's ``h_k M``
adds its own outer product :math:`h_k^\top \delta_k` to the gradient of the memory, a
``(B, P, P)`` tensor written and summed once per iteration: training TEM spent most of its
time in this memory traffic. :class:`AttractorFunction` does the same mathematics with one
product for the whole retrieval,

.. math:: \frac{\partial L}{\partial M} = \sum_k h_k^\top \delta_k = H^\top \Delta, \qquad
          \delta_k = \frac{\partial L}{\partial z_k}
          = \left(\frac{\partial L}{\partial h_{k+1}} \odot m_k\right) \odot f_p'(z_k),

and back through the iterations
:math:`\partial L/\partial h_k = (1 - m_k) \odot \partial L/\partial h_{k+1} + \kappa \delta_k
+ \delta_k M^\top`, :math:`\partial L / \partial q = f_p'(q) \odot \partial L/\partial h_0`.
:math:`f_p'` is the derivative torch uses for the reference (clamp passes the gradient on the
closed interval :math:`[-1, 1]`; leaky ReLU's slope is 1 above zero and 0.01 at or below it),
so the two agree to rounding (``tests/test_tem_attractor.py``).

The memory arrives as the column blocks of :class:`models.tem_hebbian.MemoryBlocks` (a dense
matrix is one block over every row): block ``j`` maps the source units ``rows[j]`` to the
units ``bounds[j]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["AttractorFunction", "HebbianBlockFunction", "f_p", "f_p_derivative",
           "fused_attractor", "fused_hebbian_block", "inside_unit"]

NEGATIVE_SLOPE = 0.01  # leaky ReLU slope of f_p below zero (TEM)


def f_p(h: torch.Tensor) -> torch.Tensor:
    r"""TEM's place-cell activation :math:`\mathrm{leaky\_relu}(\mathrm{clip}(h, -1, 1))`."""
    return F.leaky_relu(torch.clamp(h, -1.0, 1.0), NEGATIVE_SLOPE)


def f_p_derivative(z: torch.Tensor) -> torch.Tensor:
    r""":math:`f_p'(z)` as autograd computes it.

    1 on :math:`(0, 1]`, 0.01 on :math:`[-1, 0]`, 0 outside :math:`[-1, 1]`.
    """
    inside = (z >= -1.0) & (z <= 1.0)
    slope = torch.where(z > 0, torch.ones_like(z), torch.full_like(z, NEGATIVE_SLOPE))
    return slope * inside


def _retrieve(h: torch.Tensor, blocks: Sequence[torch.Tensor],
              rows: Sequence[torch.Tensor | slice], kappa: float,
              bounds: Sequence[tuple[int, int]]) -> torch.Tensor:
    r""":math:`\kappa h + h M` for ``h`` ``(B, Q, P)`` and the memory as column blocks."""
    return torch.cat([torch.baddbmm(h[..., s:e], h[..., r], m, beta=kappa)
                      for r, m, (s, e) in zip(rows, blocks, bounds, strict=True)], dim=-1)


class AttractorFunction(torch.autograd.Function):
    """Autograd node of attractor retrievals from one memory (see the module docstring).

    ``apply(query, masks, kappa, rows, bounds, *blocks)``: ``query`` ``(B, Q, P)`` holds
    ``Q`` queries per walk, retrieved together so that the memory is read once for all of
    them; ``masks`` ``(Q, K, P)`` 0/1 (a constant, no gradient) the early stopping of each
    query's ``K`` iterations; ``kappa`` a float; ``rows`` and ``bounds`` the blocks' source
    units and ``[start, stop)`` of their target units; ``blocks`` the memory. Returns
    :math:`h_K` ``(B, Q, P)``.
    """

    @staticmethod
    def forward(ctx: Any, query: torch.Tensor, masks: torch.Tensor, kappa: float,
                rows: Sequence[torch.Tensor | slice], bounds: Sequence[tuple[int, int]],
                *blocks: torch.Tensor) -> torch.Tensor:
        """Run the ``K`` iterations; keep each :math:`h_k` and :math:`f_p'(z_k) m_k`."""
        h = f_p(query)
        hs, slopes = [h], []
        for k in range(masks.shape[1]):
            z = _retrieve(h, blocks, rows, kappa, bounds)
            keep = masks[:, k] > 0
            h = torch.where(keep, f_p(z), h)  # m f_p(z) + (1 - m) h: masks are 0/1
            hs.append(h)
            slopes.append(f_p_derivative(z) * keep)  # d h_{k+1} / d z_k
        ctx.kappa, ctx.rows, ctx.bounds = kappa, rows, bounds
        ctx.save_for_backward(query, masks, torch.stack(hs[:-1], 2), torch.stack(slopes, 2),
                              *blocks)
        return h

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """Back through the iterations; the memory's gradient as one product per block."""
        query, masks, hs, slopes, *blocks = ctx.saved_tensors
        kappa, rows, bounds = ctx.kappa, ctx.rows, ctx.bounds
        steps = masks.shape[1]
        unmasked = 1.0 - masks  # (Q, K, P)
        deltas = [grad] * steps
        for k in reversed(range(steps)):
            delta = grad * slopes[:, :, k]
            deltas[k] = delta
            back = torch.addcmul(kappa * delta, grad, unmasked[:, k])
            for r, m, (s, e) in zip(rows, blocks, bounds, strict=True):  # + delta M^T
                if isinstance(r, slice):  # a view: accumulate in place
                    back[..., r].baddbmm_(delta[..., s:e], m.transpose(1, 2))
                else:
                    back[..., r] += torch.bmm(delta[..., s:e], m.transpose(1, 2))
            grad = back
        grad_query = grad * f_p_derivative(query) if ctx.needs_input_grad[0] else None
        grad_blocks: list[torch.Tensor | None] = [None] * len(blocks)
        if any(ctx.needs_input_grad[5:]):
            B, Q, _, P = hs.shape
            h_all = hs.reshape(B, Q * steps, P)  # (B, QK, P), query-major as deltas
            delta_all = torch.stack(deltas, 2).reshape(B, Q * steps, P)
            for i, (r, (s, e)) in enumerate(zip(rows, bounds, strict=True)):
                if ctx.needs_input_grad[5 + i]:  # sum over queries and k of h^T delta
                    grad_blocks[i] = torch.bmm(h_all[..., r].transpose(1, 2),
                                               delta_all[..., s:e])
        return (grad_query, None, None, None, None, *grad_blocks)


def fused_attractor(query: torch.Tensor, blocks: Sequence[torch.Tensor],
                    rows: Sequence[torch.Tensor | slice], bounds: Sequence[tuple[int, int]], *,
                    kappa: float, masks: torch.Tensor) -> torch.Tensor:
    """:func:`models.tem_hebbian.attractor` through :class:`AttractorFunction`.

    ``query`` ``(B, P)`` with ``masks`` ``(K, P)``, or ``Q`` queries at once: ``(B, Q, P)``
    with ``masks`` ``(Q, K, P)`` (same result as ``Q`` separate calls, one read of the
    memory per iteration for all of them).
    """
    single = query.dim() == 2
    if single:
        query, masks = query.unsqueeze(1), masks.unsqueeze(0)
    out = AttractorFunction.apply(query, masks, float(kappa), list(rows), list(bounds),
                                  *blocks)
    return out.squeeze(1) if single else out


def inside_unit(raw: torch.Tensor) -> torch.Tensor:
    r""":math:`\mathbb{1}[\lvert r \rvert \le 1]` as 0/1 in ``raw``'s floating dtype.

    Clamp's derivative on the closed interval, computed without boolean tensors (comparisons
    and ``where`` on a ``(B, P, P)`` block were several times slower than float arithmetic
    on CPU): :math:`\mathrm{clip}(1 - s(\lvert r \rvert - 1), 0, 1)` with :math:`s = 2 /
    \varepsilon` (the dtype's machine epsilon, a power of two). Exact: :math:`\lvert r
    \rvert \le 1` gives at least 1; :math:`\lvert r \rvert > 1` means :math:`\lvert r \rvert
    - 1 \ge \varepsilon` (computed exactly), so the argument is at most :math:`-1`.
    """
    scale = 2.0 / torch.finfo(raw.dtype).eps
    return raw.abs().sub_(1.0).mul_(-scale).add_(1.0).clamp_(0.0, 1.0)


class HebbianBlockFunction(torch.autograd.Function):
    r"""One block of TEM's Hebbian update as one autograd node.

    ``apply(memory, a, b, beta, alpha)`` with ``memory`` ``(B, R, C)``, ``a`` ``(B, R, 1)``,
    ``b`` ``(B, 1, C)``: :math:`M' = \mathrm{clip}(\beta M + \alpha\, a b, -1, 1)`, as
    ``torch.clamp(torch.baddbmm(memory, a, b, beta=beta, alpha=alpha), -1, 1)``. With
    :math:`G = \partial L / \partial M' \odot \mathbb{1}[\lvert \beta M + \alpha a b \rvert
    \le 1]`, the backward pass is :math:`\partial L/\partial M = \beta G`,
    :math:`\partial L / \partial a = \alpha G b^\top`, :math:`\partial L / \partial b =
    \alpha a^\top G` (autograd's, operation for operation). The clip's mask is kept as
    :func:`inside_unit` only when something clips (one ``aminmax`` pass decides; most updates
    of the masked generative memory clip nothing), instead of autograd's copy of the
    unclipped block and its four boolean passes.
    """

    @staticmethod
    def forward(ctx: Any, memory: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                beta: float, alpha: float) -> torch.Tensor:
        """The clipped update; keep ``a``, ``b`` and (when it clips) the mask."""
        raw = torch.baddbmm(memory, a, b, beta=beta, alpha=alpha)
        lo, hi = torch.aminmax(raw)
        mask = None
        if float(lo) < -1.0 or float(hi) > 1.0:
            if any(ctx.needs_input_grad[:3]):
                mask = inside_unit(raw)
            raw.clamp_(-1.0, 1.0)
        ctx.beta, ctx.alpha, ctx.clipped = beta, alpha, mask is not None
        ctx.save_for_backward(a, b, *(() if mask is None else (mask,)))
        return raw

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        """Through the clip's mask, then the three products."""
        a, b, *mask = ctx.saved_tensors
        g = grad * mask[0] if ctx.clipped else grad
        grad_a = grad_b = grad_memory = None
        if ctx.needs_input_grad[1]:
            grad_a = torch.bmm(g, b.transpose(1, 2)).mul_(ctx.alpha)
        if ctx.needs_input_grad[2]:
            grad_b = torch.bmm(a.transpose(1, 2), g).mul_(ctx.alpha)
        if ctx.needs_input_grad[0]:
            grad_memory = g * ctx.beta
        return grad_memory, grad_a, grad_b, None, None


def fused_hebbian_block(memory: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *,
                        beta: float, alpha: float) -> torch.Tensor:
    """``clamp(baddbmm(memory, a, b, beta=beta, alpha=alpha), -1, 1)`` as one node.

    Through :class:`HebbianBlockFunction`: the same values, the same gradients to rounding.
    """
    return HebbianBlockFunction.apply(memory, a, b, float(beta), float(alpha))
