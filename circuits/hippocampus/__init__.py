"""The hippocampal side of the entorhinal-hippocampal loop (spiking TEM-t, Brian2).

- :mod:`~circuits.hippocampus.ca3`: a CA3-style recurrent network storing the conjunction
  ``g (x) x`` with Hebbian weights and retrieving by synchronous attractor dynamics (the
  classic-Hopfield / TEM counterpart).
"""
