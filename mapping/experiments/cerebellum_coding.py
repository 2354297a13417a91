"""``memcircuits figures cerebellum-coding``: Golgi inhibition holds the granule coding level.

Random queries are read at several mossy-fibre rates, once with Golgi cells and once
without. With Golgi cells, their inhibition (triggered by the first volley) vetoes the
summation of later volleys, so the coding level stays at the activation probability of the
radius whatever the rate; without them, later volleys add to the residue of earlier ones and
the coding level rises with the rate.

Metrics: ``coding_level_golgi_<rate>Hz`` and ``coding_level_nogolgi_<rate>Hz`` (mean over
presentations), ``coding_level_target``, ``max_relative_deviation_golgi`` (largest
``|level / target - 1|`` over the rates, the quantity that must stay below 0.3) and the same
without Golgi; ``rate_range`` (highest / lowest rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from brian2 import Hz

from circuits.cerebellum.params import CerebellumParams, GranuleParams
from circuits.cerebellum.protocol import CerebellarSDM
from models.patterns import random_binary
from models.rundir import RunDirectory, atomic_write_json
from models.seeding import child_seed

__all__ = ["Config", "run", "summarize"]


@dataclass(frozen=True)
class Config:
    """Parameters of the coding-level experiment."""

    circuit: CerebellumParams = field(default_factory=lambda: CerebellumParams(
        granule=GranuleParams(n=4000, coding_level=0.03)))
    rates_hz: tuple[float, ...] = (30.0, 60.0, 120.0)  #: mossy-fibre rates (4x range)
    presentations: int = 6  #: random queries read per condition
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        if len(self.rates_hz) < 2 or min(self.rates_hz) <= 0:
            raise ValueError("rates_hz must list at least two positive rates")
        if self.presentations < 1:
            raise ValueError("presentations must be >= 1")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        self.circuit.validate()
        # one circuit per condition reads `presentations` queries: refuse sizes over the
        # memory budget (or runs of absurd length) before anything is drawn
        from circuits.memory import check_cerebellum

        check_cerebellum(self.circuit, presentations=self.presentations,
                         duration_s=float(self.presentations * self.circuit.protocol.read_slot),
                         prefix="circuit.", presentations_field="presentations")


def coding_levels(params: CerebellumParams, queries: np.ndarray, seed: int) -> np.ndarray:
    """Fraction of granule cells active for each query (reads only)."""
    circuit = CerebellarSDM(params, seed=seed, record=("granule", "purkinje", "nuclei"))
    return circuit.read(queries).coding_level


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Measure coding levels per rate with and without Golgi cells; save the figure."""
    import matplotlib.pyplot as plt

    config.validate()
    base = config.circuit
    queries = random_binary(config.presentations, base.address_bits,
                            seed=child_seed(config.seed, "queries")).numpy()
    circuit_seed = child_seed(config.seed, "circuit")
    target = (base.granule.coding_level if base.granule.coding_level is not None
              else CerebellarSDM(base, seed=circuit_seed).derived.expected_coding_level)
    metrics: dict[str, Any] = {"coding_level_target": target,
                               "rate_range": max(config.rates_hz) / min(config.rates_hz)}
    table: dict[str, dict[float, list[float]]] = {"golgi": {}, "nogolgi": {}}
    steps = [(g, r) for g in (True, False) for r in config.rates_hz]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(steps), desc="conditions", leave=False)
    for golgi, rate in steps:
        params = replace(base, golgi=replace(base.golgi, enabled=golgi),
                         mossy=replace(base.mossy, rate=rate * Hz,
                                       calibration_rate=base.mossy.rate))
        levels = coding_levels(params, queries, circuit_seed)
        label = "golgi" if golgi else "nogolgi"
        table[label][rate] = levels.tolist()
        metrics[f"coding_level_{label}_{rate:g}Hz"] = float(levels.mean())
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    for label in table:
        means = np.array([np.mean(v) for v in table[label].values()])
        metrics[f"max_relative_deviation_{label}"] = float(np.max(np.abs(means / target - 1)))
        metrics[f"coding_level_ratio_{label}"] = float(means[-1] / means[0])
    atomic_write_json(run_dir.file("coding_levels.json"),
                      {label: {f"{r:g}": v for r, v in rows.items()}
                       for label, rows in table.items()})

    names = base.population_names
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, colour, text in (("golgi", "tab:blue", f"with {names['golgi']}"),
                                ("nogolgi", "tab:red", f"without {names['golgi']}")):
        rates = np.array(list(table[label]))
        values = [np.array(v) * 100 for v in table[label].values()]
        means = np.array([v.mean() for v in values])
        sds = np.array([v.std() for v in values])
        ax.errorbar(rates, means, yerr=sds, marker="o", color=colour, label=text, capsize=3)
    ax.axhline(target * 100, color="k", ls="--", lw=1, label="target")
    ax.fill_between([min(config.rates_hz) * 0.9, max(config.rates_hz) * 1.1],
                    target * 70, target * 130, color="0.85", label="target +-30%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(config.rates_hz, [f"{r:g}" for r in config.rates_hz])
    ax.set_xlabel(f"{names['mossy']} rate (Hz)")
    ax.set_ylabel(f"active {names['granule']} (%)")
    ax.set_title(f"coding level vs input rate ({config.presentations} queries, mean +- sd)",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    run_dir.save_figure(fig, "coding_level_vs_rate")
    return metrics


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = [f"granule coding level (target {metrics['coding_level_target']:.4f}) over a "
             f"{metrics['rate_range']:g}x range of mossy-fibre rates:"]
    for label in ("golgi", "nogolgi"):
        values = {k: v for k, v in metrics.items() if k.startswith(f"coding_level_{label}_")}
        row = ", ".join(f"{k.rsplit('_', 1)[-1]}: {v:.4f}" for k, v in values.items())
        lines.append(f"  {label:8s} {row}; max |level/target - 1| = "
                     f"{metrics[f'max_relative_deviation_{label}']:.2f}")
    return "\n".join(lines)
