"""MobileNets: depthwise separable networks for mobile devices.

MobileNet v1 — Howard et al. 2017, "MobileNets: Efficient convolutional neural
networks for mobile vision applications", Table 1: a 3×3/2 convolution of 32
filters, then 13 depthwise separable layers (3×3 depthwise conv, BN, ReLU;
1×1 pointwise conv, BN, ReLU; Fig. 3), global average pooling and a linear
classifier. `width_multiplier` is α of §3.3 (every layer's channels times α);
the resolution multiplier ρ is the input size. Paper at α=1, 224×224: 4.2 M
parameters, 569 M multiply-adds (Table 2); here 4,231,976 and 568,740,352
(the convolutions carry no bias, as each feeds a BatchNorm). Table 1 lists the
last depthwise layer with stride 2, but its input and output are both 7×7:
it has stride 1, as in the authors' released model.

MobileNet v2 — Sandler et al. 2018, "MobileNetV2: Inverted residuals and linear
bottlenecks", Table 2: a 3×3/2 convolution of 32 filters, 17 inverted residual
blocks (1×1 expansion by t with ReLU6, 3×3 depthwise with ReLU6, linear 1×1
projection; Table 1 and Fig. 4d; a shortcut where stride is 1 and the channels
do not change), a 1×1 convolution to 1280, global pooling, dropout 0.2 and a
linear classifier: 3,504,872 parameters (paper: 3.4 M), 300,774,272
multiply-adds (paper: 300 M). The first block has t=1: it has no expansion
convolution (nothing to expand), as in the authors' code. The width multiplier
rounds channels to multiples of 8 and does not shrink the last 1280 (§6.1).

MobileNet v3 — Howard et al. 2019, "Searching for MobileNetV3", Tables 1
(large) and 2 (small): inverted residual blocks with 3×3 or 5×5 depthwise
convolutions, ReLU or h-swish (Eq. 2: x·ReLU6(x+3)/6), squeeze-and-excite in
some blocks (§5.3: global pool, reduce to a quarter of the expanded channels
with ReLU, expand with a hard-sigmoid gate ReLU6(x+3)/6), and the efficient
last stage of §5.1: 1×1 conv to 960 (large) / 576 (small) with BN and h-swish,
global pooling, then the 1280 / 1024 layer as a dense layer with bias and no
BN ("NBN"), h-swish, dropout 0.2 and the classifier. BatchNorm epsilon is
1e-3 (TensorFlow's, the paper's framework). The tables leave two choices open;
we follow the authors' released model (the reading torchvision also takes):
  * the squeeze width is make_divisible(expanded / 4, 8) (e.g. 72 -> 24, 120 -> 32);
  * a block whose expansion equals its input (the first one) has no 1×1 expansion conv.
This gives exactly 5,483,032 parameters (large; paper 5.4 M) and 2,542,856
(small; paper 2.5 M), at 216.6 M and 56.5 M multiply-adds (paper: 219 M and
56 M; the paper does not say what its count includes: 1.1 % and 0.9 % apart).
"""

from functools import partial
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from models.features import stage
from models.layers import (ConvNormActivation, GlobalAvgPool, SqueezeExcitation,
                           StochasticDepth, linear_survival_probabilities)
from models.registry import register


def make_divisible(value: float, divisor: int = 8) -> int:
  """`value` rounded to the nearest multiple of `divisor` (at least `divisor`), moved up one
  step if rounding down lost more than 10 % — the channel rounding of the MobileNet v2/v3 code."""
  rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
  return rounded + divisor if rounded < 0.9 * value else rounded


def conv_unit(filters: int, kernel_size: int = 1, strides: int = 1, **options) -> nn.Module:
  """Convolution (no bias), BatchNorm, activation (`options`, ReLU by default): the unit of
  every MobileNet. Its padding is k // 2 on every side, which at stride 2 differs from
  'SAME'; its layers keep Flax's automatic names (Conv_0, BatchNorm_0)."""
  return ConvNormActivation(filters, kernel_size, strides, padding=kernel_size // 2,
                            conv_name=None, norm_name=None, **options)


