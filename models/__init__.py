"""Abstract memory models in PyTorch (CPU or CUDA) with numpy/scipy/networkx.

Sparse distributed memory (neuron- and pattern-based), exact Hamming-ball intersections and
the fitted softmax beta, attention, classic and modern Hopfield networks, SDM as an MLP, and
(later) TEM / TEM-t on graph worlds. This package never imports Brian2, so it runs on GPU
machines that have only torch.
"""

__version__ = "0.1.0"
