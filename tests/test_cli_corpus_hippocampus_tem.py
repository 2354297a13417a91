"""Bad-input corpus of ``hippocampus``, ``tem train``, ``tem evaluate`` and ``sweep``.

Every case is a command line a user could type by mistake; each must end with exit status 2
and one stderr line naming the field, file or value at fault (see ``tests/corpus.py``):
no traceback, no hang, no silent accept, and nothing written to the output directory.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from corpus import Case, check_case, snapshot

HPC = ("hippocampus", "--out", "{tmp}/hpc", "--quiet")
TRAIN = ("tem", "train", "--out", "{tmp}/train", "--quiet")
EVAL = ("tem", "evaluate", "--out", "{tmp}/eval", "--quiet")
SWEEP = ("sweep", "{tmp}/spec.toml", "--out", "{tmp}/sweep", "--quiet")
#: a tiny TEM-t training (fast); cases change one field of it
TINY = ("--set", 'worlds=["square:3x3"]', "--set", "batch_size=2", "--set", "window=5",
        "--set", "walk_length=[10, 10]", "--set", "tem_t.d_position=12",
        "--set", "tem_t.d_key=8", "--set", "steps=1")
CUDA = torch.cuda.is_available()
#: files made once per module (a trained TEM checkpoint, a finished TEM-t training run)
SHARED: dict[str, Path] = {}
#: bytes that are not UTF-8 text (nor a torch file)
BINARY = b"\xff\xfe\x00 not text \x80"


class _Touch:
    """Unpickling an instance calls ``Path.touch(marker)``: code run by an unsafe load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# ------------------------------------------------------------------------------ setups
def _text(name: str, content: str) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(content)
    return make


def _bytes(name: str, content: bytes) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        (tmp / name).write_bytes(content)
    return make


def _crafted(tmp: Path) -> None:
    """``evil.pt``: a checkpoint-looking pickle whose loading would create ``evil.marker``
    (in the watched directory: the corpus runner reports it as a file the command wrote)."""
    from models.tem_training import CHECKPOINT_FORMAT

    torch.save({"format": CHECKPOINT_FORMAT, "format_version": 1, "model_type": "tem-t",
                "model_config": {}, "model_state": {}, "metadata": _Touch(tmp / "evil.marker")},
               tmp / "evil.pt")


def _shipped_copy(tmp: Path) -> None:
    """``cyclic.pt``: the shipped cyclic TEM-t (square worlds' actions) as a plain path."""
    from models.tem_training import named_checkpoint_path

    shutil.copy(named_checkpoint_path("cyclic", "square"), tmp / "cyclic.pt")


def _tem_checkpoint(tmp: Path) -> None:
    shutil.copy(SHARED["tem"] / "checkpoint.pt", tmp / "tem.pt")


def _tem_t_run(tmp: Path) -> None:
    shutil.copytree(SHARED["tem-t run"], tmp / "train")


def _other_run(name: str) -> Callable[[Path], None]:
    """A finished run of command ``name`` in each command's output directory."""
    def make(tmp: Path) -> None:
        for out in ("hpc", "train", "eval"):
            (tmp / out).mkdir()
            (tmp / out / "config.json").write_text(json.dumps(
                {"run": name, "config": {}, "seed": 0}))
            (tmp / out / "metrics.json").write_text("{}")
    return make


def _stray(tmp: Path) -> None:
    """Output directories holding a file memcircuits did not write."""
    for out in ("hpc", "train", "eval", "sweep"):
        (tmp / out).mkdir()
        (tmp / out / "notes.txt").write_text("mine\n")


def _spec(text: str) -> Callable[[Path], None]:
    return _text("spec.toml", text)


def _other_sweep(tmp: Path) -> None:
    _spec('command = "cerebellum"\n[grid]\nseed = [0]\n')(tmp)
    (tmp / "sweep").mkdir()
    (tmp / "sweep" / "sweep.json").write_text(json.dumps(
        {"format": 2, "memcircuits": "0.0.0", "command": "hippocampus", "base": {},
         "grid": {"seed": [0]}, "runs": {}}))


NOT_A_TORCH_FILE = r"is not (a|a readable) torch file"
CHECKPOINT_FILES = (  # (id, setup, file name, message)
    ("text", _text("notes.pt", "not a checkpoint\n"), "notes.pt", NOT_A_TORCH_FILE),
    ("empty", _text("empty.pt", ""), "empty.pt", NOT_A_TORCH_FILE),
    ("garbage", _bytes("garbage.pt", bytes(range(256)) * 8), "garbage.pt", NOT_A_TORCH_FILE),
    ("binary", _bytes("binary.pt", BINARY), "binary.pt", NOT_A_TORCH_FILE),
    ("crafted-pickle", _crafted, "evil.pt", r"holds objects that are not plain data"),
    ("missing", None, "missing.pt", r"no such file .*missing\.pt"),
)


