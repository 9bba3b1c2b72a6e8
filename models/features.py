"""Backbone features: every registered network's stage maps, as timm's
`features_only=True, out_indices=(...)` and `model.feature_info` give them.

    from models import features
    extractor = features.create('resnet50', out_indices=(2, 3, 4))  # or ('layer2', ...)
    variables = extractor.init(key, images)  # resnet50's own variables up to layer4
    maps = extractor.apply(variables, images)  # 3 maps, (N, 28, 28, 512) ... (N, 7, 7, 2048)
    features.feature_info('resnet50')  # [FeatureInfo(0, 'act1', 64, 2), ...]

One mechanism for every family: the network's own forward pass marks each stage map with
`stage(x, module, reduction)` where the map is made. Outside a capture the call returns x
and does nothing (training and evaluation are unchanged); inside one (`stage_maps`) it
records the map and, once the last requested stage is recorded, ends the forward pass, so
that the head is neither run nor, at `init`, created. `Features` (the features_only form)
and `LinearProbe` (chosen stage maps, globally average-pooled, concatenated, one new Dense)
share the network's scope, so its variables keep the paths of the whole network and a
converted or trained checkpoint of it loads by path (config.init_from).

`reduction` is the stage's cumulative stride: the map is input / reduction on a side for
inputs divisible by it in the 'SAME'-padded networks; the 'VALID' convolutions of LeNet,
AlexNet, the Inceptions and NASNet take a few pixels more at the borders (Inception v3 at
299 px: 35×35 at reduction 8). `module` names the layer the map comes out of (after its
activation), or the stage as torchvision and timm name it where it is several modules.

The stages of each family, matching timm's `features_only` (module names in brackets)
where timm has the network, and following the same rule (the map before each
downsampling, and the last one) where it has not:

    resnet*, resnext*, wide_resnet50_2, se_*, plain18/34 (timm resnet*, legacy_se*):
        act1 /2 (stem ReLU, before the max pool), layer1 /4 .. layer4 /32
    preact_resnet18/50 (timm resnetv2_*): conv1 /2 (stem.conv), layer1 /4 .. layer4 /32
        (the stage sums, before the final BN-ReLU, as timm's stages.3)
    CIFAR resnet*/plain*/preact_resnet164/wrn28_10: act1 (conv1 for pre-activation) /1,
        layer1 /1, layer2 /2, layer3 /4
    densenet121/161/169/201 (timm densenet*): norm0 /2 (features.norm0, after its ReLU),
        block1 /4, block2 /8, block3 /16 (features.denseblockN, before the transition),
        norm_final /32 (features.norm5, after its ReLU); densenet_bc100_k12: block1 /1,
        block2 /2, norm_final /4
    mobilenet_v1 (timm mobilenetv1_100): separable1 /2, separable3 /4, separable5 /8,
        separable11 /16, separable13 /32 (blocks.0-4)
    mobilenet_v2 (timm mobilenetv2_100): block1 /2, block3 /4, block6 /8, block13 /16,
        block17 /32 (blocks.0, 1, 2, 4, 6; 320 channels, before conv_last)
    mobilenet_v3_large (timm mobilenetv3_large_100, torchvision's detection backbone):
        block1 /2, block3 /4, block6 /8, block12 /16, conv_last /32 (blocks.0, 1, 2, 4, 6)
    mobilenet_v3_small (timm mobilenetv3_small_100): conv1 /2 (bn1), block1 /4, block3 /8,
        block8 /16, conv_last /32
    vgg* (timm vgg*): the ReLU before each max pool, conv1_N /1 .. conv5_N /16, and pool5 /32
    inception_v3* (timm inception_v3): stem/conv2b /2 (Conv2d_2b_3x3), stem/conv4a /4
        (Conv2d_4a_3x3), mixed_5d /8, mixed_6e /16, mixed_7c /32
    inception_v4* (timm inception_v4): stem/conv3 /2 (features.2), stem/mixed_3a /4
        (features.3), inception_a4 /8, inception_b7 /16, inception_c3 /32
    inception_resnet_v2_tfslim (timm inception_resnet_v2): stem/conv2b /2 (conv2d_2b),
        stem/conv4a /4 (conv2d_4a), block_a10 /8 (repeat), block_b20 /16 (repeat_1),
        conv_7b /32 (conv2d_7b); inception_resnet_v2 (the paper's stem of v4): stem/conv3 /2,
        stem/mixed_3a /4, block_a5 /8, block_b10 /16, block_c5 /32
    nasnet_a_* (timm nasnetalarge): stem_conv /2 (conv0), then the ReLU of stem_cell_0 /4
        and of the last normal cell at /8, /16 and /32 (timm's conv_1x1.act of the next
        cell, and act)
    googlenet*: conv1 /2, conv2 /4 (before pool1 and pool2), inception_3b /8,
        inception_4e /16, inception_5b /32
    alexnet*, zfnet: conv1 (after its ReLU and LRN) /4 (zfnet /2), conv2 /8, conv5 /16, pool5 /32
    fractalnet20: block1 /1 .. block5 /16 (before each pool), pool5 /32
    lenet5, lenet5_paper: c1 /1, c3 /2, c5 /4 (after their squashing functions)
"""

