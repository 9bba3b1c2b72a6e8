"""Inception v3, Inception-v4 and Inception-ResNet-v2 (GoogLeNet is in models/googlenet.py).

Every convolution is followed by BatchNorm (epsilon 1e-3, TensorFlow's, the
authors' framework) and ReLU, and has no bias. Paddings are 'SAME' except where
the papers' figures mark a convolution or pool 'V' (valid). Average pools in
the modules are 3×3/1 'SAME' and, as in TensorFlow, do not count the padding.
The classifiers have dropout before the last linear layer; its rate is 0.2
(Fig. 9 of the v4 paper: keep 0.8; the same in the authors' TF-slim v3 code).
The code was written from the papers' tables and figures.

`inception_v3`: Szegedy, Vanhoucke, Ioffe, Shlens & Wojna 2016, "Rethinking the
Inception architecture for computer vision", Table 1 and Figs. 5-7 and 10, at
299×299:

    conv 3×3/2 V 32, conv 3×3 V 32, conv 3×3 64,   max pool 3×3/2   73×73×64
    conv 1×1 80, conv 3×3 V 192, max pool 3×3/2                      35×35×192
    3 × Fig. 5 (35×35 grid)                                          35×35×288
    grid reduction (Fig. 10)                                         17×17×768
    4 × Fig. 6 with n = 7 (17×17 grid)                               17×17×768
    grid reduction                                                   8×8×1280
    2 × Fig. 7 (8×8 grid)                                            8×8×2048
    average pool, dropout, linear

The paper gives the structure but not every branch width; this module follows
the reading of the authors' released TensorFlow model, which the widely used
implementations (TF-slim, Keras, torchvision) share and which is the standard
one: the 35×35 modules keep a 1×1 → 5×5 branch (48 → 64) beside the
double-3×3 branch, the 17×17 modules have 128, 160, 160, 192 filters inside
their 7×1/1×7 towers, and the 8×8 modules expand their 3×3 towers into
parallel 1×3 and 3×1 convolutions (Fig. 7). The auxiliary classifier ('aux',
§4 and Fig. 8) sits on the last 17×17 module: 5×5/3 average pool (5×5×768),
1×1 conv 128, 5×5 conv 768 (the batch-normalised "fully connected" layer of
§7, BN-auxiliary) and a linear layer. 27,161,264 parameters with the
auxiliary head, 23,834,568 without (torchvision's counts). The auxiliary head
needs the full 17×17 grid, so training runs at 299×299 (the main path alone
runs from 75×75).

`inception_v4`: Szegedy, Ioffe, Vanhoucke & Alemi 2017, "Inception-v4,
Inception-ResNet and the impact of residual connections on learning",
Figs. 3-9: the stem of Fig. 3 (35×35×384), 4 × Inception-A (Fig. 4),
Reduction-A (Fig. 7 with k, l, m, n = 192, 224, 256, 384 of Table 1),
7 × Inception-B (Fig. 5), Reduction-B (Fig. 8), 3 × Inception-C (Fig. 6),
average pool, dropout, linear: 42,679,816 parameters. No auxiliary head.

`inception_resnet_v2`: the same paper, Figs. 3 and 15-19: the stem of Fig. 3,
5 × Inception-ResNet-A (Fig. 16), Reduction-A (k, l, m, n = 256, 256, 384,
384), 10 × Inception-ResNet-B (Fig. 17), Reduction-B (Fig. 18),
5 × Inception-ResNet-C (Fig. 19), average pool, dropout, linear. A residual
block adds a "linear" 1×1 convolution (bias, no BatchNorm, no ReLU: §3.2 puts
BN only on the traditional layers) of its concatenated branches to its input,
scaled by 0.17, 0.10 and 0.20 in the A, B and C blocks (§3.3 asks for 0.1 to
0.3; these are the authors' released values), then applies ReLU. The figures'
channel counts do not add up (Fig. 17 projects to 1154 channels a 1152-channel
input; Fig. 19 to 2048 a 2144-channel one): here each projection returns its
input's width, the only choice that lets the sum exist. 32,433,928 parameters.

`inception_v3_torchvision` is torchvision's port of the released v3, whose pool-branch
average pools count the zero padding in the mean (PyTorch's default), where TensorFlow's
leave it out: the network of torchvision's pretrained weights (trained/convert.py).

`inception_v4_tfslim` is the Inception-v4 the authors released (TF-slim's, which timm
ports): the stem's right tower, the B modules' double towers and the C modules' 448/512
pair put their factorised convolutions in the opposite order to the figures' labels
(36 kernels: 1×7 before 7×1 in the stem, 7×1 first in B, 3×1 first in C), and every
module concatenates its pool branch last. Same parameters as `inception_v4`.

`inception_resnet_v2_tfslim` is the Inception-ResNet-v2 the authors released
with the paper's results (TF-slim's inception_resnet_v2, also Keras' and
timm's), which differs from the figures: the stem of Inception v3 followed by
a 35×35 module of 320 channels, 10 A blocks, 20 B blocks at 1088 channels,
10 C blocks at 2080 channels (the last one without scaling and ReLU), reductions
that concatenate their max pool branch last, and a
1×1 convolution of 1536 filters before the pool: 55,843,464 parameters, the
"55.8 M" usually quoted (Cadene's and timm's PyTorch ports count the same).
"""

