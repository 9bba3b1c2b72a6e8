r"""Converts torchvision and timm weights into checkpoints of this project's networks.

    python -m trained.convert --list
    python -m trained.convert --model=resnet50 --weights=resnet50-0676ba61.pth \
        --out=/tmp/resnet50_torchvision
    python evaluate.py --workdir=/tmp/resnet50_torchvision --protocol=center,ten_crop
    python train.py --config=configs/resnet50.py --workdir=/tmp/finetune \
        --config.init_from=/tmp/resnet50_torchvision --config.dataset=image_folder:/data/pets

How tensors find their variables. A PyTorch state dict lists each module's tensors in the
order the module was registered, which for torchvision's and timm's networks is the
order the forward pass runs them. This file runs the registry network's `init` under
`flax.linen.intercept_methods` and records the order in which its Conv, Dense and
BatchNorm modules are called. The two sequences of layers are then paired one by one,
and each pair must agree on its kind and every shape; a network whose released
definition registers some modules elsewhere (torchvision's GoogLeNet registers its
auxiliary classifiers last) says so in its `Source.registered_last`. Every source tensor
is used exactly once and every variable filled exactly once (BatchNorm's
`num_batches_tracked` counter is read and dropped: nothing here uses it); the first
disagreement stops the conversion with one line naming both sides and their shapes.

Values: every other tensor must be floating point and, in float32, finite (NaN or
infinity would pass silently into every output; --allow_nonfinite converts them anyway).

Auxiliary heads: torchvision drops GoogLeNet's and Inception v3's auxiliary classifiers
when they are built with weights and without aux_logits=True, so a state dict saved from
such a model has none of their tensors. Such a file converts: each missing head
(`Source.auxiliary_heads`) is initialised afresh by its own initialisers with a fixed
seed, which the summary line and the checkpoint's run description ('initialised_afresh'
under 'pretrained') say. Evaluation does not use these heads; fine-tuning trains them. A
file with some but not all of a head's layers is refused.

Layouts: convolution weights (out, in/groups, h, w) become kernels (h, w, in/groups, out);
linear weights (out, in) become (in, out); a 1×1 convolution fills a Dense (the squeeze-
and-excitation layers); a linear layer that reads a flattened map (seen from the shape of
the output before it) has its inputs reordered from PyTorch's channel-major (C, H, W) to
this project's (H, W, C) flattening.

The output is a run folder that evaluate.py and train.py (--config.init_from) read:
<out>/checkpoints/0 holds the network's variables and, as every checkpoint does, the run's
description: model, classes, image size, the source's normalisation, and the source's
evaluation preprocessing (resize, crop, interpolation, mean and std) in its config, so that
`evaluate.py --workdir=<out>` evaluates as the source's authors did.
"""

import argparse
import os
import sys

import numpy as np

from models import registry
from models.released import SOURCES, Source
from trained import class_names
from models.layer_order import Layer, model_layers
from trained.weights_file import WeightsError, read_weights

def describe_sources() -> str:
  """The --list table: each registry network, its source, the published top-1 and the
  evaluation its weights expect; columns two spaces apart, as wide as their contents."""
  def numbers(values) -> str:
    return ' '.join(f'{value:g}' for value in values)

  rows = [('registry model', 'source', 'weights file', 'top-1 %', 'mean', 'std', 'eval')]
  for source in SOURCES.values():
    rows.append((source.model, f'{source.library}:{source.name}', source.weights,
                 f'{source.top1:.3f}', numbers(source.mean), numbers(source.std),
                 f'resize {source.resize}, crop {source.crop}, {source.interpolation}'
                 + (f'; {source.note}' if source.note else '')))
  widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
  top1_column = 3  # numbers align on the right
  return '\n'.join(
      '  '.join(cell.rjust(width) if column == top1_column else cell.ljust(width)
                for column, (cell, width) in enumerate(zip(row, widths))).rstrip()
      for row in rows)


class ConversionError(ValueError):
  """Weights that do not fit the network, with what to do."""


