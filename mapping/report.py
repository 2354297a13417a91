r"""``memcircuits compare RUN_DIR [RUN_DIR ...] --out DIR``: one report over several runs.

Reads the run directories written by ``memcircuits cerebellum``, ``hippocampus``,
``figures cerebellum-beta`` and ``figures cerebellum-capacity`` (each records its input
fingerprint, :func:`mapping.measures.write_inputs`), refuses runs of one kind whose inputs
differ (:func:`mapping.measures.check_same_inputs`), and writes

- ``metrics.json``: the key spike-vs-equation numbers of every run, as
  ``<run label>.<metric>``;
- ``figures/comparison.png``: one panel per measure present (bit agreement and sum
  similarity; effective vs theoretical beta per coding level; capacity curves of circuit
  and abstract model; the hippocampal memory neurons' beta next to TEM-t's softmax beta);
- ``report.md``: the runs, one table per kind, the figure, and links to every run's own
  figures, readable in any Markdown viewer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mapping.measures import RunInputs, check_same_inputs, read_inputs
from models.rundir import (
    atomic_write_text,
    check_out_apart,
    claim_run_directory,
    read_json_object,
    require_finished_run,
)

__all__ = ["KIND_TABLES", "compare_runs"]

#: kind -> (metric, column title) rows of the report table; a metric a run lacks shows "-"
KIND_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "cerebellum": (
        ("n_granule", "granule cells"), ("radius", "radius"),
        ("coding_level", "coding level"),
        ("bit_agreement_vs_sdm_clean", "bits agree (clean)"),
        ("bit_agreement_vs_sdm_noisy", "bits agree (noisy)"),
        ("bit_agreement_vs_active_sets_clean", "bits agree, own active sets (clean)"),
        ("bit_agreement_vs_active_sets_noisy", "bits agree, own active sets (noisy)"),
        ("bit_accuracy_vs_stored", "accuracy: circuit"),
        ("abstract_accuracy_vs_stored", "accuracy: abstract"),
        ("active_set_accuracy_vs_stored", "accuracy: own active sets"),
        ("sums_cosine_noisy", "sums cosine"), ("sums_correlation_noisy", "sums Pearson"),
        ("active_set_match_noisy", "active sets equal"),
        ("effective_beta", "effective beta"), ("theoretical_beta", "theoretical beta"),
        ("effective_beta_ratio", "ratio"), ("effective_beta_bins", "distances fitted"),
    ),
    "cerebellum-beta": (),  # one row per coding level, see _beta_rows
    "cerebellum-capacity": (),  # one row per query-noise level, see _capacity_rows
    "hippocampus": (
        ("world", "world"), ("steps", "steps"), ("memory_neurons", "memory neurons"),
        ("effective_beta", "effective beta (circuit units)"),
        ("effective_beta_cosine", "effective beta (cosine)"),
        ("tem_t_beta_mean", "TEM-t beta (mean over walk)"),
        ("tem_t_beta_final", "TEM-t beta (last step)"),
        ("temperature", "gain follows"),
        ("beta_ratio_walk", "loop beta / TEM-t beta (fitted on the walk)"),
        ("beta_ratio_walk_se", "its standard error"),
        ("weight_spearman_vs_softmax", "Spearman vs softmax"),
        ("agreement_vs_attention", "agrees with attention"),
        ("accuracy_visited", "accuracy visited: circuit"),
        ("tem_t_accuracy_visited", "accuracy visited: TEM-t"),
        ("path_integration_accuracy", "path integration"),
    ),
}

_KIND_TITLES = {
    "cerebellum": "Cerebellum: spiking SDM read vs abstract SDM",
    "cerebellum-beta": "Cerebellum: effective beta per coding level",
    "cerebellum-capacity": "Cerebellum: capacity, circuit vs abstract SDM",
    "hippocampus": "Hippocampal loop: memory neurons vs TEM-t attention",
}


_KIND_NOTES = {
    "cerebellum": (
        "Effective beta here is fitted from this run's own reads against its written keys: "
        "random keys rarely fall within the radius of each other, so only the few distances "
        "in the table's last row are fitted. `memcircuits figures cerebellum-beta` measures "
        "every distance at several coding levels (include its run directory here). With "
        "asynchronous mossy fibres (the default, biological granule layer) granule cells fire "
        "stochastically and no fixed activation rule reproduces their sets: 'bits agree' "
        "compares with the SDM under the selected-coordinate rule, 'own active sets' with "
        "the SDM read on the sets the circuit produced. Kanerva's limit "
        "(`--set circuit.preset=kanerva`: full-address cells, synchronous volleys) agrees "
        "bit for bit."),
    "hippocampus": (
        "Both betas multiply the cosine of key and query. TEM-t's is its learned softmax "
        "inverse temperature b log(1 + N) on the same walk (shipped checkpoint); the memory "
        "neurons' is fitted from their spike counts (log count on similarity, per-step "
        "intercept)."),
}


def _labels(runs: Sequence[RunInputs]) -> list[str]:
    """Short unique labels: the directory name, with parents added where names clash."""
    labels = [r.path.name for r in runs]
    depth = 1
    while len(set(labels)) < len(labels) and depth < 8:
        depth += 1
        labels = ["/".join(r.path.resolve().parts[-depth:]) for r in runs]
    if len(set(labels)) < len(labels):
        raise ValueError("the same run directory is given twice")
    return labels


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not np.isfinite(value):
            return "nan"
        return f"{value:.4g}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _beta_rows(metrics: dict[str, Any]) -> list[list[Any]]:
    rows = []
    prefixes = sorted({k.split("_", 1)[0] for k in metrics if k.endswith("_effective_beta")},
                      key=lambda p: float(p[1:]))
    for p in prefixes:
        rows.append([p[1:] + "%", metrics.get(f"{p}_radius"), metrics.get(f"{p}_coding_level"),
                     metrics.get(f"{p}_effective_beta"), metrics.get(f"{p}_theoretical_beta"),
                     metrics.get(f"{p}_effective_beta_ratio"),
                     metrics.get(f"{p}_weight_error_vs_softmax"),
                     metrics.get(f"{p}_weight_error_vs_exact")])
    return rows


def _capacity_rows(metrics: dict[str, Any]) -> list[list[Any]]:
    prefixes = sorted({k.split("_", 1)[0] for k in metrics if k.endswith("_load_at_99_circuit")},
                      key=lambda p: float(p[1:]))
    return [[p[1:] + "%", metrics.get(f"{p}_load_at_99_circuit"),
             metrics.get(f"{p}_load_at_99_abstract"), metrics.get(f"{p}_agreement_mean")]
            for p in prefixes]


def _kind_section(kind: str, labels: list[str], metrics: list[dict[str, Any]]) -> str:
    parts = [f"## {_KIND_TITLES.get(kind, kind)}", ""]
    if kind == "cerebellum-beta":
        for label, m in zip(labels, metrics, strict=True):
            parts += [f"Run `{label}` ({m.get('n_granule')} granule cells; "
                      f"{m.get('levels_within_tolerance')}/{m.get('levels')} levels within "
                      f"{_fmt(100 * m.get('tolerance', float('nan')))}% of theory):", "",
                      _table(["coding level", "radius", "measured level", "effective beta",
                              "theoretical beta", "ratio", "max abs weight error vs softmax",
                              "vs exact intersection"], _beta_rows(m)), ""]
        return "\n".join(parts)
    if kind == "cerebellum-capacity":
        for label, m in zip(labels, metrics, strict=True):
            parts += [f"Run `{label}`: load at {_fmt(100 * m.get('accuracy_level', 0.99))}% "
                      f"bit accuracy ({m.get('n_granule')} granule cells):", "",
                      _table(["query noise", "circuit", "abstract SDM", "bits agree (mean)"],
                             _capacity_rows(m)), ""]
        return "\n".join(parts)
    rows_spec = KIND_TABLES.get(kind, ())
    if not rows_spec:
        return ""
    header = ["measure", *[f"`{label}`" for label in labels]]
    rows = [[title, *[m.get(key) for m in metrics]] for key, title in rows_spec]
    parts += [_table(header, rows), ""]
    if kind in _KIND_NOTES:
        parts += [_KIND_NOTES[kind], ""]
    return "\n".join(parts)


#: figure panels, in order: one per kind of run present
_PANEL_ORDER = ("cerebellum", "cerebellum-beta", "cerebellum-capacity", "hippocampus")


def _panels(kinds: dict[str, list[tuple[str, Path, dict[str, Any]]]]) -> list[str]:
    return [kind for kind in _PANEL_ORDER if kind in kinds]


def _figure(kinds: dict[str, list[tuple[str, Path, dict[str, Any]]]]) -> Any:
    import matplotlib.pyplot as plt

    from analysis.plots import draw_capacity

    panels = _panels(kinds)
    columns = min(len(panels), 2)
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.2 * columns, 4.6 * rows), squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    for ax, panel in zip(axes.ravel(), panels, strict=False):
        runs = kinds[panel]
        if panel == "cerebellum":
            for k, (label, path, _) in enumerate(runs):
                file = path / "weights.json"
                if not file.is_file():
                    continue
                table = json.loads(file.read_text())
                d = np.asarray(table["distance"])
                mean = np.asarray(table["mean"], dtype=float)
                expected = np.asarray(table["expected"], dtype=float)
                ok = np.asarray(table["pairs"]) > 0
                color = f"C{k}"
                ax.plot(d, expected, "-", color=color, lw=1,
                        label=f"{label}: exact intersection")
                beta = table["theoretical_beta_full_range"]
                soft = np.exp(beta * (1 - 2 * d / table["n"])
                              + table["theoretical_intercept_full_range"])
                ax.plot(d, soft, "--", color=color, lw=1,
                        label=f"{label}: exp(beta cos + b), beta {beta:.2f} (fit)")
                ax.plot(d[ok], mean[ok], "o", color=color, ms=4,
                        label=f"{label}: spikes (granule cells shared)")
            ax.set_yscale("log")
            ax.set_xlabel("Hamming distance between query and stored key")
            ax.set_ylabel("per-memory weight (granule cells)")
            ax.set_title("cerebellum: per-memory weights of every read", fontsize=9)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        elif panel == "cerebellum-beta":
            for label, _, m in runs:
                rows = _beta_rows(m)
                level = [float(r[0].rstrip("%")) for r in rows]
                ax.plot(level, [r[4] for r in rows], "k-", lw=1)
                ax.plot(level, [r[3] for r in rows], "o", label=f"{label}: effective (spikes)")
            ax.plot([], [], "k-", lw=1, label="theoretical (exact intersection)")
            ax.set_xscale("log")
            ax.set_xticks(level, [f"{x:g}" for x in level])
            ax.minorticks_off()
            ax.set_xlabel("granule coding level (%)")
            ax.set_ylabel(r"$\beta$")
            ax.set_title("effective beta vs theory", fontsize=9)
            ax.legend(fontsize=7)
        elif panel == "cerebellum-capacity":
            tables = [(label, json.loads((path / "capacity.json").read_text()))
                      for label, path, _ in runs]
            level = runs[0][2].get("accuracy_level", 0.99)
            draw_capacity(ax, tables, level)
        elif panel == "hippocampus":
            names = ["memory neurons\n(effective, cosine)", "TEM-t\n(mean over walk)",
                     "TEM-t\n(last step)"]
            keys = ["effective_beta_cosine", "tem_t_beta_mean", "tem_t_beta_final"]
            width = 0.8 / len(runs)
            for k, (label, _, m) in enumerate(runs):
                ax.bar(np.arange(len(keys)) + k * width,
                       [m.get(key) if m.get(key) is not None else np.nan for key in keys],
                       width=width, label=label)
            ax.set_xticks(np.arange(len(keys)) + 0.4 - width / 2, names, fontsize=7)
            ax.set_ylabel(r"softmax $\beta$ on key-query cosine")
            ax.set_title("hippocampal loop vs TEM-t on the same walk", fontsize=9)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def compare_runs(run_dirs: Sequence[str | Path], out: str | Path, *,
                 overwrite: bool = False) -> dict[str, Any]:
    """Compare run directories; write ``metrics.json``, the figure and ``report.md``.

    ``out`` is a run directory of its own, apart from every input: it never lies inside
    one of them, and one holding another run is replaced only with ``overwrite``.

    Raises
    ------
    FileNotFoundError
        If a directory, its ``metrics.json`` or its ``inputs.json`` is missing.
    models.rundir.RunDirectoryError
        If a directory is not a finished run, or ``out`` overlaps an input or holds a run.
    mapping.measures.InputsDiffer
        If two runs of one kind were fed different inputs.
    """
    if not run_dirs:
        raise ValueError("compare needs at least one run directory")
    for path in run_dirs:
        require_finished_run(path, what="compare")
    check_out_apart(out, run_dirs)
    runs = [read_inputs(p) for p in run_dirs]
    check_same_inputs(runs)
    labels = _labels(runs)
    kinds: dict[str, list[tuple[str, Path, dict[str, Any]]]] = {}
    flat: dict[str, Any] = {"runs": len(runs)}
    for label, run in zip(labels, runs, strict=True):
        file = run.path / "metrics.json"
        if not file.is_file():
            raise FileNotFoundError(f"{run.path} has no metrics.json: the run did not finish")
        metrics = read_json_object(file, what="compare")
        kinds.setdefault(run.kind, []).append((label, run.path, metrics))
        flat[f"{label}.kind"] = run.kind
        flat[f"{label}.input_fingerprint"] = run.fingerprint[:16]
        for key, value in metrics.items():
            if value is None or isinstance(value, bool | int | float | str):
                flat[f"{label}.{key}"] = value
    with claim_run_directory(out, run="compare",
                             mode="overwrite" if overwrite else "new") as out_dir:
        out_dir.write_config({"runs": [str(r.path.resolve()) for r in runs]}, seed=None)
        if _panels(kinds):
            out_dir.save_figure(_figure(kinds), "comparison")
        atomic_write_text(out_dir.file("report.md"),
                          _report(out_dir.path, labels, runs, kinds))
        out_dir.write_metrics(flat)  # last: the report is finished
    return flat


def _report(out: Path, labels: list[str], runs: Sequence[RunInputs],
            kinds: dict[str, list[tuple[str, Path, dict[str, Any]]]]) -> str:
    lines = ["# memcircuits comparison report", "",
             "Spike-level readouts against the equations they implement, for the runs below. "
             "Runs of one kind were checked to share their inputs (same input fingerprint) "
             "before any number was compared.", "",
             _table(["run", "kind", "seed", "inputs (fingerprint)", "directory"],
                    [[f"`{label}`", run.kind, run.description.get("seed"),
                      f"`{run.fingerprint[:12]}`", os.path.relpath(run.path.resolve(),
                                                                   out.resolve())]
                     for label, run in zip(labels, runs, strict=True)]), ""]
    if _panels(kinds):
        lines += ["![comparison](figures/comparison.png)", ""]
    for kind, entries in kinds.items():
        section = _kind_section(kind, [e[0] for e in entries], [e[2] for e in entries])
        if section:
            lines += [section, ""]
    lines += ["## Figures of each run", ""]
    for label, run in zip(labels, runs, strict=True):
        figures = sorted((run.path / "figures").glob("*.png"))
        if not figures:
            continue
        links = ", ".join(f"[{f.stem}]({os.path.relpath(f.resolve(), out.resolve())})"
                          for f in figures)
        lines.append(f"- `{label}`: {links}")
    lines += ["", "Reproduce: `memcircuits compare "
              + " ".join(str(r.path) for r in runs) + " --out DIR`", ""]
    return "\n".join(lines)
