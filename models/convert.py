r"""Converts torchvision and timm weights into checkpoints of this project's networks.

    python -m models.convert --list
    python -m models.convert --model=resnet50 --weights=resnet50-0676ba61.pth \
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
import dataclasses
import importlib.util
import os
import sys

import numpy as np

from models import registry
from models.layer_order import Layer, model_layers
from models.weights_file import WeightsError, read_weights

TORCHVISION = 'torchvision'
TIMM = 'timm'


@dataclasses.dataclass(frozen=True)
class Source:
  """A released network that a registry network reproduces exactly, and its weights."""

  model: str  # the registry name
  library: str  # TORCHVISION or TIMM
  name: str  # the library's own name (torchvision.models.<name>, timm.create_model(<name>))
  weights: str  # the file its authors publish (torchvision URL's file, timm's hub id)
  top1: float  # ImageNet top-1 (%) those weights reach, as published (quoted, not measured)
  resize: int = 256  # evaluation: shorter side resized to this...
  crop: int = 224  # ...then the centre crop of this side
  interpolation: str = 'bilinear'
  mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # on the 0-1 scale
  std: tuple[float, float, float] = (0.229, 0.224, 0.225)
  # Module path prefixes of the registry network that the released definition registers
  # after all its other modules but the final classifier.
  registered_last: tuple[str, ...] = ()
  note: str = ''


HALF = (0.5, 0.5, 0.5)


def _torchvision(model, weights, top1, name=None, **kwargs) -> Source:
  return Source(model, TORCHVISION, name or model, weights, top1, **kwargs)


# Published top-1 (quoted): torchvision's weight tables (IMAGENET1K_V1), timm's
# results/results-imagenet.csv. Resize, crop, interpolation, mean and std are each weights'
# own evaluation transform (torchvision's weight metadata, timm's pretrained configs).
SOURCES = {source.model: source for source in [
    _torchvision('resnet18', 'resnet18-f37072fd.pth', 69.758),
    _torchvision('resnet34', 'resnet34-b627a593.pth', 73.314),
    _torchvision('resnet50', 'resnet50-0676ba61.pth', 76.130,
                 note='IMAGENET1K_V2 (resnet50-11ad3fa6.pth, 80.858 %): --resize=232'),
    _torchvision('resnet101', 'resnet101-63fe2227.pth', 77.374),
    _torchvision('resnet152', 'resnet152-394f9c45.pth', 78.312),
    _torchvision('wide_resnet50_2', 'wide_resnet50_2-95faca4d.pth', 78.468),
    _torchvision('resnext50_32x4d', 'resnext50_32x4d-7cdf4587.pth', 77.618),
    _torchvision('resnext101_32x8d', 'resnext101_32x8d-8ba56ff5.pth', 79.312),
    _torchvision('vgg11', 'vgg11-8a719046.pth', 69.020),
    _torchvision('vgg13', 'vgg13-19584684.pth', 69.928),
    _torchvision('vgg16', 'vgg16-397923af.pth', 71.592),
    _torchvision('vgg19', 'vgg19-dcbb9e9d.pth', 72.376),
    _torchvision('vgg11_bn', 'vgg11_bn-6002323d.pth', 70.370),
    _torchvision('vgg13_bn', 'vgg13_bn-abd245e5.pth', 71.586),
    _torchvision('vgg16_bn', 'vgg16_bn-6c64b313.pth', 73.360),
    _torchvision('vgg19_bn', 'vgg19_bn-c79401a0.pth', 74.218),
    _torchvision('densenet121', 'densenet121-a639ec97.pth', 74.434),
    _torchvision('densenet161', 'densenet161-8d451a50.pth', 77.138),
    _torchvision('densenet169', 'densenet169-b2777c0a.pth', 75.600),
    _torchvision('densenet201', 'densenet201-c1103571.pth', 76.896),
    _torchvision('mobilenet_v2', 'mobilenet_v2-b0353104.pth', 71.878),
    _torchvision('mobilenet_v3_large', 'mobilenet_v3_large-8738ca79.pth', 74.042),
    _torchvision('mobilenet_v3_small', 'mobilenet_v3_small-047dcff4.pth', 67.668),
    # Released networks that differ from their papers' text: registry variants named so.
    _torchvision('alexnet_torchvision', 'alexnet-owt-7be5be79.pth', 56.522, name='alexnet'),
    # torchvision's GoogLeNet and Inception v3 weights expect transform_input=True, which
    # re-normalises ImageNet-normalised pixels to mean 0.5, std 0.5: their real normalisation.
    _torchvision('googlenet_torchvision', 'googlenet-1378be20.pth', 69.778, name='googlenet',
                 mean=HALF, std=HALF, registered_last=('aux1', 'aux2')),
    _torchvision('inception_v3_torchvision', 'inception_v3_google-0cc3c7bd.pth', 77.294,
                 name='inception_v3', resize=342, crop=299, mean=HALF, std=HALF),
    # timm: resize = floor(input size / crop_pct), as timm's eval transform computes it.
    Source('inception_v4_tfslim', TIMM, 'inception_v4.tf_in1k',
           'timm/inception_v4.tf_in1k model.safetensors', 80.144, resize=341, crop=299,
           interpolation='bicubic', mean=HALF, std=HALF),
    Source('inception_resnet_v2_tfslim', TIMM, 'inception_resnet_v2.tf_in1k',
           'timm/inception_resnet_v2.tf_in1k model.safetensors', 80.434, resize=333, crop=299,
           interpolation='bicubic', mean=HALF, std=HALF),
    Source('se_resnet50_caffe', TIMM, 'legacy_seresnet50.in1k', 'se_resnet50-ce0d4300.pth',
           77.650),
    Source('se_resnext50_32x4d_caffe', TIMM, 'legacy_seresnext50_32x4d.in1k',
           'legacy_se_resnext50_32x4d-f3651bad.pth', 79.080),
    Source('mobilenet_v1_relu6', TIMM, 'mobilenetv1_100.ra4_e3600_r224_in1k',
           'timm/mobilenetv1_100.ra4_e3600_r224_in1k model.safetensors', 75.388,
           interpolation='bicubic', mean=HALF, std=HALF),
]}


def describe_sources() -> str:
  """The --list table: each registry network, its source and the published top-1."""
  lines = [f'{"registry model":<28}{"source":<32}{"weights file":<40}{"top-1 %":>8}  eval']
  for source in SOURCES.values():
    origin = f'{source.library}:{source.name}'
    lines.append(f'{source.model:<28}{origin:<32}{source.weights:<40}{source.top1:>8.3f}  '
                 f'resize {source.resize}, crop {source.crop}, {source.interpolation}'
                 + (f'; {source.note}' if source.note else ''))
  return '\n'.join(lines)


class ConversionError(ValueError):
  """Weights that do not fit the network, with what to do."""


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
      '(python -m models.convert --list names the network of each source)')


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


def convert_state_dict(state_dict: dict[str, np.ndarray], model_name: str, model,
                       image_size: int, registered_last: tuple[str, ...] = ()) -> dict:
  """The network's variables ({'params': ..., 'batch_stats': ...}) from `state_dict`."""
  import flax  # pylint: disable=import-outside-toplevel

  sources = source_layers(state_dict)
  targets, shapes = model_layers(model, image_size)
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
          f'weights are not of {model_name} (python -m models.convert --list)')
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
          f'{source.name}: these weights are not of {model_name} (python -m models.convert '
          '--list)')
  if len(sources) > len(targets):
    extra = sources[len(targets)]
    leaf = next(iter(extra.tensors))
    raise ConversionError(
        f'source tensor {extra.name}.{leaf} {tuple(extra.tensors[leaf].shape)} is left over '
        f'after every variable of {model_name} is filled: these weights are not of '
        f'{model_name} (python -m models.convert --list)')
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
  name, so the order comes from models/layouts/<model>.txt (models/layouts/make_layouts.py
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
        '(python -m models.convert --list)')
  return {name: state_dict[name] for name in sorted(state_dict, key=position.__getitem__)}


