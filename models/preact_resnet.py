"""Pre-activation ResNet: He, Zhang, Ren & Sun 2016, "Identity mappings in deep
residual networks".

A pre-activation residual unit (Fig. 4(e) of the paper) normalises and
activates at the start of its branch, BN → ReLU → conv, and adds the branch to
an untouched identity path, so that the signal travels from any unit to any
later one by additions alone (Eq. 4). As the paper's appendix says, two special
cases follow from this: the first unit's activation comes right after conv1
(here: the first unit's own BN → ReLU, so the stem is a bare convolution), and the
network ends with an extra BN → ReLU after the last addition, before pooling.

Where a unit changes shape (stride 2 or more channels) its shortcut is a 1×1
projection (no BN: its input is already normalised), and both paths start from
the pre-activated input, as in the authors' code: an identity shortcut would
otherwise have to skip the pre-activation while the projection cannot.

    name              unit         stages                     params
    preact_resnet164  bottleneck   3 × 18 units, 16/32/64 ×4  1.70 M (paper §4: 1.7 M)
    preact_resnet18   basic        2, 2, 2, 2 (ImageNet)      11.69 M
    preact_resnet50   bottleneck   3, 4, 6, 3 (ImageNet)      25.55 M

`preact_resnet164` is the CIFAR-10 network of §4 and Table 3 (9n+2 layers,
n = 18): conv1 3×3×16, three stages of 18 bottleneck units whose 1×1-3×3-1×1
convolutions are 16, 32, 64 wide and output 4× as many channels (64, 128, 256),
the final BN → ReLU, global average pooling and a 10-way classifier. The
ImageNet networks (the paper trains 152- and 200-layer ones, Table 5) use
Table 1 of He et al. 2016a with pre-activation units; their stem is conv1 7×7/2
and the 3×3/2 max pool with no BN or ReLU in between, because the first unit
pre-activates (as TF-slim's resnet_v2; fb.resnet.torch instead puts BN → ReLU
before the pool and skips the first unit's pre-activation: same parameter count).
Bottleneck units stride their 3×3 convolution, as this zoo's resnet50 (the
paper's CIFAR count does not depend on it).

`stochastic_depth` (Huang et al. 2016) is the survival probability p_L of the last
unit, decaying linearly over all units (see models/resnet.py); `dropout_rate`
puts dropout between the two convolutions of a basic unit (Zagoruyko &
Komodakis 2016, used by models/wide_resnet.py).
"""

from functools import partial
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from models.features import stage
from models.layers import (GlobalAvgPool, MaxPool, StochasticDepth, batch_norm,
                           check_stochastic_depth, conv_before_norm)
from models.registry import register
from models.resnet import residual_stages


def pre_activation_and_shortcut(unit: nn.Module, x, out_channels: int):
  """The pre-activated input of `unit`'s branch, and the shortcut to add the branch to.

  The shortcut is the raw input when the unit keeps the shape (nothing on the
  identity path), else a 1×1 projection of the pre-activated input.
  """
  activated = nn.relu(batch_norm(unit.train, unit.dtype, unit.param_dtype)()(x))
  if x.shape[-1] == out_channels and unit.strides == 1:
    return activated, x
  projection = conv_before_norm(unit)(out_channels, (1, 1), strides=unit.strides,
                                      name='projection')(activated)
  return activated, projection


def add_shortcut(unit: nn.Module, branch, shortcut):
  """shortcut + branch, the branch dropped for whole examples by stochastic depth."""
  return StochasticDepth(unit.survival_probability)(branch, unit.train) + shortcut


class PreActBasicBlock(nn.Module):
  """BN → ReLU → 3×3 conv → BN → ReLU → [dropout] → 3×3 conv, plus the shortcut."""

  filters: int
  strides: int = 1
  dropout_rate: float = 0.0  # between the convolutions (Zagoruyko & Komodakis 2016)
  survival_probability: float = 1.0  # stochastic depth: 1.0 keeps the branch always
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = conv_before_norm(self, kernel_size=(3, 3), padding=1)
    y, shortcut = pre_activation_and_shortcut(self, x, self.filters)
    y = conv(self.filters, strides=self.strides)(y)
    y = nn.relu(batch_norm(self.train, self.dtype, self.param_dtype)()(y))
    y = nn.Dropout(self.dropout_rate, deterministic=not self.train)(y)
    y = conv(self.filters)(y)
    return add_shortcut(self, y, shortcut)


