"""ResNet: He, Zhang, Ren & Sun 2016, "Deep residual learning for image recognition",
with the variants built from its blocks: wide bottlenecks (Zagoruyko & Komodakis 2016),
grouped bottlenecks (ResNeXt, Xie et al. 2017) and stochastic depth (Huang et al. 2016).

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

Wider and grouped bottlenecks. The bottleneck of stage s (s = 0..3) has
64·2^s "filters" and outputs 4× as many channels; its two inner convolutions are
`filters · width_per_group / 64 · groups` wide, and the 3×3 one is split into
`groups` groups (feature_group_count). groups=1, width_per_group=64 is ResNet.

    name               groups  width/group  stage-1 inner width  params
    wide_resnet50_2    1       128          128                  68,883,240
    resnext50_32x4d    32      4            128 (32 × 4)         25,028,904
    resnext101_32x8d   32      8            256 (32 × 8)         88,791,336

`wide_resnet50_2` is WRN-50-2-bottleneck of Zagoruyko & Komodakis 2016 (§ImageNet,
68.9 M) in the definition torchvision uses: ResNet-50 with the inner width of
every bottleneck doubled, outer widths (256, 512, 1024, 2048) unchanged.
`resnext50_32x4d` is the network of Xie et al. 2017, Table 1 (25.0 M in the
table); `resnext101_32x8d` is its 101-layer, 8-channels-per-group sibling
(§5.1). ResNeXt bottlenecks keep the stride on the grouped 3×3 convolution, as
the paper's code (built on fb.resnet.torch) does.

Stochastic depth (Huang et al. 2016, "Deep networks with stochastic depth"):
`stochastic_depth` is the survival probability p_L of the last residual block;
block l of L survives a training step with p_l = 1 − l/L (1 − p_L) (Eq. 4, the
linear decay rule), counted over all blocks of the network. A dropped block
passes only its shortcut; at evaluation every block is kept (layers.StochasticDepth).
1.0 (the default) turns it off. `resnet110_stochastic_depth` is the paper's §4
CIFAR-10 network: the 110-layer ResNet (54 blocks, identity shortcuts zero-padded
at the two transitions) with p_L = 0.5; it has resnet110's 1.7 M parameters.
`resnet20_stochastic_depth` applies the same rule (p_L = 0.5, 9 blocks) to the
20-layer network of §4.2 of He et al. (resnet20's 269,722 parameters): not a
network of Huang et al., a small one for stochastic-depth sweeps on a CPU.

`attention` (an optional module class, constructed with dtype and param_dtype)
reweights the residual branch before the addition: models/senet.py passes its
squeeze-and-excitation module (Hu et al. 2018, Fig. 3).

`zero_init_last_bn` starts each block's last BatchNorm scale at zero, so that a
residual block begins as the identity (Goyal et al. 2017, §5.1).
"""

from functools import partial
from typing import Any, Callable, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from models.features import stage
from models.layers import (GlobalAvgPool, MaxPool, StochasticDepth, batch_norm,
                           check_stochastic_depth, conv_before_norm,
                           linear_survival_probabilities)
from models.registry import register

# What a residual block adds its branch to where the shape changes: a 1×1 projection with
# BatchNorm (the paper's option B), the subsampled input zero-padded to the new channels
# (option A, the CIFAR networks), or nothing: 'none' drops the shortcuts (§4.1's plain nets).
SHORTCUTS = ('projection', 'zero_pad', 'none')


def check_residual_options(shortcut: str, stochastic_depth: float) -> None:
  """Rejects an unknown shortcut, and stochastic depth the network cannot have."""
  if shortcut not in SHORTCUTS:
    raise ValueError(f'shortcut is one of {", ".join(SHORTCUTS)}; got {shortcut!r}')
  check_stochastic_depth(stochastic_depth, has_shortcuts=shortcut != 'none')


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
    x = conv_before_norm(self)(self.filters, (1, 1), strides=self.strides, name='projection')(x)
    return batch_norm(self.train, self.dtype, self.param_dtype)(name='projection_bn')(x)


