"""The report of ``memcircuits predict``: tables, the preregistration sheet and figures.

Rendering only: every number comes from the rows :mod:`mapping.experiments.predict` computed
(its ``run`` writes what these functions return).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from circuits.cerebellum.hypotheses import HYPOTHESES
from mapping.imaged import IMAGED_OBSERVABLES
from mapping.imaged_outputs import OUTPUT_OBSERVABLES
from mapping.learning import LEARNING_MEASURES
from mapping.preparations import get_preparation
from mapping.protocols import OBSERVABLES

if TYPE_CHECKING:
    from mapping.experiments.predict import Config

__all__ = ["grid_report", "learning_report", "power_figure", "report", "sheet",
           "time_course_figure"]


def time_course_figure(config: Config, table: list[dict[str, Any]]):
    """One panel per observable: each hypothesis's time course per cue.

    Cue 0 solid, cue 1 dashed (generalisation probes of cue 0 at their distances); mean
    and 95% interval over seeds.
    """
    import matplotlib.pyplot as plt

    observables = OBSERVABLES + IMAGED_OBSERVABLES + OUTPUT_OBSERVABLES
    cols = 3
    rows = int(np.ceil(len(observables) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, observable in zip(axes.ravel(), observables, strict=False):
        labels: list[str] = []
        for k, key in enumerate(config.hypotheses):
            for cue, style in ((0, "-"), (1, "--")):
                sel = [r for r in table if r["hypothesis"] == key
                       and r["observable"] == observable and r["cue"] == cue]
                if not sel:
                    continue
                labels = labels if len(labels) >= len(sel) else [
                    f"{r['phase'][:3]}{r['trial'] + 1}" + (f"d{r['distance']}"
                                                         if r["distance"] else "")
                    for r in sel]
                x = np.arange(len(sel))
                ax.plot(x, [r["mean"] for r in sel], style, marker="o", ms=3,
                        color=colours[k % len(colours)],
                        label=f"{HYPOTHESES[key].name} {key}, cue {cue}")
                ax.fill_between(x, [r["ci_low"] for r in sel], [r["ci_high"] for r in sel],
                                color=colours[k % len(colours)], alpha=0.15)
        ax.set_xticks(np.arange(len(labels)), labels, rotation=60, fontsize=6)
        ax.set_title(observable, fontsize=9)
    for ax in axes.ravel()[len(observables):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"protocol {config.protocol}: probes of each cue, mean and 95% interval "
                 f"over {config.seeds} seeds", fontsize=10)
    fig.tight_layout()
    return fig


def power_figure(config: Config, powers: list[dict[str, Any]]):
    """Power against imaged cells, one line per trial count, at each rival's best probe.

    One panel per rival and imaged observable; the probe is the one with the highest power
    at the largest field and trial count.
    """
    import matplotlib.pyplot as plt

    pairs = sorted({(r["hypothesis"], r["observable"]) for r in powers})
    cols = len({observable for _, observable in pairs})
    rows = int(np.ceil(len(pairs) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, (key, observable) in zip(axes.ravel(), pairs, strict=False):
        sel = [r for r in powers if r["hypothesis"] == key and r["observable"] == observable]
        top = max(sel, key=lambda r: (r["cells"], r["trials"], r["power"]))
        index = max((r for r in sel if r["cells"] == top["cells"]
                     and r["trials"] == top["trials"]), key=lambda r: r["power"])["index"]
        for t in config.trials:
            line = sorted((r for r in sel if r["index"] == index and r["trials"] == t),
                          key=lambda r: r["cells"])
            ax.plot([r["cells"] for r in line], [r["power"] for r in line], marker="o",
                    ms=3, label=f"T = {t}")
        ax.axhline(config.power, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        sizes = sorted({r["cells"] for r in sel})
        ax.set_xticks(sizes, [str(c) for c in sizes])
        ax.minorticks_off()
        ax.set_ylim(0, 1.02)
        probe = next(r for r in sel if r["index"] == index)
        ax.set_title(f"{HYPOTHESES[key].name} vs {HYPOTHESES[config.reference].name}: "
                     f"{observable}\n{probe['phase']} {probe['trial'] + 1}, cue {probe['cue']}",
                     fontsize=8)
        ax.set_xlabel("imaged synapses per cue and group" if sel[0].get("imaged") == "synapses"
                      else f"imaged {config.circuit.population_names['granule']} cells")
        ax.set_ylabel("power")
    for ax in axes.ravel()[len(pairs):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6)
    im = config.imaging
    fig.suptitle(f"{im.indicator}, {im.fps:g} Hz, nu = {im.noise_level:g}; "
                 f"{config.animals} animal(s)", fontsize=9)
    fig.tight_layout()
    return fig


def grid_report(config: Config, by_condition: list[dict[str, Any]], *, heading: str,
                note: str, noise: str = "nu") -> str:
    """Least effort per rival and observable in one column per (frame rate, noise) condition.

    ``by_condition`` rows carry ``fps``, ``noise_level``, ``hypothesis``, ``observable``,
    ``cells`` and ``trials`` (None: not reached).
    """
    conditions = sorted({(r["fps"], r["noise_level"]) for r in by_condition})
    lines = [f"## {heading}", "", note, "",
             "| hypothesis | observable | " + " | ".join(
                 f"{fps:g} Hz, {noise} {nu:g}" for fps, nu in conditions) + " |",
             "|---|---|" + "---|" * len(conditions)]
    pairs = sorted({(r["hypothesis"], r["observable"]) for r in by_condition})
    for key, observable in pairs:
        cells = []
        for fps, nu in conditions:
            row = next((r for r in by_condition if (r["hypothesis"], r["observable"], r["fps"],
                                                    r["noise_level"]) == (key, observable,
                                                                          fps, nu)), None)
            cells.append("-" if row is None or row["cells"] is None
                         else f"{row['cells']} x {row['trials']}")
        lines.append(f"| {HYPOTHESES[key].name} {key} | {observable} | " + " | ".join(cells)
                     + " |")
    return "\n".join([*lines, "", ""])


def sheet(config: Config, table: list[dict[str, Any]], versus: list[dict[str, Any]],
           observables: tuple[str, ...]) -> str:
    """The preregistration sheet: every observable's time course per hypothesis.

    With its 95% interval over seeds, and per rival the largest effect size (Cohen's d)
    and its z.
    """
    names = {key: HYPOTHESES[key].name for key in config.hypotheses}
    lines = ["## Preregistration sheet", "",
             "Per observable: the mean over seeds and its 95% interval at every probe, per "
             "hypothesis (`predictions.csv`), then per rival the probe of largest |d| "
             f"against {names[config.reference]} (`contrasts.csv`).", ""]
    for observable in observables:
        rows = [r for r in table if r["observable"] == observable]
        probes = sorted({(r["index"], r["phase"], r["trial"], r["cue"], r["distance"])
                         for r in rows})
        if not probes:
            continue
        cell = {(r["hypothesis"], r["index"]): r for r in rows}
        lines += [f"### `{observable}`", "",
                  "| probe | " + " | ".join(f"{names[k]} {k}" for k in config.hypotheses)
                  + " |", "|---|" + "---|" * len(config.hypotheses)]
        for index, phase, trial, cue, distance in probes:
            label = f"{phase} {trial + 1}, cue {cue}" + (f", {distance} bits"
                                                          if distance else "")
            values = []
            for key in config.hypotheses:
                r = cell.get((key, index))
                values.append("" if r is None or not np.isfinite(r["mean"]) else
                              f"{r['mean']:.3g} [{r['ci_low']:.3g}, {r['ci_high']:.3g}]"
                              if np.isfinite(r["ci_low"]) else f"{r['mean']:.3g}")
            lines.append(f"| {label} | " + " | ".join(values) + " |")
        effects = []
        for key in config.hypotheses:
            mine = [r for r in versus if r["observable"] == observable
                    and r["hypothesis"] == key and np.isfinite(r["cohen_d"])]
            if mine:
                best = max(mine, key=lambda r: abs(r["cohen_d"]))
                effects.append(f"{names[key]}: d = {best['cohen_d']:.2g}, z = {best['z']:.2g} "
                               f"({best['phase']} {best['trial'] + 1}, cue {best['cue']})")
        lines += ["", "Largest effect: " + ("; ".join(effects) or "none") + ".", ""]
    return "\n".join(lines)


def report(config: Config, separated: dict[str, dict[str, float]],
           effort: list[dict[str, Any]], keys: dict[int, dict[str, Any]]) -> str:
    """The report's head: separations per rival and the imaging effort for ``power``."""
    im, out = config.imaging, config.outputs
    preparation = get_preparation(config.preparation)
    names = config.circuit.population_names
    sensor, fps = out.sensor(preparation)
    site = preparation.plasticity_site
    lines = [f"# Predictions: protocol `{config.protocol}`, {preparation.name} preparation",
             "",
             f"{config.seeds} seeds per hypothesis; every rival against "
             f"{HYPOTHESES[config.reference].name} ({config.reference}); an observable "
             f"separates two hypotheses when |z| > {config.threshold:g} at some probe "
             f"(`contrasts.csv`). Observables named `imaged_*` are measured as a rig "
             f"would: {config.imaged_cells} {names['granule']} cells, {im.indicator} at "
             f"{im.fps:g} Hz, noise level nu = {im.noise_level:g} (`imaged.csv`); "
             f"{names['purkinje']} spikes through {out.voltage_indicator} at "
             f"{out.voltage_fps:g} Hz, spike SNR {out.spike_snr:g}; {out.synapses} "
             f"{names['granule']}->{names['purkinje']} synapses per cue and group through "
             f"{sensor} at {fps:g} Hz (`imaged_efficacy_*`, 1 = unchanged; the "
             f"change is {site}synaptic); the {names['climbing']} teaching signal through "
             f"{out.teaching_indicator} at {out.teaching_fps:g} Hz, nu = "
             f"{out.teaching_noise:g} (`imaged_complex_spikes_*`, in units of one isolated "
             f"spike's transient). The others are exact (every cell, spikes and "
             f"weights). Observables keep the "
             f"cerebellar names: granule = {names['granule']}, Purkinje (simple spikes) = "
             f"{names['purkinje']}, output (nuclear) = {names['nuclei']}, climbing fibre "
             f"(teaching signal) = {names['climbing']}.", "",
             "| hypothesis | what it changes | separating observables (max abs z) |",
             "|---|---|---|"]
    unseparated = []
    for key in config.hypotheses:
        if key == config.reference:
            continue
        h = HYPOTHESES[key]
        found = separated.get(key, {})
        text = ", ".join(f"{o} ({z:.1f})" for o, z in sorted(found.items(),
                                                              key=lambda kv: -kv[1]))
        lines.append(f"| {h.name} {key} | {h.mechanism_in(config.circuit)} | "
                     f"{text or 'none'} |")
        if not found:
            unseparated.append(f"{h.name} {key}")
    lines += ["", "Not separated by any observable: "
              + (", ".join(unseparated) if unseparated else "none") + ".", "",
              "![time courses](figures/time_courses.png)", "",
              f"## Imaged cells and trials for {config.power:.0%} power", "",
              f"One measurement ({config.animals} animal(s), the probe repeated T times) "
              f"against {HYPOTHESES[config.reference].name}'s 95% prediction interval; "
              f"variance components over seeds, fields of view and noise draws "
              f"(`power.csv`, :mod:`mapping.power`). Fields of "
              f"{', '.join(str(c) for c in im.cells)} {names['granule']} cells (`imaged_"
              f"coding_level`, `imaged_overlap`) or "
              f"{', '.join(str(c) for c in out.spine_counts)} synapses per cue and group "
              f"(`imaged_efficacy_*`), T in {', '.join(str(t) for t in config.trials)}.", "",
              "| hypothesis | observable | imaged units x trials | probe | best power |",
              "|---|---|---|---|---|"]
    for row in effort:
        if row["cells"] is None:
            need, probe = "not reached", ""
        else:
            need = f"{row['cells']} x {row['trials']}"
            k = keys[row["index"]]
            probe = f"{k['phase']} {k['trial'] + 1}, cue {k['cue']}" + (
                f", {k['distance']} bits" if k["distance"] else "")
        lines.append(f"| {HYPOTHESES[row['hypothesis']].name} {row['hypothesis']} | "
                     f"{row['observable']} | {need} | {probe} | {row['best_power']:.2f} |")
    lines += ["", "![power](figures/power.png)", ""]
    return "\n".join(lines)


def learning_report(config: Config, table: list[dict[str, Any]],
                    versus: list[dict[str, Any]]) -> str:
    """Savings and recovery per hypothesis (:mod:`mapping.learning`).

    Each with its 95% interval over circuits and z against the reference; empty for a
    protocol that defines none.
    """
    if not table:
        return ""
    names = {key: HYPOTHESES[key].name for key in config.hypotheses}
    cell = {(r["hypothesis"], r["observable"]): r for r in table}
    z = {(r["hypothesis"], r["observable"]): r["z"] for r in versus}
    measures = [m for m in LEARNING_MEASURES
                if any(r["observable"] == m and r["seeds"] for r in table)]
    lines = ["## Savings and recovery", "",
             "Per circuit, the choice toward each cue's taught action averaged over both "
             "cues (`learning.csv`, :mod:`mapping.learning`): `acquisition` and "
             "`reacquisition` over as many trials each, `savings` = reacquisition - "
             "acquisition (> 0: re-learns faster than it first learned), `extinguished` at "
             "the last extinction trial, `recovery` = after the rest - extinguished. The "
             "`_nuclear` rows score the taught group's nuclear spikes per cell minus the "
             "other group's instead (graded where the choice saturates). Mean "
             f"over circuits [95% interval]; z against {names[config.reference]}.", "",
             "| measure | " + " | ".join(f"{names[k]} {k}" for k in config.hypotheses)
             + " |", "|---|" + "---|" * len(config.hypotheses)]
    for measure in measures:
        values = []
        for key in config.hypotheses:
            r = cell.get((key, measure))
            text = "" if r is None or not r["seeds"] else (
                f"{r['mean']:.3g} [{r['ci_low']:.3g}, {r['ci_high']:.3g}]")
            if (key, measure) in z:
                text += f" (z {z[key, measure]:.2g})"
            values.append(text)
        lines.append(f"| `{measure}` | " + " | ".join(values) + " |")
    return "\n".join([*lines, "", ""])