# ------------------------------------------------------------------------------ cases
def _hpc(id: str, args: tuple[str, ...], message: str, **kw) -> Case:
    return Case(f"hippocampus-{id}", (*HPC, *args), message, **kw)


def _tem_t_mec(checkpoint: str, world: str = "square:4x4") -> tuple[str, ...]:
    return ("--world", world, "--steps", "10", "--mec-source", "tem-t",
            "--mec-checkpoint", checkpoint)


BAD_CONFIG = r"config file .*{} is not valid TOML"
ONLY_WITH_TEM_T = r"circuit\.mec: mec\.checkpoint '{}' is only used with mec\.source 'tem-t'"
BUDGET = r"needs about .* more than the memory budget"

HIPPOCAMPUS = [
    _hpc("unknown-key", ("--set", "bogus=1"),
         r"unknown configuration key 'bogus'; known keys: circuit, drift"),
    _hpc("unknown-nested-key", ("--set", "memory.bogus=1"),
         r"unknown configuration key 'circuit\.memory\.bogus'; known keys: beta"),
    _hpc("unknown-mec-key", ("--set", "mec.spacing=[3]"),
         r"unknown configuration key 'circuit\.mec\.spacing'; known keys: bump_peak"),
    _hpc("steps-not-int-set", ("--set", 'steps="many"'), r"steps: expected an integer, got 'many'"),
    _hpc("steps-not-int-flag", ("--steps", "many"), r"argument --steps: invalid int value: 'many'"),
    _hpc("steps-negative", ("--steps", "-5"), r"error: steps must be >= 2$"),
    _hpc("steps-zero", ("--steps", "0"), r"error: steps must be >= 2$"),
    _hpc("steps-absurd", ("--steps", str(10**12)), r"error: steps = 1000000000000 " + BUDGET),
    _hpc("steps-float", ("--set", "steps=2.5"), r"steps: expected an integer, got 2\.5"),
    _hpc("drift-steps-negative", ("--set", "drift_steps=-1"), r"drift_steps must be >= 0"),
    _hpc("drift-nan", ("--set", "drift=nan"), r"drift: expected a finite number, got nan"),
    _hpc("drift-above-one", ("--set", "drift=1.5"), r"drift must lie in \[0, 1\)"),
    _hpc("repeat-bias-above-one", ("--set", "repeat_bias=2"),
         r"repeat_bias must be <= 1\.0, got 2\.0"),
    _hpc("repeat-bias-negative", ("--set", "repeat_bias=-0.5"),
         r"repeat_bias must be >= 0\.0, got -0\.5"),
    _hpc("seed-negative", ("--seed", "-1"), r"seed must be >= 0, got -1"),
    _hpc("beta-nan", ("--set", "memory.beta=nan"),
         r"circuit\.memory\.beta: expected a finite number, got nan"),
    _hpc("beta-inf", ("--set", "memory.beta=inf"),
         r"circuit\.memory\.beta: expected a finite number, got inf"),
    _hpc("beta-overflow", ("--set", "memory.beta=1e400"),
         r"circuit\.memory\.beta: expected a finite number, got inf"),
    _hpc("beta-negative", ("--set", "memory.beta=-1"), r"memory\.beta must be > 0"),
    _hpc("beta-string", ("--set", 'memory.beta="high"'),
         r"circuit\.memory\.beta: expected a number, got 'high'"),
    _hpc("temperature-unknown", ("--set", 'temperature="cold"'),
         r"temperature must be one of 'tem-t', 'circuit', got 'cold'"),
    _hpc("beta-with-tem-t-temperature", ("--set", "memory.beta=0.4"),
         r"circuit\.memory\.beta: temperature 'tem-t' sets the retrieval gain from the "
         r"TEM-t checkpoint's b; set temperature = 'circuit' to use your own"),
    _hpc("beta-scale-with-tem-t-temperature", ("--set", "memory.beta_scale=2"),
         r"circuit\.memory\.beta_scale: temperature 'tem-t' sets the retrieval gain"),
    _hpc("beta-and-beta-scale", ("--set", "temperature=circuit", "--set", "memory.beta=0.4",
                                 "--set", "memory.beta_scale=2"),
         r"memory\.beta \(0\.4\) and memory\.beta_scale \(2\.0\) both set the retrieval "
         r"gain; set one"),
    _hpc("spiking-unknown", ("--set", 'memory.spiking="noisy"'),
         r"memory\.spiking must be one of 'deterministic', 'poisson', got 'noisy'"),
    _hpc("memory-n-zero", ("--set", "memory.n=0"), r"memory\.n must be >= 1, got 0"),
    _hpc("memory-n-absurd", ("--set", "memory.n=1000000000000"),
         r"circuit\.memory\.n = 1000000000000 " + BUDGET),
    _hpc("lec-per-symbol-above-n-lec", ("--set", "memory.lec_per_symbol=400"),
         r"memory\.lec_per_symbol must be <= memory\.n_lec"),
    _hpc("step-overflow-in-unit", ("--set", 'timing.step="1e400 ms"'),
         r"circuit\.timing\.step: cannot read '1e400 ms' as a quantity \(not a finite value\)"),
    _hpc("step-nan-in-unit", ("--set", 'timing.step="nan ms"'),
         r"circuit\.timing\.step: cannot read 'nan ms' as a quantity"),
    _hpc("dt-power-tower", ("--set", 'timing.dt="9**9**9 * ms"'),
         r"circuit\.timing\.dt: cannot read '9\*\*9\*\*9 \* ms' as a quantity"),
    _hpc("dt-zero", ("--set", 'timing.dt="0 ms"'), r"timing\.dt must be > 0"),
    _hpc("dt-absurdly-small", ("--set", 'timing.dt="1e-12 ms"'),
         r"timing\.dt = 1\. fs " + BUDGET),
    _hpc("dt-wrong-unit", ("--set", 'timing.dt="1 nA"'),
         r"circuit\.timing\.dt: '1 nA' has the wrong dimensions"),
    _hpc("rate-wrong-unit", ("--set", 'memory.rate="5 ms"'),
         r"circuit\.memory\.rate: '5 ms' has the wrong dimensions"),
    _hpc("tau-without-unit", ("--set", "memory.tau_input=5"),
         r"circuit\.memory\.tau_input: 5 has the wrong dimensions"),
    _hpc("unit-very-long", ("--set", f'timing.step="{"1" * 20000} ms"'),
         r"circuit\.timing\.step: cannot read .* \(longer than 200 characters\)"),
    _hpc("timing-order", ("--set", 'timing.retrieval="15 ms"'),
         r"timing: need retrieval < observation < hold < action < step"),
    _hpc("backend-unknown", ("--set", 'backend="fortran"'),
         r"backend must be one of .*, got 'fortran'"),
    _hpc("spacings-empty", ("--set", "mec.spacings=[]"),
         r"mec\.spacings must list module spacings >= 2"),
    _hpc("spacings-one", ("--set", "mec.spacings=[1, 3]"),
         r"mec\.spacings must list module spacings >= 2"),
    _hpc("bump-side-above-peak", ("--set", "mec.bump_side=5"),
         r"mec\.bump_side must not exceed mec\.bump_peak"),
    _hpc("closure-votes-zero", ("--set", "mec.closure_votes=0"), r"mec\.closure_votes must be > 0"),
    _hpc("world-unknown-kind", ("--world", "torus:3x3"),
         r"world: spec 'torus:3x3' is not a valid world spec; valid forms: square:WxH"),
    _hpc("world-zero-width", ("--world", "square:0x4"),
         r"world: spec 'square:0x4': width and height must be >= 1"),
    _hpc("world-negative", ("--world", "square:-3x3"),
         r"world: spec 'square:-3x3' is not a valid world spec"),
    _hpc("world-not-numbers", ("--world", "square:axb"),
         r"world: spec 'square:axb' is not a valid world spec"),
    _hpc("world-absurd", ("--world", "square:100000x100000"),
         r"world 'square:100000x100000' = 10000000000 nodes " + BUDGET),
    _hpc("world-no-size", ("--world", "hex:"), r"world: spec 'hex:' is not a valid world spec"),
    _hpc("world-very-long", ("--world", "square:" + "9" * 5000),
         r"world: spec 'square:9+'\.\.\. \(5007 characters\) is not a valid world spec"),
    _hpc("world-fifty-digits", ("--world", "square:" + "9" * 50),
         r"world 'square:9{50}x9{50}' = 9+8?0+1 nodes " + BUDGET),
    _hpc("world-line-without-grid-modules", ("--world", "line:5"),
         r"world: grid modules need a square or hexagonal world, got a 'line' world"),
    _hpc("world-tree-without-grid-modules", ("--world", "tree:3"),
         r"world: grid modules need a square or hexagonal world, got a 'family_tree'"),
    _hpc("world-single-node", ("--world", "square:1x1"),
         r"world: 'square:1x1' has a single node; a walk needs two or more"),
    _hpc("world-tree-too-deep", ("--world", "tree:99999999"), r"world: levels must be <= 20"),
    _hpc("world-not-a-string", ("--set", "world=8"), r"world: expected a string, got 8"),
    _hpc("mec-source-unknown", ("--mec-source", "bogus"),
         r"mec\.source must be one of 'analytic', 'tem-t', got 'bogus'"),
    _hpc("mec-checkpoint-not-a-string", ("--set", "mec.checkpoint=3"),
         r"circuit\.mec\.checkpoint: expected a string, got 3"),
    _hpc("mec-checkpoint-without-tem-t", ("--mec-checkpoint", "torus"),
         ONLY_WITH_TEM_T.format("torus")),
    _hpc("mec-checkpoint-default-name-without-tem-t", ("--mec-checkpoint", "cyclic"),
         ONLY_WITH_TEM_T.format("cyclic")),
    _hpc("mec-checkpoint-path-without-tem-t", ("--mec-checkpoint", "{tmp}/cyclic.pt"),
         ONLY_WITH_TEM_T.format(".*cyclic\\.pt"), setup=_shipped_copy),
    _hpc("mec-checkpoint-set-without-tem-t", ("--set", 'mec.checkpoint="x"'),
         ONLY_WITH_TEM_T.format("x")),
    *[_hpc(f"mec-checkpoint-{id}", _tem_t_mec(f"{{tmp}}/{name}"),
           rf"error: mec\.checkpoint: .*{message}", setup=setup)
      for id, setup, name, message in CHECKPOINT_FILES],
    _hpc("mec-checkpoint-of-tem", _tem_t_mec("{tmp}/tem.pt", "square:3x3"),
         r"mec\.checkpoint: .*tem\.pt holds a 'tem' model, not a 'tem-t' model",
         setup=_tem_checkpoint),
    _hpc("mec-checkpoint-torus-on-square", _tem_t_mec("torus"),
         r"mec\.checkpoint: no shipped 'torus' checkpoint for 'square' worlds"),
    _hpc("mec-cyclic-on-hex", ("--world", "hex:4x4", "--mec-source", "tem-t"),
         r"mec\.checkpoint: no shipped 'cyclic' checkpoint for 'hexagonal' worlds"),
    _hpc("mec-checkpoint-actions-the-world-lacks", _tem_t_mec("{tmp}/cyclic.pt", "hex:4x4"),
         r"mec\.checkpoint: cyclic\.pt was trained with the actions \(stay, north, east, "
         r"south, west\); the hexagonal world has", setup=_shipped_copy),
    _hpc("config-missing", ("--config", "{tmp}/nothere.toml"),
         r"config file not found: .*nothere\.toml"),
    _hpc("config-not-toml", ("--config", "{tmp}/bad.toml"), BAD_CONFIG.format("bad\\.toml"),
         setup=_text("bad.toml", "steps = = 3\n")),
    _hpc("config-binary", ("--config", "{tmp}/bin.toml"),
         BAD_CONFIG.format("bin\\.toml") + ": not UTF-8", setup=_bytes("bin.toml", BINARY)),
    _hpc("config-unknown-key", ("--config", "{tmp}/bad.toml"),
         r"unknown configuration key 'stepz'", setup=_text("bad.toml", "stepz = 3\n")),
    _hpc("out-holds-another-run", ("--steps", "10"),
         r"out: .*hpc already holds a finished run \(cerebellum\); pass --overwrite",
         setup=_other_run("cerebellum")),
    _hpc("out-holds-stray-files", ("--steps", "10"),
         r"out: .*hpc is not empty and holds no memcircuits run", setup=_stray),
    _hpc("out-is-a-file", ("--steps", "10", "--out", "{tmp}/spec.toml"),
         r"out: .*spec\.toml exists and is not a directory", setup=_text("spec.toml", "x\n")),
]


