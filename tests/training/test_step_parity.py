"""training.steps' train step takes torch's training steps: loss, gradients (momentum),
parameters and BatchNorm's running statistics, from the same converted weights and batch.

Each fixture (tests/fixtures/step_parity/, made by make_step_fixtures.py with torch) holds
two steps of SGD with momentum and weight decay of a torchvision network in float64 and
train mode: the loss of each step and, after each, every tensor of the state dict and
every momentum buffer as its norm and its values at seeded positions. Here the same
seeded weights go through trained.convert into the registry network, in float64 too, and
the project's own train step (compile_steps; create_optimizer: SGD, a constant rate,
kernels decayed) runs on a one-device mesh.

What differs, measured (float64, batch 4 at 32×32: the last BatchNorms see n = 4
positions per channel), as the largest relative difference over the leaves of a kind:
  * step 1: at most 7e-10 (mobilenet_v2's gradients, the most sensitive to rounding:
    see step 2); resnet18 6e-13, densenet121 7e-11; running statistics 3e-13 at most.
  * step 2: up to 4.5e-7 (mobilenet_v2's gradients; densenet121 8e-9, resnet18 4e-12):
    the first step's rounding, amplified. In torch itself, scaling the initial weights
    by 1 + 1e-12 moves mobilenet_v2's second-step gradients by 4.7e-5.
  * with flax's BatchNorm, whose running variance takes the biased batch variance, the
    running variances were 8.0e-2 (resnet18), 7.6e-2 (densenet121) and 2.0e-1
    (mobilenet_v2) off torch's after the first step (every other leaf as above).
"""

import json
import os

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import numpy as np
import optax
import pytest

from configs import default
import models
from trained import convert
from tests import parity
from training import optimizers, steps

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        'fixtures', 'step_parity')
NETWORKS = ('resnet18', 'densenet121', 'mobilenet_v2')
RUNNING_STATISTICS = ('running_mean', 'running_var')
KINDS = ('loss', 'params', 'momentum') + RUNNING_STATISTICS

# The largest relative difference allowed after each step (measured: see above).
TOLERANCES = {1: 1e-8, 2: 1e-5}
# Leaves are measured against FLOOR × the largest value of their kind where that is
# larger than their own (largest_differences).
FLOOR = 1e-6


def load(name: str) -> tuple[dict, dict]:
  with open(os.path.join(FIXTURES, f'{name}.json')) as file:
    record = json.load(file)
  with np.load(os.path.join(FIXTURES, f'{name}.npz')) as arrays:
    return record, dict(arrays)


def sampled_positions(record: dict, arrays: dict) -> dict[str, np.ndarray]:
  """The fixture's flat positions (torch's layout) of each floating-point tensor."""
  sizes = {name: min(int(np.prod(shape)), record['samples'])
           for name, shape, dtype in record['tensors'] if dtype.startswith('float')}
  split = np.split(arrays['positions'].astype(np.int64), np.cumsum(list(sizes.values()))[:-1])
  return dict(zip(sizes, split))


def converted_positions(record: dict, model, positions: dict) -> dict[str, tuple]:
  """Where the converter puts the sampled elements of each torch tensor: name ->
  (the variable's path, collection first; flat positions in it).

  The state dict converted holds codes, each element's index in the whole state dict
  (exact in float32 below 2**24 elements), so that the converter's own layouts decide.
  """
  offsets, codes, start = {}, {}, 0
  for name, shape, dtype in record['tensors']:
    if dtype.startswith('float'):
      size = int(np.prod(shape))
      offsets[name] = start
      codes[name] = np.arange(start, start + size, dtype=np.float64).reshape(shape)
      start += size
    else:
      codes[name] = np.zeros(shape, dtype)
  assert start < 2**24, 'codes past float32\'s exact integers'
  converted = convert.convert_state_dict(codes, record['model'], model, record['input_size'])
  names = sorted(offsets, key=offsets.get)
  starts = np.array([offsets[name] for name in names])
  found = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(converted)[0]:
    flat = np.asarray(leaf).ravel().astype(np.int64)
    owner = names[int(np.searchsorted(starts, flat[0], side='right')) - 1]
    within = flat - offsets[owner]
    assert within.min() >= 0 and within.max() < flat.size  # one tensor fills the variable
    inverse = np.empty(flat.size, np.int64)
    inverse[within] = np.arange(flat.size)
    found[owner] = (tuple(key.key for key in path), inverse[positions[owner]])
  assert sorted(found) == sorted(positions)
  return found


def leaf_at(tree, path: tuple) -> np.ndarray:
  for key in path:
    tree = tree[key]
  return np.asarray(tree, np.float64).ravel()


def momentum_of(opt_state):
  """The SGD momentum buffers (optax's trace) in the optimiser's state."""
  is_trace = lambda state: isinstance(state, optax.TraceState)
  traces = [state for state in jax.tree.leaves(opt_state, is_leaf=is_trace) if is_trace(state)]
  assert len(traces) == 1
  return traces[0].trace


def relative(actual, expected, scale: float = 0.0) -> float:
  """max |actual - expected| / max |expected|, or / `scale` where that is larger."""
  return float(np.abs(np.subtract(actual, expected)).max()
               / max(np.abs(expected).max(), scale, 1e-300))


