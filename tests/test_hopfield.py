"""Tests of models.hopfield: classic (Hebbian, sign dynamics) and modern (softmax) Hopfield."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.hopfield import (
    ClassicHopfield,
    ModernHopfield,
    async_sweep,
    classic_energy,
    classic_retrieve,
    hebbian_weights,
    lse,
    modern_energy,
    modern_retrieve,
    modern_update,
    overlaps,
    softmax_weights,
    sync_update,
)
from models.patterns import flip_bits, flip_exact, random_bipolar

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def _reference_sweep(w: torch.Tensor, s: torch.Tensor, order: list[int]) -> tuple[torch.Tensor,
                                                                               int]:
    """Unit-by-unit asynchronous sweep straight from the definition; also counts ties."""
    s = s.clone()
    ties = 0
    for i in order:
        h = s @ w[i]                                   # (batch,) fields of unit i, recomputed
        ties += int((h == 0).sum())
        s[:, i] = torch.where(h > 0, 1.0, torch.where(h < 0, -1.0, s[:, i]))
    return s, ties


# ---------------------------------------------------------------------------------------
# classic: weights and energy
# ---------------------------------------------------------------------------------------


def test_hebbian_weights_symmetric_zero_diagonal_and_outer_product_sum():
    x = random_bipolar(7, 40, seed=0)
    w = hebbian_weights(x)
    assert w.shape == (40, 40) and w.dtype == torch.float32
    # exact: the entries are integers / N, computed from integer sums
    assert torch.equal(w, w.T)
    assert torch.all(torch.diagonal(w) == 0)
    expected = sum(torch.outer(p, p) for p in x) / 40
    expected.fill_diagonal_(0)
    assert torch.allclose(w, expected, atol=1e-7)  # float32 rounding of k/40
    assert hebbian_weights(x, dtype=torch.float64).dtype == torch.float64


def test_classic_network_weights_match_function_and_couplings_are_integers():
    x = random_bipolar(9, 30, seed=1)
    net = ClassicHopfield(x)
    assert net.n_units == 30 and net.n_patterns == 9 and net.load == pytest.approx(0.3)
    assert torch.allclose(net.weights, hebbian_weights(x), atol=1e-7)  # float32 rounding
    assert torch.equal(net.couplings, net.couplings.round())  # J = N W is integer-valued


def test_classic_energy_formula():
    x = random_bipolar(5, 20, seed=2)
    w = hebbian_weights(x, dtype=torch.float64)
    s = random_bipolar(3, 20, seed=3, dtype=torch.float64)
    expected = torch.stack([-0.5 * v @ w @ v for v in s])
    assert torch.allclose(classic_energy(w, s), expected, atol=1e-12)  # float64 rounding
    assert classic_energy(w, s[0]).shape == ()


# ---------------------------------------------------------------------------------------
# classic: dynamics
# ---------------------------------------------------------------------------------------


def test_async_sweep_matches_unit_by_unit_definition_including_ties():
    # m = 2 patterns: the couplings are in {-2, 0, 2}, so zero fields (ties) are common and
    # the "zero field keeps the state" rule is exercised.
    x = random_bipolar(2, 16, seed=4)
    net = ClassicHopfield(x)
    probes = random_bipolar(30, 16, seed=5)
    order = torch.randperm(16, generator=torch.Generator().manual_seed(6))
    expected, ties = _reference_sweep(net.couplings, probes, order.tolist())
    assert ties > 0  # the test really meets zero fields
    assert torch.equal(async_sweep(net.couplings, probes, order), expected)


@pytest.mark.parametrize("n_units,m", [(100, 30), (300, 60)])
def test_async_sweep_matches_definition_at_high_load(n_units, m):
    # alpha = 0.2-0.3: many units flip, over several 64-unit blocks.
    x = random_bipolar(m, n_units, seed=n_units)
    net = ClassicHopfield(x)
    probes = flip_bits(x[:12], 0.2, seed=1)
    order = torch.randperm(n_units, generator=torch.Generator().manual_seed(2))
    expected, _ = _reference_sweep(net.couplings, probes, order.tolist())
    got = async_sweep(net.couplings, probes, order)
    assert (got != probes).any()
    assert torch.equal(got, expected)
    # a subset of units: the others keep their states
    subset = order[:37]
    expected_subset, _ = _reference_sweep(net.couplings, probes, subset.tolist())
    assert torch.equal(async_sweep(net.couplings, probes, subset), expected_subset)


def test_stored_patterns_are_fixed_points_at_low_load():
    # alpha = 5/200: the crosstalk on a unit has standard deviation sqrt(4/200) = 0.14
    # against a signal of 0.995, so a flip is a > 7 sigma event.
    x = random_bipolar(5, 200, seed=7)
    net = ClassicHopfield(x)
    for mode in ("async", "sync"):
        result = net.retrieve(x, mode=mode, seed=0)
        assert torch.equal(result.states, x)
        assert torch.all(result.sweeps == 0)
        assert torch.all(result.converged)


def test_noisy_probes_are_cleaned_up_at_low_load():
    # alpha = 0.05 and 20 % flipped bits: the initial overlap 0.6 gives each unit a field of
    # about 0.6 +- 0.22, so the first sweep already fixes almost every bit.
    x = random_bipolar(10, 200, seed=8)
    net = ClassicHopfield(x)
    probes = flip_exact(x, 40, seed=9)
    result = net.retrieve(probes, seed=1)
    assert torch.equal(result.states, x)
    assert torch.all(result.converged)
    assert torch.all(result.sweeps >= 1)  # the probes had to move
    assert torch.allclose(net.overlaps(result.states).diagonal(), torch.ones(10))


def test_energy_never_increases_under_asynchronous_updates():
    # alpha = 0.3 (above capacity): long trajectories with many flips. Each single-unit
    # update changes E by -|h_i| (Delta s_i = 2 sign h_i), never upwards; float64 keeps the
    # comparison exact up to rounding of a sum of N terms (~1e-12).
    x = random_bipolar(30, 100, seed=10)
    w = hebbian_weights(x, dtype=torch.float64)
    s = flip_bits(x[:8], 0.3, seed=11).double()
    energy = classic_energy(w, s)
    generator = torch.Generator().manual_seed(12)
    decreases = 0
    for _ in range(3):
        for i in torch.randperm(100, generator=generator).tolist():
            s = async_sweep(w, s, [i])
            new_energy = classic_energy(w, s)
            assert torch.all(new_energy <= energy + 1e-12)
            decreases += int((new_energy < energy - 1e-12).sum())
            energy = new_energy
    assert decreases > 0  # the trajectories did move


def test_retrieve_lowers_energy_and_is_deterministic_and_batch_independent():
    x = random_bipolar(40, 150, seed=13)
    net = ClassicHopfield(x)
    probes = flip_bits(x[:10], 0.1, seed=14)
    a = net.retrieve(probes, seed=5)
    b = net.retrieve(probes, seed=5)
    assert torch.equal(a.states, b.states) and torch.equal(a.sweeps, b.sweeps)
    assert torch.all(net.energy(a.states) <= net.energy(probes) + 1e-4)  # float32 sums
    # a probe's trajectory depends on the seed only, not on the rest of the batch
    part = net.retrieve(probes[3:6], seed=5)
    assert torch.equal(part.states, a.states[3:6])
    assert torch.equal(part.sweeps, a.sweeps[3:6])
    single = net.retrieve(probes[4], seed=5)
    assert single.states.shape == (150,) and single.sweeps.shape == ()
    assert torch.equal(single.states, a.states[4])


def test_scaled_weights_give_the_same_dynamics_without_ties():
    # m (N - 1) = 11 * 99 is odd, so every field is an odd integer / N: no ties, and the
    # normalised float weights must follow exactly the integer couplings' trajectory.
    x = random_bipolar(11, 100, seed=15)
    net = ClassicHopfield(x)
    probes = flip_bits(x, 0.15, seed=16)
    a = net.retrieve(probes, seed=3)
    b = classic_retrieve(hebbian_weights(x), probes, seed=3)
    assert torch.equal(a.states, b.states) and torch.equal(a.sweeps, b.sweeps)


def test_synchronous_two_cycle_is_reported_as_not_converged():
    # Two mutually excitatory units in opposite states swap forever under sync updates.
    w = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    probe = torch.tensor([1.0, -1.0])
    assert torch.equal(sync_update(w, probe), torch.tensor([-1.0, 1.0]))
    result = classic_retrieve(w, probe, mode="sync", max_sweeps=7)
    assert not bool(result.converged) and int(result.sweeps) == 7
    # asynchronous updates settle in one sweep (the first unit aligns with the second)
    result = classic_retrieve(w, probe, mode="async", seed=0)
    assert bool(result.converged) and int(result.sweeps) == 1
    assert result.states[0] == result.states[1]


def test_capacity_transition_at_n500():
    # AGS: retrieval states exist below alpha_c = 0.138 with < 1.6 % wrong bits and vanish
    # above. At alpha = 0.05 the predicted error is ~1e-5 (we allow 0.5 %, far above the
    # sampling noise of 30 probes x 500 bits); at alpha = 0.25 the dynamics leave the
    # pattern for a spin-glass state (measured ~33 % wrong bits at N = 500; we require
    # > 10 %, far from both the retrieval value and the noise).
    n_units = 500
    errors = {}
    for alpha in (0.05, 0.25):
        m = round(alpha * n_units)
        x = random_bipolar(m, n_units, seed=m)
        result = ClassicHopfield(x).retrieve(x[:30], seed=1)
        assert torch.all(result.converged)
        errors[alpha] = float((result.states != x[:30]).float().mean())
    assert errors[0.05] < 0.005
    assert errors[0.25] > 0.10


def test_overlaps():
    x = random_bipolar(4, 50, seed=17)
    s = flip_exact(x[:2], 5, seed=18)
    m = overlaps(s, x)
    assert m.shape == (2, 4)
    assert torch.allclose(m.diagonal(), torch.full((2,), 1 - 2 * 5 / 50))  # 1 - 2 d / N
    assert torch.allclose(overlaps(s, x, cosine=True), m, atol=1e-6)  # bipolar: same
    assert overlaps(s[0], x).shape == (4,)


# ---------------------------------------------------------------------------------------
# modern Hopfield
# ---------------------------------------------------------------------------------------


def test_modern_update_and_energy_follow_the_paper_with_patterns_as_rows():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 4))                 # 6 patterns (rows) of dimension 4
    xi = rng.normal(size=(3, 4))
    beta = 0.7
    logits = beta * xi @ x.T                    # (3, 6)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    expected = p @ x                            # paper: X softmax(beta X^T xi), X = columns
    got = modern_update(torch.tensor(x), torch.tensor(xi), beta).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)  # float64 rounding
    np.testing.assert_allclose(softmax_weights(torch.tensor(x), torch.tensor(xi), beta).numpy(),
                               p, atol=1e-12)
    big_m = np.linalg.norm(x, axis=1).max()
    lse_value = np.log(np.exp(logits).sum(1)) / beta
    energy = -lse_value + 0.5 * (xi**2).sum(1) + np.log(6) / beta + 0.5 * big_m**2
    np.testing.assert_allclose(modern_energy(torch.tensor(x), torch.tensor(xi), beta).numpy(),
                               energy, atol=1e-12)
    np.testing.assert_allclose(lse(beta, torch.tensor(logits / beta)).numpy(), lse_value,
                               atol=1e-12)


def test_modern_energy_is_non_negative():
    # -lse >= -max_mu x_mu.xi - ln(m)/beta, hence E >= (|xi| - M)^2 / 2 >= 0 everywhere.
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(20, 8, generator=gen, dtype=torch.float64)
    states = 3 * torch.randn(100, 8, generator=gen, dtype=torch.float64)
    for beta in (0.01, 1.0, 50.0):
        assert torch.all(modern_energy(x, states, beta) >= -1e-9)  # rounding of O(10) terms


@pytest.mark.parametrize("beta", [0.05, 0.5, 5.0])
def test_modern_energy_decreases_under_the_update(beta):
    # CCCP (Ramsauer et al. 2020, Theorem 1): E(xi^{t+1}) <= E(xi^t). float64; the slack
    # 1e-10 covers rounding of energies of size ~10.
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(30, 10, generator=gen, dtype=torch.float64)
    xi = 2 * torch.randn(16, 10, generator=gen, dtype=torch.float64)
    energy = modern_energy(x, xi, beta)
    first = energy.clone()
    for _ in range(15):
        xi = modern_update(x, xi, beta)
        new = modern_energy(x, xi, beta)
        assert torch.all(new <= energy + 1e-10)
        energy = new
    assert torch.all(energy < first - 1e-3)  # the random probes did move downhill


def test_modern_retrieves_five_n_patterns_from_noisy_probes_in_one_update():
    # N = 100, m = 500 = 5 N (36x the classic capacity) with 20 % of the bits flipped: the
    # probe's dot product with its pattern is 60, with any other pattern N(0, 10^2); a
    # wrong winner needs a 6-sigma event (p ~ 1e-9 per pair, 5e4 pairs here). At beta = 1
    # the softmax puts weight >= 1 - 500 e^{-20} on the right pattern, so one update
    # lands within 1e-3 of it (relative) and the second update does not move it.
    x = random_bipolar(500, 100, seed=20)
    probes = flip_exact(x[:100], 20, seed=21)
    net = ModernHopfield(x, beta=1.0)
    result = net.retrieve(probes)
    assert torch.equal(torch.sign(result.states), x[:100])
    assert torch.all(result.converged)
    assert torch.all(result.iterations == 1)
    one = net(probes)
    assert torch.all((one - x[:100]).norm(dim=1) / 10 < 1e-3)  # ||x|| = sqrt(100)


def test_modern_metastable_mixture_at_low_beta():
    # 10 clusters of 5 similar patterns (5 % bits flipped from a prototype, so members
    # overlap ~0.81), N = 100. At beta = 0.08 the logit gap between the probe's own member
    # (~80) and its cluster mates (~65) is ~1.2 nats: the fixed point mixes the cluster
    # (weights ~0.2-0.3 each) while other clusters (overlap ~0) get ~e^{-5}.
    gen_seed = 30
    prototypes = random_bipolar(10, 100, seed=gen_seed)
    x = flip_bits(prototypes.repeat_interleave(5, dim=0), 0.05, seed=gen_seed + 1)
    probes = flip_exact(x, 10, seed=gen_seed + 2)
    cluster = torch.arange(10).repeat_interleave(5)
    same = (cluster[:, None] == cluster[None, :]).float()
    low = modern_retrieve(x, probes, 0.08, max_iter=500)
    assert torch.all(low.converged)
    p = softmax_weights(x, low.states, 0.08)
    assert float(p.max(dim=1).values.mean()) < 0.5          # no single pattern wins
    assert float((p >= 0.1).sum(dim=1).float().mean()) >= 3  # several patterns share it
    assert float((p * same).sum(dim=1).mean()) > 0.9         # ...from the probe's cluster
    cosine = overlaps(low.states, x, cosine=True)
    assert float(((cosine > 0.5) * same).sum(dim=1).float().mean()) >= 4.5
    # very small beta: the global fixed point, weight spread over (nearly) all 50 patterns
    tiny = modern_retrieve(x, probes, 0.02, max_iter=500)
    p = softmax_weights(x, tiny.states, 0.02)
    assert float((1 / (p**2).sum(dim=1)).mean()) > 40
    # large beta: single-pattern retrieval. Every fixed point is one stored pattern of the
    # probe's cluster (largest weight > 0.95; measured >= 0.978). Cluster mates differ in
    # ~9.5 bits and the probe has 10 flipped, so a few probes are nearer a mate than their
    # own pattern: we require >= 90 % own-pattern retrieval (measured 98 %).
    high = modern_retrieve(x, probes, 1.0)
    signs = torch.sign(high.states)
    matches = (signs[:, None, :] == x[None, :, :]).all(dim=2).float()   # (probes, m)
    assert torch.all((matches * same).sum(dim=1) == 1)
    assert float(matches.diagonal().mean()) >= 0.9
    assert float(softmax_weights(x, high.states, 1.0).max(dim=1).values.min()) > 0.95


def test_modern_retrieve_counts_iterations_and_stops_at_fixed_points():
    x = random_bipolar(10, 50, seed=40).double()
    fixed = modern_update(x, x, 5.0)                       # (near-)exact pattern fixed points
    result = modern_retrieve(x, modern_update(x, fixed, 5.0), 5.0, tol=1e-9)
    assert torch.all(result.iterations == 0)  # already fixed: the first update is below tol
    result = modern_retrieve(x, torch.zeros(50, dtype=torch.float64) + 0.01, 0.01, max_iter=1,
                             tol=1e-12)
    assert not bool(result.converged) and int(result.iterations) == 1


@pytest.mark.parametrize("device", DEVICES)
def test_devices_and_dtypes(device):
    x = random_bipolar(20, 120, seed=50)
    probes = flip_bits(x[:8], 0.1, seed=51)
    cpu = ClassicHopfield(x).retrieve(probes, seed=2)
    net = ClassicHopfield(x, device=device, dtype=torch.float64)
    assert net.couplings.device.type == device and net.couplings.dtype == torch.float64
    got = net.retrieve(probes.to(device), seed=2)
    assert got.states.device.type == device
    assert torch.equal(got.states.cpu().float(), cpu.states)
    assert torch.equal(got.sweeps.cpu(), cpu.sweeps)
    modern = ModernHopfield(x, beta=1.0, device=device, dtype=torch.float64)
    out = modern.retrieve(probes.to(device))
    assert out.states.device.type == device and out.states.dtype == torch.float64
    assert torch.equal(torch.sign(out.states).cpu().float(), x[:8])


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------


def test_bad_input_raises_one_clear_error():
    x = random_bipolar(4, 10, seed=60)
    w = hebbian_weights(x)
    with pytest.raises(ValueError, match=r"^patterns must be bipolar"):
        hebbian_weights((x > 0).float())                   # binary 0/1 patterns
    with pytest.raises(ValueError, match=r"^patterns must be bipolar"):
        ClassicHopfield(x * 0.5)
    with pytest.raises(ValueError, match=r"^patterns must be a \(m, N\) matrix"):
        ClassicHopfield(x[None])
    with pytest.raises(ValueError, match=r"^probes must have last dimension 10"):
        classic_retrieve(w, torch.ones(3, 11))
    with pytest.raises(ValueError, match=r"^probes must be bipolar"):
        classic_retrieve(w, torch.zeros(3, 10))
    with pytest.raises(ValueError, match=r"^mode must be one of"):
        classic_retrieve(w, x, mode="parallel")
    with pytest.raises(ValueError, match=r"^max_sweeps must be >= 1"):
        classic_retrieve(w, x, max_sweeps=0)
    with pytest.raises(ValueError, match=r"^weights must be a square"):
        classic_retrieve(w[:, :9], x)
    asym = w.clone()
    asym[0, 1] += 1.0
    with pytest.raises(ValueError, match=r"^weights must be symmetric"):
        classic_energy(asym, x)
    with pytest.raises(ValueError, match=r"^order must hold unit indices"):
        async_sweep(w, x, [0, 10])
    with pytest.raises(ValueError, match=r"^order must not repeat"):
        async_sweep(w, x, [1, 1])
    with pytest.raises(ValueError, match=r"^states must have last dimension 10"):
        sync_update(w, torch.ones(9))
    with pytest.raises(ValueError, match=r"^beta must be > 0"):
        modern_update(x, x, 0.0)
    with pytest.raises(ValueError, match=r"^beta must be > 0"):
        ModernHopfield(x, beta=-1.0)
    with pytest.raises(TypeError, match=r"^beta must be a real number"):
        modern_energy(x, x, "high")
    with pytest.raises(ValueError, match=r"^beta must be finite"):
        softmax_weights(x, x, math.inf)
    with pytest.raises(ValueError, match=r"^patterns must be finite"):
        modern_retrieve(torch.full((2, 3), math.nan), torch.ones(3), 1.0)
    with pytest.raises(ValueError, match=r"^probes must have last dimension 10"):
        modern_retrieve(x, torch.ones(2, 12), 1.0)
    with pytest.raises(ValueError, match=r"^patterns must be a \(m, N\) matrix"):
        modern_update(torch.ones(10), torch.ones(10), 1.0)
    with pytest.raises(ValueError, match=r"^tol must be > 0"):
        modern_retrieve(x, x, 1.0, tol=0.0)
    with pytest.raises(ValueError, match=r"^max_iter must be >= 1"):
        modern_retrieve(x, x, 1.0, max_iter=0)