def _train(id: str, args: tuple[str, ...], message: str, **kw) -> Case:
    return Case(f"tem-train-{id}", (*TRAIN, *TINY, *args), message, **kw)


TEM_TRAIN = [
    _train("worlds-empty", ("--set", "worlds=[]"),
           r"worlds must name at least one world structure .*, got an empty list"),
    _train("worlds-unknown-kind", ("--set", 'worlds=["torus:3x3"]'),
           r"worlds: spec 'torus:3x3' is not a valid world spec"),
    _train("worlds-zero-size", ("--set", 'worlds="square:0x4"'),
           r"worlds: spec 'square:0x4': width and height must be >= 1"),
    _train("worlds-not-strings", ("--set", "worlds=[3]"),
           r"worlds: spec must be a string such as 'square:8x8', got 3"),
    _train("worlds-not-a-list", ("--set", "worlds=3"),
           r"worlds must be a list of world specs .*, got 3"),
    _train("worlds-mixed-kinds", ("--set", 'worlds=["square:4x4", "hex:4x4"]'),
           r"worlds must share one kind and action set, got \['hexagonal', 'square'\]"),
    _train("worlds-second-bad", ("--set", 'worlds=["square:4x4", "square:axb"]'),
           r"worlds\[1\]: spec 'square:axb' is not a valid world spec"),
    _train("worlds-single-node", ("--set", 'worlds=["square:2x2", "square:1x1"]'),
           r"worlds\[1\]: 'square:1x1' has a single node"),
    _train("worlds-absurd", ("--set", 'worlds=["square:100000x100000"]'),
           r"worlds: world 'square:100000x100000' = 10000000000 nodes " + BUDGET),
    _train("walk-shorter-than-window", ("--set", "walk_length=[3, 10]"),
           r"walk_length: the shortest walk \(3 steps\) is shorter than the backprop window"),
    _train("walk-length-reversed", ("--set", "walk_length=[10, 5]"),
           r"walk_length must be \(min, max\) with min <= max, got \(10, 5\)"),
    _train("walk-length-one-number", ("--set", "walk_length=10"),
           r"walk_length: expected a list, got 10"),
    _train("batch-zero", ("--set", "batch_size=0"), r"batch_size must be >= 1, got 0"),
    _train("batch-absurd", ("--set", "batch_size=1000000000"),
           r"batch_size = 1000000000 " + BUDGET),
    _train("window-zero", ("--set", "window=0"), r"window must be >= 1, got 0"),
    _train("lr-nan", ("--set", "lr=nan"), r"error: lr: expected a finite number, got nan"),
    _train("lr-negative", ("--set", "lr=-0.1"), r"error: lr must be > 0\.0, got -0\.1"),
    _train("lr-overflow", ("--set", "lr=1e400"), r"error: lr: expected a finite number, got inf"),
    _train("lr-decay-rate-zero", ("--set", "lr_decay_rate=0"),
           r"lr_decay_rate must be > 0\.0, got 0\.0"),
    _train("grad-clip-inf", ("--set", "grad_clip=inf"),
           r"grad_clip: expected a finite number, got inf"),
    _train("steps-negative", ("--set", "steps=-5"), r"error: steps must be >= 1, got -5"),
    _train("steps-zero", ("--set", "steps=0"), r"error: steps must be >= 1, got 0"),
    _train("steps-string", ("--set", 'steps="10"'), r"steps: expected an integer, got '10'"),
    _train("seed-negative", ("--seed", "-1"), r"seed must be >= 0, got -1"),
    _train("threads-negative", ("--set", "num_threads=-1"), r"num_threads must be >= 0, got -1"),
    _train("model-unknown-flag", ("--model", "lstm"),
           r"argument --model: invalid choice: 'lstm'"),
    _train("model-unknown-set", ("--set", 'model="lstm"'),
           r"model: must be one of 'tem-t', 'tem', got 'lstm'"),
    _train("n-actions-wrong", ("--set", "tem_t.n_actions=3"),
           r"tem_t\.n_actions must be 5 for square worlds, got 3"),
    _train("d-position-negative", ("--set", "tem_t.d_position=-1"),
           r"tem_t: d_position must be >= 2, got -1"),
    _train("unknown-key", ("--set", "bogus=1"),
           r"unknown configuration key 'bogus'; known keys: batch_size"),
    _train("unknown-model-key", ("--set", "tem_t.bogus=1"),
           r"unknown configuration key 'tem_t\.bogus'; known keys: beta_init"),
    _train("device-cuda", ("--device", "cuda"),
           r"device 'cuda' requested but CUDA is not available"),
    _train("device-bogus", ("--device", "bogus"),
           r"device must name a torch device, got 'bogus'"),
    _train("config-missing", ("--config", "{tmp}/nothere.toml"),
           r"config file not found: .*nothere\.toml"),
    _train("config-not-toml", ("--config", "{tmp}/bad.toml"), BAD_CONFIG.format("bad\\.toml"),
           setup=_text("bad.toml", "[tem_t\n")),
    _train("config-binary", ("--config", "{tmp}/bin.toml"),
           BAD_CONFIG.format("bin\\.toml") + ": not UTF-8", setup=_bytes("bin.toml", BINARY)),
    _train("out-holds-another-command", (),
           r"out: .*train holds a run of 'cerebellum', not of 'tem train'",
           setup=_other_run("cerebellum")),
    _train("out-holds-stray-files", (), r"out: .*train is not empty and holds no memcircuits run",
           setup=_stray),
    _train("resume-as-the-other-model", ("--model", "tem", "--set", "steps=2"),
           r"out: .*checkpoint\.pt holds a 'tem-t' checkpoint; cannot resume it as a 'tem'",
           setup=_tem_t_run),
    _train("resume-with-other-sizes", ("--set", "steps=2", "--set", "tem_t.d_key=10"),
           r"out: .*checkpoint\.pt was trained with tem_t\.d_key=8, not 10",
           setup=_tem_t_run),
    _train("resume-a-garbage-checkpoint", ("--set", "steps=2"),
           r"checkpoint: .*train/checkpoint\.pt is not a torch file",
           setup=lambda t: (_tem_t_run(t), (t / "train" / "checkpoint.pt").write_bytes(BINARY))),
]


