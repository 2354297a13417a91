"""Spiking memory circuits in Brian2: the cerebellar cortex as a sparse distributed memory
and the entorhinal-hippocampal loop as TEM-t."""
