"""ResNet: He, Zhang, Ren & Sun 2016, "Deep residual learning for image recognition".

ImageNet networks follow Table 1 of the paper:

    name       block        stage sizes     params   (num_classes=1000)
    resnet18   basic        2, 2, 2, 2      11.7 M
    resnet34   basic        3, 4, 6, 3      21.8 M
    resnet50   bottleneck   3, 4, 6, 3      25.6 M
    resnet101  bottleneck   3, 4, 23, 3     44.5 M
    resnet152  bottleneck   3, 8, 36, 3     60.2 M

Every convolution is followed by BatchNorm; a shortcut that changes shape is a
1×1 projection with BatchNorm (the paper's option B). The default bottleneck
puts the stride on its 3×3 convolution ("ResNet v1.5", as in Goyal et al. 2017
and torchvision); `resnet50_v1` keeps the paper's stride on the first 1×1.
`plain18`/`plain34` drop the shortcuts (§4.1, the degradation experiment).

The CIFAR-10 networks of §4.2 have 6n+2 layers: a 3×3 convolution of 16 filters,
three stages of n basic blocks with 16, 32 and 64 filters, global average
pooling and a 10-way classifier. Their shortcuts are identities, zero-padded
where the channel count doubles (option A), so they add no parameters:
resnet20 (n=3, 0.27 M), resnet32, resnet44, resnet56, resnet110 (n=18, 1.7 M),
resnet1202 (n=200, 19.4 M); plain20 and plain56 are the same without shortcuts.

`zero_init_last_bn` starts each block's last BatchNorm scale at zero, so that a
residual block begins as the identity (Goyal et al. 2017, §5.1).
"""

from functools import partial
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from models.layers import batch_norm, he_normal
from models.registry import register

SHORTCUTS = ('projection', 'zero_pad', 'none')


class Shortcut(nn.Module):
  """The identity path of a residual block, reshaped when the block downsamples.

  kind: 'projection' (option B: 1×1 conv + BN when the shape changes),
  'zero_pad' (option A: subsample and pad the new channels with zeros).
  """

  filters: int
  strides: int
  kind: str
  train: bool
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    if x.shape[-1] == self.filters and self.strides == 1:
      return x
    if self.kind == 'zero_pad':
      x = x[:, ::self.strides, ::self.strides, :]
      return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, self.filters - x.shape[-1])))
    x = nn.Conv(self.filters, (1, 1), strides=self.strides, use_bias=False,
                kernel_init=he_normal, dtype=self.dtype, param_dtype=self.param_dtype,
                name='projection')(x)
    return batch_norm(self.train, self.dtype, self.param_dtype)(name='projection_bn')(x)


class BasicBlock(nn.Module):
  """Two 3×3 convolutions (Fig. 2 left of the paper)."""

  filters: int
  strides: int = 1
  shortcut: str = 'projection'
  zero_init_last_bn: bool = False
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = partial(nn.Conv, use_bias=False, kernel_init=he_normal, dtype=self.dtype,
                   param_dtype=self.param_dtype)
    norm = batch_norm(self.train, self.dtype, self.param_dtype)
    last_scale = nn.initializers.zeros if self.zero_init_last_bn else nn.initializers.ones
    y = conv(self.filters, (3, 3), strides=self.strides, padding=1)(x)
    y = nn.relu(norm()(y))
    y = conv(self.filters, (3, 3), padding=1)(y)
    y = norm(scale_init=last_scale)(y)
    if self.shortcut != 'none':
      y = y + Shortcut(self.filters, self.strides, self.shortcut, self.train, self.dtype,
                       self.param_dtype)(x)
    return nn.relu(y)


