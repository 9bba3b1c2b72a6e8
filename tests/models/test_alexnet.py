"""AlexNet and ZFNet: the lectures' per-layer numbers, the two-GPU towers, ReLU → LRN → pool,
and dropout."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from tests.models import helpers


def test_alexnet_lecture_layers():
  table = helpers.summary_rows('alexnet')
  assert table['input'].output_shape == (227, 227, 3)
  assert table['conv1'].output_shape == (55, 55, 96)
  assert table['conv1'].params == 34_944  # 11·11·3·96 + 96
  assert table['conv1'].macs == 55 * 55 * 11 * 11 * 3 * 96
  assert table['pool1'].output_shape == (27, 27, 96)
  assert table['pool1'].params == 0
  assert table['conv2'].output_shape == (27, 27, 256)
  assert table['pool2'].output_shape == (13, 13, 256)
  assert [table[f'conv{i}'].output_shape[-1] for i in (3, 4, 5)] == [384, 384, 256]
  assert table['pool5'].output_shape == (6, 6, 256)
  assert table['fc6'].params == 6 * 6 * 256 * 4096 + 4096
  # The paper's order (§3.5): ReLU, then response normalisation, then pooling.
  names = list(table)
  assert names.index('conv1') < names.index('lrn1') < names.index('pool1')
  assert names.index('conv2') < names.index('lrn2') < names.index('pool2')


def test_alexnet_2gpu_groups_conv2_conv4_conv5_only():
  params = helpers.abstract_params('alexnet_2gpu')
  assert params['conv2']['kernel'].shape == (5, 5, 48, 256)  # half of CONV1's 96 maps
  assert params['conv3']['kernel'].shape == (3, 3, 256, 384)  # across both GPUs
  assert params['conv4']['kernel'].shape == (3, 3, 192, 384)
  assert params['conv5']['kernel'].shape == (3, 3, 192, 256)
  assert params['fc6']['kernel'].shape == (9216, 4096)
  assert helpers.abstract_params('alexnet')['conv2']['kernel'].shape == (5, 5, 96, 256)


def test_zfnet_sizes_of_its_figure_3():
  table = helpers.summary_rows('zfnet')
  expected = {'conv1': (110, 110, 96), 'pool1': (55, 55, 96), 'conv2': (26, 26, 256),
              'pool2': (13, 13, 256), 'conv3': (13, 13, 512), 'conv4': (13, 13, 1024),
              'conv5': (13, 13, 512), 'pool5': (6, 6, 512)}
  assert {name: table[name].output_shape for name in expected} == expected
  assert table['conv1'].params == 7 * 7 * 3 * 96 + 96


@pytest.fixture(scope='module')
def alexnet_variables():
  """AlexNet's 21 M parameters at its smallest input, initialised once for the tests
  below (with the 'rbg' generator: threefry takes several seconds on two cores)."""
  model = models.create('alexnet', num_classes=10)
  images = jnp.zeros((1, 67, 67, 3))
  return jax.jit(model.init)(helpers.rbg_key(0), images)


def test_alexnet_applies_relu_then_lrn_then_pool(alexnet_variables):
  model = models.create('alexnet', num_classes=10)
  images = jax.random.normal(jax.random.key(1), (1, 67, 67, 3))
  variables = alexnet_variables
  _, state = jax.jit(lambda v, x: model.apply(v, x, capture_intermediates=True))(
      variables, images)
  seen = {name: state['intermediates'][name]['__call__'][0]
          for name in ('conv1', 'lrn1', 'pool1')}
  expected_lrn = helpers.lrn_reference(np.maximum(np.asarray(seen['conv1'], np.float64), 0))
  np.testing.assert_allclose(seen['lrn1'], expected_lrn, rtol=1e-4, atol=1e-6)
  expected_pool = nn.max_pool(seen['lrn1'], (3, 3), strides=(2, 2))
  np.testing.assert_array_equal(seen['pool1'], expected_pool)


def test_alexnet_dropout_only_in_training(alexnet_variables):
  images = jax.random.normal(jax.random.key(1), (2, 67, 67, 3))
  model = models.create('alexnet', num_classes=10)
  variables = alexnet_variables

  no_dropout = models.create('alexnet', num_classes=10, dropout_rate=0.0)

  @jax.jit  # the variables as an argument: as a constant, they would slow the compilation
  def forward(variables, seed):
    rngs = {'dropout': helpers.rbg_key(seed)}
    return (model.apply(variables, images, train=False, rngs=rngs),
            model.apply(variables, images, train=True, rngs=rngs),
            no_dropout.apply(variables, images, train=True, rngs=rngs))

  (evaluation, training, without_dropout), (evaluation_1, training_1, _) = (
      forward(variables, 0), forward(variables, 1))
  np.testing.assert_array_equal(evaluation, evaluation_1)  # no randomness at eval
  assert not np.allclose(training, evaluation)
  assert not np.allclose(training, training_1)  # a new mask per dropout rng
  np.testing.assert_allclose(without_dropout, evaluation, rtol=1e-5, atol=1e-6)
