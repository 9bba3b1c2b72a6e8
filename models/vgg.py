"""VGG: Simonyan & Zisserman 2015, "Very deep convolutional networks for
large-scale image recognition", Table 1 (configurations A, B, D, E) and §2.1.

Every convolution is 3×3, stride 1, padding 1 (the spatial size is kept), followed
by a ReLU; five 2×2 stride-2 max pools halve the size, from 224 to 7; the
classifier is FC 4096, FC 4096 (ReLU and dropout 0.5 after each, §3.1) and
FC num_classes. Filters per stage (M = max pool):

    vgg11  (A)  64 M 128 M 256 256 M 512 512 M 512 512 M              132,863,336
    vgg13  (B)  64 64 M 128 128 M 256 256 M 512 512 M 512 512 M         133,047,848
    vgg16  (D)  64 64 M 128 128 M 256×3 M 512×3 M 512×3 M             138,357,544
    vgg19  (E)  64 64 M 128 128 M 256×4 M 512×4 M 512×4 M             143,667,240

(parameters at 224×224 and 1000 classes). The lecture's VGG-16 table: CONV3-64
224×224×64 with 3·3·3·64 = 1,728 weights (1,792 with biases), FC6 7·7·512·4096 =
102,760,448 weights (102,764,544 with biases), 138 M in total.

`vgg11_lrn` is configuration A-LRN of Table 1: A with local response
normalisation after the first convolution (conv3-64, LRN, maxpool), with
AlexNet's constants, as §2.2 prescribes (k=2, n=5, alpha=1e-4, beta=0.75,
Krizhevsky et al. 2012 §3.3; layers.LocalResponseNorm), applied after the ReLU
as AlexNet does (the paper does not say). LRN has no parameters: 132,863,336
like vgg11. The paper left it out of B-E because it did not improve on A
(§4.1, Table 3: A-LRN top-1/top-5 error 29.7 / 10.5 % vs A's 29.6 / 10.4 %).

`vgg16_one_conv_per_stage` and `vgg16_bn_one_conv_per_stage` are an ablation,
not a network of the paper: each stage's stack of n 3×3 convolutions becomes
one (2n+1)×(2n+1) convolution of the same width, with the same receptive field
(§2.3: two stacked 3×3 layers see 5×5, three see 7×7). For D the stages become
5×5, 5×5, 7×7, 7×7, 7×7. A 3-conv stage of C channels in and out then holds
7²C² = 49C² weights instead of 3·3²C² = 27C² (§2.3: "81% more"), and has one
non-linearity instead of three:

    vgg16_one_conv_per_stage     5×5-64 M 5×5-128 M 7×7-256 M 7×7-512 M 7×7-512 M   144,727,144
    vgg16_bn_one_conv_per_stage  the same with BatchNorm                            144,730,088

(vgg16: 138,357,544; the convolution weights grow from 14,710,464 to 21,082,816,
the multiply-adds from 15.47 G to 15.52 G: the large kernels sit on the small grids).

`vgg11_bn` … `vgg19_bn` add BatchNorm (Ioffe & Szegedy 2015) between every
convolution and its ReLU, a common modern variant that is not in the paper (it
appeared after it); the convolutions keep their biases, as in the usual
ImageNet checkpoints, which makes vgg16_bn 138,365,992 parameters.

The classifier flattens whatever spatial size arrives, so the networks also run
on small inputs (32×32 leaves 1×1×512 after five pools); FC6's weights then
depend on the input size, the counts above are at 224.

Initialisation: the paper trained configuration A from N(0, 10^-2) weights and
zero biases and started the deeper nets from A's first four convolutions and
three FC layers; it notes (§3.1) that Glorot & Bengio's initialisation trains
them without pre-training, which is what we use (Glorot uniform, zero biases).
"""

from functools import partial
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from models.alexnet import fully_connected_classifier
from models.features import stage
from models.layers import LocalResponseNorm, MaxPool, batch_norm, conv_general_dilated
from models.registry import register

# Table 1: convolutions per stage; every stage has 64, 128, 256, 512, 512 filters.
STAGE_FILTERS = (64, 128, 256, 512, 512)
CONFIGURATIONS = {
    11: (1, 1, 2, 2, 2),  # A
    13: (2, 2, 2, 2, 2),  # B
    16: (2, 2, 3, 3, 3),  # D
    19: (2, 2, 4, 4, 4),  # E
}