def _eval(id: str, args: tuple[str, ...], message: str, **kw) -> Case:
    return Case(f"tem-evaluate-{id}", (*EVAL, "--world", "square:4x4", *args), message, **kw)


TEM_EVALUATE = [
    _eval("unknown-shipped-name", ("--checkpoint", "pretrained"),
          r"checkpoint: no such file pretrained \(and not a shipped checkpoint name: default"),
    _eval("torus-on-square", ("--checkpoint", "torus"),
          r"checkpoint: no shipped 'torus' checkpoint for 'square' worlds"),
    _eval("cyclic-on-hex", ("--checkpoint", "cyclic", "--world", "hex:4x4"),
          r"checkpoint: no shipped 'cyclic' checkpoint for 'hexagonal' worlds"),
    _eval("actions-the-world-lacks", ("--checkpoint", "{tmp}/cyclic.pt", "--world", "hex:4x4"),
          r"checkpoint cyclic\.pt was trained on square worlds \(actions stay, north, east, "
          r"south, west\); hex:4x4 is a hexagonal world \(actions .*\): use a checkpoint "
          r"trained on hexagonal worlds", setup=_shipped_copy),
    _eval("world-of-other-actions-same-count",
          ("--checkpoint", "{tmp}/cyclic.pt", "--world", "tree:3"),
          r"checkpoint cyclic\.pt was trained on square worlds .*; tree:3 is a family_tree "
          r"world \(actions stay, parent, left_child, right_child, sibling\)",
          setup=_shipped_copy),
    *[_eval(f"checkpoint-{id}", ("--checkpoint", f"{{tmp}}/{name}"),
            rf"error: checkpoint: .*{message}", setup=setup)
      for id, setup, name, message in CHECKPOINT_FILES],
    _eval("checkpoint-empty-directory", ("--checkpoint", "{tmp}/nodir"),
          r"checkpoint: no such file .*nodir/checkpoint\.pt",
          setup=lambda t: (t / "nodir").mkdir()),
    _eval("checkpoint-empty-name", ("--checkpoint", ""), r"checkpoint must be a path or 'default'"),
    _eval("world-unknown-kind", ("--world", "torus:3x3"),
          r"world: spec 'torus:3x3' is not a valid world spec"),
    _eval("world-not-numbers", ("--world", "square:axb"),
          r"world: spec 'square:axb' is not a valid world spec"),
    _eval("world-no-size", ("--world", "hex:"), r"world: spec 'hex:' is not a valid world spec"),
    _eval("world-negative", ("--world", "square:-3x3"),
          r"world: spec 'square:-3x3' is not a valid world spec"),
    _eval("world-single-node", ("--world", "line:1"),
          r"world: 'line:1' has a single node; a walk needs two or more"),
    _eval("model-tem-of-a-shipped-checkpoint", ("--model", "tem", "--checkpoint", "cyclic"),
          r"checkpoint 'cyclic': a shipped TEM-t checkpoint; with --model tem use a TEM one "
          r"\(default\) or your own"),
    _eval("model-tem-shipped-for-square-only", ("--model", "tem", "--checkpoint", "default",
                                                 "--world", "hex:4x4"),
          r"checkpoint: no shipped TEM 'default' checkpoint for 'hexagonal' worlds \(only for "
          r"'square' worlds\)"),
    _eval("checkpoint-of-another-model", ("--model", "tem", "--checkpoint", "{tmp}/cyclic.pt"),
          r"checkpoint: .*cyclic\.pt holds a 'tem-t' model, not a 'tem' model",
          setup=_shipped_copy),
    _eval("named-checkpoint-without-this-kind", ("--checkpoint", "torus", "--world", "tree:3"),
          r"checkpoint: no shipped 'torus' checkpoint for 'family_tree' worlds"),
    _eval("world-absurd", ("--world", "square:100000x100000"),
          r"world 'square:100000x100000' = 10000000000 nodes " + BUDGET),
    _eval("n-worlds-zero", ("--set", "n_worlds=0"), r"n_worlds must be >= 1, got 0"),
    _eval("n-worlds-absurd", ("--set", "n_worlds=1000000000"),
          r"n_worlds = 1000000000 " + BUDGET),
    _eval("steps-negative", ("--set", "steps=-1"), r"error: steps must be >= 0, got -1"),
    _eval("repeat-bias-nan", ("--set", "repeat_bias=nan"),
          r"repeat_bias: expected a finite number, got nan"),
    _eval("analysis-worlds-one", ("--set", "analysis_worlds=1"),
          r"analysis_worlds must be >= 2, got 1"),
    _eval("gridness-threshold-inf", ("--set", "gridness_threshold=inf"),
          r"gridness_threshold: expected a finite number, got inf"),
    _eval("memory-neurons-zero", ("--set", "memory_neurons=0"),
          r"memory_neurons must be >= 1, got 0"),
    _eval("seed-negative", ("--seed", "-1"), r"seed must be >= 0, got -1"),
    _eval("device-cuda", ("--device", "cuda"),
          r"device 'cuda' requested but CUDA is not available"),
    _eval("device-bogus", ("--device", "bogus"), r"device must name a torch device, got 'bogus'"),
    _eval("unknown-key", ("--set", "bogus=1"),
          r"unknown configuration key 'bogus'; known keys: analysis_steps_per_node"),
    _eval("config-binary", ("--config", "{tmp}/bin.toml"),
          BAD_CONFIG.format("bin\\.toml") + ": not UTF-8", setup=_bytes("bin.toml", BINARY)),
    _eval("out-holds-another-run", (),
          r"out: .*eval already holds a finished run \(sdm\); pass --overwrite",
          setup=_other_run("sdm")),
]


