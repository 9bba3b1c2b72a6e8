"""The registry walk: every registered model builds at its paper's input size with its
paper's parameter count, and trains (forward and backward) at a small input.

A model added to the registry later is picked up here without any change.
"""

import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import __main__ as models_main
from models import summary

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Parameter counts (weights and biases, the paper's classes) that define the
# variant exactly: the code must reproduce them to the parameter.
EXACT_PARAMETERS = {
    'lenet5': 61_706,
    'lenet5_paper': 60_000,  # LeCun et al. 1998: "60,000 trainable parameters"
    'alexnet': 62_378_344,  # the lecture's one-tower AlexNet
    'alexnet_2gpu': 60_965_224,  # the paper's two towers: its "60 million"
    'vgg11': 132_863_336,
    'vgg13': 133_047_848,
    'vgg16': 138_357_544,
    'vgg19': 143_667_240,
    'vgg11_bn': 132_868_840,
    'vgg13_bn': 133_053_736,
    'vgg16_bn': 138_365_992,
    'vgg19_bn': 143_678_248,
    'vgg11_lrn': 132_863_336,  # LRN has no parameters: A-LRN equals A
    'vgg16_one_conv_per_stage': 144_727_144,
    'vgg16_bn_one_conv_per_stage': 144_730_088,
    'googlenet_naive': 104_274_376,  # with its auxiliary heads
    'resnet18': 11_689_512,
    'resnet34': 21_797_672,
    'resnet50': 25_557_032,
    'resnet50_v1': 25_557_032,
    'resnet101': 44_549_160,
    'resnet152': 60_192_808,
    'wide_resnet50_2': 68_883_240,
    'resnext50_32x4d': 25_028_904,
    'resnext101_32x8d': 88_791_336,
    'densenet121': 7_978_856,
    'densenet161': 28_681_000,
    'densenet169': 14_149_480,
    'densenet201': 20_013_928,
    'mobilenet_v2': 3_504_872,
    'mobilenet_v3_large': 5_483_032,
    'mobilenet_v3_small': 2_542_856,
    'inception_v3': 27_161_264,  # with its auxiliary head
}

# Counts the papers give rounded, in millions as printed: the code must agree
# within 1 % or to the paper's own precision (ResNet-110's 1,727,962 is the
# paper's "1.7M", DenseNet-BC's 769,162 its "0.8M").
PAPER_MILLIONS = {
    'resnet20': '0.27',
    'resnet56': '0.85',
    'resnet110': '1.7',
    'preact_resnet164': '1.7',
    'wrn28_10': '36.5',
    'densenet_bc100_k12': '0.8',
    'mobilenet_v1': '4.2',
    'se_resnet50': '28.1',
    'se_resnext50_32x4d': '27.5',
    'inception_v4': '42.7',
}


def parameter_count(name: str) -> int:
  spec = models.spec(name)
  model = models.create(name, num_classes=spec.num_classes)
  variables = jax.eval_shape(lambda: model.init(
      jax.random.key(0), jnp.zeros((1, spec.input_size, spec.input_size, spec.channels)),
      train=False))
  return sum(math.prod(p.shape) for p in jax.tree.leaves(variables['params']))


def agrees_with_paper(count: int, printed_millions: str) -> bool:
  reference = float(printed_millions)
  decimals = len(printed_millions.partition('.')[2])
  return (abs(count / 1e6 - reference) <= 0.01 * reference
          or round(count / 1e6, decimals) == reference)


@pytest.mark.parametrize('name', sorted(EXACT_PARAMETERS))
def test_exact_parameter_count(name):
  assert parameter_count(name) == EXACT_PARAMETERS[name]


@pytest.mark.parametrize('name', sorted(PAPER_MILLIONS))
def test_parameter_count_agrees_with_paper(name):
  count = parameter_count(name)
  assert agrees_with_paper(count, PAPER_MILLIONS[name]), count


def test_reference_tables_name_registered_models():
  assert set(EXACT_PARAMETERS) | set(PAPER_MILLIONS) <= set(models.names())


@pytest.mark.parametrize('name', models.names())
def test_full_size_output_shape(name):
  """At the paper's input the network yields one logit per class (abstractly, no compute)."""
  spec = models.spec(name)
  model = models.create(name, num_classes=spec.num_classes)
  images = jnp.zeros((2, spec.input_size, spec.input_size, spec.channels))
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), images, train=False))
  logits = jax.eval_shape(lambda v: model.apply(v, images, train=False), variables)
  assert logits.shape == (2, spec.num_classes)


