"""Behavioural protocols on the cerebellar circuit (mapping.protocols)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from circuits.cerebellum.params import CerebellumParams, GranuleParams, biological
from mapping.protocols import (
    OBSERVABLES,
    PROTOCOLS,
    Phase,
    Protocol,
    get_protocol,
    record_protocol,
    run_protocol,
    schedule,
    trials,
)


def _kanerva() -> CerebellumParams:
    return CerebellumParams(address_bits=32, value_bits=4,
                            granule=GranuleParams(n=300, coding_level=0.055))


def test_acquisition_extinction_expands_to_trains_and_probes_per_cue():
    steps = trials(get_protocol("acquisition-extinction"))
    assert len(steps) == 2 + 3 * 4 + 3 * 4
    probes = [t for t in steps if t.event == "probe"]
    assert len(probes) == 14 and all(t.teach == "" for t in probes)
    taught = {(t.phase, t.cue): t.teach for t in steps if t.event == "train"}
    assert taught == {("acquisition", 0): "A", ("acquisition", 1): "B",
                      ("extinction", 0): "", ("extinction", 1): ""}
    # every training presentation is followed by the probe of the same cue
    for first, second in itertools.pairwise(steps):
        if first.event == "train":
            assert (second.event, second.cue, second.phase) == ("probe", first.cue,
                                                                 first.phase)


def test_overwrite_teaches_the_other_action_and_generalisation_probes_distances():
    taught = {(t.phase, t.cue): t.teach for t in trials(get_protocol("overwrite"))
              if t.event == "train"}
    assert taught[("overwrite", 0)] == "B" and taught[("overwrite", 1)] == "A"
    general = [t for t in trials(get_protocol("generalisation")) if t.phase == "generalisation"]
    assert [t.distance for t in general] == [2, 4, 8, 16, 32]
    assert {t.cue for t in general} == {0}


def test_schedule_values_cues_and_distances():
    params = _kanerva()
    steps, cues, entries = schedule(get_protocol("generalisation"), params, seed=3)
    assert cues.shape == (2, 32) and not np.array_equal(cues[0], cues[1])
    for t, (kind, key, value) in zip(steps, entries, strict=True):
        assert kind == ("read" if t.event == "probe" else "write")
        assert np.abs(key[0].astype(int) - cues[t.cue]).sum() == t.distance
        if t.event == "train":
            expected = np.array([1, 1, 0, 0] if t.teach == "A" else [0, 0, 1, 1])
            assert value[0].tolist() == expected.tolist()
        else:
            assert value is None
    _, again, _ = schedule(get_protocol("generalisation"), params, seed=3)
    assert np.array_equal(cues, again)  # the seed fixes the cues


def test_extinction_is_the_cue_without_teaching_signal():
    steps, _, entries = schedule(get_protocol("acquisition-extinction"), _kanerva(), seed=0)
    for t, (_, _, value) in zip(steps, entries, strict=True):
        if t.phase == "extinction" and t.event == "train":
            assert value.sum() == 0


@pytest.mark.parametrize(("protocol", "message"), [
    (Protocol("p", (Phase("acquisition"),)), "must start with a baseline phase"),
    (Protocol("p", ()), "must start with a baseline phase"),
    (Protocol("p", (Phase("baseline"), Phase("relearning"))), "unknown phase 'relearning'"),
    (Protocol("p", (Phase("baseline"), Phase("extinction", 0))), "trials must be an integer"),
    (Protocol("p", (Phase("baseline"), Phase("extinction", 1.5))), "trials must be an integer"),
    (Protocol("p", (Phase("baseline"), Phase("generalisation")), distances=(0,)),
     "distances must be >= 1"),
])
def test_bad_protocols_are_one_clear_error(protocol, message):
    with pytest.raises(ValueError, match=message):
        trials(protocol)


def test_unknown_protocol_and_distances_beyond_the_cue():
    with pytest.raises(ValueError, match="unknown protocol 'pavlov'; known: "
                                         "acquisition-extinction"):
        get_protocol("pavlov")
    far = Protocol("far", (Phase("baseline"), Phase("generalisation")), distances=(40,))
    with pytest.raises(ValueError, match="40 bits exceeds the 32-bit cues"):
        schedule(far, _kanerva(), seed=0)
    with pytest.raises(ValueError, match="value_bits >= 2"):
        schedule(get_protocol("overwrite"), CerebellumParams(address_bits=32, value_bits=1),
                 seed=0)
    assert set(PROTOCOLS) == {"acquisition-extinction", "savings", "overwrite",
                              "spontaneous-recovery", "generalisation"}


def test_a_delay_phase_rests_then_probes_each_cue():
    protocol = get_protocol("spontaneous-recovery")
    steps = trials(protocol)
    delay = [t for t in steps if t.phase == "delay"]
    assert [t.event for t in delay] == ["rest", "probe", "probe"]
    assert [t.cue for t in delay[1:]] == [0, 1]
    _, _, entries = schedule(protocol, _kanerva(), seed=0)
    rests = [e for e in entries if e[0] == "rest"]
    assert rests == [("rest", protocol.delay, None)]
    bad = Protocol("wait", (Phase("baseline"), Phase("delay")), delay=0.0)
    with pytest.raises(ValueError, match="delay must be > 0 s"):
        trials(bad)


@pytest.mark.parametrize("entry, message", [
    (("rest", -1.0, None), r"a rest takes its duration in s \(> 0\)"),
    (("rest", "long", None), "a rest takes its duration"),
    (("rest", 1.0, np.ones((1, 4))), "a rest takes no values"),
    (("nap", 1.0, None), "kind must be 'write', 'read' or 'rest'"),
])
def test_bad_rests_are_one_clear_error(entry, message):
    from circuits.cerebellum.protocol import check_schedule

    with pytest.raises(ValueError, match=message):
        check_schedule(_kanerva(), [entry])


@pytest.fixture(scope="module")
def kanerva_run():
    return record_protocol(_kanerva(), get_protocol("acquisition-extinction"), seed=0)


@pytest.fixture(scope="module")
def kanerva_rows(kanerva_run):
    return kanerva_run.rows


def test_a_recorded_run_keeps_the_spikes_and_the_probe_slots(kanerva_run):
    run = kanerva_run
    assert run.rows == run_protocol(_kanerva(), get_protocol("acquisition-extinction"),
                                    seed=0)
    assert run.windows.shape == (len(run.rows), 2)
    assert np.all(np.diff(run.windows[:, 0]) > 0) and run.windows[-1, 1] <= run.duration
    granule = run.spikes["granule"]
    assert granule.size == 300 and {"purkinje", "nuclei"} <= set(run.spikes)
    for (start, stop), row in zip(run.windows, run.rows, strict=True):
        inside = (granule.times >= start) & (granule.times < stop)
        assert len(np.unique(granule.indices[inside])) == round(row["coding_level"] * 300)


def test_kanervas_limit_learns_keeps_its_code_and_extinguishes(kanerva_rows):
    """In Kanerva's limit a cue activates the same granule cells every trial (overlap 1);
    acquisition depresses the cue's synapses onto its action's Purkinje cells (counter up,
    simple spikes down, the circuit chooses it); cue-alone presentations (LTP) undo it."""
    rows = kanerva_rows
    assert len(rows) == 14 and set(OBSERVABLES) <= set(rows[0])
    assert all(r["ensemble_overlap"] == 1.0 for r in rows)
    cue0 = [r for r in rows if r["cue"] == 0]
    base, learned, extinct = cue0[0], cue0[3], cue0[-1]
    assert base["choice"] == 0 and base["counter_a"] == 0
    assert learned["choice"] > 0 and learned["counter_a"] > 2 > 0 > learned["counter_b"]
    assert learned["simple_spikes_a"] < base["simple_spikes_a"]
    assert extinct["counter_a"] < learned["counter_a"] - 2 and extinct["choice"] <= 0
    for r in rows:  # a nuclear cell counts spikes where it fired, none where it did not
        for g in ("a", "b"):
            assert (r[f"nuclear_spikes_{g}"] > 0) == (r[f"output_{g}"] > 0)
            assert r[f"nuclear_spikes_{g}"] >= r[f"output_{g}"]
    assert learned["nuclear_spikes_a"] > base["nuclear_spikes_a"]
    cue1 = [r for r in rows if r["cue"] == 1]
    assert cue1[3]["choice"] < 0 and cue1[3]["counter_b"] > 2


@pytest.mark.slow
def test_the_asynchronous_layer_redraws_its_ensemble_every_trial():
    """Biological layer (32-bit cues, 1000 cells): the cue's ensemble overlaps its baseline
    set only partly (Jaccard well below 1) yet acquisition still teaches the action."""
    rows = run_protocol(biological(address_bits=32, value_bits=4),
                        get_protocol("acquisition-extinction"), seed=0)
    later = [r["ensemble_overlap"] for r in rows if r["phase"] != "baseline"]
    assert max(later) < 0.6
    learned = [r for r in rows if r["phase"] == "acquisition" and r["trial"] == 2]
    assert learned[0]["counter_a"] > 0 > learned[0]["counter_b"]


def test_mushroom_body_odours_hold_the_number_of_active_glomeruli():
    from circuits.cerebellum.params import mushroom_body

    params = mushroom_body()
    _, cues, _ = schedule(get_protocol("acquisition-extinction"), params, seed=3)
    assert cues.shape == (2, params.address_bits)
    assert (cues.sum(axis=1) == round(params.mossy.activity * params.address_bits)).all()
    assert not (cues[0] == cues[1]).all()
    # the cerebellar cues are random bits, each on with probability 1/2
    from models.seeding import child_seed

    _, bits, _ = schedule(get_protocol("acquisition-extinction"), biological(32, 4), seed=3)
    expected = np.random.default_rng(child_seed(3, "protocol_cues")).integers(0, 2, (2, 32))
    assert np.array_equal(bits, expected)


def test_mushroom_body_generalisation_moves_glomeruli_and_keeps_the_odour_activity():
    from circuits.cerebellum.params import mushroom_body

    params = mushroom_body()
    steps, cues, entries = schedule(get_protocol("generalisation"), params, seed=0)
    active = int(cues[0].sum())
    probes = [(t, key) for t, (_, key, _) in zip(steps, entries, strict=True) if t.distance]
    assert [t.distance for t, _ in probes] == [2, 4, 8, 16, 32]
    for t, key in probes:
        assert int(key.sum()) == active  # as many glomeruli on
        assert int(np.abs(key[0].astype(int) - cues[0]).sum()) == t.distance


def test_a_protocol_the_preparation_cannot_run_is_refused():
    from circuits.cerebellum.params import mushroom_body

    odd = Protocol("odd", (Phase("baseline"), Phase("generalisation")), distances=(3,))
    with pytest.raises(ValueError, match=r"protocol 'odd' cannot run on the mushroom_body "
                                         r"preparation: its odours have \d+ of 50 "
                                         r"glomeruli on.*must be even.*got 3"):
        schedule(odd, mushroom_body(), seed=0)
    schedule(odd, biological(32, 4), seed=0)  # the cerebellum flips single bits
