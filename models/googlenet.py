"""GoogLeNet (Inception v1): Szegedy et al. 2015, "Going deeper with convolutions".

`googlenet` is the network of the paper's Table 1 and Fig. 3 at 224×224:

    layer              output        #1×1  #3×3 red  #3×3  #5×5 red  #5×5  pool proj
    conv 7×7/2         112×112×64
    max pool 3×3/2      56×56×64
    LRN
    conv 1×1            56×56×64
    conv 3×3            56×56×192
    LRN
    max pool 3×3/2      28×28×192
    inception (3a)      28×28×256      64      96       128     16       32     32
    inception (3b)      28×28×480     128     128       192     32       96     64
    max pool 3×3/2      14×14×480
    inception (4a)      14×14×512     192      96       208     16       48     64
    inception (4b)      14×14×512     160     112       224     24       64     64
    inception (4c)      14×14×512     128     128       256     24       64     64
    inception (4d)      14×14×528     112     144       288     32       64     64
    inception (4e)      14×14×832     256     160       320     32      128    128
    max pool 3×3/2       7×7×832
    inception (5a)       7×7×832      256     160       320     32      128    128
    inception (5b)       7×7×1024     384     192       384     48      128    128
    avg pool 7×7         1×1×1024
    dropout 40 %, linear, softmax

An inception module (Fig. 2b) concatenates four branches: a 1×1 convolution; a
1×1 reduction then a 3×3; a 1×1 reduction then a 5×5; a 3×3/1 max pool then a
1×1 projection. The 5×5 branch is a real 5×5 convolution as in the paper
(torchvision's GoogLeNet uses a 3×3 there, a bug kept for its pretrained weights).
The 7×7/2 stem convolution pads 3 pixels on each side, as the authors' Caffe model
does; the max pools round their output size up (Caffe), which for 3×3/2 windows is
'SAME' padding.
Inception (3a) has 163,696 parameters and 128 M multiply-adds at 28×28.

Every convolution has a bias and a ReLU (the paper predates BatchNorm).
Paddings are 'SAME' so that the grid sizes are those of Table 1 (112, 56, 28,
14, 7). Choices the paper leaves open:
  * local response normalisation: the constants of the authors' Caffe reference
    model (bvlc_googlenet): size 5, k=1, beta 0.75, alpha 1e-4 divided by the
    size as Caffe does;
  * the 7×7 average pool is a global average pool (the same at 224×224, and it
    lets the network run on smaller inputs);
  * initialisation: He et al. 2015 with fan-in, which keeps the scale of
    activations through 22 ReLU layers without BatchNorm (DistBelief's is unknown).

The auxiliary classifiers of §5 sit on top of (4a) ('aux1') and (4d) ('aux2'):
5×5/3 average pool (4×4×512 at 224), 1×1 convolution of 128 filters, a fully
connected layer of 1024 units with ReLU, dropout 70 %, and a linear layer to
the classes. In training the network returns (logits, aux1_logits, aux2_logits);
train.py weighs the auxiliary losses by config.aux_loss_weight (0.3 in the
paper). At inference they are discarded and only the logits are returned.

Parameters at 1000 classes: 6,998,552 without the auxiliary heads, 13,378,280
with them; 1.58 G multiply-adds (the paper: "1.5 billion multiply-adds").
Table 1's column of parameters adds up to about 6.8 M: its entries are rounded,
leave out biases, and give the first convolution 2.7 K where its 7×7×3×64
kernel holds 9.4 K weights.
The auxiliary heads need (4a)'s grid to be at least 5×5: inputs of 80 pixels
or more in training.

`googlenet_naive` is GoogLeNet built from the naive module of Fig. 2a, the
ablation of §4's argument for dimension reduction: 1×1, 3×3 and 5×5
convolutions of Table 1's #1×1, #3×3 and #5×5 widths and a 3×3/1 max pool, all
on the module's input, concatenated; no 3×3/5×5 reductions, no pool projection.
The pool branch passes all its input channels on, so the width grows module
after module ("an inevitable increase in the number of outputs from stage to
stage", §4):

    module     output (naive)    output (Table 1)
    (3a)       28×28×416         28×28×256     64 + 128 + 32 + 192
    (3b)       28×28×832         28×28×480
    (4a)       14×14×1280        14×14×512
    (4b)       14×14×1728        14×14×512
    (4c)       14×14×2176        14×14×512
    (4d)       14×14×2640        14×14×528
    (4e)       14×14×3344        14×14×832
    (5a)        7×7×4048          7×7×832
    (5b)        7×7×4944          7×7×1024

Stem, auxiliary heads (on (4a)'s 1280 and (4d)'s 2640 channels) and classifier
(4944 → 1000) are GoogLeNet's. At 224 and 1000 classes: 97,526,008 parameters
without the auxiliary heads, 104,274,376 with them, and 12.57 G multiply-adds,
14× and 8× GoogLeNet's: the reason the paper reduces before the expensive
convolutions.

`googlenet_torchvision` is torchvision's GoogLeNet, the network of its pretrained
weights (trained/convert.py): `googlenet_bn` with a 3×3 convolution in the "5×5" branch,
a 2×2/2 max pool before (5a) and dropout 0.2 before the classifier.

`googlenet_bn` is GoogLeNet with BatchNorm after every convolution (no
convolution bias, BN epsilon 1e-3) and without the LRN layers that BN makes
redundant (Ioffe & Szegedy 2015, §4.2.1), as torchvision builds it, but with
the paper's 5×5 convolutions. It is not the BN-Inception of Ioffe & Szegedy
2015, which also replaces the 5×5 convolutions by two 3×3 and changes widths.
"""