def ends_before_downsampling(strides: Sequence[int]) -> list[bool]:
  """For each block of strides `strides`: whether its output is a stage map, as timm's
  features_only takes them: the last block before a stride-2 block, and the last block."""
  return [index + 1 == len(strides) or strides[index + 1] > 1 for index in range(len(strides))]


# --- MobileNet v1 --------------------------------------------------------------------------

# Table 1 after the first convolution: (pointwise filters, depthwise stride) per separable layer.
V1_LAYERS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
             (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


class DepthwiseSeparable(nn.Module):
  """3×3 depthwise conv, BN, ReLU; 1×1 pointwise conv, BN, ReLU (Fig. 3 right of v1)."""

  filters: int
  strides: int = 1
  activation: Callable = nn.relu
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    unit = partial(conv_unit, activation=self.activation, train=self.train, dtype=self.dtype,
                   param_dtype=self.param_dtype)
    x = unit(x.shape[-1], 3, self.strides, depthwise=True, name='depthwise')(x)
    return unit(self.filters, 1, name='pointwise')(x)


class MobileNetV1(nn.Module):
  """MobileNet of Howard et al. 2017, Table 1 (see module docstring).

  `activation`: ReLU, as the paper writes; the authors' released model (TF-slim) and timm's
  `mobilenetv1_100` use ReLU6 (`mobilenet_v1_relu6`).
  """

  width_multiplier: float = 1.0
  activation: Callable = nn.relu
  dropout_rate: float = 0.0  # not in the paper; its released model uses 0.001
  num_classes: int = 1000
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def channels(self, filters: int) -> int:
    # α·filters, kept at 8 or more so that small multipliers still give usable layers.
    return max(8, int(filters * self.width_multiplier))

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    common = dict(activation=self.activation, train=train, dtype=self.dtype,
                  param_dtype=self.param_dtype)
    x = conv_unit(self.channels(32), 3, 2, name='conv1', **common)(x)
    reduction = 2
    stage_ends = ends_before_downsampling([strides for _, strides in V1_LAYERS])
    for index, (filters, strides) in enumerate(V1_LAYERS):
      x = DepthwiseSeparable(self.channels(filters), strides, name=f'separable{index + 1}',
                             **common)(x)
      reduction *= strides
      if stage_ends[index]:
        x = stage(x, f'separable{index + 1}', reduction)
    x = GlobalAvgPool()(x)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='classifier')(x)


# --- The inverted residual block of v2 and v3 ----------------------------------------------

hard_swish = jax.nn.hard_swish  # x · ReLU6(x + 3) / 6, Eq. (2) of v3
hard_sigmoid = jax.nn.hard_sigmoid  # ReLU6(x + 3) / 6


class InvertedResidual(nn.Module):
  """1×1 expansion to `expanded` channels, k×k depthwise, [squeeze-and-excite], linear 1×1
  projection; a shortcut where the shape is kept. MobileNet v2's block (Table 1 and Fig. 4d
  of Sandler et al.: 3×3, ReLU6, no squeeze-and-excite) and v3's (Fig. 4 of Howard et al.
  2019: 3×3 or 5×5, ReLU or h-swish, squeeze-and-excite in some blocks).

  A block whose expansion equals its input (v2's t = 1, v3's first) has no expansion
  convolution: there is nothing to expand (the authors' code).
  """

  expanded: int
  filters: int
  kernel_size: int = 3
  strides: int = 1
  activation: Callable = nn.relu6
  squeeze_channels: int | None = None  # the squeeze-and-excite's width (v3); None: none
  bn_epsilon: float = 1e-5
  survival_probability: float = 1.0  # stochastic depth of the residual branch
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    unit = partial(conv_unit, activation=self.activation, bn_epsilon=self.bn_epsilon,
                   train=self.train, dtype=self.dtype, param_dtype=self.param_dtype)
    in_channels = x.shape[-1]
    y = x
    if self.expanded != in_channels:
      y = unit(self.expanded, 1, name='expand')(y)
    y = unit(self.expanded, self.kernel_size, self.strides, depthwise=True, name='depthwise')(y)
    if self.squeeze_channels is not None:
      y = SqueezeExcitation(squeeze_channels=self.squeeze_channels, gate=hard_sigmoid,
                            dtype=self.dtype, param_dtype=self.param_dtype,
                            name='squeeze_excite')(y)
    # Linear bottleneck (§3.2 of v2): no ReLU after the projection, it would destroy information.
    y = unit(self.filters, 1, activation=None, name='project')(y)
    if self.strides == 1 and in_channels == self.filters:
      y = x + StochasticDepth(self.survival_probability)(y, self.train)
    return y