def _sweep(id: str, spec: str | None, message: str, *args: str, **kw) -> Case:
    return Case(f"sweep-{id}", (*SWEEP, *args), message,
                setup=kw.pop("setup", None) or (_spec(spec) if spec is not None else None),
                **kw)


COMPARE = ("tem", "compare", "--out", "{tmp}/cmp", "--quiet")


def _compare(id: str, args: tuple[str, ...], message: str, **kw) -> Case:
    return Case(f"tem-compare-{id}", (*COMPARE, *args), message, **kw)


TEM_COMPARE = [
    _compare("tem-t-checkpoint-as-tem", ("--tem", "{tmp}/cyclic.pt"),
             r"tem: checkpoint: .*cyclic\.pt holds a 'tem-t' model, not a 'tem' model",
             setup=_shipped_copy),
    _compare("tem-t-shipped-name-unknown", ("--tem-t", "pretrained"),
             r"tem_t: checkpoint: no such file pretrained \(and not a shipped checkpoint name"),
    _compare("tem-missing-file", ("--tem", "{tmp}/none.pt"),
             r"tem: checkpoint: no such file .*none\.pt"),
    _compare("world-unknown", ("--world", "torus:3x3"),
             r"worlds\[0\]: spec 'torus:3x3' is not a valid world spec"),
    _compare("world-single-node", ("--world", "square:8x8", "--world", "line:1"),
             r"worlds\[1\]: 'line:1' has a single node"),
    _compare("worlds-empty", ("--set", "worlds=[]"),
             r"worlds must name at least one world structure"),
    _compare("n-worlds-zero", ("--set", "n_worlds=0"), r"n_worlds must be >= 1, got 0"),
    _compare("unknown-key", ("--set", "models=2"), r"unknown"),
]


