"""The hippocampal side of the entorhinal-hippocampal loop (spiking TEM-t, Brian2).

- :mod:`~circuits.hippocampus.loop`: the loop itself. MEC grid modules path-integrated by
  action-gated conjunctive cells, LEC symbol codes, memory neurons recruited one per step
  that learn their MEC key and LEC value by Hebbian plasticity and fire at
  ``exp(beta key . query - c)`` under interneuron normalisation (softmax attention), and
  recall that feeds back to the MEC (loop closure). :func:`~circuits.hippocampus.loop.run_walk`.
- :mod:`~circuits.hippocampus.params`: its frozen parameter dataclasses.
- :mod:`~circuits.hippocampus.ca3`: a CA3-style recurrent network storing the conjunction
  ``g (x) x`` with Hebbian weights and retrieving by synchronous attractor dynamics (the
  classic-Hopfield / TEM counterpart).
"""