def largest_differences(compared: list[tuple]) -> dict[str, tuple[float, str]]:
  """The largest relative difference of each kind of leaf, and the tensor that has it.

  `compared`: (kind, torch's name, our samples, torch's, our norm, torch's) per leaf. A
  leaf is measured against its own largest value, or FLOOR × the largest of its kind
  where that is larger: some gradients are 0 but for rounding (a BatchNorm offset whose
  output the next BatchNorm subtracts again), and their rounding is no difference.
  """
  largest_sample, largest_norm = {}, {}
  for kind, _, _, expected, _, norm in compared:
    largest_sample[kind] = max(largest_sample.get(kind, 0.0), np.abs(expected).max())
    largest_norm[kind] = max(largest_norm.get(kind, 0.0), norm)
  found = {}
  for kind, name, actual, expected, actual_norm, norm in compared:
    difference = max(relative(actual, expected, FLOOR * largest_sample[kind]),
                     relative(actual_norm, norm, FLOOR * largest_norm[kind]))
    if difference >= found.get(kind, (-1.0,))[0]:
      found[kind] = (difference, name)
  return found


def step_differences(name: str) -> list[dict[str, tuple[float, str]]]:
  """After each step, the largest relative difference from torch of each kind of leaf
  (KINDS) and the tensor that has it."""
  record, arrays = load(name)
  positions = sampled_positions(record, arrays)
  with jax.enable_x64(True):
    model = models.create(record['model'], num_classes=record['num_classes'],
                          dtype=jnp.float64, param_dtype=jnp.float64,
                          **record['model_options'])
    weights = parity.seeded_state_dict(record['tensors'], record['weight_seed'])
    variables = convert.convert_state_dict(weights, record['model'], model,
                                           record['input_size'])
    variables = jax.tree.map(lambda v: jnp.asarray(v, jnp.float64), variables)
    where = converted_positions(record, model, positions)

    config = default.get_config()
    config.update(dict(model=record['model'], optimizer='sgd', momentum=record['momentum'],
                       nesterov=False, weight_decay=record['weight_decay'],
                       lr_schedule='constant', warmup_epochs=0.0, batch_size=record['batch'],
                       learning_rate=record['learning_rate'] * 256 / record['batch'],
                       label_smoothing=0.0, ema_decay=0.0, grad_clip_norm=0.0))
    schedule = optimizers.create_learning_rate_schedule(config, 1, record['steps'])
    assert float(schedule(0)) == pytest.approx(record['learning_rate'], rel=1e-12)
    mesh = Mesh(np.array(jax.devices()[:1]), (steps.BATCH_AXIS,))
    state = steps.TrainState.create(apply_fn=model.apply, params=variables['params'],
                                    tx=optimizers.create_optimizer(config, schedule),
                                    batch_stats=variables['batch_stats'])
    state = jax.device_put(state, NamedSharding(mesh, P()))
    # Mean 0 and std 1: the images enter the network as they are.
    parallel_train, _ = steps.compile_steps(mesh, config, schedule, (0.0,) * 3, (1.0,) * 3)
    images = parity.seeded_input(record['batch'], record['input_size'], record['input_seed'])
    batch = jax.device_put({'image': images.transpose(0, 2, 3, 1),
                            'label': np.array(record['labels'], np.int32)},
                           NamedSharding(mesh, P(steps.BATCH_AXIS)))
    differences = []
    for step in range(1, record['steps'] + 1):
      state, metrics = parallel_train(state, batch, jax.random.key(0))
      current = jax.device_get({'params': state.params, 'batch_stats': state.batch_stats})
      momentum = jax.device_get(momentum_of(state.opt_state))
      assert float(metrics['nonfinite']) == 0
      compared = []
      for kind in ('value', 'momentum'):
        names = [n for n in positions
                 if kind == 'value' or n.rsplit('.', 1)[-1] not in RUNNING_STATISTICS]
        norms = arrays[f'{kind}_norm_{step}']
        samples = np.split(arrays[f'{kind}_samples_{step}'],
                           np.cumsum([len(positions[n]) for n in names])[:-1])
        assert len(names) == len(norms) == len(samples)
        for torch_name, norm, expected in zip(names, norms, samples):
          path, flat_positions = where[torch_name]
          if kind == 'momentum':  # a tree of the parameters, without the collection
            label, leaf = kind, leaf_at(momentum, path[1:])
          else:
            label = torch_name.rsplit('.', 1)[-1]
            label = label if label in RUNNING_STATISTICS else 'params'
            leaf = leaf_at(current, path)
          compared.append((label, torch_name, leaf[flat_positions], expected,
                           np.linalg.norm(leaf), norm))
      found = largest_differences(compared)
      found['loss'] = (relative(np.float64(metrics['train_loss']), arrays['loss'][step - 1]),
                       'loss')
      differences.append(found)
  return differences


@pytest.mark.slow
@pytest.mark.parametrize('name', NETWORKS)
def test_train_steps_match_torchs(name):
  for step, found in enumerate(step_differences(name), 1):
    assert set(found) == set(KINDS)
    failed = {kind: f'{value:.1e} ({tensor})' for kind, (value, tensor) in found.items()
              if value > TOLERANCES[step]}
    assert not failed, f'{name}, step {step}: relative differences from torch {failed}'
