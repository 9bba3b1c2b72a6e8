"""The model registry: every architecture is reachable by one lowercase name.

Family files call `register(name, builder, ...)` for each named variant at
their end; `models.create(name, num_classes=..., dtype=...)` builds a
`flax.linen` module and `models.spec(name)` tells the input it was designed for.
"""

import dataclasses
import inspect
from typing import Any, Callable

import flax.linen as nn


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A registered variant: how to build it and the input of its paper."""

  name: str
  builder: Callable[..., nn.Module]
  input_size: int = 224  # the paper's input side in pixels
  num_classes: int = 1000  # the paper's classifier (10 for CIFAR and MNIST networks)
  channels: int = 3
  # The smallest convenient input side for quick CPU tests (forward and backward).
  test_input_size: int = 32
  # Published parameter counts at input_size and num_classes (weights, biases, BatchNorm
  # scales and offsets; not running statistics), each written only here and checked by
  # tests/models/test_registry.py. `parameters`: the exact count of a reference that
  # defines the variant (the paper, the authors' or torchvision's released model).
  # `paper_parameters`: the count the paper prints, in millions as printed ('0.27'), of the
  # network at inference (auxiliary classifiers left out); the code agrees with it within
  # 1 % or to the printed precision.
  parameters: int | None = None
  paper_parameters: str | None = None
  # The single-crop ImageNet top-1 accuracy (percent) the paper reports for this network,
  # and where (paper, table); without one, `paper_top1_source` says why (`models compare`).
  paper_top1: float | None = None
  paper_top1_source: str = ''


_SPECS: dict[str, ModelSpec] = {}


def register(name: str, builder: Callable[..., nn.Module], *, input_size: int = 224,
             num_classes: int = 1000, channels: int = 3, test_input_size: int = 32,
             parameters: int | None = None, paper_parameters: str | None = None,
             paper_top1: float | None = None,
             paper_top1_source: str = '') -> Callable[..., nn.Module]:
  """Makes `builder` available as `name`; a name can only be taken once."""
  if name in _SPECS:
    raise ValueError(f'model name {name!r} is registered twice')
  _SPECS[name] = ModelSpec(name, builder, input_size, num_classes, channels, test_input_size,
                           parameters, paper_parameters, paper_top1, paper_top1_source)
  return builder


def names() -> list[str]:
  """All registered model names, sorted."""
  return sorted(_SPECS)


def spec(name: str) -> ModelSpec:
  """The registered variant `name`, with its paper's input size and class count."""
  if name not in _SPECS:
    raise ValueError(f'unknown model {name!r}; valid models: {", ".join(names())}')
  return _SPECS[name]


def create(name: str, **kwargs: Any) -> nn.Module:
  """Builds the registered model `name` with constructor arguments `kwargs`."""
  return spec(name).builder(**kwargs)


def accepts_option(name: str, option: str) -> bool:
  """Whether the builder of registered model `name` takes the constructor argument `option`."""
  return option in inspect.signature(spec(name).builder).parameters
