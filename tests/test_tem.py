"""TEM-t and TEM models: equations, causality, state carry-over, memory rule, bad input."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from models.tem import check_window, two_hot_table
from models.tem_hebbian import (
    TEM,
    MemoryBlocks,
    TEMConfig,
    attractor,
    f_p,
    hebbian_update,
)
from models.tem_t import TEMT, TEMTConfig
from models.worlds import batch_walks, square_world


def _walks(steps: int = 30, batch: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    worlds = [square_world(4, 4, seed=seed + b) for b in range(batch)]
    return batch_walks(worlds, steps, repeat_bias=0.2, seed=seed)


def _run(model, walks, window: int):
    acts, obs = walks["actions"], walks["observations"]
    state = model.begin(obs[:, 0])
    logits, positions = [], []
    for t0 in range(0, acts.shape[1], window):
        out = model(state, acts[:, t0:t0 + window], obs[:, t0 + 1:t0 + 1 + window],
                    record=True)
        state = model.detach_state(out.state)
        logits.append(out.logits)
        positions.append(out.record["position"])
    return torch.cat(logits, 1), torch.cat(positions, 1), state


# ------------------------------------------------------------------------------ shared
def test_two_hot_table_has_45_distinct_two_hot_codes():
    table = two_hot_table(45, 10)
    assert table.shape == (45, 10)
    assert torch.all(table.sum(1) == 2)  # exactly two ones per symbol
    assert len({tuple(row.tolist()) for row in table}) == 45  # all codes distinct


def test_two_hot_table_refuses_too_short_code():
    with pytest.raises(ValueError, match="n_code=5 gives only 10"):
        two_hot_table(45, 5)


@pytest.mark.parametrize(("acts", "obs", "match"), [
    (torch.full((2, 3), 5), torch.zeros(2, 3, dtype=torch.long), r"actions must lie in \[0, 5\)"),
    (torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long),
     "observations must have the shape of actions"),
    (torch.zeros(6, dtype=torch.long), torch.zeros(6, dtype=torch.long),
     r"actions must be a \(batch, steps\) matrix"),
    (torch.zeros(2, 3, dtype=torch.long), torch.full((2, 3), 45), "observations must lie in"),
])
def test_check_window_names_the_bad_argument(acts, obs, match):
    with pytest.raises(ValueError, match=match):
        check_window(acts, obs, n_actions=5, n_symbols=45)


def test_check_window_refuses_float_actions():
    with pytest.raises(TypeError, match="actions must hold integers"):
        check_window(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), n_actions=5,
                     n_symbols=45)


# ------------------------------------------------------------------------------ TEM-t
def test_temt_shapes_and_memory_count():
    model = TEMT(TEMTConfig(d_position=16, d_key=8), seed=1)
    walks = _walks(steps=25)
    logits, positions, state = _run(model, walks, window=10)
    assert logits.shape == (3, 25, 45)
    assert positions.shape == (3, 25, 16)
    assert state.n_memories == 26  # one memory per observation x_0..x_25


@pytest.mark.parametrize("correction", [False, True])
def test_temt_windows_do_not_change_the_result(correction):
    """Cutting a walk into windows (state carried over) gives the same predictions."""
    model = TEMT(TEMTConfig(d_position=16, d_key=8, position_correction=correction), seed=2)
    walks = _walks(steps=30)
    a, _, _ = _run(model, walks, window=30)
    b, _, _ = _run(model, walks, window=7)
    # float32 round-off only (same operations, different grouping of the keys tensor)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("correction", [False, True])
def test_temt_is_causal(correction):
    """The prediction of x_{t+1} does not depend on x_{t+1} or later observations; without
    the landmark correction e never depends on observations at all."""
    model = TEMT(TEMTConfig(d_position=16, d_key=8, position_correction=correction), seed=3)
    walks = _walks(steps=20)
    changed = {k: v.clone() for k, v in walks.items()}
    changed["observations"][:, 11:] = (changed["observations"][:, 11:] + 7) % 45
    a, pa, _ = _run(model, walks, window=20)
    b, pb, _ = _run(model, changed, window=20)
    # steps 0..9 predict x_1..x_10, which are before the change: identical (exact)
    assert torch.equal(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 11:], b[:, 11:])  # later predictions use the new memories
    assert torch.equal(pa[:, :10], pb[:, :10])  # positions before the change are unchanged
    if not correction:
        assert torch.equal(pa, pb)  # pure path integration never sees observations


def test_temt_stay_keeps_the_position():
    model = TEMT(TEMTConfig(d_position=16, d_key=8), seed=4)
    state = model.begin(torch.tensor([3, 4]))
    out = model(state, torch.zeros(2, 3, dtype=torch.long), torch.tensor([[3, 3, 3], [4, 4, 4]]),
                record=True)
    e0 = model.initial_position(2)
    torch.testing.assert_close(out.record["position"][:, -1], e0)  # W_stay = identity


def test_temt_attention_matches_the_equation():
    """Memory-neuron activity = softmax(b log(1+N) q.k) with a null memory, by hand."""
    torch.manual_seed(0)
    model = TEMT(TEMTConfig(d_position=8, d_key=4, position_correction=False), seed=5)
    walks = _walks(steps=6, batch=2)
    acts, obs = walks["actions"], walks["observations"]
    state = model.begin(obs[:, 0])
    out = model(state, acts, obs[:, 1:], record=True)
    with torch.no_grad():
        positions = torch.cat([model.initial_position(2).unsqueeze(1),
                               out.record["position"]], 1)  # e_0..e_6
        keys = model.keys(positions)
        b = model.beta_scale
        for t in range(6):  # query e_{t+1} against memories 0..t
            n = t + 1
            beta = b * math.log(1 + n)
            scores = beta * (keys[:, t + 1:t + 2] * keys[:, :n]).sum(-1)  # (B, n)
            null = (beta * model.null_score).expand(2, 1)
            w = torch.softmax(torch.cat([scores, null], 1), 1)
            torch.testing.assert_close(out.record["memory_activity"][:, t, :n], w[:, :n])
            assert torch.all(out.record["memory_activity"][:, t, n:] == 0)  # not yet stored
            readout = w[:, :n].unsqueeze(1) @ model.values(obs[:, :n])
            readout = readout.squeeze(1) + w[:, n:] * model.null_value
            logits = readout @ model.out_weight.T + model.out_bias
            torch.testing.assert_close(out.logits[:, t], logits)


def test_temt_landmark_correction_matches_the_equation():
    """First step with correction: e_1 = u_0 e_0 + u_null e~_1, u = softmax of
    (b_c log 2 cos(k(e~_1), k_0) + beta_x [x_0 = x_1], b_c log 2 gamma + beta_x)."""
    model = TEMT(TEMTConfig(d_position=8, d_key=4), seed=7)
    obs0 = torch.tensor([3, 3])
    acts = torch.tensor([[1], [2]])
    obs1 = torch.tensor([[3], [9]])  # walk 0 sees the same symbol again, walk 1 does not
    out = model(model.begin(obs0), acts, obs1, record=True)
    with torch.no_grad():
        e0 = model.initial_position(2)
        e_pi = torch.tanh(torch.einsum("bij,bj->bi", model.action_matrices()[acts[:, 0]], e0))
        cos = (model.keys(e_pi) * model.keys(e0)).sum(-1)
        scale = model.correction_beta_scale * math.log(2.0)
        match = (obs1[:, 0] == obs0).float()
        c = scale * cos + model.symbol_match * match
        c0 = scale * model.correction_threshold + model.symbol_match
        u = torch.softmax(torch.stack([c, c0.expand(2)], 1), 1)
        want = u[:, :1] * e0 + u[:, 1:] * e_pi
    torch.testing.assert_close(out.record["position"][:, 0], want)
    # the symbol term pulls walk 0 (same symbol) towards e_0 more than walk 1
    assert u[0, 0] > u[1, 0]


def test_temt_memory_recalls_a_revisited_node():
    """With a hand-set position code (one-hot positions, exact shifts), the memory returns
    the symbol stored at a revisited node: the retrieval path works end to end."""
    cfg = TEMTConfig(d_position=25, d_key=25, d_value=45, null_memory=False)
    model = TEMT(cfg, seed=6)
    world = square_world(5, 5, seed=1)
    with torch.no_grad():  # e = one-hot of the node; W_a = the world's permutation matrix
        for a in range(1, 5):
            mat = torch.zeros(25, 25)
            for n in range(25):
                nxt = int(world.transitions[n, a])
                mat[nxt if nxt >= 0 else n, n] = 1.0
            model.transitions[a] = mat * 10.0
        model.position_init.copy_(torch.nn.functional.one_hot(torch.tensor(12), 25) * 10.0)
        model.key_proj.copy_(torch.eye(25))
        model.out_weight.copy_(torch.eye(45) * 20.0)
        model.beta_param.fill_(5.0)
    # tanh(10) ~ 1: the code stays one-hot; go east, north, west, south (back to the start)
    acts = torch.tensor([[2, 1, 4, 3]])
    nodes = [12, 13, 18, 17, 12]
    obs = torch.tensor([[int(world.observations[n]) for n in nodes]])
    out = model(model.begin(obs[:, 0]), acts, obs[:, 1:])
    assert int(out.logits[0, -1].argmax()) == int(obs[0, -1])  # returns to x_0 by link inference


def test_temt_transition_regulariser_adds_the_penalty():
    cfg = TEMTConfig(d_position=6, d_key=4, transition_regulariser=0.1, position_correction=False)
    model = TEMT(cfg, seed=8)
    with torch.no_grad():
        model.transitions.copy_(torch.eye(6).expand(5, 6, 6))
    assert float(model.transition_penalty().detach()) == 0.0  # W_a = I: no penalty
    with torch.no_grad():
        model.transitions[1, 0, 1] = 2.0
    # mean over the 4 moving actions of |W_a - I|^2: (2^2) / 4
    assert float(model.transition_penalty().detach()) == pytest.approx(1.0)
    walks = _walks(steps=5, batch=2)
    out = model(model.begin(walks["observations"][:, 0]), walks["actions"],
                walks["observations"][:, 1:])
    assert out.terms["transition"] == pytest.approx(0.1)
    assert float(out.loss.detach()) == pytest.approx(out.terms["cross_entropy"] + 0.1, rel=1e-5)


def test_temt_refuses_bad_state_and_config():
    model = TEMT(TEMTConfig(d_position=8, d_key=4), seed=0)
    with pytest.raises(TypeError, match="state must be a TEMTState"):
        model(None, torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="d_position must be >= 2"):
        TEMTConfig(d_position=1).validate()
    with pytest.raises(ValueError, match="position_activation must be one of"):
        TEMTConfig(position_activation="sigmoid").validate()
    with pytest.raises(ValueError, match="observations must lie in"):
        model.begin(torch.tensor([45]))
    state = model.begin(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="actions must have batch size 2"):
        model(state, torch.zeros(3, 2, dtype=torch.long), torch.zeros(3, 2, dtype=torch.long))


# ------------------------------------------------------------------------------ TEM
def test_hebbian_update_is_the_tem_rule():
    torch.manual_seed(0)
    M = torch.rand(2, 6, 6) * 0.4 - 0.2
    p, p_hat = torch.rand(2, 6), torch.rand(2, 6)
    got = hebbian_update(M, p, p_hat, forgetting=0.9, rate=0.5)
    for b in range(2):
        # column form M' = clip(lambda M + eta (p - p_hat)(p + p_hat)^T) read as h M (rows):
        # entry [i, j] = (p + p_hat)_i (p - p_hat)_j
        want = torch.clamp(0.9 * M[b] + 0.5 * torch.outer(p[b] + p_hat[b], p[b] - p_hat[b]),
                           -1, 1)
        torch.testing.assert_close(got[b], want)
    big = hebbian_update(M, p * 10, p_hat, forgetting=1.0, rate=1.0)
    assert big.abs().max() <= 1.0  # clipped to +-1


def test_memory_blocks_equal_the_masked_dense_memory():
    cfg = TEMConfig(g_sizes=(6, 6, 4), g_subsampled=(3, 2, 2), frequencies=(0.9, 0.3, 0.05),
                    n_compressed=10)
    model = TEM(cfg, seed=0)
    torch.manual_seed(1)
    B, P = 2, sum(cfg.p_sizes)
    rows = [getattr(model, f"memory_rows_{j}") for j in range(3)]
    blocks = MemoryBlocks(blocks=[torch.zeros(B, r.numel(), e - s) for r, (s, e) in
                                  zip(rows, model._p_bounds, strict=True)],
                          rows=rows, bounds=list(model._p_bounds))
    dense = torch.zeros(B, P, P)
    for _ in range(4):
        p, p_hat = torch.rand(B, P), torch.rand(B, P) * 0.5
        blocks = blocks.update(p, p_hat, forgetting=0.95, rate=0.5)
        dense = hebbian_update(dense, p, p_hat, forgetting=0.95, rate=0.5, mask=model.memory_mask)
    torch.testing.assert_close(blocks.dense(), dense)
    q = torch.randn(B, P)
    # attractor on the blocks equals the dense attractor (same masked matrix)
    torch.testing.assert_close(attractor(q, blocks, kappa=0.8, steps=3),
                               attractor(q, dense, kappa=0.8, steps=3))
    # mask: module 0 (highest frequency) receives from every module, module 2 only from itself
    assert model.memory_mask[:, : cfg.p_sizes[0]].all()
    assert not model.memory_mask[: cfg.p_sizes[0], -cfg.p_sizes[2]:].any()


def test_attractor_completes_a_stored_pattern():
    """One stored pattern, a partial cue: retrieval moves towards the pattern."""
    P = 40
    p = (torch.rand(1, P, generator=torch.Generator().manual_seed(0)) > 0.5).float() * 0.9
    M = hebbian_update(torch.zeros(1, P, P), p, torch.zeros_like(p), forgetting=1.0, rate=0.5)
    cue = p.clone()
    cue[:, P // 2:] = 0
    out = attractor(cue, M, kappa=0.8, steps=5)
    cos_before = torch.nn.functional.cosine_similarity(f_p(cue), p).item()
    cos_after = torch.nn.functional.cosine_similarity(out, p).item()
    # the cue holds half the pattern (cos ~0.7); completion should recover most of it
    assert cos_after > cos_before + 0.15
    assert cos_after > 0.95


def test_tem_windows_do_not_change_the_result_and_shapes():
    cfg = TEMConfig(g_sizes=(9, 6), g_subsampled=(3, 2), frequencies=(0.9, 0.1))
    model = TEM(cfg, seed=1).eval()
    walks = _walks(steps=12, batch=2)
    with torch.no_grad():
        a, pa, state = _run(model, walks, window=12)
        b, pb, _ = _run(model, walks, window=5)
    assert a.shape == (2, 12, 45) and pa.shape == (2, 12, 15)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pa, pb, atol=1e-5, rtol=1e-5)
    assert state.memory.dense().shape == (2, 50, 50)


@pytest.mark.parametrize("separate", [True, False])
def test_tem_memory_layouts_agree(separate):
    """The dense masked matrix and its blocks are the same memory: same predictions."""
    kw = dict(g_sizes=(9, 6), g_subsampled=(3, 2), frequencies=(0.9, 0.1),
              separate_inference_memory=separate)
    dense = TEM(TEMConfig(**kw, memory_layout="dense"), seed=3).eval()
    blocks = TEM(TEMConfig(**kw, memory_layout="blocks"), seed=3).eval()
    walks = _walks(steps=10, batch=2)
    with torch.no_grad():
        a, _, sa = _run(dense, walks, window=10)
        b, _, sb = _run(blocks, walks, window=10)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sa.memory.dense(), sb.memory.dense(), atol=1e-6, rtol=1e-5)
    if separate:
        torch.testing.assert_close(sa.inference_memory.dense(), sb.inference_memory.dense(),
                                   atol=1e-6, rtol=1e-5)
    else:
        assert sa.inference_memory is None and sb.inference_memory is None


@pytest.mark.parametrize("reference", [True, False])
def test_tem_loss_is_finite_and_backpropagates(reference):
    cfg = TEMConfig(g_sizes=(9, 6), g_subsampled=(3, 2), frequencies=(0.9, 0.1),
                    generate_from_inferred_g=reference)
    model = TEM(cfg, seed=2)
    walks = _walks(steps=6, batch=2)
    state = model.begin(walks["observations"][:, 0])
    out = model(state, walks["actions"], walks["observations"][:, 1:])
    out.loss.backward()
    assert torch.isfinite(out.loss)
    # x_g: the observation decoded from the place code retrieved from g^inf (torch_tem)
    assert set(out.terms) == ({"x_gen", "x_p", "p_gen", "p_x", "g", "reg_g", "reg_p"}
                              | ({"x_g"} if reference else set()))
    assert model.transition.grad is not None and model.transition.grad.abs().sum() > 0


def test_tem_inference_memory_is_unmasked_and_written_with_p_x():
    """torch_tem's inference memory: every connection (no hierarchical mask), the Hebbian
    rule with the place code retrieved from x in place of p-hat; the generative memory keeps
    the mask."""
    cfg = TEMConfig(g_sizes=(9, 6), g_subsampled=(3, 2), frequencies=(0.9, 0.1),
                    separate_inference_memory=True)
    model = TEM(cfg, seed=4, dtype=torch.float64).eval()
    walks = _walks(steps=8, batch=2)
    with torch.no_grad():
        *_, state = _run(model, walks, window=8)
    gen, inf = state.memory.dense(), state.inference_memory.dense()
    assert (gen * (1 - model.memory_mask) == 0).all()  # masked
    assert (inf * (1 - model.memory_mask)).abs().sum() > 0  # not masked
    assert not torch.allclose(gen * model.memory_mask, inf * model.memory_mask)


def test_tem_state_of_another_memory_arrangement_is_refused():
    kw = dict(g_sizes=(9, 6), g_subsampled=(3, 2), frequencies=(0.9, 0.1))
    shared = TEM(TEMConfig(**kw), seed=0)
    separate = TEM(TEMConfig(**kw, separate_inference_memory=True), seed=0)
    walks = _walks(steps=4, batch=2)
    state = shared.begin(walks["observations"][:, 0])
    with pytest.raises(ValueError, match="separate_inference_memory=True"):
        separate(state, walks["actions"], walks["observations"][:, 1:])


def test_tem_losses_on_visited_states_only():
    """train_on_visited_states_only (TF2 TEM): each step's loss is the mean over the walks
    that revisit; the walks are independent, so with walk 0 alone selected the loss is that
    of walk 0 run alone. All selected: the plain mean; none: zero. Off: visited is ignored."""
    cfg = TEMConfig(g_sizes=(9, 6), g_subsampled=(3, 2), frequencies=(0.9, 0.1),
                    train_on_visited_states_only=True)
    model = TEM(cfg, seed=5, dtype=torch.float64)
    walks = _walks(steps=8, batch=3)
    acts, obs = walks["actions"], walks["observations"]

    def loss(a, o, visited=None, m=model):
        return m(m.begin(o[:, 0]), a, o[:, 1:], visited=visited).loss

    with torch.no_grad():
        every = loss(acts, obs)
        first = torch.zeros(3, 8, dtype=torch.bool)
        first[0] = True
        torch.testing.assert_close(loss(acts, obs, first), loss(acts[:1], obs[:1]),
                                   rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(loss(acts, obs, torch.ones(3, 8, dtype=torch.bool)), every,
                                   rtol=1e-12, atol=1e-12)
        assert float(loss(acts, obs, torch.zeros(3, 8, dtype=torch.bool))) == 0.0
        off = TEM(dataclasses.replace(cfg, train_on_visited_states_only=False), seed=5,
                  dtype=torch.float64)
        assert float(loss(acts, obs, first, off)) == float(loss(acts, obs, None, off))
    with pytest.raises(ValueError, match=r"visited must be a \(3, 8\) bool tensor"):
        loss(acts, obs, torch.ones(3, 7, dtype=torch.bool))


def test_tem_config_saved_before_the_reference_options_means_the_first_tem():
    """A saved config without the three options is the simplified first TEM (the shipped
    checkpoint's), whatever the defaults; the reference options are opt-in."""
    from models.config import from_dict, to_dict

    assert not any(getattr(TEMConfig(), name) for name in TEMConfig.SAVED_BEFORE_FIELD)
    new = TEMConfig(separate_inference_memory=True, generate_from_inferred_g=True,
                    train_on_visited_states_only=True)
    saved = {k: v for k, v in to_dict(new).items() if k not in TEMConfig.SAVED_BEFORE_FIELD}
    old = from_dict(TEMConfig, TEMConfig.complete_saved(saved))
    assert not (old.separate_inference_memory or old.generate_from_inferred_g
                or old.train_on_visited_states_only)
    # a saved value wins over the old meaning
    kept = TEMConfig.complete_saved({**saved, "generate_from_inferred_g": True})
    assert kept["generate_from_inferred_g"] and not kept["separate_inference_memory"]


def test_tem_config_errors_name_the_field():
    with pytest.raises(ValueError, match="g_subsampled must have one entry per module"):
        TEMConfig(g_subsampled=(1, 2)).validate()
    with pytest.raises(ValueError, match=r"g_subsampled\[0\] must be <= 30"):
        TEMConfig(g_subsampled=(31, 10, 8, 6, 6)).validate()
    with pytest.raises(ValueError, match="n_compressed=9 gives fewer two-hot codes"):
        TEMConfig(n_compressed=9).validate()


def test_memory_weight_is_the_precision_weighted_mean_and_stays_finite():
    from models.tem_hebbian import memory_weight

    gen = torch.Generator().manual_seed(0)
    log_gen = torch.randn(6, generator=gen, dtype=torch.float64)
    log_mem = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    for offset in (0.0, 0.7):
        prec_gen, prec_mem = 1 / torch.exp(log_gen) ** 2, 1 / (torch.exp(log_mem) + offset) ** 2
        torch.testing.assert_close(memory_weight(log_gen, log_mem, offset),
                                   prec_mem / (prec_gen + prec_mem), rtol=1e-12, atol=0)
    # outputs where exp() overflows or underflows in float32: the old form gave nan
    extreme = torch.tensor([[200.0, -200.0, 0.0]], requires_grad=True)
    weight = memory_weight(torch.zeros(3), extreme, 1e4)
    weight.sum().backward()
    weight = weight.detach()
    assert torch.isfinite(weight).all() and torch.isfinite(extreme.grad).all()
    assert float(weight[0, 0]) < 1e-30 and float(weight[0, 1]) == pytest.approx(1e-8, rel=1e-3)
