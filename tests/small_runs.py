"""Arguments of the small runs shared by several test files (see ``small_cerebellum_run``
in tests/conftest.py)."""

#: a small ``memcircuits cerebellum`` run (numpy backend, about 10 s): 32-bit addresses,
#: 8 outputs, 400 granule cells at ~5.5% coding level, 3 patterns, default query noise 0.1
SMALL_CEREBELLUM = ("--quiet", "--set", "circuit.preset=kanerva", "--set",
                    "circuit.address_bits=32", "--set",
                    "circuit.value_bits=8", "--set", "circuit.granule.n=400", "--set",
                    "circuit.granule.coding_level=0.055", "--set", "patterns=3")


def small_circuit(granule: int, **changes):
    """32-bit addresses, 8 outputs, ``granule`` granule cells at 5.5% coding level (the small
    circuit of the standalone tests), with ``changes`` to :class:`CerebellumParams`."""
    from dataclasses import replace

    from circuits.cerebellum.params import CerebellumParams, GranuleParams

    base = CerebellumParams(address_bits=32, value_bits=8,
                            granule=GranuleParams(n=granule, coding_level=0.055))
    return replace(base, **changes)


def schedule(seed: int):
    """Two writes, then the two keys read back in reverse order (``StandaloneRunner.run``)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    keys = rng.integers(0, 2, (2, 32), dtype=np.uint8)
    values = rng.integers(0, 2, (2, 8), dtype=np.uint8)
    return [("write", keys, values), ("read", keys[::-1], None)]
