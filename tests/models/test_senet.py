"""SENet (Hu et al. 2018): the parameters squeeze-and-excitation adds to ResNet-50.

The module itself is tested in test_layers.py."""

import jax
import jax.numpy as jnp

import models
from models.layers import SqueezeExcitation
from tests.models import helpers


def test_se_overhead_is_equation_5_plus_biases():
  # Eq. 5: 2/r Σ_s N_s C_s² over the stages of ResNet-50 (r = 16); biases C/r + C per module.
  stages = [(3, 256), (4, 512), (6, 1024), (3, 2048)]
  weights = sum(2 * n * c * c // 16 for n, c in stages)
  biases = sum(n * (c // 16 + c) for n, c in stages)
  assert weights == 2_514_944
  base = helpers.count(helpers.abstract_params('resnet50_v1'))
  assert helpers.count(helpers.abstract_params('se_resnet50')) - base == weights + biases
  without_bias = models.create(
      'se_resnet50', attention=lambda **kw: SqueezeExcitation(use_bias=False, **kw))
  params = jax.eval_shape(lambda: without_bias.init(
      jax.random.key(0), jnp.zeros((1, 224, 224, 3)), train=False))['params']
  assert helpers.count(params) - base == weights