HPC_SPEC = 'command = "hippocampus"\n'
REFUSES = r"sweep: hippocampus refuses the configuration of "

SWEEPS = [
    _sweep("spec-missing", None, r"sweep specification .*spec\.toml does not exist"),
    _sweep("spec-not-toml", "command = \n", r"sweep: .*spec\.toml is not valid TOML: Invalid"),
    _sweep("spec-binary", None, r"sweep: .*spec\.toml is not valid TOML: not UTF-8 text",
           setup=_bytes("spec.toml", BINARY)),
    _sweep("spec-is-a-directory", None, r"sweep: specification .*spec\.toml is a directory",
           setup=lambda t: (t / "spec.toml").mkdir()),
    _sweep("command-missing", "[grid]\nseed = [0]\n", r"sweep: .*spec\.toml must name a command"),
    _sweep("command-unknown", 'command = "cerebelum"\n',
           r"sweep: unknown command 'cerebelum'; known: ca3"),
    _sweep("command-not-a-string", "command = 3\n",
           r"sweep: command in .*spec\.toml must be a string, got int 3"),
    _sweep("command-tem-not-sweepable", 'command = "tem"\n', r"sweep: unknown command 'tem'"),
    _sweep("grid-value-not-a-list", HPC_SPEC + "[grid]\nseed = 3\n",
           r"sweep: grid\.seed must be a non-empty list of values, got 3"),
    _sweep("grid-list-empty", HPC_SPEC + "[grid]\nseed = []\n",
           r"sweep: grid\.seed must be a non-empty list of values, got \[\]"),
    _sweep("grid-value-a-table", HPC_SPEC + "[grid]\nseed = [{a = 1}]\n",
           r"sweep: grid\.seed\[0\] must be a string, number, boolean or a list of them"),
    _sweep("key-in-base-and-grid", HPC_SPEC + "[base]\nseed = 1\n[grid]\nseed = [0, 1]\n",
           r"sweep: seed is in both \[base\] and \[grid\]"),
    _sweep("unknown-top-level-key", HPC_SPEC + "workers = 4\n",
           r"sweep: unknown key\(s\) workers in .*; expected command, \[base\], \[grid\]"),
    _sweep("base-not-a-table", HPC_SPEC + "base = 3\n",
           r"sweep: base in .*spec\.toml must be a table \(\[base\]\), got int 3"),
    _sweep("grid-key-with-spaces", HPC_SPEC + '[grid]\n"a b" = [1]\n',
           r"sweep: grid\.a b is not a configuration key"),
    _sweep("grid-repeats-a-point", HPC_SPEC + "[grid]\nseed = [0, 0]\n",
           r"sweep: the grid repeats a point"),
    _sweep("bad-key-in-grid", HPC_SPEC + '[grid]\n"circuit.mec.bogus" = [1, 2]\n',
           REFUSES + r"grid point circuit\.mec\.bogus=1: unknown configuration key "
           r"'circuit\.mec\.bogus'"),
    _sweep("bad-value-in-grid", HPC_SPEC + '[base]\ntemperature = "circuit"\n'
           '[grid]\n"circuit.memory.beta" = [0.3, nan]\n',
           REFUSES + r"grid point circuit\.memory\.beta=nan: circuit\.memory\.beta: expected "
           r"a finite number"),
    _sweep("bad-key-in-base", HPC_SPEC + '[base]\n"circuit.bogus" = 1\n[grid]\nseed = [0]\n',
           REFUSES + r"grid point seed=0: unknown configuration key 'circuit\.bogus'"),
    _sweep("bad-value-in-base-no-grid", HPC_SPEC + "[base]\nsteps = -1\n",
           REFUSES + r"\[base\]: steps must be >= 2"),
    _sweep("missing-mec-checkpoint-in-base", HPC_SPEC + '[base]\n"circuit.mec.source" = '
           '"tem-t"\n"circuit.mec.checkpoint" = "nothere.pt"\n',
           REFUSES + r"\[base\]: mec\.checkpoint: no such file nothere\.pt"),
    _sweep("mec-checkpoint-without-source-in-grid", HPC_SPEC + '[grid]\n'
           '"circuit.mec.checkpoint" = ["cyclic", "torus"]\n',
           REFUSES + r"grid point circuit\.mec\.checkpoint=\"cyclic\": "
           + ONLY_WITH_TEM_T.format("cyclic")),
    _sweep("workers-zero", HPC_SPEC + "[grid]\nseed = [0]\n",
           r"sweep: workers must be an integer >= 1, got 0", "--workers", "0"),
    _sweep("workers-negative", HPC_SPEC + "[grid]\nseed = [0]\n",
           r"sweep: workers must be an integer >= 1, got -3", "--workers", "-3"),
    _sweep("workers-not-int", HPC_SPEC + "[grid]\nseed = [0]\n",
           r"argument --workers: invalid int value: 'two'", "--workers", "two"),
    _sweep("directory-of-another-spec", None,
           r"sweep: .*sweep holds a sweep of another specification \(.*command 'hippocampus', "
           r"not 'cerebellum'\); use a new --out or pass --overwrite", setup=_other_sweep),
    _sweep("directory-not-a-sweep", None,
           r"sweep: .*sweep is not empty and holds no sweep \(no sweep\.json\)",
           setup=lambda t: (_spec(HPC_SPEC + "[grid]\nseed = [0]\n")(t), _stray(t))),
]

