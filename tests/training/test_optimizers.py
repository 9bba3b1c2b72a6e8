"""training/optimizers.py: linear scaling, warmup, schedules, the weight-decay mask."""

import jax.numpy as jnp
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