class PreActBottleneckBlock(nn.Module):
  """BN → ReLU → 1×1 → BN → ReLU → 3×3 → BN → ReLU → 1×1 (×4), plus the shortcut."""

  filters: int  # width of the 1×1 and 3×3 convolutions; the unit outputs 4 × filters
  strides: int = 1
  survival_probability: float = 1.0  # stochastic depth: 1.0 keeps the branch always
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  expansion = 4

  @nn.compact
  def __call__(self, x):
    conv = conv_before_norm(self)
    norm = batch_norm(self.train, self.dtype, self.param_dtype)
    y, shortcut = pre_activation_and_shortcut(self, x, self.filters * self.expansion)
    y = conv(self.filters, (1, 1))(y)
    y = nn.relu(norm()(y))
    y = conv(self.filters, (3, 3), strides=self.strides, padding=1)(y)
    y = nn.relu(norm()(y))
    y = conv(self.filters * self.expansion, (1, 1))(y)
    return add_shortcut(self, y, shortcut)


def final_activation_and_classifier(x, num_classes: int, train: bool, dtype, param_dtype):
  """The extra BN → ReLU after the last addition (appendix), pooling, classifier."""
  x = nn.relu(batch_norm(train, dtype, param_dtype)(name='final_bn')(x))
  x = GlobalAvgPool()(x)
  return nn.Dense(num_classes, dtype=dtype, param_dtype=param_dtype, name='fc')(x)


class PreActResNet(nn.Module):
  """ImageNet ResNet (He et al. 2016a, Table 1) built of pre-activation units."""

  stage_sizes: Sequence[int]
  block: type = PreActBasicBlock
  num_classes: int = 1000
  stochastic_depth: float = 1.0  # survival probability p_L of the last unit; 1.0: off
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_stochastic_depth(self.stochastic_depth)
    x = x.astype(self.dtype)
    x = conv_before_norm(self)(64, (7, 7), strides=2, padding=3, name='conv1')(x)
    x = MaxPool(3, 2, padding=((1, 1), (1, 1)))(stage(x, 'conv1', 2))
    x = residual_stages(x, block=self.block, stage_filters=(64, 128, 256, 512), input_reduction=4,
                        stage_sizes=self.stage_sizes, stochastic_depth=self.stochastic_depth,
                        train=train, dtype=self.dtype, param_dtype=self.param_dtype)
    return final_activation_and_classifier(x, self.num_classes, train, self.dtype,
                                           self.param_dtype)


class PreActCifarResNet(nn.Module):
  """The CIFAR network of §4: conv1 3×3×16, three stages, final BN → ReLU."""

  blocks_per_stage: int
  block: type = PreActBottleneckBlock
  stage_filters: Sequence[int] = (16, 32, 64)
  num_classes: int = 10
  stochastic_depth: float = 1.0  # survival probability p_L of the last unit; 1.0: off
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_stochastic_depth(self.stochastic_depth)
    x = x.astype(self.dtype)
    x = stage(conv_before_norm(self)(16, (3, 3), padding=1, name='conv1')(x), 'conv1', 1)
    x = residual_stages(x, block=self.block, stage_filters=self.stage_filters, input_reduction=1,
                        stage_sizes=(self.blocks_per_stage,) * len(self.stage_filters),
                        stochastic_depth=self.stochastic_depth, train=train,
                        dtype=self.dtype, param_dtype=self.param_dtype)
    return final_activation_and_classifier(x, self.num_classes, train, self.dtype,
                                           self.param_dtype)


# Table 5's single crops are of ResNet-152 and ResNet-200 only (at 320 px pre-activated).
NOT_IN_TABLE_5 = 'Table 5 has single crops of depths 152 and 200 only'
register('preact_resnet18', partial(PreActResNet, stage_sizes=(2, 2, 2, 2),
                                    block=PreActBasicBlock), paper_top1_source=NOT_IN_TABLE_5)
register('preact_resnet50', partial(PreActResNet, stage_sizes=(3, 4, 6, 3),
                                    block=PreActBottleneckBlock), paper_top1_source=NOT_IN_TABLE_5)
register('preact_resnet164', partial(PreActCifarResNet, blocks_per_stage=18,
                                     block=PreActBottleneckBlock),
         input_size=32, num_classes=10, parameters=1_703_258, paper_parameters='1.7')
