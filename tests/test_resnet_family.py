"""The residual family beyond the original ResNet: wide and grouped bottlenecks
(wide_resnet50_2, ResNeXt), squeeze-and-excitation, pre-activation units, wide
ResNets and stochastic depth."""

import importlib.util
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models.preact_resnet  # noqa: F401  (registers the family's names)
import models.resnet
import models.senet
import models.wide_resnet
from models import layers, registry, summary
from models.preact_resnet import PreActBasicBlock, PreActBottleneckBlock, PreActCifarResNet
from models.resnet import BottleneckBlock, CifarResNet, ResNet
from models.senet import SqueezeExcitation
from models.wide_resnet import WideResNet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def abstract_params(name, **options):
  """Parameter shapes of registered `name` at its paper's input and classes (no compute)."""
  spec = registry.spec(name)
  model = registry.create(name, num_classes=spec.num_classes, **options)
  images = jnp.zeros((1, spec.input_size, spec.input_size, spec.channels))
  return jax.eval_shape(lambda: model.init(jax.random.key(0), images, train=False))['params']


def count(params) -> int:
  return sum(p.size for p in jax.tree.leaves(params))


def rbg_key(seed):
  """A 'dropout' key whose random bits compile quicker on CPU than the default threefry."""
  return jax.random.key(seed, impl='rbg')


def initialise(model, *args, **kwargs):
  """Variables of the shapes model.init gives, drawn with numpy (He-scaled kernels, BN at
  its initial state): on CPU, compiling init's random number generation would cost more
  than the rest of a test. The registry-wide test runs the real init of every model."""
  shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), *args, **kwargs))
  rng = np.random.default_rng(0)

  def draw(path, leaf):
    name = path[-1].key
    if name in ('scale', 'var'):
      return jnp.ones(leaf.shape, leaf.dtype)
    if leaf.ndim == 1:  # biases, BN offsets and running means
      return jnp.zeros(leaf.shape, leaf.dtype)
    fan_in = np.prod(leaf.shape[:-1])
    return jnp.asarray(rng.normal(0, np.sqrt(2 / fan_in), leaf.shape), leaf.dtype)

  return jax.tree_util.tree_map_with_path(draw, shapes)


# torchvision's definitions of these networks have exactly these counts.
EXACT_PARAMETERS = {
    'wide_resnet50_2': 68_883_240,
    'resnext50_32x4d': 25_028_904,
    'resnext101_32x8d': 88_791_336,
}

# Counts the papers print, in millions.
PAPER_PARAMETERS = {
    'se_resnet50': 28.1e6,  # Hu et al. 2018, Table 1
    'wrn28_10': 36.5e6,  # Zagoruyko & Komodakis 2016, Table 4
    'preact_resnet164': 1.7e6,  # He et al. 2016b, Table 3
}


@pytest.mark.parametrize('name', sorted(EXACT_PARAMETERS))
def test_exact_parameter_counts(name):
  assert count(abstract_params(name)) == EXACT_PARAMETERS[name]


@pytest.mark.parametrize('name', sorted(PAPER_PARAMETERS))
def test_parameter_counts_within_one_percent_of_paper(name):
  assert count(abstract_params(name)) == pytest.approx(PAPER_PARAMETERS[name], rel=0.01)


