"""GoogLeNet (Szegedy et al. 2015): the lecture's module arithmetic, Table 1's sizes, the
auxiliary heads, and the naive modules of Fig. 2a (the lecture's ablation)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import summary
from models.googlenet import INCEPTION_WIDTHS, NaiveInceptionModule
from tests.models import helpers

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
  assert googlenet_summary.total_params == models.spec('googlenet').parameters
  assert googlenet_summary.total_params - aux_params == 6_998_552
  assert googlenet_summary.total_macs == 1_582_671_872  # the paper: "1.5 billion"
  by_name = {layer.name: layer for layer in aux_rows}
  # §5: a 5×5/3 average pool gives 4×4×512 on (4a) and 4×4×528 on (4d).
  assert by_name['aux1/pool'].output_shape == (4, 4, 512)
  assert by_name['aux2/pool'].output_shape == (4, 4, 528)
  assert by_name['aux1/fc'].params == 4 * 4 * 128 * 1024 + 1024


@pytest.mark.parametrize('name', ['googlenet', 'googlenet_bn'])
def test_five_by_five_branch_is_a_real_5x5_convolution(name):
  params = helpers.abstract_params(name)
  assert params['inception_3a']['branch5x5']['conv']['kernel'].shape == (5, 5, 16, 32)
  assert params['inception_5b']['branch5x5']['conv']['kernel'].shape == (5, 5, 48, 128)
  has_bias = 'bias' in params['inception_3a']['branch5x5']['conv']
  assert has_bias == (name == 'googlenet')  # BatchNorm's offset replaces the bias
  assert ('bn' in params['inception_3a']['branch5x5']) == (name == 'googlenet_bn')


def test_auxiliary_heads_exist_after_init_and_run_only_in_training():
  variables, training, evaluation = helpers.training_and_evaluation_outputs('googlenet')
  assert 'aux1' in variables['params'] and 'aux2' in variables['params']
  assert isinstance(training, tuple) and len(training) == 3
  assert all(logits.shape == (2, 10) for logits in training)
  assert isinstance(evaluation, jax.ShapeDtypeStruct) and evaluation.shape == (2, 10)


@pytest.mark.slow  # compiles GoogLeNet's training step
def test_googlenet_forward_and_backward():
  spec = models.spec('googlenet')
  model, variables = helpers.abstract_init('googlenet', spec.test_input_size, num_classes=7)
  params = helpers.concrete_variables(variables['params'])
  images = np.random.default_rng(1).normal(
      size=(2, spec.test_input_size, spec.test_input_size, 3)).astype(np.float32)

  def loss(params):
    logits, aux1, aux2 = model.apply({'params': params}, images, train=True,
                                     rngs={'dropout': helpers.rbg_key(2)})
    return jnp.mean(logits**2) + 0.3 * (jnp.mean(aux1**2) + jnp.mean(aux2**2))

  value, grads = jax.device_get(jax.jit(jax.value_and_grad(loss))(params))
  # Checked on the host: a jnp operation per parameter shape would compile each.
  assert np.isfinite(value)
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  # Every layer learns, the auxiliary heads and the lowest convolution included.
  assert np.any(grads['conv1']['conv']['kernel'] != 0)
  assert np.any(grads['aux1']['classifier']['kernel'] != 0)
  assert np.any(grads['aux2']['conv']['conv']['kernel'] != 0)


# --- The naive modules of Fig. 2a -----------------------------------------------------------


def naive_module_widths(image_size=224):
  """The output channels of every naive inception module of googlenet_naive, in order."""
  widths = {}

  def record(next_fun, args, kwargs, context):
    output = next_fun(*args, **kwargs)
    if isinstance(context.module, NaiveInceptionModule) and context.method_name == '__call__':
      widths[context.module.name.removeprefix('inception_')] = output.shape[1:]
    return output

  model = models.create('googlenet_naive')
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


def test_naive_googlenet_has_no_reductions_and_costs_far_more(googlenet_summary):
  params = helpers.abstract_params('googlenet_naive')
  assert set(params['inception_3a']) == {'branch1x1', 'branch3x3', 'branch5x5'}
  assert params['inception_3a']['branch5x5']['conv']['kernel'].shape == (5, 5, 192, 32)
  assert params['inception_5b']['branch5x5']['conv']['kernel'].shape == (5, 5, 4048, 128)
  assert params['fc']['kernel'].shape == (4944, 1000)
  assert params['aux1']['conv']['conv']['kernel'].shape == (1, 1, 1280, 128)
  naive = summary.summarize('googlenet_naive')
  assert naive.total_params - helpers.count({k: v for k, v in params.items()
                                             if k.startswith('aux')}) == 97_526_008
  assert naive.total_macs == 12_568_061_056  # 8× googlenet's
  assert naive.total_macs > 7 * googlenet_summary.total_macs


def test_googlenet_naive_trains_at_a_small_input():
  """Training mode at its registry test size returns the logits and both auxiliary logits
  (abstractly: the registry walk runs the real step)."""
  size = models.spec('googlenet_naive').test_input_size
  model, variables = helpers.abstract_init('googlenet_naive', size, num_classes=7)
  images = jnp.zeros((2, size, size, 3))
  outputs = jax.eval_shape(lambda v: model.apply(
      v, images, train=True, rngs={'dropout': jax.random.key(1)}), variables)
  assert [logits.shape for logits in outputs] == [(2, 7)] * 3
