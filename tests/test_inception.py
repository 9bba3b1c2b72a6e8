"""GoogLeNet and the Inceptions: the lecture's module arithmetic, Table 1's sizes, aux heads."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models.googlenet  # noqa: F401  (registers googlenet, googlenet_bn)
import models.inception  # noqa: F401  (registers inception_v3, inception_v4, ...)
from models import registry, summary

# Table 1 of Szegedy et al. 2015: each inception module's output at 224×224.
GOOGLENET_MODULE_OUTPUTS = {
    '3a': (28, 28, 256), '3b': (28, 28, 480),
    '4a': (14, 14, 512), '4b': (14, 14, 512), '4c': (14, 14, 512), '4d': (14, 14, 528),
    '4e': (14, 14, 832),
    '5a': (7, 7, 832), '5b': (7, 7, 1024),
}
# The layers of Table 1 outside the modules.
GOOGLENET_LAYER_OUTPUTS = {
    'conv1/conv': (112, 112, 64), 'pool1': (56, 56, 64), 'conv2_reduce/conv': (56, 56, 64),
    'conv2/conv': (56, 56, 192), 'pool2': (28, 28, 192), 'pool3': (14, 14, 480),
    'pool4': (7, 7, 832), 'avg_pool': (1024,), 'fc': (1000,),
}
# The last layer of each of the four branches of an inception module (Fig. 2b).
BRANCH_ENDS = ('branch1x1', 'branch3x3', 'branch5x5', 'pool_proj')


@pytest.fixture(scope='module')
def googlenet_summary():
  return summary.summarize('googlenet')


def rows_of(table, prefix):
  return [layer for layer in table.layers if layer.name.startswith(prefix)]


def abstract_init(name, image_size, num_classes=1000):
  model = registry.create(name, num_classes=num_classes)
  return model, jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, image_size, image_size, 3)), train=False))


def count(tree):
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def test_inception_3a_parameters_and_multiply_adds(googlenet_summary):
  rows = rows_of(googlenet_summary, 'inception_3a/')
  # 1×1: 192·64, reduce: 192·96, 3×3: 96·9·128, reduce: 192·16, 5×5: 16·25·32,
  # pool proj: 192·32, plus 368 biases.
  assert sum(row.params for row in rows) == 163_696
  macs = sum(row.macs for row in rows)
  assert macs == 128_049_152  # 163,328 weights × 28·28 positions: the lecture's "128 M"
  assert macs == pytest.approx(128e6, rel=0.01)


def test_googlenet_output_sizes_follow_table_1(googlenet_summary):
  by_name = {layer.name: layer for layer in googlenet_summary.layers}
  for name, shape in GOOGLENET_LAYER_OUTPUTS.items():
    assert by_name[name].output_shape == shape, name
  for stage, (height, width, channels) in GOOGLENET_MODULE_OUTPUTS.items():
    ends = [by_name[f'inception_{stage}/{branch}/conv'].output_shape for branch in BRANCH_ENDS]
    assert {shape[:2] for shape in ends} == {(height, width)}, stage
    assert sum(shape[2] for shape in ends) == channels, stage


def test_googlenet_totals_and_auxiliary_heads(googlenet_summary):
  aux_rows = [layer for layer in googlenet_summary.layers if layer.auxiliary]
  aux_params = sum(layer.params for layer in aux_rows)
  assert googlenet_summary.total_params == 13_378_280
  assert googlenet_summary.total_params - aux_params == 6_998_552
  assert googlenet_summary.total_macs == 1_582_671_872  # the paper: "1.5 billion"
  by_name = {layer.name: layer for layer in aux_rows}
  # §5: a 5×5/3 average pool gives 4×4×512 on (4a) and 4×4×528 on (4d).
  assert by_name['aux1/pool'].output_shape == (4, 4, 512)
  assert by_name['aux2/pool'].output_shape == (4, 4, 528)
  assert by_name['aux1/fc'].params == 4 * 4 * 128 * 1024 + 1024


@pytest.mark.parametrize('name', ['googlenet', 'googlenet_bn'])
def test_five_by_five_branch_is_a_real_5x5_convolution(name):
  _, variables = abstract_init(name, 224)
  params = variables['params']
  assert params['inception_3a']['branch5x5']['conv']['kernel'].shape == (5, 5, 16, 32)
  assert params['inception_5b']['branch5x5']['conv']['kernel'].shape == (5, 5, 48, 128)
  has_bias = 'bias' in params['inception_3a']['branch5x5']['conv']
  assert has_bias == (name == 'googlenet')  # BatchNorm's offset replaces the bias
  assert ('bn' in params['inception_3a']['branch5x5']) == (name == 'googlenet_bn')


@pytest.mark.parametrize('name, aux_names', [('googlenet', ('aux1', 'aux2')),
                                             ('inception_v3', ('aux',))])
def test_auxiliary_heads_exist_after_init_and_run_only_in_training(name, aux_names):
  image_size = registry.spec(name).input_size
  model, variables = abstract_init(name, image_size, num_classes=10)
  assert all(aux in variables['params'] for aux in aux_names)
  images = jnp.zeros((2, image_size, image_size, 3))
  training = jax.eval_shape(lambda v: model.apply(
      v, images, train=True, mutable=['batch_stats'], rngs={'dropout': jax.random.key(1)})[0],
                            variables)
  assert isinstance(training, tuple) and len(training) == 1 + len(aux_names)
  assert all(logits.shape == (2, 10) for logits in training)
  evaluation = jax.eval_shape(lambda v: model.apply(v, images, train=False), variables)
  assert isinstance(evaluation, jax.ShapeDtypeStruct) and evaluation.shape == (2, 10)


def test_inception_v3_parameter_count():
  _, variables = abstract_init('inception_v3', 299)
  params = variables['params']
  assert count(params) == 27_161_264  # torchvision's inception_v3 with its auxiliary head
  assert count({k: v for k, v in params.items() if k != 'aux'}) == 23_834_568
  # The auxiliary head's batch-normalised 5×5 'fully connected' layer (§7, BN-auxiliary).
  assert params['aux']['fc']['conv']['kernel'].shape == (5, 5, 128, 768)
  assert 'bn' in params['aux']['fc']


def test_inception_resnet_v2_projections_keep_the_width():
  """The figures' 1154 and 2048 cannot be added to 1152 and 2144 channels: see the docstring."""
  _, variables = abstract_init('inception_resnet_v2', 299)
  params = variables['params']
  assert params['block_a1']['projection']['kernel'].shape == (1, 1, 128, 384)
  assert params['block_b1']['projection']['kernel'].shape == (1, 1, 384, 1152)
  assert params['block_c1']['projection']['kernel'].shape == (1, 1, 448, 2144)
  assert 'bias' in params['block_b1']['projection']  # "Linear": bias, no BatchNorm


