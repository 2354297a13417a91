"""Checkpoints never run code: every way in (``tem evaluate``, ``hippocampus --mec-checkpoint``,
``tem train`` resuming, a sweep, the Python API) refuses a crafted ``.pt`` whose unpickling
would call a function, with one clear line; checkpoints written here, and the shipped ones,
hold plain data only."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import pytest
import torch

from mapping.cli import main
from models.tem_t import TEMTConfig
from models.tem_training import (
    CHECKPOINT_FORMAT,
    NAMED_CHECKPOINTS,
    export_checkpoint,
    load_checkpoint,
    load_model,
    named_checkpoint_path,
    train,
    train_config_for_worlds,
)

SHIPPED = sorted({(name, kind) for name, files in NAMED_CHECKPOINTS.items()
                  for kind in files})
REFUSED = "holds objects that are not plain data"


class _Touch:
    """Unpickling an instance calls ``Path.touch(marker)``: code run by ``torch.load``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _crafted(tmp_path: Path, name: str = "evil.pt", **kwargs) -> tuple[Path, Path]:
    """A checkpoint-looking file whose metadata, unpickled, creates ``marker``."""
    marker = tmp_path / f"{name}.marker"
    path = tmp_path / name
    payload = {"format": CHECKPOINT_FORMAT, "format_version": 1, "model_type": "tem-t",
               "model_config": {}, "model_state": {}, "metadata": _Touch(marker)}
    torch.save(payload, path, **kwargs)
    return path, marker


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("memcircuits: error: "), err
    return err


def test_the_crafted_file_really_runs_code_when_unpickled_unsafely(tmp_path):
    """The check of the tests below: torch.load(weights_only=False) creates the marker."""
    path, marker = _crafted(tmp_path)
    torch.load(path, weights_only=False)
    assert marker.exists()


# ------------------------------------------------------------------------------ Python API
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-format"])
def test_python_api_refuses_a_crafted_checkpoint(tmp_path, legacy):
    kwargs = {"_use_new_zipfile_serialization": False} if legacy else {}
    path, marker = _crafted(tmp_path, **kwargs)
    message = rf"^checkpoint: {re.escape(str(path))} {REFUSED} .*; refusing to load it"
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path)
    with pytest.raises(ValueError, match=message):
        load_model(path)
    with pytest.raises(ValueError, match=message):
        export_checkpoint(path, tmp_path / "copy.pt")
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(path.read_bytes())
    with pytest.raises(ValueError, match=REFUSED):
        load_checkpoint(run)  # a run directory
    assert not marker.exists()
    assert not (tmp_path / "copy.pt").exists()


def test_refusal_is_one_line_naming_what_the_file_would_call(tmp_path):
    path, _ = _crafted(tmp_path)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)
    assert "(it names getattr)" in str(info.value)  # how pickle spells Path.touch


# ------------------------------------------------------------------------------ CLI
def test_tem_evaluate_refuses_a_crafted_checkpoint(tmp_path, capsys):
    path, marker = _crafted(tmp_path)
    code = main(["tem", "evaluate", "--checkpoint", str(path), "--world", "square:4x4",
                 "--out", str(tmp_path / "eval"), "--quiet"])
    assert code == 2
    assert REFUSED in _one_line_error(capsys)
    assert not marker.exists()


def test_hippocampus_refuses_a_crafted_mec_checkpoint(tmp_path, capsys):
    path, marker = _crafted(tmp_path)
    code = main(["hippocampus", "--out", str(tmp_path / "hpc"), "--quiet",
                 "--world", "square:4x4", "--steps", "40", "--mec-source", "tem-t",
                 "--mec-checkpoint", str(path)])
    assert code == 2
    assert "mec.checkpoint" in (err := _one_line_error(capsys)) and REFUSED in err
    assert not marker.exists()


TRAIN_TINY = ["--quiet", "--set", 'worlds=["square:3x3"]', "--set", "batch_size=2",
              "--set", "window=5", "--set", "walk_length=[10, 10]",
              "--set", "tem_t.d_position=12", "--set", "tem_t.d_key=8"]


