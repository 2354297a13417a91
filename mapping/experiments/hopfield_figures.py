r"""``memcircuits figures hopfield``: classic Hopfield capacity; modern Hopfield retrieval.

Protocol
--------
1. **Classic capacity** (Hopfield 1982; Amit, Gutfreund & Sompolinsky 1985). For each size
   :math:`N` in ``classic_sizes`` and load :math:`\alpha` in ``classic_loads``, store
   :math:`m = \operatorname{round}(\alpha N)` random bipolar patterns with the Hebbian rule
   (:class:`models.hopfield.ClassicHopfield`) and start the asynchronous zero-temperature
   dynamics **from the stored patterns themselves** (``classic_probe_flip = 0``; a positive
   value flips that fraction of bits first). Each probe runs to a fixed point (at most
   ``classic_max_sweeps`` sweeps). ``classic_probes`` probes per point are spread over
   :math:`\lceil \text{probes} / m \rceil` independent pattern sets. Measured: the final
   overlap :math:`m^\mu = x^\mu \cdot s / N` with the pattern the probe started from and the
   bit error :math:`(1 - m^\mu)/2`, averaged over probes. The AGS theory for
   :math:`N \to \infty` has retrieval states up to :math:`\alpha_c \approx 0.138` (about
   1.5 % wrong bits there) and none above; finite networks shift and smooth the transition.

   **Estimated** :math:`\alpha_c(N)`: the load where the mean final overlap first drops
   below ``overlap_threshold`` (0.9, i.e. 5 % wrong bits), linearly interpolated between the
   two grid loads around the crossing (null when it does not cross inside the grid).
2. **Modern capacity** (Ramsauer et al. 2020). For each :math:`N` in ``modern_sizes`` and
   load :math:`m/N` in ``modern_loads``, store :math:`m` random bipolar patterns, probe with
   ``modern_probes`` of them after flipping exactly ``round(modern_probe_flip * N)`` bits,
   and iterate :math:`\xi \leftarrow X^\top \operatorname{softmax}(\beta X \xi)` at
   ``beta_high`` to tolerance. A probe is *retrieved* when :math:`\operatorname{sign}(\xi^*)`
   equals its pattern in every bit. Retrieval counts as *perfect* at a load when at least
   ``perfect_fraction`` of the probes are retrieved; the reported capacity is the largest
   load such that it and every smaller tested load are perfect. Also measured: the number
   of updates to reach the tolerance (:class:`models.hopfield.ModernRetrieval`), and the
   relative distance :math:`\lVert \xi^1 - x^\mu \rVert / \lVert x^\mu \rVert` after exactly
   one update.
3. **Metastable mixtures.** ``mixture_clusters`` random prototypes in
   :math:`N` = ``mixture_n`` dimensions, each with ``mixture_cluster_size`` members (the
   prototype with each bit flipped with probability ``mixture_cluster_flip``); probes are
   members with ``round(mixture_probe_flip * N)`` bits flipped. For each :math:`\beta` in
   ``mixture_betas`` the probes run to a fixed point :math:`\xi^*` and the softmax weights
   :math:`p = \operatorname{softmax}(\beta X \xi^*)` are measured: largest weight, number
   of patterns with :math:`p_\mu \ge` ``substantial_weight``, effective number of patterns
   :math:`1 / \sum_\mu p_\mu^2`, weight on the probe's own cluster. Three regimes appear:
   the global fixed point (weight spread over all patterns) at small :math:`\beta`,
   metastable cluster mixtures at intermediate :math:`\beta`, single-pattern retrieval at
   large :math:`\beta`. The energy :math:`E(\xi^t)` is tracked along every trajectory (in
   float64) to check that it never increases (CCCP).

Metrics (``metrics.json``, flat)
--------------------------------
Numbers in key names use Python's ``:g`` format (``0.1``, ``0.08``, ``1``).

- ``classic_alpha_c_N{N}``: estimated :math:`\alpha_c` for each size (null: no crossing).
- ``classic_error_alpha0.1_N{N}``, ``classic_error_alpha0.2_N{N}``: mean fraction of wrong
  bits after convergence at :math:`\alpha = 0.1` and :math:`0.2` (linear interpolation in
  :math:`\alpha` if the grid lacks them; null outside the grid).
- ``classic_converged_fraction``: fraction of all classic probes that reached a fixed point.
- ``modern_max_load_perfect_N{N}``, ``modern_max_patterns_perfect_N{N}``: capacity as
  :math:`m/N` and as :math:`m` (0 when even the smallest load fails).
- ``modern_exact_fraction_max_load_N{N}``: fraction retrieved at the largest tested load.
- ``modern_max_load_perfect``, ``modern_max_patterns_perfect``: the same at
  :math:`N` = ``modern_main_n``; ``modern_max_load_tested``: the largest load tried.
- ``modern_iterations_high_beta`` (mean), ``modern_iterations_high_beta_max``,
  ``modern_converged_fraction_high_beta``: updates to tolerance at ``beta_high``, over all
  probes and loads at :math:`N` = ``modern_main_n``.
- ``modern_one_step_error_high_beta``: mean relative distance to the stored pattern after
  one update, same probes.
- ``modern_max_weight_beta{b}``, ``modern_n_substantial_beta{b}``,
  ``modern_effective_patterns_beta{b}``, ``modern_iterations_beta{b}`` for each mixture
  :math:`\beta`.
- ``modern_max_weight_low_beta``, ``modern_n_substantial_low_beta``,
  ``modern_effective_patterns_low_beta``, ``modern_cluster_weight_low_beta``,
  ``modern_exact_fraction_low_beta``: the mixture statistics at ``beta_low``.
- ``modern_max_weight_high_beta``, ``modern_n_substantial_high_beta``: the same at
  ``beta_high`` on the mixture patterns.
- ``modern_energy_max_increase``: largest :math:`E(\xi^{t+1}) - E(\xi^t)` over all
  mixture trajectories (<= ~1e-12 in float64 if the CCCP guarantee holds).

Data: ``classic_curves.csv``, ``modern_capacity.csv``, ``modern_mixtures.csv``.
Figures: ``classic_capacity``, ``modern_capacity``, ``modern_convergence``,
``modern_mixtures``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from mapping.measures import AGS_ALPHA_C, estimate_alpha_c
from models._checks import (
    check_choice,
    check_device,
    check_int,
    check_probability,
    check_real,
)
from models.hopfield import (
    ClassicHopfield,
    modern_energy,
    modern_retrieve,
    modern_update,
    softmax_weights,
)
from models.patterns import flip_bits, flip_exact, random_bipolar
from models.rundir import RunDirectory, atomic_write_text
from models.seeding import child_seed

__all__ = ["Config", "run", "summarize"]



@dataclass(frozen=True)
class Config:
    """Parameters of the Hopfield experiment (see the module docstring for the protocol)."""

    # --- classic Hopfield capacity (Amit, Gutfreund & Sompolinsky 1985) ---
    classic_sizes: tuple[int, ...] = (100, 200, 500, 1000)  # N, units
    classic_loads: tuple[float, ...] = (0.05, 0.08, 0.1, 0.11, 0.12, 0.13, 0.14, 0.15, 0.16,
                                        0.18, 0.2, 0.25, 0.3)  # alpha = m / N
    classic_probes: int = 200          # probes per (N, alpha), over ceil(probes/m) pattern sets
    classic_probe_flip: float = 0.0    # fraction of bits flipped in a probe (0: the pattern)
    classic_mode: Literal["async", "sync"] = "async"  # update rule (AGS: asynchronous)
    classic_max_sweeps: int = 100      # sweeps before a probe is declared not converged
    overlap_threshold: float = 0.9     # alpha_c criterion: mean final overlap drops below it
    # --- modern Hopfield capacity and convergence (Ramsauer et al. 2020) ---
    modern_sizes: tuple[int, ...] = (32, 64, 100)  # N, pattern dimension
    modern_loads: tuple[int, ...] = (1, 10, 50, 100, 200, 500)  # m / N (patterns per unit)
    modern_main_n: int = 100           # N whose capacity/iterations are the headline numbers
    modern_probes: int = 200           # probes per (N, load)
    modern_probe_flip: float = 0.2     # fraction of bits flipped (exactly) in a probe
    beta_high: float = 1.0             # beta for retrieval (dot products are O(N) here)
    modern_tol: float = 1e-5           # relative tolerance ||xi' - xi|| <= tol * M
    modern_max_iter: int = 200         # most updates per probe
    perfect_fraction: float = 0.99     # fraction retrieved exactly that counts as "perfect"
    # --- metastable mixtures (Ramsauer et al. 2020, "metastable states") ---
    mixture_n: int = 100               # N, pattern dimension
    mixture_clusters: int = 10         # prototypes
    mixture_cluster_size: int = 5      # patterns per prototype
    mixture_cluster_flip: float = 0.05  # bit-flip probability from prototype to member
    mixture_probe_flip: float = 0.1    # fraction of bits flipped (exactly) in a probe
    mixture_betas: tuple[float, ...] = (0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.12, 0.15,
                                        0.2, 0.3, 0.5, 1.0, 2.0)  # beta grid
    beta_low: float = 0.08             # beta of the headline mixture statistics
    substantial_weight: float = 0.1    # softmax weight that counts a pattern as "in" a mixture
    # --- run ---
    device: str = "cpu"                # torch device ("cpu", "cuda", "cuda:1", ...)
    num_threads: int = 1               # torch CPU threads (applied by the CLI; 0: torch default)
    seed: int = 0                      # master seed (every draw uses a named child seed)

    def validate(self) -> None:
        """Raise ValueError/TypeError naming the first bad field."""
        _nonempty("classic_sizes", self.classic_sizes)
        for n in self.classic_sizes:
            check_int("classic_sizes", n, minimum=2)
        _nonempty("classic_loads", self.classic_loads)
        for alpha in self.classic_loads:
            check_real("classic_loads", alpha, minimum=0.0, strict_minimum=True, maximum=1.0)
        if list(self.classic_loads) != sorted(self.classic_loads):
            raise ValueError(f"classic_loads must be increasing, got {self.classic_loads}")
        check_int("classic_probes", self.classic_probes, minimum=1)
        check_probability("classic_probe_flip", self.classic_probe_flip)
        check_choice("classic_mode", self.classic_mode, ("async", "sync"))
        check_int("classic_max_sweeps", self.classic_max_sweeps, minimum=1)
        check_real("overlap_threshold", self.overlap_threshold, minimum=0.0,
                   strict_minimum=True, maximum=1.0)
        _nonempty("modern_sizes", self.modern_sizes)
        for n in self.modern_sizes:
            check_int("modern_sizes", n, minimum=1)
        _nonempty("modern_loads", self.modern_loads)
        for load in self.modern_loads:
            check_int("modern_loads", load, minimum=1)
        if list(self.modern_loads) != sorted(set(self.modern_loads)):
            raise ValueError(f"modern_loads must be strictly increasing, got "
                             f"{self.modern_loads}")
        check_int("modern_main_n", self.modern_main_n, minimum=1)
        if self.modern_main_n not in self.modern_sizes:
            raise ValueError(f"modern_main_n must be one of modern_sizes "
                             f"{self.modern_sizes}, got {self.modern_main_n}")
        check_int("modern_probes", self.modern_probes, minimum=1)
        check_probability("modern_probe_flip", self.modern_probe_flip)
        check_real("beta_high", self.beta_high, minimum=0.0, strict_minimum=True)
        check_real("modern_tol", self.modern_tol, minimum=0.0, strict_minimum=True)
        check_int("modern_max_iter", self.modern_max_iter, minimum=1)
        check_real("perfect_fraction", self.perfect_fraction, minimum=0.0, strict_minimum=True,
                   maximum=1.0)
        check_int("mixture_n", self.mixture_n, minimum=1)
        check_int("mixture_clusters", self.mixture_clusters, minimum=1)
        check_int("mixture_cluster_size", self.mixture_cluster_size, minimum=1)
        check_probability("mixture_cluster_flip", self.mixture_cluster_flip)
        check_probability("mixture_probe_flip", self.mixture_probe_flip)
        _nonempty("mixture_betas", self.mixture_betas)
        for beta in self.mixture_betas:
            check_real("mixture_betas", beta, minimum=0.0, strict_minimum=True)
        if list(self.mixture_betas) != sorted(set(self.mixture_betas)):
            raise ValueError(f"mixture_betas must be strictly increasing, got "
                             f"{self.mixture_betas}")
        check_real("beta_low", self.beta_low, minimum=0.0, strict_minimum=True)
        check_probability("substantial_weight", self.substantial_weight)
        check_device("device", self.device)
        check_int("num_threads", self.num_threads, minimum=0)
        check_int("seed", self.seed, minimum=0)
        self._check_memory()

    def _check_memory(self) -> None:
        """Refuse sizes whose tensors would not fit the memory budget.

        The classic ``N x N`` weights and ``(alpha N) x N`` patterns, the modern ``(load N) x N``
        patterns with their ``probes x load N`` similarities (float64, a few copies).
        """
        from models._memory import refuse_over_budget

        big_n = max(self.classic_sizes)
        classic = big_n * big_n + max(self.classic_loads) * big_n * big_n \
            + self.classic_probes * big_n
        n_mod, load = max(self.modern_sizes), max(self.modern_loads)
        modern = load * n_mod * n_mod + self.modern_probes * load * n_mod \
            + self.modern_probes * n_mod
        mixture = self.mixture_clusters * self.mixture_cluster_size * self.mixture_n \
            * (1 + len(self.mixture_betas))
        terms = {"classic_sizes": (big_n, classic), "mixture_n": (self.mixture_n, mixture),
                 "modern_loads" if load >= n_mod else "modern_sizes":
                     (load if load >= n_mod else n_mod, modern)}
        name = max(terms, key=lambda k: terms[k][1])
        value, elements = terms[name]
        refuse_over_budget(name, value, 4 * 8 * float(elements),
                           f"{float(elements):.3g} float64 numbers, a few copies each")


def _nonempty(name: str, values: tuple[Any, ...]) -> None:
    if len(values) == 0:
        raise ValueError(f"{name} must hold at least one value")


def _key(value: float) -> str:
    return f"{value:g}"


# ----------------------------------------------------------------------------------------
# estimators
# ----------------------------------------------------------------------------------------


def _interp_or_nan(x: float, xs: np.ndarray, ys: np.ndarray) -> float:
    if x < xs[0] - 1e-12 or x > xs[-1] + 1e-12:
        return math.nan
    return float(np.interp(x, xs, ys))


# ----------------------------------------------------------------------------------------
# the three parts
# ----------------------------------------------------------------------------------------


def _classic(config: Config, bar: Any) -> list[dict[str, float]]:
    """One row per (N, m): mean/median overlap, error, sem, convergence, sweeps."""
    rows = []
    for n_units in config.classic_sizes:
        done_m: set[int] = set()
        for alpha in config.classic_loads:
            m = max(1, round(alpha * n_units))
            bar.update()
            if m in done_m:  # two grid loads round to the same m for this N
                continue
            done_m.add(m)
            n_sets = math.ceil(config.classic_probes / m)
            final_overlaps, sweeps, converged = [], [], []
            remaining = config.classic_probes
            for j in range(n_sets):
                patterns = random_bipolar(m, n_units, seed=child_seed(
                    config.seed, "classic", n_units, m, j), device=config.device)
                count = min(m, remaining)
                remaining -= count
                targets = patterns[:count]
                probes = targets
                if config.classic_probe_flip > 0:
                    probes = flip_bits(targets, config.classic_probe_flip, seed=child_seed(
                        config.seed, "classic_probe", n_units, m, j))
                net = ClassicHopfield(patterns, device=config.device)
                result = net.retrieve(probes, mode=config.classic_mode,
                                      max_sweeps=config.classic_max_sweeps,
                                      seed=child_seed(config.seed, "classic_order",
                                                      n_units, m, j))
                final_overlaps.append((result.states * targets).double().mean(dim=1).cpu())
                sweeps.append(result.sweeps.cpu())
                converged.append(result.converged.cpu())
            overlap = torch.cat(final_overlaps).double().numpy()
            error = (1.0 - overlap) / 2.0
            rows.append({
                "N": n_units, "m": m, "alpha": m / n_units, "probes": overlap.size,
                "mean_overlap": float(overlap.mean()),
                "median_overlap": float(np.median(overlap)),
                "error": float(error.mean()),
                "error_sem": float(error.std(ddof=1) / math.sqrt(error.size))
                if error.size > 1 else 0.0,
                "converged": float(torch.cat(converged).float().mean()),
                "mean_sweeps": float(torch.cat(sweeps).float().mean()),
            })
    return rows


def _modern_capacity(config: Config, bar: Any) -> list[dict[str, float]]:
    """One row per (N, load): fraction retrieved, bit error, iterations, one-step error."""
    rows = []
    for n_units in config.modern_sizes:
        flips = round(config.modern_probe_flip * n_units)
        for load in config.modern_loads:
            m = load * n_units
            patterns = random_bipolar(m, n_units, seed=child_seed(
                config.seed, "modern", n_units, load), device=config.device)
            targets = patterns[torch.arange(config.modern_probes, device=patterns.device) % m]
            probes = flip_exact(targets, flips, seed=child_seed(
                config.seed, "modern_probe", n_units, load))
            result = modern_retrieve(patterns, probes, config.beta_high, tol=config.modern_tol,
                                     max_iter=config.modern_max_iter)
            exact = (torch.sign(result.states) == targets).all(dim=1)
            bit_error = (torch.sign(result.states) != targets).double().mean()
            one_step = modern_update(patterns, probes, config.beta_high)
            one_step_error = ((one_step - targets).norm(dim=1) / targets.norm(dim=1)).mean()
            rows.append({
                "N": n_units, "load": load, "m": m, "probe_flips": flips,
                "exact_fraction": float(exact.double().mean()),
                "bit_error": float(bit_error),
                "mean_iterations": float(result.iterations.double().mean()),
                "max_iterations": int(result.iterations.max()),
                "converged": float(result.converged.double().mean()),
                "one_step_error": float(one_step_error),
            })
            bar.update()
    return rows


def _mixture_patterns(config: Config) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Clustered patterns (m, N), their cluster ids (m,), and the probes (m, N)."""
    prototypes = random_bipolar(config.mixture_clusters, config.mixture_n,
                                seed=child_seed(config.seed, "mixture_prototypes"),
                                device=config.device)
    members = prototypes.repeat_interleave(config.mixture_cluster_size, dim=0)
    patterns = flip_bits(members, config.mixture_cluster_flip,
                         seed=child_seed(config.seed, "mixture_members"))
    clusters = torch.arange(config.mixture_clusters, device=patterns.device
                            ).repeat_interleave(config.mixture_cluster_size)
    probes = flip_exact(patterns, round(config.mixture_probe_flip * config.mixture_n),
                        seed=child_seed(config.seed, "mixture_probe"))
    return patterns, clusters, probes


