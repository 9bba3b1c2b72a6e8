"""models/layers.py: the blocks every family shares (the convolution unit, squeeze-and-
excitation, local response normalisation) and stochastic depth, in the networks that use it."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import layers
from models.preact_resnet import PreActCifarResNet
from models.resnet import CifarResNet
from tests.models import helpers

# --- The convolution unit -------------------------------------------------------------------


def test_conv_unit_has_a_bias_only_without_batchnorm():
  x = jnp.zeros((1, 8, 8, 3))
  with_bn = jax.eval_shape(layers.ConvNormActivation(4, 3).init, jax.random.key(0), x)
  assert set(with_bn['params']) == {'conv', 'bn'}
  assert set(with_bn['params']['conv']) == {'kernel'}
  without_bn = jax.eval_shape(layers.ConvNormActivation(4, (3, 3), batch_norm=False).init,
                              jax.random.key(0), x)
  assert set(without_bn) == {'params'} and set(without_bn['params']) == {'conv'}
  assert set(without_bn['params']['conv']) == {'kernel', 'bias'}
  assert without_bn['params']['conv']['kernel'].shape == (3, 3, 3, 4)


def test_conv_unit_names_depthwise_kernels_and_linear_output():
  x = helpers.normal((2, 6, 6, 5)) - 1.0
  unit = layers.ConvNormActivation(5, 3, padding=1, depthwise=True, activation=None,
                                   conv_name=None, norm_name=None)
  variables = helpers.init_with_numpy(unit, x)
  # Flax's automatic names, those of the MobileNet and FractalNet checkpoints.
  assert set(variables['params']) == {'Conv_0', 'BatchNorm_0'}
  assert variables['params']['Conv_0']['kernel'].shape == (3, 3, 1, 5)  # one input channel
  assert np.any(np.asarray(jax.jit(unit.apply)(variables, x)) < 0)  # no ReLU


def test_conv_unit_drops_activations_only_in_training():
  x = helpers.normal((2, 4, 4, 3))
  unit = layers.ConvNormActivation(8, dropout_rate=0.5, train=True)
  variables = helpers.init_with_numpy(unit, x)

  @jax.jit
  def outputs(seed):
    train = unit.apply(variables, x, mutable=['batch_stats'],
                       rngs={'dropout': helpers.rbg_key(seed)})[0]
    return train, unit.clone(train=False).apply(variables, x)

  (train, evaluation), (other_train, other_evaluation) = outputs(0), outputs(1)
  assert np.any(train == 0) and not np.allclose(train, other_train)
  np.testing.assert_array_equal(evaluation, other_evaluation)


# --- Squeeze-and-excitation -----------------------------------------------------------------


def test_squeeze_excitation_scales_each_channel_by_a_gate():
  x = jax.random.normal(jax.random.key(0), (2, 5, 5, 32)) + 3.0
  module = layers.SqueezeExcitation()
  variables = helpers.init_with_numpy(module, x)
  assert variables['params']['reduce']['kernel'].shape == (32, 2)  # C/r with r = 16
  assert variables['params']['expand']['kernel'].shape == (2, 32)
  gates = jax.jit(module.apply)(variables, x) / x
  np.testing.assert_allclose(gates, jnp.broadcast_to(gates[:, :1, :1, :], gates.shape),
                             rtol=1e-5)
  assert jnp.all((gates > 0) & (gates < 1))


def test_squeeze_excitation_of_a_given_width_and_gate():
  """MobileNet v3's form: the squeeze width given, a hard-sigmoid gate that saturates."""
  x = jnp.full((1, 2, 2, 16), 100.0)
  module = layers.SqueezeExcitation(squeeze_channels=8, gate=jax.nn.hard_sigmoid)
  variables = helpers.init_with_numpy(module, x)
  assert variables['params']['reduce']['kernel'].shape == (16, 8)
  gates = np.asarray(jax.jit(module.apply)(variables, x)) / 100.0
  assert np.all((gates >= 0) & (gates <= 1)) and np.any((gates == 0) | (gates == 1))


# --- Local response normalisation -----------------------------------------------------------


def test_local_response_norm_matches_the_paper_formula():
  # Activations of order 100, where the alpha term moves the result noticeably.
  a = np.random.default_rng(0).normal(scale=100.0, size=(2, 3, 3, 9)).astype(np.float32)
  out = layers.LocalResponseNorm().apply({}, jnp.asarray(a))
  np.testing.assert_allclose(out, helpers.lrn_reference(a.astype(np.float64)), rtol=1e-5)
  assert not np.allclose(out, a / 2.0**0.75, rtol=1e-2)  # the neighbourhood sum matters


# --- Stochastic depth -----------------------------------------------------------------------


def test_stochastic_depth_is_a_probability_and_needs_shortcuts():
  layers.check_stochastic_depth(1.0, has_shortcuts=False)  # off: nothing to check
  layers.check_stochastic_depth(0.5)
  for probability in (0.0, 1.5):
    with pytest.raises(ValueError, match='survival probability'):
      layers.check_stochastic_depth(probability)
  with pytest.raises(ValueError, match='shortcuts'):
    layers.check_stochastic_depth(0.5, has_shortcuts=False)


@pytest.mark.parametrize('name,num_blocks', [
    ('resnet50', 16), ('resnext50_32x4d', 16), ('se_resnet50', 16), ('preact_resnet18', 8),
    pytest.param('preact_resnet164', 54, marks=pytest.mark.slow), ('wrn28_10', 12),
    ('resnet20', 9)])
def test_every_residual_network_has_stochastic_depth(name, num_blocks):
  probabilities = helpers.survival_probabilities(models.create(name, stochastic_depth=0.8))
  np.testing.assert_allclose(probabilities, 1 - np.arange(1, num_blocks + 1) / num_blocks * 0.2)
  assert set(helpers.survival_probabilities(models.create(name))) == {1.0}


