"""The spiking CA3 attractor network (Brian2, numpy target) against the classic Hopfield
equation of :mod:`models.hopfield`.

The circuit implements the synchronous update exactly (module docstring of
:mod:`circuits.hippocampus.ca3`), so the comparisons below are exact: any single differing
bit is a bug, not noise. Sizes are small (20-120 cells); the full sweep (N = 300, loads up to
0.25 N) is ``memcircuits figures ca3``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from brian2 import ms, mV

from circuits.hippocampus.ca3 import (
    CA3Circuit,
    CA3Params,
    conjunction,
    decode_stimulus,
    hebbian_state,
    position_cue,
    stimulus_prior,
    two_hot_codes,
)
from mapping.experiments.ca3 import Config, decision_agreement, equation_final, run, summarize
from models.config import load_config
from models.hopfield import hebbian_weights, sync_update
from models.patterns import flip_exact, random_bipolar
from models.rundir import RunDirectory


def equation_trajectory(patterns: np.ndarray, cues: np.ndarray, cycles: int) -> np.ndarray:
    """(P, cycles + 1, N) synchronous trajectory with models.hopfield.sync_update (exact
    integer couplings)."""
    n = patterns.shape[1]
    couplings = torch.round(hebbian_weights(torch.as_tensor(patterns), dtype=torch.float64) * n)
    state = torch.as_tensor(cues, dtype=torch.float64)
    out = [state]
    for _ in range(cycles):
        state = sync_update(couplings, state)
        out.append(state)
    return torch.stack(out, 1).numpy().astype(np.int8)


# ----------------------------------------------------------------------------------------
# one multi-network simulation shared by the retrieval tests (one build, one run)
# ----------------------------------------------------------------------------------------

N = 60
CYCLES = 6
LOADS = (3, 8, 20)  # m: 0.05 N, 0.13 N, 0.33 N (beyond capacity: wrong attractors, 2-cycles)
TIE_N = 20  # small, 4 patterns: N h = m (N - 1) mod 2 = 0, many exactly-zero fields


@pytest.fixture(scope="module")
def retrieval():
    """Three random-pattern networks with 10%-flipped cues, one noisy copy of the middle one."""
    patterns = [random_bipolar(m, N, seed=10 + m).numpy().astype(np.int8) for m in LOADS]
    cues = np.stack([flip_exact(torch.as_tensor(p[np.arange(4) % len(p)]), 6,
                                seed=3).numpy().astype(np.int8) for p in patterns])
    patterns.append(patterns[1])
    cues = np.concatenate([cues, cues[1:2]])
    circuit = CA3Circuit(CA3Params(n_units=N), n_blocks=4, seed=5)
    circuit.store(patterns)
    out = circuit.retrieve(cues, cycles=CYCLES, noise=[0 * mV, 0 * mV, 0 * mV, 4 * mV])
    return circuit, patterns, cues, out


def test_offline_storage_is_the_hebbian_matrix(retrieval):
    circuit, patterns, _, _ = retrieval
    for b, p in enumerate(patterns):
        reference = hebbian_weights(torch.as_tensor(p), dtype=torch.float64).numpy()
        # integer couplings / N computed both ways in float64: equal to rounding (1e-15)
        np.testing.assert_allclose(circuit.weights[b], reference, rtol=0, atol=1e-12)
    # Dale's law: every recurrent (excitatory) weight is >= 0, inhibition = m
    assert (circuit.state.excitatory >= 0).all()
    np.testing.assert_array_equal(circuit.state.inhibitory, [3, 8, 20, 8])
    # thresholds: half the row sums of the couplings plus the tie-breaking quarter
    j = patterns[0].T.astype(float) @ patterns[0]
    np.fill_diagonal(j, 0)
    np.testing.assert_allclose(circuit.thresholds[0], j.sum(1) / 2 + 0.25, rtol=0, atol=1e-12)


def test_every_cycle_equals_the_synchronous_hopfield_update(retrieval):
    _, patterns, cues, out = retrieval
    assert out.stray_spikes == 0  # every spike falls on a volley time
    for b in range(3):
        expected = equation_trajectory(patterns[b], cues[b], CYCLES)
        # exact: the circuit computes sign(W s) with ties kept; no tolerance
        np.testing.assert_array_equal(out.states[b], expected)
    # the comparison is not vacuous: the cues were corrected at low load and the network
    # failed beyond capacity (final overlap with the stored pattern)
    overlap_low = (out.final[0] * patterns[0][np.arange(4) % 3]).mean()
    overlap_high = (out.final[2] * patterns[2][:4]).mean()
    assert overlap_low == 1.0  # 6 of 60 bits flipped, 3 patterns: perfect retrieval
    assert overlap_high < 0.9  # 20 patterns in 60 cells (0.33 N): no retrieval state


def test_membrane_fields_are_the_local_fields(retrieval):
    _, patterns, _, out = retrieval
    for b in range(4):
        j = patterns[b].T.astype(float) @ patterns[b]
        np.fill_diagonal(j, 0)
        h = np.einsum("ij,pkj->pki", j / N, out.states[b, :, :-1].astype(float))
        # read back from volts: (v - E_L - K) / u; float64 rounding of ~-65 mV: < 1e-10
        np.testing.assert_allclose(out.fields[b], h, rtol=0, atol=1e-10)


def test_noise_acts_as_a_decision_temperature(retrieval):
    _, patterns, _, out = retrieval
    states = out.states[3].astype(float)
    # each decision is sign(h + s / 2N + noise) with the recorded noise sample, exactly
    predicted = np.where(out.fields[3] + states[:, :-1] / (2 * N) + out.noise[3] > 0, 1, -1)
    np.testing.assert_array_equal(predicted, out.states[3, :, 1:])
    # sigma / field_gain = 4 mV / 10 mV: sd of the noise 0.4 in units of h (4 x 6 x 60
    # samples: the sample sd lies within 10% of it with overwhelming probability)
    assert out.noise[3].std() == pytest.approx(0.4, rel=0.1)
    assert not out.noise[:3].any()
    # at 0.13 N and this temperature some decisions differ from the noise-free equation
    assert decision_agreement(patterns[3], out.states[3]) < 1.0
    assert decision_agreement(patterns[1], out.states[1]) == 1.0


def test_ties_keep_the_previous_state():
    patterns = random_bipolar(4, TIE_N, seed=1).numpy().astype(np.int8)
    cues = random_bipolar(6, TIE_N, seed=2).numpy().astype(np.int8)
    expected = equation_trajectory(patterns, cues, 4)
    j = patterns.T.astype(float) @ patterns
    np.fill_diagonal(j, 0)
    ties = (np.einsum("ij,pkj->pki", j, expected[:, :-1].astype(float)) == 0).sum()
    assert ties > 10  # the case under test actually occurs (m even, N even)
    circuit = CA3Circuit(CA3Params(n_units=TIE_N))
    circuit.store(patterns)
    out = circuit.retrieve(cues, cycles=4, record_field=False)
    np.testing.assert_array_equal(out.states[0], expected)  # exact, ties included
    assert out.fields is None


def test_online_hebbian_write_equals_offline_storage():
    n = 40
    sets = [random_bipolar(5, n, seed=4).numpy().astype(np.int8),
            random_bipolar(2, n, seed=6).numpy().astype(np.int8)]  # second network idles
    circuit = CA3Circuit(CA3Params(n_units=n), n_blocks=2)
    written = circuit.write(sets)
    offline = hebbian_state(sets, n)
    # weights, inhibition and thresholds are integer or quarter-integer sums: exact
    np.testing.assert_array_equal(written.after.excitatory, offline.excitatory)
    np.testing.assert_array_equal(written.after.inhibitory, [5, 2])
    np.testing.assert_array_equal(written.after.threshold, offline.threshold)
    for b in range(2):
        reference = hebbian_weights(torch.as_tensor(sets[b]), dtype=torch.float64).numpy()
        np.testing.assert_allclose(circuit.weights[b], reference, rtol=0, atol=1e-12)
    # one clamp spike per +1 entry of every written pattern, nothing else
    assert len(written.spikes["pyramidal"].times) == sum(int((p > 0).sum()) for p in sets)
    # a second write adds to the first (Hebbian sums), like a second offline store
    more = [random_bipolar(1, n, seed=8).numpy().astype(np.int8) for _ in range(2)]
    circuit.write(more)
    both = hebbian_state([np.concatenate([s, m]) for s, m in zip(sets, more, strict=True)], n)
    np.testing.assert_array_equal(circuit.state.excitatory, both.excitatory)
    assert circuit.stored == [6, 3]


def test_conjunction_codes_and_position_only_cue():
    codes = two_hot_codes(10)
    assert codes.shape == (45, 10)  # TEM's 45 symbols
    assert (codes.sum(1) == -6).all()  # two +1 and eight -1
    np.testing.assert_array_equal(stimulus_prior(codes), -np.ones(10))
    g = np.array([[1, 0, 1], [0, 0, 1]])  # binary input is mapped by 2b - 1
    x = np.array([[1, -1], [-1, -1]])
    p = conjunction(g, x)
    np.testing.assert_array_equal(p[0], [1, -1, -1, 1, 1, -1])
    np.testing.assert_array_equal(p[1], [1, 1, 1, 1, -1, -1])
    symbols, projection = decode_stimulus(conjunction(g[:1], codes[[7]]), g[:1], codes)
    assert symbols.tolist() == [7]
    np.testing.assert_array_equal(projection[0], 3 * codes[7])  # n_g x


def test_position_only_cue_retrieves_the_stimulus_in_spikes():
    n_g, n_x, m = 12, 10, 4
    rng = np.random.default_rng(0)
    g = np.where(rng.random((m, n_g)) < 0.5, -1, 1)
    codes = two_hot_codes(n_x)
    symbols = rng.choice(len(codes), size=m, replace=False)
    patterns = conjunction(g, codes[symbols])
    assert patterns.shape == (m, n_g * n_x)
    circuit = CA3Circuit(CA3Params(n_units=n_g * n_x))
    circuit.store(patterns)
    cues = position_cue(g, stimulus_prior(codes))
    out = circuit.retrieve(cues, cycles=5, record_field=False)
    decoded, _ = decode_stimulus(out.final[0], g, codes)
    # 4 memories in 120 cells (0.03 N): every stimulus comes back from its position alone
    assert decoded.tolist() == symbols.tolist()
    expected = equation_final(patterns, cues, 5)
    np.testing.assert_array_equal(out.final[0], expected)  # and equals the equation's state


def test_bad_input_names_the_argument():
    circuit = CA3Circuit(CA3Params(n_units=10), n_blocks=2)
    good = np.ones((2, 3, 10), dtype=int)
    with pytest.raises(ValueError, match=r"^patterns must be bipolar"):
        circuit.store(np.zeros((2, 3, 10)))
    with pytest.raises(ValueError, match=r"^patterns must have shape \(2, m, 10\)"):
        circuit.store(np.ones((2, 3, 9)))
    with pytest.raises(ValueError, match=r"^patterns\[1\] must have shape"):
        circuit.store([np.ones((3, 10)), np.ones((3, 11))])
    with pytest.raises(ValueError, match=r"^patterns must hold one pattern matrix per network"):
        circuit.store([np.ones((3, 10))])
    with pytest.raises(ValueError, match=r"^cues must be bipolar"):
        circuit.retrieve(good * 2)
    with pytest.raises(ValueError, match=r"^cues must have shape \(2, P, 10\)"):
        circuit.retrieve(np.ones((3, 10)))
    with pytest.raises(ValueError, match=r"^cycles must be >= 1"):
        circuit.retrieve(good, cycles=0)
    with pytest.raises(ValueError, match=r"^noise must be a voltage"):
        circuit.retrieve(good, noise=2.0)
    with pytest.raises(ValueError, match=r"^noise must be one voltage or one per network"):
        circuit.retrieve(good, noise=[1 * mV, 1 * mV, 1 * mV])
    with pytest.raises(ValueError, match=r"^n_blocks must be >= 1"):
        CA3Circuit(n_blocks=0)
    with pytest.raises(ValueError, match=r"^cycle .* must be a multiple of dt"):
        CA3Circuit(CA3Params(cycle=20.25 * ms))
    with pytest.raises(ValueError, match=r"^reset_phase"):
        CA3Params(reset_phase=0.99).validate()
    with pytest.raises(ValueError, match=r"^field_gain must be a quantity"):
        CA3Params(field_gain=10).validate()
    with pytest.raises(ValueError, match=r"^cue_drive must exceed"):
        CA3Params(cue_drive=1.0).validate()
    with pytest.raises(ValueError, match=r"^x must have as many rows as g"):
        conjunction(np.ones((2, 3)), np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"^g must be binary \(0/1\) or bipolar"):
        conjunction(np.full((2, 3), 2), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"^position_bits \* stimulus_bits must equal"):
        Config(position_bits=20).validate()


def test_experiment_config_reads_quantities_from_overrides():
    config = load_config(Config, None, ["noise=1 mV", "circuit.cycle=25 ms",
                                        "circuit.n_units=200", "position_bits=20"])
    assert float(config.noise / mV) == pytest.approx(1.0)
    assert float(config.circuit.cycle / ms) == pytest.approx(25.0)
    config.validate()


def test_ca3_experiment_end_to_end(tmp_path):
    config = Config(circuit=CA3Params(n_units=40), loads=(0.05, 0.1, 0.2, 0.3),
                    pattern_sets=1, probes=4, cycles=4, position_bits=4, stimulus_bits=10,
                    position_loads=(0.05,), position_sets=1, write_load=0.1)
    run_dir = RunDirectory(tmp_path / "ca3")
    metrics = run(config, run_dir, progress=False)
    run_dir.write_metrics(metrics)
    # the noise-free circuit is the equation: exact agreement at every load
    assert metrics["min_agreement_below_0.1N"] == 1.0
    assert metrics["min_agreement_all_loads"] == 1.0
    assert metrics["decision_agreement_alpha0.3"] == 1.0
    assert metrics["online_weight_max_abs_diff"] == 0.0
    assert metrics["field_max_abs_error"] < 1e-10
    assert metrics["stray_spikes"] == 0
    # the circuit's and the equation's capacity curves are the same curve
    for alpha in ("0.05", "0.1", "0.2", "0.3"):
        assert metrics[f"overlap_circuit_alpha{alpha}"] == metrics[f"overlap_equation_alpha{alpha}"]
    assert 0.0 <= metrics["agreement_noisy_alpha0.3"] <= 1.0
    assert (run_dir.figures / "ca3_vs_hopfield.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "ca3" / "metrics.json").read_text())
    assert saved["networks"] == 4 * 2 + 1  # loads x (noise-free, noisy) + one position set
    csv = (tmp_path / "ca3" / "ca3_curves.csv").read_text().splitlines()
    assert csv[0].startswith("kind,load,set,noise_mv") and len(csv) == 1 + saved["networks"]
    assert "breakdown alpha" in summarize(metrics)


@pytest.mark.standalone
def test_cpp_standalone_gives_the_numpy_states(tmp_path):
    patterns = random_bipolar(6, 50, seed=3).numpy().astype(np.int8)
    cues = flip_exact(torch.as_tensor(patterns[:3]), 8, seed=4).numpy().astype(np.int8)
    results = []
    for backend in ("numpy", "cpp_standalone"):
        circuit = CA3Circuit(CA3Params(n_units=50, backend=backend),
                             directory=tmp_path / "build")
        circuit.store(patterns)
        results.append(circuit.retrieve(cues, cycles=4, noise=1 * mV))
    np.testing.assert_array_equal(results[0].states, results[1].states)  # same noise draws
    np.testing.assert_allclose(results[0].fields, results[1].fields, rtol=0, atol=1e-10)
