"""training/optimizers.py: linear scaling, warmup, schedules, the weight-decay mask, and
the optimisers against NumPy restatements and torch's and timm's implementations."""

import importlib.util
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import default
from tests.helpers import small_config
from training import configuration, optimizers
from training.configuration import ConfigError


def test_learning_rate_scales_warms_up_and_steps():
  config = small_config(learning_rate=0.1, batch_size=1024, warmup_epochs=5, lr_schedule='step',
                        lr_step_epochs=(30, 60))
  schedule = optimizers.create_learning_rate_schedule(config, steps_per_epoch=10, total_steps=900)
  assert schedule(0) == pytest.approx(0.1)  # Goyal et al.: warmup starts at the base rate
  assert schedule(50) == pytest.approx(0.4)  # ... and reaches 0.1 × 1024 / 256
  assert schedule(299) == pytest.approx(0.4)
  assert schedule(300) == pytest.approx(0.04)
  assert schedule(600) == pytest.approx(0.004)
  cosine = optimizers.create_learning_rate_schedule(
      small_config(learning_rate=0.1, batch_size=256, lr_schedule='cosine'), 10, 100)
  assert cosine(0) == pytest.approx(0.1) and cosine(100) == pytest.approx(0.0)


def test_weight_decay_touches_kernels_only():
  params = {'conv': {'kernel': jnp.ones((3, 3, 1, 2))}, 'bn': {'scale': jnp.ones(2),
                                                               'bias': jnp.ones(2)}}
  assert optimizers.weight_decay_mask(params) == {'conv': {'kernel': True},
                                                  'bn': {'scale': False, 'bias': False}}


def test_exponential_schedule_decays_in_stairs():
  """Inception v3 §8: × 0.94 every two epochs."""
  config = small_config(learning_rate=0.045, batch_size=256, lr_schedule='exponential',
                        lr_decay_rate=0.94, lr_decay_epochs=2.0)
  schedule = optimizers.create_learning_rate_schedule(config, steps_per_epoch=10, total_steps=200)
  assert schedule(0) == pytest.approx(0.045) and schedule(19) == pytest.approx(0.045)
  assert schedule(20) == pytest.approx(0.045 * 0.94)
  assert schedule(105) == pytest.approx(0.045 * 0.94**5)


def test_rmsprop_follows_tensorflow():
  """TensorFlow's RMSPropOptimizer, restated in NumPy: ms starts at 1, ms ← ρ ms + (1-ρ) g²,
  mom ← μ mom + lr g / sqrt(ms + ε), w ← w - mom."""
  config = small_config(optimizer='rmsprop', rmsprop_decay=0.9, rmsprop_epsilon=1.0,
                        momentum=0.9, weight_decay=0.0)
  tx = optimizers.create_optimizer(config, optax.constant_schedule(0.1))
  params = {'w': jnp.array([1.0, -2.0, 3.0])}
  state = tx.init(params)
  rng = np.random.default_rng(0)
  w, ms, mom = np.array([1.0, -2.0, 3.0]), np.ones(3), np.zeros(3)
  for _ in range(5):
    g = rng.standard_normal(3)
    updates, state = tx.update({'w': jnp.asarray(g, jnp.float32)}, state, params)
    params = optax.apply_updates(params, updates)
    ms = 0.9 * ms + 0.1 * g**2
    mom = 0.9 * mom + 0.1 * g / np.sqrt(ms + 1.0)
    w = w - mom
  np.testing.assert_allclose(params['w'], w, rtol=1e-5)


def test_gradient_clipping_bounds_the_global_norm():
  config = small_config(grad_clip_norm=2.0, momentum=0.0, weight_decay=0.0)
  tx = optimizers.create_optimizer(config, optax.constant_schedule(1.0))
  params = {'a': jnp.zeros(3), 'b': jnp.zeros(4)}
  grads = {'a': jnp.full(3, 10.0), 'b': jnp.full(4, -10.0)}
  updates, _ = tx.update(grads, tx.init(params), params)
  assert float(optax.global_norm(updates)) == pytest.approx(2.0)


def test_plateau_divides_the_rate_after_patience_evaluations_without_improvement():
  config = small_config(lr_schedule='plateau', lr_plateau_factor=10.0, lr_plateau_patience=2)
  plateau = optimizers.create_plateau(config)
  state = plateau.init({'w': jnp.zeros(2)})
  scales = []
  for error in [0.5, 0.4, 0.45, 0.41, 0.42, 0.3, 0.35, 0.31]:
    _, state = plateau.update(jnp.zeros(()), state, value=error)
    scales.append(float(state.scale))
  # Two evaluations not better than 0.4 divide by 10; 0.3 is better; two more stall it again.
  assert scales == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01])
  assert optimizers.create_plateau(small_config()) is None


# --- AdamW, LAMB and LARS ---------------------------------------------------------------

