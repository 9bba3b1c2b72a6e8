"""Behaviour shared by the models: the registry's answers, half precision, zero-init BN.

Parameter counts and the forward/backward walk over every model are in test_zoo.py."""

import jax
import jax.numpy as jnp
import pytest

import models


def test_unknown_model_lists_valid_names():
  with pytest.raises(ValueError, match='resnet50'):
    models.create('resnet99')


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