EAGER_LAYERS = 1500


def concrete_variables(abstract, seed: int = 0):
  """Values for abstract variables, drawn with numpy: kernels He-scaled, BatchNorm
  scales and variances 1, everything else 0.

  The model's own initialisers are traced by jax.eval_shape (the init is checked
  at full size above); drawing with numpy avoids compiling the random number
  generators, which on CPU costs more than the network itself.
  """
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


@pytest.mark.parametrize('name', models.names())
def test_trains_at_a_small_input(name):
  """Runs forward in training mode and backward on a tiny batch, one compiled step."""
  spec = models.spec(name)
  model = models.create(name, num_classes=5)
  size = spec.test_input_size
  images = np.random.default_rng(1).standard_normal((2, size, size, spec.channels),
                                                    dtype=np.float32)
  labels = jnp.array([0, 3])
  variables = concrete_variables(jax.eval_shape(
      lambda: model.init(jax.random.key(0), images, train=False)))

  def loss_and_grads(params):
    def loss(params):
      outputs, updates = model.apply({**variables, 'params': params}, images, train=True,
                                     mutable=['batch_stats'],
                                     rngs={'dropout': jax.random.key(2, impl='rbg')})
      logits = outputs[0] if isinstance(outputs, tuple) else outputs
      return -jnp.mean(jax.nn.log_softmax(logits.astype(jnp.float32))[jnp.arange(2), labels])
    return jax.value_and_grad(loss)(params)

  # XLA's compile time grows with the program: ResNet-1202's 2,400 layers (convolutions and BatchNorms) take
  # many minutes to compile. Run op by op instead, where each distinct layer
  # shape is compiled once, for networks of more than EAGER_LAYERS layers.
  if len(summary.summarize(name).layers) <= EAGER_LAYERS:
    loss_and_grads = jax.jit(loss_and_grads)
  value, grads = loss_and_grads(variables['params'])
  assert np.isfinite(value)
  leaves = jax.tree.leaves(grads)
  assert all(np.all(np.isfinite(g)) for g in leaves)
  assert any(np.any(g != 0) for g in leaves)


@pytest.mark.parametrize('name', models.names())
def test_summary_accounts_for_every_parameter(name):
  """The per-layer table's rows add up to the model's parameters."""
  table = summary.summarize(name)
  assert sum(layer.params for layer in table.layers) == table.total_params
  assert table.total_macs > 0


def test_summary_cli_prints_the_lecture_numbers_as_json():
  result = subprocess.run([sys.executable, '-m', 'models', 'summary', 'alexnet', '--json'],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  table = json.loads(result.stdout)
  assert set(table) == {'model', 'image_size', 'total_params', 'total_macs',
                        'total_activations', 'layers'}
  assert table['image_size'] == 227 and table['total_params'] == 62_378_344
  conv1 = next(layer for layer in table['layers'] if layer['name'] == 'conv1')
  assert conv1['output_shape'] == [55, 55, 96] and conv1['params'] == 34_944
  assert set(conv1) == {'name', 'type', 'output_shape', 'params', 'macs', 'activations'}


def test_summary_cli_rejects_an_unknown_model_in_one_line():
  result = subprocess.run([sys.executable, '-m', 'models', 'summary', 'resnet99'], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith("error: unknown model 'resnet99'")


def test_list_names_every_model_with_its_parameters(capsys):
  models_main.list_models()
  lines = capsys.readouterr().out.strip().splitlines()[1:]
  assert [line.split()[0] for line in lines] == models.names()
  resnet50 = next(line for line in lines if line.startswith('resnet50 '))
  assert '25,557,032' in resnet50 and '224×224×3' in resnet50