CASES = [*HIPPOCAMPUS, *TEM_TRAIN, *TEM_EVALUATE, *TEM_COMPARE, *SWEEPS]


@pytest.fixture(scope="module", autouse=True)
def _shared_files(tmp_path_factory):
    """A trained TEM checkpoint and a finished TEM-t training run (one step each)."""
    from mapping.cli import main
    from models.tem_training import train, train_config_for_worlds

    root = tmp_path_factory.mktemp("shared")
    config = train_config_for_worlds(model="tem", worlds=("square:3x3",), steps=1, window=5,
                                     walk_length=(5, 5), batch_size=2)
    train(config, root / "tem", progress=False)
    assert main(["tem", "train", "--out", str(root / "tem-t"), "--quiet", *TINY]) == 0
    SHARED.update({"tem": root / "tem", "tem-t run": root / "tem-t"})
    yield
    SHARED.clear()


def test_the_corpus_is_large_and_its_ids_distinct():
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c.id, marks=pytest.mark.skipif(
        CUDA and "cuda" in c.id, reason="CUDA is available here")) for c in CASES])
def test_bad_input_is_refused_with_one_clear_line(case, tmp_path, capsys):
    if case.setup is not None:
        case.setup(tmp_path)
    before = snapshot(tmp_path)
    check_case(case, {"tmp": str(tmp_path)}, capsys)
    assert not (tmp_path / "evil.marker").exists()
    removed = sorted(set(before) - set(snapshot(tmp_path)))
    assert not removed, f"{case.id}: a refused command removed {removed}"
