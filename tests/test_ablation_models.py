"""The registered variants of the lecture's ablations: VGG's A-LRN and one convolution
per stage, GoogLeNet's naive Inception modules and a CIFAR ResNet-20 with stochastic depth."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models  # noqa: F401  (registers every family)
from models import registry, summary
from models.googlenet import INCEPTION_WIDTHS, NaiveInceptionModule
from models.vgg import CONFIGURATIONS, STAGE_FILTERS
from tests.test_resnet_family import survival_probabilities
from tests.test_zoo import concrete_variables

# At the paper's input and classes, weights and biases (auxiliary heads included).
EXACT_PARAMETERS = {
    'vgg11_lrn': 132_863_336,  # vgg11's: LRN has no parameters
    'vgg16_one_conv_per_stage': 144_727_144,
    'vgg16_bn_one_conv_per_stage': 144_730_088,
    'googlenet_naive': 104_274_376,
    'resnet20_stochastic_depth': 269_722,  # resnet20's
}


def abstract_variables(name, image_size=None, num_classes=None):
  """Variable shapes of registered `name` (no compute): its paper's input by default."""
  spec = registry.spec(name)
  size = image_size or spec.input_size
  model = registry.create(name, num_classes=num_classes or spec.num_classes)
  images = jnp.zeros((1, size, size, spec.channels))
  return model, jax.eval_shape(lambda: model.init(jax.random.key(0), images, train=False))


def count(tree) -> int:
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


@pytest.mark.parametrize('name', sorted(EXACT_PARAMETERS))
def test_exact_parameter_count(name):
  assert count(abstract_variables(name)[1]['params']) == EXACT_PARAMETERS[name]


@pytest.mark.parametrize('variant, base', [
    ('vgg11_lrn', 'vgg11'), ('resnet20_stochastic_depth', 'resnet20')])
def test_variant_adds_no_parameters(variant, base):
  variant_params = abstract_variables(variant)[1]['params']
  base_params = abstract_variables(base)[1]['params']
  assert jax.tree.map(lambda leaf: leaf.shape, variant_params) == jax.tree.map(
      lambda leaf: leaf.shape, base_params)


def test_vgg11_lrn_normalises_after_the_first_convolution_only():
  """Table 1, A-LRN: conv3-64, LRN, maxpool; then A's layers."""
  rows = [(row.name, row.type) for row in summary.summarize('vgg11_lrn', 32).layers]
  assert rows[1:4] == [('conv1_1', 'Conv'), ('lrn1', 'LocalResponseNorm'), ('pool1', 'MaxPool')]
  assert [type_ for _, type_ in rows].count('LocalResponseNorm') == 1
  plain = [row for row in rows if row[0] != 'lrn1']
  assert plain == [(row.name, row.type) for row in summary.summarize('vgg11', 32).layers]


def stage_weights(params, stage):
  """The convolution weights (no biases) of VGG stage `stage` (1 to 5)."""
  return sum(math.prod(layer['kernel'].shape) for name, layer in params.items()
             if name.startswith(f'conv{stage}_'))


def test_three_stacked_3x3_convolutions_hold_27_c_squared_weights_one_7x7_49():
  """§2.3: three 3×3 layers of C channels, 3·(3²C²) = 27C²; one 7×7 layer, 49C²."""
  stacked = abstract_variables('vgg16')[1]['params']
  single = abstract_variables('vgg16_one_conv_per_stage')[1]['params']
  c = 512
  assert stage_weights(stacked, 5) == 27 * c**2
  assert stage_weights(single, 5) == 49 * c**2
  assert [stacked[f'conv5_{i}']['kernel'].shape for i in (1, 2, 3)] == [(3, 3, c, c)] * 3
  assert single['conv5_1']['kernel'].shape == (7, 7, c, c)
  assert 'conv5_2' not in single
  # D's stages of 2, 2, 3, 3, 3 convolutions become 5×5, 5×5, 7×7, 7×7, 7×7.
  kernels = [single[f'conv{stage}_1']['kernel'].shape[0] for stage in range(1, 6)]
  assert kernels == [5, 5, 7, 7, 7]


@pytest.mark.parametrize('stacked_name, single_name', [
    ('vgg16', 'vgg16_one_conv_per_stage'), ('vgg16_bn', 'vgg16_bn_one_conv_per_stage')])
def test_one_conv_per_stage_parameter_difference(stacked_name, single_name):
  """The totals differ by the convolutions alone: (2n+1)² C_in C weights instead of
  9 (C_in C + (n-1) C²) per stage, and one bias (and BatchNorm) per stage instead of n."""
  per_channel = 3 if stacked_name.endswith('_bn') else 1  # bias, and BN scale and offset
  expected = 0
  in_channels = 3
  for filters, n in zip(STAGE_FILTERS, CONFIGURATIONS[16]):
    stack = 9 * (in_channels * filters + (n - 1) * filters**2) + per_channel * n * filters
    one = (2 * n + 1)**2 * in_channels * filters + per_channel * filters
    expected += one - stack
    in_channels = filters
  stacked = count(abstract_variables(stacked_name)[1]['params'])
  single = count(abstract_variables(single_name)[1]['params'])
  assert single - stacked == expected == (6_369_600 if per_channel == 1 else 6_364_096)