from functools import partial
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from models import layers
from models.features import capturing_stages, stage
from models.registry import register

# He et al. 2015 with fan-in: a plain ReLU network keeps its activations' scale
# layer after layer (the fan-out form of layers.he_normal is for BatchNorm nets).
he_normal_fan_in = nn.initializers.variance_scaling(2.0, 'fan_in', 'normal')

# Table 1: #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj.
INCEPTION_WIDTHS = {
    '3a': (64, 96, 128, 16, 32, 32),
    '3b': (128, 128, 192, 32, 96, 64),
    '4a': (192, 96, 208, 16, 48, 64),
    '4b': (160, 112, 224, 24, 64, 64),
    '4c': (128, 128, 256, 24, 64, 64),
    '4d': (112, 144, 288, 32, 64, 64),
    '4e': (256, 160, 320, 32, 128, 128),
    '5a': (256, 160, 320, 32, 128, 128),
    '5b': (384, 192, 384, 48, 128, 128),
}


# googlenet_bn's BatchNorm epsilon, torchvision's (TensorFlow's default).
BN_EPSILON = 1e-3


def conv_unit(module: nn.Module):
  """The convolution-ReLU unit (convolution-BN-ReLU in googlenet_bn) with `module`'s settings."""
  return partial(layers.ConvNormActivation, batch_norm=module.batch_norm, bn_epsilon=BN_EPSILON,
                 kernel_init=module.kernel_init, train=module.train, dtype=module.dtype,
                 param_dtype=module.param_dtype)


class InceptionModule(nn.Module):
  """Fig. 2b of the paper: 1×1 | 1×1 → 3×3 | 1×1 → 5×5 | 3×3 max pool → 1×1, concatenated."""

  filters_1x1: int
  reduce_3x3: int
  filters_3x3: int
  reduce_5x5: int
  filters_5x5: int
  pool_projection: int
  batch_norm: bool = False
  branch5x5_kernel: int = 5  # 3 in torchvision's GoogLeNet
  kernel_init: Callable = he_normal_fan_in
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = conv_unit(self)
    branch_1x1 = conv(self.filters_1x1, name='branch1x1')(x)
    branch_3x3 = conv(self.reduce_3x3, name='branch3x3_reduce')(x)
    branch_3x3 = conv(self.filters_3x3, (3, 3), name='branch3x3')(branch_3x3)
    branch_5x5 = conv(self.reduce_5x5, name='branch5x5_reduce')(x)
    kernel = (self.branch5x5_kernel, self.branch5x5_kernel)
    branch_5x5 = conv(self.filters_5x5, kernel, name='branch5x5')(branch_5x5)
    branch_pool = layers.MaxPool(3, 1, 'SAME', name='pool')(x)
    branch_pool = conv(self.pool_projection, name='pool_proj')(branch_pool)
    return jnp.concatenate([branch_1x1, branch_3x3, branch_5x5, branch_pool], axis=-1)


class NaiveInceptionModule(nn.Module):
  """Fig. 2a of the paper: 1×1 | 3×3 | 5×5 | 3×3 max pool, in parallel on the input, concatenated.

  No 1×1 reduction precedes the 3×3 and 5×5 convolutions and no projection
  follows the pool, so the pool branch passes every input channel on and the
  module's output is wider than its input (§4: the problem the reductions solve).
  """

  filters_1x1: int
  filters_3x3: int
  filters_5x5: int
  batch_norm: bool = False
  kernel_init: Callable = he_normal_fan_in
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = conv_unit(self)
    branch_1x1 = conv(self.filters_1x1, name='branch1x1')(x)
    branch_3x3 = conv(self.filters_3x3, (3, 3), name='branch3x3')(x)
    branch_5x5 = conv(self.filters_5x5, (5, 5), name='branch5x5')(x)
    branch_pool = layers.MaxPool(3, 1, 'SAME', name='pool')(x)
    return jnp.concatenate([branch_1x1, branch_3x3, branch_5x5, branch_pool], axis=-1)


class AuxiliaryClassifier(nn.Module):
  """§5 of the paper: 5×5/3 average pool, 1×1 conv 128, FC 1024, dropout 70 %, linear."""

  num_classes: int
  dropout_rate: float = 0.7
  batch_norm: bool = False
  kernel_init: Callable = he_normal_fan_in
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    dense = partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype)
    x = layers.AvgPool(5, 3, name='pool')(x)
    x = conv_unit(self)(128, name='conv')(x)
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(dense(1024, name='fc')(x))
    x = nn.Dropout(self.dropout_rate, deterministic=not self.train, name='dropout')(x)
    return dense(self.num_classes, name='classifier')(x)


