"""A parameter sweep on Dask
==========================

``mapping.sweep`` runs any ``memcircuits`` command over a grid of ``--set`` values on a
Dask cluster: one run directory per grid point and one table, ``results.csv``, with the
parameters and the metrics of every run. Runs already done are reused when a sweep is
restarted; failures are listed in ``failed.json``.

This example sweeps ``memcircuits figures sdm`` (exact SDM theory and a simulated
read-back, fast) over the number of stored patterns ``m`` on a ``LocalCluster`` of 2
worker processes, and plots two of its metrics against ``m`` from ``results.csv``: the
critical distance (how far a cue may lie from a stored pattern and still converge to it,
in iterated reads of a simulated memory) at two Hamming radii, and the SNR-optimal
activation probability ``p*`` (Kanerva; Bricken & Pehlevan 2021) beside the probability
the best integer radius reaches.

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

parser = argparse.ArgumentParser(description="A parameter sweep on Dask")
parser.add_argument("--quick", action="store_true", help="fewer grid points")
parser.add_argument("--out", default="./dask_sweep.png", help="figure path")
args, _ = parser.parse_known_args()

# Dask's worker processes re-import this file (as ``__mp_main__``): the work below runs only
# in the main process, under ``if __name__ == "__main__"``.

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
    grid={"m": [16, 256, 4096] if args.quick else [16, 64, 256, 1024, 4096, 16384]},
)

# %%
# Run it on a LocalCluster of 2 worker processes
# ----------------------------------------------
# ``run_sweep`` refuses a directory holding something other than a sweep, so the
# example sweeps into a fresh temporary directory.
if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="memcircuits-sweep-") as tmp:
        out = Path(tmp) / "sweep"
        summary = run_sweep(spec, out, workers=2, progress=False)
        print({k: v for k, v in summary.items() if not isinstance(v, (list, dict))})
        with open(out / "results.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
    rows.sort(key=lambda row: float(row["m"]))
    for row in rows:
        print(f"m = {row['m']:>5}: critical distance r=5 {row['critical_distance_n32_r5']}, "
              f"r=9 {row['critical_distance_n32_r9']}; SNR-optimal p* "
              f"{float(row['snr_optimal_probability']):.2e}, radius "
              f"{row['optimal_radius_snr']}")

# %%
# Figure: metrics against the grid parameter
# ------------------------------------------
# Left: the memory fills up. With more stored patterns a cue must start closer to its
# pattern to be recalled; the larger radius (more neurons per read, more crosstalk)
# collapses first. Right: the SNR-optimal fraction of neurons a read activates falls
# as ``(2 m r)^(-1/3)``; the integer Hamming radius can only reach it in steps.
if __name__ == "__main__":
    m = [float(row["m"]) for row in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for radius in spec.base["cd_radii"]:
        left.semilogx(m, [float(row[f"critical_distance_n32_r{radius}"]) for row in rows],
                      "o-", label=f"Hamming radius d = {radius}")
    left.set(xlabel="stored patterns m (grid)", ylabel="critical distance (bits)",
             title="recall from a noisy cue (simulated reads)")
    left.legend()
    right.loglog(m, [float(row["snr_optimal_probability"]) for row in rows], "o-",
                 label="SNR-optimal p* (theory)")
    right.loglog(m, [float(row["activation_probability_snr"]) for row in rows], "s--",
                 label="p at the best integer radius")
    right.set(xlabel="stored patterns m (grid)", ylabel="activation probability p",
              title="optimal read sparseness")
    right.legend()
    fig.suptitle(f"figures sdm swept on Dask: n = 32, r = 10^5 neurons, {len(rows)} runs")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"figure: {args.out}")