def naive_module_widths(image_size=224):
  """The output channels of every naive inception module of googlenet_naive, in order."""
  widths = {}

  def record(next_fun, args, kwargs, context):
    output = next_fun(*args, **kwargs)
    if isinstance(context.module, NaiveInceptionModule) and context.method_name == '__call__':
      widths[context.module.name.removeprefix('inception_')] = output.shape[1:]
    return output

  model = registry.create('googlenet_naive')
  with nn.intercept_methods(record):
    jax.eval_shape(lambda: model.init(jax.random.key(0),
                                      jnp.zeros((1, image_size, image_size, 3)), train=False))
  return widths


def test_naive_inception_widths_grow_module_after_module():
  """Fig. 2a: the pool branch passes its input on, so each module outputs
  #1×1 + #3×3 + #5×5 (Table 1) + its input channels."""
  shapes = naive_module_widths()
  assert list(shapes) == list(INCEPTION_WIDTHS)
  assert shapes['3a'] == (28, 28, 64 + 128 + 32 + 192)  # 416, not Table 1's 256
  channels = 192  # conv2's output, (3a)'s input
  for stage, widths in INCEPTION_WIDTHS.items():
    channels += widths[0] + widths[2] + widths[4]
    assert shapes[stage][-1] == channels, stage
  assert {stage: shape[-1] for stage, shape in shapes.items()} == {
      '3a': 416, '3b': 832, '4a': 1280, '4b': 1728, '4c': 2176, '4d': 2640, '4e': 3344,
      '5a': 4048, '5b': 4944}
  assert [shape[:2] for shape in shapes.values()] == [(28, 28)] * 2 + [(14, 14)] * 5 + [
      (7, 7)] * 2


def test_naive_googlenet_has_no_reductions_and_costs_far_more():
  _, variables = abstract_variables('googlenet_naive')
  params = variables['params']
  assert set(params['inception_3a']) == {'branch1x1', 'branch3x3', 'branch5x5'}
  assert params['inception_3a']['branch5x5']['conv']['kernel'].shape == (5, 5, 192, 32)
  assert params['inception_5b']['branch5x5']['conv']['kernel'].shape == (5, 5, 4048, 128)
  assert params['fc']['kernel'].shape == (4944, 1000)
  assert params['aux1']['conv']['conv']['kernel'].shape == (1, 1, 1280, 128)
  naive, reduced = summary.summarize('googlenet_naive'), summary.summarize('googlenet')
  assert naive.total_params - count({k: v for k, v in params.items()
                                     if k.startswith('aux')}) == 97_526_008
  assert naive.total_macs == 12_568_061_056  # googlenet: 1,582,671,872
  assert naive.total_macs > 7 * reduced.total_macs


def test_googlenet_naive_trains_at_a_small_input():
  """Training mode at its registry test size returns the logits and both auxiliary logits
  (abstractly: the registry walk runs the real step)."""
  size = registry.spec('googlenet_naive').test_input_size
  model, variables = abstract_variables('googlenet_naive', size, num_classes=7)
  images = jnp.zeros((2, size, size, 3))
  outputs = jax.eval_shape(lambda v: model.apply(
      v, images, train=True, rngs={'dropout': jax.random.key(1)}), variables)
  assert [logits.shape for logits in outputs] == [(2, 7)] * 3


def test_resnet20_stochastic_depth_decays_linearly_to_one_half():
  """Huang et al. 2016, Eq. 4: p_l = 1 - l/L (1 - p_L) with p_L = 0.5, over 9 blocks."""
  probabilities = survival_probabilities(registry.create('resnet20_stochastic_depth'))
  np.testing.assert_allclose(probabilities, 1 - np.arange(1, 10) / 9 * 0.5)


@pytest.mark.parametrize('name', ['vgg11_lrn', 'vgg16_one_conv_per_stage',
                                  'vgg16_bn_one_conv_per_stage', 'resnet20_stochastic_depth'])
def test_forward_in_training_mode_at_32_pixels(name):
  model = registry.create(name, num_classes=10)
  images = np.random.default_rng(1).standard_normal((2, 32, 32, 3), dtype=np.float32)
  # On the device once, and passed as arguments: not copied at every call, nor
  # folded into the compiled program as constants.
  variables = jax.device_put(concrete_variables(jax.eval_shape(
      lambda: model.init(jax.random.key(0), images, train=False))))

  @jax.jit
  def train_logits(variables, seed):
    logits, _ = model.apply(variables, images, train=True, mutable=['batch_stats'],
                            rngs={'dropout': jax.random.key(seed, impl='rbg')})
    return logits

  logits = train_logits(variables, 0)
  assert logits.shape == (2, 10) and np.all(np.isfinite(logits))
  # Dropout (VGG's FC layers) and dropped blocks (stochastic depth) draw from the rng.
  assert not np.allclose(logits, train_logits(variables, 1))