def add_residual(block: nn.Module, x, branch, filters: int):
  """Shortcut(x) + branch, the branch reweighted by `block.attention` and dropped
  by stochastic depth first (both act on the branch only, before the addition)."""
  if block.attention is not None:
    branch = block.attention(dtype=block.dtype, param_dtype=block.param_dtype)(branch)
  if block.shortcut == 'none':
    return branch
  branch = StochasticDepth(block.survival_probability)(branch, block.train)
  return branch + Shortcut(filters, block.strides, block.shortcut, block.train, block.dtype,
                           block.param_dtype)(x)


class BasicBlock(nn.Module):
  """Two 3×3 convolutions (Fig. 2 left of the paper)."""

  filters: int
  strides: int = 1
  shortcut: str = 'projection'
  zero_init_last_bn: bool = False
  survival_probability: float = 1.0  # stochastic depth: 1.0 keeps the branch always
  attention: Optional[Callable[..., nn.Module]] = None  # e.g. squeeze-and-excitation
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = conv_before_norm(self)
    norm = batch_norm(self.train, self.dtype, self.param_dtype)
    last_scale = nn.initializers.zeros if self.zero_init_last_bn else nn.initializers.ones
    y = conv(self.filters, (3, 3), strides=self.strides, padding=1)(x)
    y = nn.relu(norm()(y))
    y = conv(self.filters, (3, 3), padding=1)(y)
    y = norm(scale_init=last_scale)(y)
    return nn.relu(add_residual(self, x, y, self.filters))


class BottleneckBlock(nn.Module):
  """1×1 reduce, 3×3, 1×1 expand to 4 × filters (Fig. 5 right of the paper).

  The inner width is filters · width_per_group / 64 · groups and the 3×3
  convolution has `groups` groups: ResNeXt's form (c) of Fig. 3 in Xie et al.
  2017, and the wide bottleneck of WRN-50-2 when width_per_group = 128.
  """

  filters: int
  strides: int = 1
  shortcut: str = 'projection'
  zero_init_last_bn: bool = False
  stride_on_3x3: bool = True
  groups: int = 1
  width_per_group: int = 64
  survival_probability: float = 1.0  # stochastic depth: 1.0 keeps the branch always
  attention: Optional[Callable[..., nn.Module]] = None  # e.g. squeeze-and-excitation
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  expansion = 4

  @nn.compact
  def __call__(self, x):
    conv = conv_before_norm(self)
    norm = batch_norm(self.train, self.dtype, self.param_dtype)
    last_scale = nn.initializers.zeros if self.zero_init_last_bn else nn.initializers.ones
    stride_1x1, stride_3x3 = (1, self.strides) if self.stride_on_3x3 else (self.strides, 1)
    width = self.filters * self.width_per_group // 64 * self.groups
    y = conv(width, (1, 1), strides=stride_1x1)(x)
    y = nn.relu(norm()(y))
    y = conv(width, (3, 3), strides=stride_3x3, padding=1, feature_group_count=self.groups)(y)
    y = nn.relu(norm()(y))
    y = conv(self.filters * self.expansion, (1, 1))(y)
    y = norm(scale_init=last_scale)(y)
    return nn.relu(add_residual(self, x, y, self.filters * self.expansion))


def residual_stages(x, *, block, stage_filters: Sequence[int], stage_sizes: Sequence[int],
                    stochastic_depth: float, train: bool, dtype, param_dtype,
                    input_reduction: int, **block_options):
  """The blocks of every stage, the first of stages 2, 3, ... with stride 2 (Table 1 of the
  paper), block l surviving with the l-th of the linearly decaying probabilities of
  stochastic depth (Huang et al. 2016, Eq. 4). Every residual network of the zoo has them.
  Each stage's output is a stage map (features.stage), layer1, layer2, ... as torchvision
  names them; `input_reduction` is the stride of the stem before them."""
  survival = iter(linear_survival_probabilities(sum(stage_sizes), stochastic_depth))
  reduction = input_reduction
  for stage_index, (filters, num_blocks) in enumerate(zip(stage_filters, stage_sizes)):
    reduction *= 2 if stage_index > 0 else 1
    for index in range(num_blocks):
      x = block(filters=filters, strides=2 if stage_index > 0 and index == 0 else 1,
                survival_probability=next(survival), train=train, dtype=dtype,
                param_dtype=param_dtype, **block_options)(x)
    x = stage(x, f'layer{stage_index + 1}', reduction)
  return x