from functools import partial
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from models import layers
from models.features import capturing_stages, stage
from models.registry import register

# The BatchNorm epsilon of every convolution here: TensorFlow's, the authors' framework.
BN_EPSILON = 1e-3


def _avg_pool_3x3(name: str, count_padding: bool = False):
  """The 3×3/1 'SAME' average pool of the pool branches: by TensorFlow's padding rule (the
  zero padding left out of the mean), or with `count_padding` by PyTorch's default."""
  return layers.AvgPool(3, 1, 'SAME', count_include_pad=count_padding, name=name)


def _classifier(x, num_classes: int, dropout_rate: float, train: bool, dtype, param_dtype):
  """Global average pool, dropout and the linear layer: the head of every network here."""
  x = layers.GlobalAvgPool(name='avg_pool')(x)
  x = nn.Dropout(dropout_rate, deterministic=not train, name='dropout')(x)
  return nn.Dense(num_classes, dtype=dtype, param_dtype=param_dtype, name='fc')(x)


class _Block(nn.Module):
  """A module of BatchNorm-ReLU convolutions; `conv` makes one with the block's settings."""

  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def conv(self, filters: int, kernel_size=(1, 1), strides: int = 1, padding='SAME', *,
           name: str):
    return layers.ConvNormActivation(filters, kernel_size, strides, padding,
                                     bn_epsilon=BN_EPSILON, train=self.train, dtype=self.dtype,
                                     param_dtype=self.param_dtype, name=name)


# --- Inception v3 ----------------------------------------------------------------------------


class InceptionV3Stem(_Block):
  """Table 1 of the v3 paper up to the 35×35 grid: 299×299×3 -> 35×35×192."""

  @nn.compact
  def __call__(self, x):
    x = self.conv(32, (3, 3), 2, 'VALID', name='conv1a')(x)  # 149×149
    x = self.conv(32, (3, 3), 1, 'VALID', name='conv2a')(x)  # 147×147
    x = stage(self.conv(64, (3, 3), name='conv2b')(x), 'stem/conv2b', 2)
    x = layers.MaxPool(3, 2, name='pool3a')(x)  # 73×73
    x = self.conv(80, name='conv3b')(x)
    x = stage(self.conv(192, (3, 3), 1, 'VALID', name='conv4a')(x), 'stem/conv4a', 4)  # 71×71
    return layers.MaxPool(3, 2, name='pool5a')(x)  # 35×35


class InceptionV3A(_Block):
  """35×35 module (Fig. 5): 1×1 | 1×1 → 5×5 | 1×1 → 3×3 → 3×3 | avg pool → 1×1."""

  pool_filters: int = 64
  filters_1x1: int = 64
  pool_counts_padding: bool = False

  @nn.compact
  def __call__(self, x):
    branch_1x1 = self.conv(self.filters_1x1, name='branch1x1')(x)
    branch_5x5 = self.conv(48, name='branch5x5_reduce')(x)
    branch_5x5 = self.conv(64, (5, 5), name='branch5x5')(branch_5x5)
    branch_3x3 = self.conv(64, name='branch3x3dbl_reduce')(x)
    branch_3x3 = self.conv(96, (3, 3), name='branch3x3dbl_1')(branch_3x3)
    branch_3x3 = self.conv(96, (3, 3), name='branch3x3dbl_2')(branch_3x3)
    branch_pool = _avg_pool_3x3('pool', self.pool_counts_padding)(x)
    branch_pool = self.conv(self.pool_filters, name='pool_proj')(branch_pool)
    return jnp.concatenate([branch_1x1, branch_5x5, branch_3x3, branch_pool], axis=-1)


