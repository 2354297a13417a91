"""Configuration loading (TOML, overrides, unknown keys) and the run-directory contract."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from models.config import ConfigError, from_dict, load_config, parse_override, to_dict
from models.rundir import RunDirectory, atomic_path, atomic_write_csv, atomic_write_json
from models.seeding import child_seed


@dataclass(frozen=True)
class Inner:
    tau: float = 0.05  # tau: time constant (s)


@dataclass(frozen=True)
class Params:
    n: int = 64  # n: address length (bits)
    beta: float = 1.0
    name: str = "x"
    flag: bool = False
    radii: tuple[int, ...] = (5, 11)
    inner: Inner = field(default_factory=Inner)
    seed: int = 0

    def validate(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")


def test_defaults_file_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("n = 32\nradii = [1, 2, 3]\n[inner]\ntau = 0.1\n")
    cfg = load_config(Params, path, ["beta=2", "inner.tau=0.2", "name=cython", "flag=true"])
    assert cfg == Params(n=32, beta=2.0, name="cython", flag=True, radii=(1, 2, 3),
                         inner=Inner(tau=0.2))
    assert to_dict(cfg)["inner"] == {"tau": 0.2}


@dataclass(frozen=True)
class Experiment:
    # an experiment whose own default circuit differs from the circuit class's defaults
    circuit: Params = field(default_factory=lambda: Params(n=8, name="own",
                                                           inner=Inner(tau=0.5)))
    seed: int = 0


def test_a_nested_override_keeps_the_rest_of_the_default_it_overrides(tmp_path):
    cfg = load_config(Experiment, overrides=["circuit.beta=3"])
    assert cfg.circuit == Params(n=8, name="own", beta=3.0, inner=Inner(tau=0.5))
    cfg = load_config(Experiment, overrides=["circuit.inner.tau=0.7"])
    assert cfg.circuit == Params(n=8, name="own", inner=Inner(tau=0.7))
    path = tmp_path / "e.toml"
    path.write_text("[circuit]\nflag = true\n")
    assert load_config(Experiment, path).circuit == Params(n=8, name="own", flag=True,
                                                           inner=Inner(tau=0.5))
    assert load_config(Experiment).circuit == Experiment().circuit


def test_unknown_key_is_refused_with_known_keys_listed(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown configuration key 'nn'.*known keys"):
        load_config(Params, None, ["nn=3"])
    path = tmp_path / "c.toml"
    path.write_text("[inner]\ntua = 1.0\n")
    with pytest.raises(ConfigError, match=r"'inner\.tua'"):
        load_config(Params, path)


def test_wrong_types_and_validate_errors():
    with pytest.raises(ConfigError, match="n: expected an integer"):
        from_dict(Params, {"n": "big"})
    with pytest.raises(ConfigError, match="flag: expected true or false"):
        from_dict(Params, {"flag": 1})
    with pytest.raises(ConfigError, match="n must be >= 1"):
        from_dict(Params, {"n": 0})


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(Params, tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("n = = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(Params, bad)


def test_parse_override():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("x=[1, 2]") == (["x"], [1, 2])
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("novalue")


def test_child_seeds_are_stable_and_distinct():
    assert child_seed(1, "write", 3) == child_seed(1, "write", 3)
    assert child_seed(1, "write", 3) != child_seed(1, "write", 4)
    assert child_seed(1, "write") != child_seed(2, "write")


def test_run_directory_contract(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.write_config({"n": 64}, seed=7, command="memcircuits test")
    run.write_metrics({"beta": 1.5, "ok": True, "label": "x", "nan": float("nan")})
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["seed"] == 7 and config["config"] == {"n": 64}
    assert {"python", "numpy", "torch"} <= set(config["versions"])
    assert run.read_metrics() == {"beta": 1.5, "ok": True, "label": "x", "nan": None}
    with pytest.raises(ValueError, match=r"metrics\['nested'\] must be a number"):
        run.write_metrics({"nested": {"a": 1}})

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1])
    path = run.save_figure(fig, "line")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "config.json", "figures", "metrics.json"]


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "m.json"
    atomic_write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_atomic_csv_keeps_the_first_rows_columns_and_refuses_no_rows(tmp_path):
    import csv

    target = atomic_write_csv(tmp_path / "t.csv", [{"b": 1, "a": 0.5}, {"b": 2, "a": "x"}])
    with open(target, newline="") as handle:
        assert list(csv.DictReader(handle)) == [{"b": "1", "a": "0.5"}, {"b": "2", "a": "x"}]
    with pytest.raises(ValueError, match=r"empty\.csv: no rows to write"):
        atomic_write_csv(tmp_path / "empty.csv", [])
    assert not (tmp_path / "empty.csv").exists()
