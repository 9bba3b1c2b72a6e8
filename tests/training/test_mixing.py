"""training/mixing.py and the train step's loss: Mixup/CutMix's label arithmetic and boxes
against a NumPy restatement of timm's `Mixup` (batch mode) and against timm's own output
(a stored fixture), the draws' frequencies, the binary cross-entropy and distillation
terms, and gradient accumulation's equivalence."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import input_pipeline
from tests import parity
from tests.helpers import small_config
from training import mixing, optimizers, steps


def numpy_mixed_targets(labels, lam, num_classes, smoothing):
  """timm's mixup_target: one-hot with off = ε/K, on = 1 - ε + ε/K, mixed with the
  batch reversed."""
  off = smoothing / num_classes
  on = 1.0 - smoothing + off
  one_hot = np.full((len(labels), num_classes), off)
  one_hot[np.arange(len(labels)), labels] = on
  return lam * one_hot + (1.0 - lam) * one_hot[::-1]


def numpy_mix_images(images, lam, use_cutmix, box):
  images = images.copy()
  if use_cutmix:
    top, bottom, left, right = box
    images[:, top:bottom, left:right] = images[::-1][:, top:bottom, left:right]
    return images
  return lam * images + (1.0 - lam) * images[::-1]


@pytest.mark.parametrize('lam, smoothing', [(0.7, 0.0), (0.3, 0.1), (1.0, 0.1)])
def test_mixed_targets_are_timms(lam, smoothing):
  labels = np.array([3, 1, 4, 1, 5, 9])
  got = mixing.mixed_targets(jnp.asarray(labels), jnp.asarray(labels[::-1]), lam, 10, smoothing)
  np.testing.assert_allclose(got, numpy_mixed_targets(labels, lam, 10, smoothing), atol=1e-7)
  np.testing.assert_allclose(np.sum(got, axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize('use_cutmix', [False, True])
def test_images_are_mixed_with_the_batch_reversed(use_cutmix):
  images = np.random.default_rng(0).uniform(0, 255, (5, 8, 12, 3)).astype(np.float32)
  box = np.array([2, 6, 3, 11]) if use_cutmix else np.zeros(4, int)
  got = mixing.apply(jnp.asarray(images), jnp.float32(0.6), jnp.asarray(use_cutmix),
                     jnp.asarray(box))
  np.testing.assert_allclose(got, numpy_mix_images(images, 0.6, use_cutmix, box), rtol=1e-6)


def test_cutmix_box_is_timms_and_its_lambda_the_area_left():
  """Sides int(side·√(1-λ)), centre anywhere in the image, half-sides rounded down and the
  box clipped; λ corrected to 1 - area / (H·W). Checked over many draws."""
  height, width = 24, 40
  config = mixing.Mixing(cutmix_alpha=1.0)
  draws = jax.device_get(jax.vmap(lambda key: mixing.draw(key, config, height, width))(
      jax.random.split(jax.random.key(0), 200)))
  for lam, use_cutmix, box in zip(*draws):
    assert use_cutmix
    top, bottom, left, right = (int(v) for v in box)
    assert 0 <= top <= bottom <= height and 0 <= left <= right <= width
    assert lam == pytest.approx(1 - (bottom - top) * (right - left) / (height * width),
                                abs=1e-6)
    # A box that touches no border has even sides, each 2·(int(side·√(1-λ₀)) // 2).
    if 0 < top and bottom < height and 0 < left and right < width:
      assert (bottom - top) % 2 == 0 and (right - left) % 2 == 0


def test_draws_follow_mix_prob_switch_prob_and_beta():
  config = mixing.Mixing(mixup_alpha=0.2, cutmix_alpha=1.0, mix_prob=0.8, switch_prob=0.25)
  lams, cutmix, boxes = jax.device_get(jax.vmap(lambda key: mixing.draw(key, config, 32, 32))(
      jax.random.split(jax.random.key(0), 4000)))
  mixed = (lams < 1.0) | cutmix
  assert mixed.mean() == pytest.approx(0.8, abs=0.03)
  assert cutmix[mixed].mean() == pytest.approx(0.25, abs=0.04)
  mixup_lams = lams[mixed & ~cutmix]
  # Beta(0.2, 0.2): mean 1/2, most mass near 0 and 1.
  assert mixup_lams.mean() == pytest.approx(0.5, abs=0.04)
  assert np.mean((mixup_lams < 0.1) | (mixup_lams > 0.9)) > 0.5
  assert not np.any(boxes[~cutmix])


def test_only_mixup_never_draws_cutmix_and_mix_prob_zero_leaves_the_batch():
  keys = jax.random.split(jax.random.key(0), 100)
  _, use_cutmix, _ = jax.vmap(lambda key: mixing.draw(key, mixing.Mixing(mixup_alpha=1.0), 8,
                                                      8))(keys)
  assert not np.any(use_cutmix)
  never = mixing.Mixing(mixup_alpha=1.0, cutmix_alpha=1.0, mix_prob=0.0)
  lam, use_cutmix, _ = jax.vmap(lambda key: mixing.draw(key, never, 8, 8))(keys)
  assert np.all(lam == 1.0) and not np.any(use_cutmix)


def test_binary_cross_entropy_is_averaged_over_examples_and_classes():
  rng = np.random.default_rng(1)
  logits = rng.normal(size=(6, 10)) * 3
  targets = numpy_mixed_targets(rng.integers(0, 10, 6), 0.65, 10, 0.1)
  sigmoid = 1 / (1 + np.exp(-logits))
  expected = -np.mean(targets * np.log(sigmoid) + (1 - targets) * np.log(1 - sigmoid))
  objective = steps.Objective(loss='sigmoid_binary_cross_entropy')
  assert float(objective.classification(jnp.asarray(logits), jnp.asarray(targets))) == \
      pytest.approx(expected, rel=1e-5)
  binary = (targets > 0.2).astype(float)
  expected = -np.mean(binary * np.log(sigmoid) + (1 - binary) * np.log(1 - sigmoid))
  thresholded = steps.Objective(loss='sigmoid_binary_cross_entropy', bce_target_threshold=0.2)
  assert float(thresholded.classification(jnp.asarray(logits), jnp.asarray(targets))) == \
      pytest.approx(expected, rel=1e-5)


def test_distillation_term_is_temperature_squared_soft_cross_entropy():
  rng = np.random.default_rng(2)
  student, teacher = rng.normal(size=(2, 4, 7)) * 4
  targets = numpy_mixed_targets(np.array([0, 3, 6, 2]), 1.0, 7, 0.0)
  objective = steps.Objective(distill_weight=0.5, distill_temperature=20.0)

  def log_softmax(z):
    return z - np.log(np.sum(np.exp(z - z.max(-1, keepdims=True)), -1, keepdims=True)) - \
        z.max(-1, keepdims=True)

  soft = np.exp(log_softmax(teacher / 20))
  distill = 400 * np.mean(-np.sum(soft * log_softmax(student / 20), -1))
  hard = np.mean(-np.sum(targets * log_softmax(student), -1))
  loss, _ = objective(jnp.asarray(student), jnp.asarray(targets), jnp.asarray(teacher))
  assert float(loss) == pytest.approx(0.5 * hard + 0.5 * distill, rel=1e-5)


def _one_step(config, batch, model_name='lenet5', seed=3):
  config.model = model_name
  source = input_pipeline.load_source('digits')
  mesh = steps.create_mesh()
  model = steps.create_model(config, 10)
  schedule = optimizers.create_learning_rate_schedule(config, 44, 100)
  state = steps.create_train_state(jax.random.key(seed), model, 32, 1,
                                   optimizers.create_optimizer(config, schedule), mesh)
  parallel_train, _ = steps.compile_steps(mesh, config, schedule, source.mean, source.std)
  batch = next(steps.shard_batches([batch], mesh))
  state, metrics = parallel_train(state, batch, jax.random.key(0))
  return jax.device_get(state), jax.device_get(metrics)


def test_accumulated_micro_batches_give_the_full_batchs_update():
  """LeNet-5 (no BatchNorm, no dropout): four micro-batches per device give the parameters
  and momentum of one batch of 32, up to float32 summation order; mixing included."""
  source = input_pipeline.load_source('digits')
  batch = next(input_pipeline.train_batches(source, 32, 32, seed=0))
  states = {}
  for k in (1, 4):
    config = small_config(grad_accum_steps=k, mixup_alpha=0.4, cutmix_alpha=1.0,
                          label_smoothing=0.1)
    states[k], metrics = _one_step(config, batch)
    assert np.isfinite(metrics['train_loss'])
  for one, four in zip(jax.tree.leaves(states[1].params), jax.tree.leaves(states[4].params)):
    np.testing.assert_allclose(four, one, rtol=2e-5, atol=2e-6)
  for one, four in zip(jax.tree.leaves(states[1].opt_state), jax.tree.leaves(states[4].opt_state)):
    np.testing.assert_allclose(four, one, rtol=2e-5, atol=2e-6)


def timm_cases():
  with open(os.path.join(parity.FIXTURES, '..', 'mixing', 'timm_mixup.json'),
            encoding='utf-8') as f:
    return json.load(f)['cases']


@pytest.mark.parametrize('case', timm_cases(), ids=lambda case: case['name'])
def test_timms_draws_mix_images_and_targets_as_here_and_its_bce_is_ours(case):
  """timm's Mixup (batch mode) and BinaryCrossEntropy on seeded batches (fixture made by
  tests/fixtures/mixing/make_mixing_fixtures.py with timm 1.0.31): given timm's draw (λ
  corrected to the box, the box), this project's mixing gives timm's images and targets,
  and its binary cross-entropy timm's loss, with and without the target threshold."""
  images = np.transpose(np.array(case['images'], np.float32), (0, 2, 3, 1))  # NCHW -> NHWC
  labels = np.array(case['labels'])
  height, width = images.shape[1:3]
  top, bottom, left, right = case['box']
  if case['use_cutmix']:
    assert case['lam'] == pytest.approx(1 - (bottom - top) * (right - left) / (height * width))
  mixed = mixing.apply(jnp.asarray(images), jnp.float32(case['lam']),
                       jnp.asarray(case['use_cutmix']), jnp.asarray(case['box']))
  expected = np.transpose(np.array(case['mixed_images'], np.float32), (0, 2, 3, 1))
  np.testing.assert_allclose(mixed, expected, rtol=1e-6, atol=1e-6)
  smoothing = case['arguments']['label_smoothing']
  targets = mixing.mixed_targets(jnp.asarray(labels), jnp.asarray(labels[::-1]), case['lam'],
                                 7, smoothing)
  np.testing.assert_allclose(targets, case['targets'], rtol=1e-6, atol=1e-7)
  logits = jnp.asarray(case['logits'])
  for threshold, loss in case['bce'].items():
    objective = steps.Objective(loss='sigmoid_binary_cross_entropy',
                                bce_target_threshold=0.0 if threshold == 'None' else 0.2)
    assert float(objective.classification(logits, targets)) == pytest.approx(loss, rel=1e-5)