class InceptionV3ReductionA(_Block):
  """35×35 -> 17×17 (Fig. 10): stride-2 convolutions beside a stride-2 max pool."""

  @nn.compact
  def __call__(self, x):
    branch_3x3 = self.conv(384, (3, 3), 2, 'VALID', name='branch3x3')(x)
    branch_dbl = self.conv(64, name='branch3x3dbl_reduce')(x)
    branch_dbl = self.conv(96, (3, 3), name='branch3x3dbl_1')(branch_dbl)
    branch_dbl = self.conv(96, (3, 3), 2, 'VALID', name='branch3x3dbl_2')(branch_dbl)
    branch_pool = layers.MaxPool(3, 2, name='pool')(x)
    return jnp.concatenate([branch_3x3, branch_dbl, branch_pool], axis=-1)


class InceptionV3B(_Block):
  """17×17 module (Fig. 6, n = 7): 7×7 convolutions factorised into 1×7 and 7×1."""

  tower_filters: int = 128
  pool_counts_padding: bool = False

  @nn.compact
  def __call__(self, x):
    width = self.tower_filters
    branch_1x1 = self.conv(192, name='branch1x1')(x)
    branch_7x7 = self.conv(width, name='branch7x7_reduce')(x)
    branch_7x7 = self.conv(width, (1, 7), name='branch7x7_1')(branch_7x7)
    branch_7x7 = self.conv(192, (7, 1), name='branch7x7_2')(branch_7x7)
    branch_dbl = self.conv(width, name='branch7x7dbl_reduce')(x)
    branch_dbl = self.conv(width, (7, 1), name='branch7x7dbl_1')(branch_dbl)
    branch_dbl = self.conv(width, (1, 7), name='branch7x7dbl_2')(branch_dbl)
    branch_dbl = self.conv(width, (7, 1), name='branch7x7dbl_3')(branch_dbl)
    branch_dbl = self.conv(192, (1, 7), name='branch7x7dbl_4')(branch_dbl)
    branch_pool = _avg_pool_3x3('pool', self.pool_counts_padding)(x)
    branch_pool = self.conv(192, name='pool_proj')(branch_pool)
    return jnp.concatenate([branch_1x1, branch_7x7, branch_dbl, branch_pool], axis=-1)


class InceptionV3ReductionB(_Block):
  """17×17 -> 8×8: 1×1 → 3×3/2 | 1×1 → 1×7 → 7×1 → 3×3/2 | max pool."""

  @nn.compact
  def __call__(self, x):
    branch_3x3 = self.conv(192, name='branch3x3_reduce')(x)
    branch_3x3 = self.conv(320, (3, 3), 2, 'VALID', name='branch3x3')(branch_3x3)
    branch_7x7 = self.conv(192, name='branch7x7x3_reduce')(x)
    branch_7x7 = self.conv(192, (1, 7), name='branch7x7x3_1')(branch_7x7)
    branch_7x7 = self.conv(192, (7, 1), name='branch7x7x3_2')(branch_7x7)
    branch_7x7 = self.conv(192, (3, 3), 2, 'VALID', name='branch7x7x3_3')(branch_7x7)
    branch_pool = layers.MaxPool(3, 2, name='pool')(x)
    return jnp.concatenate([branch_3x3, branch_7x7, branch_pool], axis=-1)


class InceptionV3C(_Block):
  """8×8 module (Fig. 7): towers that end in parallel 1×3 and 3×1 convolutions."""

  pool_counts_padding: bool = False

  @nn.compact
  def __call__(self, x):
    branch_1x1 = self.conv(320, name='branch1x1')(x)
    branch_3x3 = self.conv(384, name='branch3x3_reduce')(x)
    branch_3x3 = jnp.concatenate([self.conv(384, (1, 3), name='branch3x3_1x3')(branch_3x3),
                                  self.conv(384, (3, 1), name='branch3x3_3x1')(branch_3x3)],
                                 axis=-1)
    branch_dbl = self.conv(448, name='branch3x3dbl_reduce')(x)
    branch_dbl = self.conv(384, (3, 3), name='branch3x3dbl_1')(branch_dbl)
    branch_dbl = jnp.concatenate([self.conv(384, (1, 3), name='branch3x3dbl_1x3')(branch_dbl),
                                  self.conv(384, (3, 1), name='branch3x3dbl_3x1')(branch_dbl)],
                                 axis=-1)
    branch_pool = _avg_pool_3x3('pool', self.pool_counts_padding)(x)
    branch_pool = self.conv(192, name='pool_proj')(branch_pool)
    return jnp.concatenate([branch_1x1, branch_3x3, branch_dbl, branch_pool], axis=-1)


