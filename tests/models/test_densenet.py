"""DenseNet (Huang et al. 2017): dense growth by k channels, compression in the
transitions, Table 1's block widths and the CIFAR DenseNet-BC counted by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.densenet import DenseBlock, DenseNet, Transition
from tests.models import helpers


def densenet_bc_cifar_count(layers_per_block, k, num_classes):
  """DenseNet-BC on CIFAR counted by hand: stem 3×3 conv to 2k; per dense layer on c inputs
  BN(c) + 1×1 conv c->4k + BN(4k) + 3×3 conv 4k->k; per transition BN(c) + 1×1 conv c->c/2;
  final BN + linear classifier."""
  channels, total = 2 * k, 3 * 3 * 3 * 2 * k
  for block in range(3):
    for _ in range(layers_per_block):
      total += 2 * channels + channels * 4 * k + 2 * 4 * k + 9 * 4 * k * k
      channels += k
    if block < 2:
      total += 2 * channels + channels * (channels // 2)
      channels //= 2
  return total + 2 * channels + channels * num_classes + num_classes


@pytest.mark.slow  # a deep network
def test_densenet_bc100_k12_is_the_network_of_section_4():
  # Its count agrees with the paper's Table 2 (test_registry.py); here, with the layers.
  params = helpers.count(helpers.abstract_params('densenet_bc100_k12'))
  assert params == densenet_bc_cifar_count(16, 12, 10)


def test_dense_block_grows_by_k_channels_per_layer():
  block = DenseBlock(num_layers=3, growth_rate=5)
  x = helpers.normal((2, 8, 8, 7))
  variables = helpers.init_with_numpy(block, x)
  y = jax.jit(block.apply)(variables, x)
  assert y.shape == (2, 8, 8, 7 + 3 * 5)
  # Concatenation keeps the block's input as its first channels (Eq. 2).
  np.testing.assert_array_equal(y[..., :7], x)
  # Each layer's 1×1 bottleneck sees every earlier feature map: 7, 12, then 17 channels.
  bottleneck_inputs = [variables['params'][f'DenseLayer_{i}']['Conv_0']['kernel'].shape[2]
                       for i in range(3)]
  assert bottleneck_inputs == [7, 12, 17]


def test_transition_compresses_and_halves_the_map():
  transition = Transition(filters=11)
  x = jnp.ones((1, 8, 8, 22))
  assert jax.eval_shape(lambda: transition.apply(transition.init(jax.random.key(0), x), x)
                        ).shape == (1, 4, 4, 11)


@pytest.mark.slow  # a deep network
def test_densenet121_block_outputs_follow_table1():
  # 64 + 6·32 = 256 -> 128; 128 + 12·32 = 512 -> 256; 256 + 24·32 = 1024 -> 512; 512 + 16·32.
  params = helpers.abstract_params('densenet121')
  transitions = [params[f'transition{i}']['Conv_0']['kernel'].shape[2:] for i in (1, 2, 3)]
  assert transitions == [(256, 128), (512, 256), (1024, 512)]
  assert params['classifier']['kernel'].shape == (1024, 1000)


def test_densenet_forward_and_backward_under_jit():
  # A small DenseNet-BC on CIFAR input (densenet_bc100_k12 has the same code, more layers).
  model = DenseNet(block_sizes=(2, 2, 2), growth_rate=4, imagenet_stem=False, num_classes=10)
  _, logits = helpers.forward_backward(model, helpers.normal((2, 32, 32, 3)))
  assert logits.shape == (2, 10)
