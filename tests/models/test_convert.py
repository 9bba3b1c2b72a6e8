"""models.convert: torchvision and timm weights give their library's logits here.

Each parity fixture (tests/fixtures/parity/, made by make_reference_logits.py with torch)
holds a network's state dict layout and the logits torch computed for seeded weights.
The tests regenerate those weights with NumPy, write them in the file format the library
ships (.pth without torch, .safetensors), convert them through `python -m models.convert`
and compare logits. Bad weight files and mismatched networks get one line and exit 2.
"""

import glob
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import save_file

import models
from models import convert, weights_file
from tests import parity
from training import checkpoints, steps

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE_NAMES = sorted(os.path.basename(path)[:-len('.json')]
                       for path in glob.glob(os.path.join(parity.FIXTURES, '*.json')))


def run_convert(*args: str) -> subprocess.CompletedProcess:
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'TF_CPP_MIN_LOG_LEVEL': '3'}
  env.pop('XLA_FLAGS', None)
  return subprocess.run([sys.executable, '-m', 'models.convert', *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600)


def write_weights(fixture: dict, folder: str) -> str:
  """The fixture's seeded weights in the file format its library ships."""
  state_dict = parity.seeded_state_dict(fixture['tensors'], fixture['weight_seed'])
  if fixture['format'] == 'safetensors':
    path = os.path.join(folder, 'model.safetensors')
    save_file(state_dict, path)
  else:
    path = os.path.join(folder, 'weights.pth')
    parity.write_pth(path, state_dict)
  return path


def converted_logits(out: str, fixture: dict, dtype=jnp.float32) -> np.ndarray:
  """This project's logits for the fixture's input, from the converted checkpoint."""
  num_classes = len(fixture['logits'][0])
  manager = checkpoints.open_checkpoints(os.path.join(out, 'checkpoints'))
  size = fixture['input_size']
  eval_model = checkpoints.restore_eval_model(
      manager, 0, models.create(fixture['model'], num_classes=num_classes), size, 3,
      ema=False, mesh=steps.create_mesh())
  images = parity.seeded_input(fixture['batch'], size, fixture['input_seed'])
  model = models.create(fixture['model'], num_classes=num_classes, dtype=dtype,
                        param_dtype=dtype)
  variables = jax.tree.map(lambda v: jnp.asarray(v, dtype), eval_model.variables)
  logits = jax.jit(lambda v, x: model.apply(v, x, train=False))(
      variables, jnp.asarray(images.transpose(0, 2, 3, 1), dtype))
  return np.asarray(logits, dtype=np.float64)


@pytest.mark.parametrize('name', FIXTURE_NAMES)
def test_converted_weights_give_the_sources_logits(name, tmp_path):
  fixture = parity.load_fixture(name)
  weights = write_weights(fixture, str(tmp_path))
  out = str(tmp_path / 'converted')
  result = run_convert(f'--model={fixture["model"]}', f'--weights={weights}', f'--out={out}',
                       f'--crop={fixture["input_size"]}')
  assert result.returncode == 0, result.stderr
  assert f'into {fixture["model"]}' in result.stdout
  expected = np.asarray(fixture['logits'])
  if fixture['float64']:
    # torch's own float32 logits are as far from its float64 ones as ours (the fixture
    # records it): a comparison in float64 tells a wrong layer from rounding.
    with jax.enable_x64(True):
      actual = converted_logits(out, fixture, jnp.float64)
  else:
    actual = converted_logits(out, fixture)
  error = np.abs(actual - expected).max() / np.abs(expected).max()
  assert error < 1e-4, f'{name}: max |Δlogit| / max |logit| = {error:.2e}'
  assert np.array_equal(actual.argmax(-1), expected.argmax(-1))