class InceptionV3Auxiliary(_Block):
  """Auxiliary classifier on the 17×17 grid (Fig. 8), batch-normalised throughout (§7)."""

  num_classes: int = 1000

  @nn.compact
  def __call__(self, x):
    x = layers.AvgPool(5, 3, name='pool')(x)  # 17×17 -> 5×5
    x = self.conv(128, name='conv')(x)
    x = self.conv(768, (5, 5), 1, 'VALID', name='fc')(x)  # 5×5 -> 1×1
    x = x.reshape((x.shape[0], -1))
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='classifier')(x)


class InceptionV3(nn.Module):
  """Inception v3 (Szegedy et al. 2016, Table 1) with its auxiliary classifier ('aux').

  `pool_counts_padding`: the modules' average pools count the zero padding in the mean,
  as torchvision's port of the released model does (`inception_v3_torchvision`).
  """

  num_classes: int = 1000
  dropout_rate: float = 0.2
  pool_counts_padding: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    common = dict(train=train, dtype=self.dtype, param_dtype=self.param_dtype)
    pools = dict(pool_counts_padding=self.pool_counts_padding)
    x = x.astype(self.dtype)
    x = InceptionV3Stem(**common, name='stem')(x)
    for index, pool_filters in enumerate((32, 64, 64)):
      x = InceptionV3A(**common, **pools, pool_filters=pool_filters,
                       name=f'mixed_5{"bcd"[index]}')(x)
    x = InceptionV3ReductionA(**common, name='mixed_6a')(stage(x, 'mixed_5d', 8))
    for index, tower_filters in enumerate((128, 160, 160, 192)):
      x = InceptionV3B(**common, **pools, tower_filters=tower_filters,
                       name=f'mixed_6{"bcde"[index]}')(x)
    x = stage(x, 'mixed_6e', 16)
    aux_logits = None
    if (train or self.is_initializing()) and not capturing_stages():
      aux_logits = InceptionV3Auxiliary(**common, num_classes=self.num_classes, name='aux')(x)
    x = InceptionV3ReductionB(**common, name='mixed_7a')(x)
    x = InceptionV3C(**common, **pools, name='mixed_7b')(x)
    x = stage(InceptionV3C(**common, **pools, name='mixed_7c')(x), 'mixed_7c', 32)
    logits = _classifier(x, self.num_classes, self.dropout_rate, train, self.dtype,
                         self.param_dtype)
    return (logits, aux_logits) if train else logits


# --- Inception-v4 ----------------------------------------------------------------------------


class InceptionV4Stem(_Block):
  """Fig. 3 of the v4 paper, shared by Inception-v4 and Inception-ResNet-v2: -> 35×35×384.

  `released`: the right tower's 1×7 convolution comes before its 7×1, as in the authors'
  released TF-slim network, where the figure lists 7×1 first.
  """

  released: bool = False

  @nn.compact
  def __call__(self, x):
    x = self.conv(32, (3, 3), 2, 'VALID', name='conv1')(x)  # 149×149×32
    x = self.conv(32, (3, 3), 1, 'VALID', name='conv2')(x)  # 147×147×32
    x = stage(self.conv(64, (3, 3), name='conv3')(x), 'stem/conv3', 2)  # 147×147×64
    # timm's features.3, the figure's first filter concatenation.
    x = stage(jnp.concatenate([layers.MaxPool(3, 2, name='pool4')(x),
                               self.conv(96, (3, 3), 2, 'VALID', name='conv4')(x)], axis=-1),
              'stem/mixed_3a', 4)
    left = self.conv(64, name='branch_left_reduce')(x)  # 73×73×160 in
    left = self.conv(96, (3, 3), 1, 'VALID', name='branch_left')(left)
    right = self.conv(64, name='branch_right_reduce')(x)
    if self.released:
      right = self.conv(64, (1, 7), name='branch_right_1x7')(right)
      right = self.conv(64, (7, 1), name='branch_right_7x1')(right)
    else:
      right = self.conv(64, (7, 1), name='branch_right_7x1')(right)
      right = self.conv(64, (1, 7), name='branch_right_1x7')(right)
    right = self.conv(96, (3, 3), 1, 'VALID', name='branch_right')(right)
    x = jnp.concatenate([left, right], axis=-1)  # 71×71×192
    return jnp.concatenate([self.conv(192, (3, 3), 2, 'VALID', name='conv6')(x),
                            layers.MaxPool(3, 2, name='pool6')(x)], axis=-1)  # 35×35×384


