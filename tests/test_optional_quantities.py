"""Optional quantity fields (default None) get their dimensions checked like the others.

Before: ``--set 'circuit.climbing.pairing="5 Hz"'`` ended in a Brian2 traceback and
``--set 'circuit.mossy.calibration_rate="5 ms"'`` was accepted silently (the loader checked
a quantity's dimensions against the field's default, and None has none).
"""

from __future__ import annotations

import dataclasses

import pytest
from brian2 import Hz, ms

from circuits.cerebellum.params import CerebellumParams, ClimbingFibreParams, MossyFibreParams
from mapping.cli import main
from models.config import ConfigError, load_config


@pytest.mark.parametrize(("override", "message"), [
    ('climbing.pairing="5 Hz"', r"climbing.pairing: '5 Hz' has the wrong dimensions; "
                                r"expected units like 'ms'"),
    ('mossy.calibration_rate="5 ms"', r"mossy.calibration_rate: '5 ms' has the wrong "
                                      r"dimensions; expected units like 'Hz'"),
    ("climbing.pairing=3", r"climbing.pairing: 3 has the wrong dimensions"),
])
def test_wrong_dimensions_are_refused_by_the_loader(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(CerebellumParams, None, [override])


def test_right_dimensions_and_none_are_accepted():
    params = load_config(CerebellumParams, None, ['climbing.pairing="120 ms"',
                                                  'mossy.calibration_rate="40 Hz"'])
    assert params.climbing.pairing == 120 * ms and params.mossy.calibration_rate == 40 * Hz
    assert load_config(CerebellumParams, None, ["climbing.pairing=none"]).climbing.pairing is None


def test_python_api_checks_dimensions_too():
    with pytest.raises(ValueError, match=r"climbing.pairing must be a quantity in units like ms"):
        dataclasses.replace(CerebellumParams(),
                            climbing=ClimbingFibreParams(pairing=5 * Hz)).validate()
    with pytest.raises(ValueError, match=r"mossy.calibration_rate must be a quantity in units "
                                         r"like Hz"):
        dataclasses.replace(CerebellumParams(),
                            mossy=MossyFibreParams(calibration_rate=5 * ms)).validate()


def test_command_line_gives_one_line(tmp_path, capsys):
    code = main(["cerebellum", "--out", str(tmp_path / "r"), "--set",
                 'circuit.climbing.pairing="5 Hz"'])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "wrong dimensions" in err
    assert not (tmp_path / "r").exists()