def check_values(state_dict: dict[str, np.ndarray], allow_nonfinite: bool = False) -> None:
  """Every weight is a floating-point tensor, finite in float32 unless `allow_nonfinite`.

  An integer or boolean tensor (but BatchNorm's counter, which is dropped) would be cast
  into a float variable, and NaN or infinity (a float64 value beyond float32's range
  included) would pass into every output: both are refused, naming the tensor.
  """
  for name, value in state_dict.items():
    if name.rpartition('.')[2] == 'num_batches_tracked':
      continue
    if not np.issubdtype(value.dtype, np.floating):
      raise ConversionError(
          f'source tensor {name} {tuple(value.shape)} is of dtype {value.dtype}, not floating '
          'point: weights as released are float (a quantised or damaged file?); download '
          'them again')
    if not allow_nonfinite:
      with np.errstate(over='ignore'):  # float64 beyond float32's range: counted below
        nonfinite = value.size - np.count_nonzero(np.isfinite(value.astype(np.float32)))
      if nonfinite:
        raise ConversionError(
            f'source tensor {name} {tuple(value.shape)} holds {nonfinite} NaN or infinite '
            'values (in float32): download the weights again, or pass --allow_nonfinite to '
            'convert them as they are')


def source_layers(state_dict: dict[str, np.ndarray]) -> list[Layer]:
  """The state dict's tensors grouped by module, in the state dict's order."""
  groups: dict[str, dict] = {}
  for name, value in state_dict.items():
    module, _, leaf = name.rpartition('.')
    groups.setdefault(module, {})[leaf] = value
  layers = []
  for module, tensors in groups.items():
    if 'running_mean' in tensors:
      kind = 'norm'
    elif 'weight' in tensors and tensors['weight'].ndim == 4:
      kind = 'conv'
    elif 'weight' in tensors and tensors['weight'].ndim == 2:
      kind = 'dense'
    else:
      first = next(iter(tensors))
      raise ConversionError(
          f'source tensor {module}.{first} {tuple(tensors[first].shape)} belongs to no '
          'convolution, linear or BatchNorm layer: these weights are of a layout this '
          'converter does not read')
    layers.append(Layer(module, kind, tensors))
  return layers


# Source leaf names -> this project's (collection, leaf) per layer kind.
_NORM = {'weight': ('params', 'scale'), 'bias': ('params', 'bias'),
         'running_mean': ('batch_stats', 'mean'), 'running_var': ('batch_stats', 'var')}
_LINEAR = {'weight': ('params', 'kernel'), 'bias': ('params', 'bias')}


def _mismatch(source: Layer, source_leaf: str, model: Layer, target, model_name: str,
              source_shape=None, target_shape=None) -> ConversionError:
  source_shape = source_shape or tuple(source.tensors[source_leaf].shape)
  target_text = (f'variable {target[0]}/{model.name}/{target[1]} {tuple(target_shape)}'
                 if target else f'layer {model.name} ({model.kind}, no {source_leaf})')
  return ConversionError(
      f'source tensor {source.name}.{source_leaf} {source_shape} does not fit {model_name}\'s '
      f'{target_text}: these weights are not of {model_name} in the layout of its source '
      '(python -m trained.convert --list names the network of each source)')


def _convert_weight(source: Layer, model: Layer, model_name: str) -> np.ndarray:
  """The source weight of a conv or linear layer in the kernel layout of `model`."""
  weight = np.asarray(source.tensors['weight'], dtype=np.float32)
  target = model.tensors[('params', 'kernel')]
  if weight.ndim == 4:
    kernel = weight.transpose(2, 3, 1, 0)
    if len(target) == 2 and kernel.shape[:2] == (1, 1):  # a 1×1 convolution as a Dense
      kernel = kernel.reshape(kernel.shape[2:])
  else:
    outputs, inputs = weight.shape
    if model.flattened_channels and len(target) == 2 and target[0] == inputs:
      # PyTorch flattens a map as (C, H, W), this project as (H, W, C).
      weight = weight.reshape(outputs, model.flattened_channels, -1).transpose(0, 2, 1)
      weight = weight.reshape(outputs, inputs)
    kernel = weight.T
  if kernel.shape != tuple(target):
    raise _mismatch(source, 'weight', model, ('params', 'kernel'), model_name,
                    target_shape=target)
  return kernel


def missing_auxiliary_heads(state_dict: dict[str, np.ndarray],
                            auxiliary_heads: tuple[tuple[str, str], ...]) -> list[str]:
  """The registry modules of the auxiliary heads (source module, registry module) of which
  `state_dict` has no tensor."""
  return [model_module for source_module, model_module in auxiliary_heads
          if not any(name.startswith(f'{source_module}.') for name in state_dict)]


AUXILIARY_HEAD_SEED = 0


