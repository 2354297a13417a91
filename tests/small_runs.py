"""Arguments of the small runs shared by several test files (see ``small_cerebellum_run``
in tests/conftest.py)."""

#: a small ``memcircuits cerebellum`` run (numpy backend, about 10 s): 32-bit addresses,
#: 8 outputs, 400 granule cells at ~5.5% coding level, 3 patterns, default query noise 0.1
SMALL_CEREBELLUM = ("--quiet", "--set", "circuit.preset=kanerva", "--set",
                    "circuit.address_bits=32", "--set",
                    "circuit.value_bits=8", "--set", "circuit.granule.n=400", "--set",
                    "circuit.granule.coding_level=0.055", "--set", "patterns=3")
