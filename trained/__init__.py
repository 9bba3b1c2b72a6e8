"""Trained networks, in and out: `load` a run, converted or checkpoint folder as a value
(network.py), convert released weights into checkpoints (convert.py), export a network
(export.py). This package sits above models/ and training/: it needs both."""

from trained.network import LoadError, TrainedNetwork, load  # noqa: F401