class ResNet(nn.Module):
  """The ImageNet ResNet of the paper's Table 1 and its wide, grouped and
  stochastic-depth forms (see module docstring)."""

  stage_sizes: Sequence[int]
  block: type = BasicBlock
  num_classes: int = 1000
  shortcut: str = 'projection'
  stride_on_3x3: bool = True
  groups: int = 1  # bottleneck only: cardinality of the 3×3 convolution (ResNeXt)
  width_per_group: int = 64  # bottleneck only: inner channels per group at stage 1
  stochastic_depth: float = 1.0  # survival probability p_L of the last block; 1.0: off
  attention: Optional[Callable[..., nn.Module]] = None  # applied to every residual branch
  zero_init_last_bn: bool = False
  # The stem's 3×3/2 max pool pads by 1; 'SAME' pads only where a window would overhang,
  # which equals the ceil-mode pooling of the SENet authors' released (Caffe) models.
  stem_pool_padding: Any = ((1, 1), (1, 1))
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_residual_options(self.shortcut, self.stochastic_depth)
    if self.block is BottleneckBlock:
      extra = {'stride_on_3x3': self.stride_on_3x3, 'groups': self.groups,
               'width_per_group': self.width_per_group}
    elif (self.groups, self.width_per_group) != (1, 64):
      raise ValueError('groups and width_per_group apply to bottleneck blocks only')
    else:
      extra = {}
    x = x.astype(self.dtype)
    x = conv_before_norm(self)(64, (7, 7), strides=2, padding=3, name='conv1')(x)
    x = batch_norm(train, self.dtype, self.param_dtype)(name='bn1')(x)
    x = stage(nn.relu(x), 'act1', 2)
    x = MaxPool(3, 2, padding=self.stem_pool_padding)(x)
    x = residual_stages(x, block=self.block, stage_filters=(64, 128, 256, 512),
                        stage_sizes=self.stage_sizes, stochastic_depth=self.stochastic_depth,
                        train=train, dtype=self.dtype, param_dtype=self.param_dtype,
                        shortcut=self.shortcut, zero_init_last_bn=self.zero_init_last_bn,
                        attention=self.attention, input_reduction=4, **extra)
    x = GlobalAvgPool()(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='fc')(x)


class CifarResNet(nn.Module):
  """The 6n+2-layer CIFAR-10 network of the paper's §4.2 (see module docstring)."""

  blocks_per_stage: int
  num_classes: int = 10
  shortcut: str = 'zero_pad'
  stochastic_depth: float = 1.0  # survival probability p_L of the last block; 1.0: off
  zero_init_last_bn: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    check_residual_options(self.shortcut, self.stochastic_depth)
    x = x.astype(self.dtype)
    x = conv_before_norm(self)(16, (3, 3), padding=1, name='conv1')(x)
    x = nn.relu(batch_norm(train, self.dtype, self.param_dtype)(name='bn1')(x))
    x = stage(x, 'act1', 1)
    x = residual_stages(x, block=BasicBlock, stage_filters=(16, 32, 64), input_reduction=1,
                        stage_sizes=(self.blocks_per_stage,) * 3,
                        stochastic_depth=self.stochastic_depth, train=train, dtype=self.dtype,
                        param_dtype=self.param_dtype, shortcut=self.shortcut,
                        zero_init_last_bn=self.zero_init_last_bn)
    x = GlobalAvgPool()(x)
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='fc')(x)


