"""AlexNet: Krizhevsky, Sutskever & Hinton 2012, "ImageNet classification with
deep convolutional neural networks", Fig. 2 and §3; and ZFNet: Zeiler & Fergus
2014, "Visualizing and understanding convolutional networks", Fig. 3.

`alexnet` is the single-tower network the lectures draw (one GPU's worth of
filters joined into one stack), on a 227×227×3 input (the paper writes 224, but
only 227 gives the 55×55 of CONV1 with an 11×11 stride-4 filter and no padding):

    CONV1  96 11×11/4          55×55×96     34,944 params
    POOL1  max 3×3/2           27×27×96          0   (overlapping pooling, §3.4)
    CONV2  256 5×5 pad 2       27×27×256   614,656
    POOL2  max 3×3/2           13×13×256
    CONV3  384 3×3 pad 1       13×13×384   885,120
    CONV4  384 3×3 pad 1       13×13×384 1,327,488
    CONV5  256 3×3 pad 1       13×13×256   884,992
    POOL5  max 3×3/2            6×6×256
    FC6    4096                           37,752,832   ReLU, dropout 0.5
    FC7    4096                           16,781,312   ReLU, dropout 0.5
    FC8    1000                            4,097,000
                                          62,378,344 in total

Every convolution and hidden FC layer is followed by a ReLU; CONV1 and CONV2 by
local response normalisation (k=2, n=5, alpha=1e-4, beta=0.75, §3.3) after the
ReLU and before the pooling (§3.5). Dropout (§4.2) sets each output of FC6 and
FC7 to zero with probability `dropout_rate` in training.

`alexnet_2gpu` is the paper's network as trained on two GPUs (Fig. 2, §3.2): the
kernels of CONV2, CONV4 and CONV5 see only the maps of their own GPU (two
groups, feature_group_count=2: CONV2's kernel is 5×5×48×256), while CONV3 and
the FC layers take input from both: 60,965,224 parameters.

`zfnet` is AlexNet with the changes of Zeiler & Fergus (§4.1, Fig. 3) as the
lectures give them: CONV1 7×7 stride 2 instead of 11×11 stride 4, CONV2 5×5
stride 2, and the larger CONV3-5 of 512, 1024, 512 filters (the variant of their
Table 2 that did best; Fig. 3 itself has AlexNet's 384, 384, 256), on a 224×224
input, one tower. The paddings reproduce Fig. 3's sizes:

    CONV1  96 7×7/2, pad 1      110×110×96   (224 + 2 - 7) // 2 + 1 = 110
    POOL1  max 3×3/2             55×55×96    one extra row and column at the
                                             bottom/right, i.e. the output size
                                             rounded up (Caffe/cuda-convnet style):
                                             VALID would give 54
    CONV2  256 5×5/2, no pad     26×26×256   (55 - 5) // 2 + 1 = 26
    POOL2  max 3×3/2, as POOL1   13×13×256   (VALID: 12)
    CONV3  512 3×3/1 pad 1       13×13×512
    CONV4  1024 3×3/1 pad 1      13×13×1024
    CONV5  512 3×3/1 pad 1       13×13×512
    POOL5  max 3×3/2, no pad      6×6×512
    FC6 4096, FC7 4096, FC8 1000: 107,627,624 parameters in total.

ZFNet keeps AlexNet's response normalisation after CONV1 and CONV2 (the paper
"normalises the responses across feature maps" in layers 1 and 2).

The classifier flattens whatever spatial size arrives, so the networks also run
on small test inputs (FC6's weights then depend on the input size; parameter
counts are for 227 and 224).

Initialisation: both papers draw weights from N(0, 0.01); AlexNet sets the
biases of CONV2, CONV4, CONV5, FC6 and FC7 to 1 (to give the ReLUs positive
inputs early on) and the others to 0, ZFNet sets all biases to 0. Those scales
suit the papers' raw mean-subtracted 0-255 pixels; our inputs are normalised to
unit variance, so we use He et al.'s variance 2/fan-out for the convolutions
(layers.he_normal), N(0, 0.01) for the FC layers and zero biases.

`alexnet_torchvision` is torchvision's AlexNet, the network of its pretrained weights
(trained/convert.py): the one-tower variant of Krizhevsky's "One weird trick" paper
(2014), with 64, 192, 384, 256, 256 filters, CONV1 padded by 2 and no LRN: 61,100,840
parameters at 224×224.
"""

from functools import partial
from typing import Any, Callable

import flax.linen as nn
import jax.numpy as jnp

from models.features import stage
from models.layers import LocalResponseNorm, MaxPool, conv_general_dilated, he_normal
from models.registry import register

# Bottom/right padding of one: a 3×3/2 max pool whose output size is rounded up.
CEIL_MODE_PADDING = ((0, 1), (0, 1))


def fully_connected_classifier(x, num_classes: int, dropout_rate: float, train: bool,
                               dense: Callable[..., nn.Module]):
  """FC6 and FC7 of 4096 units, each with ReLU and dropout (§4.2), and FC8 to the classes, on
  the flattened maps: AlexNet's classifier, which ZFNet and VGG keep. `dense` makes the
  layers, with the network's initialisation and dtypes."""
  x = x.reshape((x.shape[0], -1))
  x = nn.relu(dense(4096, name='fc6')(x))
  x = nn.Dropout(dropout_rate, deterministic=not train, name='dropout6')(x)
  x = nn.relu(dense(4096, name='fc7')(x))
  x = nn.Dropout(dropout_rate, deterministic=not train, name='dropout7')(x)
  return dense(num_classes, name='fc8')(x)


