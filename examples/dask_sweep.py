"""A parameter sweep on Dask
==========================

``mapping.sweep`` runs any ``memcircuits`` command over a grid of ``--set`` values on a
Dask cluster: one run directory per grid point and one table, ``results.csv``, with the
parameters and the metrics of every run. Runs already done are reused when a sweep is
restarted; failures are listed in ``failed.json``.

This example sweeps ``memcircuits figures sdm`` (exact SDM theory, fast) over the number
of stored patterns ``m`` on a ``LocalCluster`` of 2 worker processes, and plots the
SNR-optimal and memory-optimal Hamming radii (Kanerva) against ``m`` from
``results.csv``.

Run: ``python examples/dask_sweep.py [--quick] [--out PATH]``
"""

# %%
# Options
# -------
import argparse
import csv
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from mapping.sweep import SweepSpec, run_sweep

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--quick", action="store_true", help="fewer grid points")
parser.add_argument("--out", default="./dask_sweep.png", help="figure path")
args, _ = parser.parse_known_args()


def main() -> None:
    # %%
    # The specification
    # -----------------
    # The same thing as a TOML file for ``memcircuits sweep SPEC.toml``: ``command``,
    # ``[base]`` (shared overrides: small settings so each run takes seconds) and
    # ``[grid]`` (the Cartesian product of these lists).
    spec = SweepSpec(
        command="sdm",  # ``memcircuits figures sdm``
        base={"n": 32, "radii": [5, 9], "neurons": 100_000, "cd_trials": 10,
              "cd_max_iterations": 3, "cd_radii": [5, 9]},
        grid={"m": [16, 4096] if args.quick else [16, 64, 256, 1024, 4096, 16384]},
    )

    # %%
    # Run it on a LocalCluster of 2 worker processes
    # ----------------------------------------------
    # ``run_sweep`` refuses a directory holding something other than a sweep, so the
    # example sweeps into a fresh temporary directory.
    with tempfile.TemporaryDirectory(prefix="memcircuits-sweep-") as tmp:
        out = Path(tmp) / "sweep"
        summary = run_sweep(spec, out, workers=2, progress=False)
        print({k: v for k, v in summary.items() if not isinstance(v, (list, dict))})
        with open(out / "results.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
    rows.sort(key=lambda row: float(row["m"]))
    for row in rows:
        print(f"m = {row['m']:>5}: optimal radius SNR {row['optimal_radius_snr']}, "
              f"memory {row['optimal_radius_memory']}, critical distance "
              f"{row['optimal_radius_critical_distance']}")

    # %%
    # Figure: a metric against the grid parameter
    # -------------------------------------------
    m = [float(row["m"]) for row in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("optimal_radius_snr", "SNR-optimal radius"),
                       ("optimal_radius_memory", "memory-optimal radius")):
        ax.semilogx(m, [float(row[key]) for row in rows], "o-", label=label)
    ax.set(xlabel="stored patterns m (grid)", ylabel="Hamming radius d",
           title=f"figures sdm sweep: n = 32, r = 10^5 neurons, {len(rows)} runs on Dask")
    ax.legend()
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"figure: {args.out}")


# Dask's worker processes re-import the main module: keep the work under this guard.
if __name__ == "__main__":
    main()
