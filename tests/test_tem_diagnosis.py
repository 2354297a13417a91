"""TEM's errors split into drift and read-out (models.tem_diagnosis)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.tem_diagnosis import diagnose_tem
from models.tem_evaluation import evaluate, fresh_walks
from models.tem_hebbian import TEM, TEMConfig
from models.tem_t import TEMT, TEMTConfig
from models.tem_training import load_model

SMALL = TEMConfig(g_sizes=(6, 6), g_subsampled=(3, 3), frequencies=(0.9, 0.2),
                  decoder_hidden=16)


def test_predict_from_position_is_the_prediction_forward_makes():
    model = TEM(SMALL, seed=1)
    _, _, batch = fresh_walks(model, "square:4x4", n_worlds=3, steps=12, seed=2)
    state = model.begin(batch["observations"][:, 0])
    with torch.no_grad():
        for t in range(12):
            out = model(state, batch["actions"][:, t:t + 1], batch["observations"][:, t + 1:t + 2],
                        record=True)
            g_gen = out.record["position_path_integrated"][:, 0]
            torch.testing.assert_close(model.predict_from_position(state, g_gen),
                                       out.logits[:, 0], rtol=1e-5, atol=1e-5)
            state = out.state


def test_without_path_integration_the_oracle_is_the_model():
    """An untrained TEM (D_a = 0) at step 0 (memory untrusted) never moves g: every node is
    stored under the code it is queried with, so the oracle predicts what the model does."""
    model = TEM(SMALL, seed=3)
    model.set_progress(0)
    d = diagnose_tem(model, "square:4x4", n_worlds=4, steps=40, seed=4)
    assert d.visited.any()
    np.testing.assert_array_equal(d.correct_stored_position[d.visited], d.correct[d.visited])
    assert d.metrics()["memory_trust"] < 1e-6


def test_shipped_tem_drifts_little_on_5x5_and_its_accuracy_is_evaluates():
    model, _ = load_model("default", expected_type="tem")
    d = diagnose_tem(model, "square:5x5", n_worlds=4, seed=0)
    m = d.metrics()
    ev = evaluate(model, "square:5x5", n_worlds=4, seed=0).metrics()
    assert m["accuracy_visited"] == pytest.approx(ev["accuracy_visited"], abs=1e-12)
    assert m["n_steps_visited"] == ev["n_steps_visited"]
    # measured on 16 worlds (seed 0): oracle 0.994, nearest 0.992, drift 0.26 against 7.0
    assert m["accuracy_visited_stored_position"] > 0.9
    assert m["path_integrated_nearest_node"] > 0.9
    assert m["drift_since_last_visit"] < 0.3 * m["distance_to_other_nodes"]
    # its memory works far from the clip: small entries, none at +-1 (measured: 0.002, 0)
    assert m["memory_abs_mean"] < 0.05 and m["memory_clipped_fraction"] < 0.01
    assert 0 < m["place_code_l1"] < 5


def test_bad_model_or_world_is_one_clear_error():
    with pytest.raises(TypeError, match="model must be a TEM"):
        diagnose_tem(TEMT(TEMTConfig(d_position=8, d_key=4)), "square:4x4")
    with pytest.raises(ValueError, match="world: a hexagonal world has 7 actions"):
        diagnose_tem(TEM(SMALL), "hex:4x4")
