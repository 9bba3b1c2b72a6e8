"""LeNet-5 (paper form), AlexNet, ZFNet and VGG: the lectures' per-layer numbers,
the two-GPU towers, LRN, the sparse C3 table, the RBF output and dropout."""

import importlib.util
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import models
import models.alexnet  # noqa: F401  (registers alexnet, alexnet_2gpu, zfnet)
import models.lenet
import models.vgg  # noqa: F401  (registers vgg11 ... vgg19_bn)
from models import layers, summary

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def init_and_intermediates(model, images):
  """Variables, logits and every module's output, in one compilation (the slow part on CPU)."""

  @jax.jit
  def run():
    variables = model.init(jax.random.key(0), images)
    logits, state = model.apply(variables, images, capture_intermediates=True)
    outputs = {name: value['__call__'][0] for name, value in state['intermediates'].items()
               if name != '__call__'}
    return variables, logits, outputs

  return run()


def rows(name, **kwargs):
  return {layer.name: layer for layer in summary.summarize(name, **kwargs).layers}


def abstract_params(name, image_size=None, **kwargs):
  spec = models.spec(name)
  size = image_size or spec.input_size
  model = models.create(name, num_classes=spec.num_classes, **kwargs)
  return jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, size, size, spec.channels)), train=False))['params']


# --- Parameter counts at the papers' inputs ------------------------------------------------

@pytest.mark.parametrize('name, expected', [
    ('lenet5', 61_706),
    ('lenet5_paper', 60_000),  # §II.B: "60,000 trainable parameters"
    ('alexnet', 62_378_344),
    ('alexnet_2gpu', 60_965_224),
    ('zfnet', 107_627_624),
    ('vgg11', 132_863_336),
    ('vgg13', 133_047_848),
    ('vgg16', 138_357_544),
    ('vgg19', 143_667_240),
    ('vgg16_bn', 138_365_992),
])
def test_total_parameters(name, expected):
  assert summary.summarize(name).total_params == expected


# --- The lectures' tables ------------------------------------------------------------------

def test_alexnet_lecture_layers():
  table = rows('alexnet')
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
  params = abstract_params('alexnet_2gpu')
  assert params['conv2']['kernel'].shape == (5, 5, 48, 256)  # half of CONV1's 96 maps
  assert params['conv3']['kernel'].shape == (3, 3, 256, 384)  # across both GPUs
  assert params['conv4']['kernel'].shape == (3, 3, 192, 384)
  assert params['conv5']['kernel'].shape == (3, 3, 192, 256)
  assert params['fc6']['kernel'].shape == (9216, 4096)
  assert abstract_params('alexnet')['conv2']['kernel'].shape == (5, 5, 96, 256)


def test_zfnet_sizes_of_its_figure_3():
  table = rows('zfnet')
  expected = {'conv1': (110, 110, 96), 'pool1': (55, 55, 96), 'conv2': (26, 26, 256),
              'pool2': (13, 13, 256), 'conv3': (13, 13, 512), 'conv4': (13, 13, 1024),
              'conv5': (13, 13, 512), 'pool5': (6, 6, 512)}
  assert {name: table[name].output_shape for name in expected} == expected
  assert table['conv1'].params == 7 * 7 * 3 * 96 + 96


def test_vgg16_lecture_table():
  table = rows('vgg16')
  params = abstract_params('vgg16')
  assert table['conv1_1'].output_shape == (224, 224, 64)
  assert params['conv1_1']['kernel'].size == 1_728
  assert table['conv1_1'].params == 1_792
  assert params['fc6']['kernel'].size == 102_760_448
  assert table['fc6'].params == 102_764_544
  assert table['pool5'].output_shape == (7, 7, 512)
  convs = [name for name in table if name.startswith('conv')]
  assert len(convs) == 13 and len([n for n in table if n.startswith('fc')]) == 3
  assert summary.summarize('vgg16').total_macs == 15_470_264_320


def test_vgg_bn_normalises_every_convolution_and_flattens_small_inputs():
  table = rows('vgg16_bn', image_size=32)
  assert len([n for n in table if n.startswith('bn')]) == 13
  assert table['pool5'].output_shape == (1, 1, 512)
  assert table['fc6'].params == 512 * 4096 + 4096


# --- Local response normalisation ----------------------------------------------------------

