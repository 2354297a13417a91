"""Runs one input through the spiking circuits and the abstract models and compares them;
experiment protocols and the ``memcircuits`` command line."""