import contextvars
import dataclasses
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from models import registry


class StageIndexError(ValueError):
  """out_indices (or probe stages) that the network does not have."""


@dataclasses.dataclass(frozen=True)
class FeatureInfo:
  """One stage map: its index for out_indices, its layer, channels and cumulative stride."""

  index: int
  module: str
  channels: int
  reduction: int


@dataclasses.dataclass
class StageMap:
  """A map recorded by `stage` during a capture."""

  module: str
  reduction: int
  value: Any


class _Capture:
  """The stage maps of one forward pass, up to stage `last` (None: all of them)."""

  def __init__(self, last: int | None):
    self.last = last
    self.maps: list[StageMap] = []


class _EnoughStages(Exception):
  """Ends a captured forward pass once its last requested stage is recorded."""


_active_capture: contextvars.ContextVar[_Capture | None] = contextvars.ContextVar(
    'stage_capture', default=None)


def stage(x, module: str, reduction: int):
  """Marks `x` as the network's next stage map (see the module docstring); returns `x`."""
  capture = _active_capture.get()
  if capture is not None:
    capture.maps.append(StageMap(module, reduction, x))
    if capture.last is not None and len(capture.maps) > capture.last:
      raise _EnoughStages
  return x


def capturing_stages() -> bool:
  """Whether a capture is running: networks then skip their auxiliary classifiers."""
  return _active_capture.get() is not None


def stage_maps(network: nn.Module, x, train: bool = False,
               last: int | None = None) -> list[StageMap]:
  """Runs `network` (a bound submodule, or inside `apply`) on `x` up to its stage `last`
  (None: to the end) and returns the stage maps it marked."""
  capture = _Capture(last)
  token = _active_capture.set(capture)
  try:
    network(x, train=train)
  except _EnoughStages:
    pass
  finally:
    _active_capture.reset(token)
  return capture.maps


def _describe(maps: Sequence[StageMap]) -> str:
  return ', '.join(f'{index} {m.module} /{m.reduction}' for index, m in enumerate(maps))


def select(maps: Sequence[StageMap], out_indices: Sequence[int], network_name: str) -> list:
  """maps[i] for i in out_indices (negative ones count from the end, as in Python)."""
  count = len(maps)
  wrong = [i for i in out_indices if not isinstance(i, int) or not -count <= i < count]
  if wrong or not out_indices:
    asked = f'has no stage {wrong[0]!r}' if wrong else 'was asked for no stage'
    raise StageIndexError(f'{network_name} {asked}: its {count} stage maps are '
                          f'{_describe(maps)} (indices 0..{count - 1}, or -{count}..-1 from '
                          'the end)')
  return [maps[i] for i in out_indices]


def _last_needed(out_indices: Sequence[int] | None) -> int | None:
  """The last stage the forward pass must reach; None (all) where an index counts from the end."""
  if out_indices is None or any(not isinstance(i, int) or i < 0 for i in out_indices):
    return None
  return max(out_indices, default=None)


class Features(nn.Module):
  """A network cut after its last requested stage: `__call__` returns the list of maps at
  `out_indices`, in their order, timm's features_only form. Its variables are the
  network's own, with the same paths, up to that stage. With out_indices None (every
  stage) the forward pass runs to its end, head included: `create` gives the indices."""

  network: nn.Module
  out_indices: tuple[int, ...] | None = None

  def setup(self):
    nn.share_scope(self, self.network)

  def __call__(self, x, train: bool = False):
    maps = stage_maps(self.network, x, train, _last_needed(self.out_indices))
    if self.out_indices is not None:
      maps = select(maps, self.out_indices, type(self.network).__name__)
    return [m.value for m in maps]


