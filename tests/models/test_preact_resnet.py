"""Pre-activation ResNet (He et al. 2016b): units that start with BN → ReLU, a clean identity
path, projections of the pre-activated input."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import summary
from models.preact_resnet import PreActBasicBlock, PreActBottleneckBlock
from tests.models import helpers


@pytest.mark.parametrize('name,block', [
    ('preact_resnet18', 'PreActBasicBlock'),
    pytest.param('preact_resnet164', 'PreActBottleneckBlock', marks=pytest.mark.slow),
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
  variables = helpers.init_with_numpy(block, x)
  last_conv = max(name for name in variables['params'] if name.startswith('Conv_'))
  params = dict(variables['params'])
  params[last_conv] = {'kernel': jnp.zeros_like(params[last_conv]['kernel'])}
  np.testing.assert_array_equal(jax.jit(block.apply)({**variables, 'params': params}, x), x)


def test_preact_projection_sees_preactivated_input():
  block = PreActBasicBlock(filters=32, strides=2)
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 16))
  variables = helpers.init_with_numpy(block, x)
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


@pytest.mark.slow  # compiles ResNet-18's training step; test_wide_resnet.py's is smaller
def test_preact_resnet18_forward_and_backward():
  model = models.create('preact_resnet18', num_classes=7)
  images = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  _, logits = helpers.forward_backward(model, images, {'dropout': helpers.rbg_key(2)})
  assert logits.shape == (2, 7)
