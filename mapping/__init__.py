"""Run one input through the spiking circuits and the abstract models and compare them.

Also the experiment protocols and the ``memcircuits`` command line.
"""