def _concatenate(branch_pool, others: list, pool_last: bool):
  """The figures put the pool branch first; the released TF-slim networks put it last."""
  return jnp.concatenate(others + [branch_pool] if pool_last else [branch_pool] + others,
                         axis=-1)


class InceptionV4A(_Block):
  """Fig. 4: avg pool → 1×1 96 | 1×1 96 | 1×1 64 → 3×3 96 | 1×1 64 → 3×3 96 → 3×3 96.

  `released`: the pool branch computed and concatenated last (TF-slim).
  """

  released: bool = False

  @nn.compact
  def __call__(self, x):
    def pool_branch():
      return self.conv(96, name='pool_proj')(_avg_pool_3x3('pool')(x))

    branch_pool = None if self.released else pool_branch()
    branch_1x1 = self.conv(96, name='branch1x1')(x)
    branch_3x3 = self.conv(64, name='branch3x3_reduce')(x)
    branch_3x3 = self.conv(96, (3, 3), name='branch3x3')(branch_3x3)
    branch_dbl = self.conv(64, name='branch3x3dbl_reduce')(x)
    branch_dbl = self.conv(96, (3, 3), name='branch3x3dbl_1')(branch_dbl)
    branch_dbl = self.conv(96, (3, 3), name='branch3x3dbl_2')(branch_dbl)
    if self.released:
      branch_pool = pool_branch()
    return _concatenate(branch_pool, [branch_1x1, branch_3x3, branch_dbl], self.released)


class ReductionA(_Block):
  """Fig. 7, 35×35 -> 17×17, with the k, l, m, n of Table 1 of the v4 paper.

  `pool_last`: the max pool branch concatenated last (the released TF-slim networks).
  """

  k: int = 192
  l: int = 224
  m: int = 256
  n: int = 384
  pool_last: bool = False

  @nn.compact
  def __call__(self, x):
    branch_pool = layers.MaxPool(3, 2, name='pool')(x)
    branch_3x3 = self.conv(self.n, (3, 3), 2, 'VALID', name='branch3x3')(x)
    branch_dbl = self.conv(self.k, name='branch3x3dbl_reduce')(x)
    branch_dbl = self.conv(self.l, (3, 3), name='branch3x3dbl_1')(branch_dbl)
    branch_dbl = self.conv(self.m, (3, 3), 2, 'VALID', name='branch3x3dbl_2')(branch_dbl)
    return _concatenate(branch_pool, [branch_3x3, branch_dbl], self.pool_last)


class InceptionV4B(_Block):
  """Fig. 5: the 17×17 module, 7×7 convolutions factorised into 1×7 and 7×1.

  `released`: the double tower alternates 7×1, 1×7, 7×1, 1×7 (the figure: 1×7 first) and
  the pool branch comes last, as in TF-slim.
  """

  released: bool = False

  @nn.compact
  def __call__(self, x):
    def pool_branch():
      return self.conv(128, name='pool_proj')(_avg_pool_3x3('pool')(x))

    branch_pool = None if self.released else pool_branch()
    branch_1x1 = self.conv(384, name='branch1x1')(x)
    branch_7x7 = self.conv(192, name='branch7x7_reduce')(x)
    branch_7x7 = self.conv(224, (1, 7), name='branch7x7_1')(branch_7x7)
    branch_7x7 = self.conv(256, (7, 1), name='branch7x7_2')(branch_7x7)
    first, second = ((7, 1), (1, 7)) if self.released else ((1, 7), (7, 1))
    branch_dbl = self.conv(192, name='branch7x7dbl_reduce')(x)
    branch_dbl = self.conv(192, first, name='branch7x7dbl_1')(branch_dbl)
    branch_dbl = self.conv(224, second, name='branch7x7dbl_2')(branch_dbl)
    branch_dbl = self.conv(224, first, name='branch7x7dbl_3')(branch_dbl)
    branch_dbl = self.conv(256, second, name='branch7x7dbl_4')(branch_dbl)
    if self.released:
      branch_pool = pool_branch()
    return _concatenate(branch_pool, [branch_1x1, branch_7x7, branch_dbl], self.released)


