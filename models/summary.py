"""The lecture's arithmetic, computed from the code: per-layer output volume,
parameters, multiply-adds and activation values.

    python -m models summary vgg16            # the VGG-16 table of the lecture
    python -m models summary alexnet --json
    python -m models list                     # every model, its parameters and input

The model is traced abstractly (`jax.eval_shape` of `init`), so even the largest
network is summarised in seconds without computing anything. A layer is a
module that calls no other module (a convolution, a dense layer, a pool, a
BatchNorm); blocks made of layers are not rows.

Counting rules, those of the lectures and papers:
  * parameters: weights plus biases (and BatchNorm scale and offset); running
    statistics are not parameters;
  * multiply-adds: of convolutions and dense layers only, one per kernel weight
    per output position (output H × W × kernel size); pools, normalisations and
    activations are not counted;
  * activations: values of each layer's output for one image.
Rows of auxiliary classifiers (module names starting with 'aux') count towards
the parameters, but not towards multiply-adds or activations: they are not part
of the network at inference.

Module rows (`by_module`, `python -m models summary <name> --depth=N`) group the
layers by the first N parts of their module path ('inception_3a' at depth 1,
'inception_3a/branch_3x3' at depth 2), in the order they first run, with the
layers' parameters, multiply-adds and activations summed and the module's own
output shape: the lecture's module totals ("Total: 854M ops") without summing by
hand. They add up to the same totals as the layer rows.
"""

import dataclasses
import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from models import registry


@dataclasses.dataclass
class Layer:
  name: str
  type: str
  output_shape: tuple[int, ...]  # per image: (H, W, C) or (C,)
  params: int
  macs: int
  activations: int
  auxiliary: bool = False


@dataclasses.dataclass
class Summary:
  model: str
  image_size: int
  layers: list[Layer]
  total_params: int
  total_macs: int
  total_activations: int
  # Every module call's class name and output shape per image, by module path ('' for
  # outputs that are not one array, such as a tuple of logits).
  modules: dict[str, tuple[str, tuple[int, ...]]] = dataclasses.field(default_factory=dict)

  @property
  def auxiliary_params(self) -> int:
    """Parameters of the auxiliary classifiers (in total_params, not in the network at
    inference)."""
    return sum(l.params for l in self.layers if l.auxiliary)

  def to_json(self, rows: list[Layer] | None = None) -> dict[str, Any]:
    """The totals and one entry per layer (or per row of `rows`, such as `by_module`'s)."""
    rows = self.layers if rows is None else rows
    return {
        'model': self.model,
        'image_size': self.image_size,
        'total_params': self.total_params,
        'total_macs': self.total_macs,
        'total_activations': self.total_activations,
        'layers': [{'name': l.name, 'type': l.type, 'output_shape': list(l.output_shape),
                    'params': l.params, 'macs': l.macs, 'activations': l.activations}
                   for l in rows],
    }


def _size(tree) -> int:
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