def test_se_overhead_is_equation_5_plus_biases():
  # Eq. 5: 2/r Σ_s N_s C_s² over the stages of ResNet-50 (r = 16); biases C/r + C per module.
  stages = [(3, 256), (4, 512), (6, 1024), (3, 2048)]
  weights = sum(2 * n * c * c // 16 for n, c in stages)
  biases = sum(n * (c // 16 + c) for n, c in stages)
  assert weights == 2_514_944
  base = count(abstract_params('resnet50_v1'))
  assert count(abstract_params('se_resnet50')) - base == weights + biases
  without_bias = registry.create(
      'se_resnet50', attention=lambda **kw: SqueezeExcitation(use_bias=False, **kw))
  params = jax.eval_shape(lambda: without_bias.init(
      jax.random.key(0), jnp.zeros((1, 224, 224, 3)), train=False))['params']
  assert count(params) - base == weights


def test_resnext_grouped_kernels():
  params = abstract_params('resnext50_32x4d')
  for block in range(3):  # stage 1 (conv2_x): 32 groups of 4 channels, 128 wide
    assert params[f'BottleneckBlock_{block}']['Conv_1']['kernel'].shape == (3, 3, 4, 128)
    assert params[f'BottleneckBlock_{block}']['Conv_2']['kernel'].shape == (1, 1, 128, 256)
  # stage 4 (conv5_x): 32 groups of 32 channels, 1024 wide, 2048 out.
  assert params['BottleneckBlock_15']['Conv_1']['kernel'].shape == (3, 3, 32, 1024)
  assert params['BottleneckBlock_15']['Conv_2']['kernel'].shape == (1, 1, 1024, 2048)


def test_wide_bottleneck_doubles_inner_width_only():
  wide, base = abstract_params('wide_resnet50_2'), abstract_params('resnet50')
  assert wide['BottleneckBlock_0']['Conv_1']['kernel'].shape == (3, 3, 128, 128)
  assert base['BottleneckBlock_0']['Conv_1']['kernel'].shape == (3, 3, 64, 64)
  assert wide['fc']['kernel'].shape == base['fc']['kernel'].shape == (2048, 1000)


# --- stochastic depth -------------------------------------------------------------------


def survival_probabilities(model, image_size=32):
  """The survival probability of every StochasticDepth layer, in network order."""
  found = []

  def record(next_fun, args, kwargs, context):
    if isinstance(context.module, layers.StochasticDepth) and context.method_name == '__call__':
      found.append(context.module.survival_probability)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda: model.init(jax.random.key(0),
                                      jnp.zeros((1, image_size, image_size, 3)), train=False))
  return found


def test_resnet110_stochastic_depth_decays_linearly_to_one_half():
  probabilities = survival_probabilities(registry.create('resnet110_stochastic_depth'))
  assert len(probabilities) == 54  # 3 stages × 18 blocks
  np.testing.assert_allclose(probabilities, 1 - np.arange(1, 55) / 54 * 0.5)
  assert probabilities[-1] == pytest.approx(0.5)
  assert count(abstract_params('resnet110_stochastic_depth')) == 1_727_962


@pytest.mark.parametrize('name,num_blocks', [
    ('resnet50', 16), ('resnext50_32x4d', 16), ('se_resnet50', 16), ('preact_resnet18', 8),
    ('preact_resnet164', 54), ('wrn28_10', 12), ('resnet20', 9)])
def test_every_residual_network_has_stochastic_depth(name, num_blocks):
  probabilities = survival_probabilities(registry.create(name, stochastic_depth=0.8))
  np.testing.assert_allclose(probabilities, 1 - np.arange(1, num_blocks + 1) / num_blocks * 0.2)
  assert set(survival_probabilities(registry.create(name))) == {1.0}


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
  variables = initialise(plain, images, train=False)

  def train_logits(model, seed):
    logits, _ = model.apply(variables, images, train=True, mutable=['batch_stats'],
                            rngs={'dropout': rbg_key(seed)})
    return logits

  def record(next_fun, args, kwargs, context):
    output = next_fun(*args, **kwargs)
    if isinstance(context.module, layers.StochasticDepth) and context.method_name == '__call__':
      branches.append((args[0], output, context.module.survival_probability))
    return output

  @jax.jit
  def outputs():
    with nn.intercept_methods(record):
      dropped = train_logits(dropping, 3)
    return dict(eval_plain=plain.apply(variables, images),
                eval_dropping=dropping.apply(variables, images),
                dropped=dropped, dropped_other_rng=train_logits(dropping, 4),
                train_plain=train_logits(plain, 3), train_always=train_logits(always, 3),
                branches=[(branch, output) for branch, output, _ in branches])

  branches = []
  results = outputs()
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


def test_stochastic_depth_needs_shortcuts():
  with pytest.raises(ValueError, match='shortcuts'):
    registry.create('plain20', stochastic_depth=0.5).init(
        jax.random.key(0), jnp.zeros((1, 32, 32, 3)))


# --- pre-activation units ---------------------------------------------------------------


@pytest.mark.parametrize('name,block', [('preact_resnet18', 'PreActBasicBlock'),
                                        ('preact_resnet164', 'PreActBottleneckBlock'),
                                        ('wrn28_10', 'PreActBasicBlock')])
def test_preact_units_start_with_batchnorm_and_end_with_convolution(name, block):
  rows = summary.summarize(name, image_size=32).layers
  units = sorted({row.name.split('/')[0] for row in rows if row.name.startswith(block)})
  assert units
  for unit in units:
    types = [row.type for row in rows if row.name.split('/')[0] == unit]
    assert types[0] == 'BatchNorm' and types[-1] == 'Conv'
  # The network ends BN → ReLU → pool → classifier (the paper's appendix).
  assert [row.name for row in rows[-3:]] == ['final_bn', 'GlobalAvgPool_0', 'fc']
  # The original ResNet's unit starts with a convolution instead.
  resnet_rows = summary.summarize('resnet18', image_size=32).layers
  assert [r.type for r in resnet_rows if r.name.startswith('BasicBlock_0/')][0] == 'Conv'


@pytest.mark.parametrize('block', [PreActBasicBlock(filters=16),
                                   PreActBottleneckBlock(filters=4)])
def test_preact_identity_path_is_clean(block):
  # With a zero last convolution, a unit is exactly the identity, negative values
  # included: nothing (no BN, no ReLU after the addition) is on the shortcut (Eq. 4).
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16))
  variables = initialise(block, x)
  last_conv = max(name for name in variables['params'] if name.startswith('Conv_'))
  params = dict(variables['params'])
  params[last_conv] = {'kernel': jnp.zeros_like(params[last_conv]['kernel'])}
  np.testing.assert_array_equal(jax.jit(block.apply)({**variables, 'params': params}, x), x)