def test_tem_train_does_not_resume_from_a_crafted_checkpoint(tmp_path, capsys):
    """``DIR/checkpoint.pt`` of an earlier training is what ``tem train --out DIR`` resumes
    from: swapped for a crafted file, the resume is refused by the loader."""
    out = tmp_path / "train"
    assert main(["tem", "train", "--out", str(out), "--set", "steps=1", *TRAIN_TINY]) == 0
    capsys.readouterr()
    path, marker = _crafted(tmp_path)
    (out / "checkpoint.pt").write_bytes(path.read_bytes())
    code = main(["tem", "train", "--out", str(out), "--set", "steps=2", *TRAIN_TINY])
    assert code == 2
    assert REFUSED in _one_line_error(capsys)
    assert not marker.exists()


def test_tem_train_into_a_directory_holding_only_a_crafted_checkpoint(tmp_path, capsys):
    """Refused (by the loader, or before it by the run-directory rules); never run."""
    out = tmp_path / "train"
    out.mkdir()
    path, marker = _crafted(tmp_path)
    (out / "checkpoint.pt").write_bytes(path.read_bytes())
    code = main(["tem", "train", "--out", str(out), "--set", "steps=2", *TRAIN_TINY])
    assert code == 2
    _one_line_error(capsys)
    assert not marker.exists()


def _hippocampus_spec(tmp_path: Path, checkpoint: Path) -> Path:
    spec = tmp_path / "spec.toml"
    spec.write_text(f'command = "hippocampus"\n[base]\n"circuit.mec.source" = "tem-t"\n'
                    f'"circuit.mec.checkpoint" = "{checkpoint}"\nsteps = 40\n'
                    f'"world" = "square:4x4"\n[grid]\nseed = [0]\n')
    return spec


def test_a_sweep_run_refuses_a_crafted_checkpoint_in_its_base(tmp_path):
    """The sweep's own task (``execute_run``, what each Dask worker runs), serially."""
    from mapping.sweep import execute_run, expand, load_spec

    path, marker = _crafted(tmp_path)
    spec = load_spec(_hippocampus_spec(tmp_path, path))
    for run in expand(spec):
        with pytest.raises(ValueError, match=f"mec.checkpoint: {re.escape(str(path))} {REFUSED}"):
            execute_run(spec.command, str(tmp_path / "sweep" / "runs" / run.run_id),
                        run.overrides)
    assert not marker.exists()


@pytest.mark.slow  # a Dask LocalCluster with a worker process (~10-20 s on a shared CPU)
def test_sweep_command_refuses_a_crafted_checkpoint_in_its_base(tmp_path, capsys):
    path, marker = _crafted(tmp_path)
    code = main(["sweep", str(_hippocampus_spec(tmp_path, path)), "--out",
                 str(tmp_path / "sweep"), "--workers", "1", "--quiet"])
    assert code != 0
    assert not marker.exists()


