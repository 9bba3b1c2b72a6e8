"""VGG (Simonyan & Zisserman 2015): the lecture's VGG-16 table, BatchNorm, and the lecture's
ablations, configuration A-LRN and one large convolution per stage (§2.3)."""

import math

import jax
import numpy as np
import pytest

from models import summary
from models.vgg import CONFIGURATIONS, STAGE_FILTERS
from tests.models import helpers


def test_vgg16_lecture_table():
  table = helpers.summary_rows('vgg16')
  params = helpers.abstract_params('vgg16')
  assert table['conv1_1'].output_shape == (224, 224, 64)
  assert params['conv1_1']['kernel'].size == 1_728
  assert table['conv1_1'].params == 1_792
  assert params['fc6']['kernel'].size == 102_760_448
  assert table['fc6'].params == 102_764_544
  assert table['pool5'].output_shape == (7, 7, 512)
  convs = [name for name in table if name.startswith('conv')]
  assert len(convs) == 13 and len([n for n in table if n.startswith('fc')]) == 3
  assert summary.summarize('vgg16').total_macs == 15_470_264_320


def test_vgg_bn_normalises_every_convolution_and_flattens_small_inputs():
  table = helpers.summary_rows('vgg16_bn', image_size=32)
  assert len([n for n in table if n.startswith('bn')]) == 13
  assert table['pool5'].output_shape == (1, 1, 512)
  assert table['fc6'].params == 512 * 4096 + 4096


# --- A-LRN ----------------------------------------------------------------------------------


def test_vgg11_lrn_adds_no_parameters():
  lrn, plain = (jax.tree.map(lambda leaf: leaf.shape, helpers.abstract_params(name))
                for name in ('vgg11_lrn', 'vgg11'))
  assert lrn == plain


def test_vgg11_lrn_normalises_after_the_first_convolution_only():
  """Table 1, A-LRN: conv3-64, LRN, maxpool; then A's layers."""
  rows = [(row.name, row.type) for row in summary.summarize('vgg11_lrn', 32).layers]
  assert rows[1:4] == [('conv1_1', 'Conv'), ('lrn1', 'LocalResponseNorm'), ('pool1', 'MaxPool')]
  assert [type_ for _, type_ in rows].count('LocalResponseNorm') == 1
  plain = [row for row in rows if row[0] != 'lrn1']
  assert plain == [(row.name, row.type) for row in summary.summarize('vgg11', 32).layers]


# --- One convolution per stage --------------------------------------------------------------


def stage_weights(params, stage):
  """The convolution weights (no biases) of VGG stage `stage` (1 to 5)."""
  return sum(math.prod(layer['kernel'].shape) for name, layer in params.items()
             if name.startswith(f'conv{stage}_'))


def test_three_stacked_3x3_convolutions_hold_27_c_squared_weights_one_7x7_49():
  """§2.3: three 3×3 layers of C channels, 3·(3²C²) = 27C²; one 7×7 layer, 49C²."""
  stacked = helpers.abstract_params('vgg16')
  single = helpers.abstract_params('vgg16_one_conv_per_stage')
  c = 512
  assert stage_weights(stacked, 5) == 27 * c**2
  assert stage_weights(single, 5) == 49 * c**2
  assert [stacked[f'conv5_{i}']['kernel'].shape for i in (1, 2, 3)] == [(3, 3, c, c)] * 3
  assert single['conv5_1']['kernel'].shape == (7, 7, c, c)
  assert 'conv5_2' not in single
  # D's stages of 2, 2, 3, 3, 3 convolutions become 5×5, 5×5, 7×7, 7×7, 7×7.
  kernels = [single[f'conv{stage}_1']['kernel'].shape[0] for stage in range(1, 6)]
  assert kernels == [5, 5, 7, 7, 7]


@pytest.mark.parametrize('stacked_name, single_name', [
    ('vgg16', 'vgg16_one_conv_per_stage'), ('vgg16_bn', 'vgg16_bn_one_conv_per_stage')])
def test_one_conv_per_stage_parameter_difference(stacked_name, single_name):
  """The totals differ by the convolutions alone: (2n+1)² C_in C weights instead of
  9 (C_in C + (n-1) C²) per stage, and one bias (and BatchNorm) per stage instead of n."""
  per_channel = 3 if stacked_name.endswith('_bn') else 1  # bias, and BN scale and offset
  expected = 0
  in_channels = 3
  for filters, n in zip(STAGE_FILTERS, CONFIGURATIONS[16]):
    stack = 9 * (in_channels * filters + (n - 1) * filters**2) + per_channel * n * filters
    one = (2 * n + 1)**2 * in_channels * filters + per_channel * filters
    expected += one - stack
    in_channels = filters
  stacked = helpers.count(helpers.abstract_params(stacked_name))
  single = helpers.count(helpers.abstract_params(single_name))
  assert single - stacked == expected == (6_369_600 if per_channel == 1 else 6_364_096)


@pytest.mark.parametrize('name', [
    'vgg11_lrn', pytest.param('vgg16_one_conv_per_stage', marks=pytest.mark.slow),
    pytest.param('vgg16_bn_one_conv_per_stage', marks=pytest.mark.slow)])
def test_forward_in_training_mode_at_32_pixels(name):
  logits, other_seed = helpers.training_logits(name)
  assert logits.shape == (2, 10) and np.all(np.isfinite(logits))
  assert not np.allclose(logits, other_seed)  # dropout of the FC layers draws from the rng