def initialise_afresh(model, image_size: int, modules: list[str]) -> dict:
  """The variables of the network's top-level `modules`, from their own initialisers with
  a fixed seed: each module is initialised alone, on zeros of the shape the network feeds
  it (seen by running the network's init abstractly), which spares a whole network's init."""
  import flax.linen as nn  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel

  calls = {}

  def record(next_fun, args, kwargs, context):
    path = context.module.path
    if (context.method_name == '__call__' and len(path) == 1 and path[0] in modules
        and path[0] not in calls):
      calls[path[0]] = (context.module.clone(parent=None),
                        [jax.ShapeDtypeStruct(arg.shape, arg.dtype) for arg in args], kwargs)
    return next_fun(*args, **kwargs)

  def init():
    with nn.intercept_methods(record):
      return model.init(jax.random.key(0), jax.numpy.zeros((1, image_size, image_size, 3)),
                        train=False)

  jax.eval_shape(init)
  variables: dict = {}
  for index, name in enumerate(modules):
    module, args, kwargs = calls[name]
    key = jax.random.fold_in(jax.random.key(AUXILIARY_HEAD_SEED), index)
    head = module.init(key, *[jax.numpy.zeros(arg.shape, arg.dtype) for arg in args], **kwargs)
    for collection, tree in head.items():
      variables.setdefault(collection, {})[name] = jax.tree.map(np.asarray, tree)
  return variables


def convert_state_dict(state_dict: dict[str, np.ndarray], model_name: str, model,
                       image_size: int, registered_last: tuple[str, ...] = (),
                       auxiliary_heads: tuple[tuple[str, str], ...] = ()) -> dict:
  """The network's variables ({'params': ..., 'batch_stats': ...}) from `state_dict`.

  An auxiliary head (source module, registry module) with no tensor in `state_dict` is
  initialised afresh; one with some of its layers but not all is refused.
  """
  import flax  # pylint: disable=import-outside-toplevel

  sources = source_layers(state_dict)
  targets, shapes = model_layers(model, image_size)
  afresh = missing_auxiliary_heads(state_dict, auxiliary_heads)
  for source_module, model_module in auxiliary_heads:
    held = [layer for layer in sources if layer.name.startswith(f'{source_module}.')]
    wanted = [layer for layer in targets if layer.name.split('/')[0] == model_module]
    if held and len(held) != len(wanted):
      raise ConversionError(
          f'the weights hold {len(held)} of the {len(wanted)} layers of {model_name}\'s '
          f'auxiliary head {source_module} (a saved file has all of them or none): download '
          'them again')
  targets = [layer for layer in targets if layer.name.split('/')[0] not in afresh]
  if registered_last:
    moved = [layer for layer in targets if layer.name.split('/')[0] in registered_last]
    kept = [layer for layer in targets if layer not in moved]
    targets = kept[:-1] + moved + kept[-1:]
  filled: dict[tuple, np.ndarray] = {}
  for index, model_layer in enumerate(targets):
    if index >= len(sources):
      raise ConversionError(
          f'the weights end before {model_name}\'s layer {model_layer.name} '
          f'({len(sources)} layers in the file, {len(targets)} in the network): these '
          f'weights are not of {model_name} (python -m trained.convert --list)')
    source = sources[index]
    table = _NORM if model_layer.kind == 'norm' else _LINEAR
    if (source.kind == 'norm') != (model_layer.kind == 'norm'):
      leaf = next(iter(source.tensors))
      raise _mismatch(source, leaf, model_layer, None, model_name)
    for leaf, value in source.tensors.items():
      if leaf == 'num_batches_tracked':
        continue
      target = table.get(leaf)
      if target is None or target not in model_layer.tensors:
        raise _mismatch(source, leaf, model_layer, None, model_name)
      if leaf == 'weight' and model_layer.kind != 'norm':
        array = _convert_weight(source, model_layer, model_name)
      else:
        array = np.asarray(value, dtype=np.float32)
        if array.shape != tuple(model_layer.tensors[target]):
          raise _mismatch(source, leaf, model_layer, target, model_name,
                          target_shape=model_layer.tensors[target])
      filled[(target[0], *model_layer.name.split('/'), target[1])] = array
    missing = [key for key in model_layer.tensors
               if (key[0], *model_layer.name.split('/'), key[1]) not in filled]
    if missing:
      collection, leaf = missing[0]
      raise ConversionError(
          f'{model_name}\'s variable {collection}/{model_layer.name}/{leaf} '
          f'{tuple(model_layer.tensors[missing[0]])} has no tensor in the source\'s layer '
          f'{source.name}: these weights are not of {model_name} (python -m trained.convert '
          '--list)')
  if len(sources) > len(targets):
    extra = sources[len(targets)]
    leaf = next(iter(extra.tensors))
    raise ConversionError(
        f'source tensor {extra.name}.{leaf} {tuple(extra.tensors[leaf].shape)} is left over '
        f'after every variable of {model_name} is filled: these weights are not of '
        f'{model_name} (python -m trained.convert --list)')
  if afresh:
    filled.update(flax.traverse_util.flatten_dict(initialise_afresh(model, image_size, afresh)))
  expected = flax.traverse_util.flatten_dict(flax.core.unfreeze(shapes))
  unfilled = [key for key in expected if key not in filled]
  if unfilled:
    raise ConversionError(
        f'{model_name}\'s variable {"/".join(unfilled[0])} {tuple(expected[unfilled[0]].shape)} '
        'lies outside the Conv, Dense and BatchNorm layers this converter fills')
  return flax.traverse_util.unflatten_dict(filled)


LAYOUTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'layouts')


def in_registration_order(state_dict: dict[str, np.ndarray], model_name: str,
                          weights_path: str) -> dict[str, np.ndarray]:
  """`state_dict` in its network's module registration order.

  A .pth state dict is in that order already. A .safetensors file sorts its tensors by
  name, so the order comes from trained/layouts/<model>.txt (trained/layouts/make_layouts.py
  wrote it from the library); a tensor the layout does not name means other weights.
  """
  if not weights_path.endswith('.safetensors'):
    return state_dict
  path = os.path.join(LAYOUTS, f'{model_name}.txt')
  if not os.path.exists(path):
    raise ConversionError(f'{model_name}\'s source does not ship .safetensors files, so '
                          'their layout is unknown: convert its .pth weights')
  with open(path) as file:
    order = [line.strip() for line in file if line.strip() and not line.startswith('#')]
  position = {name: index for index, name in enumerate(order)}
  unknown = [name for name in state_dict if name not in position]
  if unknown:
    raise ConversionError(
        f'source tensor {unknown[0]} {tuple(state_dict[unknown[0]].shape)} is not in the '
        f'layout of {model_name}\'s source ({path}): these weights are not of {model_name} '
        '(python -m trained.convert --list)')
  return {name: state_dict[name] for name in sorted(state_dict, key=position.__getitem__)}


def run_config(source: Source, num_classes: int, resize: int, crop: int):
  """The config a converted checkpoint carries: the registry network on ImageNet, evaluated
  with the source's own preprocessing."""
  from configs import default  # pylint: disable=import-outside-toplevel

  config = default.get_config()
  config.model = source.model
  config.dataset = 'imagenet2012'
  config.num_classes = num_classes
  config.image_size = crop
  config.eval_preprocess = f'resize_short({resize})|center_crop({crop})'
  return config


def write_checkpoint(out: str, source: Source, variables: dict, num_classes: int,
                     weights_path: str, resize: int, crop: int,
                     initialised_afresh: list[str] = ()) -> str:
  """<out>/checkpoints/0: the variables and the run description evaluate.py reads;
  `initialised_afresh` names the modules the weights did not fill (auxiliary heads)."""
  import orbax.checkpoint as ocp  # pylint: disable=import-outside-toplevel
  from training import checkpoints  # pylint: disable=import-outside-toplevel

  config = run_config(source, num_classes, resize, crop)
  names = class_names.imagenet_synsets() if num_classes == class_names.IMAGENET_CLASSES else None
  run = checkpoints.describe_run(config, num_classes, 3, [255 * m for m in source.mean],
                                 [255 * s for s in source.std], config.eval_preprocess, names)
  run['pretrained'] = {
      'library': source.library, 'name': source.name, 'file': os.path.abspath(weights_path),
      'published_top1': source.top1, 'resize': resize, 'crop': crop,
      'interpolation': source.interpolation, 'mean': list(source.mean),
      'std': list(source.std), 'initialised_afresh': list(initialised_afresh)}
  state = {'params': variables['params'], 'batch_stats': variables.get('batch_stats', {})}
  manager = ocp.CheckpointManager(
      os.path.join(os.path.abspath(out), 'checkpoints'),
      options=ocp.CheckpointManagerOptions(create=True, enable_async_checkpointing=False),
      item_names=('state', 'run'))
  manager.save(0, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                          run=ocp.args.JsonSave(run)))
  manager.wait_until_finished()
  manager.close()
  return manager.directory