class InceptionV4ReductionB(_Block):
  """Fig. 8, 17×17 -> 8×8: max pool | 1×1 → 3×3/2 | 1×1 → 1×7 → 7×1 → 3×3/2.

  `pool_last`: the max pool branch concatenated last (TF-slim).
  """

  pool_last: bool = False

  @nn.compact
  def __call__(self, x):
    branch_pool = layers.MaxPool(3, 2, name='pool')(x)
    branch_3x3 = self.conv(192, name='branch3x3_reduce')(x)
    branch_3x3 = self.conv(192, (3, 3), 2, 'VALID', name='branch3x3')(branch_3x3)
    branch_7x7 = self.conv(256, name='branch7x7_reduce')(x)
    branch_7x7 = self.conv(256, (1, 7), name='branch7x7_1')(branch_7x7)
    branch_7x7 = self.conv(320, (7, 1), name='branch7x7_2')(branch_7x7)
    branch_7x7 = self.conv(320, (3, 3), 2, 'VALID', name='branch7x7_3')(branch_7x7)
    return _concatenate(branch_pool, [branch_3x3, branch_7x7], self.pool_last)


class InceptionV4C(_Block):
  """Fig. 6: the 8×8 module, towers ending in parallel 1×3 and 3×1 convolutions.

  `released`: the double tower's 3×1 comes before its 1×3 (the figure: 1×3 first) and
  the pool branch comes last, as in TF-slim.
  """

  released: bool = False

  @nn.compact
  def __call__(self, x):
    def split(y, prefix):
      return jnp.concatenate([self.conv(256, (1, 3), name=f'{prefix}_1x3')(y),
                              self.conv(256, (3, 1), name=f'{prefix}_3x1')(y)], axis=-1)

    def pool_branch():
      return self.conv(256, name='pool_proj')(_avg_pool_3x3('pool')(x))

    branch_pool = None if self.released else pool_branch()
    branch_1x1 = self.conv(256, name='branch1x1')(x)
    branch_3x3 = split(self.conv(384, name='branch3x3_reduce')(x), 'branch3x3')
    first, second = ((3, 1), (1, 3)) if self.released else ((1, 3), (3, 1))
    branch_dbl = self.conv(384, name='branch3x3dbl_reduce')(x)
    branch_dbl = self.conv(448, first, name='branch3x3dbl_1')(branch_dbl)
    branch_dbl = self.conv(512, second, name='branch3x3dbl_2')(branch_dbl)
    branch_dbl = split(branch_dbl, 'branch3x3dbl')
    if self.released:
      branch_pool = pool_branch()
    return _concatenate(branch_pool, [branch_1x1, branch_3x3, branch_dbl], self.released)


class InceptionV4(nn.Module):
  """Inception-v4 (Szegedy et al. 2017, Fig. 9): stem, 4 A, Reduction-A, 7 B, Reduction-B, 3 C.

  `released`: the network the authors released (TF-slim's inception_v4, which timm ports):
  36 factorised convolutions in the opposite order to the figures' labels (the stem's
  right tower, the B modules' double towers, the C modules' 448/512 pair) and every
  pool branch concatenated last (`inception_v4_tfslim`).
  """

  num_classes: int = 1000
  dropout_rate: float = 0.2
  released: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    common = dict(train=train, dtype=self.dtype, param_dtype=self.param_dtype)
    released = self.released
    x = x.astype(self.dtype)
    x = InceptionV4Stem(**common, released=released, name='stem')(x)
    for index in range(4):
      x = InceptionV4A(**common, released=released, name=f'inception_a{index + 1}')(x)
    x = ReductionA(**common, k=192, l=224, m=256, n=384, pool_last=released,
                   name='reduction_a')(stage(x, 'inception_a4', 8))
    for index in range(7):
      x = InceptionV4B(**common, released=released, name=f'inception_b{index + 1}')(x)
    x = InceptionV4ReductionB(**common, pool_last=released,
                              name='reduction_b')(stage(x, 'inception_b7', 16))
    for index in range(3):
      x = InceptionV4C(**common, released=released, name=f'inception_c{index + 1}')(x)
    x = stage(x, 'inception_c3', 32)
    return _classifier(x, self.num_classes, self.dropout_rate, train, self.dtype,
                       self.param_dtype)


# --- Inception-ResNet-v2 ---------------------------------------------------------------------


class _ResidualBlock(_Block):
  """An Inception-ResNet block: input + scale × linear 1×1 projection(branches), then ReLU.

  The projection returns the input's width (see the module docstring for the
  figures' inconsistent widths); it has a bias and no BatchNorm (§3.2).
  """

  scale: float = 1.0
  activate: bool = True

  def branches(self, x) -> list:
    raise NotImplementedError

  @nn.compact
  def __call__(self, x):
    mixed = jnp.concatenate(self.branches(x), axis=-1)
    update = nn.Conv(x.shape[-1], (1, 1), kernel_init=layers.he_normal, dtype=self.dtype,
                     param_dtype=self.param_dtype, name='projection',
                     conv_general_dilated=layers.conv_general_dilated)(mixed)
    x = x + self.scale * update
    return nn.relu(x) if self.activate else x