def lrn_reference(a, k=2.0, n=5, alpha=1e-4, beta=0.75):
  """Krizhevsky et al. §3.3, written out as the paper's sum over channels."""
  channels = a.shape[-1]
  b = np.empty_like(a)
  for i in range(channels):
    lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
    total = sum(a[..., j]**2 for j in range(lo, hi + 1))
    b[..., i] = a[..., i] / (k + alpha * total)**beta
  return b


def test_local_response_norm_matches_the_paper_formula():
  # Activations of order 100, where the alpha term moves the result noticeably.
  a = np.random.default_rng(0).normal(scale=100.0, size=(2, 3, 3, 9)).astype(np.float32)
  out = layers.LocalResponseNorm().apply({}, jnp.asarray(a))
  np.testing.assert_allclose(out, lrn_reference(a.astype(np.float64)), rtol=1e-5)
  assert not np.allclose(out, a / 2.0**0.75, rtol=1e-2)  # the neighbourhood sum matters


@pytest.fixture(scope='module')
def alexnet_variables():
  """AlexNet's 21 M parameters at its smallest input, initialised once for the tests
  below (with the 'rbg' generator: threefry takes several seconds on two cores)."""
  model = models.create('alexnet', num_classes=10)
  images = jnp.zeros((1, 67, 67, 3))
  return jax.jit(model.init)(jax.random.key(0, impl='rbg'), images)


def test_alexnet_applies_relu_then_lrn_then_pool(alexnet_variables):
  model = models.create('alexnet', num_classes=10)
  images = jax.random.normal(jax.random.key(1), (1, 67, 67, 3))
  variables = alexnet_variables
  _, state = jax.jit(lambda v, x: model.apply(v, x, capture_intermediates=True))(
      variables, images)
  seen = {name: state['intermediates'][name]['__call__'][0]
          for name in ('conv1', 'lrn1', 'pool1')}
  expected_lrn = lrn_reference(np.maximum(np.asarray(seen['conv1'], np.float64), 0))
  np.testing.assert_allclose(seen['lrn1'], expected_lrn, rtol=1e-4, atol=1e-6)
  expected_pool = nn.max_pool(seen['lrn1'], (3, 3), strides=(2, 2))
  np.testing.assert_array_equal(seen['pool1'], expected_pool)


# --- Dropout ------------------------------------------------------------------------------

def test_alexnet_dropout_only_in_training(alexnet_variables):
  images = jax.random.normal(jax.random.key(1), (2, 67, 67, 3))
  model = models.create('alexnet', num_classes=10)
  variables = alexnet_variables

  no_dropout = models.create('alexnet', num_classes=10, dropout_rate=0.0)

  @jax.jit
  def forward(seed):
    rngs = {'dropout': jax.random.key(seed)}
    return (model.apply(variables, images, train=False, rngs=rngs),
            model.apply(variables, images, train=True, rngs=rngs),
            no_dropout.apply(variables, images, train=True, rngs=rngs))

  (evaluation, training, without_dropout), (evaluation_1, training_1, _) = forward(0), forward(1)
  np.testing.assert_array_equal(evaluation, evaluation_1)  # no randomness at eval
  assert not np.allclose(training, evaluation)
  assert not np.allclose(training, training_1)  # a new mask per dropout rng
  np.testing.assert_allclose(without_dropout, evaluation, rtol=1e-5, atol=1e-6)


# --- LeNet-5 as in the paper --------------------------------------------------------------

# Table I of LeCun et al. 1998, row by row: the C3 maps (columns) each S2 map feeds.
TABLE_I_ROWS = (
    (0, 4, 5, 6, 9, 10, 11, 12, 14, 15),
    (0, 1, 5, 6, 7, 10, 11, 12, 13, 15),
    (0, 1, 2, 6, 7, 8, 11, 13, 14, 15),
    (1, 2, 3, 6, 7, 8, 9, 12, 14, 15),
    (2, 3, 4, 7, 8, 9, 10, 12, 13, 15),
    (3, 4, 5, 8, 9, 10, 11, 13, 14, 15),
)


def table_i_mask():
  mask = np.zeros((6, 16), bool)
  for s2_map, c3_maps in enumerate(TABLE_I_ROWS):
    mask[s2_map, list(c3_maps)] = True
  return mask