@functools.lru_cache(maxsize=None)  # `list` and the tests ask for the same tables again
def summarize(name: str, image_size: int | None = None, num_classes: int | None = None,
              channels: int | None = None, **model_kwargs) -> Summary:
  """The per-layer table of registered model `name` at `image_size` (its paper's by default).

  `channels` of the input image: the paper's (spec.channels) by default; 1 for
  greyscale datasets such as the embedded digits.
  """
  spec = registry.spec(name)
  image_size = image_size or spec.input_size
  channels = channels or spec.channels
  model = registry.create(name, num_classes=num_classes or spec.num_classes, **model_kwargs)
  layers: list[Layer] = []
  modules: dict[str, tuple[str, tuple[int, ...]]] = {}
  open_calls: list[list[bool]] = []  # per module call in progress: has it called a module?

  def record_layers(next_fun, args, kwargs, context):
    if context.method_name != '__call__':
      return next_fun(*args, **kwargs)
    if open_calls:
      open_calls[-1][0] = True
    open_calls.append([False])
    output = next_fun(*args, **kwargs)
    called_modules = open_calls.pop()[0]
    module = context.module
    path = '/'.join(module.scope.path)
    modules.setdefault(path, (type(module).__name__, tuple(output.shape[1:])
                              if isinstance(output, jax.Array) else ()))
    passes_input_through = bool(args) and output is args[0]  # an identity shortcut
    if not called_modules and isinstance(output, jax.Array) and not passes_input_through:
      params = module.variables.get('params', {})
      kernel = params.get('kernel') if isinstance(params, dict) else None
      positions = math.prod(output.shape[1:-1])
      layers.append(Layer(
          name=path,
          type=type(module).__name__,
          output_shape=tuple(output.shape[1:]),
          params=_size(params),
          macs=positions * math.prod(kernel.shape) if kernel is not None else 0,
          activations=math.prod(output.shape[1:]),
          auxiliary=any(part.startswith('aux') for part in module.scope.path)))
    return output

  def init():
    with nn.intercept_methods(record_layers):
      return model.init(jax.random.key(0),
                        jnp.zeros((1, image_size, image_size, channels)), train=False)

  variables = jax.eval_shape(init)
  main = [l for l in layers if not l.auxiliary]
  input_layer = Layer('input', 'Input', (image_size, image_size, channels), 0, 0,
                      image_size * image_size * channels)
  return Summary(
      model=name,
      image_size=image_size,
      layers=[input_layer] + layers,
      total_params=_size(variables['params']),
      total_macs=sum(l.macs for l in main),
      total_activations=input_layer.activations + sum(l.activations for l in main),
      modules=modules,
  )


def by_module(summary: Summary, depth: int) -> list[Layer]:
  """The layer rows grouped by the first `depth` parts of their module path (see the
  module docstring): one row per module, in the order the modules first run, after the
  input row. A row's type and output shape are its module's."""
  if depth < 1:
    raise ValueError(f'depth counts module path parts from 1; got {depth}')
  rows: dict[str, Layer] = {}
  for layer in summary.layers[1:]:
    path = '/'.join(layer.name.split('/')[:depth])
    if path not in rows:
      type_name, shape = summary.modules[path]
      rows[path] = Layer(path, type_name, shape, 0, 0, 0, layer.auxiliary)
    row = rows[path]
    row.params += layer.params
    row.macs += layer.macs
    row.activations += layer.activations
  return [summary.layers[0]] + list(rows.values())


def _shape(shape) -> str:
  return '×'.join(str(d) for d in shape)


def format_table(summary: Summary, rows: list[Layer] | None = None) -> str:
  """The table as the lecture prints it, one layer (or one of `rows`, such as `by_module`'s)
  a line, totals last."""
  rows = summary.layers if rows is None else rows
  name_width = max(len(f'{l.name} ({l.type})') for l in rows) + 2
  header = (f'{"layer":<{name_width}}{"output":>16}{"params":>14}{"multiply-adds":>17}'
            f'{"activations":>14}')
  lines = [f'{summary.model} at {summary.image_size}×{summary.image_size}', header,
           '-' * len(header)]
  for l in rows:
    label = f'{l.name} ({l.type})' + (' [aux]' if l.auxiliary else '')
    lines.append(f'{label:<{name_width}}{_shape(l.output_shape):>16}{l.params:>14,}'
                 f'{l.macs:>17,}{l.activations:>14,}')
  lines.append('-' * len(header))
  lines.append(f'{"total":<{name_width}}{"":>16}{summary.total_params:>14,}'
               f'{summary.total_macs:>17,}{summary.total_activations:>14,}')
  auxiliary = (f' ({(summary.total_params - summary.auxiliary_params) / 1e6:.2f} M without '
               'the auxiliary classifiers)' if summary.auxiliary_params else '')
  lines.append(f'{summary.total_params / 1e6:.2f} M parameters{auxiliary}, '
               f'{summary.total_macs / 1e9:.2f} G multiply-adds, '
               f'{summary.total_activations * 4 / 2**20:.1f} MiB of float32 activations '
               'per image (forward)')
  return '\n'.join(lines)