SMALL_MEMBERS = {  # one per way the option is wired: models/resnet.py, preact_resnet.py
    'cifar_resnet': lambda **kw: CifarResNet(blocks_per_stage=1, **kw),
    'preact': lambda **kw: PreActCifarResNet(blocks_per_stage=1, **kw),
}


@pytest.mark.parametrize('member', sorted(SMALL_MEMBERS))
def test_stochastic_depth_is_identity_at_eval_and_drops_branches_in_training(member):
  build = SMALL_MEMBERS[member]
  plain, dropping = build(num_classes=10), build(num_classes=10, stochastic_depth=0.5)
  always = build(num_classes=10, stochastic_depth=1.0)
  images = jax.random.normal(jax.random.key(1), (8, 32, 32, 3))
  variables = helpers.init_with_numpy(plain, images, train=False)

  def train_logits(model, variables, seed):
    logits, _ = model.apply(variables, images, train=True, mutable=['batch_stats'],
                            rngs={'dropout': helpers.rbg_key(seed)})
    return logits

  def record(next_fun, args, kwargs, context):
    output = next_fun(*args, **kwargs)
    if isinstance(context.module, layers.StochasticDepth) and context.method_name == '__call__':
      branches.append((args[0], output, context.module.survival_probability))
    return output

  @jax.jit
  def outputs(variables):
    with nn.intercept_methods(record):
      dropped = train_logits(dropping, variables, 3)
    return dict(eval_plain=plain.apply(variables, images),
                eval_dropping=dropping.apply(variables, images),
                dropped=dropped, dropped_other_rng=train_logits(dropping, variables, 4),
                train_plain=train_logits(plain, variables, 3),
                train_always=train_logits(always, variables, 3),
                branches=[(branch, output) for branch, output, _ in branches])

  branches = []
  results = outputs(variables)
  # Evaluation: every block is kept, unscaled: the same function as without stochastic depth.
  np.testing.assert_array_equal(results['eval_dropping'], results['eval_plain'])
  # Training: whole examples' branches are dropped, the survivors scaled by 1/p_l.
  dropped = kept = 0
  for (branch, output), (_, _, probability) in zip(results['branches'], branches):
    for example in range(images.shape[0]):
      if jnp.all(output[example] == 0):
        dropped += 1
      else:
        np.testing.assert_allclose(output[example], branch[example] / probability, rtol=1e-6)
        kept += 1
  assert dropped > 0 and kept > 0
  assert not jnp.allclose(results['dropped'], results['train_plain'])
  assert not jnp.allclose(results['dropped'], results['dropped_other_rng'])
  assert not jnp.allclose(results['dropped'], results['eval_plain'])
  # p_L = 1: nothing is dropped whatever the rng.
  np.testing.assert_array_equal(results['train_always'], results['train_plain'])


# (input side, kernel, stride, padding): small maps where XLA would swap the operands
# (2×2 under 3×3: ResNet-50's last stage at 64 px; a stride-2 3×3 to 2×2 outputs), a
# 1×1 map, a 7×7 kernel over 3×3, and an ordinary map that keeps lax's convolution.
SMALL_MAP_CONVOLUTIONS = [
    (2, 3, 1, 'SAME'), (4, 3, 2, 'SAME'), (3, 3, 2, ((1, 1), (1, 1))), (1, 3, 1, 'SAME'),
    (3, 7, 1, 'SAME'), (2, 2, 1, 'VALID'), (5, 3, 2, 'VALID'), (8, 3, 1, 'SAME'),
]


@pytest.mark.parametrize('side, kernel, stride, padding', SMALL_MAP_CONVOLUTIONS)
def test_convolution_as_patches_times_kernel_is_lax_convolution(side, kernel, stride, padding):
  """layers.conv_general_dilated (what the networks' convolutions call) gives lax's values
  and gradients, in float32, at the shapes where it computes a matrix product instead."""
  rng = np.random.default_rng(side * 100 + kernel * 10 + stride)
  x = jnp.asarray(rng.normal(size=(3, side, side + 1, 5)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(kernel, kernel, 5, 4)), jnp.float32)
  dn = jax.lax.conv_dimension_numbers(x.shape, w.shape, ('NHWC', 'HWIO', 'NHWC'))

  def loss(convolution, x, w):
    y = convolution(x, w, (stride, stride), padding, dimension_numbers=dn,
                    precision=jax.lax.Precision.HIGHEST)
    return jnp.sum(jnp.sin(y)), y

  (_, ours), our_grads = jax.value_and_grad(
      lambda x, w: loss(layers.conv_general_dilated, x, w), argnums=(0, 1), has_aux=True)(x, w)
  (_, theirs), their_grads = jax.value_and_grad(
      lambda x, w: loss(jax.lax.conv_general_dilated, x, w), argnums=(0, 1), has_aux=True)(x, w)
  assert ours.shape == theirs.shape
  np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
  for mine, reference in zip(our_grads, their_grads):
    np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-4)


def test_small_map_convolution_is_a_matrix_product_on_the_cpu():
  """The program has no convolution where the map is smaller than the kernel, and keeps
  lax's convolution where it is not."""
  w = jnp.zeros((3, 3, 8, 8))
  dn = jax.lax.conv_dimension_numbers((1, 2, 2, 8), w.shape, ('NHWC', 'HWIO', 'NHWC'))

  def program(side):
    return jax.jit(lambda x: layers.conv_general_dilated(
        x, w, (1, 1), 'SAME', dimension_numbers=dn)).lower(jnp.zeros((1, side, side, 8))).as_text()

  assert 'convolution' not in program(2) and 'dot_general' in program(2)
  assert 'convolution' in program(8)