def host_parameters(abstract_params, seed=0):
  """He-scaled random parameters drawn on the host: XLA on CPU compiles random
  number generation slowly, and initialisation itself is the registry test's job."""
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    if len(leaf.shape) < 2:  # biases and BatchNorm offsets: zero; BatchNorm scales: one
      fill = np.ones if path[-1].key == 'scale' else np.zeros
      return fill(leaf.shape, leaf.dtype)
    fan_in = math.prod(leaf.shape[:-1])
    return rng.normal(0, math.sqrt(2 / fan_in), leaf.shape).astype(leaf.dtype)

  return jax.tree_util.tree_map_with_path(draw, abstract_params)


def test_googlenet_forward_and_backward():
  spec = registry.spec('googlenet')
  model, variables = abstract_init('googlenet', spec.test_input_size, num_classes=7)
  params = host_parameters(variables['params'])
  images = np.random.default_rng(1).normal(
      size=(2, spec.test_input_size, spec.test_input_size, 3)).astype(np.float32)

  # XLA on CPU compiles the 'rbg' generator's dropout masks twice as fast as threefry's.
  dropout_key = jax.random.key(2, impl='rbg')

  def loss(params):
    logits, aux1, aux2 = model.apply({'params': params}, images, train=True,
                                     rngs={'dropout': dropout_key})
    return jnp.mean(logits**2) + 0.3 * (jnp.mean(aux1**2) + jnp.mean(aux2**2))

  value, grads = jax.device_get(jax.jit(jax.value_and_grad(loss))(params))
  # Checked on the host: a jnp operation per parameter shape would compile each.
  assert np.isfinite(value)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  # Every layer learns, the auxiliary heads and the lowest convolution included.
  assert np.any(grads['conv1']['conv']['kernel'] != 0)
  assert np.any(grads['aux1']['classifier']['kernel'] != 0)
  assert np.any(grads['aux2']['conv']['conv']['kernel'] != 0)
