"""Wide residual networks: Zagoruyko & Komodakis 2016, "Wide residual networks".

WRN-d-k for CIFAR (§2, Table 1 of the paper): conv1 3×3 with 16 filters, then
three groups of N = (d − 4) / 6 pre-activation basic units ("B(3,3)": BN → ReLU
→ 3×3 conv → BN → ReLU → [dropout] → 3×3 conv, the units of He et al. 2016b)
of widths 16·k, 32·k and 64·k, the second and third group starting with
stride 2; BN → ReLU, global average pooling and the classifier. Where a unit
changes width or stride its shortcut is a 1×1 convolution of the
pre-activated input (the authors' code); elsewhere it is the identity.

    name      d   k   N   params (10 classes)
    wrn28_10  28  10  4   36,479,194   (paper, Table 4: 36.5 M)

Dropout between the two convolutions (§2.4) is the `dropout_rate` option; the
paper's main results (Table 4, "WRN-28-10") are without it, so the default is
0.0 (0.3 is its WRN-28-10-dropout). `stochastic_depth` (Huang et al. 2016) is
available as for every residual network of the zoo. The convolutions have no
biases (the authors' code): each one is followed by a BN, directly or after the
addition, which would cancel a bias; the 36.5 M of the paper counts none. The
ImageNet WRN-50-2-bottleneck is `wide_resnet50_2` in models/resnet.py.

The units are those of models/preact_resnet.py.
"""

from functools import partial
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from models.features import stage
from models.layers import check_stochastic_depth, conv_before_norm
from models.preact_resnet import PreActBasicBlock, final_activation_and_classifier
from models.registry import register
from models.resnet import residual_stages


class WideResNet(nn.Module):
  """WRN-depth-widen_factor for CIFAR (see module docstring)."""

  depth: int = 28
  widen_factor: int = 10
  dropout_rate: float = 0.0
  stochastic_depth: float = 1.0  # survival probability p_L of the last unit; 1.0: off
  num_classes: int = 10
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if (self.depth - 4) % 6:
      raise ValueError(f'a WRN has depth 6N + 4; got {self.depth}')
    check_stochastic_depth(self.stochastic_depth)
    units_per_group = (self.depth - 4) // 6
    x = x.astype(self.dtype)
    x = stage(conv_before_norm(self)(16, (3, 3), padding=1, name='conv1')(x), 'conv1', 1)
    x = residual_stages(
        x, block=PreActBasicBlock, input_reduction=1,
        stage_filters=tuple(width * self.widen_factor for width in (16, 32, 64)),
        stage_sizes=(units_per_group,) * 3, stochastic_depth=self.stochastic_depth,
        train=train, dtype=self.dtype, param_dtype=self.param_dtype,
        dropout_rate=self.dropout_rate)
    return final_activation_and_classifier(x, self.num_classes, train, self.dtype,
                                           self.param_dtype)


register('wrn28_10', partial(WideResNet, depth=28, widen_factor=10), input_size=32,
         num_classes=10, parameters=36_479_194, paper_parameters='36.5')
