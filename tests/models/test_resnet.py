"""ResNet (He et al. 2016) and the networks built from its blocks: grouped and wide
bottlenecks, zero-initialised last BatchNorms, attention on the residual branch and
stochastic depth (Huang et al. 2016)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models.resnet import BottleneckBlock
from tests.models import helpers


def test_resnext_grouped_kernels():
  params = helpers.abstract_params('resnext50_32x4d')
  for block in range(3):  # stage 1 (conv2_x): 32 groups of 4 channels, 128 wide
    assert params[f'BottleneckBlock_{block}']['Conv_1']['kernel'].shape == (3, 3, 4, 128)
    assert params[f'BottleneckBlock_{block}']['Conv_2']['kernel'].shape == (1, 1, 128, 256)
  # stage 4 (conv5_x): 32 groups of 32 channels, 1024 wide, 2048 out.
  assert params['BottleneckBlock_15']['Conv_1']['kernel'].shape == (3, 3, 32, 1024)
  assert params['BottleneckBlock_15']['Conv_2']['kernel'].shape == (1, 1, 1024, 2048)


def test_wide_bottleneck_doubles_inner_width_only():
  wide, base = helpers.abstract_params('wide_resnet50_2'), helpers.abstract_params('resnet50')
  assert wide['BottleneckBlock_0']['Conv_1']['kernel'].shape == (3, 3, 128, 128)
  assert base['BottleneckBlock_0']['Conv_1']['kernel'].shape == (3, 3, 64, 64)
  assert wide['fc']['kernel'].shape == base['fc']['kernel'].shape == (2048, 1000)


def test_zero_init_last_bn_makes_blocks_start_as_identity():
  model = models.create('resnet18', num_classes=10, zero_init_last_bn=True)

  @jax.jit  # only the scales are computed: XLA drops the other initialisers
  def last_scales():
    params = model.init(helpers.rbg_key(0), jnp.zeros((1, 32, 32, 3)), train=False)['params']
    return {name: block['BatchNorm_1']['scale'] for name, block in params.items()
            if name.startswith('BasicBlock')}

  scales = last_scales()
  assert len(scales) == 8 and all(np.all(scale == 0) for scale in scales.values())


class ZeroAttention(nn.Module):
  """Silences the branch it is given: shows where a block applies its attention."""

  dtype: object = jnp.float32
  param_dtype: object = jnp.float32

  @nn.compact
  def __call__(self, x):
    return jnp.zeros_like(x)


def test_attention_acts_on_the_residual_branch_before_the_addition():
  block = BottleneckBlock(filters=4, attention=ZeroAttention)
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16))
  variables = helpers.init_with_numpy(block, x)
  np.testing.assert_array_equal(jax.jit(block.apply)(variables, x), nn.relu(x))


def test_unknown_shortcut_is_rejected():
  with pytest.raises(ValueError, match='projection, zero_pad, none'):
    jax.eval_shape(lambda: models.create('resnet20', shortcut='identity').init(
        jax.random.key(0), jnp.zeros((1, 32, 32, 3))))


# --- Stochastic depth -----------------------------------------------------------------------


def test_stochastic_depth_needs_shortcuts():
  with pytest.raises(ValueError, match='shortcuts'):
    models.create('plain20', stochastic_depth=0.5).init(
        jax.random.key(0), jnp.zeros((1, 32, 32, 3)))


@pytest.mark.slow  # a deep network
def test_resnet110_stochastic_depth_decays_linearly_to_one_half():
  probabilities = helpers.survival_probabilities(models.create('resnet110_stochastic_depth'))
  assert len(probabilities) == 54  # 3 stages × 18 blocks
  np.testing.assert_allclose(probabilities, 1 - np.arange(1, 55) / 54 * 0.5)
  assert probabilities[-1] == pytest.approx(0.5)


def test_resnet20_stochastic_depth_decays_linearly_to_one_half():
  """Huang et al. 2016, Eq. 4: p_l = 1 - l/L (1 - p_L) with p_L = 0.5, over 9 blocks."""
  probabilities = helpers.survival_probabilities(models.create('resnet20_stochastic_depth'))
  np.testing.assert_allclose(probabilities, 1 - np.arange(1, 10) / 9 * 0.5)


@pytest.mark.parametrize('variant, base', [
    ('resnet20_stochastic_depth', 'resnet20'),
    pytest.param('resnet110_stochastic_depth', 'resnet110', marks=pytest.mark.slow)])
def test_stochastic_depth_adds_no_parameters(variant, base):
  variant_params, base_params = (jax.tree.map(lambda leaf: leaf.shape,
                                              helpers.abstract_params(name))
                                 for name in (variant, base))
  assert variant_params == base_params


def test_resnet20_stochastic_depth_drops_blocks_in_training():
  logits, other_seed = helpers.training_logits('resnet20_stochastic_depth')
  assert logits.shape == (2, 10) and np.all(np.isfinite(logits))
  assert not np.allclose(logits, other_seed)  # the dropped blocks are drawn from the rng
