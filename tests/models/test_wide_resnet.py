"""Wide residual networks (Zagoruyko & Komodakis 2016): a small WRN trains, and the wide
unit puts its dropout between the two convolutions (§2.4)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from models.preact_resnet import PreActBasicBlock
from models.wide_resnet import WideResNet
from tests.models import helpers


def test_small_wide_resnet_forward_and_backward():
  model = WideResNet(depth=10, widen_factor=2, dropout_rate=0.3, num_classes=10)
  images = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  variables, logits = helpers.forward_backward(model, images, {'dropout': helpers.rbg_key(2)})
  assert logits.shape == (2, 10)
  assert variables['params']['PreActBasicBlock_0']['Conv_0']['kernel'].shape == (3, 3, 16, 32)


def test_wide_unit_puts_dropout_between_its_convolutions():
  units = {rate: PreActBasicBlock(filters=16, dropout_rate=rate, train=True) for rate in (0.0, 0.3)}
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16))
  variables = helpers.init_with_numpy(units[0.0], x)

  @jax.jit
  def outputs(seed):
    return {rate: unit.apply(variables, x, mutable=['batch_stats'],
                             rngs={'dropout': helpers.rbg_key(seed)})[0]
            for rate, unit in units.items()}

  first, second = outputs(0), outputs(1)
  assert not jnp.allclose(first[0.3], second[0.3])
  np.testing.assert_array_equal(first[0.0], second[0.0])
  calls = []

  def record(next_fun, args, kwargs, context):
    calls.append(type(context.module).__name__)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda: units[0.3].apply(variables, x, mutable=['batch_stats'],
                                            rngs={'dropout': helpers.rbg_key(0)}))
  assert [c for c in calls if c != 'StochasticDepth'] == [
      'PreActBasicBlock', 'BatchNorm', 'Conv', 'BatchNorm', 'Dropout', 'Conv']
