"""TEM's attractor as one autograd node (models.tem_attractor) against the autograd reference."""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
import torch

from models.tem_attractor import (
    f_p_derivative,
    fused_attractor,
    fused_hebbian_block,
    inside_unit,
)
from models.tem_hebbian import TEM, MemoryBlocks, TEMConfig, attractor, autograd_reference
from models.tem_training import (
    build_model,
    episode_batch,
    train_config_for_worlds,
    visited_mask,
)


def _memory(dtype: torch.dtype, seed: int = 0) -> tuple[TEM, MemoryBlocks]:
    cfg = TEMConfig(g_sizes=(6, 6, 4), g_subsampled=(3, 2, 2), frequencies=(0.9, 0.3, 0.05))
    model = TEM(cfg, seed=0, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    B = 3
    rows = [getattr(model, f"memory_rows_{j}") for j in range(cfg.n_modules)]
    # large entries so that many z fall outside [-1, 1] and both slopes of f_p are used
    blocks = [(torch.rand(B, r.numel(), e - s, generator=gen, dtype=dtype) - 0.5) * 0.6
              for r, (s, e) in zip(rows, model._p_bounds, strict=True)]
    return model, MemoryBlocks(blocks=blocks, rows=rows, bounds=list(model._p_bounds))


def test_f_p_derivative_is_autograds() -> None:
    z = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], requires_grad=True)
    torch.nn.functional.leaky_relu(torch.clamp(z, -1.0, 1.0), 0.01).sum().backward()
    torch.testing.assert_close(f_p_derivative(z.detach()), z.grad, rtol=0, atol=0)


@pytest.mark.parametrize("generative", [True, False])
def test_fused_attractor_matches_the_reference_values_and_gradients(generative: bool) -> None:
    model, memory = _memory(torch.float64)
    masks = model.retrieve_masks_gen if generative else model.retrieve_masks_inf
    gen = torch.Generator().manual_seed(3)
    query = (torch.randn(3, memory.bounds[-1][1], generator=gen, dtype=torch.float64)
             * 1.5).requires_grad_()
    blocks = [b.clone().requires_grad_() for b in memory.blocks]
    weights = torch.randn(3, memory.bounds[-1][1], generator=gen, dtype=torch.float64)

    ref_memory = MemoryBlocks(blocks=blocks, rows=memory.rows, bounds=memory.bounds)
    ref = attractor(query, ref_memory, kappa=0.8, steps=masks.shape[0], masks=masks)
    ref_grads = torch.autograd.grad((ref * weights).sum(), [query, *blocks])
    got = fused_attractor(query, blocks, memory.rows, memory.bounds, kappa=0.8, masks=masks)
    got_grads = torch.autograd.grad((got * weights).sum(), [query, *blocks])

    torch.testing.assert_close(got, ref, rtol=1e-13, atol=1e-13)
    for g, r in zip(got_grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-12, atol=1e-12)
    assert (got_grads[0] != 0).any() and all((g != 0).any() for g in got_grads[1:])


def test_fused_attractor_passes_gradcheck() -> None:
    model, memory = _memory(torch.float64, seed=5)
    gen = torch.Generator().manual_seed(7)
    # small entries: away from the kinks of f_p, where finite differences are meaningful
    query = (torch.randn(2, memory.bounds[-1][1], generator=gen, dtype=torch.float64)
             * 0.3).requires_grad_()
    blocks = [(b[:2] * 0.3).clone().requires_grad_() for b in memory.blocks]

    def run(q: torch.Tensor, *bs: torch.Tensor) -> torch.Tensor:
        return fused_attractor(q, bs, memory.rows, memory.bounds, kappa=0.8,
                               masks=model.retrieve_masks_gen)

    assert torch.autograd.gradcheck(run, (query, *blocks))


