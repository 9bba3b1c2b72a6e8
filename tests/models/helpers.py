"""Helpers the model tests share: shapes without compute, numpy-drawn variables, counts.

On a 2-core CPU, compiling JAX's random number generators for every parameter shape of
a network costs more than the network itself, so the tests take their shapes from
`jax.eval_shape` and draw values with numpy; the registry walk (test_registry.py) runs
every model's real initialisers abstractly.
"""

import math
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import layers, summary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# The registry walks' share of the fast subset (pytest -m "not slow"), as measured on two
# CPU cores; the full suite walks every model. Tracing a network of more than about a
# hundred weight layers takes seconds; compiling a training step, seconds for the networks
# below and up to minutes for the deepest.
DEEP_NETWORKS = frozenset({
    'densenet121', 'densenet161', 'densenet169', 'densenet201', 'densenet_bc100_k12',
    'inception_resnet_v2', 'inception_resnet_v2_tfslim', 'inception_v3', 'inception_v4',
    'nasnet_a_large', 'nasnet_a_mobile',
    'preact_resnet164', 'resnet101', 'resnet110', 'resnet110_stochastic_depth', 'resnet1202',
    'resnet152', 'resnext101_32x8d'})
FAST_TO_TRAIN = frozenset({'alexnet_2gpu', 'lenet5', 'lenet5_paper', 'resnet20'})


def every_model(fast=None) -> list:
  """Every registered name, as pytest parameters; those not in `fast` (by default, all but
  DEEP_NETWORKS) are marked slow."""
  fast = set(models.names()) - DEEP_NETWORKS if fast is None else fast
  return [name if name in fast else pytest.param(name, marks=pytest.mark.slow)
          for name in models.names()]


def abstract_init(name: str, image_size: int | None = None, num_classes: int | None = None,
                  **options):
  """Registered model `name` and the shapes of its variables (no compute), at its paper's
  input size and classes unless told otherwise."""
  spec = models.spec(name)
  size = image_size or spec.input_size
  model = models.create(name, num_classes=num_classes or spec.num_classes, **options)
  images = jnp.zeros((1, size, size, spec.channels))
  return model, jax.eval_shape(lambda: model.init(jax.random.key(0), images, train=False))


def abstract_params(name: str, image_size: int | None = None, **options):
  """The shapes of registered model `name`'s parameters (see abstract_init)."""
  return abstract_init(name, image_size, **options)[1]['params']


def count(tree) -> int:
  """How many numbers a tree of arrays (or of shapes) holds: parameters, for a params tree."""
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def concrete_variables(abstract, seed: int = 0):
  """Values for a tree of abstract variables, drawn with numpy: kernels He-scaled (variance
  2/fan-in), BatchNorm scales and running variances 1, everything else 0."""
  rng = np.random.default_rng(seed)

  def value(path, leaf):
    name = jax.tree_util.keystr(path[-1:])
    if 'kernel' in name:
      fan_in = math.prod(leaf.shape[:-1]) or 1
      return (rng.standard_normal(leaf.shape) * math.sqrt(2.0 / fan_in)).astype(leaf.dtype)
    if 'scale' in name or "'var'" in name:
      return np.ones(leaf.shape, leaf.dtype)
    return np.zeros(leaf.shape, leaf.dtype)

  return jax.tree_util.tree_map_with_path(value, abstract)


def init_with_numpy(module: nn.Module, *args, **kwargs):
  """Variables of the shapes `module.init(key, *args, **kwargs)` gives, drawn by
  concrete_variables instead of the module's initialisers."""
  return concrete_variables(jax.eval_shape(
      lambda: module.init(jax.random.key(0), *args, **kwargs)))


def normal(shape, seed: int = 1) -> jax.Array:
  """Standard normal inputs drawn with numpy."""
  return jnp.asarray(np.random.default_rng(seed).standard_normal(shape, dtype=np.float32))


def rbg_key(seed: int) -> jax.Array:
  """A key for dropout and drop-path in compiled steps: the 'rbg' generator compiles far
  faster than the default threefry on CPU; the random functions are the same."""
  return jax.random.key(seed, impl='rbg')


def summary_rows(name: str, **kwargs) -> dict[str, summary.Layer]:
  """The rows of models.summary's table of registered `name`, by layer name."""
  return {layer.name: layer for layer in summary.summarize(name, **kwargs).layers}


def survival_probabilities(model: nn.Module, image_size: int = 32) -> list[float]:
  """The survival probability of every StochasticDepth layer of `model`, in network order."""
  found = []

  def record(next_fun, args, kwargs, context):
    if isinstance(context.module, layers.StochasticDepth) and context.method_name == '__call__':
      found.append(context.module.survival_probability)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    jax.eval_shape(lambda: model.init(jax.random.key(0),
                                      jnp.zeros((1, image_size, image_size, 3)), train=False))
  return found


def lrn_reference(a: np.ndarray, k=2.0, n=5, alpha=1e-4, beta=0.75) -> np.ndarray:
  """Local response normalisation as Krizhevsky et al. 2012 §3.3 write it, a sum over
  the n neighbouring channels."""
  channels = a.shape[-1]
  b = np.empty_like(a)
  for i in range(channels):
    lo, hi = max(0, i - n // 2), min(channels - 1, i + n // 2)
    total = sum(a[..., j]**2 for j in range(lo, hi + 1))
    b[..., i] = a[..., i] / (k + alpha * total)**beta
  return b


def forward_backward(model: nn.Module, images, rngs=None):
  """Training-mode logits of `model` and the gradients of a loss on them, in one compiled
  step from numpy-drawn variables; asserts every gradient is finite and non-zero."""
  variables = init_with_numpy(model, images, train=False)

  def loss(params):
    logits, _ = model.apply({**variables, 'params': params}, images, train=True,
                            mutable=['batch_stats'], rngs=rngs)
    return jnp.mean(logits**2), logits

  (_, logits), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(variables['params'])
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  assert all(np.any(g != 0) for g in jax.tree.leaves(grads))
  return variables, logits


def training_logits(name: str, seeds=(0, 1), image_size: int = 32, num_classes: int = 10):
  """Logits of registered `name` in training mode on two fixed images, one array per
  'dropout' seed, from one compiled step."""
  model = models.create(name, num_classes=num_classes)
  images = np.random.default_rng(1).standard_normal((2, image_size, image_size, 3),
                                                    dtype=np.float32)
  # On the device once, and passed as arguments: not copied at every call, nor folded
  # into the compiled program as constants.
  variables = jax.device_put(init_with_numpy(model, images, train=False))

  @jax.jit
  def logits(variables, seed):
    outputs, _ = model.apply(variables, images, train=True, mutable=['batch_stats'],
                             rngs={'dropout': rbg_key(seed)})
    return outputs

  return [logits(variables, seed) for seed in seeds]


def training_and_evaluation_outputs(name: str, num_classes: int = 10):
  """The output shapes of registered `name` in training and in evaluation mode at its
  paper's input (abstractly), and its variables' shapes."""
  model, variables = abstract_init(name, num_classes=num_classes)
  size = models.spec(name).input_size
  images = jnp.zeros((2, size, size, 3))
  training = jax.eval_shape(lambda v: model.apply(
      v, images, train=True, mutable=['batch_stats'], rngs={'dropout': jax.random.key(1)})[0],
                            variables)
  evaluation = jax.eval_shape(lambda v: model.apply(v, images, train=False), variables)
  return variables, training, evaluation
