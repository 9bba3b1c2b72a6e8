"""NASNet-A (Zoph et al. 2018): Tables 2 and 3's counts, "N @ P" shapes, the cells' wiring and
separable convolutions, and ScheduledDropPath."""

import flax.linen as nn
from flax.traverse_util import flatten_dict
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import nasnet, summary
from tests import helpers as run_helpers
from tests.models import helpers
from training import checkpoints, steps
from tests.models.test_registry import agrees_with_paper

# Table 3 (mobile) and Table 2 (large): parameters (millions, as printed) and multiply-adds;
# Keras's NASNetMobile and
# NASNetLarge, ports of the authors' TF-slim network without its auxiliary head, have
# exactly these trainable (weights, BN scales and offsets) and non-trainable (BN running
# statistics) counts.
TABLE_2 = {'nasnet_a_mobile': ('5.3', 564e6), 'nasnet_a_large': ('88.9', 23.8e9)}
KERAS = {'nasnet_a_mobile': (5_289_978, 36_738), 'nasnet_a_large': (88_753_150, 196_668)}


@pytest.mark.slow  # traces the large network (a few seconds each on two cores)
@pytest.mark.parametrize('name', sorted(TABLE_2))
def test_counts_match_the_papers_tables_and_the_released_network(name):
  table = summary.summarize(name)
  without_aux = table.total_params - table.auxiliary_params
  printed, macs = TABLE_2[name]
  assert agrees_with_paper(without_aux, printed), without_aux
  assert abs(table.total_macs / macs - 1) < 0.01, table.total_macs
  trainable, statistics = KERAS[name]
  assert without_aux == trainable
  _, variables = helpers.abstract_init(name)
  aux_statistics = helpers.count(variables['batch_stats']['aux'])
  clock = helpers.count(variables['batch_stats']['drop_path_step'])
  assert helpers.count(variables['batch_stats']) - aux_statistics - clock == statistics


def test_stacks_follow_n_at_p():
  """4 @ 1056: three stacks of 4 normal cells of 6F channels (F = 44, doubled at each
  reduction) on 28, 14 and 7 pixel grids; the stem cells give 4·11 and 4·22 channels."""
  rows = {row.name: row for row in summary.by_module(summary.summarize('nasnet_a_mobile'), 1)}
  assert rows['stem_conv'].output_shape == (111, 111, 32)
  assert rows['stem_cell_0'].output_shape == (56, 56, 44)
  assert rows['stem_cell_1'].output_shape == (28, 28, 88)
  assert [rows[f'cell_{i}'].output_shape for i in (0, 3, 4, 7, 8, 11)] == [
      (28, 28, 264), (28, 28, 264), (14, 14, 528), (14, 14, 528), (7, 7, 1056), (7, 7, 1056)]
  assert rows['reduction_cell_0'].output_shape == (14, 14, 352)  # 4 · 88
  assert rows['reduction_cell_1'].output_shape == (7, 7, 704)
  assert 'cell_12' not in rows and rows['classifier'].output_shape == (1000,)
  assert rows['aux'].auxiliary and rows['aux'].output_shape == (1000,)


def test_separable_operations_are_applied_twice():
  params = helpers.abstract_params('nasnet_a_mobile')
  # cell_0's first combination: a 5×5 separable operation on h_i (F = 44 channels).
  left = params['cell_0']['combination_0_left']
  assert set(left) == {'depthwise_0', 'pointwise_0', 'bn_0', 'depthwise_1', 'pointwise_1',
                       'bn_1'}
  assert left['depthwise_0']['kernel'].shape == (5, 5, 1, 44)
  assert left['pointwise_1']['kernel'].shape == (1, 1, 44, 44)
  # In the first stem cell h_{i-1} is the stem convolution's 32 channels: the reduction
  # cell's 7×7 operation on it maps 32 to F/4 = 11.
  right = params['stem_cell_0']['combination_0_right']
  assert right['depthwise_0']['kernel'].shape == (7, 7, 1, 32)
  assert right['pointwise_0']['kernel'].shape == (1, 1, 32, 11)
  # h_{i-1} of another grid goes through the factorized reduction: two halves of F.
  reduction = params['cell_0']['previous_reduction']
  assert reduction['path_1']['kernel'].shape == reduction['path_2']['kernel'].shape == (
      1, 1, 44, 22)
  # Pools and identities have no parameters.
  assert 'combination_2_left' not in params['cell_0']


def cell_inputs(model: nn.Module, size: int = 72) -> dict[str, tuple]:
  """Each cell's (h_i, h_{i-1}) inputs and every module's output, from one forward pass."""
  calls = {}

  def record(next_fun, args, kwargs, context):
    output = next_fun(*args, **kwargs)
    if context.method_name == '__call__' and context.module.name:
      calls[context.module.name] = (args, output)
    return output

  images = helpers.normal((1, size, size, 3))
  variables = helpers.init_with_numpy(model, images, train=False)
  with nn.intercept_methods(record):
    model.apply(variables, images, train=False)
  return calls


def test_the_cell_after_a_reduction_takes_its_inputs_as_released():
  """Mobile: h_{i-1} of the first cell after a reduction is the reduction cell's input;
  large (skip_reduction_input): the output one cell before that."""
  small = dict(cells_per_stack=2, filters=8, num_classes=3)
  for skip, source in ((False, 'cell_1'), (True, 'cell_0')):
    calls = cell_inputs(nasnet.NASNetA(**small, skip_reduction_input=skip))
    (current, previous, *_), _ = calls['cell_2']
    assert current is calls['reduction_cell_0'][1]
    assert previous is calls[source][1]
    # Every other cell takes the two outputs before it.
    (current, previous, *_), _ = calls['cell_3']
    assert current is calls['cell_2'][1] and previous is calls['reduction_cell_0'][1]


