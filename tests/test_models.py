"""Models: the registry, parameter counts of the papers, forward and backward passes."""

import jax
import jax.numpy as jnp
import pytest

import models

# Parameter counts at the papers' input sizes (ImageNet models: 1000 classes).
REFERENCE_PARAMETERS = {
    # LeNet-5 with full C3 connections: 156 + 2,416 + 48,120 + 10,164 + 850.
    ('lenet5', 10, 32, 1): 61_706,
    ('resnet18', 1000, 224, 3): 11_689_512,
    ('resnet34', 1000, 224, 3): 21_797_672,
    ('resnet50', 1000, 224, 3): 25_557_032,
    ('resnet101', 1000, 224, 3): 44_549_160,
    ('resnet152', 1000, 224, 3): 60_192_808,
    ('resnet50_v1', 1000, 224, 3): 25_557_032,
    # He et al. 2016 §4.2: 0.27 M and 1.7 M; option-A shortcuts add nothing.
    ('resnet20', 10, 32, 3): 269_722,
    ('resnet110', 10, 32, 3): 1_727_962,
}


def abstract_variables(model, image_size, channels):
  return jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, image_size, image_size, channels)), train=False))


@pytest.mark.parametrize('key', sorted(REFERENCE_PARAMETERS), ids=lambda k: k[0])
def test_parameter_count_matches_paper(key):
  name, num_classes, image_size, channels = key
  variables = abstract_variables(models.create(name, num_classes=num_classes), image_size,
                                 channels)
  count = sum(p.size for p in jax.tree.leaves(variables['params']))
  assert count == REFERENCE_PARAMETERS[key]


def test_unknown_model_lists_valid_names():
  with pytest.raises(ValueError, match='resnet50'):
    models.create('resnet99')


@pytest.mark.parametrize('name', ['lenet5', 'resnet18', 'resnet20', 'plain20'])
def test_forward_and_backward(name):
  model = models.create(name, num_classes=7)
  images = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
  variables = jax.jit(lambda: model.init(jax.random.key(0), images, train=False))()

  def loss(params):
    logits, _ = model.apply({**variables, 'params': params}, images, train=True,
                            mutable=['batch_stats'])
    return jnp.mean(logits**2)

  grads = jax.jit(jax.grad(loss))(variables['params'])
  assert jax.jit(model.apply)(variables, images).shape == (2, 7)
  assert all(jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads))
  assert any(jnp.any(g != 0) for g in jax.tree.leaves(grads))


def test_half_precision_keeps_float32_parameters():
  model = models.create('resnet18', num_classes=10, dtype=jnp.bfloat16)
  images = jnp.zeros((1, 32, 32, 3))
  variables = model.init(jax.random.key(0), images, train=False)
  assert {p.dtype for p in jax.tree.leaves(variables['params'])} == {jnp.dtype('float32')}
  assert model.apply(variables, images, train=False).dtype == jnp.bfloat16


def test_zero_init_last_bn_makes_blocks_start_as_identity():
  model = models.create('resnet18', num_classes=10, zero_init_last_bn=True)
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False)
  last_scale = variables['params']['BasicBlock_0']['BatchNorm_1']['scale']
  assert jnp.all(last_scale == 0)
