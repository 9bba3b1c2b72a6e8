"""LeNet-5: LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning
applied to document recognition", Fig. 2 and §II.B.

The layer sequence of the paper on a 32×32 input:

    C1  conv 6@5×5          -> 28×28×6
    S2  2×2 subsampling     -> 14×14×6
    C3  conv 16@5×5         -> 10×10×16
    S4  2×2 subsampling     ->  5×5×16
    C5  conv 120@5×5        ->  1×1×120
    F6  fully connected 84
    output 10 classes

`lenet5` is the form taught today: average pooling for subsampling, tanh
activations, every C3 map connected to all S2 maps, a linear output layer
(61,706 parameters on one input channel).
"""

from functools import partial
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from models.registry import register


class LeNet5(nn.Module):
  """LeNet-5 with average-pool subsampling and tanh (see module docstring)."""

  num_classes: int = 10
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train  # No dropout or BatchNorm: the network behaves the same in both modes.
    conv = partial(nn.Conv, kernel_size=(5, 5), padding='VALID', dtype=self.dtype,
                   param_dtype=self.param_dtype)
    dense = partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype)
    subsample = partial(nn.avg_pool, window_shape=(2, 2), strides=(2, 2))
    x = jnp.tanh(conv(6, name='c1')(x))
    x = subsample(x)
    x = jnp.tanh(conv(16, name='c3')(x))
    x = subsample(x)
    x = jnp.tanh(conv(120, name='c5')(x))
    x = x.reshape((x.shape[0], -1))
    x = jnp.tanh(dense(84, name='f6')(x))
    return dense(self.num_classes, name='output')(x)


register('lenet5', LeNet5)
