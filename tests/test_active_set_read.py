"""The SDM read on given active sets (mapping.cerebellum_vs_sdm.active_set_read)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mapping.cerebellum_vs_sdm import active_set_read
from models.sdm import SDM


def test_equals_the_abstract_sdm_on_its_own_active_sets():
    model = SDM.random(2000, 32, radius=12, value_dim=6, seed=0, saturation=2)
    keys = torch.randint(0, 2, (30, 32), generator=torch.Generator().manual_seed(1))
    values = torch.randint(0, 2, (30, 6), generator=torch.Generator().manual_seed(2))
    model.write(keys, values)
    queries = keys[:10].clone()
    queries[:, :3] ^= 1
    write_sets = [a.numpy() for a in model.active_sets(keys)]
    read_sets = [a.numpy() for a in model.active_sets(queries)]
    bits, sums = active_set_read(write_sets, values.numpy(), read_sets, 2000, saturation=2)
    np.testing.assert_array_equal(sums, model.sums(queries).numpy())
    np.testing.assert_array_equal(bits, model.read(queries).numpy())


def test_saturation_applies_after_each_write_in_order():
    # three writes of 1 then one of 0 on cell 0: 1, 2, 2 (clipped), 1
    sets = [np.array([0])] * 4
    values = np.array([[1], [1], [1], [0]])
    _, sums = active_set_read(sets, values, [np.array([0])], 3, saturation=2)
    assert sums.tolist() == [[1]]
    _, sums = active_set_read(sets, values, [np.array([0])], 3)
    assert sums.tolist() == [[2]]
    bits, sums = active_set_read(sets, values, [np.array([1, 2]), np.array([], dtype=int)], 3)
    assert sums.tolist() == [[0], [0]] and bits.tolist() == [[0], [0]]  # ties read 0


def test_bad_input():
    with pytest.raises(ValueError, match="one row per write"):
        active_set_read([np.array([0])], np.zeros((2, 3)), [], 5)
    with pytest.raises(ValueError, match=r"out of range 0\.\.4"):
        active_set_read([np.array([7])], np.zeros((1, 3)), [], 5)
