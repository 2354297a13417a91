"""The hippocampal side of the entorhinal-hippocampal loop (spiking TEM-t, Brian2).

Laid out like :mod:`circuits.cerebellum`:

- :mod:`~circuits.hippocampus.params`: frozen parameter dataclasses of the loop;
- :mod:`~circuits.hippocampus.inputs`: grid modules, LEC codes and a walk's stimuli;
- :mod:`~circuits.hippocampus.network`: the Brian2 objects, one builder per layer (MEC,
  LEC, memory, loop closure) composed by ``build_network``;
- :mod:`~circuits.hippocampus.protocol`: :class:`HippocampalLoop` (``run(walk)``), the
  readout, :func:`run_walk` and the memory guard;
- :mod:`~circuits.hippocampus.loop`: the dynamics (module docstring) and the old names;
- :mod:`~circuits.hippocampus.ca3`: a CA3-style recurrent network storing the conjunction
  ``g (x) x`` with Hebbian weights and retrieving by synchronous attractor dynamics (the
  classic-Hopfield / TEM counterpart), laid out the same way (``params``, ``codes``,
  ``network``, ``protocol``).
"""

from circuits.hippocampus.params import HippocampusParams
from circuits.hippocampus.protocol import HippocampalLoop, HippocampusReadout, run_walk

__all__ = ["HippocampalLoop", "HippocampusParams", "HippocampusReadout", "run_walk"]
