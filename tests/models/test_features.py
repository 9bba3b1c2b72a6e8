"""models/features.py: every registered network's stage maps (shapes, channels and the
reductions its family declares, from shapes alone), the maps of converted weights against
torchvision's `create_feature_extractor` at timm's `features_only` points, the refusal of
stages a network does not have, and the head left unbuilt."""

import json
import os

import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import models
from models import features
from tests import parity
from tests.models import helpers
from trained import convert

FIXTURES = os.path.join(helpers.REPO, 'tests', 'fixtures', 'features')
PARITY_NETWORKS = sorted(name[:-len('.npz')] for name in os.listdir(FIXTURES)
                         if name.endswith('.npz'))
# Compiling these takes 8-10 s each on two cores: the full suite only.
SLOW_PARITY = {'densenet121', 'inception_v3_torchvision'}
# The maps, in float32 here and float64 in torch, differ by at most 1.4e-5 of the map's
# largest |value| (mobilenet_v2's last stage; 1e-6 or less for the others).
TOLERANCE = 1e-4
# Tracing these takes seconds: traced once, in the full suite only.
SLOW_TO_TRACE = helpers.DEEP_NETWORKS


def stage_maps(name: str, image_size: int) -> list[features.StageMap]:
  """The stage maps of registered network `name`, their values as shapes (jax.eval_shape)."""
  network = models.create(name)
  images = jax.ShapeDtypeStruct((1, image_size, image_size, models.spec(name).channels),
                                jnp.float32)
  recorded = []

  def maps(images):
    def run(module, images):
      recorded[:] = features.stage_maps(module, images)
      return [m.value for m in recorded]
    return flax.linen.init_with_output(run, network)(jax.random.key(0), images)[0]

  shapes = jax.eval_shape(maps, images)
  return [features.StageMap(m.module, m.reduction, shape.shape)
          for m, shape in zip(recorded, shapes)]


def check_stage_list(maps: list[features.StageMap], name: str) -> None:
  assert len(maps) >= 3, name
  assert len({m.module for m in maps}) == len(maps), 'stage names are unique'
  reductions = [m.reduction for m in maps]
  assert reductions == sorted(reductions) and reductions[-1] >= 4, name


@pytest.mark.parametrize('name', sorted(set(models.names()) - SLOW_TO_TRACE))
def test_stage_maps_have_the_declared_channels_and_reductions(name):
  """A map of reduction r grows by d / r pixels on a side when the input grows by d (a
  multiple of every r): exact whatever the padding, where input / map is not (Inception's
  'VALID' stem: 299 px gives 35×35 at reduction 8)."""
  size = models.spec(name).test_input_size
  small = stage_maps(name, size)
  largest = max(m.reduction for m in small)
  large = stage_maps(name, size + 2 * largest)
  check_stage_list(small, name)
  for before, after in zip(small, large):
    assert before.module == after.module and before.value[-1] == after.value[-1]
    assert before.value[1] == before.value[2] and after.value[1] == after.value[2], before
    assert (after.value[1] - before.value[1]) * before.reduction == 2 * largest, (before, after)


@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(SLOW_TO_TRACE))
def test_deep_networks_stage_maps_have_the_declared_reductions(name):
  """One trace at the paper's input (tracing these takes seconds): input / map is the
  declared reduction within the few pixels 'VALID' convolutions take at the borders."""
  size = models.spec(name).input_size
  maps = stage_maps(name, size)
  check_stage_list(maps, name)
  for m in maps:
    assert m.reduction / 2**0.5 < size / m.value[1] < m.reduction * 2**0.5, m


def test_stage_points_match_timms_features_only():
  """feature_info's channels and reductions are timm's for the same network (recorded by
  the fixture script); the module names are this project's layers."""
  for name in PARITY_NETWORKS:
    meta = json.loads(str(np.load(os.path.join(FIXTURES, f'{name}.npz'))['meta']))
    infos = features.feature_info(name)
    assert [info.index for info in infos] == list(range(len(infos)))
    ours = [(info.channels, info.reduction) for info in infos]
    timms = [(info['channels'], info['reduction']) for info in meta['timm_feature_info']]
    assert ours == timms, name


def converted_extractor(meta: dict):
  """models.features' extractor of the fixture's network, and its variables converted from
  the fixture's seeded torchvision weights (up to the last stage) by trained.convert."""
  name = meta['model']
  extractor = features.create(name)
  state_dict = parity.seeded_state_dict(meta['tensors'], meta['weight_seed'])
  source = convert.SOURCES[name]
  variables = convert.convert_state_dict(state_dict, name, extractor, meta['input_size'],
                                         source.registered_last)
  return extractor, variables


@pytest.mark.parametrize('name', [pytest.param(name, marks=pytest.mark.slow)
                                  if name in SLOW_PARITY else name for name in PARITY_NETWORKS])