def classifier_outputs(state_dict: dict[str, np.ndarray], model_name: str) -> int:
  """The number of classes: the outputs of the last layer, the classifier of every
  covered network."""
  last = source_layers(state_dict)[-1]
  if last.kind == 'norm' or last.tensors['weight'].shape[0] < 1:
    raise ConversionError(f'the weights end with {last.name}, not a classifier: these '
                          f'weights are not of {model_name} (python -m trained.convert --list)')
  return int(last.tensors['weight'].shape[0])


def _leaves(tree: dict):
  """The arrays of a nested dict in insertion order (the classifier comes last)."""
  for value in tree.values():
    if isinstance(value, dict):
      yield from _leaves(value)
    else:
      yield value


def check_out(out: str) -> None:
  """--out is a folder (or a path to make one) that this user can write, without checkpoints."""
  checkpoints_dir = os.path.join(out, 'checkpoints')
  for path in (out, checkpoints_dir):
    if os.path.exists(path) and not os.path.isdir(path):
      raise ConversionError(f'{path} is a file, not a folder: pass an --out folder that is new '
                            'or empty')
  if os.path.isdir(checkpoints_dir) and os.listdir(checkpoints_dir):
    raise ConversionError(f'{out} already holds checkpoints: pass another --out, or remove it')
  existing = os.path.abspath(out)  # the nearest folder that exists, where writing starts
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise ConversionError(f'{existing} is a file, so --out={out} cannot be made: pass an --out '
                          'folder path')
  if not os.access(existing, os.W_OK | os.X_OK):
    raise ConversionError(f'cannot write in {existing}: pass an --out folder you can write to')


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog='python -m trained.convert',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--list', action='store_true', help='the covered sources, then exit')
  parser.add_argument('--model', help='registry name (see --list)')
  parser.add_argument('--weights', help='a torchvision .pth or timm .safetensors/.pth file')
  parser.add_argument('--out', help='the run folder to write (evaluate.py --workdir=<out>)')
  parser.add_argument('--resize', type=int, default=None,
                      help='evaluation resize (shorter side); default: the source\'s')
  parser.add_argument('--crop', type=int, default=None,
                      help='evaluation crop and input size; default: the source\'s')
  parser.add_argument('--allow_nonfinite', action='store_true',
                      help='convert weights holding NaN or infinity (refused by default)')
  return parser.parse_args(argv)


def main(argv: list[str]) -> int:
  args = parse_args(argv)
  if args.list:
    print(describe_sources())
    return 0
  try:
    if not (args.model and args.weights and args.out):
      raise ConversionError('pass --model, --weights and --out (or --list)')
    if args.model not in SOURCES:
      known = ', '.join(SOURCES)
      raise ConversionError(f'no torchvision or timm source is known for {args.model!r}: '
                            f'pass one of {known}')
    source = SOURCES[args.model]
    check_out(args.out)
    state_dict = in_registration_order(read_weights(args.weights), args.model, args.weights)
    check_values(state_dict, args.allow_nonfinite)
    num_classes = classifier_outputs(state_dict, args.model)
    model = registry.create(args.model, num_classes=num_classes)
    crop = args.crop or source.crop
    with np.errstate(over='ignore'):  # values beyond float32: refused above, or allowed
      variables = convert_state_dict(state_dict, args.model, model, crop,
                                     source.registered_last, source.auxiliary_heads)
    afresh = missing_auxiliary_heads(state_dict, source.auxiliary_heads)
    directory = write_checkpoint(args.out, source, variables, num_classes, args.weights,
                                 args.resize or source.resize, crop, afresh)
  except (WeightsError, ConversionError) as error:
    # Tensor names come from the file: shown escaped, so that the message stays one line.
    message = ''.join(c if c.isprintable() else repr(c)[1:-1] for c in str(error))
    print(f'error: {message}', file=sys.stderr)
    return 2
  count = sum(int(np.prod(v.shape)) for v in _leaves(variables['params']))
  fresh = (f'; auxiliary heads {", ".join(afresh)} initialised afresh (not in the file, '
           'unused in evaluation)' if afresh else '')
  print(f'converted {args.weights} ({source.library}:{source.name}) into {args.model}: '
        f'{count:,} parameters, {len(state_dict)} source tensors{fresh}; checkpoint '
        f'{directory}/0')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