# --- MobileNet v2 --------------------------------------------------------------------------

# Table 2 between the first and the last convolution: expansion t, channels c, repeats n,
# stride s of the first repeat.
V2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
             (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2(nn.Module):
  """MobileNetV2 of Sandler et al. 2018, Table 2 (see module docstring)."""

  width_multiplier: float = 1.0
  last_channels: int = 1280
  dropout_rate: float = 0.2
  # Survival probability of the last block (Huang et al. 2016), decaying linearly over
  # the blocks; it acts on the blocks with a shortcut. 1.0: off.
  stochastic_depth: float = 1.0
  num_classes: int = 1000
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    common = dict(train=train, dtype=self.dtype, param_dtype=self.param_dtype)
    alpha = self.width_multiplier
    x = conv_unit(make_divisible(32 * alpha), 3, 2, activation=nn.relu6, name='conv1',
                  **common)(x)
    index = 0
    survival = linear_survival_probabilities(sum(repeats for _, _, repeats, _ in V2_STAGES),
                                             self.stochastic_depth)
    block_strides = [strides if repeat == 0 else 1
                     for _, _, repeats, strides in V2_STAGES for repeat in range(repeats)]
    stage_ends = ends_before_downsampling(block_strides)
    reduction = 2
    for expansion, channels, repeats, strides in V2_STAGES:
      for repeat in range(repeats):
        x = InvertedResidual(x.shape[-1] * expansion, make_divisible(channels * alpha),
                             strides=block_strides[index],
                             survival_probability=survival[index], name=f'block{index + 1}',
                             **common)(x)
        reduction *= block_strides[index]
        if stage_ends[index]:
          x = stage(x, f'block{index + 1}', reduction)
        index += 1
    x = conv_unit(make_divisible(self.last_channels * max(1.0, alpha)), 1,
                  activation=nn.relu6, name='conv_last', **common)(x)
    x = GlobalAvgPool()(x)
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='classifier')(x)


# --- MobileNet v3 --------------------------------------------------------------------------

# Tables 1 and 2 of v3 after the first convolution: (depthwise kernel, expanded channels,
# output channels, squeeze-and-excite, activation, stride) per block. 'RE': ReLU, 'HS': h-swish.
V3_LARGE_BLOCKS = (
    (3, 16, 16, False, 'RE', 1), (3, 64, 24, False, 'RE', 2), (3, 72, 24, False, 'RE', 1),
    (5, 72, 40, True, 'RE', 2), (5, 120, 40, True, 'RE', 1), (5, 120, 40, True, 'RE', 1),
    (3, 240, 80, False, 'HS', 2), (3, 200, 80, False, 'HS', 1), (3, 184, 80, False, 'HS', 1),
    (3, 184, 80, False, 'HS', 1), (3, 480, 112, True, 'HS', 1), (3, 672, 112, True, 'HS', 1),
    (5, 672, 160, True, 'HS', 2), (5, 960, 160, True, 'HS', 1), (5, 960, 160, True, 'HS', 1))
V3_SMALL_BLOCKS = (
    (3, 16, 16, True, 'RE', 2), (3, 72, 24, False, 'RE', 2), (3, 88, 24, False, 'RE', 1),
    (5, 96, 40, True, 'HS', 2), (5, 240, 40, True, 'HS', 1), (5, 240, 40, True, 'HS', 1),
    (5, 120, 48, True, 'HS', 1), (5, 144, 48, True, 'HS', 1), (5, 288, 96, True, 'HS', 2),
    (5, 576, 96, True, 'HS', 1), (5, 576, 96, True, 'HS', 1))