def _energy_trajectory(patterns: torch.Tensor, probes: torch.Tensor, beta: float,
                       steps: int) -> np.ndarray:
    """(steps + 1, batch) energies along ``steps`` updates, in float64."""
    x = patterns.double()
    xi = probes.double()
    energies = [modern_energy(x, xi, beta)]
    for _ in range(steps):
        xi = modern_update(x, xi, beta)
        energies.append(modern_energy(x, xi, beta))
    return torch.stack(energies).cpu().numpy()


def _mixtures(config: Config, bar: Any) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """One row per beta of the fixed points' softmax statistics; trajectories for figures."""
    patterns, clusters, probes = _mixture_patterns(config)
    same_cluster = (clusters[:, None] == clusters[None, :]).double()  # (probes, m)
    betas = sorted(set(config.mixture_betas) | {config.beta_low, config.beta_high})
    rows, profiles, energies = [], {}, {}
    for beta in betas:
        result = modern_retrieve(patterns, probes, beta, tol=config.modern_tol,
                                 max_iter=config.modern_max_iter)
        weights = softmax_weights(patterns, result.states, beta).double()   # (probes, m)
        rows.append({
            "beta": beta,
            "max_weight": float(weights.max(dim=1).values.mean()),
            "n_substantial": float((weights >= config.substantial_weight).sum(dim=1)
                                   .double().mean()),
            "effective_patterns": float((1.0 / (weights**2).sum(dim=1)).mean()),
            "cluster_weight": float((weights * same_cluster).sum(dim=1).mean()),
            "exact_fraction": float((torch.sign(result.states) == patterns).all(dim=1)
                                    .double().mean()),
            "mean_iterations": float(result.iterations.double().mean()),
            "converged": float(result.converged.double().mean()),
        })
        profiles[beta] = weights[0].cpu().numpy()
        steps = min(int(result.iterations.max()) + 1, config.modern_max_iter)
        energies[beta] = _energy_trajectory(patterns, probes, beta, steps)
        bar.update()
    return rows, {"profiles": profiles, "energies": energies, "clusters": clusters.cpu()}


