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
TORCH_SAVE_SAMPLE = os.path.join(parity.FIXTURES, 'torch_save_sample')
FIXTURE_NAMES = sorted(os.path.basename(path)[:-len('.json')]
                       for path in glob.glob(os.path.join(parity.FIXTURES, '*.json'))
                       if not path.startswith(TORCH_SAVE_SAMPLE))


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
def test_converted_weights_give_the_sources_logits(name, tmp_path, capsys):
  """Converted by the command line's own main() in this process (its argument parsing
  included), which spares a Python and JAX start per network; the bad-input tests below
  run it as a separate process."""
  fixture = parity.load_fixture(name)
  weights = write_weights(fixture, str(tmp_path))
  out = str(tmp_path / 'converted')
  status = convert.main([f'--model={fixture["model"]}', f'--weights={weights}', f'--out={out}',
                         f'--crop={fixture["input_size"]}'])
  assert status == 0, capsys.readouterr().err
  assert f'into {fixture["model"]}' in capsys.readouterr().out
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


def test_every_source_has_a_parity_fixture_or_a_tested_sibling():
  """Each covered family is pinned by a fixture; --list names every source."""
  families_with_fixtures = {parity.load_fixture(name)['model'] for name in FIXTURE_NAMES}
  assert {'resnet18', 'resnet50', 'resnext50_32x4d', 'wide_resnet50_2', 'vgg11_bn',
          'densenet121', 'mobilenet_v2', 'mobilenet_v3_small', 'inception_v3_torchvision',
          'googlenet_torchvision', 'inception_v4_tfslim', 'inception_resnet_v2_tfslim',
          'se_resnet50_caffe', 'mobilenet_v1_relu6', 'alexnet_torchvision'
          } <= families_with_fixtures
  listed = run_convert('--list')
  assert listed.returncode == 0
  for source in convert.SOURCES.values():
    assert source.model in models.names()
    assert f'{source.library}:{source.name}' in listed.stdout


def test_the_pth_reader_reads_what_torch_save_wrote():
  """A file written by torch.save itself (make_reference_logits.py), read without torch."""
  with open(f'{TORCH_SAVE_SAMPLE}.json') as file:
    expected = json.load(file)['tensors']
  tensors = weights_file.read_weights(f'{TORCH_SAVE_SAMPLE}.pth')
  assert list(tensors) == list(expected)
  for name, want in expected.items():
    got = tensors[name]
    assert list(got.shape) == want['shape'], name
    np.testing.assert_array_equal(got.astype(np.float64).ravel(),
                                  np.asarray(want['values'], dtype=np.float64), err_msg=name)
  assert tensors['bfloat16'].dtype == np.float32  # widened: NumPy has no bfloat16
  assert tensors['bn.num_batches_tracked'].dtype == np.int64
  assert tensors['half'].dtype == np.float16


def resnet18_weights(folder) -> str:
  fixture = parity.load_fixture('resnet18')
  return write_weights(fixture, str(folder))


def refused(result, *fragments: str) -> str:
  assert result.returncode == 2, result.stdout + result.stderr
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  return lines[0]


def test_weights_of_another_network_are_refused_naming_both_shapes(tmp_path):
  out = tmp_path / 'out'
  line = refused(run_convert('--model=resnet50', f'--weights={resnet18_weights(tmp_path)}',
                             f'--out={out}'),
                 'layer1.0.conv1.weight (64, 64, 3, 3)', '(1, 1, 64, 64)', 'not of resnet50')
  assert 'models.convert --list' in line
  assert not out.exists()


def test_weights_in_another_layout_are_refused(tmp_path):
  """resnet18's tensors as a .safetensors file for a network whose layout names others."""
  state_dict = parity.seeded_state_dict(parity.load_fixture('resnet18')['tensors'], 0)
  path = str(tmp_path / 'model.safetensors')
  save_file(state_dict, path)
  refused(run_convert('--model=mobilenet_v1_relu6', f'--weights={path}',
                      f'--out={tmp_path / "out"}'),
          'is not in the layout of mobilenet_v1_relu6')
  refused(run_convert('--model=resnet18', f'--weights={path}', f'--out={tmp_path / "out"}'),
          'does not ship .safetensors')
  assert not (tmp_path / 'out').exists()