# ------------------------------------------------------------------------------ bad files
def _shipped_payload() -> dict:
    return torch.load(named_checkpoint_path("cyclic"), weights_only=True)


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_text("not a checkpoint\n"), "is not a torch file"),
    (lambda p: p.write_bytes(b""), "is not a torch file"),
    (lambda p: p.write_bytes(pickle.dumps({"format": CHECKPOINT_FORMAT})),
     "is not a torch file"),
    (lambda p: zipfile.ZipFile(p, "w").close(), "is not a readable torch file"),
    (lambda p: torch.save({"weights": torch.zeros(2)}, p),
     "is not a memcircuits TEM/TEM-t checkpoint"),
    (lambda p: torch.save([1, 2], p), "is not a memcircuits TEM/TEM-t checkpoint"),
])
def test_files_that_are_not_checkpoints_are_one_clear_error(tmp_path, make, message):
    path = tmp_path / "x.pt"
    make(path)
    with pytest.raises(ValueError, match=f"^checkpoint: {re.escape(str(path))} {message}") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("model_type", None, "has no 'model_type' field"),
    ("model_config", None, "has no 'model_config' field"),
    ("model_state", None, "has no 'model_state' field"),
    ("model_type", 3, "field 'model_type' must be a string, got int"),
    ("model_type", "lstm", "holds an unknown model type 'lstm'"),
    ("model_config", [1], "field 'model_config' must be a dict, got list"),
    ("model_config", {"d_positon": 3}, "field 'model_config' is not a valid TEMTConfig"),
    ("model_state", {"w": 1.0}, "field 'model_state' must be a dict of tensors"),
    ("format_version", 99, "has format version 99, newer than"),
    ("format_version", "1", "field 'format_version' must be an int, got str"),
    ("step", "10", "field 'step' must be an int >= 0, got str"),
    ("step", -1, "field 'step' must be an int >= 0, got int"),
    ("wall_time_s", "1 s", "field 'wall_time_s' must be a number, got str"),
    ("action_names", ["stay", 1], "field 'action_names' must be a list of strings"),
    ("history", {}, "field 'history' must be a list of dicts, got dict"),
    ("optimizer_state", [], "field 'optimizer_state' must be a dict or None, got list"),
    ("rng_state", [1], "field 'rng_state' must be a tensor or None, got list"),
    ("metadata", "x", "field 'metadata' must be a dict, got str"),
])
def test_missing_or_ill_typed_fields_are_one_error_naming_the_field(tmp_path, field, value,
                                                                    message):
    payload = _shipped_payload()
    if value is None:
        del payload[field]
    else:
        payload[field] = value
    path = tmp_path / "bad.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError, match=f"^checkpoint: {re.escape(str(path))} {message}") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_weights_that_do_not_fit_the_config_are_one_error(tmp_path):
    payload = _shipped_payload()
    name = next(iter(payload["model_state"]))
    payload["model_state"][name] = torch.zeros(1, 2, 3)
    path = tmp_path / "bad.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError, match=f"^checkpoint: {re.escape(str(path))} field "
                                         f"'model_state' does not fit its 'model_config'"):
        load_model(path)


def test_checkpoint_of_the_other_model_type_is_refused():
    with pytest.raises(ValueError, match="holds a 'tem-t' model, not a 'tem' model"):
        load_checkpoint(named_checkpoint_path("cyclic"), expected_type="tem")


# ------------------------------------------------------------------------------ writing
def test_checkpoints_written_here_load_with_weights_only(tmp_path):
    """Training and export store plain data only: ``torch.__version__`` (a TorchVersion)
    becomes a str, an object that is not plain data is refused naming where it is."""
    config = train_config_for_worlds(worlds=("square:3x3",), steps=2, batch_size=2, window=5,
                                     walk_length=(10, 10), checkpoint_every=1,
                                     tem_t=TEMTConfig(d_position=12, d_key=8))
    train(config, tmp_path / "run", progress=False,
          metadata={"command": "x", "torch": torch.__version__})
    trained = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert trained["optimizer_state"] is not None
    assert type(trained["metadata"]["torch"]) is str
    target = export_checkpoint(tmp_path / "run", tmp_path / "small.pt",
                               metadata={"torch": torch.__version__, "out": tmp_path})
    exported = torch.load(target, weights_only=True)
    assert exported["metadata"]["torch"] == str(torch.__version__)
    assert exported["metadata"]["out"] == str(tmp_path)
    with pytest.raises(TypeError, match=r"metadata\['when'\]: a object is not plain data"):
        export_checkpoint(tmp_path / "run", tmp_path / "bad.pt", metadata={"when": object()})
    assert not (tmp_path / "bad.pt").exists()


# ------------------------------------------------------------------------------ shipped
@pytest.mark.parametrize(("name", "kind"), SHIPPED)
def test_shipped_checkpoints_load_with_weights_only(name, kind):
    path = named_checkpoint_path(name, kind)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    ckpt = load_checkpoint(path)
    assert list(raw["model_state"]) == list(ckpt.model_state)
    for key, tensor in raw["model_state"].items():
        assert torch.equal(tensor, ckpt.model_state[key]), key
    assert type(raw["metadata"]["torch"]) is str