class InceptionResNetA(_ResidualBlock):
  """Fig. 16: 1×1 32 | 1×1 32 → 3×3 32 | 1×1 32 → 3×3 48 → 3×3 64, on the 35×35 grid."""

  def branches(self, x):
    branch_1x1 = self.conv(32, name='branch1x1')(x)
    branch_3x3 = self.conv(32, name='branch3x3_reduce')(x)
    branch_3x3 = self.conv(32, (3, 3), name='branch3x3')(branch_3x3)
    branch_dbl = self.conv(32, name='branch3x3dbl_reduce')(x)
    branch_dbl = self.conv(48, (3, 3), name='branch3x3dbl_1')(branch_dbl)
    branch_dbl = self.conv(64, (3, 3), name='branch3x3dbl_2')(branch_dbl)
    return [branch_1x1, branch_3x3, branch_dbl]


class InceptionResNetB(_ResidualBlock):
  """Fig. 17: 1×1 192 | 1×1 128 → 1×7 160 → 7×1 192, on the 17×17 grid."""

  def branches(self, x):
    branch_1x1 = self.conv(192, name='branch1x1')(x)
    branch_7x7 = self.conv(128, name='branch7x7_reduce')(x)
    branch_7x7 = self.conv(160, (1, 7), name='branch7x7_1')(branch_7x7)
    branch_7x7 = self.conv(192, (7, 1), name='branch7x7_2')(branch_7x7)
    return [branch_1x1, branch_7x7]


class InceptionResNetC(_ResidualBlock):
  """Fig. 19: 1×1 192 | 1×1 192 → 1×3 224 → 3×1 256, on the 8×8 grid."""

  def branches(self, x):
    branch_1x1 = self.conv(192, name='branch1x1')(x)
    branch_3x3 = self.conv(192, name='branch3x3_reduce')(x)
    branch_3x3 = self.conv(224, (1, 3), name='branch3x3_1')(branch_3x3)
    branch_3x3 = self.conv(256, (3, 1), name='branch3x3_2')(branch_3x3)
    return [branch_1x1, branch_3x3]


class InceptionResNetReductionB(_Block):
  """Fig. 18, 17×17 -> 8×8: max pool | 1×1 → 3×3/2 384 | 1×1 → 3×3/2 288 | 1×1 → 3×3 → 3×3/2.

  `pool_last`: the max pool branch concatenated last (TF-slim).
  """

  pool_last: bool = False

  @nn.compact
  def __call__(self, x):
    branch_pool = layers.MaxPool(3, 2, name='pool')(x)
    branch_a = self.conv(256, name='branch_a_reduce')(x)
    branch_a = self.conv(384, (3, 3), 2, 'VALID', name='branch_a')(branch_a)
    branch_b = self.conv(256, name='branch_b_reduce')(x)
    branch_b = self.conv(288, (3, 3), 2, 'VALID', name='branch_b')(branch_b)
    branch_c = self.conv(256, name='branch_c_reduce')(x)
    branch_c = self.conv(288, (3, 3), name='branch_c_1')(branch_c)
    branch_c = self.conv(320, (3, 3), 2, 'VALID', name='branch_c_2')(branch_c)
    return _concatenate(branch_pool, [branch_a, branch_b, branch_c], self.pool_last)


class InceptionResNetV2(nn.Module):
  """Inception-ResNet-v2 of the paper's figures (Fig. 15 with the v2 blocks, see module doc).

  `blocks`: how many A, B and C blocks; `residual_scales`: their scaling (§3.3).
  """

  num_classes: int = 1000
  blocks: Sequence[int] = (5, 10, 5)
  residual_scales: Sequence[float] = (0.17, 0.10, 0.20)
  dropout_rate: float = 0.2
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    common = dict(train=train, dtype=self.dtype, param_dtype=self.param_dtype)
    scale_a, scale_b, scale_c = self.residual_scales
    x = x.astype(self.dtype)
    x = InceptionV4Stem(**common, name='stem')(x)  # 35×35×384
    for index in range(self.blocks[0]):
      x = InceptionResNetA(**common, scale=scale_a, name=f'block_a{index + 1}')(x)
    x = stage(x, f'block_a{self.blocks[0]}', 8)
    x = ReductionA(**common, k=256, l=256, m=384, n=384, name='reduction_a')(x)  # 17×17×1152
    for index in range(self.blocks[1]):
      x = InceptionResNetB(**common, scale=scale_b, name=f'block_b{index + 1}')(x)
    x = stage(x, f'block_b{self.blocks[1]}', 16)
    x = InceptionResNetReductionB(**common, name='reduction_b')(x)  # 8×8×2144
    for index in range(self.blocks[2]):
      x = InceptionResNetC(**common, scale=scale_c, name=f'block_c{index + 1}')(x)
    x = stage(x, f'block_c{self.blocks[2]}', 32)
    return _classifier(x, self.num_classes, self.dropout_rate, train, self.dtype,
                       self.param_dtype)


