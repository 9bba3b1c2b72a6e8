"""training/optimizers.py: linear scaling, warmup, schedules, the weight-decay mask."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.helpers import small_config
from training import optimizers


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
