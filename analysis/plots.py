"""Figures shared by the experiments: population rasters, per-presentation bars.

Functions take plain arrays (never Brian2 objects) and return matplotlib figures; saving is
the caller's job (:meth:`models.rundir.RunDirectory.save_figure`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["draw_capacity", "population_raster"]


def population_raster(populations: Mapping[str, tuple[np.ndarray, np.ndarray, int]],
                      window: tuple[float, float], *, max_neurons: int = 300,
                      markers: Sequence[tuple[float, str]] = (), title: str = "",
                      seed: int = 0):
    """Stacked spike rasters, one panel per population, over ``window`` (s).

    Parameters
    ----------
    populations
        Name -> ``(indices, times_s, size)``, plotted top to bottom in the given order.
    window
        ``(start, stop)`` in seconds.
    max_neurons
        Populations larger than this show the neurons that fired in the window first,
        then a random sample of the rest, up to ``max_neurons`` rows (the panel's label
        says so).
    markers
        ``(time_s, label)`` vertical lines, e.g. presentation onsets.
    """
    import matplotlib.pyplot as plt

    names = list(populations)
    heights = []
    for name in names:
        size = populations[name][2]
        heights.append(max(1.0, min(size, max_neurons) ** 0.5))
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.2 + 0.55 * sum(heights) / 2),
                             sharex=True, gridspec_kw={"height_ratios": heights},
                             squeeze=False)
    rng = np.random.default_rng(seed)
    start, stop = window
    for ax, name in zip(axes[:, 0], names, strict=True):
        indices, times, size = populations[name]
        indices, times = np.asarray(indices), np.asarray(times)
        sel = (times >= start) & (times < stop)
        indices, times = indices[sel], times[sel]
        label = f"{name}\n(n={size})"
        if size > max_neurons:
            fired = np.unique(indices)
            silent = np.setdiff1d(np.arange(size), fired)
            extra = max(0, max_neurons - len(fired))
            shown = np.concatenate([fired[:max_neurons],
                                    rng.choice(silent, min(extra, len(silent)), replace=False)])
            row = {int(k): r for r, k in enumerate(np.sort(shown))}
            keep = np.isin(indices, shown)
            indices, times = indices[keep], times[keep]
            y = np.array([row[int(k)] for k in indices])
            label = f"{name}\n({len(shown)} of {size})"
            rows = len(shown)
        else:
            y = indices
            rows = size
        ax.plot(times * 1000, y, "|", markersize=3, color="k")
        ax.set_ylim(-0.5, rows - 0.5)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
        ax.set_yticks([])
        for t, text in markers:
            if start <= t < stop:
                ax.axvline(t * 1000, color="tab:blue", lw=0.6, alpha=0.6)
                if ax is axes[0, 0] and text:
                    ax.text(t * 1000, rows - 0.5, text, fontsize=7, va="bottom",
                            color="tab:blue")
    axes[-1, 0].set_xlabel("time (ms)")
    axes[-1, 0].set_xlim(start * 1000, stop * 1000)
    if title:
        axes[0, 0].set_title(title, fontsize=10, pad=14)
    fig.tight_layout()
    return fig


def draw_capacity(ax: Any, runs: Sequence[tuple[str, Mapping[str, Any]]],
                  level: float = 0.99) -> None:
    """Draw capacity curves (bit accuracy vs load) of one or more runs on ``ax``.

    ``runs`` are ``(label, table)`` pairs with the layout of ``capacity.json`` (written by
    ``memcircuits figures cerebellum-capacity``): ``loads`` and, per query-noise level,
    ``query_noise``, ``accuracy_circuit`` (dots) and ``accuracy_abstract`` (lines).
    """
    import matplotlib.pyplot as plt

    markers = "osd^v"
    for r, (name, table) in enumerate(runs):
        labels = sorted((k for k in table if k != "loads"),
                        key=lambda k: table[k]["query_noise"])
        colors = plt.cm.plasma(np.linspace(0, 0.8, len(labels)))
        for color, label in zip(colors, labels, strict=True):
            row = table[label]
            noise = f"{100 * row['query_noise']:g}% noise"
            prefix = f"{name}: " if len(runs) > 1 else ""
            ax.plot(table["loads"], row["accuracy_abstract"], "-", color=color, lw=1,
                    label=f"{prefix}abstract SDM, {noise}")
            ax.plot(table["loads"], row["accuracy_circuit"], markers[r % len(markers)],
                    color=color, ms=4, label=f"{prefix}spiking circuit, {noise}")
    ax.axhline(level, color="k", ls=":", lw=0.8)
    ax.set_xlabel("load m (patterns stored)")
    ax.set_ylabel("bit accuracy vs stored value")
    ax.set_title("capacity: spiking cerebellum vs abstract SDM", fontsize=9)
    ax.legend(fontsize=7)
