"""The cerebellar cortex as a spiking sparse distributed memory
==============================================================

Marr, Albus and Kanerva read the cerebellar cortex as a memory: mossy fibres carry the
address, granule cells are the hard locations, parallel-fibre -> Purkinje-cell synapses
hold the counters, and the climbing fibre teaches the value. ``circuits.cerebellum``
builds this circuit in Brian2 (``CerebellarSDM``): ``write(keys, values)`` pairs each key
on the mossy fibres with climbing-fibre spikes for the value bits 1 (LTD inside the
plasticity window; parallel-fibre activity alone gives LTP), and ``read(queries)`` decodes
the nuclear cells, which fire where the Purkinje cell pauses.

``mapping.cerebellum_vs_sdm.abstract_sdm`` builds the abstract ``models.sdm.SDM`` on the
circuit's *own* granule cells (same addresses, same radius), so the two can be compared
bit for bit and sum for sum on the same inputs.

Run: ``python examples/cerebellum_sdm.py [--quick] [--out PATH]``
"""

# %%
# Options and a small circuit
# ---------------------------
# Parameters are one frozen dataclass per population (Brian2 units); ``replace`` makes a
# smaller circuit: fewer granule cells and output bits than the defaults (4000, 64).
import argparse
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from circuits.cerebellum import CerebellarSDM, CerebellumParams
from mapping.cerebellum_vs_sdm import abstract_sdm, compare_read
from models.patterns import flip_exact, random_binary

parser = argparse.ArgumentParser(
    description="The cerebellar cortex as a spiking sparse distributed memory")
parser.add_argument("--quick", action="store_true", help="fewer cells and patterns")
parser.add_argument("--out", default="./cerebellum_sdm.png", help="figure path")
args, _ = parser.parse_known_args()

m = 4 if args.quick else 16  # key/value pairs written
params = CerebellumParams()
params = replace(params, value_bits=16 if args.quick else 32,
                 granule=replace(params.granule, n=500 if args.quick else 2000,
                                 coding_level=0.05))
n, v = params.address_bits, params.value_bits

# %%
# Write, then read clean and noisy keys
# -------------------------------------
# Keys are 64-bit binary patterns; the noisy queries have 6 of 64 bits flipped.
keys = random_binary(m, n, seed=0).numpy()
values = random_binary(m, v, seed=1).numpy()
noisy = flip_exact(torch.as_tensor(keys), 6, seed=2).numpy()

circuit = CerebellarSDM(params, seed=3, report=None)
write = circuit.write(keys, values)  # m write presentations (250 ms each)
read = circuit.read(np.concatenate([keys, noisy]))  # 2m read presentations
print(f"{params.granule.n} granule cells, radius {circuit.derived.radius}, coding level "
      f"{write.coding_level.mean():.3f}")

# %%
# The abstract SDM on the same granule cells
# ------------------------------------------
# Same inputs; ``compare_read`` lines the two reads up (decoded bits, the circuit's net
# parallel-fibre drive in counter units vs the abstract sums of counters, active sets).
model = abstract_sdm(circuit)
model.write(torch.as_tensor(keys), torch.as_tensor(values))
cmp = compare_read(circuit, model, read, stored=np.concatenate([values, values]))
print(f"bits agreeing with the abstract SDM: {cmp.bit_agreement:.1%}; correct bits: "
      f"circuit {cmp.circuit_accuracy:.1%}, abstract {cmp.abstract_accuracy:.1%}; "
      f"sums correlation {cmp.sums_correlation:.4f}; active sets equal "
      f"{cmp.active_sets_equal.mean():.0%}")

# %%
# Figure
# ------
# Left: spikes of the Purkinje (PC) and nuclear (DCN) cells during the first reads; a
# DCN cell fires for a stored 1. Right: the circuit's summed synaptic drive against the
# abstract SDM's sum of counters, per output bit and query (the identity line is exact
# agreement); red points are bits where the two reads disagree.
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
names = params.population_names
shown = min(3, len(read.onsets))
t0, t1 = read.onsets[0], read.onsets[0] + shown * read.slot
for key, color, offset in (("purkinje", "tab:blue", 0), ("nuclei", "tab:red", v + 2)):
    trains = read.spikes[key]
    keep = (trains.times >= t0) & (trains.times < t1)
    axes[0].plot(trains.times[keep] - t0, trains.indices[keep] + offset, "|", ms=4,
                 color=color, label=names[key])
for k in range(shown):
    axes[0].axvline(k * read.slot, color="0.7", lw=0.8)
axes[0].set(xlabel="time from the first read (s)", ylabel="cell (PC below, DCN above)",
            title=f"first {shown} reads: DCN cells fire for stored 1s")
axes[0].legend(loc="upper right", fontsize=8)

agree = cmp.circuit_bits.ravel() == cmp.abstract_bits.ravel()
axes[1].scatter(cmp.abstract_sums.ravel(), cmp.circuit_sums.ravel(), s=8,
                c=np.where(agree, "tab:blue", "tab:red"))
lim = np.abs(cmp.abstract_sums).max() * 1.05 + 1
axes[1].plot([-lim, lim], [-lim, lim], "k", lw=0.5)
axes[1].set(xlabel="abstract SDM: sum of counters",
            ylabel="circuit: net PF drive / ltp",
            title=f"r = {cmp.sums_correlation:.4f}; bits agree {cmp.bit_agreement:.1%}")
fig.tight_layout()
Path(args.out).parent.mkdir(parents=True, exist_ok=True)
fig.savefig(args.out, dpi=100)
print(f"figure: {args.out}")
