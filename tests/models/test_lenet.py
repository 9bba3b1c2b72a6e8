"""LeNet-5 (LeCun et al. 1998): the paper's sparse C3 table, trainable subsampling, the RBF
output layer, and the modern form's average-pool subsampling."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import models
from models import lenet
from tests.models import helpers


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
  connections = lenet.C3_CONNECTIONS
  assert connections[0] == (0, 1, 2)
  assert connections[15] == (0, 1, 2, 3, 4, 5)
  mask = np.zeros((6, 16), bool)
  for c3_map, s2_maps in enumerate(connections):
    mask[list(s2_maps), c3_map] = True
  np.testing.assert_array_equal(mask, table_i_mask())

  table = helpers.summary_rows('lenet5_paper')
  assert table['c3'].params == 1_516  # 6·(3·25+1) + 9·(4·25+1) + (6·25+1)
  assert table['c3'].output_shape == (10, 10, 16)
  assert table['c3'].macs == 10 * 10 * 25 * 60
  assert (table['s2'].params, table['s4'].params) == (12, 32)
  assert [table[n].params for n in ('c1', 'c5', 'f6')] == [156, 48_120, 10_164]


def test_lenet5_paper_c3_maps_depend_only_on_their_table_inputs():
  c3 = lenet.ConnectionTableConv(lenet.C3_CONNECTIONS)
  s2 = jax.random.normal(jax.random.key(1), (1, 5, 5, 6))

  @jax.jit
  def jacobian():  # d C3 output at one position / d S2 input: 16 × 1×5×5×6
    variables = c3.init(jax.random.key(0), s2)
    return jax.jacobian(lambda x: c3.apply(variables, x)[0, 0, 0])(s2)

  jacobian = jacobian()
  depends = np.asarray(jnp.any(jacobian != 0, axis=(1, 2, 3))).T  # S2 map × C3 map
  np.testing.assert_array_equal(depends, table_i_mask())


def test_lenet5_paper_rbf_output_uses_fixed_codes():
  codes = lenet.RBF_CODES[:10]
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