def load_fixture_script():
  """tests/fixtures/optimizers/make_optimizer_fixtures.py: its seeded parameters and
  gradients (NumPy only) and its cases; torch is imported only when it runs."""
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures',
                      'optimizers', 'make_optimizer_fixtures.py')
  spec = importlib.util.spec_from_file_location('make_optimizer_fixtures', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


FIXTURES = load_fixture_script()


def run_steps(config, learning_rates, gradients=None, trainable=None):
  """config's optimiser over FIXTURES' seeded parameters and gradients, in float64 (call
  under jax.enable_x64), with learning_rates[step] at each step; the flat parameters after."""
  rates = jnp.asarray(learning_rates)
  tx = optimizers.create_optimizer(config, lambda step: rates[jnp.minimum(step, len(rates) - 1)],
                                   trainable)
  params = jax.tree.map(jnp.asarray, FIXTURES.nested(FIXTURES.seeded_parameters()))
  state = tx.init(params)
  for step in gradients or FIXTURES.seeded_gradients():
    updates, state = tx.update(jax.tree.map(jnp.asarray, FIXTURES.nested(step)), state, params)
    params = optax.apply_updates(params, updates)
  return {path: np.asarray(params[path.split('/')[0]][path.split('/')[1]])
          for path, _ in FIXTURES.PARAMETERS}


def numpy_reference(optimizer, config, learning_rates):
  """The three optimisers restated in NumPy for FIXTURES' problem (float64). Kernels are
  decayed and, under LAMB and LARS, scaled by their trust ratio; 1-D parameters get
  neither: plain Adam steps, or plain momentum.

  AdamW: w ← w - lr (m̂ / (√v̂ + ε) + λ w).  LAMB: u = m̂ / (√v̂ + ε) + λ w,
  w ← w - lr ‖w‖ / ‖u‖ u.  LARS (MLPerf): r = η ‖w‖ / (‖g‖ + λ ‖w‖ + ε),
  v ← μ v + lr r (g + λ w), w ← w - v."""
  params = FIXTURES.seeded_parameters()
  first = {path: np.zeros_like(w) for path, w in params.items()}
  second = {path: np.zeros_like(w) for path, w in params.items()}
  decay = config.weight_decay
  for t, (grads, lr) in enumerate(zip(FIXTURES.seeded_gradients(), learning_rates), start=1):
    for path, g in grads.items():
      w, kernel = params[path], params[path].ndim > 1
      if optimizer == 'lars':
        if kernel:
          w_norm, g_norm = np.linalg.norm(w), np.linalg.norm(g)
          ratio = config.lars_trust_coefficient * w_norm / (g_norm + decay * w_norm +
                                                            config.lars_epsilon)
          g = ratio * (g + decay * w)
        first[path] = config.momentum * first[path] + lr * g
        params[path] = w - first[path]
        continue
      b1, b2 = config.adam_b1, config.adam_b2
      first[path] = b1 * first[path] + (1 - b1) * g
      second[path] = b2 * second[path] + (1 - b2) * g**2
      u = (first[path] / (1 - b1**t)) / (np.sqrt(second[path] / (1 - b2**t))
                                         + config.adam_epsilon)
      if kernel:
        u = u + decay * w
        if optimizer == 'lamb':
          u = u * np.linalg.norm(w) / np.linalg.norm(u)
      params[path] = w - lr * u
  return params


HAND_CASES = {
    'adamw': dict(weight_decay=0.05, adam_b1=0.8, adam_b2=0.99, adam_epsilon=1e-6),
    'lamb': dict(weight_decay=0.02, adam_epsilon=1e-6),
    'lars': dict(weight_decay=0.1, momentum=0.9, lars_epsilon=1e-8,
                 lars_trust_coefficient=0.01),
}


@pytest.mark.parametrize('optimizer', sorted(HAND_CASES))
def test_new_optimizers_follow_their_numpy_restatement(optimizer):
  """Three steps with a changing learning rate (as under warmup or decay: LARS's momentum
  holds the rates of the past steps, as in MLPerf), in float64; displacements to 1e-9."""
  config = small_config(optimizer=optimizer, **HAND_CASES[optimizer])
  rates = [0.5, 0.2, 0.1] if optimizer == 'lars' else [0.01, 0.005, 0.002]
  initial = FIXTURES.seeded_parameters()
  expected = numpy_reference(optimizer, config, rates)
  with jax.enable_x64(True):
    final = run_steps(config, rates)
  for path, w in initial.items():
    np.testing.assert_allclose(final[path] - w, expected[path] - w, rtol=1e-9, err_msg=path)


@pytest.mark.parametrize('optimizer', ['sgd', 'adamw', 'lamb', 'lars'])
def test_only_kernels_are_decayed_and_frozen_parameters_stay(optimizer):
  """With zero gradients only the decay moves anything: the kernels move, the 1-D
  parameters (biases, BatchNorm) stay where they are; and with trainable='head' the
  frozen kernel stays too, although AdamW, LAMB and LARS decay inside their update."""
  config = small_config(optimizer=optimizer, weight_decay=0.1)
  zeros = [{path: np.zeros(shape) for path, shape in FIXTURES.PARAMETERS}] * 2
  initial = FIXTURES.seeded_parameters()
  with jax.enable_x64(True):
    final = run_steps(config, [0.5, 0.5], zeros)
    head_only = run_steps(config, [0.5, 0.5], zeros, trainable=lambda params: jax.tree.map(
        lambda _: False, params) | {'dense': {'kernel': True}})
  for path, w in initial.items():
    assert np.array_equal(final[path], w) == (w.ndim == 1), path
    assert np.array_equal(head_only[path], w) == (path != 'dense/kernel'), path


FIXTURE_FILE = os.path.join(os.path.dirname(FIXTURES.FIXTURE), 'optimizers.json')


@pytest.mark.parametrize('case', sorted(FIXTURES.CASES))
def test_new_optimizers_match_torch_and_timm(case):
  """torch.optim.AdamW, timm's Lamb (without and with its global-norm clipping) and timm's
  Lars, three steps in float64 (tests/fixtures/optimizers/): the displacement of every
  parameter to 1e-6 relative. The learning rate is constant: timm's Lars applies it after
  momentum, MLPerf's (and this project's) before, which differ only as it changes."""
  with open(FIXTURE_FILE) as file:
    fixture = json.load(file)
  assert fixture['dtype'] == 'float64' and fixture['steps'] == FIXTURES.STEPS
  spec = FIXTURES.CASES[case]
  with jax.enable_x64(True):
    final = run_steps(small_config(**spec['config']), [spec['learning_rate']])
  for path, w in FIXTURES.seeded_parameters().items():
    reference = np.asarray(fixture['cases'][case]['parameters'][path]).reshape(w.shape)
    assert not np.allclose(reference, w, rtol=1e-3)  # every parameter moved
    np.testing.assert_allclose(final[path] - w, reference - w, rtol=1e-6, err_msg=path)


def test_optax_lars_divides_by_another_norm_than_mlperf_and_timm():
  """Why LARS is not optax.lars: its trust ratio divides by ‖g + λw‖, not ‖g‖ + λ‖w‖;
  with the fixture's λ = 0.1 the kernels' steps differ by percents from timm's."""
  with open(FIXTURE_FILE) as file:
    reference = json.load(file)['cases']['lars']['parameters']
  spec = FIXTURES.CASES['lars']
  kernels = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)
  tx = optax.lars(spec['learning_rate'], weight_decay=spec['config']['weight_decay'],
                  weight_decay_mask=kernels, trust_ratio_mask=kernels, momentum=0.9)
  with jax.enable_x64(True):
    params = jax.tree.map(jnp.asarray, FIXTURES.nested(FIXTURES.seeded_parameters()))
    state = tx.init(params)
    for step in FIXTURES.seeded_gradients():
      updates, state = tx.update(jax.tree.map(jnp.asarray, FIXTURES.nested(step)), state, params)
      params = optax.apply_updates(params, updates)
  initial = FIXTURES.seeded_parameters()
  moved = np.asarray(params['conv']['kernel']) - initial['conv/kernel']
  expected = np.asarray(reference['conv/kernel']).reshape(moved.shape) - initial['conv/kernel']
  assert np.abs(moved - expected).max() > 0.01 * np.abs(expected).max()


