"""FractalNet (Larsson et al. 2017): the expansion rule with merged joins, the 20-layer
network, and drop-path (local and global) in training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.fractalnet import (DropPathChoice, FractalBlock, FractalNet, conv_unit,
                               global_drop_path_mask, local_drop_path_mask, mean_join,
                               sample_drop_path)
from tests.models import helpers


def test_fractalnet20_is_20_layers_deep():
  params = helpers.abstract_params('fractalnet20')
  # C=3: columns of 1, 2 and 4 convolutions per block; 5 blocks of 4 on the longest path.
  assert sorted(params['block1']) == ['column1_conv1', 'column2_conv1', 'column2_conv2'] + [
      f'column3_conv{i}' for i in range(1, 5)]
  assert sum(name.startswith('column3') for b in range(1, 6)
             for name in params[f'block{b}']) == 20
  # 33,698,880 conv weights + 20,608 BN + 5,130 classifier: the count test_registry.py checks.
  weights = sum(unit['Conv_0']['kernel'].size for b in range(1, 6)
                for unit in params[f'block{b}'].values())
  assert weights == 33_698_880 and params['classifier']['kernel'].shape == (512, 10)


def test_local_drop_path_keeps_at_least_one_input():
  rngs = jax.random.split(jax.random.key(0), 2000)
  masks, paper, always = jax.jit(lambda rngs: [
      jax.vmap(lambda r: local_drop_path_mask(r, 3, p))(rngs) for p in (0.7, 0.15, 1.0)])(rngs)
  assert jnp.all(jnp.any(masks, axis=1))
  assert jnp.any(~masks)  # inputs are dropped...
  assert jnp.any(jnp.sum(masks, axis=1) == 1)  # ...down to a single survivor
  # At the paper's 0.15 about 15 % of inputs are dropped (all-dropped joins are rescued).
  assert 0.12 < 1 - jnp.mean(paper) < 0.18
  # Every input dropped: exactly one survivor, spread over the inputs.
  assert jnp.all(jnp.sum(always, axis=1) == 1)
  assert jnp.all(jnp.sum(always, axis=0) > 500)


def test_global_drop_path_keeps_exactly_the_chosen_column():
  mask = global_drop_path_mask((0, 1, 2), jnp.int32(1))
  np.testing.assert_array_equal(mask, [False, True, False])
  inputs = [jnp.full((2, 2), float(v)) for v in (1.0, 5.0, 9.0)]
  np.testing.assert_array_equal(mean_join(inputs, mask), jnp.full((2, 2), 5.0))
  # A join the chosen column does not reach is off the path: it keeps all its inputs.
  np.testing.assert_array_equal(global_drop_path_mask((1, 2), jnp.int32(0)), [True, True])
  choices = jax.vmap(lambda r: sample_drop_path(r, 3, 0.5))(
      jax.random.split(jax.random.key(0), 1000))
  assert 0.4 < jnp.mean(choices.is_global) < 0.6
  assert set(np.unique(choices.column).tolist()) == {0, 1, 2}


def test_join_is_the_mean_of_kept_inputs():
  inputs = [jnp.full((3,), v) for v in (1.0, 2.0, 6.0)]
  np.testing.assert_allclose(mean_join(inputs), jnp.full((3,), 3.0))
  np.testing.assert_allclose(mean_join(inputs, jnp.array([True, False, True])),
                             jnp.full((3,), 3.5))


def test_fractal_block_at_eval_is_the_mean_join_network():
  block = FractalBlock(filters=4, num_columns=3)
  x = helpers.normal((2, 6, 6, 3))

  variables = helpers.init_with_numpy(block, x)

  @jax.jit
  def block_and_by_hand(variables, x):
    def unit(name, inputs):
      return conv_unit(4).apply({'params': variables['params'][name],
                                 'batch_stats': variables['batch_stats'][name]}, inputs)

    # Eq. (1) for C=3 with merged joins: a join of columns 2 and 3 after two steps, then
    # one of all three columns after four.
    first = jnp.mean(jnp.stack([unit('column2_conv1', x),
                                unit('column3_conv2', unit('column3_conv1', x))]), 0)
    expected = jnp.mean(jnp.stack([unit('column1_conv1', x), unit('column2_conv2', first),
                                   unit('column3_conv4', unit('column3_conv3', first))]), 0)
    return block.apply(variables, x), expected

  output, expected = block_and_by_hand(variables, x)
  np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope='module')
def small_fractalnet():
  """Two blocks of three columns, drop-path as the paper (local 0.15 raised to 0.5 so that
  drops show in few steps), block dropout on: one compiled training step for all checks."""
  model = FractalNet(num_columns=3, channels=(4, 8), dropout_rates=(0.1, 0.2),
                     local_drop_probability=0.5, num_classes=10)
  images = helpers.normal((2, 8, 8, 3))
  variables = helpers.init_with_numpy(model, images)

  @jax.jit
  def train_step(params, rng):
    def loss(params):
      logits, state = model.apply({**variables, 'params': params}, images, train=True,
                                  rngs={'dropout': rng},
                                  mutable=['batch_stats', 'intermediates'])
      return jnp.mean(logits**2), state['intermediates']
    return jax.grad(loss, has_aux=True)(params)

  return model, images, variables, train_step


def test_fractalnet_eval_is_deterministic_mean_join(small_fractalnet):
  model, images, variables, _ = small_fractalnet
  plain = model.clone(local_drop_probability=0.0, global_drop_fraction=0.0)
  outputs = jax.jit(lambda v: (model.apply(v, images, rngs={'dropout': helpers.rbg_key(3)}),
                               model.apply(v, images, rngs={'dropout': helpers.rbg_key(4)}),
                               plain.apply(v, images)))(variables)
  np.testing.assert_array_equal(outputs[0], outputs[1])
  np.testing.assert_array_equal(outputs[0], outputs[2])


def test_fractalnet_training_drop_path(small_fractalnet):
  """Per step: global (one column in every block) or local (no join left empty), both seen."""
  _, _, variables, train_step = small_fractalnet
  modes, dropped = set(), 0
  for seed in range(8):  # one trace serves every random draw: no Python branch on them
    grads, intermediates = train_step(variables['params'], helpers.rbg_key(seed))
    assert all(jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads))
    choice = intermediates['drop_path'][0]
    is_global, column = bool(choice.is_global), int(choice.column)
    masks = {f'{block}/{join}': np.asarray(intermediates[block][join]['keep'][0])
             for block in ('block1', 'block2') for join in ('join1', 'join2')}
    assert all(mask.any() for mask in masks.values())
    if is_global:
      # The last join of a block meets all three columns: only the chosen one survives.
      for block in ('block1', 'block2'):
        np.testing.assert_array_equal(masks[f'{block}/join2'], np.arange(3) == column)
    else:
      dropped += sum(int((~mask).sum()) for mask in masks.values())
    modes.add(is_global)
  assert modes == {True, False} and dropped > 0
  assert train_step._cache_size() == 1


def test_drop_path_choice_reaches_joins_as_arrays():
  # The same traced Join code serves local and global steps (no Python branch on the draw).
  block = FractalBlock(filters=2, num_columns=2, train=True)
  x = jnp.ones((2, 4, 4, 1))
  variables = helpers.init_with_numpy(block, x)
  run = jax.jit(lambda choice: block.apply(
      variables, x, choice, rngs={'dropout': helpers.rbg_key(2)},
      mutable=['batch_stats', 'intermediates'])[1]['intermediates']['join1']['keep'][0])
  for column in (0, 1):
    keep = run(DropPathChoice(jnp.bool_(True), jnp.int32(column)))
    np.testing.assert_array_equal(keep, [column == 0, column == 1])
  assert run._cache_size() == 1