def test_truncated_and_non_weight_files_are_refused(tmp_path):
  weights = resnet18_weights(tmp_path)
  with open(weights, 'rb') as file:
    data = file.read()
  truncated = tmp_path / 'truncated.pth'
  truncated.write_bytes(data[:len(data) // 2])
  refused(run_convert('--model=resnet18', f'--weights={truncated}', f'--out={tmp_path / "a"}'),
          'truncated or not a weights file')
  text = tmp_path / 'notes.pth'
  text.write_text('not weights')
  refused(run_convert('--model=resnet18', f'--weights={text}', f'--out={tmp_path / "b"}'),
          'neither a torch.save file nor .safetensors')
  broken = tmp_path / 'broken.safetensors'
  broken.write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"a": 1')
  refused(run_convert('--model=mobilenet_v1_relu6', f'--weights={broken}',
                      f'--out={tmp_path / "c"}'), 'cannot be read as .safetensors')
  refused(run_convert('--model=resnet18', f'--weights={tmp_path / "missing.pth"}',
                      f'--out={tmp_path / "d"}'), 'no weights file at')
  assert not any((tmp_path / name).exists() for name in 'abcd')


def test_a_pickle_that_would_run_code_is_refused_unrun(tmp_path):
  """The reader admits tensors and dicts only: a pickled os.system call is never made."""
  marker = tmp_path / 'ran'
  payload = (b'\x80\x02cos\nsystem\nq\x00X' + len(f'touch {marker}').to_bytes(4, 'little')
             + f'touch {marker}'.encode() + b'\x85R.')
  path = tmp_path / 'evil.pth'
  import zipfile
  with zipfile.ZipFile(path, 'w') as archive:
    archive.writestr('archive/data.pkl', payload)
  refused(run_convert('--model=resnet18', f'--weights={path}', f'--out={tmp_path / "out"}'),
          'holds a', 'system object, not only tensors')
  assert not marker.exists()


def test_a_legacy_pth_without_torch_names_the_optional_install(tmp_path):
  """PyTorch's pre-1.6 format needs torch; without it, one line says how to get it."""
  import pickle
  legacy = tmp_path / 'legacy.pth'
  legacy.write_bytes(pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2))  # torch's magic number
  no_torch = tmp_path / 'no_torch'
  (no_torch / 'torch').mkdir(parents=True)
  (no_torch / 'torch' / '__init__.py').write_text('raise ImportError("no torch here")\n')
  env = {**os.environ, 'PYTHONPATH': str(no_torch), 'JAX_PLATFORMS': 'cpu'}
  result = subprocess.run([sys.executable, '-m', 'models.convert', '--model=resnet18',
                           f'--weights={legacy}', f'--out={tmp_path / "out"}'], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
  refused(result, 'legacy (pre-1.6) format', 'pip install torch', 'not in requirements.txt')


def test_an_existing_checkpoint_folder_is_left_as_it_was(tmp_path):
  weights = resnet18_weights(tmp_path)
  out = tmp_path / 'out'
  assert run_convert('--model=resnet18', f'--weights={weights}', f'--out={out}').returncode == 0
  before = sorted(str(p) for p in out.rglob('*'))
  refused(run_convert('--model=resnet18', f'--weights={weights}', f'--out={out}'),
          'already holds checkpoints')
  assert sorted(str(p) for p in out.rglob('*')) == before
  refused(run_convert('--model=lenet5', f'--weights={weights}', f'--out={tmp_path / "x"}'),
          "no torchvision or timm source is known for 'lenet5'", 'resnet50')


def test_a_converted_checkpoint_records_the_sources_evaluation(tmp_path):
  weights = resnet18_weights(tmp_path)
  out = tmp_path / 'out'
  result = run_convert('--model=resnet18', f'--weights={weights}', f'--out={out}',
                       '--resize=232')
  assert result.returncode == 0, result.stderr
  manager = checkpoints.open_checkpoints(str(out / 'checkpoints'))
  info = checkpoints.read_run_info(manager, 0)
  assert info['model'] == 'resnet18' and info['num_classes'] == 1000
  assert info['image_size'] == 224
  assert info['config']['eval_preprocess'] == 'resize_short(232)|center_crop(224)'
  np.testing.assert_allclose(info['image_mean'], [0.485 * 255, 0.456 * 255, 0.406 * 255])
  pretrained = info['pretrained']
  assert pretrained['library'] == 'torchvision' and pretrained['name'] == 'resnet18'
  assert pretrained['interpolation'] == 'bilinear' and pretrained['crop'] == 224
  assert len(pretrained['class_names']) == 1000
  assert pretrained['class_names'][0] == 'n01440764'  # tench, class 0 of torchvision's
