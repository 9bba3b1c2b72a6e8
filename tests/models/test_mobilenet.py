"""MobileNets v1-v3 (Howard et al. 2017, Sandler et al. 2018, Howard et al. 2019): the
tables' multiply-adds, the width multiplier, depthwise kernels, squeeze-and-excite, inverted
residual shortcuts and stochastic depth."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import mobilenet, summary
from tests.models import helpers


def test_mobilenet_v1_multiply_adds_match_table_2():
  # The parameters agree with Table 2's too: test_registry.py.
  assert abs(summary.summarize('mobilenet_v1').total_macs / 569e6 - 1) < 0.01


def test_width_multiplier_shrinks_mobilenet_v1():
  full = helpers.count(helpers.abstract_params('mobilenet_v1'))
  half = helpers.abstract_params('mobilenet_v1', width_multiplier=0.5)
  assert helpers.count(half) < full / 3  # parameters scale about as α² (Table 6: 4.2 M -> 1.3 M)
  assert round(helpers.count(half) / 1e6, 1) == 1.3
  assert half['separable13']['pointwise']['Conv_0']['kernel'].shape == (1, 1, 512, 512)


def test_depthwise_kernels_have_one_input_channel():
  params = helpers.abstract_params('mobilenet_v1')
  # Layer 2 of Table 1: 3×3×32 depthwise filters, then a 1×1×32×64 pointwise conv.
  assert params['separable1']['depthwise']['Conv_0']['kernel'].shape == (3, 3, 1, 32)
  assert params['separable1']['pointwise']['Conv_0']['kernel'].shape == (1, 1, 32, 64)
  assert params['separable13']['depthwise']['Conv_0']['kernel'].shape == (3, 3, 1, 1024)
  v3 = helpers.abstract_params('mobilenet_v3_large')
  assert v3['block4']['depthwise']['Conv_0']['kernel'].shape == (5, 5, 1, 72)


def test_mobilenet_v3_squeeze_excite_and_head():
  params = helpers.abstract_params('mobilenet_v3_large')
  # make_divisible(72 / 4, 8) = 24 and make_divisible(960 / 4, 8) = 240.
  assert params['block4']['squeeze_excite']['reduce']['kernel'].shape == (72, 24)
  assert params['block15']['squeeze_excite']['reduce']['kernel'].shape == (960, 240)
  assert 'squeeze_excite' not in params['block1'] and 'expand' not in params['block1']
  # 960 -> 1280 is a dense layer with a bias and no BatchNorm after the pool (§5.1).
  assert set(params['head']) == {'kernel', 'bias'}
  assert params['head']['kernel'].shape == (960, 1280)
  assert mobilenet.make_divisible(18) == 24  # rounding down to 16 would lose > 10 %


def test_mobilenet_v2_multiply_adds_and_shortcuts():
  assert abs(summary.summarize('mobilenet_v2').total_macs / 300e6 - 1) < 0.01
  block = mobilenet.InvertedResidual(expanded=48, filters=8)  # expansion t = 6 of 8 channels
  x = helpers.normal((1, 4, 4, 8))

  variables = helpers.init_with_numpy(block, x)
  # The projection's kernel zeroed: a stride-1 block is then exactly its shortcut.
  no_projection = jax.tree_util.tree_map_with_path(
      lambda path, p: jnp.zeros_like(p) if 'project' in str(path) else p, variables)
  apply = jax.jit(block.apply)
  np.testing.assert_allclose(apply(no_projection, x), x)
  assert not np.allclose(apply(variables, x), x)


# v2 and v3 share the inverted residual block: the full suite checks both networks (each
# compiles its network's training step twice: slow).
@pytest.mark.slow
@pytest.mark.parametrize('name', ['mobilenet_v2', 'mobilenet_v3_small'])
def test_mobilenet_stochastic_depth_drops_residual_branches_only_in_training(name):
  images = np.random.default_rng(0).standard_normal((4, 32, 32, 3)).astype(np.float32)
  plain = models.create(name, num_classes=5, dropout_rate=0.0)
  dropped = models.create(name, num_classes=5, dropout_rate=0.0, stochastic_depth=0.2)
  variables = helpers.init_with_numpy(plain, images, train=False)

  @jax.jit
  def outputs(variables):
    def train_logits(model, seed):
      return model.apply(variables, images, train=True, mutable=['batch_stats'],
                         rngs={'dropout': helpers.rbg_key(seed)})[0]

    return (dropped.apply(variables, images, train=False),
            plain.apply(variables, images, train=False),
            train_logits(dropped, 1), train_logits(plain, 1), train_logits(dropped, 2))

  evaluation_dropped, evaluation_plain, dropped_1, plain_1, dropped_2 = outputs(variables)
  np.testing.assert_allclose(evaluation_dropped, evaluation_plain, rtol=1e-6)
  assert not np.allclose(dropped_1, plain_1)
  assert not np.allclose(dropped_1, dropped_2)