def test_converted_weights_give_torchvisions_stage_maps(name):
  data = np.load(os.path.join(FIXTURES, f'{name}.npz'))
  meta = json.loads(str(data['meta']))
  extractor, variables = converted_extractor(meta)
  images = parity.seeded_input(meta['batch'], meta['input_size'], meta['input_seed'])
  maps = jax.jit(extractor.apply)(variables, jnp.asarray(images.transpose(0, 2, 3, 1)))
  assert len(maps) == len(meta['nodes'])
  for index, value in enumerate(maps):
    value = np.asarray(value, np.float64)
    assert value.shape == tuple(data[f'stage{index}_shape']), (name, index)
    scale = float(data[f'stage{index}_max_abs'])
    sampled = value.reshape(-1)[data[f'stage{index}_indices']]
    error = np.abs(sampled - data[f'stage{index}_values']).max() / scale
    assert error < TOLERANCE, f'{name} stage {index}: {error:.2e}'
    means = value.mean(axis=(0, 1, 2))
    error = np.abs(means - data[f'stage{index}_channel_means']).max() / scale
    assert error < TOLERANCE, f'{name} stage {index} channel means: {error:.2e}'


@pytest.mark.parametrize('stages, fragment', [
    ((5,), 'resnet18 has no stage 5: its 5 stage maps are 0 act1 /2, 1 layer1 /4, 2 layer2 /8, '
           '3 layer3 /16, 4 layer4 /32 (indices 0..4, or -5..-1 from the end)'),
    ((-6,), 'resnet18 has no stage -6: its 5 stage maps are 0 act1 /2'),
    ((), 'resnet18 was asked for no stage: its 5 stage maps are'),
    (('layer9',), "resnet18 has no stage 'layer9': its 5 stage maps are 0 act1 /2"),
])
def test_stages_a_network_does_not_have_are_refused_naming_the_valid_ones(stages, fragment):
  with pytest.raises(features.StageIndexError) as error:
    features.create('resnet18', out_indices=stages)
  assert fragment in str(error.value) and '\n' not in str(error.value)
  assert isinstance(error.value, ValueError)


def test_the_module_alone_refuses_stages_when_it_runs():
  extractor = features.Features(models.create('resnet18'), (7,))
  with pytest.raises(features.StageIndexError, match=r'ResNet has no stage 7: its 5 stage maps'):
    jax.eval_shape(lambda: extractor.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))


def test_out_indices_by_name_or_from_the_end_in_the_order_given():
  extractor = features.create('resnet18', out_indices=('layer4', 1, -2))
  assert extractor.out_indices == (4, 1, 3)
  shapes = jax.eval_shape(lambda x: extractor.init_with_output(jax.random.key(0), x)[0],
                          jax.ShapeDtypeStruct((2, 64, 64, 3), jnp.float32))
  assert [s.shape for s in shapes] == [(2, 2, 2, 512), (2, 16, 16, 64), (2, 4, 4, 256)]
  assert features.parse_stages(' 3, -1,stem/conv2b ') == (3, -1, 'stem/conv2b')


@pytest.mark.parametrize('name, out_indices, absent', [
    ('resnet18', (1,), {'fc', 'BasicBlock_2'}),  # layer1's two blocks only
    ('vgg11', (5,), {'fc6', 'fc7', 'fc8'}),
    ('inception_v3', (4,), {'aux', 'fc'}),  # no auxiliary head either
    ('googlenet', (4,), {'aux1', 'aux2', 'fc'}),
])
def test_the_extractor_builds_the_network_up_to_its_last_stage_only(name, out_indices, absent):
  """Its variables are the whole network's, same paths and shapes, less the head (and
  the layers after the last stage asked for): a checkpoint of the network loads by path."""
  size = models.spec(name).input_size
  images = jnp.zeros((1, size, size, 3))
  whole = jax.eval_shape(lambda: models.create(name).init(jax.random.key(0), images))
  cut = jax.eval_shape(lambda: features.create(name, out_indices).init(jax.random.key(0),
                                                                       images))
  whole_paths = flax.traverse_util.flatten_dict(whole['params'])
  cut_paths = flax.traverse_util.flatten_dict(cut['params'])
  assert all(whole_paths[path].shape == leaf.shape for path, leaf in cut_paths.items())
  assert absent <= {path[0] for path in whole_paths} - {path[0] for path in cut_paths}


def test_a_linear_probe_pools_and_concatenates_the_chosen_stages():
  probe = features.linear_probe('resnet18', ('layer3', 4), num_classes=7)
  variables = jax.eval_shape(lambda: probe.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3))))
  assert variables['params']['probe']['kernel'].shape == (256 + 512, 7)
  assert 'fc' not in variables['params'] and 'conv1' in variables['params']
  assert probe.stages == (3, 4)
