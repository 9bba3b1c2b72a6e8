"""The registry walk: every registered model builds at its paper's input with the parameter
counts its registration declares, and trains (forward and backward) at a small input.

A model added to the registry later is picked up here without any change; the counts a
paper or a reference model publishes are written once, in the family file's `register`.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from tests.models import helpers


def test_unknown_model_lists_valid_names():
  with pytest.raises(ValueError, match='resnet50'):
    models.create('resnet99')


def test_half_precision_keeps_float32_parameters():
  model = models.create('resnet18', num_classes=10, dtype=jnp.bfloat16)
  images = jnp.zeros((1, 32, 32, 3))
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), images, train=False))
  assert {p.dtype for p in jax.tree.leaves(variables['params'])} == {jnp.dtype('float32')}
  logits = jax.eval_shape(lambda v: model.apply(v, images, train=False), variables)
  assert logits.dtype == jnp.bfloat16


def agrees_with_paper(count: int, printed_millions: str) -> bool:
  """Within 1 % of the paper's count, or equal to it to the precision it prints (ResNet-110's
  1,727,962 is the paper's "1.7M", DenseNet-BC's 769,162 its "0.8M")."""
  reference = float(printed_millions)
  decimals = len(printed_millions.partition('.')[2])
  return (abs(count / 1e6 - reference) <= 0.01 * reference
          or round(count / 1e6, decimals) == reference)


def test_agrees_with_paper_reads_the_printed_precision():
  assert agrees_with_paper(769_162, '0.8') and not agrees_with_paper(769_162, '0.80')
  assert agrees_with_paper(27_559_896, '27.5')  # within 1 %, though it rounds to 27.6
  assert not agrees_with_paper(33_724_618, '38.6')


@pytest.mark.parametrize('name', helpers.every_model())
def test_builds_at_the_paper_input_with_its_published_counts(name):
  """One logit per class at the paper's input, and the declared parameter counts
  (abstractly: one trace of init, no compute)."""
  spec = models.spec(name)
  model = models.create(name, num_classes=spec.num_classes)
  images = jnp.zeros((2, spec.input_size, spec.input_size, spec.channels))
  logits, variables = jax.eval_shape(
      lambda: model.init_with_output(jax.random.key(0), images, train=False))
  assert logits.shape == (2, spec.num_classes)
  count = helpers.count(variables['params'])
  if spec.parameters is not None:
    assert count == spec.parameters
  if spec.paper_parameters is not None:
    assert agrees_with_paper(count, spec.paper_parameters), count


# XLA's compile time grows with the program: ResNet-1202's 2,400 layers (convolutions and
# BatchNorms) take many minutes to compile. Networks of more than EAGER_LAYERS layers with
# variables run op by op instead, where each distinct layer shape is compiled once.
EAGER_LAYERS = 1500


def layers_with_variables(variables) -> int:
  """How many modules hold variables (a convolution, a BatchNorm, a dense layer...)."""
  return len({jax.tree_util.keystr(path[1:-1])
              for path, _ in jax.tree_util.tree_leaves_with_path(variables)})


@pytest.mark.parametrize('name', helpers.every_model(fast=helpers.FAST_TO_TRAIN))
def test_trains_at_a_small_input(name):
  """Runs forward in training mode and backward on a tiny batch, one compiled step."""
  spec = models.spec(name)
  model = models.create(name, num_classes=5)
  size = spec.test_input_size
  images = np.random.default_rng(1).standard_normal((2, size, size, spec.channels),
                                                    dtype=np.float32)
  labels = jnp.array([0, 3])
  variables = helpers.init_with_numpy(model, images, train=False)

  def loss_and_grads(params):
    def loss(params):
      outputs, updates = model.apply({**variables, 'params': params}, images, train=True,
                                     mutable=['batch_stats'],
                                     rngs={'dropout': helpers.rbg_key(2)})
      logits = outputs[0] if isinstance(outputs, tuple) else outputs
      return -jnp.mean(jax.nn.log_softmax(logits.astype(jnp.float32))[jnp.arange(2), labels])
    return jax.value_and_grad(loss)(params)

  if layers_with_variables(variables) <= EAGER_LAYERS:
    loss_and_grads = jax.jit(loss_and_grads)
  value, grads = loss_and_grads(variables['params'])
  assert np.isfinite(value)
  leaves = jax.tree.leaves(grads)
  assert all(np.all(np.isfinite(g)) for g in leaves)
  assert any(np.any(g != 0) for g in leaves)