class InceptionResNetV2TFSlim(nn.Module):
  """The authors' released Inception-ResNet-v2 (TF-slim), 55.8 M parameters (see module doc)."""

  num_classes: int = 1000
  blocks: Sequence[int] = (10, 20, 10)
  residual_scales: Sequence[float] = (0.17, 0.10, 0.20)
  dropout_rate: float = 0.2
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    common = dict(train=train, dtype=self.dtype, param_dtype=self.param_dtype)
    scale_a, scale_b, scale_c = self.residual_scales
    x = x.astype(self.dtype)
    x = InceptionV3Stem(**common, name='stem')(x)  # 35×35×192
    x = InceptionV3A(**common, filters_1x1=96, pool_filters=64, name='mixed_5b')(x)  # ×320
    for index in range(self.blocks[0]):
      x = InceptionResNetA(**common, scale=scale_a, name=f'block_a{index + 1}')(x)
    x = stage(x, f'block_a{self.blocks[0]}', 8)
    # TF-slim concatenates the reductions' pool branches last, where the figures put them first.
    x = ReductionA(**common, k=256, l=256, m=384, n=384, pool_last=True,
                   name='reduction_a')(x)  # 17×17×1088
    for index in range(self.blocks[1]):
      x = InceptionResNetB(**common, scale=scale_b, name=f'block_b{index + 1}')(x)
    x = stage(x, f'block_b{self.blocks[1]}', 16)
    x = InceptionResNetReductionB(**common, pool_last=True, name='reduction_b')(x)  # 8×8×2080
    for index in range(self.blocks[2]):
      last = index == self.blocks[2] - 1
      x = InceptionResNetC(**common, scale=1.0 if last else scale_c, activate=not last,
                           name=f'block_c{index + 1}')(x)
    x = layers.ConvNormActivation(1536, bn_epsilon=BN_EPSILON, **common, name='conv_7b')(x)
    x = stage(x, 'conv_7b', 32)
    return _classifier(x, self.num_classes, self.dropout_rate, train, self.dtype,
                       self.param_dtype)


# Top-1 for `models compare`: single crop, single model, on the 48,238 non-blacklisted
# validation images (about 0.2 % better than on all 50,000, Szegedy et al. 2016 §10).
# The released variants carry no number of their own: their papers' is on the row above.
register('inception_v3', InceptionV3, input_size=299, num_classes=1000, test_input_size=299,
         parameters=27_161_264,  # torchvision's, with the auxiliary head
         paper_top1=78.8, paper_top1_source='Szegedy et al. 2016, Table 3 (single crop, '
                                            '21.2 % top-1 error)')
register('inception_v4', InceptionV4, input_size=299, num_classes=1000, test_input_size=75,
         parameters=42_679_816, paper_parameters='42.7',
         paper_top1=80.0, paper_top1_source='Szegedy et al. 2017, Table 2 (single crop, '
                                            '20.0 % top-1 error)')
register('inception_v4_tfslim', partial(InceptionV4, released=True), input_size=299,
         num_classes=1000, test_input_size=75, parameters=42_679_816,  # timm's inception_v4
         paper_top1_source="the released variant: the paper's number is inception_v4's")
register('inception_v3_torchvision', partial(InceptionV3, pool_counts_padding=True),
         input_size=299, num_classes=1000, test_input_size=299, parameters=27_161_264,
         paper_top1_source="the released variant: the paper's number is inception_v3's")
register('inception_resnet_v2', InceptionResNetV2, input_size=299, num_classes=1000,
         test_input_size=75, parameters=32_433_928,
         paper_top1=80.1, paper_top1_source='Szegedy et al. 2017, Table 2 (single crop, '
                                            '19.9 % top-1 error)')
register('inception_resnet_v2_tfslim', InceptionResNetV2TFSlim, input_size=299,
         num_classes=1000, test_input_size=75, parameters=55_843_464,
         paper_top1_source="the released variant: the paper's number is "
                           "inception_resnet_v2's")