def test_queries_retrieved_together_equal_separate_retrievals() -> None:
    model, memory = _memory(torch.float64, seed=2)
    gen = torch.Generator().manual_seed(4)
    query = torch.randn(3, 2, memory.bounds[-1][1], generator=gen, dtype=torch.float64)
    together = memory.attract(query, kappa=0.8, masks=model.retrieve_masks_both)
    for q, masks in enumerate((model.retrieve_masks_gen, model.retrieve_masks_inf)):
        alone = memory.attract(query[:, q], kappa=0.8, masks=masks)
        torch.testing.assert_close(together[:, q], alone, rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(alone, attractor(query[:, q], memory, kappa=0.8,
                                                    steps=masks.shape[0], masks=masks),
                                   rtol=1e-13, atol=1e-13)


def test_inside_unit_is_clamps_derivative_at_every_dtype() -> None:
    for dtype in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
        eps = torch.finfo(dtype).eps
        z = torch.tensor([-3.0, -1 - eps, -1.0, -1 + eps / 2, 0.0, 0.5, 1 - eps / 2, 1.0,
                          1 + eps, 2.0, 3.0], dtype=dtype)
        want = ((z >= -1) & (z <= 1)).to(dtype)
        assert torch.equal(inside_unit(z), want), dtype


@pytest.mark.parametrize("scale", [0.3, 3.0])  # nothing clips; much clips
def test_fused_hebbian_block_matches_autograd(scale: float) -> None:
    gen = torch.Generator().manual_seed(11)
    memory = ((torch.rand(3, 7, 5, generator=gen, dtype=torch.float64) - 0.5) * scale)
    memory[0, 0, :2] = torch.tensor([1.0, -1.0])  # on the interval's ends: not clipped
    memory = memory.requires_grad_()
    a = (torch.randn(3, 7, 1, generator=gen, dtype=torch.float64) * scale).requires_grad_()
    b = (torch.randn(3, 1, 5, generator=gen, dtype=torch.float64) * scale).requires_grad_()
    b.data[0, 0, :2] = 0.0
    a.data[0, 0] = 0.0
    weights = torch.randn(3, 7, 5, generator=gen, dtype=torch.float64)
    ref = torch.clamp(torch.baddbmm(memory, a, b, beta=1.0, alpha=0.5), -1.0, 1.0)
    got = fused_hebbian_block(memory, a, b, beta=1.0, alpha=0.5)
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
    raw = torch.baddbmm(memory, a, b, beta=1.0, alpha=0.5).detach()
    assert (raw.abs() > 1).any() == (scale > 1)
    ref_grads = torch.autograd.grad((ref * weights).sum(), [memory, a, b])
    got_grads = torch.autograd.grad((got * weights).sum(), [memory, a, b])
    for g, r in zip(got_grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-14, atol=1e-14)
    assert got_grads[0][0, 0, :2].tolist() == [weights[0, 0, 0].item(), weights[0, 0, 1].item()]


#: TEM's options (TEMConfig) under test: the reference TEM (all three on), each change alone,
#: the simplified first TEM (the defaults, the shipped checkpoint's), and the dense layout
_REFERENCE = {"separate_inference_memory": True, "generate_from_inferred_g": True,
              "train_on_visited_states_only": True}
OPTIONS = {
    "reference": _REFERENCE,
    "shared memory": {**_REFERENCE, "separate_inference_memory": False},
    "p-hat from g_gen": {**_REFERENCE, "generate_from_inferred_g": False},
    "every step": {**_REFERENCE, "train_on_visited_states_only": False},
    "first TEM": {},
    "dense layout": {**_REFERENCE, "memory_layout": "dense"},
    "dense first TEM": {"memory_layout": "dense"},
}


@pytest.mark.parametrize("options", OPTIONS.values(), ids=OPTIONS.keys())
def test_training_window_gradients_match_the_reference(options: dict) -> None:
    """Two training windows of TEM (the second backpropagated, its state from the first):
    loss and predictions through the fast path equal those of the autograd reference to
    1e-13, every parameter gradient to 1e-9 relative, with either memory arrangement and
    the losses on revisits only (a visited mask with both values)."""
    base = train_config_for_worlds(model="tem", batch_size=2, window=6, walk_length=(12, 12))
    cfg = dataclasses.replace(base, tem=dataclasses.replace(base.tem, **options))
    data = episode_batch(cfg, 0)
    acts, obs = data["actions"], data["observations"]
    visited = torch.as_tensor(visited_mask(data["nodes"]))
    assert visited[:, 6:12].any() and not visited[:, 6:12].all()
    grads, outputs = [], []
    for reference in (False, True):
        with autograd_reference() if reference else contextlib.nullcontext():
            model = build_model("tem", cfg.model_config(), seed=0).double()
            model.set_progress(3000)  # memory fully on, losses ramped in
            state = model.begin(obs[:, 0])
            state = model.detach_state(model(state, acts[:, :6], obs[:, 1:7],
                                             visited=visited[:, :6]).state)
            out = model(state, acts[:, 6:12], obs[:, 7:13], visited=visited[:, 6:12])
            out.loss.backward()
        outputs.append(out)
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()
                      if p.grad is not None})
    fast, ref = outputs
    assert fast.terms.keys() == ref.terms.keys()
    torch.testing.assert_close(fast.loss, ref.loss, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(fast.logits, ref.logits, rtol=1e-13, atol=1e-13)
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 5
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-9, atol=1e-12,
                                   msg=name)
    # the memory-inferred g is trained: g from memory gets a gradient
    assert grads[0]["g_from_memory.weight2"].abs().sum() > 0


def test_reference_mode_is_restored_after_an_error() -> None:
    from models import tem_hebbian

    with pytest.raises(RuntimeError), autograd_reference():
        assert tem_hebbian._REFERENCE
        raise RuntimeError("inside")
    assert not tem_hebbian._REFERENCE
