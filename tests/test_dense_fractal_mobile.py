"""DenseNet, FractalNet and MobileNets: the papers' counts, dense growth, depthwise kernels,
joins and drop-path."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models.densenet
import models.fractalnet
import models.mobilenet
from models import registry, summary
from models.densenet import DenseBlock, DenseNet, Transition
from models.fractalnet import (DropPathChoice, FractalBlock, FractalNet, ConvUnit,
                               global_drop_path_mask, local_drop_path_mask, mean_join,
                               sample_drop_path)

# Exact counts: the authors' released models (DenseNet: Table 1 of Huang et al. 2017; MobileNet
# v2: Table 2 of Sandler et al. 2018; v3: Tables 1 and 2 of Howard et al. 2019, channels
# rounded to multiples of 8 as in their code).
EXACT_PARAMETERS = {
    'densenet121': 7_978_856,
    'densenet169': 14_149_480,
    'densenet201': 20_013_928,
    'densenet161': 28_681_000,
    'mobilenet_v2': 3_504_872,
    'mobilenet_v3_large': 5_483_032,
    'mobilenet_v3_small': 2_542_856,
}


def abstract_params(name, **kwargs):
  spec = registry.spec(name)
  model = registry.create(name, num_classes=spec.num_classes, **kwargs)
  shape = (1, spec.input_size, spec.input_size, spec.channels)
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape)))['params']


def count(params):
  return sum(math.prod(p.shape) for p in jax.tree.leaves(params))


def fixed_variables(module, *inputs):
  """Variables of `module` without its random initialisers: kernels N(0, 1/fan_in) from numpy,
  BN scale and running variance 1, the rest 0. Compiling JAX's PRNG for every parameter shape
  would cost more than the checks themselves on a 2-core CPU."""
  shapes = jax.eval_shape(module.init, jax.random.key(0), *inputs)
  rng = np.random.default_rng(0)

  def make(path, leaf):
    name = str(path[-1])
    if 'kernel' in name:
      fan_in = math.prod(leaf.shape[:-1])
      return jnp.asarray(rng.normal(0, fan_in**-0.5, leaf.shape), leaf.dtype)
    return (jnp.ones if 'scale' in name or 'var' in name else jnp.zeros)(leaf.shape, leaf.dtype)

  return jax.tree_util.tree_map_with_path(make, shapes)


def normal(shape):
  return jnp.asarray(np.random.default_rng(1).normal(size=shape), jnp.float32)


def fast_key(seed):
  """A key for dropout and drop-path in compiled training steps: the 'rbg' generator compiles
  far faster than threefry on CPU; the random functions and their semantics are the same."""
  return jax.random.key(seed, impl='rbg')


@pytest.mark.parametrize('name', sorted(EXACT_PARAMETERS))
def test_exact_parameter_counts(name):
  assert count(abstract_params(name)) == EXACT_PARAMETERS[name]


def densenet_bc_cifar_count(layers_per_block, k, num_classes):
  """DenseNet-BC on CIFAR counted by hand: stem 3×3 conv to 2k; per dense layer on c inputs
  BN(c) + 1×1 conv c->4k + BN(4k) + 3×3 conv 4k->k; per transition BN(c) + 1×1 conv c->c/2;
  final BN + linear classifier."""
  channels, total = 2 * k, 3 * 3 * 3 * 2 * k
  for block in range(3):
    for _ in range(layers_per_block):
      total += 2 * channels + channels * 4 * k + 2 * 4 * k + 9 * 4 * k * k
      channels += k
    if block < 2:
      total += 2 * channels + channels * (channels // 2)
      channels //= 2
  return total + 2 * channels + channels * num_classes + num_classes


def test_densenet_bc100_k12_matches_the_paper():
  params = count(abstract_params('densenet_bc100_k12'))
  assert params == densenet_bc_cifar_count(16, 12, 10)
  # Table 2 prints 0.8 M: the count agrees to the precision printed.
  assert round(params / 1e6, 1) == 0.8


def test_dense_block_grows_by_k_channels_per_layer():
  block = DenseBlock(num_layers=3, growth_rate=5)
  x = normal((2, 8, 8, 7))
  variables = fixed_variables(block, x)
  y = jax.jit(block.apply)(variables, x)
  assert y.shape == (2, 8, 8, 7 + 3 * 5)
  # Concatenation keeps the block's input as its first channels (Eq. 2).
  np.testing.assert_array_equal(y[..., :7], x)
  # Each layer's 1×1 bottleneck sees every earlier feature map: 7, 12, then 17 channels.
  bottleneck_inputs = [variables['params'][f'DenseLayer_{i}']['Conv_0']['kernel'].shape[2]
                       for i in range(3)]
  assert bottleneck_inputs == [7, 12, 17]


def test_transition_compresses_and_halves_the_map():
  transition = Transition(filters=11)
  x = jnp.ones((1, 8, 8, 22))
  assert jax.eval_shape(lambda: transition.apply(transition.init(jax.random.key(0), x), x)
                        ).shape == (1, 4, 4, 11)


def test_densenet121_block_outputs_follow_table1():
  # 64 + 6·32 = 256 -> 128; 128 + 12·32 = 512 -> 256; 256 + 24·32 = 1024 -> 512; 512 + 16·32.
  params = abstract_params('densenet121')
  transitions = [params[f'transition{i}']['Conv_0']['kernel'].shape[2:] for i in (1, 2, 3)]
  assert transitions == [(256, 128), (512, 256), (1024, 512)]
  assert params['classifier']['kernel'].shape == (1024, 1000)


def test_densenet_forward_and_backward_under_jit():
  # A small DenseNet-BC on CIFAR input (densenet_bc100_k12 has the same code, more layers).
  model = DenseNet(block_sizes=(2, 2, 2), growth_rate=4, imagenet_stem=False, num_classes=10)
  images = normal((2, 32, 32, 3))
  variables = fixed_variables(model, images)

  @jax.jit
  def gradients(params):
    def loss(params):
      logits, _ = model.apply({**variables, 'params': params}, images, train=True,
                              mutable=['batch_stats'])
      return jnp.mean(logits**2), logits
    return jax.grad(loss, has_aux=True)(params)

  grads, logits = gradients(variables['params'])
  assert logits.shape == (2, 10)
  assert all(jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads))
  assert all(jnp.any(g != 0) for g in jax.tree.leaves(grads))


# --- MobileNets -----------------------------------------------------------------------------


def test_mobilenet_v1_parameters_and_multiply_adds_match_table():
  table = summary.summarize('mobilenet_v1')
  assert abs(table.total_params / 4.2e6 - 1) < 0.01
  assert abs(table.total_macs / 569e6 - 1) < 0.01


def test_width_multiplier_shrinks_mobilenet_v1():
  full = count(abstract_params('mobilenet_v1'))
  half = abstract_params('mobilenet_v1', width_multiplier=0.5)
  assert count(half) < full / 3  # parameters scale about as α² (Table 6: 4.2 M -> 1.3 M)
  assert round(count(half) / 1e6, 1) == 1.3
  assert half['separable13']['pointwise']['Conv_0']['kernel'].shape == (1, 1, 512, 512)


def test_depthwise_kernels_have_one_input_channel():
  params = abstract_params('mobilenet_v1')
  # Layer 2 of Table 1: 3×3×32 depthwise filters, then a 1×1×32×64 pointwise conv.
  assert params['separable1']['depthwise']['Conv_0']['kernel'].shape == (3, 3, 1, 32)
  assert params['separable1']['pointwise']['Conv_0']['kernel'].shape == (1, 1, 32, 64)
  assert params['separable13']['depthwise']['Conv_0']['kernel'].shape == (3, 3, 1, 1024)
  v3 = abstract_params('mobilenet_v3_large')
  assert v3['block4']['depthwise']['Conv_0']['kernel'].shape == (5, 5, 1, 72)


def test_mobilenet_v3_squeeze_excite_and_head():
  params = abstract_params('mobilenet_v3_large')
  # make_divisible(72 / 4, 8) = 24 and make_divisible(960 / 4, 8) = 240.
  assert params['block4']['squeeze_excite']['reduce']['kernel'].shape == (72, 24)
  assert params['block15']['squeeze_excite']['reduce']['kernel'].shape == (960, 240)
  assert 'squeeze_excite' not in params['block1'] and 'expand' not in params['block1']
  # 960 -> 1280 is a dense layer with a bias and no BatchNorm after the pool (§5.1).
  assert set(params['head']) == {'kernel', 'bias'}
  assert params['head']['kernel'].shape == (960, 1280)
  assert models.mobilenet.make_divisible(18) == 24  # rounding down to 16 would lose > 10 %


def test_mobilenet_v2_multiply_adds_and_shortcuts():
  assert abs(summary.summarize('mobilenet_v2').total_macs / 300e6 - 1) < 0.01
  block = models.mobilenet.InvertedResidual(expansion=6, filters=8)
  x = normal((1, 4, 4, 8))

  variables = fixed_variables(block, x)
  # The projection's kernel zeroed: a stride-1 block is then exactly its shortcut.
  no_projection = jax.tree_util.tree_map_with_path(
      lambda path, p: jnp.zeros_like(p) if 'project' in str(path) else p, variables)
  apply = jax.jit(block.apply)
  np.testing.assert_allclose(apply(no_projection, x), x)
  assert not np.allclose(apply(variables, x), x)


# --- FractalNet -----------------------------------------------------------------------------


def test_fractalnet20_is_20_layers_deep():
  params = abstract_params('fractalnet20')
  # C=3: columns of 1, 2 and 4 convolutions per block; 5 blocks of 4 on the longest path.
  assert sorted(params['block1']) == ['column1_conv1', 'column2_conv1', 'column2_conv2'] + [
      f'column3_conv{i}' for i in range(1, 5)]
  assert sum(name.startswith('column3') for b in range(1, 6)
             for name in params[f'block{b}']) == 20
  # 33,698,880 conv weights + 20,608 BN + 5,130 classifier; the paper prints 38.6 M.
  assert count(params) == 33_724_618


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
  x = normal((2, 6, 6, 3))

  variables = fixed_variables(block, x)

  @jax.jit
  def block_and_by_hand(variables, x):
    def unit(name, inputs):
      return ConvUnit(4).apply({'params': variables['params'][name],
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
  images = normal((2, 8, 8, 3))
  variables = fixed_variables(model, images)

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
  outputs = jax.jit(lambda v: (model.apply(v, images, rngs={'dropout': fast_key(3)}),
                               model.apply(v, images, rngs={'dropout': fast_key(4)}),
                               plain.apply(v, images)))(variables)
  np.testing.assert_array_equal(outputs[0], outputs[1])
  np.testing.assert_array_equal(outputs[0], outputs[2])


def test_fractalnet_training_drop_path(small_fractalnet):
  """Per step: global (one column in every block) or local (no join left empty), both seen."""
  _, _, variables, train_step = small_fractalnet
  modes, dropped = set(), 0
  for seed in range(8):  # one trace serves every random draw: no Python branch on them
    grads, intermediates = train_step(variables['params'], fast_key(seed))
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
  variables = fixed_variables(block, x)
  run = jax.jit(lambda choice: block.apply(
      variables, x, choice, rngs={'dropout': fast_key(2)},
      mutable=['batch_stats', 'intermediates'])[1]['intermediates']['join1']['keep'][0])
  for column in (0, 1):
    keep = run(DropPathChoice(jnp.bool_(True), jnp.int32(column)))
    np.testing.assert_array_equal(keep, [column == 0, column == 1])
  assert run._cache_size() == 1


@pytest.mark.parametrize('name', ['mobilenet_v2', 'mobilenet_v3_small'])
def test_mobilenet_stochastic_depth_drops_residual_branches_only_in_training(name):
  import models
  images = np.random.default_rng(0).standard_normal((4, 32, 32, 3)).astype(np.float32)
  plain = models.create(name, num_classes=5, dropout_rate=0.0)
  dropped = models.create(name, num_classes=5, dropout_rate=0.0, stochastic_depth=0.2)
  variables = plain.init(jax.random.key(0), images, train=False)

  def train_logits(model, seed):
    return model.apply(variables, images, train=True, mutable=['batch_stats'],
                       rngs={'dropout': jax.random.key(seed)})[0]

  np.testing.assert_allclose(dropped.apply(variables, images, train=False),
                             plain.apply(variables, images, train=False), rtol=1e-6)
  assert not np.allclose(train_logits(dropped, 1), train_logits(plain, 1))
  assert not np.allclose(train_logits(dropped, 1), train_logits(dropped, 2))
