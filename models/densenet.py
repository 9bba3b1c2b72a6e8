"""DenseNet: Huang, Liu, van der Maaten & Weinberger 2017, "Densely connected
convolutional networks" (CVPR).

Every layer of a dense block receives the concatenation of the block input and
of all earlier layers' outputs (Eq. 2), and adds k new channels (the growth
rate). The composite function H is BN-ReLU-conv (§3, pre-activation order).
DenseNet-BC (§3, "Bottleneck layers" and "Compression") puts a 1×1 convolution
to 4k channels before each 3×3 and halves the channels in each transition
layer (BN-ReLU-1×1 conv-2×2 average pool).

ImageNet networks follow Table 1 (all DenseNet-BC, 224×224 input):

    name         k    blocks            params     (num_classes=1000)
    densenet121  32   6, 12, 24, 16     7,978,856
    densenet169  32   6, 12, 32, 32    14,149,480
    densenet201  32   6, 12, 48, 32    20,013,928
    densenet161  48   6, 12, 36, 24    28,681,000

with a 7×7/2 convolution of 2k channels and a 3×3/2 max pool first, and a
final BN-ReLU, global average pool and linear classifier after the last block.
Those are the counts of the authors' released models (weights, the classifier's
bias, BatchNorm scale and offset; no convolution has a bias since each one
feeds or follows a BatchNorm).

`densenet_bc100_k12` is the CIFAR DenseNet-BC (L=100, k=12) of §4 and Table 2:
a 3×3 convolution of 2k=24 channels, three dense blocks of 16 bottleneck
layers (100 = 3·16·2 + 1 + 2 transitions + 1 classifier) on 32×32, 16×16 and
8×8 maps, compression 0.5, 10 classes: 769,162 parameters here, the paper's
"0.8 M" to the precision it prints (Table 2; 3.9 % below 0.8 M exactly).

Dropout (§4.2) follows every convolution except the first when
`dropout_rate` > 0: the paper uses 0.2 only without data augmentation and not
for DenseNet-BC on augmented data, so the default is off.
"""

from functools import partial
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from models.features import stage
from models.layers import AvgPool, GlobalAvgPool, MaxPool, batch_norm, conv_before_norm
from models.registry import register


class DenseLayer(nn.Module):
  """One layer of a dense block: [BN-ReLU-1×1 conv (bottleneck_width·k)]-BN-ReLU-3×3 conv (k),
  its k new channels concatenated to its input (Eq. 2)."""

  growth_rate: int
  bottleneck_width: int = 4  # the 1×1 conv has bottleneck_width·k filters; 0: no bottleneck
  dropout_rate: float = 0.0
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = conv_before_norm(self)
    norm = batch_norm(self.train, self.dtype, self.param_dtype)
    dropout = partial(nn.Dropout, self.dropout_rate, deterministic=not self.train)
    y = x
    if self.bottleneck_width:
      y = nn.relu(norm()(y))
      y = dropout()(conv(self.bottleneck_width * self.growth_rate, (1, 1))(y))
    y = nn.relu(norm()(y))
    y = dropout()(conv(self.growth_rate, (3, 3), padding=1)(y))
    return jnp.concatenate([x, y], axis=-1)


class DenseBlock(nn.Module):
  """`num_layers` dense layers: C input channels come out as C + num_layers·k."""

  num_layers: int
  growth_rate: int
  bottleneck_width: int = 4
  dropout_rate: float = 0.0
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    for _ in range(self.num_layers):
      x = DenseLayer(self.growth_rate, self.bottleneck_width, self.dropout_rate, self.train,
                     self.dtype, self.param_dtype)(x)
    return x


class Transition(nn.Module):
  """BN-ReLU-1×1 conv to `filters` channels, then 2×2 average pooling with stride 2 (§3)."""

  filters: int
  dropout_rate: float = 0.0
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    x = nn.relu(batch_norm(self.train, self.dtype, self.param_dtype)()(x))
    x = conv_before_norm(self)(self.filters, (1, 1))(x)
    x = nn.Dropout(self.dropout_rate, deterministic=not self.train)(x)
    return AvgPool(2, 2)(x)


class DenseNet(nn.Module):
  """Dense blocks joined by transition layers (see module docstring).

  imagenet_stem: the 7×7/2 convolution and 3×3/2 max pool of Table 1; otherwise
  the single 3×3 convolution of the CIFAR networks (§4). initial_features
  defaults to 2k, as in both. compression is θ of DenseNet-C (§3).
  """

  block_sizes: Sequence[int]
  growth_rate: int = 32
  initial_features: int | None = None
  bottleneck_width: int = 4
  compression: float = 0.5
  imagenet_stem: bool = True
  dropout_rate: float = 0.0
  num_classes: int = 1000
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    features = self.initial_features or 2 * self.growth_rate
    common = dict(train=train, dtype=self.dtype, param_dtype=self.param_dtype)
    if self.imagenet_stem:
      x = conv_before_norm(self)(features, (7, 7), strides=2, padding=3, name='conv0')(x)
      x = nn.relu(batch_norm(train, self.dtype, self.param_dtype)(name='norm0')(x))
      x = MaxPool(3, 2, padding=((1, 1), (1, 1)), name='pool0')(stage(x, 'norm0', 2))
      reduction = 4
    else:
      # The CIFAR stem is a bare convolution: the first dense layer's BN-ReLU follows it.
      x = conv_before_norm(self)(features, (3, 3), padding=1, name='conv0')(x)
      reduction = 1
    for index, num_layers in enumerate(self.block_sizes):
      x = DenseBlock(num_layers, self.growth_rate, self.bottleneck_width, self.dropout_rate,
                     name=f'block{index + 1}', **common)(x)
      if index + 1 < len(self.block_sizes):  # timm's stages: the blocks before a transition
        x = stage(x, f'block{index + 1}', reduction)
        x = Transition(int(x.shape[-1] * self.compression), self.dropout_rate,
                       name=f'transition{index + 1}', **common)(x)
        reduction *= 2
    x = nn.relu(batch_norm(train, self.dtype, self.param_dtype)(name='norm_final')(x))
    x = GlobalAvgPool()(stage(x, 'norm_final', reduction))
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='classifier')(x)


# The parameters of the authors' released models (see the table above).
# Top-1 for `models compare`: Table 3's single 224 crop (it also gives 10 crops).
register('densenet121', partial(DenseNet, block_sizes=(6, 12, 24, 16), growth_rate=32),
         parameters=7_978_856, paper_top1=74.98,
         paper_top1_source='Huang et al. 2017, Table 3 (single crop, 25.02 % top-1 error)')
register('densenet169', partial(DenseNet, block_sizes=(6, 12, 32, 32), growth_rate=32),
         parameters=14_149_480, paper_top1=76.20,
         paper_top1_source='Huang et al. 2017, Table 3 (single crop, 23.80 % top-1 error)')
register('densenet201', partial(DenseNet, block_sizes=(6, 12, 48, 32), growth_rate=32),
         parameters=20_013_928, paper_top1=77.42,
         paper_top1_source='Huang et al. 2017, Table 3 (single crop, 22.58 % top-1 error)')
register('densenet161', partial(DenseNet, block_sizes=(6, 12, 36, 24), growth_rate=48),
         parameters=28_681_000,
         paper_top1_source='not in the paper (k = 48: the authors released it later)')
register('densenet_bc100_k12',
         partial(DenseNet, block_sizes=(16, 16, 16), growth_rate=12, imagenet_stem=False,
                 num_classes=10),
         input_size=32, num_classes=10, parameters=769_162,
         paper_parameters='0.8')  # Table 2