# ----------------------------------------------------------------------------------------
# run, metrics, figures
# ----------------------------------------------------------------------------------------


def run(config: Config, run_dir: RunDirectory, *, progress: bool = True) -> dict[str, Any]:
    """Run the three parts; save data and figures into ``run_dir``; return flat metrics."""
    from tqdm.auto import tqdm

    config.validate()
    n_mix = len(set(config.mixture_betas) | {config.beta_low, config.beta_high})
    total = (len(config.classic_sizes) * len(config.classic_loads)
             + len(config.modern_sizes) * len(config.modern_loads) + n_mix)
    with tqdm(total=total, desc="hopfield", disable=not progress, unit="point") as bar:
        classic_rows = _classic(config, bar)
        capacity_rows = _modern_capacity(config, bar)
        mixture_rows, traces = _mixtures(config, bar)
    _write_csv(run_dir, "classic_curves.csv", classic_rows)
    _write_csv(run_dir, "modern_capacity.csv", capacity_rows)
    _write_csv(run_dir, "modern_mixtures.csv", mixture_rows)
    metrics = _metrics(config, classic_rows, capacity_rows, mixture_rows, traces)
    _figures(config, classic_rows, capacity_rows, mixture_rows, traces, metrics, run_dir)
    return metrics


def _write_csv(run_dir: RunDirectory, name: str, rows: list[dict[str, float]]) -> None:
    columns = list(rows[0])
    lines = [",".join(columns)]
    lines += [",".join(f"{row[c]:.10g}" if isinstance(row[c], float) else str(row[c])
                       for c in columns) for row in rows]
    atomic_write_text(run_dir.file(name), "\n".join(lines) + "\n")


