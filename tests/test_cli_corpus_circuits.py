"""Bad-input corpus (hardening issue): the top-level parser, ``cerebellum``, every
``figures <name>``, ``calcium``, ``compare`` and ``demo``.

Each case is one user error; :func:`tests.corpus.check_case` runs it in-process and asserts
exit status 2, one line on stderr matching the case's pattern (the field, file or value at
fault), no traceback, no hang and nothing written. Cases that read a run directory use one
small finished ``cerebellum`` run made once per module (:func:`finished_run`); a case that
damages a run works on a copy in its own ``tmp`` directory.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from corpus import Case, check_case, snapshot

#: the finished run of this module (set by the ``finished_run`` fixture; setups copy it)
_FINISHED: dict[str, Path] = {}

#: per-case limit: every case must be refused before any simulation starts
LIMIT = 20.0

SMALL = ("--set", "circuit.preset=kanerva", "--set", "circuit.address_bits=32",
         "--set", "circuit.value_bits=8", "--set", "circuit.granule.n=400",
         "--set", "circuit.granule.coding_level=0.055")


# ------------------------------------------------------------------------------- setups
def _write(name: str, data: str | bytes) -> Callable[[Path], None]:
    """A setup writing ``data`` to ``tmp/name``."""
    def setup(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data)
    return setup


def _mkdir(name: str) -> Callable[[Path], None]:
    return lambda tmp: (tmp / name).mkdir(parents=True)


def _copy(name: str = "run", *, remove: tuple[str, ...] = (),
          write: dict[str, str | bytes] | None = None) -> Callable[[Path], None]:
    """A setup copying the finished run to ``tmp/name``, then deleting ``remove`` and
    (over)writing the files of ``write``."""
    def setup(tmp: Path) -> None:
        target = tmp / name
        shutil.copytree(_FINISHED["run"], target)
        for file in remove:
            (target / file).unlink()
        for file, data in (write or {}).items():
            if isinstance(data, bytes):
                (target / file).write_bytes(data)
            else:
                (target / file).write_text(data)
    return setup


def _other_inputs(tmp: Path) -> None:
    """A copy of the run whose recorded inputs differ (another seed's keys)."""
    _copy("other")(tmp)
    file = tmp / "other" / "inputs.json"
    data = json.loads(file.read_text())
    data["digests"]["keys"] = "0" * 64
    data["description"]["seed"] = 7
    file.write_text(json.dumps(data))


def _unfinished(tmp: Path) -> None:
    """A run directory holding only ``config.json`` (the run was interrupted)."""
    (tmp / "half").mkdir()
    shutil.copy(_FINISHED["run"] / "config.json", tmp / "half" / "config.json")


def _finished_demo(tmp: Path) -> None:
    (tmp / "demo").mkdir()
    (tmp / "demo" / "config.json").write_text(json.dumps({"run": "demo", "config": {}}))
    (tmp / "demo" / "metrics.json").write_text(json.dumps({"wall_time_s": 1.0}))


def _both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        for one in setups:
            one(tmp)
    return setup


# -------------------------------------------------------------------------------- cases
def _run(command: str, *sets: str, setup=None, message: str, id: str,
         out: str = "{tmp}/out", extra: tuple[str, ...] = ()) -> Case:
    """A case ``memcircuits COMMAND --out OUT [--set S]...``."""
    argv = [*command.split(), "--out", out, "--quiet", *extra]
    for item in sets:
        argv += ["--set", item]
    return Case(id, tuple(argv), message, timeout=LIMIT, setup=setup)


def _argv(id: str, *argv: str, message: str, setup=None) -> Case:
    return Case(id, argv, message, timeout=LIMIT, setup=setup)


def _cb(id: str, *sets: str, message: str) -> Case:
    """A cerebellum case on the small circuit (so only the bad value can be refused)."""
    return Case(id, ("cerebellum", "--out", "{tmp}/out", "--quiet", *SMALL,
                     *[part for s in sets for part in ("--set", s)]),
                message, timeout=LIMIT)


LONG = "1" * 5000 + " Hz"

PARSER = [
    _argv("parser-unknown-command", "frobnicate", message=r"invalid choice: 'frobnicate'"),
    _argv("parser-unknown-option", "cerebellum", "--out", "{tmp}/o", "--bogus",
          message=r"unrecognized arguments: --bogus"),
    _argv("parser-missing-out", "cerebellum", message=r"required: --out"),
    _argv("parser-seed-not-int", "cerebellum", "--out", "{tmp}/o", "--seed", "abc",
          message=r"argument --seed: invalid int value: 'abc'"),
    _argv("parser-seed-float", "cerebellum", "--out", "{tmp}/o", "--seed", "1.5",
          message=r"argument --seed: invalid int value: '1.5'"),
    _argv("parser-seed-negative", "cerebellum", "--out", "{tmp}/o", "--seed", "-3",
          message=r"seed must be >= 0, got -3"),
    _argv("parser-config-missing", "cerebellum", "--out", "{tmp}/o", "--config",
          "{tmp}/nope.toml", message=r"config file not found: .*nope\.toml"),
    _argv("parser-config-directory", "cerebellum", "--out", "{tmp}/o", "--config", "{tmp}",
          message=r"config file .* is a directory, not a TOML file"),
    _argv("parser-config-not-toml", "cerebellum", "--out", "{tmp}/o", "--config",
          "{tmp}/bad.toml", setup=_write("bad.toml", "patterns = = 3\n[circuit\n"),
          message=r"config file .*bad\.toml is not valid TOML"),
    _argv("parser-config-binary", "cerebellum", "--out", "{tmp}/o", "--config",
          "{tmp}/bin.toml", setup=_write("bin.toml", b"\xff\xfe\x00garbage\x80"),
          message=r"config file .*bin\.toml is not (valid TOML|UTF-8)"),
    _argv("parser-config-unknown-key", "cerebellum", "--out", "{tmp}/o", "--config",
          "{tmp}/k.toml", setup=_write("k.toml", "bogus = 1\n"),
          message=r"unknown configuration key 'bogus'"),
    _argv("parser-config-unknown-nested-key", "cerebellum", "--out", "{tmp}/o", "--config",
          "{tmp}/k.toml", setup=_write("k.toml", "[circuit.granule]\nsize = 10\n"),
          message=r"unknown configuration key 'circuit\.granule\.size'|"
                  r"unknown configuration key .*size"),
    _argv("parser-config-wrong-type", "cerebellum", "--out", "{tmp}/o", "--config",
          "{tmp}/t.toml", setup=_write("t.toml", 'patterns = "many"\n'),
          message=r"patterns: expected an integer, got 'many'"),
    _argv("parser-config-table-for-number", "cerebellum", "--out", "{tmp}/o", "--config",
          "{tmp}/t.toml", setup=_write("t.toml", "[patterns]\nx = 1\n"),
          message=r"patterns: expected an integer"),
    _argv("parser-set-without-equals", "cerebellum", "--out", "{tmp}/o", "--set", "patterns",
          message=r"--set expects key=value, got 'patterns'"),
    _argv("parser-set-empty-key", "cerebellum", "--out", "{tmp}/o", "--set", "=3",
          message=r"--set expects key=value, got '=3'"),
    _argv("parser-set-through-number", "cerebellum", "--out", "{tmp}/o", "--set",
          "patterns=3", "--set", "patterns.x=1", message=r"'patterns' is not a table"),
    _argv("parser-out-is-file", "cerebellum", "--out", "{tmp}/afile", *SMALL,
          setup=_write("afile", "x"), message=r"out: .*afile exists and is not a directory"),
    _argv("parser-out-under-file", "cerebellum", "--out", "{tmp}/afile/sub", *SMALL,
          setup=_write("afile", "x"), message=r"out: a parent of .*afile/sub is a file"),
    _argv("parser-out-empty", "cerebellum", "--out", "", message=r"argument --out: an empty path"),
    _argv("parser-out-blank", "cerebellum", "--out", "   ",
          message=r"argument --out: an empty path"),
    _argv("parser-out-not-empty", "cerebellum", "--out", "{tmp}/mine", *SMALL,
          setup=_write("mine/notes.txt", "mine"),
          message=r"out: .*mine is not empty and holds no memcircuits run"),
    _argv("parser-figures-no-name", "figures", message=r"required: FIGURE"),
    _argv("parser-figures-unknown", "figures", "nope", "--out", "{tmp}/o",
          message=r"invalid choice: 'nope'"),
]

CEREBELLUM = [
    _cb("cb-preset-unknown", "circuit.preset=frog",
        message=r"circuit\.preset must be one of kanerva, biological, mushroom_body, "
                r"got 'frog'"),
    _cb("cb-preset-not-a-string", "circuit.preset=3",
        message=r"circuit\.preset must be one of kanerva, biological, mushroom_body, got 3"),
    _cb("cb-off-rate-above-rate", 'circuit.mossy.off_rate="80 Hz"',
        message=r"mossy\.off_rate \(80\. Hz\) must not exceed mossy\.rate \(50\. Hz\)"),
    _cb("cb-rates-too-low-for-the-level", "circuit.preset=biological",
        'circuit.mossy.rate="2 Hz"', 'circuit.mossy.off_rate="0 Hz"',
        message=r"expects 0\.36 MF spikes in a stimulus, fewer than the "
                r"granule\.coincidence \(2\)"),
    _cb("cb-claws-exceed-address", "circuit.granule.design=selected",
        "circuit.granule.coding_level=none", "circuit.granule.inputs=40",
        message=r"granule\.inputs \(40\) must be <= address_bits \(32\)"),
    _cb("cb-unknown-key", "circuit.granule.bogus=1",
        message=r"unknown configuration key 'circuit\.granule\.bogus'"),
    _cb("cb-patterns-zero", "patterns=0", message=r"patterns must be >= 1, got 0"),
    _cb("cb-patterns-negative", "patterns=-5", message=r"patterns must be >= 1, got -5"),
    _cb("cb-patterns-fraction", "patterns=1.5", message=r"patterns: expected an integer"),
    _cb("cb-patterns-string", "patterns=many", message=r"patterns: expected an integer, "
                                                        r"got 'many'"),
    _cb("cb-patterns-none", "patterns=none", message=r"patterns: expected an integer, "
                                                      r"got 'none'"),
    _cb("cb-patterns-overflow", "patterns=1e400", message=r"patterns: expected an integer"),
    _cb("cb-patterns-absurd", "patterns=1000000000000",
        message=r"patterns = 1000000000000 with circuit\.protocol\.dt = .* time steps"),
    _cb("cb-query-noise-above-one", "query_noise=1.5",
        message=r"query_noise must lie in \[0, 1\], got 1.5"),
    _cb("cb-query-noise-nan", "query_noise=nan",
        message=r"query_noise: expected a finite number, got nan"),
    _cb("cb-query-noise-inf", "query_noise=inf",
        message=r"query_noise: expected a finite number, got inf"),
    _cb("cb-weight-mass-zero", "weight_mass=0", message=r"weight_mass must lie in \(0, 1\]"),
    _cb("cb-read-clean-string", "read_clean=yes",
        message=r"read_clean: expected true or false, got 'yes'"),
    _cb("cb-raster-zero", "raster_presentations=0", message=r"raster_presentations must be >= 1"),
    _cb("cb-circuit-seed-negative", "circuit_seed=-1",
        message=r"circuit_seed must be >= 0, got -1"),
    _cb("cb-memory-budget-negative", "memory_budget_gib=-1",
        message=r"memory_budget_gib: memory budget must be > 0 GiB, got -1"),
    _cb("cb-backend-gpu", "circuit.backend=gpu",
        message=r"backend must be one of 'numpy', 'cython', 'cpp_standalone', "
                r"'cuda_standalone', got 'gpu'"),
    _cb("cb-reuse-build-numpy", "reuse_build=true",
        message=r"reuse_build = true needs circuit\.backend = 'cpp_standalone'"),
    _cb("cb-address-bits-zero", "circuit.address_bits=0",
        message=r"address_bits must be >= 1, got 0"),
    _cb("cb-value-bits-negative", "circuit.value_bits=-8",
        message=r"value_bits must be >= 1, got -8"),
    _cb("cb-granule-n-zero", "circuit.granule.n=0", message=r"granule\.n must be >= 1, got 0"),
    _cb("cb-granule-n-absurd", "circuit.granule.n=100000000000",
        message=r"circuit\.granule\.n = 100000000000: .* above the memory budget"),
    _cb("cb-coding-level-zero", "circuit.granule.coding_level=0",
        message=r"granule\.coding_level must be in \(0, 1\), got 0"),
    _cb("cb-coding-level-above-one", "circuit.granule.coding_level=1.5",
        message=r"granule\.coding_level must be in \(0, 1\), got 1.5"),
    _cb("cb-design-unknown", "circuit.granule.design=hex",
        message=r"granule\.design must be one of 'full', 'selected', got 'hex'"),
    _cb("cb-radius-and-level", "circuit.granule.radius=3",
        message=r"exactly one of granule\.radius and granule\.coding_level"),
    _cb("cb-radius-above-n", "circuit.granule.coding_level=none", "circuit.granule.radius=40",
        message=r"granule\.radius \(40\) must be <= address_bits \(32\)"),
    _cb("cb-rate-wrong-unit", 'circuit.mossy.rate="10 ms"',
        message=r"circuit\.mossy\.rate: '10 ms' has the wrong dimensions; expected units "
                r"like 'Hz'"),
    _cb("cb-rate-overflow", 'circuit.mossy.rate="1e400 Hz"',
        message=r"circuit\.mossy\.rate: cannot read '1e400 Hz' as a quantity"),
    _cb("cb-rate-nan", 'circuit.mossy.rate="nan Hz"',
        message=r"circuit\.mossy\.rate: cannot read 'nan Hz' as a quantity"),
    _cb("cb-rate-power-tower", 'circuit.mossy.rate="9**9**9 * Hz"',
        message=r"circuit\.mossy\.rate: cannot read '9\*\*9\*\*9 \* Hz' as a quantity"),
    _cb("cb-rate-long", f"circuit.mossy.rate={LONG!r}",
        message=r"circuit\.mossy\.rate: cannot read .*characters.* as a quantity "
                r"\(longer than 200"),
    _cb("cb-rate-call", "circuit.mossy.rate=\"__import__('os').getcwd()\"",
        message=r"circuit\.mossy\.rate: cannot read .* as a quantity \(unsupported syntax"),
    _cb("cb-rate-unit-power", 'circuit.mossy.rate="Hz**Hz"',
        message=r"circuit\.mossy\.rate: cannot read 'Hz\*\*Hz' as a quantity \(a power"),
    _cb("cb-rate-negative", 'circuit.mossy.rate="-5 Hz"',
        message=r"mossy\.rate must be > 0, got -5"),
    _cb("cb-rate-bare-number", "circuit.mossy.rate=50",
        message=r"circuit\.mossy\.rate: 50 has the wrong dimensions"),
    _cb("cb-tau-nan", 'circuit.granule.tau_m="nan ms"',
        message=r"circuit\.granule\.tau_m: cannot read 'nan ms' as a quantity"),
    _cb("cb-dt-zero", 'circuit.protocol.dt="0 ms"', message=r"protocol\.dt must be > 0"),
    _cb("cb-dt-absurd", 'circuit.protocol.dt="1e-30 ms"',
        message=r"protocol\.dt = .* needs about .* more than the memory budget"),
    _cb("cb-dt-frequency", 'circuit.protocol.dt="10 Hz"',
        message=r"circuit\.protocol\.dt: '10 Hz' has the wrong dimensions; expected units "
                r"like 'us'"),
    _cb("cb-write-slot-short", 'circuit.protocol.write_slot="1 ms"',
        message=r"protocol\.write_slot \(1\. ms\) is shorter than the plasticity window"),
    _cb("cb-pf-connectivity-zero", "circuit.purkinje.pf_connectivity=0",
        message=r"purkinje\.pf_connectivity must be in \(0, 1\]"),
    _cb("cb-window-stages-one", "circuit.plasticity.window_stages=1",
        message=r"plasticity\.window_stages must be >= 2, got 1"),
    _cb("cb-golgi-ratio-zero", "circuit.golgi.ratio=0", message=r"golgi\.ratio must be >= 1"),
    _cb("cb-pairing-negative", 'circuit.climbing.pairing="-5 ms"',
        message=r"climbing\.pairing must be >= 0 ms"),
    _cb("cb-activity-one", "circuit.mossy.activity=1",
        message=r"mossy\.activity must lie in \(0, 1\), got 1"),
]

FIGURES = [
    # sdm
    _run("figures sdm", "n=2", message=r"n must be >= 3, got 2", id="sdm-n-small"),
    _run("figures sdm", "radii=[]", message=r"radii must list at least one radius",
         id="sdm-radii-empty"),
    _run("figures sdm", "radii=[1]", message=r"radii must lie in 2\.\.n \(64\).*got 1",
         id="sdm-radius-one"),
    _run("figures sdm", "neurons=0", message=r"neurons must be >= 1, got 0", id="sdm-neurons-zero"),
    _run("figures sdm", "retrieval_probability=1",
         message=r"retrieval_probability must lie in \(0, 1\), got 1", id="sdm-probability-one"),
    _run("figures sdm", "cd_trials=1000000000000",
         message=r"cd_trials = 1000000000000 needs about .* more than the memory budget",
         id="sdm-cd-trials-absurd"),
    _run("figures sdm", "n=100000000",
         message=r"n = 100000000 needs about .* more than the memory budget",
         id="sdm-n-absurd"),
    _run("figures sdm", "num_threads=-1", message=r"num_threads must be >= 0, got -1",
         id="sdm-threads-negative"),
    # hopfield
    _run("figures hopfield", "classic_sizes=[]",
         message=r"classic_sizes must hold at least one value",
         id="hopfield-sizes-empty"),
    _run("figures hopfield", "classic_loads=[0.5, 0.1]",
         message=r"classic_loads must be increasing", id="hopfield-loads-decreasing"),
    _run("figures hopfield", "classic_mode=chaos",
         message=r"classic_mode: must be one of 'async', 'sync', got 'chaos'",
         id="hopfield-mode-unknown"),
    _run("figures hopfield", "device=gpu", message=r"device must name a torch device, got 'gpu'",
         id="hopfield-device-gpu"),
    _run("figures hopfield", "modern_main_n=7", message=r"modern_main_n must be one of "
                                                        r"modern_sizes",
         id="hopfield-main-n"),
    _run("figures hopfield", "classic_sizes=[1000000000]",
         message=r"classic_sizes = 1000000000 needs about .* memory budget",
         id="hopfield-size-absurd"),
    _run("figures hopfield", "beta_high=-1", message=r"beta_high must be > 0",
         id="hopfield-beta-negative"),
    # sdm-mlp
    _run("figures sdm-mlp", "k=1000", message=r"k must be < hidden=1000, got 1000",
         id="sdm-mlp-k-hidden"),
    _run("figures sdm-mlp", "lr_grid=[]", message=r"lr_grid must hold at least one",
         id="sdm-mlp-lr-empty"),
    _run("figures sdm-mlp", "n_seeds=2", message=r"n_seeds must be >= 3, got 2",
         id="sdm-mlp-seeds"),
    _run("figures sdm-mlp", "device=tpu", message=r"device must name a torch device, got 'tpu'",
         id="sdm-mlp-device"),
    _run("figures sdm-mlp", "task.n_classes=1", message=r"n_classes must be >= 2",
         id="sdm-mlp-classes"),
    _run("figures sdm-mlp", "hidden=10000000000",
         message=r"hidden = 10000000000 needs about .* memory budget", id="sdm-mlp-hidden-absurd"),
    # cerebellum-window
    _run("figures cerebellum-window", "step_ms=0", message=r"step_ms must be > 0",
         id="window-step-zero"),
    _run("figures cerebellum-window", "first_ms=10", "last_ms=5",
         message=r"last_ms must be greater than first_ms", id="window-reversed"),
    _run("figures cerebellum-window", "step_ms=1e-9",
         message=r"step_ms = 1e-09 gives 5e\+11 PF-CF intervals", id="window-step-absurd"),
    _run("figures cerebellum-window", "first_ms=nan",
         message=r"first_ms: expected a finite number", id="window-first-nan"),
    _run("figures cerebellum-window", "seed=-1", message=r"seed must be >= 0, got -1",
         id="window-seed-negative"),
    # cerebellum-coding
    _run("figures cerebellum-coding", "rates_hz=[]",
         message=r"rates_hz must list at least two positive rates", id="coding-rates-empty"),
    _run("figures cerebellum-coding", "rates_hz=[-1.0, 2.0]",
         message=r"rates_hz must list at least two positive rates", id="coding-rate-negative"),
    _run("figures cerebellum-coding", "presentations=0",
         message=r"presentations must be >= 1", id="coding-presentations-zero"),
    _run("figures cerebellum-coding", "presentations=1000000000",
         message=r"presentations = 1000000000 with circuit\.protocol\.dt = .* time steps",
         id="coding-presentations-absurd"),
    _run("figures cerebellum-coding", "circuit.backend=gpu",
         message=r"backend must be one of .*got 'gpu'", id="coding-backend-gpu"),
    _run("figures cerebellum-coding", "seed=-2", message=r"seed must be >= 0, got -2",
         id="coding-seed-negative"),
    # cerebellum-intersection
    _run("figures cerebellum-intersection", "clusters=0", message=r"clusters must be >= 1",
         id="intersection-clusters-zero"),
    _run("figures cerebellum-intersection", "weight_mass=2",
         message=r"weight_mass must lie in \(0, 1\]", id="intersection-mass"),
    _run("figures cerebellum-intersection", "circuit.mossy.rails=one",
         message=r"circuit\.mossy\.rails must be 'two'", id="intersection-one-rail"),
    _run("figures cerebellum-intersection", "circuit.mossy.firing=poisson",
         message=r"circuit\.mossy\.firing must be 'regular'", id="intersection-poisson"),
    _run("figures cerebellum-intersection", "clusters=1000000000",
         message=r"clusters = 1000000000 with circuit\.protocol\.dt = .* time steps",
         id="intersection-clusters-absurd"),
    # cerebellum-beta
    _run("figures cerebellum-beta", "coding_levels=[]",
         message=r"coding_levels must name at least one level", id="beta-levels-empty"),
    _run("figures cerebellum-beta", "coding_levels=[0.01, 0.01]",
         message=r"coding_levels must not repeat", id="beta-levels-repeat"),
    _run("figures cerebellum-beta", "coding_levels=[1.5]",
         message=r"coding_levels must lie in \(0, 1\), got 1.5", id="beta-level-above-one"),
    _run("figures cerebellum-beta", "tolerance=1", message=r"tolerance must lie in \(0, 1\)",
         id="beta-tolerance"),
    _run("figures cerebellum-beta", "coding_levels=[1e-9]",
         message=r"coding_levels: 1e-09: .*no granule cell would be active",
         id="beta-level-impossible"),
    # cerebellum-capacity
    _run("figures cerebellum-capacity", "loads=[]", message=r"loads must be positive integers",
         id="capacity-loads-empty"),
    _run("figures cerebellum-capacity", "loads=[10, 5]",
         message=r"loads must be strictly increasing", id="capacity-loads-decreasing"),
    _run("figures cerebellum-capacity", "query_noise=[2.0]",
         message=r"query_noise must be fractions in \[0, 1\]", id="capacity-noise"),
    _run("figures cerebellum-capacity", "accuracy_level=0",
         message=r"accuracy_level must lie in \(0, 1\]", id="capacity-accuracy"),
    _run("figures cerebellum-capacity", "loads=[1000000000000]",
         message=r"loads = 1000000000000 with circuit\.protocol\.dt = .* time steps",
         id="capacity-load-absurd"),
    _run("figures cerebellum-capacity", "loads=[1.5]",
         message=r"loads\[0\]: expected an integer", id="capacity-load-fraction"),
    # ca3
    _run("figures ca3", "loads=[]", message=r"loads must hold at least one load",
         id="ca3-loads-empty"),
    _run("figures ca3", "probe_flip=2", message=r"probe_flip must be <= 1", id="ca3-flip"),
    _run("figures ca3", 'noise="5 Hz"', message=r"noise: '5 Hz' has the wrong dimensions",
         id="ca3-noise-unit"),
    _run("figures ca3", 'noise="-1 mV"', message=r"noise must be >= 0 mV", id="ca3-noise-negative"),
    _run("figures ca3", "position_bits=7",
         message=r"position_bits \* stimulus_bits must equal circuit\.n_units",
         id="ca3-position-bits"),
    _run("figures ca3", "circuit.n_units=0", message=r"circuit: n_units must be >= 2, got 0",
         id="ca3-units-zero"),
    # mushroom-body
    _run("figures mushroom-body", "odours=1", message=r"odours must be >= 2",
         id="mb-odours-one"),
    _run("figures mushroom-body", "test_noise=-0.1", message=r"test_noise must lie in \[0, 1\]",
         id="mb-noise-negative"),
    _run("figures mushroom-body", "circuit.value_bits=3",
         message=r"circuit\.value_bits must be 2", id="mb-value-bits"),
    _run("figures mushroom-body", "rate_factors=[]", message=r"rate_factors must be positive",
         id="mb-rates-empty"),
    _run("figures mushroom-body", "odours=1000000000",
         message=r"odours = 1000000000 with circuit\.protocol\.dt = .* time steps",
         id="mb-odours-absurd"),
    _run("figures mushroom-body", "seed=-1", message=r"seed must be >= 0, got -1",
         id="mb-seed-negative"),
    # calcium-validation
    _run("figures calcium-validation", "neurons=0", message=r"neurons must be >= 1, got 0",
         id="calval-neurons-zero"),
    _run("figures calcium-validation", "fps=0", message=r"fps must be > 0", id="calval-fps-zero"),
    _run("figures calcium-validation", 'indicators=["GCaMP99"]',
         message=r"indicator: unknown indicator 'GCaMP99'", id="calval-indicator"),
    _run("figures calcium-validation", "duration=1e300",
         message=r"duration = 1e\+300 needs about .* memory budget", id="calval-duration-absurd"),
    _run("figures calcium-validation", "indicators=[]",
         message=r"indicators must list at least one value",
         id="calval-indicators-empty"),
    _run("figures calcium-validation", "seed=-1", message=r"seed must be >= 0, got -1",
         id="calval-seed-negative"),
    # calcium-protocol
    _run("figures calcium-protocol", 'parts=["cortex"]',
         message=r"parts: unknown part 'cortex'", id="calprot-part-unknown"),
    _run("figures calcium-protocol", "parts=[]",
         message=r"parts must name at least one of cerebellum, hippocampus",
         id="calprot-parts-empty"),
    _run("figures calcium-protocol", "world=torus:0x0",
         message=r"world: spec 'torus:0x0' is not a valid world spec", id="calprot-world"),
    _run("figures calcium-protocol", "steps=1", message=r"steps must be >= 2, got 1",
         id="calprot-steps"),
    _run("figures calcium-protocol", "synthesis.indicator=GFP",
         message=r"indicator: unknown indicator 'GFP'", id="calprot-indicator"),
    _run("figures calcium-protocol", "steps=1000000000",
         message=r"steps = 1000000000 needs about .* memory budget", id="calprot-steps-absurd"),
]

CALCIUM = [
    _argv("calcium-no-run-dir", "calcium", "--out", "{tmp}/out",
          message=r"required: RUN_DIR"),
    _argv("calcium-missing-run", "calcium", "{tmp}/nope", "--out", "{tmp}/out",
          message=r"run_dir: no such directory .*nope"),
    _argv("calcium-not-a-run", "calcium", "{tmp}/empty", "--out", "{tmp}/out",
          setup=_mkdir("empty"), message=r"run_dir: .*empty is not a memcircuits run"),
    _argv("calcium-run-is-file", "calcium", "{tmp}/afile", "--out", "{tmp}/out",
          setup=_write("afile", "x"), message=r"run_dir: .*afile is not a directory"),
    _argv("calcium-unfinished", "calcium", "{tmp}/half", "--out", "{tmp}/out",
          setup=_unfinished, message=r"run_dir: .*half holds a run that did not finish"),
    _argv("calcium-no-spikes", "calcium", "{tmp}/run", "--out", "{tmp}/out",
          setup=_copy(remove=("spikes.nwb",)), message=r"run_dir: no spikes\.nwb in .*run"),
    _argv("calcium-corrupt-spikes", "calcium", "{tmp}/run", "--out", "{tmp}/out",
          setup=_copy(write={"spikes.nwb": b"\x00garbage" * 100}),
          message=r"run/spikes\.nwb: not a readable NWB file of spikes"),
    _argv("calcium-truncated-spikes", "calcium", "{tmp}/run", "--out", "{tmp}/out",
          setup=_copy(write={"spikes.nwb": b"\x89HDF\r\n\x1a\n" + b"\x00" * 64}),
          message=r"run/spikes\.nwb: not a readable NWB file of spikes"),
    _argv("calcium-corrupt-config", "calcium", "{tmp}/run", "--out", "{tmp}/out",
          setup=_copy(write={"config.json": "{not json"}),
          message=r"run_dir: .*run/config\.json is not valid JSON"),
    _argv("calcium-out-is-input", "calcium", "{run}", "--out", "{run}",
          message=r"out: .* overlaps the input run directory"),
    _argv("calcium-out-inside-input", "calcium", "{run}", "--out", "{run}/calcium",
          message=r"out: .* overlaps the input run directory"),
    _argv("calcium-out-contains-input", "calcium", "{tmp}/run", "--out", "{tmp}",
          setup=_copy(), message=r"out: .* overlaps the input run directory"),
    _argv("calcium-fps-zero", "calcium", "{run}", "--out", "{tmp}/out", "--fps", "0",
          message=r"fps must be > 0"),
    _argv("calcium-fps-negative", "calcium", "{run}", "--out", "{tmp}/out", "--fps", "-1",
          message=r"fps must be > 0"),
    _argv("calcium-fps-nan", "calcium", "{run}", "--out", "{tmp}/out", "--fps", "nan",
          message=r"fps: expected a finite number, got nan"),
    _argv("calcium-fps-inf", "calcium", "{run}", "--out", "{tmp}/out", "--fps", "inf",
          message=r"fps: expected a finite number, got inf"),
    _argv("calcium-fps-tiny", "calcium", "{run}", "--out", "{tmp}/out", "--fps", "0.001",
          message=r"fps: 0\.001 Hz gives \d+ frames"),
    _argv("calcium-fps-above-dt", "calcium", "{run}", "--out", "{tmp}/out", "--fps", "1e9",
          message=r"fps: 1e\+09 Hz is above the simulation's time resolution"),
    _argv("calcium-fps-text", "calcium", "{run}", "--out", "{tmp}/out", "--fps", "fast",
          message=r"argument --fps: invalid float value: 'fast'"),
    _argv("calcium-indicator-unknown", "calcium", "{run}", "--out", "{tmp}/out",
          "--indicator", "GCaMP99", message=r"indicator: unknown indicator 'GCaMP99'"),
    _argv("calcium-population-unknown", "calcium", "{run}", "--out", "{tmp}/out",
          "--set", 'populations=["XYZ=soma"]',
          message=r"populations: 'XYZ' is not a population of the run"),
    _argv("calcium-population-preset-unknown", "calcium", "{run}", "--out", "{tmp}/out",
          "--set", 'populations=["GrC=octopus"]',
          message=r"preset: unknown population preset 'octopus'"),
    _argv("calcium-population-no-equals", "calcium", "{run}", "--out", "{tmp}/out",
          "--set", 'populations=["GrC"]', message=r"populations: entries are NAME=preset"),
    _argv("calcium-max-rois-zero", "calcium", "{run}", "--out", "{tmp}/out",
          "--set", "max_rois=0", message=r"max_rois must be >= 1, got 0"),
    _argv("calcium-dt-negative", "calcium", "{run}", "--out", "{tmp}/out",
          "--set", "dt=-1", message=r"dt must be >= 0"),
    _argv("calcium-noise-zero", "calcium", "{run}", "--out", "{tmp}/out",
          "--set", "synthesis.noise_level=0", message=r"noise_level must be > 0"),
    _argv("calcium-movie-frames", "calcium", "{run}", "--out", "{tmp}/out",
          "--set", "movie_frames=1", message=r"movie_frames must be >= 2, got 1"),
    _argv("calcium-unknown-key", "calcium", "{run}", "--out", "{tmp}/out",
          "--set", "synthesis.colour=green",
          message=r"unknown configuration key 'synthesis\.colour'"),
]

COMPARE = [
    _argv("compare-no-runs", "compare", "--out", "{tmp}/out", message=r"required: RUN_DIR"),
    _argv("compare-no-out", "compare", "{run}", message=r"required: --out"),
    _argv("compare-missing-dir", "compare", "{tmp}/nope", "--out", "{tmp}/out",
          message=r"compare: no such directory .*nope"),
    _argv("compare-not-a-run", "compare", "{tmp}/empty", "--out", "{tmp}/out",
          setup=_mkdir("empty"), message=r"compare: .*empty is not a memcircuits run"),
    _argv("compare-unfinished", "compare", "{run}", "{tmp}/half", "--out", "{tmp}/out",
          setup=_unfinished, message=r"compare: .*half holds a run that did not finish"),
    _argv("compare-different-inputs", "compare", "{run}", "{tmp}/other", "--out", "{tmp}/out",
          setup=_other_inputs,
          message=r"cannot compare cerebellum runs .* their inputs differ \(keys\)"),
    _argv("compare-out-is-input", "compare", "{run}", "--out", "{run}",
          message=r"out: .* overlaps the input run directory"),
    _argv("compare-out-inside-input", "compare", "{tmp}/run", "--out", "{tmp}/run/report",
          setup=_copy(), message=r"out: .* overlaps the input run directory"),
    _argv("compare-no-inputs-json", "compare", "{tmp}/run", "--out", "{tmp}/out",
          setup=_copy(remove=("inputs.json",)), message=r"run has no inputs\.json"),
    _argv("compare-corrupt-inputs-json", "compare", "{tmp}/run", "--out", "{tmp}/out",
          setup=_copy(write={"inputs.json": "{not json"}),
          message=r"run/inputs\.json is not valid JSON"),
    _argv("compare-inputs-json-list", "compare", "{tmp}/run", "--out", "{tmp}/out",
          setup=_copy(write={"inputs.json": "[1, 2]"}),
          message=r"run/inputs\.json is not an input record"),
    _argv("compare-corrupt-metrics-json", "compare", "{tmp}/run", "--out", "{tmp}/out",
          setup=_copy(write={"metrics.json": "\x00\x01"}),
              message=r"run/metrics\.json is not valid JSON"),
    _argv("compare-out-is-file", "compare", "{run}", "--out", "{tmp}/afile",
          setup=_write("afile", "x"), message=r"out: .*afile exists and is not a directory"),
    _argv("compare-out-holds-run", "compare", "{run}", "--out", "{tmp}/run",
          setup=_both(_copy("run")), message=r"out: .*run already holds a finished run"),
]

DEMO = [
    _argv("demo-finished", "demo", "--out", "{tmp}/demo", "--quiet", setup=_finished_demo,
          message=r"out: .*demo already holds a finished run \(demo\); pass --overwrite"),
    _argv("demo-out-empty", "demo", "--out", "", message=r"argument --out: an empty path"),
    _argv("demo-out-is-file", "demo", "--out", "{tmp}/afile", setup=_write("afile", "x"),
          message=r"out: .*afile exists and is not a directory"),
    _argv("demo-out-not-empty", "demo", "--out", "{tmp}/mine",
          setup=_write("mine/notes.txt", "mine"),
          message=r"out: .*mine is not empty and holds no memcircuits run"),
    _argv("demo-unknown-option", "demo", "--seed", "3", message=r"unrecognized arguments"),
]

CASES = PARSER + CEREBELLUM + FIGURES + CALCIUM + COMPARE + DEMO


def test_case_ids_are_distinct_and_many():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 60


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """One finished small cerebellum run (a few seconds), shared by the module's cases."""
    from mapping.cli import main

    path = tmp_path_factory.mktemp("corpus-circuits") / "cerebellum"
    status = main(["cerebellum", "--out", str(path), "--quiet", *SMALL, "--set", "patterns=3"])
    assert status == 0
    _FINISHED["run"] = path
    return path


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_refused(case: Case, tmp_path: Path, capsys, request) -> None:
    values = {"tmp": str(tmp_path)}
    if any("{run}" in part for part in case.argv) or case.setup is not None:
        run = request.getfixturevalue("finished_run")
        values["run"] = str(run)
        before = snapshot(run)
    if case.setup is not None:
        case.setup(tmp_path)
    check_case(case, values, capsys)
    if "run" in values:  # a command that reads the shared run never writes into it
        assert snapshot(Path(values["run"])) == before