class BottleneckBlock(nn.Module):
  """1×1 reduce, 3×3, 1×1 expand by 4 (Fig. 5 right of the paper)."""

  filters: int
  strides: int = 1
  shortcut: str = 'projection'
  zero_init_last_bn: bool = False
  stride_on_3x3: bool = True
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  expansion = 4

  @nn.compact
  def __call__(self, x):
    conv = partial(nn.Conv, use_bias=False, kernel_init=he_normal, dtype=self.dtype,
                   param_dtype=self.param_dtype)
    norm = batch_norm(self.train, self.dtype, self.param_dtype)
    last_scale = nn.initializers.zeros if self.zero_init_last_bn else nn.initializers.ones
    stride_1x1, stride_3x3 = (1, self.strides) if self.stride_on_3x3 else (self.strides, 1)
    y = conv(self.filters, (1, 1), strides=stride_1x1)(x)
    y = nn.relu(norm()(y))
    y = conv(self.filters, (3, 3), strides=stride_3x3, padding=1)(y)
    y = nn.relu(norm()(y))
    y = conv(self.filters * self.expansion, (1, 1))(y)
    y = norm(scale_init=last_scale)(y)
    if self.shortcut != 'none':
      y = y + Shortcut(self.filters * self.expansion, self.strides, self.shortcut, self.train,
                       self.dtype, self.param_dtype)(x)
    return nn.relu(y)


class ResNet(nn.Module):
  """The ImageNet ResNet of the paper's Table 1 (see module docstring)."""

  stage_sizes: Sequence[int]
  block: type = BasicBlock
  num_classes: int = 1000
  shortcut: str = 'projection'
  stride_on_3x3: bool = True
  zero_init_last_bn: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    x = nn.Conv(64, (7, 7), strides=2, padding=3, use_bias=False, kernel_init=he_normal,
                dtype=self.dtype, param_dtype=self.param_dtype, name='conv1')(x)
    x = batch_norm(train, self.dtype, self.param_dtype)(name='bn1')(x)
    x = nn.relu(x)
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    extra = {'stride_on_3x3': self.stride_on_3x3} if self.block is BottleneckBlock else {}
    for stage, num_blocks in enumerate(self.stage_sizes):
      for index in range(num_blocks):
        x = self.block(
            filters=64 * 2**stage,
            strides=2 if stage > 0 and index == 0 else 1,
            shortcut=self.shortcut,
            zero_init_last_bn=self.zero_init_last_bn,
            train=train,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            **extra,
        )(x)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='fc')(x)


class CifarResNet(nn.Module):
  """The 6n+2-layer CIFAR-10 network of the paper's §4.2 (see module docstring)."""

  blocks_per_stage: int
  num_classes: int = 10
  shortcut: str = 'zero_pad'
  zero_init_last_bn: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    x = nn.Conv(16, (3, 3), padding=1, use_bias=False, kernel_init=he_normal,
                dtype=self.dtype, param_dtype=self.param_dtype, name='conv1')(x)
    x = nn.relu(batch_norm(train, self.dtype, self.param_dtype)(name='bn1')(x))
    for stage, filters in enumerate((16, 32, 64)):
      for index in range(self.blocks_per_stage):
        x = BasicBlock(
            filters=filters,
            strides=2 if stage > 0 and index == 0 else 1,
            shortcut=self.shortcut,
            zero_init_last_bn=self.zero_init_last_bn,
            train=train,
            dtype=self.dtype,
            param_dtype=self.param_dtype,
        )(x)
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='fc')(x)


register('resnet18', partial(ResNet, stage_sizes=(2, 2, 2, 2), block=BasicBlock))
register('resnet34', partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BasicBlock))
register('resnet50', partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BottleneckBlock))
register('resnet101', partial(ResNet, stage_sizes=(3, 4, 23, 3), block=BottleneckBlock))
register('resnet152', partial(ResNet, stage_sizes=(3, 8, 36, 3), block=BottleneckBlock))
register('resnet50_v1', partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BottleneckBlock,
                                stride_on_3x3=False))
register('plain18', partial(ResNet, stage_sizes=(2, 2, 2, 2), block=BasicBlock, shortcut='none'))
register('plain34', partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BasicBlock, shortcut='none'))
for _depth in (20, 32, 44, 56, 110, 1202):
  register(f'resnet{_depth}', partial(CifarResNet, blocks_per_stage=(_depth - 2) // 6))
for _depth in (20, 56):
  register(f'plain{_depth}', partial(CifarResNet, blocks_per_stage=(_depth - 2) // 6,
                                     shortcut='none'))
