"""The model registry: every architecture is reachable by one lowercase name.

Family files call `register(name, builder)` for each named variant at their end;
`models.create(name, num_classes=..., dtype=...)` builds a `flax.linen` module.
"""

from typing import Any, Callable

import flax.linen as nn

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str, builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
  """Makes `builder` available as `name`; a name can only be taken once."""
  if name in _BUILDERS:
    raise ValueError(f'model name {name!r} is registered twice')
  _BUILDERS[name] = builder
  return builder


def names() -> list[str]:
  """All registered model names, sorted."""
  return sorted(_BUILDERS)


def create(name: str, **kwargs: Any) -> nn.Module:
  """Builds the registered model `name` with constructor arguments `kwargs`."""
  if name not in _BUILDERS:
    raise ValueError(f'unknown model {name!r}; valid models: {", ".join(names())}')
  return _BUILDERS[name](**kwargs)
