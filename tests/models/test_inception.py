"""Inception v3, Inception-v4 and Inception-ResNet-v2: the auxiliary head of v3 and the
residual projections of Inception-ResNet-v2. The networks are deep: every test is slow."""

import jax
import pytest

from tests.models import helpers

pytestmark = pytest.mark.slow


def test_inception_v3_auxiliary_head_exists_after_init_and_runs_only_in_training():
  variables, training, evaluation = helpers.training_and_evaluation_outputs('inception_v3')
  assert 'aux' in variables['params']
  assert isinstance(training, tuple) and len(training) == 2
  assert all(logits.shape == (2, 10) for logits in training)
  assert isinstance(evaluation, jax.ShapeDtypeStruct) and evaluation.shape == (2, 10)


def test_inception_v3_parameters_without_the_auxiliary_head():
  params = helpers.abstract_params('inception_v3')
  assert helpers.count({k: v for k, v in params.items() if k != 'aux'}) == 23_834_568
  # The auxiliary head's batch-normalised 5×5 'fully connected' layer (§7, BN-auxiliary).
  assert params['aux']['fc']['conv']['kernel'].shape == (5, 5, 128, 768)
  assert 'bn' in params['aux']['fc']


def test_inception_resnet_v2_projections_keep_the_width():
  """The figures' 1154 and 2048 cannot be added to 1152 and 2144 channels: see the docstring."""
  params = helpers.abstract_params('inception_resnet_v2')
  assert params['block_a1']['projection']['kernel'].shape == (1, 1, 128, 384)
  assert params['block_b1']['projection']['kernel'].shape == (1, 1, 384, 1152)
  assert params['block_c1']['projection']['kernel'].shape == (1, 1, 448, 2144)
  assert 'bias' in params['block_b1']['projection']  # "Linear": bias, no BatchNorm