def _capacity(rows: list[dict[str, float]], n_units: int, perfect: float) -> tuple[int, float]:
    """Largest load with every load up to it perfect; exact fraction at the largest load."""
    mine = sorted((r for r in rows if r["N"] == n_units), key=lambda r: r["load"])
    best = 0
    for row in mine:
        if row["exact_fraction"] < perfect:
            break
        best = int(row["load"])
    return best, mine[-1]["exact_fraction"]


def _metrics(config: Config, classic_rows: list[dict[str, float]],
             capacity_rows: list[dict[str, float]], mixture_rows: list[dict[str, float]],
             traces: dict[str, Any]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    total_probes = sum(r["probes"] for r in classic_rows)
    metrics["classic_converged_fraction"] = sum(
        r["converged"] * r["probes"] for r in classic_rows) / total_probes
    for n_units in config.classic_sizes:
        mine = [r for r in classic_rows if r["N"] == n_units]
        alphas = np.array([r["alpha"] for r in mine])
        metrics[f"classic_alpha_c_N{n_units}"] = estimate_alpha_c(
            alphas, [r["mean_overlap"] for r in mine], config.overlap_threshold)
        errors = np.array([r["error"] for r in mine])
        for alpha in (0.1, 0.2):
            metrics[f"classic_error_alpha{_key(alpha)}_N{n_units}"] = _interp_or_nan(
                alpha, alphas, errors)

    for n_units in config.modern_sizes:
        load, at_max = _capacity(capacity_rows, n_units, config.perfect_fraction)
        metrics[f"modern_max_load_perfect_N{n_units}"] = load
        metrics[f"modern_max_patterns_perfect_N{n_units}"] = load * n_units
        metrics[f"modern_exact_fraction_max_load_N{n_units}"] = at_max
    main = config.modern_main_n
    metrics["modern_max_load_perfect"] = metrics[f"modern_max_load_perfect_N{main}"]
    metrics["modern_max_patterns_perfect"] = metrics[f"modern_max_patterns_perfect_N{main}"]
    metrics["modern_max_load_tested"] = max(config.modern_loads)
    main_rows = [r for r in capacity_rows if r["N"] == main]
    metrics["modern_iterations_high_beta"] = float(np.mean(
        [r["mean_iterations"] for r in main_rows]))
    metrics["modern_iterations_high_beta_max"] = max(r["max_iterations"] for r in main_rows)
    metrics["modern_converged_fraction_high_beta"] = float(np.mean(
        [r["converged"] for r in main_rows]))
    metrics["modern_one_step_error_high_beta"] = float(np.mean(
        [r["one_step_error"] for r in main_rows]))

    by_beta = {r["beta"]: r for r in mixture_rows}
    for beta in config.mixture_betas:
        row = by_beta[beta]
        b = _key(beta)
        metrics[f"modern_max_weight_beta{b}"] = row["max_weight"]
        metrics[f"modern_n_substantial_beta{b}"] = row["n_substantial"]
        metrics[f"modern_effective_patterns_beta{b}"] = row["effective_patterns"]
        metrics[f"modern_iterations_beta{b}"] = row["mean_iterations"]
    low, high = by_beta[config.beta_low], by_beta[config.beta_high]
    metrics["modern_max_weight_low_beta"] = low["max_weight"]
    metrics["modern_n_substantial_low_beta"] = low["n_substantial"]
    metrics["modern_effective_patterns_low_beta"] = low["effective_patterns"]
    metrics["modern_cluster_weight_low_beta"] = low["cluster_weight"]
    metrics["modern_exact_fraction_low_beta"] = low["exact_fraction"]
    metrics["modern_max_weight_high_beta"] = high["max_weight"]
    metrics["modern_n_substantial_high_beta"] = high["n_substantial"]
    increases = [float(np.diff(e, axis=0).max()) for e in traces["energies"].values()
                 if e.shape[0] > 1]
    metrics["modern_energy_max_increase"] = max(increases) if increases else 0.0
    return metrics


def _figures(config: Config, classic_rows: list[dict[str, float]],
             capacity_rows: list[dict[str, float]], mixture_rows: list[dict[str, float]],
             traces: dict[str, Any], metrics: dict[str, Any], run_dir: RunDirectory) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    start = "stored patterns" if config.classic_probe_flip == 0 else (
        f"patterns with {config.classic_probe_flip:.0%} bits flipped")

    # 1. classic capacity
    fig, (ax_err, ax_ov) = plt.subplots(1, 2, figsize=(11, 4.2))
    for n_units in config.classic_sizes:
        mine = [r for r in classic_rows if r["N"] == n_units]
        alphas = [r["alpha"] for r in mine]
        ax_err.errorbar(alphas, [r["error"] for r in mine], yerr=[r["error_sem"] for r in mine],
                        marker="o", ms=3, capsize=2, label=f"N = {n_units}")
        line = ax_ov.plot(alphas, [r["mean_overlap"] for r in mine], marker="o", ms=3,
                          label=f"N = {n_units}")[0]
        alpha_c = metrics[f"classic_alpha_c_N{n_units}"]
        if np.isfinite(alpha_c):
            ax_ov.plot([alpha_c], [config.overlap_threshold], marker="x", ms=9, mew=2,
                       color=line.get_color())
    for ax in (ax_err, ax_ov):
        ax.axvline(AGS_ALPHA_C, color="k", ls="--", lw=1, label=r"AGS $\alpha_c = 0.138$")
        ax.set_xlabel(r"load $\alpha = m / N$")
        ax.grid(alpha=0.3)
    ax_ov.axhline(config.overlap_threshold, color="gray", ls=":", lw=1,
                  label=f"criterion {config.overlap_threshold:g} (x: estimate)")
    ax_err.set_ylabel("fraction of wrong bits at the fixed point")
    ax_err.set_title(f"Classic Hopfield ({config.classic_mode}), probes = {start}")
    ax_ov.set_ylabel(r"mean final overlap $m^\mu$")
    ax_ov.set_title(r"Retrieval overlap and estimated $\alpha_c(N)$")
    ax_err.legend(fontsize=8)
    ax_ov.legend(fontsize=8)
    run_dir.save_figure(fig, "classic_capacity")

    # 2. modern capacity
    fig, (ax_fr, ax_it) = plt.subplots(1, 2, figsize=(11, 4.2))
    for n_units in config.modern_sizes:
        mine = [r for r in capacity_rows if r["N"] == n_units]
        loads = [r["load"] for r in mine]
        ax_fr.plot(loads, [r["exact_fraction"] for r in mine], marker="o", label=f"N = {n_units}")
        ax_it.plot(loads, [r["mean_iterations"] for r in mine], marker="o",
                   label=f"N = {n_units}")
    ax_fr.axhline(config.perfect_fraction, color="gray", ls=":", lw=1,
                  label=f"'perfect' = {config.perfect_fraction:g}")
    ax_fr.axvline(AGS_ALPHA_C, color="k", ls="--", lw=1, label="classic 0.138 N")
    for ax in (ax_fr, ax_it):
        ax.set_xscale("log")
        ax.set_xlabel("stored patterns per unit  m / N")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax_fr.set_ylabel("fraction of probes retrieved exactly")
    ax_fr.set_title(f"Modern Hopfield, beta = {config.beta_high:g}, "
                    f"{config.modern_probe_flip:.0%} bits flipped")
    ax_it.set_ylabel("mean updates to tolerance")
    ax_it.set_title("Convergence (1 = one update)")
    run_dir.save_figure(fig, "modern_capacity")

    # 3. convergence: energies along trajectories, iterations vs beta
    fig, (ax_en, ax_itb) = plt.subplots(1, 2, figsize=(11, 4.2))
    betas = [r["beta"] for r in mixture_rows]
    shown = sorted({min(betas), config.beta_low, config.beta_high})
    for colour, beta in enumerate(shown):
        energy = traces["energies"][beta]                  # (steps + 1, probes)
        steps = np.arange(energy.shape[0])
        for probe in range(min(5, energy.shape[1])):
            ax_en.plot(steps, energy[:, probe], lw=1, color=f"C{colour}",
                       label=f"beta = {beta:g}" if probe == 0 else None)
    ax_en.set_xlabel("update t")
    ax_en.set_ylabel(r"energy $E(\xi^t)$")
    ax_en.set_title("Energy never increases (CCCP), 5 probes per beta")
    ax_en.legend(fontsize=8)
    ax_en.grid(alpha=0.3)
    ax_itb.plot(betas, [r["mean_iterations"] for r in mixture_rows], marker="o")
    ax_itb.set_xscale("log")
    ax_itb.set_xlabel("beta")
    ax_itb.set_ylabel("mean updates to tolerance")
    ax_itb.set_title(f"Clustered patterns, N = {config.mixture_n}")
    ax_itb.grid(alpha=0.3)
    run_dir.save_figure(fig, "modern_convergence")

    # 4. metastable mixtures
    fig, (ax_w, ax_n, ax_p) = plt.subplots(1, 3, figsize=(16, 4.2))
    ax_w.plot(betas, [r["max_weight"] for r in mixture_rows], marker="o",
              label="largest softmax weight")
    ax_w.plot(betas, [r["cluster_weight"] for r in mixture_rows], marker="s",
              label="weight on the probe's cluster")
    ax_w.plot(betas, [r["exact_fraction"] for r in mixture_rows], marker="^",
              label="fraction retrieving its own pattern")
    ax_w.set_ylabel("at the fixed point (mean over probes)")
    ax_w.set_title(f"{config.mixture_clusters} clusters x {config.mixture_cluster_size} "
                   f"patterns, N = {config.mixture_n}")
    ax_n.plot(betas, [r["effective_patterns"] for r in mixture_rows], marker="o",
              label=r"effective patterns $1/\sum_\mu p_\mu^2$")
    ax_n.plot(betas, [r["n_substantial"] for r in mixture_rows], marker="s",
              label=f"patterns with p >= {config.substantial_weight:g}")
    ax_n.axhline(config.mixture_cluster_size, color="gray", ls=":", lw=1, label="cluster size")
    ax_n.set_yscale("symlog", linthresh=1.0)
    ax_n.set_ylim(bottom=0.0)
    ax_n.set_ylabel("number of patterns in the fixed point")
    ax_n.set_title("Global average -> metastable mixture -> one pattern")
    for ax in (ax_w, ax_n):
        ax.axvline(config.beta_low, color="k", ls="--", lw=0.8,
                   label=f"beta_low = {config.beta_low:g} (headline metrics)")
        ax.set_xscale("log")
        ax.set_xlabel("beta")
        ax.grid(alpha=0.3)
    # below the axes: inside, the legend would hide the rising curves
    ax_w.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax_n.legend(fontsize=8, loc="upper right")
    index = np.arange(len(traces["clusters"]))
    for beta, marker in zip(shown, ("o", "s", "^"), strict=False):
        ax_p.plot(index, np.maximum(traces["profiles"][beta], 1e-8), marker=marker, ms=3,
                  lw=0.8, label=f"beta = {beta:g}")
    ax_p.set_ylim(1e-6, 2.0)
    ax_p.set_yscale("log")
    ax_p.set_xlabel("stored pattern (grouped by cluster); the probe is a noisy pattern 0")
    ax_p.set_ylabel("softmax weight at the fixed point")
    ax_p.set_title("Weights of one probe's fixed point")
    ax_p.legend(fontsize=8)
    ax_p.grid(alpha=0.3)
    run_dir.save_figure(fig, "modern_mixtures")


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


def summarize(metrics: dict[str, Any]) -> str:
    """A few lines with the headline numbers."""
    sizes = sorted(int(k.split("_N")[1]) for k in metrics if k.startswith("classic_alpha_c_N"))
    alpha_c = ", ".join(f"N={n}: {_fmt(metrics.get(f'classic_alpha_c_N{n}'))}" for n in sizes)
    err = ", ".join(f"N={n}: {_fmt(metrics.get(f'classic_error_alpha0.1_N{n}'), '.4f')}/"
                    f"{_fmt(metrics.get(f'classic_error_alpha0.2_N{n}'), '.3f')}" for n in sizes)
    main_n = [k for k in metrics if k.startswith("modern_max_patterns_perfect_N")]
    lines = [
        f"classic Hopfield: estimated alpha_c (AGS: {AGS_ALPHA_C}): {alpha_c}",
        f"classic bit error at alpha 0.1 / 0.2: {err}",
        f"modern Hopfield: perfect retrieval up to m/N = {metrics.get('modern_max_load_perfect')}"
        f" ({metrics.get('modern_max_patterns_perfect')} patterns; largest tested "
        f"{metrics.get('modern_max_load_tested')} N); per N: "
        + ", ".join(f"N={n}: {metrics.get(f'modern_max_load_perfect_N{n}')} N" for n in sorted(
            int(k.split("_N")[1]) for k in main_n)),
        f"modern: {_fmt(metrics.get('modern_iterations_high_beta'), '.2f')} updates to "
        f"tolerance at high beta; at low beta the largest softmax weight is "
        f"{_fmt(metrics.get('modern_max_weight_low_beta'))} with "
        f"{_fmt(metrics.get('modern_n_substantial_low_beta'), '.1f')} patterns above the "
        f"threshold (metastable mixtures)",
    ]
    return "\n".join(lines)