def test_preact_projection_sees_preactivated_input():
  block = PreActBasicBlock(filters=32, strides=2)
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16))
  variables = initialise(block, x)
  assert variables['params']['projection']['kernel'].shape == (1, 1, 16, 32)

  # The projection reads the unit's BN → ReLU output (the authors' code), not the
  # raw input, which has negative values.
  @jax.jit
  def projection_input():
    seen = []

    def record(next_fun, args, kwargs, context):
      if context.module.name == 'projection' and context.method_name == '__call__':
        seen.append(args[0])
      return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
      block.apply(variables, x)
    return seen

  seen = projection_input()
  assert len(seen) == 1 and jnp.all(seen[0] >= 0) and jnp.any(seen[0] > 0)


# --- squeeze-and-excitation -------------------------------------------------------------


def test_squeeze_excitation_scales_each_channel_by_a_gate():
  x = jax.random.normal(jax.random.key(0), (2, 5, 5, 32)) + 3.0
  module = SqueezeExcitation()
  variables = initialise(module, x)
  assert variables['params']['reduce']['kernel'].shape == (32, 2)  # C/r with r = 16
  assert variables['params']['expand']['kernel'].shape == (2, 32)
  gates = jax.jit(module.apply)(variables, x) / x
  np.testing.assert_allclose(gates, jnp.broadcast_to(gates[:, :1, :1, :], gates.shape),
                             rtol=1e-5)
  assert jnp.all((gates > 0) & (gates < 1))


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
  variables = initialise(block, x)
  np.testing.assert_array_equal(jax.jit(block.apply)(variables, x), nn.relu(x))


# --- forward and backward ---------------------------------------------------------------


def forward_backward(model, images, rngs):
  """Logits in training mode and the gradients of a loss on them, all finite and non-zero."""
  variables = initialise(model, images, train=False)

  def loss(params):
    logits, _ = model.apply({**variables, 'params': params}, images, train=True,
                            mutable=['batch_stats'], rngs=rngs)
    return jnp.mean(logits**2), logits

  (_, logits), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(variables['params'])
  assert all(jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads))
  assert all(jnp.any(g != 0) for g in jax.tree.leaves(grads))
  return variables, logits


def test_preact_resnet18_forward_and_backward():
  model = registry.create('preact_resnet18', num_classes=7)
  images = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  _, logits = forward_backward(model, images, {'dropout': rbg_key(2)})
  assert logits.shape == (2, 7)


def test_small_wide_resnet_forward_and_backward():
  model = WideResNet(depth=10, widen_factor=2, dropout_rate=0.3, num_classes=10)
  images = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  variables, logits = forward_backward(model, images, {'dropout': rbg_key(2)})
  assert logits.shape == (2, 10)
  assert variables['params']['PreActBasicBlock_0']['Conv_0']['kernel'].shape == (3, 3, 16, 32)


def test_wide_unit_puts_dropout_between_its_convolutions():
  units = {rate: PreActBasicBlock(filters=16, dropout_rate=rate, train=True) for rate in (0.0, 0.3)}
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16))
  variables = initialise(units[0.0], x)

  @jax.jit
  def outputs(seed):
    return {rate: unit.apply(variables, x, mutable=['batch_stats'],
                             rngs={'dropout': rbg_key(seed)})[0] for rate, unit in units.items()}

  first, second = outputs(0), outputs(1)
  assert not jnp.allclose(first[0.3], second[0.3])
  np.testing.assert_array_equal(first[0.0], second[0.0])
  calls = []

  def record(next_fun, args, kwargs, context):
    calls.append(type(context.module).__name__)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda: units[0.3].apply(variables, x, mutable=['batch_stats'],
                                            rngs={'dropout': rbg_key(0)}))
  assert [c for c in calls if c != 'StochasticDepth'] == [
      'PreActBasicBlock', 'BatchNorm', 'Conv', 'BatchNorm', 'Dropout', 'Conv']


# --- recipes ----------------------------------------------------------------------------


@pytest.mark.parametrize('recipe', [
    'preact_resnet164_cifar10', 'wrn28_10_cifar10', 'resnext50_32x4d', 'se_resnet50',
    'resnet110_stochastic_depth_cifar10', 'wide_resnet50_2'])
def test_recipes_build_their_models(recipe):
  path = os.path.join(ROOT, 'configs', f'{recipe}.py')
  spec = importlib.util.spec_from_file_location(f'configs.{recipe}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  model_spec = registry.spec(config.model)
  assert (config.num_classes, config.image_size) == (model_spec.num_classes,
                                                     model_spec.input_size)
  registry.create(config.model, num_classes=config.num_classes,
                  **config.model_options.to_dict())  # unknown options raise TypeError