class GoogLeNet(nn.Module):
  """GoogLeNet of the paper's Table 1 with the auxiliary classifiers of §5 (see module doc)."""

  num_classes: int = 1000
  dropout_rate: float = 0.4
  aux_dropout_rate: float = 0.7
  batch_norm: bool = False
  local_response_norm: bool = True
  dimension_reduction: bool = True  # False: the naive modules of Fig. 2a
  branch5x5_kernel: int = 5  # the "5×5" branch's kernel: 3 in torchvision's GoogLeNet
  pool4_window: int = 3  # the 3×3/2 max pool before (5a): 2×2 in torchvision's GoogLeNet
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    # With BatchNorm, the family's usual fan-out He initialisation; without, fan-in.
    kernel_init = layers.he_normal if self.batch_norm else he_normal_fan_in
    common = dict(batch_norm=self.batch_norm, kernel_init=kernel_init, train=train,
                  dtype=self.dtype, param_dtype=self.param_dtype)
    conv = partial(layers.ConvNormActivation, bn_epsilon=BN_EPSILON, **common)
    # Caffe's LRN divides alpha by the size; layers.LocalResponseNorm does not.
    norm = partial(layers.LocalResponseNorm, size=5, k=1.0, alpha=1e-4 / 5, beta=0.75)
    run_aux = (train or self.is_initializing()) and not capturing_stages()
    aux_logits = []

    x = x.astype(self.dtype)
    x = conv(64, (7, 7), strides=2, padding=3, name='conv1')(x)  # Caffe's pad 3
    # Stage maps: the map before each max pool, and the last module's.
    x = layers.MaxPool(3, 2, 'SAME', name='pool1')(stage(x, 'conv1', 2))
    if self.local_response_norm:
      x = norm(name='norm1')(x)
    x = conv(64, name='conv2_reduce')(x)
    x = conv(192, (3, 3), name='conv2')(x)
    if self.local_response_norm:
      x = norm(name='norm2')(x)
    x = layers.MaxPool(3, 2, 'SAME', name='pool2')(stage(x, 'conv2', 4))
    reduction = 8
    for module in ('3a', '3b', 'pool3', '4a', '4b', '4c', '4d', '4e', 'pool4', '5a', '5b'):
      if module.startswith('pool'):
        window = self.pool4_window if module == 'pool4' else 3
        x = layers.MaxPool(window, 2, 'SAME', name=module)(stage(x, previous, reduction))
        reduction *= 2
        continue
      widths = INCEPTION_WIDTHS[module]
      previous = f'inception_{module}'
      if self.dimension_reduction:
        x = InceptionModule(*widths, **common, branch5x5_kernel=self.branch5x5_kernel,
                            name=previous)(x)
      else:  # Table 1's #1×1, #3×3 and #5×5 columns; the reductions do not exist
        x = NaiveInceptionModule(widths[0], widths[2], widths[4], **common,
                                 name=previous)(x)
      if module in ('4a', '4d') and run_aux:
        aux_logits.append(AuxiliaryClassifier(
            self.num_classes, self.aux_dropout_rate, **common,
            name=f'aux{len(aux_logits) + 1}')(x))
    x = layers.GlobalAvgPool(name='avg_pool')(stage(x, previous, reduction))
    x = nn.Dropout(self.dropout_rate, deterministic=not train, name='dropout')(x)
    logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                      name='fc')(x)
    if train:
      return (logits, *aux_logits)
    return logits


# Parameter counts include the auxiliary heads (see the module docstring).
NO_PAPER = ('no paper of its own (BN-Inception of Ioffe & Szegedy 2015 is another network)')
register('googlenet', GoogLeNet, input_size=224, num_classes=1000, test_input_size=80,
         parameters=13_378_280,
         paper_top1_source='top-5 only: Table 3, 1 model, 1 crop, 10.07 % top-5 error')
register('googlenet_bn', partial(GoogLeNet, batch_norm=True, local_response_norm=False),
         input_size=224, num_classes=1000, test_input_size=80, paper_top1_source=NO_PAPER)
# torchvision's GoogLeNet, the network of its pretrained weights: googlenet_bn with a 3×3
# convolution in the "5×5" branch and a 2×2/2 max pool before (5a) (slips of the port kept
# for those weights), and dropout 0.2 before the classifier. Its other ceil-mode 3×3/2 max
# pools equal the 'SAME' ones used here.
register('googlenet_torchvision', partial(GoogLeNet, batch_norm=True, local_response_norm=False,
                                          branch5x5_kernel=3, pool4_window=2,
                                          dropout_rate=0.2),
         input_size=224, num_classes=1000, test_input_size=80, paper_top1_source=NO_PAPER)
register('googlenet_naive', partial(GoogLeNet, dimension_reduction=False),
         input_size=224, num_classes=1000, test_input_size=80, parameters=104_274_376,
         paper_top1_source='not trained in the paper (Fig. 2a, the argument for reductions)')
