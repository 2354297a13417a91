"""``memcircuits figures mushroom-body``: odour -> valence learning in the mushroom-body preset.

The preset (:func:`circuits.cerebellum.params.mushroom_body`) is the cerebellar circuit
built by the same code with other parameters: projection neurons (one rail per glomerulus)
-> Kenyon cells (6 inputs, fire with >= 5 active) with APL feedback inhibition -> two
output neurons (MBONs, one per valence) whose KC synapses are depressed by dopamine (DAN)
when the odour is paired with that valence.

Protocol: ``odours`` random odours, each activating exactly ``round(activity * n)``
projection neurons, get a random valence (one-hot over the two MBONs) and are trained once;
then every odour is tested as trained and with ``test_noise`` of its glomeruli swapped
(active <-> inactive, keeping the number active). The APL's role is shown by reading the
same odours at 2x and 4x the PN rate, with and without it.

Data: ``spikes.nwb`` (every population's spikes over training and tests, Units with a
``population`` column: ``PN``, ``KC``, ``APL``, ``MBON``, ``DAN``, ...), which ``memcircuits
calcium RUN_DIR`` images like a cerebellar run.

Metrics: ``kc_sparseness`` (mean fraction of Kenyon cells active per odour, ``_sd``,
``_min``, ``_max``), ``valence_accuracy`` (fraction of odours whose decoded output equals
their valence, both output bits right), ``valence_accuracy_noisy``,
``kc_sparseness_rate<k>x_apl`` / ``_noapl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from circuits.cerebellum.mossy import odours_with_activity
from circuits.cerebellum.params import CerebellumParams, mushroom_body
from circuits.cerebellum.protocol import CerebellarSDM, granule_active_sets
from mapping.imaging import circuit_populations
from models.rundir import RunDirectory
from models.seeding import numpy_rng

__all__ = ["Config", "expected_sparseness", "odours_with_activity", "run", "summarize"]


@dataclass(frozen=True)
class Config:
    """Parameters of the mushroom-body experiment."""

    circuit: CerebellumParams = field(default_factory=mushroom_body)
    odours: int = 20  #: odours trained (half-ish aversive, half appetitive at random)
    test_noise: float = 0.1  #: fraction of active glomeruli swapped in the noisy tests
    rate_factors: tuple[float, ...] = (1.0, 2.0, 4.0)  #: PN rate multiples for the APL panel
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if self.odours < 2:
            raise ValueError("odours must be >= 2")
        if not 0 <= self.test_noise <= 1:
            raise ValueError("test_noise must lie in [0, 1]")
        if self.circuit.value_bits != 2:
            raise ValueError("circuit.value_bits must be 2 (one output neuron per valence)")
        if not self.rate_factors or min(self.rate_factors) <= 0:
            raise ValueError("rate_factors must be positive")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        self.circuit.validate()
        # the odours are written once and read twice: refuse sizes over the memory budget
        # (or runs of absurd length) before anything is drawn
        from circuits.memory import check_cerebellum

        proto = self.circuit.protocol
        check_cerebellum(self.circuit, presentations=3 * self.odours,
                         duration_s=float(self.odours * (proto.write_slot
                                                         + 2 * proto.read_slot)),
                         prefix="circuit.", presentations_field="odours",
                         presentations_value=self.odours)


def expected_sparseness(params: CerebellumParams) -> float:
    """P(a Kenyon cell fires) for odours with exactly ``round(activity * n)`` glomeruli on.

    The hypergeometric probability that at least ``inputs - mismatches`` of its inputs are on.
    """
    from scipy.stats import hypergeom

    n, g = params.address_bits, params.granule
    on = round(params.mossy.activity * n)
    return float(hypergeom.sf(g.inputs - g.mismatches - 1, n, on, g.inputs))


def _swap(odours: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    out = odours.copy()
    for row in out:
        on, off = np.flatnonzero(row), np.flatnonzero(row == 0)
        k = min(round(fraction * len(on)), len(off))
        row[rng.choice(on, k, replace=False)] = 0
        row[rng.choice(off, k, replace=False)] = 1
    return out


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Train odour -> valence pairs, test them, and measure Kenyon-cell sparseness."""
    import matplotlib.pyplot as plt

    config.validate()
    params = config.circuit
    rng = numpy_rng(config.seed, "odours")
    odours = odours_with_activity(config.odours, params.address_bits,
                                  params.mossy.activity, rng)
    valence = numpy_rng(config.seed, "valence").integers(0, 2, config.odours)
    values = np.zeros((config.odours, 2), dtype=np.uint8)
    values[np.arange(config.odours), valence] = 1
    noisy = _swap(odours, config.test_noise, numpy_rng(config.seed, "noise"))

    circuit = CerebellarSDM(params, seed=config.seed, report="text" if progress else None)
    train = circuit.write(odours, values)
    test = circuit.read(odours)
    test_noisy = circuit.read(noisy)
    from analysis.nwb import write_spikes

    write_spikes(run_dir.file("spikes.nwb"),
                 circuit_populations(circuit, [train, test, test_noisy]),
                 session_description="memcircuits figures mushroom-body: odour -> valence "
                                     "training and tests",
                 experiment_description=f"{config.odours} odours trained once, tested as "
                                        f"trained and with {config.test_noise:g} of their "
                                        f"glomeruli swapped; seed {config.seed}")
    levels = train.coding_level
    metrics: dict[str, Any] = {
        "kc_sparseness": float(levels.mean()),
        "kc_sparseness_sd": float(levels.std()),
        "kc_sparseness_min": float(levels.min()),
        "kc_sparseness_max": float(levels.max()),
        "kc_sparseness_expected": expected_sparseness(params),
        "valence_accuracy": float((test.bits == values).all(1).mean()),
        "valence_accuracy_noisy": float((test_noisy.bits == values).all(1).mean()),
        "output_bit_accuracy": float((test.bits == values).mean()),
        "odours": config.odours,
        "n_kenyon": params.granule.n,
    }
    rates = {}
    for factor in config.rate_factors:
        for apl in (True, False):
            p = replace(params, golgi=replace(params.golgi, enabled=apl),
                        mossy=replace(params.mossy, rate=params.mossy.rate * factor,
                                      calibration_rate=params.mossy.rate))
            active = granule_active_sets(p, odours, seed=config.seed)
            level = float(np.mean([len(a) for a in active]) / params.granule.n)
            tag = "apl" if apl else "noapl"
            metrics[f"kc_sparseness_rate{factor:g}x_{tag}"] = level
            rates[(factor, tag)] = level

    names = params.population_names
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    axes[0].hist(levels * 100, bins=12, color="tab:green")
    axes[0].axvspan(5, 10, color="0.9", label="5-10% (Lin et al. 2014)")
    axes[0].set_xlabel(f"active {names['granule']} per odour (%)")
    axes[0].set_ylabel("odours")
    axes[0].legend(fontsize=8)
    axes[0].set_title(f"sparseness {metrics['kc_sparseness']:.1%} +- "
                      f"{metrics['kc_sparseness_sd']:.1%}", fontsize=9)
    drive = -test.net_drive / params.plasticity.ltp
    for k, colour in ((0, "tab:red"), (1, "tab:blue")):
        sel = valence == k
        axes[1].scatter(drive[sel, 0], drive[sel, 1], color=colour, s=18,
                        label=f"trained valence {k}")
    axes[1].axhline(0, color="k", lw=0.5)
    axes[1].axvline(0, color="k", lw=0.5)
    axes[1].set_xlabel(f"{names['purkinje']} 0: sum of counters")
    axes[1].set_ylabel(f"{names['purkinje']} 1: sum of counters")
    axes[1].legend(fontsize=8)
    axes[1].set_title(f"valence accuracy {metrics['valence_accuracy']:.0%} (noisy "
                      f"{metrics['valence_accuracy_noisy']:.0%})", fontsize=9)
    for tag, colour, text in (("apl", "tab:green", "with APL"),
                              ("noapl", "tab:gray", "without APL")):
        xs = list(config.rate_factors)
        axes[2].plot(xs, [rates[(f, tag)] * 100 for f in xs], "o-", color=colour, label=text)
    axes[2].set_xlabel(f"{names['mossy']} rate (x default)")
    axes[2].set_ylabel(f"active {names['granule']} (%)")
    axes[2].set_yscale("log")
    axes[2].legend(fontsize=8)
    axes[2].set_title("APL holds sparseness as input strength grows", fontsize=9)
    fig.tight_layout()
    run_dir.save_figure(fig, "mushroom_body")
    return metrics


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    rates = {k: v for k, v in metrics.items() if k.startswith("kc_sparseness_rate")}
    return (f"mushroom body ({metrics['n_kenyon']} Kenyon cells, {metrics['odours']} odours): "
            f"sparseness {metrics['kc_sparseness']:.3f} +- {metrics['kc_sparseness_sd']:.3f} "
            f"(expected {metrics['kc_sparseness_expected']:.3f})\n"
            f"  valence accuracy {metrics['valence_accuracy']:.2f}, with "
            f"noisy odours {metrics['valence_accuracy_noisy']:.2f}\n"
            "  " + ", ".join(f"{k[len('kc_sparseness_'):]}: {v:.3f}" for k, v in rates.items()))
