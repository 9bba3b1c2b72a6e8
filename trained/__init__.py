"""Trained networks, in and out: `load` a run, converted or checkpoint folder as a value
(network.py), convert released weights into checkpoints (convert.py), export a network
(export.py). This package sits above models/ and training/: it needs both.

`trained.load` and its classes are imported on first use, so that `python -m
trained.convert` starts without orbax and the training package.
"""

import importlib

_FROM_NETWORK = ('load', 'LoadError', 'TrainedNetwork')


def __getattr__(name):
  if name in _FROM_NETWORK:
    return getattr(importlib.import_module('trained.network'), name)
  if name in ('class_names', 'eval_view', 'network', 'convert', 'export', 'weights_file'):
    return importlib.import_module(f'trained.{name}')
  raise AttributeError(f'module trained has no attribute {name}')
