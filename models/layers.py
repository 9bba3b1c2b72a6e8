"""Building blocks shared by several families."""

import functools

import flax.linen as nn
import jax.numpy as jnp

# He et al. 2015 ("Delving deep into rectifiers") initialisation, used by ResNet
# and most networks after it: variance 2/fan_out keeps activations' scale in ReLU nets.
he_normal = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')


def batch_norm(train: bool, dtype=jnp.float32, param_dtype=jnp.float32, **kwargs):
  """BatchNorm (Ioffe & Szegedy 2015) with the constants of the ResNet papers.

  Statistics are computed over the examples on one device, as in Goyal et al.
  2017 (§5.1, per-worker BN); train.py averages the running statistics over
  devices once per step instead of all-reducing inside every layer.
  """
  return functools.partial(
      nn.BatchNorm,
      use_running_average=not train,
      momentum=0.9,
      epsilon=1e-5,
      dtype=dtype,
      param_dtype=param_dtype,
      **kwargs,
  )
