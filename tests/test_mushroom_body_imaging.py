"""The mushroom-body run writes its spikes, and ``memcircuits calcium`` images them."""

from __future__ import annotations

import json

from analysis.nwb import read_spikes
from mapping.cli import main


def test_mushroom_body_spikes_are_written_and_imaged(tmp_path):
    run = tmp_path / "mb"
    assert main(["figures", "mushroom-body", "--out", str(run), "--quiet",
                 "--set", "odours=4", "--set", "circuit.granule.n=500",
                 "--set", "rate_factors=[1.0]"]) == 0
    spikes = read_spikes(run / "spikes.nwb")
    assert {"PN", "KC", "MBON", "DAN", "APL"} <= set(spikes)
    i, t, size = spikes["KC"]
    assert size == 500 and len(i) > 0 and t.max() > 0
    assert set(spikes["DAN"][0].tolist()) <= {0, 1}  # one teaching neuron per valence
    out = tmp_path / "ca"
    assert main(["calcium", str(run), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["KC_neurons"] == 500 and metrics["KC_rois"] > 0, metrics
    assert metrics["KC_preset"] == "granule_soma" and metrics["MBON_rois"] == 2, metrics
    assert (out / "calcium.nwb").is_file()