V3_ACTIVATIONS = {'RE': nn.relu, 'HS': hard_swish}
V3_BN_EPSILON = 1e-3


class MobileNetV3(nn.Module):
  """MobileNetV3-Large/Small of Howard et al. 2019, Tables 1 and 2 (see module docstring).

  width_multiplier scales every block and the last 1×1 conv (rounded to multiples of 8);
  as in v2, the dense head layer keeps its width for multipliers below 1.
  """

  blocks: Sequence[tuple]
  last_conv_channels: int
  head_channels: int
  width_multiplier: float = 1.0
  dropout_rate: float = 0.2
  stochastic_depth: float = 1.0  # as in MobileNetV2
  num_classes: int = 1000
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    common = dict(train=train, dtype=self.dtype, param_dtype=self.param_dtype)
    survival = linear_survival_probabilities(len(self.blocks), self.stochastic_depth)

    def scale(channels):
      return make_divisible(channels * self.width_multiplier)

    x = conv_unit(scale(16), 3, 2, activation=hard_swish, bn_epsilon=V3_BN_EPSILON,
                  name='conv1', **common)(x)
    reduction = 2
    # timm's stages: the stem where the first block downsamples (Small), the last block
    # before each stride-2 block, and the last convolution.
    block_strides = [block[-1] for block in self.blocks]
    if block_strides[0] > 1:
      x = stage(x, 'conv1', reduction)
    stage_ends = ends_before_downsampling(block_strides)[:-1] + [False]
    for index, (kernel, expanded, filters, se, activation, strides) in enumerate(self.blocks):
      # The squeeze is a quarter of the expanded channels, rounded as the authors' code does.
      x = InvertedResidual(
          scale(expanded), scale(filters), kernel_size=kernel, strides=strides,
          activation=V3_ACTIVATIONS[activation],
          squeeze_channels=make_divisible(scale(expanded) / 4) if se else None,
          bn_epsilon=V3_BN_EPSILON, survival_probability=survival[index],
          name=f'block{index + 1}', **common)(x)
      reduction *= strides
      if stage_ends[index]:
        x = stage(x, f'block{index + 1}', reduction)
    x = conv_unit(scale(self.last_conv_channels), 1, activation=hard_swish,
                  bn_epsilon=V3_BN_EPSILON, name='conv_last', **common)(x)
    x = stage(x, 'conv_last', reduction)
    x = GlobalAvgPool()(x)
    head = make_divisible(self.head_channels * max(1.0, self.width_multiplier))
    x = hard_swish(nn.Dense(head, dtype=self.dtype, param_dtype=self.param_dtype,
                            name='head')(x))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='classifier')(x)


# The printed counts of the v2 and v3-Large papers are further off than 1 % (see the
# module docstring): only the exact counts are declared for them.
# Top-1 for `models compare`: the papers state no crop; the numbers are at 224 px.
register('mobilenet_v1', MobileNetV1, parameters=4_231_976, paper_parameters='4.2',
         paper_top1=70.6, paper_top1_source='Howard et al. 2017, Table 8 (224 px; crop not '
                                            'stated)')
register('mobilenet_v1_relu6', partial(MobileNetV1, activation=nn.relu6), parameters=4_231_976,
         paper_top1_source="the released variant: the paper's number is mobilenet_v1's")
register('mobilenet_v2', MobileNetV2, parameters=3_504_872,
         paper_top1=72.0, paper_top1_source='Sandler et al. 2018, Table 4 (224 px; crop not '
                                            'stated)')
register('mobilenet_v3_large', partial(MobileNetV3, blocks=V3_LARGE_BLOCKS,
                                       last_conv_channels=960, head_channels=1280),
         parameters=5_483_032,
         paper_top1=75.2, paper_top1_source='Howard et al. 2019, Table 3 (224 px; crop not '
                                            'stated)')
register('mobilenet_v3_small', partial(MobileNetV3, blocks=V3_SMALL_BLOCKS,
                                       last_conv_channels=576, head_channels=1024),
         parameters=2_542_856, paper_parameters='2.5',
         paper_top1=67.4, paper_top1_source='Howard et al. 2019, Table 3 (224 px; crop not '
                                            'stated)')