def tiny_nasnet(**options):
  """One cell per stack, F = 8; 72-pixel inputs leave the auxiliary head its 5×5 grid."""
  return nasnet.NASNetA(cells_per_stack=1, filters=8, num_classes=3, dropout_rate=0.0,
                        **options)


def test_drop_path_is_off_at_evaluation():
  images = helpers.normal((2, 72, 72, 3))
  variables = helpers.init_with_numpy(tiny_nasnet(drop_path=0.0), images, train=False)
  apply = jax.jit(lambda model, v: model.apply(v, images, train=False), static_argnums=0)
  plain = apply(tiny_nasnet(drop_path=0.0), variables)
  dropping = tiny_nasnet(drop_path=0.9)
  np.testing.assert_array_equal(apply(dropping, variables), plain)
  np.testing.assert_array_equal(apply(dropping, variables), plain)


def test_scheduled_drop_path_rises_with_the_training_steps():
  """The clock in batch_stats counts training steps; at step 0 nothing is dropped, after
  total_training_steps the final probability applies."""
  images = helpers.normal((4, 72, 72, 3))
  variables = helpers.init_with_numpy(tiny_nasnet(), images, train=False)
  assert variables['batch_stats']['drop_path_step'] == 0

  def train_logits(model, variables):
    (logits, _), updates = model.apply(variables, images, train=True, mutable=['batch_stats'],
                                       rngs={'dropout': jax.random.key(3)})
    return logits, updates['batch_stats']['drop_path_step']

  train_logits = jax.jit(train_logits, static_argnums=0)
  reference, step = train_logits(tiny_nasnet(drop_path=0.0), variables)
  assert step == 1
  scheduled = tiny_nasnet(drop_path=0.9, total_training_steps=10)
  at_start, _ = train_logits(scheduled, variables)
  np.testing.assert_allclose(at_start, reference, rtol=1e-6, atol=1e-6)
  later = {**variables, 'batch_stats': {**variables['batch_stats'],
                                        'drop_path_step': jnp.float32(10)}}
  at_end, step = train_logits(scheduled, later)
  assert step == 11
  assert not np.allclose(at_end, reference, atol=1e-3)


def test_scheduled_drop_path_drops_whole_examples():
  x = jnp.ones((4000, 2, 2, 3))
  uniform = jax.random.uniform(jax.random.key(0), (4000,))
  y = nasnet.scheduled_drop_path(x, jnp.float32(0.5 * 0.6), uniform)
  per_example = np.asarray(y).reshape(4000, -1)
  assert np.all(per_example.min(axis=1) == per_example.max(axis=1))  # all or nothing
  dropped = np.mean(per_example[:, 0] == 0)
  assert abs(dropped - 0.3) < 0.03  # probability 0.5 × progress 0.6
  np.testing.assert_allclose(per_example[per_example[:, 0] > 0], 1 / 0.7, rtol=1e-6)


def test_train_py_tells_the_network_the_length_of_training():
  from configs import default
  from training import steps
  config = default.get_config()
  config.model = 'nasnet_a_mobile'
  assert steps.create_model(config, 10, total_steps=1234).total_training_steps == 1234
  config.model_options.total_training_steps = 99
  assert steps.create_model(config, 10, total_steps=1234).total_training_steps == 99
  config = default.get_config()
  config.model = 'resnet18'  # no schedule to tell
  assert not hasattr(steps.create_model(config, 10, total_steps=1234), 'total_training_steps')


@pytest.mark.e2e
@pytest.mark.slow
def test_nasnet_a_mobile_trains_on_the_digits_through_train_py(tmp_path):
  """The recipe on the digits (72 px: the auxiliary head's smallest grid), with
  ScheduledDropPath on: the checkpoint's clock counts the steps taken. One normal cell per
  stack ("1 @ 192" instead of "4 @ 1056") and F = 8: every kind of cell, the stem, the
  auxiliary head and the drop-path schedule are still there, the step compiles in half the
  time and runs several times faster. Two digits of each class as PNG files (train.py's
  last step evaluates the whole split: 20 images rather than the embedded 360)."""
  images = tmp_path / 'digits'
  run_helpers.write_digits_as_png_folder(str(images), per_class=2)
  result = run_helpers.run_train(
      '--config=configs/nasnet_a_mobile.py', f'--config.dataset=image_folder:{images}',
      '--config.image_size=72', '--config.train_preprocess=', '--config.eval_preprocess=',
      '--config.num_classes=-1', '--config.batch_size=8', '--config.num_train_steps=3',
      '--config.half_precision=False', '--config.ema_decay=0', '--config.grad_clip_norm=0',
      '--config.log_every_steps=1', '--config.eval_every_epochs=100',
      '--config.model_options.drop_path=0.3', '--config.model_options.cells_per_stack=1',
      '--config.model_options.filters=8',
      # Not written to the suite's compilation cache: serialising this train step's
      # ~1,300 CPU kernels costs about 50 s, and no other test compiles it again.
      '--config.compilation_cache_dir=', workdir=tmp_path / 'run')
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'nasnet_a_mobile' in result.stdout
  model = models.create('nasnet_a_mobile', num_classes=10, cells_per_stack=1, filters=8)
  restored = checkpoints.restore_eval_model(
      checkpoints.open_checkpoints(str(tmp_path / 'run' / 'checkpoints')), 3, model, 72, 1,
      False, steps.create_mesh())
  statistics = flatten_dict(jax.device_get(restored.variables['batch_stats']))
  assert statistics[('drop_path_step',)] == 3