def test_lenet5_paper_c3_follows_table_i():
  connections = models.lenet.C3_CONNECTIONS
  assert connections[0] == (0, 1, 2)
  assert connections[15] == (0, 1, 2, 3, 4, 5)
  mask = np.zeros((6, 16), bool)
  for c3_map, s2_maps in enumerate(connections):
    mask[list(s2_maps), c3_map] = True
  np.testing.assert_array_equal(mask, table_i_mask())

  table = rows('lenet5_paper')
  assert table['c3'].params == 1_516  # 6·(3·25+1) + 9·(4·25+1) + (6·25+1)
  assert table['c3'].output_shape == (10, 10, 16)
  assert table['c3'].macs == 10 * 10 * 25 * 60
  assert (table['s2'].params, table['s4'].params) == (12, 32)
  assert [table[n].params for n in ('c1', 'c5', 'f6')] == [156, 48_120, 10_164]


def test_lenet5_paper_c3_maps_depend_only_on_their_table_inputs():
  c3 = models.lenet.ConnectionTableConv(models.lenet.C3_CONNECTIONS)
  s2 = jax.random.normal(jax.random.key(1), (1, 5, 5, 6))

  @jax.jit
  def jacobian():  # d C3 output at one position / d S2 input: 16 × 1×5×5×6
    variables = c3.init(jax.random.key(0), s2)
    return jax.jacobian(lambda x: c3.apply(variables, x)[0, 0, 0])(s2)

  jacobian = jacobian()
  depends = np.asarray(jnp.any(jacobian != 0, axis=(1, 2, 3))).T  # S2 map × C3 map
  np.testing.assert_array_equal(depends, table_i_mask())


def test_lenet5_paper_rbf_output_uses_fixed_codes():
  codes = models.lenet.RBF_CODES[:10]
  assert set(np.unique(codes)) == {-1.0, 1.0} and codes.shape == (10, 84)
  squared = ((codes[:, None] - codes[None]) ** 2).sum(-1)
  assert np.all(squared[~np.eye(10, dtype=bool)] == 4 * 42)  # equidistant codes

  model = models.create('lenet5_paper')
  images = jax.random.normal(jax.random.key(1), (2, 32, 32, 1))
  variables, logits, outputs = init_and_intermediates(model, images)
  assert set(variables) == {'params'} and 'output' not in variables['params']
  f6 = np.asarray(outputs['f6'], np.float64)
  f6 = 1.7159 * np.tanh(2 / 3 * f6)
  expected = -((f6[:, None, :] - codes[None]) ** 2).sum(-1)
  np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-4)


def test_lenet5_paper_trains_with_softmax_cross_entropy():
  model = models.create('lenet5_paper')
  images = jax.random.normal(jax.random.key(1), (2, 32, 32, 1))
  labels = jnp.array([3, 7])

  def loss(params):
    logits = model.apply({'params': params}, images, train=True)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

  @jax.jit
  def init_and_gradient():
    return jax.value_and_grad(loss)(model.init(jax.random.key(0), images)['params'])

  value, grads = init_and_gradient()
  assert np.isfinite(value)
  for path, grad in jax.tree_util.tree_leaves_with_path(grads):
    assert np.all(np.isfinite(grad)), path
    assert np.any(grad != 0), path  # every layer, subsampling coefficients included
  assert set(grads) == {'c1', 's2', 'c3', 's4', 'c5', 'f6'}


def test_lenet5_subsampling_is_2x2_average_pooling():
  model = models.create('lenet5')
  images = jax.random.normal(jax.random.key(1), (2, 32, 32, 1))
  _, _, outputs = init_and_intermediates(model, images)
  c1 = jnp.tanh(outputs['c1'])
  np.testing.assert_allclose(outputs['s2'],
                             c1.reshape(2, 14, 2, 14, 2, 6).mean((2, 4)), rtol=1e-6, atol=1e-6)


# --- Recipes ------------------------------------------------------------------------------

@pytest.mark.parametrize('recipe, model, image_size, rate', [
    ('alexnet', 'alexnet', 227, 0.02), ('zfnet', 'zfnet', 224, 0.02),
    ('vgg16', 'vgg16', 224, 0.01)])
def test_recipes_load(recipe, model, image_size, rate):
  spec = importlib.util.spec_from_file_location(recipe, os.path.join(REPO, 'configs',
                                                                     f'{recipe}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  assert config.model == model and config.model in models.names()
  assert config.image_size == image_size == models.spec(model).input_size
  assert config.learning_rate == pytest.approx(rate)
  # train.py scales the per-256 rate to the batch: the papers' 0.01 at their batch.
  assert config.learning_rate * config.batch_size / 256 == pytest.approx(0.01)
  assert config.model_options.dropout_rate == 0.5