def imagenet_class_names() -> list[str]:
  """The 1000 ImageNet synsets in the order torchvision's and timm's classifiers use
  (sorted WordNet ids), as tensorflow-datasets ships them for imagenet2012."""
  package = importlib.util.find_spec('tensorflow_datasets').submodule_search_locations[0]
  with open(os.path.join(package, 'datasets', 'imagenet2012', 'labels.txt')) as file:
    return [line.strip() for line in file if line.strip()]


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
                     weights_path: str, resize: int, crop: int) -> str:
  """<out>/checkpoints/0: the variables and the run description evaluate.py reads."""
  import orbax.checkpoint as ocp  # pylint: disable=import-outside-toplevel
  from training import checkpoints  # pylint: disable=import-outside-toplevel

  config = run_config(source, num_classes, resize, crop)
  run = checkpoints.describe_run(config, num_classes, 3, [255 * m for m in source.mean],
                                 [255 * s for s in source.std])
  run['pretrained'] = {
      'library': source.library, 'name': source.name, 'file': os.path.abspath(weights_path),
      'published_top1': source.top1, 'resize': resize, 'crop': crop,
      'interpolation': source.interpolation, 'mean': list(source.mean),
      'std': list(source.std),
      'class_names': imagenet_class_names() if num_classes == 1000 else None}
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


def _leaves(tree: dict):
  """The arrays of a nested dict in insertion order (the classifier comes last)."""
  for value in tree.values():
    if isinstance(value, dict):
      yield from _leaves(value)
    else:
      yield value


def check_out(out: str) -> None:
  checkpoints_dir = os.path.join(out, 'checkpoints')
  if os.path.isdir(checkpoints_dir) and os.listdir(checkpoints_dir):
    raise ConversionError(f'{out} already holds checkpoints: pass another --out, or remove it')
  parent = os.path.dirname(os.path.abspath(out)) or '.'
  if not os.access(parent if not os.path.exists(out) else out, os.W_OK):
    raise ConversionError(f'cannot write in {out}: pass an --out folder you can write to')


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog='python -m models.convert',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--list', action='store_true', help='the covered sources, then exit')
  parser.add_argument('--model', help='registry name (see --list)')
  parser.add_argument('--weights', help='a torchvision .pth or timm .safetensors/.pth file')
  parser.add_argument('--out', help='the run folder to write (evaluate.py --workdir=<out>)')
  parser.add_argument('--resize', type=int, default=None,
                      help='evaluation resize (shorter side); default: the source\'s')
  parser.add_argument('--crop', type=int, default=None,
                      help='evaluation crop and input size; default: the source\'s')
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
    # The classifier is the last layer of every covered network.
    num_classes = int(source_layers(state_dict)[-1].tensors['weight'].shape[0])
    model = registry.create(args.model, num_classes=num_classes)
    crop = args.crop or source.crop
    variables = convert_state_dict(state_dict, args.model, model, crop, source.registered_last)
    directory = write_checkpoint(args.out, source, variables, num_classes, args.weights,
                                 args.resize or source.resize, crop)
  except (WeightsError, ConversionError) as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  count = sum(int(np.prod(v.shape)) for v in _leaves(variables['params']))
  print(f'converted {args.weights} ({source.library}:{source.name}) into {args.model}: '
        f'{count:,} parameters, {len(state_dict)} source tensors; checkpoint {directory}/0')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