# Table 1 of the paper: depth -> stage sizes, block, and the parameters at 1000 classes
# (torchvision's released models have the same counts).
IMAGENET_DEPTHS = {
    18: ((2, 2, 2, 2), BasicBlock, 11_689_512),
    34: ((3, 4, 6, 3), BasicBlock, 21_797_672),
    50: ((3, 4, 6, 3), BottleneckBlock, 25_557_032),
    101: ((3, 4, 23, 3), BottleneckBlock, 44_549_160),
    152: ((3, 8, 36, 3), BottleneckBlock, 60_192_808),
}
# Table 6 of the paper: the CIFAR-10 networks' depths and their parameters as printed.
CIFAR_DEPTHS = {20: '0.27', 32: '0.46', 44: '0.66', 56: '0.85', 110: '1.7', 1202: '19.4'}

# Top-1 for `models compare`: He et al. test 10 crops (Tables 2-3; ResNet-50 22.85 % top-1
# error) or densely at several scales (Table 4), never one crop.
TEN_CROP = '10-crop and multi-scale dense only (§3.4; Tables 2-4)'
for _depth, (_stages, _block, _parameters) in IMAGENET_DEPTHS.items():
  register(f'resnet{_depth}', partial(ResNet, stage_sizes=_stages, block=_block),
           parameters=_parameters, paper_top1_source=TEN_CROP)
register('resnet50_v1', partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BottleneckBlock,
                                stride_on_3x3=False),
         parameters=IMAGENET_DEPTHS[50][2],  # where the stride sits changes no weight
         paper_top1_source=TEN_CROP)
register('plain18', partial(ResNet, stage_sizes=(2, 2, 2, 2), block=BasicBlock, shortcut='none'),
         paper_top1_source='10-crop only (Table 2: 27.94 % top-1 error)')
register('plain34', partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BasicBlock, shortcut='none'),
         paper_top1_source='10-crop only (Table 2: 28.54 % top-1 error)')
# Counts of torchvision's definitions; the papers print 68.9 M (WRN-50-2) and 25.0 M.
register('wide_resnet50_2', partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BottleneckBlock,
                                    width_per_group=128),
         parameters=68_883_240, paper_parameters='68.9',
         paper_top1=78.1, paper_top1_source='Zagoruyko & Komodakis 2016, Table 8 (single crop, '
                                            '21.9 % top-1 error)')
register('resnext50_32x4d', partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BottleneckBlock,
                                    groups=32, width_per_group=4),
         parameters=25_028_904, paper_parameters='25.0',
         paper_top1=77.8, paper_top1_source='Xie et al. 2017, Table 3 (single 224 crop, 22.2 % '
                                            'top-1 error)')
register('resnext101_32x8d', partial(ResNet, stage_sizes=(3, 4, 23, 3), block=BottleneckBlock,
                                     groups=32, width_per_group=8),
         parameters=88_791_336,
         paper_top1_source='not in the paper (torchvision trained 32×8d; the paper has 32×4d, '
                           '2×64d, 64×4d)')
for _depth, _millions in CIFAR_DEPTHS.items():
  register(f'resnet{_depth}', partial(CifarResNet, blocks_per_stage=(_depth - 2) // 6),
           input_size=32, num_classes=10, paper_parameters=_millions)
for _depth in (20, 56):
  register(f'plain{_depth}', partial(CifarResNet, blocks_per_stage=(_depth - 2) // 6,
                                     shortcut='none'), input_size=32, num_classes=10)
# Stochastic depth adds no parameters: resnet110's and resnet20's counts.
register('resnet110_stochastic_depth',
         partial(CifarResNet, blocks_per_stage=18, stochastic_depth=0.5),
         input_size=32, num_classes=10, parameters=1_727_962)
register('resnet20_stochastic_depth',
         partial(CifarResNet, blocks_per_stage=3, stochastic_depth=0.5),
         input_size=32, num_classes=10, parameters=269_722)
