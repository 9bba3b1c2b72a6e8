"""The order in which a network calls its layers, and what each one holds.

    layers, shapes = model_layers(models.create('resnet18'), image_size=224)
    layers[0]   # Layer(name='conv1', kind='conv', tensors={('params', 'kernel'): (7, 7, 3, 64)})

The network's `init` runs abstractly (jax.eval_shape) under
`flax.linen.intercept_methods`, which sees every module call: the Conv, Dense and
BatchNorm modules are listed in the order of their first call, with the shapes of their
variables. trained/convert.py pairs this order with a PyTorch state dict's; train.py finds
the classifier of a linear probe as the last layer called.
"""

import dataclasses

import flax.linen as nn
import jax

from models.layers import BatchNorm


@dataclasses.dataclass
class Layer:
  """One Conv, Dense or BatchNorm: its name on its side and its tensors (or shapes).

  `flattened_channels`: for a Dense layer that reads a flattened H×W×C map (AlexNet's and
  VGG's FC6, GoogLeNet's auxiliary FC), C; None otherwise.
  """

  name: str
  kind: str  # 'conv', 'dense' or 'norm'
  tensors: dict
  flattened_channels: int | None = None


def model_layers(model, image_size: int, channels: int = 3):
  """The network's Conv, Dense and BatchNorm layers in the order its forward pass calls
  them, with their variables' shapes; and the shapes of all its variables."""
  kinds = {nn.Conv: 'conv', nn.Dense: 'dense', BatchNorm: 'norm'}
  called: dict[tuple, str] = {}
  flattened: dict[tuple, int] = {}
  last_output = [None]  # the output shape of the module that finished last

  def record(next_fun, args, kwargs, context):
    kind = kinds.get(type(context.module))
    if kind and context.method_name == '__call__' and context.module.path not in called:
      called[context.module.path] = kind
      previous = last_output[0]
      # A Dense whose input is the last finished module's H×W×C map, flattened.
      if (kind == 'dense' and previous is not None and len(previous) == 4
          and previous[1] * previous[2] > 1
          and previous[1] * previous[2] * previous[3] == args[0].shape[-1]):
        flattened[context.module.path] = previous[3]
    output = next_fun(*args, **kwargs)
    if hasattr(output, 'shape'):
      last_output[0] = output.shape
    return output

  def init():
    with nn.intercept_methods(record):
      return model.init(jax.random.key(0), jax.numpy.zeros((1, image_size, image_size, channels)),
                        train=False)

  shapes = jax.eval_shape(init)
  layers = []
  for path, kind in called.items():
    tensors = {}
    for collection, tree in shapes.items():
      node = tree
      for key in path:
        node = node.get(key, {}) if isinstance(node, dict) else {}
      tensors.update({(collection, leaf): value.shape for leaf, value in node.items()
                      if not isinstance(value, dict)})
    layers.append(Layer('/'.join(path), kind, tensors, flattened.get(path)))
  return layers, shapes