@pytest.mark.parametrize('optimizer, field, value, message', [
    ('sgd', 'adam_b2', 0.99, "config.adam_b2=0.99 is not allowed: use in [0, 1) with "
                             "optimizer='adamw' or 'lamb'; it applies to nothing else "
                             '(default 0.999)'),
    ('lamb', 'adam_b2', 1.5, "config.adam_b2=1.5 is not allowed: use in [0, 1) with "
                             "optimizer='adamw' or 'lamb'"),
    ('adamw', 'adam_b1', -0.1, "config.adam_b1=-0.1 is not allowed: use in [0, 1)"),
    ('adamw', 'adam_epsilon', 0.0, 'config.adam_epsilon=0.0 is not allowed: use a positive '
                                   'number'),
    ('lamb', 'lars_epsilon', 1e-8, "use zero or more with optimizer='lars'"),
    ('lars', 'lars_epsilon', -1e-8, "config.lars_epsilon=-1e-08 is not allowed: use zero or "
                                    'more'),
    ('lars', 'lars_trust_coefficient', 0.0, 'config.lars_trust_coefficient=0.0 is not '
                                            'allowed: use a positive number'),
    ('adamw', 'momentum', 0.95, "config.momentum=0.95 is not allowed: use in [0, 1) with "
                                "optimizer='sgd', 'rmsprop' or 'lars'"),
])
def test_a_bad_optimizer_setting_is_refused_naming_the_field(optimizer, field, value, message):
  config = small_config(optimizer=optimizer)
  configuration.validate_config(config, default.FIELDS)
  config[field] = value
  with pytest.raises(ConfigError) as caught:
    configuration.validate_config(config, default.FIELDS)
  assert message in str(caught.value) and '\n' not in str(caught.value)