class VGG(nn.Module):
  """A VGG network of Table 1: `convs_per_stage` 3×3 convolutions in each of 5 stages.

  `local_response_norm` adds A-LRN's LRN after the first convolution;
  `one_conv_per_stage` replaces each stage's n 3×3 convolutions by one
  (2n+1)×(2n+1) convolution (the §2.3 ablation, see the module docstring).
  """

  convs_per_stage: Sequence[int]
  num_classes: int = 1000
  batch_norm: bool = False
  local_response_norm: bool = False
  one_conv_per_stage: bool = False
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    init = {'kernel_init': nn.initializers.xavier_uniform(), 'dtype': self.dtype,
            'param_dtype': self.param_dtype}
    norm = batch_norm(train, self.dtype, self.param_dtype)
    for stage_index, (filters, num_convs) in enumerate(zip(STAGE_FILTERS, self.convs_per_stage)):
      # n stacked 3×3 convolutions see (2n+1)×(2n+1) pixels; one convolution that
      # large, padded to keep the size, sees the same (§2.3).
      kernels = [2 * num_convs + 1] if self.one_conv_per_stage else [3] * num_convs
      for index, kernel in enumerate(kernels):
        # Names of the paper's Table 1 and the lecture: conv3_2 is stage 3's second conv.
        label = f'{stage_index + 1}_{index + 1}'
        x = nn.Conv(filters, (kernel, kernel), padding=kernel // 2, name=f'conv{label}',
                    conv_general_dilated=conv_general_dilated, **init)(x)
        if self.batch_norm:
          x = norm(name=f'bn{label}')(x)
        x = nn.relu(x)
        if self.local_response_norm and (stage_index, index) == (0, 0):
          x = LocalResponseNorm(name='lrn1')(x)  # A-LRN: after conv1_1 only
      # timm's stages: the map before each max pool, and the last pool's output.
      x = MaxPool(2, 2, name=f'pool{stage_index + 1}')(stage(x, f'conv{label}', 2**stage_index))
    x = stage(x, 'pool5', 32)
    return fully_connected_classifier(x, self.num_classes, self.dropout_rate, train,
                                      partial(nn.Dense, **init))


# Parameters at 224×224 and 1000 classes, without and with BatchNorm (the table above).
PARAMETERS = {
    11: (132_863_336, 132_868_840),
    13: (133_047_848, 133_053_736),
    16: (138_357_544, 138_365_992),
    19: (143_667_240, 143_678_248),
}

# Top-1 for `models compare`: the paper evaluates densely over whole images (§3.2), never
# on a crop; its Table 3 gives 29.6, 28.7, 27.0 and 27.3 % top-1 error for A, B, D, E.
DENSE_ONLY = 'dense evaluation only (§3.2; Table 3 at one scale, Tables 4-5 multi-scale)'
NOT_IN_PAPER = 'not trained in the paper'
for _depth, _convs in CONFIGURATIONS.items():
  register(f'vgg{_depth}', partial(VGG, convs_per_stage=_convs), test_input_size=32,
           parameters=PARAMETERS[_depth][0], paper_top1_source=DENSE_ONLY)
  register(f'vgg{_depth}_bn', partial(VGG, convs_per_stage=_convs, batch_norm=True),
           test_input_size=32, parameters=PARAMETERS[_depth][1],
           paper_top1_source=f'{NOT_IN_PAPER} (BatchNorm came later; torchvision trained it)')
register('vgg11_lrn', partial(VGG, convs_per_stage=CONFIGURATIONS[11], local_response_norm=True),
         test_input_size=32, parameters=PARAMETERS[11][0],  # LRN has no parameters
         paper_top1_source=DENSE_ONLY)
register('vgg16_one_conv_per_stage',
         partial(VGG, convs_per_stage=CONFIGURATIONS[16], one_conv_per_stage=True),
         test_input_size=32, parameters=144_727_144,
         paper_top1_source=f'{NOT_IN_PAPER} (the §2.3 argument, as an ablation)')
register('vgg16_bn_one_conv_per_stage',
         partial(VGG, convs_per_stage=CONFIGURATIONS[16], one_conv_per_stage=True,
                 batch_norm=True), test_input_size=32, parameters=144_730_088,
         paper_top1_source=f'{NOT_IN_PAPER} (the §2.3 argument, as an ablation)')