class AlexNet(nn.Module):
  """AlexNet (and ZFNet) with the layer sizes of its fields (see module docstring).

  conv1_kernel/conv1_stride/conv1_padding, conv2_stride/conv2_padding: the two
  first convolutions; conv_filters: the filters of CONV1-5; pool_padding: the
  padding of POOL1 and POOL2; groups: the towers of CONV2, CONV4 and CONV5.
  """

  num_classes: int = 1000
  conv_filters: tuple[int, ...] = (96, 256, 384, 384, 256)
  conv1_kernel: int = 11
  conv1_stride: int = 4
  conv1_padding: Any = 'VALID'
  conv2_stride: int = 1
  conv2_padding: Any = 2
  pool_padding: Any = 'VALID'
  groups: int = 1
  local_response_norm: bool = True  # after CONV1 and CONV2 (§3.3)
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    conv = partial(nn.Conv, kernel_init=he_normal, dtype=self.dtype,
                   param_dtype=self.param_dtype, conv_general_dilated=conv_general_dilated)
    dense = partial(nn.Dense, kernel_init=nn.initializers.normal(0.01), dtype=self.dtype,
                    param_dtype=self.param_dtype)
    filters1, filters2, filters3, filters4, filters5 = self.conv_filters

    x = conv(filters1, (self.conv1_kernel, self.conv1_kernel), strides=self.conv1_stride,
             padding=self.conv1_padding, name='conv1')(x)
    x = nn.relu(x)
    if self.local_response_norm:
      x = LocalResponseNorm(name='lrn1')(x)
    # Stage maps: the map before each max pool, and the last pool's output (as VGG's).
    reduction = self.conv1_stride
    x = MaxPool(3, 2, self.pool_padding, name='pool1')(stage(x, 'conv1', reduction))
    reduction *= 2 * self.conv2_stride
    # Grouped convolutions: each GPU's kernels see only the maps on that GPU.
    x = conv(filters2, (5, 5), strides=self.conv2_stride, padding=self.conv2_padding,
             feature_group_count=self.groups, name='conv2')(x)
    x = nn.relu(x)
    if self.local_response_norm:
      x = LocalResponseNorm(name='lrn2')(x)
    x = MaxPool(3, 2, self.pool_padding, name='pool2')(stage(x, 'conv2', reduction))
    x = nn.relu(conv(filters3, (3, 3), padding=1, name='conv3')(x))  # across both GPUs
    x = nn.relu(conv(filters4, (3, 3), padding=1, feature_group_count=self.groups,
                     name='conv4')(x))
    x = nn.relu(conv(filters5, (3, 3), padding=1, feature_group_count=self.groups,
                     name='conv5')(x))
    x = stage(MaxPool(3, 2, name='pool5')(stage(x, 'conv5', 2 * reduction)), 'pool5',
              4 * reduction)

    return fully_connected_classifier(x, self.num_classes, self.dropout_rate, train, dense)


# The smallest sides at which every pool still has an output: AlexNet needs
# CONV1 >= 15×15, i.e. 67 pixels; ZFNet needs 63.
# Parameter counts: the lecture's one-tower table, the paper's two towers (its "60 million").
# Top-1 for `models compare`: the paper tests ten patches per image (§4.1), never one.
ALEXNET_TOP1 = ('10-crop only: Table 2, 1 CNN, 40.7 % top-1 error, ten patches averaged '
                '(§4.1)')
register('alexnet', AlexNet, input_size=227, test_input_size=67, parameters=62_378_344,
         paper_top1_source=ALEXNET_TOP1)
register('alexnet_2gpu', partial(AlexNet, groups=2), input_size=227, test_input_size=67,
         parameters=60_965_224, paper_top1_source=ALEXNET_TOP1)
# torchvision's AlexNet, the network of its pretrained weights: the one-tower variant of
# Krizhevsky's "One weird trick" paper (2014) with 64, 192, 384, 256, 256 filters, CONV1
# padded by 2 (so 224 inputs give 6×6×256 = 9216 features) and no LRN.
register('alexnet_torchvision', partial(AlexNet, conv_filters=(64, 192, 384, 256, 256),
                                        conv1_padding=2, local_response_norm=False),
         input_size=224, test_input_size=63, parameters=61_100_840,
         paper_top1_source="torchvision's variant (Krizhevsky 2014, one weird trick): no "
                           'single-crop number in a paper')
register('zfnet', partial(AlexNet, conv_filters=(96, 256, 512, 1024, 512), conv1_kernel=7,
                          conv1_stride=2, conv1_padding=1, conv2_stride=2, conv2_padding='VALID',
                          pool_padding=CEIL_MODE_PADDING),
         input_size=224, test_input_size=63, parameters=107_627_624,
         paper_top1_source='no test protocol stated: Table 2, 37.5 % top-1 error for these '
                           'maps; training used 10 sub-crops')