class LinearProbe(nn.Module):
  """A linear classifier on a network's stage maps: each map at `stages` globally
  average-pooled, the vectors concatenated, one new Dense layer ('probe'). The network's
  variables keep their paths; its head is not built. With config.trainable=head only the
  probe learns and the network runs in inference mode (a linear probe of its features)."""

  network: nn.Module
  stages: tuple[int, ...]
  num_classes: int = 1000
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def setup(self):
    nn.share_scope(self, self.network)

  @nn.compact
  def __call__(self, x, train: bool = False):
    maps = select(stage_maps(self.network, x, train, _last_needed(self.stages)), self.stages,
                  type(self.network).__name__)
    pooled = jnp.concatenate([jnp.mean(m.value, axis=(1, 2)) for m in maps], axis=-1)
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='probe')(pooled)


def feature_info(name_or_network, image_size: int | None = None,
                 channels: int | None = None) -> list[FeatureInfo]:
  """Every stage map of a registered network (a name) or of a network module: index, layer,
  channels and reduction. Shapes only (jax.eval_shape, no compute), at the registered input
  size and channels unless given (a module needs `image_size`)."""
  network = name_or_network
  if isinstance(name_or_network, str):
    spec = registry.spec(name_or_network)
    network = registry.create(name_or_network)
    image_size, channels = image_size or spec.input_size, channels or spec.channels
  if image_size is None:
    raise ValueError('feature_info of a network module needs its image_size')
  images = jax.ShapeDtypeStruct((1, image_size, image_size, channels or 3), jnp.float32)
  recorded: list[StageMap] = []

  def trace(images):
    def run(module, images):
      recorded[:] = stage_maps(module, images)
      return [m.value for m in recorded]
    return nn.init_with_output(run, network)(jax.random.key(0), images)[0]

  shapes = jax.eval_shape(trace, images)
  return [FeatureInfo(index, m.module, shape.shape[-1], m.reduction)
          for index, (m, shape) in enumerate(zip(recorded, shapes))]


def resolve_stages(name: str, stages: Sequence[int | str], network: nn.Module | None = None
                   ) -> tuple[int, ...]:
  """The indices of `stages` of the registered network `name` (or of `network`, a variant
  of it built with other options), given as indices (negative ones count from the end) or
  layer names ('layer3'); StageIndexError for any it does not have, naming those it has."""
  spec = registry.spec(name)
  infos = feature_info(network or name, spec.input_size, spec.channels)
  maps = [StageMap(info.module, info.reduction, None) for info in infos]
  by_name = {info.module: info.index for info in infos}
  unknown = [item for item in stages if isinstance(item, str) and item not in by_name]
  if unknown:
    select(maps, unknown, name)
  indices = tuple(by_name[item] if isinstance(item, str) else item for item in stages)
  select(maps, indices, name)
  return tuple(index % len(infos) for index in indices)


def parse_stages(text: str) -> tuple[int | str, ...]:
  """'2,3,layer4' -> (2, 3, 'layer4'): the stages of a command line or config field."""
  items = [item.strip() for item in text.split(',') if item.strip()]
  return tuple(int(item) if item.lstrip('-').isdigit() else item for item in items)


def create(name: str, out_indices: Sequence[int | str] | None = None, **options) -> Features:
  """The registered network `name` (constructor `options` as models.create takes them) as
  a feature extractor of its maps at `out_indices` (None: all of them); StageIndexError
  for stages it does not have."""
  network = registry.create(name, **options)
  if out_indices is None:  # all of them, the last one known: the head is not run
    out_indices = range(len(feature_info(network, registry.spec(name).input_size,
                                         registry.spec(name).channels)))
  return Features(network, resolve_stages(name, tuple(out_indices), network))


def linear_probe(name: str, stages: Sequence[int | str], num_classes: int,
                 **options) -> LinearProbe:
  """A LinearProbe with `num_classes` outputs on the registered network `name` (built with
  `options`) at `stages`; StageIndexError for stages it does not have."""
  network = registry.create(name, **options)
  return LinearProbe(network, resolve_stages(name, tuple(stages), network), num_classes,
                     dtype=getattr(network, 'dtype', jnp.float32),
                     param_dtype=getattr(network, 'param_dtype', jnp.float32))
