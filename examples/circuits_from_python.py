"""The three circuits from Python
================================

One API shape: build each circuit from its parameters and a seed, add a monitor of your own
to the public ``brian2.Network``, run, and write the readout's spikes to NWB.

Run::

    python examples/circuits_from_python.py --quick --out circuits_from_python.png

The snippet in :func:`main` is the one the user guide shows; ``tests/test_circuits_api.py``
runs the same calls.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from brian2 import SpikeMonitor

from analysis.nwb import read_spikes, write_spikes
from circuits import (
    CA3Circuit,
    CA3Params,
    CerebellarSDM,
    CerebellumParams,
    HippocampalLoop,
    HippocampusParams,
    SpikeTrains,
)
from models.worlds import random_walk, square_world


def run_circuits(quick: bool = True, seed: int = 0) -> dict[str, dict]:
    """Build, monitor, run and save each circuit; name -> what the figure shows."""
    rng = np.random.default_rng(seed)
    out = {}

    # cerebellum: a sparse distributed memory (write keys -> values, read with the keys)
    params = CerebellumParams(address_bits=32, value_bits=16)
    params = replace(params, granule=replace(params.granule, n=600 if quick else 4000))
    sdm = CerebellarSDM(params, seed=seed)
    granule = SpikeMonitor(sdm.groups["granule"])  # a monitor of your own
    sdm.network.add(granule)
    keys = rng.integers(0, 2, (3, 32))
    sdm.write(keys, rng.integers(0, 2, (3, 16)))
    out["cerebellum"] = {"readout": sdm.read(keys), "monitor": granule, "group": "granule"}

    # hippocampal loop: spiking TEM-t along a walk on a 4x4 world
    world = square_world(4, 4, seed=seed)
    steps = 8 if quick else 60
    hpc = HippocampusParams()
    loop = HippocampalLoop(replace(hpc, memory=replace(hpc.memory, n=steps + 1)), world,
                           seed=seed)
    mec = SpikeMonitor(loop.groups["grid"])
    loop.network.add(mec)
    out["hippocampus"] = {"readout": loop.run(random_walk(world, steps, seed=seed)),
                          "monitor": mec, "group": "memory"}

    # CA3: a spiking Hopfield network (Hebbian storage, retrieval from noisy cues)
    ca3 = CA3Circuit(CA3Params(n_units=60 if quick else 200), seed=seed)
    patterns = 2 * rng.integers(0, 2, (3, ca3.params.n_units)) - 1
    ca3.store(patterns)
    pyramidal = SpikeMonitor(ca3.groups["pyramidal"])
    ca3.network.add(pyramidal)
    cues = patterns * np.where(rng.random(patterns.shape) < 0.1, -1, 1)
    out["ca3"] = {"readout": ca3.retrieve(cues, cycles=4), "monitor": pyramidal,
                  "group": "pyramidal"}

    for name, item in out.items():  # every readout's spikes go to NWB as they are
        path = Path(tempfile.mkdtemp()) / f"{name}.nwb"
        write_spikes(path, item["readout"].spikes, session_description=f"{name} example")
        item["nwb"] = read_spikes(path)
        item["mine"] = SpikeTrains.from_monitor(item["monitor"])
    return out


def figure(out: dict[str, dict], path: Path) -> Path:
    """One raster per circuit: the spikes read back from NWB."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    for ax, (name, item) in zip(axes, out.items(), strict=True):
        indices, times, size = item["nwb"][item["group"]]
        ax.plot(times * 1e3, indices, "|", ms=3, color="k")
        ax.set(title=f"{name}: {item['group']} ({size} cells), from NWB",
               xlabel="time (ms)", ylabel="neuron")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The three circuits from Python")
    parser.add_argument("--quick", action="store_true", help="smallest sizes (a smoke run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("circuits_from_python.png"),
                        help="figure path (default ./circuits_from_python.png)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    out = run_circuits(quick=args.quick, seed=args.seed)
    for name, item in out.items():
        print(f"{name}: my monitor saw {len(item['mine'])} spikes; NWB holds "
              f"{', '.join(f'{k} {len(v[0])}' for k, v in item['nwb'].items())}")
    print(f"figure: {figure(out, args.out)} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
