"""training/steps.py: no TensorFlow on its import path, and exact evaluation."""

import subprocess
import sys

import jax
import numpy as np
import pytest

import input_pipeline
from tests.helpers import REPO, small_config
from training import optimizers, steps


def test_the_steps_module_imports_no_tensorflow():
  code = 'import sys; from training import steps; assert "tensorflow" not in sys.modules'
  completed = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
  assert completed.returncode == 0, completed.stderr[-2000:]


def test_evaluation_is_exact_with_a_partial_last_batch():
  config = small_config()
  source = input_pipeline.load_source('digits')
  mesh = steps.create_mesh()
  model = steps.create_model(config, 10)
  schedule = optimizers.create_learning_rate_schedule(config, 44, 100)
  state = steps.create_train_state(jax.random.key(3), model, 32, 1,
                                   optimizers.create_optimizer(config, schedule), mesh)
  _, parallel_eval = steps.compile_steps(mesh, config, schedule, source.mean, source.std)
  # 360 examples in batches of 34 (17 per device): the last batch has 20 real ones.
  (metrics,), count = steps.evaluate(parallel_eval, (steps.eval_model(state),),
                                     input_pipeline.eval_batches(source, 34, 32), mesh)
  assert count == 360

  batches = list(input_pipeline.eval_batches(source, 360, 32))
  images, labels = batches[0]['image'], batches[0]['label']
  logits = model.apply({'params': state.params},
                       steps.normalize_images(images, source.mean, source.std), train=False)
  expected_accuracy = float(np.mean(np.argmax(logits, -1) == labels))
  expected_loss = float(np.mean(steps.cross_entropy(logits, labels)))
  assert metrics['eval_accuracy'] == pytest.approx(expected_accuracy, abs=1e-9)
  assert metrics['eval_loss'] == pytest.approx(expected_loss, rel=1e-5)


def test_moving_averages_follow_the_weights_and_are_what_evaluation_uses():
  """ema ← d ema + (1 - d) w after each step, d = min(ema_decay, (1 + step) / (10 + step)),
  and the eval step scores the averaged weights; the plateau's scale multiplies the rate."""
  config = small_config(ema_decay=0.9, lr_schedule='plateau', learning_rate=0.1)
  source = input_pipeline.load_source('digits')
  mesh = steps.create_mesh()
  model = steps.create_model(config, 10)
  schedule = optimizers.create_learning_rate_schedule(config, 44, 100)
  plateau = optimizers.create_plateau(config)
  state = steps.create_train_state(jax.random.key(3), model, 32, 1,
                                   optimizers.create_optimizer(config, schedule), mesh,
                                   ema=True, plateau=plateau)
  state = state.replace(plateau=state.plateau._replace(scale=jax.numpy.float32(0.5)))
  initial = jax.device_get(state.params)
  parallel_train, parallel_eval = steps.compile_steps(mesh, config, schedule, source.mean,
                                                      source.std)
  batches = steps.shard_batches(input_pipeline.train_batches(source, 32, 32, seed=0), mesh)
  state, metrics = parallel_train(state, next(batches), jax.random.key(0))
  assert float(metrics['learning_rate']) == pytest.approx(0.1 * 32 / 256 * 0.5)
  decay = min(0.9, 1 / 10)  # step 0
  expected = jax.tree.map(lambda old, new: decay * old + (1 - decay) * new, initial,
                          jax.device_get(state.params))
  for got, want in zip(jax.tree.leaves(jax.device_get(state.ema_params)),
                       jax.tree.leaves(expected)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
  evaluated = steps.evaluate(parallel_eval, (steps.eval_model(state),),
                             input_pipeline.eval_batches(source, 360, 32), mesh)
  swapped = state.replace(params=state.ema_params, ema_params=None, ema_batch_stats=None)
  assert evaluated == steps.evaluate(parallel_eval, (steps.eval_model(swapped),),
                                     input_pipeline.eval_batches(source, 360, 32), mesh)


def test_views_and_models_are_averaged_as_softmax_probabilities():
  """Each model's softmax averaged over an example's views, then over the models (AlexNet
  §4.1, Table 2): the eval step's sums against NumPy, with a padding example left out."""
  mesh = steps.create_mesh()
  model = steps.create_model(small_config(), 10)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (4, 3, 32, 32, 1), dtype=np.uint8)  # 4 examples × 3 views
  labels = rng.integers(0, 10, 4)
  mask = np.array([1.0, 1.0, 1.0, 0.0])
  members = []
  for seed in (1, 2):
    variables = model.init(jax.random.key(seed), np.zeros((1, 32, 32, 1), np.float32),
                           train=False)
    members.append(steps.EvalModel(model.apply, variables))
  normalization = ((100.0,), (50.0,))
  parallel_eval = steps.compile_eval_step(mesh, [normalization] * 2)
  sums = jax.device_get(parallel_eval(tuple(members), {'image': images, 'label': labels,
                                                       'mask': mask}))

  def softmax(logits):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)

  normalized = (images.reshape(12, 32, 32, 1).astype(np.float32) - 100.0) / 50.0
  probabilities = [softmax(np.asarray(m.apply_fn(m.variables, normalized, train=False),
                                      np.float64)).reshape(4, 3, 10).mean(1) for m in members]
  probabilities.append(np.mean(probabilities, axis=0))  # the ensemble
  for i, p in enumerate(probabilities):
    top5 = np.argsort(-p, axis=-1)[:, :5]
    assert sums['correct'][i] == np.sum((p.argmax(-1) == labels) * mask)
    assert sums['correct_top5'][i] == np.sum((top5 == labels[:, None]).any(-1) * mask)
    loss = -np.log(p[np.arange(4), labels])
    assert sums['loss'][i] == pytest.approx(np.sum(loss * mask), rel=1e-4)
  assert sums['count'] == 3
