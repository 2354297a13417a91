r"""``memcircuits open-field``: the spiking loop driven by a rat foraging in a box.

A rat forages for ``duration`` seconds in a 1 m arena (RatInABox, :func:`mapping.open_field.
forage`; or a trajectory of your own, ``trajectory``: a ``.npy`` file of ``(T, 2)``
positions in metres sampled every ``dt`` seconds). Its path is mapped onto a hexagonal world
laid over the arena (lattice spacing ``spacing``, :func:`mapping.open_field.walk_on_lattice`):
every change of nearest node is one step of the walk. The spiking loop
(:mod:`circuits.hippocampus`) runs that walk with the toroidal grid modules of the shipped
``torus`` TEM-t (``mec.source = "tem-t"``: Z5 x Z5 and Z7 x Z7, learned on hexagonal worlds)
and its memory neurons at that checkpoint's temperature (Poisson spiking, ``beta_scale`` =
its b). Each trajectory sample takes the activity of its step, so rate maps use the rat's
real occupancy, in bins of ``bin_size`` (2.5 cm) smoothed by one bin; rates are spikes per
theta cycle (one step of the walk is one cycle of the loop, whatever the time spent at a
node).

Measured, as for recordings:

- **MEC grid cells** (the query cells, one per phase of each module): Sargolini gridness of
  each rate map (:func:`analysis.gridness.gridness`); control: the same cell's activity
  circularly shifted along the trajectory by at least 20 s (``shuffles`` shifts; the field's
  usual shuffle, Sargolini et al. 2006), ``mec_gridness_fraction`` next to
  ``mec_gridness_shuffled_fraction`` and ``mec_grid_cell_fraction`` (gridness > 0.3 and above
  the cell's own 95th shuffled percentile); spacing and orientation
  (:func:`analysis.fields.grid_scale`) per module, and the ratio of module spacings.
- **memory neurons** (retrieval spikes): place fields (:func:`analysis.fields.place_fields`:
  > 20% of the peak, >= 9 bins), their number and area, and Skaggs information.

Not modelled: theta modulation within a cycle and phase precession (a step of the loop is one
theta cycle with fixed windows; nothing moves a cell's spikes within it).

Data: ``spikes.nwb``, ``trajectory.npz`` (positions, the walk and each sample's step),
``grid_cells.csv``. Figures: ``trajectory``, ``grid_cells``, ``gridness``,
``place_fields``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from brian2 import ms

from circuits.hippocampus.params import (
    HippocampusParams,
    LoopTiming,
    MECParams,
    MemoryParams,
)
from models.rundir import RunDirectory, atomic_write_csv
from models.seeding import child_seed

__all__ = ["Config", "run", "summarize"]

#: the MEC of the open field: the shipped toroidal TEM-t's modules (triangular grid cells);
#: 49 phases need 4.9 ms to settle, hence the longer step. With two modules, a recall that
#: tolerates one mismatched module would let any memory of the same symbol and one shared
#: module vote (on 504 nodes and 45 symbols, it moved a module in a third of the steps): the
#: recall must match both
OPEN_FIELD_CIRCUIT = HippocampusParams(
    backend="cython",
    mec=MECParams(source="tem-t", checkpoint="torus"),
    memory=MemoryParams(spiking="poisson", recall_tolerated_modules=0.0),
    timing=LoopTiming(step=24 * ms, action=21 * ms))
#: shortest circular shift of the shuffle control (Sargolini et al. 2006: 20 s)
MIN_SHIFT_S = 20.0


@dataclass(frozen=True)
class Config:
    """Parameters of ``memcircuits open-field``."""

    circuit: HippocampusParams = field(default_factory=lambda: OPEN_FIELD_CIRCUIT)
    arena_size: float = 1.0  #: side of the square arena / diameter of the circle, metres
    arena_shape: str = "square"  #: "square" or "circle"
    duration: float = 600.0  #: seconds of foraging (RatInABox)
    dt: float = 0.05  #: sampling interval of the trajectory, seconds
    trajectory: str = ""  #: a .npy file of (T, 2) positions in metres (empty: RatInABox)
    spacing: float = 0.05  #: lattice spacing of the hexagonal world over the arena, metres
    bin_size: float = 0.025  #: rate-map bin, metres (recordings: 2-3 cm)
    shuffles: int = 20  #: circular shifts per cell for the gridness control
    seed: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad field."""
        from mapping.open_field import ARENA_SHAPES

        if self.arena_shape not in ARENA_SHAPES:
            raise ValueError(f"arena_shape must be one of {', '.join(ARENA_SHAPES)}, got "
                             f"{self.arena_shape!r}")
        for name in ("arena_size", "duration", "dt", "spacing", "bin_size"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if self.spacing >= self.arena_size / 4:
            raise ValueError(f"spacing ({self.spacing} m) must be below a quarter of the "
                             f"arena ({self.arena_size} m): grid fields need room")
        if self.bin_size > self.spacing:
            raise ValueError(f"bin_size ({self.bin_size} m) must not exceed the lattice "
                             f"spacing ({self.spacing} m)")
        if self.duration < MIN_SHIFT_S * 2 + self.dt:
            raise ValueError(f"duration must exceed {2 * MIN_SHIFT_S:g} s (the shuffle "
                             f"control shifts by at least {MIN_SHIFT_S:g} s), got "
                             f"{self.duration}")
        if isinstance(self.shuffles, bool) or not isinstance(self.shuffles, int) \
                or self.shuffles < 1:
            raise ValueError(f"shuffles must be an integer >= 1, got {self.shuffles!r}")
        self.circuit.validate()
        if self.circuit.mec.source != "tem-t" or self.circuit.mec.checkpoint_name != "torus":
            raise ValueError("circuit.mec: the open field needs the toroidal modules "
                             "(mec.source 'tem-t', mec.checkpoint 'torus'): the only grid "
                             "modules that tile a hexagonal world")
        if self.trajectory:
            self.positions()  # a missing file or a sample outside the arena is refused now

    def positions(self) -> np.ndarray:
        """The trajectory: the file's, or RatInABox's (checked against the arena)."""
        from mapping.open_field import check_trajectory, forage

        if not self.trajectory:
            return forage(self.duration, size=self.arena_size, shape=self.arena_shape,
                          dt=self.dt, seed=self.seed)
        try:
            data = np.load(self.trajectory, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"trajectory: cannot read {self.trajectory} as a .npy array of "
                             f"positions ({exc})") from None
        return check_trajectory(data, self.arena_size, self.arena_shape)


def _nan_median(values: np.ndarray) -> float:
    """Median of the finite values (NaN if there is none)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if finite.size else float("nan")


def _shifted_gridness(samples: np.ndarray, positions: np.ndarray, rng: np.random.Generator,
                      n: int, min_shift: int, extent, bin_size: float) -> np.ndarray:
    """Gridness of ``n`` maps of ``samples`` circularly shifted by >= ``min_shift``."""
    from analysis.gridness import gridness
    from analysis.rate_maps import rate_map

    shifts = rng.integers(min_shift, len(samples) - min_shift, size=n)
    maps = rate_map(positions, np.stack([np.roll(samples, s) for s in shifts], 1),
                    bin_size=bin_size, extent=extent)
    return np.array([gridness(m) for m in maps.rate])


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Forage, walk the lattice, run the loop; grid cells and place fields."""
    from analysis.fields import grid_scale, place_fields
    from analysis.gridness import autocorrelogram, gridness
    from analysis.nwb import write_spikes
    from analysis.rate_maps import rate_map
    from analysis.spatial_information import spatial_information
    from circuits.hippocampus.loop import run_walk
    from mapping.hippocampus_vs_tem_t import tem_t_on_walk
    from mapping.open_field import arena_world, walk_on_lattice

    config.validate()
    positions = config.positions()
    world, node_positions = arena_world(config.arena_size, config.spacing,
                                        seed=child_seed(config.seed, "world"))
    lattice = walk_on_lattice(positions, world, node_positions)
    walk = lattice.walk
    steps = len(walk.actions)
    tem = tem_t_on_walk(world, walk, checkpoint="torus")
    params = replace(config.circuit, memory=replace(
        config.circuit.memory, n=max(config.circuit.memory.n, steps + 1),
        beta_scale=tem.beta_scale))
    readout = run_walk(params, world, walk, seed=child_seed(config.seed, "circuit"),
                       report="text" if progress else None)
    np.savez(run_dir.file("trajectory.npz"), positions=positions, nodes=walk.nodes,
             actions=walk.actions, step_of_sample=lattice.step_of_sample, dt=config.dt)

    # the grid (query) cells: one spike per cycle at the module's current phase
    modules = readout.inputs.modules
    per_step = np.zeros((steps + 1, modules.n_cells))
    for m in range(modules.n_modules):
        ok = readout.decoded_phase[:, m] >= 0
        per_step[np.flatnonzero(ok), modules.offsets[m] + readout.decoded_phase[ok, m]] = 1.0
    mec = per_step[lattice.step_of_sample]  # (T, cells)
    size = config.arena_size
    extent = (0.0, size, 0.0, size)
    maps = rate_map(positions, mec, bin_size=config.bin_size, extent=extent)
    scores = np.array([gridness(m) for m in maps.rate])
    rng = np.random.default_rng(child_seed(config.seed, "shuffle"))
    min_shift = round(MIN_SHIFT_S / config.dt)
    null = np.array([_shifted_gridness(mec[:, c], positions, rng, config.shuffles, min_shift,
                                       extent, config.bin_size)
                     for c in range(modules.n_cells)])  # (cells, shuffles)
    scale = [grid_scale(m, bin_size=config.bin_size) for m in maps.rate]
    # a cell whose shifted maps all lack a score (too little path) has no 95th percentile
    shuffled_95th = np.array([np.percentile(row[np.isfinite(row)], 95)
                              if np.isfinite(row).any() else np.nan for row in null])
    module_of = np.repeat(np.arange(modules.n_modules), modules.sizes)
    rows, spacing_by_module = [], []
    for c in range(modules.n_cells):
        rows.append({"cell": c, "module": int(module_of[c]), "gridness": scores[c],
                     "shuffled_95th": shuffled_95th[c],
                     "spacing_cm": 100 * scale[c].spacing,
                     "orientation_deg": scale[c].orientation})
    atomic_write_csv(run_dir.file("grid_cells.csv"), rows)
    metrics: dict[str, Any] = {
        "arena_size_m": size, "arena_shape": config.arena_shape,
        "duration_s": len(positions) * config.dt,
        "path_length_m": float(np.linalg.norm(np.diff(positions, axis=0), axis=1).sum()),
        "lattice_spacing_cm": 100 * config.spacing, "world": world.spec,
        "walk_steps": steps, "steps_filled": lattice.filled,
        "memory_neurons": params.memory.n, "circuit_beta_scale": tem.beta_scale,
        "path_integration_accuracy": float(
            (readout.decoded_phase == readout.inputs.true_phases).all(1).mean()),
        "mec_cells": modules.n_cells,
        "mec_gridness_median": _nan_median(scores),
        "mec_gridness_fraction": float(np.mean(scores > 0.3)),
        "mec_gridness_shuffled_fraction": float(np.mean(null > 0.3)),
        "mec_grid_cell_fraction": float(np.mean(
            (scores > 0.3) & (scores > shuffled_95th))),
    }
    for m in range(modules.n_modules):
        mine = module_of == m
        spacing = np.array([s.spacing for s in scale])[mine]
        spacing_by_module.append(_nan_median(spacing))
        metrics[f"module_{m}_phases"] = int(modules.sizes[m])
        metrics[f"module_{m}_gridness_fraction"] = float(np.mean(scores[mine] > 0.3))
        metrics[f"module_{m}_spacing_cm"] = 100 * spacing_by_module[m]
        metrics[f"module_{m}_orientation_deg"] = _nan_median(
            np.array([s.orientation for s in scale])[mine])
    ordered = np.sort(np.array(spacing_by_module))
    if len(ordered) > 1:
        metrics["module_spacing_ratio"] = float(ordered[1] / ordered[0])

    # memory neurons: retrieval spikes, place fields
    memory = readout.memory_counts.astype(float)[lattice.step_of_sample]  # (T, n)
    fired = np.flatnonzero(memory.sum(0) >= MIN_FIELD_SPIKES)
    memory_maps = rate_map(positions, memory[:, fired], bin_size=config.bin_size,
                           extent=extent)
    fields = [place_fields(m, bin_size=config.bin_size) for m in memory_maps.rate]
    info = np.atleast_1d(spatial_information(memory_maps.rate, memory_maps.occupancy))
    counts = np.array([f.count for f in fields])
    areas = np.concatenate([f.areas for f in fields]) if fields else np.zeros(0)
    metrics.update({
        "memory_neurons_with_spikes": int((memory.sum(0) > 0).sum()),
        "memory_neurons_mapped": len(fired),
        "place_fields_per_neuron_median": float(np.median(counts)) if counts.size
        else float("nan"),
        "memory_neurons_one_field": float(np.mean(counts == 1)) if counts.size
        else float("nan"),
        "place_field_area_cm2_median": float(np.median(areas) * 1e4) if areas.size
        else float("nan"),
        "memory_spatial_information_median": _nan_median(info),
    })
    write_spikes(run_dir.file("spikes.nwb"),
                 {"MEC": readout.spikes["grid"], "HPC": readout.spikes["memory"],
                  "LEC": readout.spikes["lec"]},
                 session_description=f"memcircuits open-field: {metrics['duration_s']:.0f} s "
                                     f"in a {size:g} m {config.arena_shape} arena",
                 experiment_description=f"seed {config.seed}")
    _figures(run_dir, config, positions, maps, scores, null, scale, module_of,
             memory_maps, fields, fired, autocorrelogram)
    return metrics


#: memory neurons with fewer retrieval spikes over the session are not mapped
MIN_FIELD_SPIKES = 10


def _figures(run_dir, config, positions, maps, scores, null, scale, module_of, memory_maps,
             fields, fired, autocorrelogram) -> None:
    import matplotlib.pyplot as plt

    size = config.arena_size
    extent = (0, 100 * size, 0, 100 * size)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(100 * positions[:, 0], 100 * positions[:, 1], lw=0.3, color="k")
    ax.set(xlabel="x (cm)", ylabel="y (cm)", aspect="equal",
           title=f"{len(positions) * config.dt:.0f} s of foraging (RatInABox)")
    fig.tight_layout()
    run_dir.save_figure(fig, "trajectory")

    shown = [c for m in np.unique(module_of) for c in
             np.flatnonzero(module_of == m)[np.argsort(-scores[module_of == m])][:2]]
    fig, axes = plt.subplots(2, len(shown), figsize=(2.4 * len(shown), 4.8))
    for k, c in enumerate(shown):
        axes[0, k].imshow(maps.rate[c], origin="lower", extent=extent, cmap="jet")
        axes[0, k].set_title(f"MEC cell {c} (module {module_of[c]})\nG = {scores[c]:.2f}, "
                             f"{100 * scale[c].spacing:.0f} cm", fontsize=8)
        axes[1, k].imshow(autocorrelogram(maps.rate[c]), origin="lower", cmap="jet")
        axes[1, k].set_title("autocorrelogram", fontsize=8)
        for ax in axes[:, k]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    run_dir.save_figure(fig, "grid_cells")

    fig, ax = plt.subplots(figsize=(5, 3.5))
    bins = np.linspace(-1.5, 2.0, 36)
    ax.hist(null.ravel()[np.isfinite(null.ravel())], bins=bins, density=True, color="0.7",
            label="shifted >= 20 s (control)")
    ax.hist(scores[np.isfinite(scores)], bins=bins, density=True, histtype="step", lw=2,
            color="tab:red", label="MEC cells")
    ax.axvline(0.3, color="k", ls=":")
    ax.set(xlabel="gridness", ylabel="density",
           title=f"{np.mean(scores > 0.3):.0%} of MEC cells above 0.3 "
                 f"(control {np.mean(null > 0.3):.0%})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    run_dir.save_figure(fig, "gridness")

    order = np.argsort([-f.peaks.max() if f.count else 0 for f in fields])[:6]
    fig, axes = plt.subplots(1, max(len(order), 1), figsize=(2.4 * max(len(order), 1), 2.8))
    for ax, k in zip(np.atleast_1d(axes), order, strict=False):
        ax.imshow(memory_maps.rate[k], origin="lower", extent=extent, cmap="jet")
        ax.contour(fields[k].labels > 0, levels=[0.5], colors="w", linewidths=0.8,
                   extent=extent)
        ax.set_title(f"memory neuron {fired[k]}\n{fields[k].count} field(s)", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("hippocampal memory neurons: place fields", fontsize=9)
    fig.tight_layout()
    run_dir.save_figure(fig, "place_fields")


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    nan = float("nan")
    lines = [
        f"open field: {metrics['duration_s']:.0f} s, {metrics['path_length_m']:.1f} m in a "
        f"{metrics['arena_size_m']:g} m {metrics['arena_shape']} arena; {metrics['world']} "
        f"lattice ({metrics['lattice_spacing_cm']:g} cm), {metrics['walk_steps']} steps",
        f"  MEC: gridness > 0.3 in {metrics['mec_gridness_fraction']:.2f} of "
        f"{metrics['mec_cells']} cells (shifted control "
        f"{metrics['mec_gridness_shuffled_fraction']:.2f}; above their own 95th percentile "
        f"too: {metrics['mec_grid_cell_fraction']:.2f}); "
        f"median gridness {metrics['mec_gridness_median']:.2f}",
        "  modules: " + ", ".join(
            f"{metrics[f'module_{m}_phases']} phases: {metrics[f'module_{m}_spacing_cm']:.1f}"
            f" cm at {metrics[f'module_{m}_orientation_deg']:.0f} deg"
            for m in range(10) if f"module_{m}_phases" in metrics)
        + f"; spacing ratio {metrics.get('module_spacing_ratio', nan):.2f}",
        f"  memory neurons: {metrics['memory_neurons_mapped']} mapped, median "
        f"{metrics['place_fields_per_neuron_median']:.0f} field(s) of "
        f"{metrics['place_field_area_cm2_median']:.0f} cm^2; information "
        f"{metrics['memory_spatial_information_median']:.2f} bits per spike",
    ]
    return "\n".join(lines)
