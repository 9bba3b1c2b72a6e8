"""Building blocks shared by several families."""

import functools
from typing import Any

import flax.linen as nn
import jax
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
  settings = dict(momentum=0.9, epsilon=1e-5)
  settings.update(kwargs)  # e.g. epsilon=1e-3 where the paper's framework used it
  return functools.partial(nn.BatchNorm, use_running_average=not train, dtype=dtype,
                           param_dtype=param_dtype, **settings)


# Pooling as modules (not bare functions) so that `models.summary` sees each pool
# as a layer of the lecture tables: POOL1 27×27×96, 0 parameters.


class MaxPool(nn.Module):
  """Max pooling over `window`×`window` with `strides` (a layer of the summary table)."""

  window: int
  strides: int
  padding: Any = 'VALID'

  @nn.compact
  def __call__(self, x):
    return nn.max_pool(x, (self.window, self.window), strides=(self.strides, self.strides),
                       padding=self.padding)


class AvgPool(nn.Module):
  """Average pooling over `window`×`window` with `strides`; `count_include_pad`
  chooses whether zero padding counts in the mean (it does in Caffe)."""

  window: int
  strides: int
  padding: Any = 'VALID'
  count_include_pad: bool = True

  @nn.compact
  def __call__(self, x):
    return nn.avg_pool(x, (self.window, self.window), strides=(self.strides, self.strides),
                       padding=self.padding, count_include_pad=self.count_include_pad)


class GlobalAvgPool(nn.Module):
  """Mean over the spatial dimensions: N×H×W×C -> N×C (Lin et al. 2014, "Network in Network")."""

  @nn.compact
  def __call__(self, x):
    return jnp.mean(x, axis=(1, 2))


class LocalResponseNorm(nn.Module):
  """Local response normalisation across channels, Krizhevsky et al. 2012 §3.3:

      b_c = a_c / (k + alpha * sum_{c' within n/2 of c} a_c'^2) ** beta

  with the paper's k=2, n=5, alpha=1e-4, beta=0.75. Note alpha multiplies the sum
  itself, as in the paper (Caffe and PyTorch divide alpha by n).
  """

  size: int = 5
  k: float = 2.0
  alpha: float = 1e-4
  beta: float = 0.75

  @nn.compact
  def __call__(self, x):
    squares = jnp.square(x.astype(jnp.float32))
    half = self.size // 2
    padded = jnp.pad(squares, [(0, 0)] * (x.ndim - 1) + [(half, self.size - 1 - half)])
    window_sum = sum(padded[..., i:i + x.shape[-1]] for i in range(self.size))
    return (x / (self.k + self.alpha * window_sum) ** self.beta).astype(x.dtype)


class StochasticDepth(nn.Module):
  """Drops a residual branch for whole examples at random in training (Huang et al. 2016).

  The branch survives with probability `survival_probability`; survivors are scaled
  by 1/p in training so that evaluation uses the branch unscaled (the expectation
  the paper's test-time rescaling by p gives, moved to training time). At eval,
  and when p == 1, the branch passes through unchanged. Needs the 'dropout' RNG.
  """

  survival_probability: float = 1.0

  @nn.compact
  def __call__(self, branch, train: bool):
    if not train or self.survival_probability >= 1.0:
      return branch
    keep = jax.random.bernoulli(self.make_rng('dropout'), self.survival_probability,
                                (branch.shape[0],) + (1,) * (branch.ndim - 1))
    return jnp.where(keep, branch / self.survival_probability, 0).astype(branch.dtype)


def linear_survival_probabilities(num_blocks: int, last_probability: float) -> list[float]:
  """Survival of block l of L: 1 - l/L (1 - p_L), Huang et al. 2016 Eq. (4)."""
  return [1.0 - (index + 1) / num_blocks * (1.0 - last_probability)
          for index in range(num_blocks)]
