"""trained.convert: torchvision and timm weights give their library's logits here.

Each parity fixture (tests/fixtures/parity/, made by make_reference_logits.py with torch)
holds a network's state dict layout and the logits torch computed for seeded weights.
The tests regenerate those weights with NumPy, write them in the file format the library
ships (.pth without torch, .safetensors), convert them through `python -m trained.convert`
and compare logits. Bad weight files and mismatched networks get one line and exit 2.
"""

import dataclasses
import glob
import json
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from safetensors.numpy import save_file

import models
from trained import convert, weights_file
from tests import parity
from tests.trained import test_weights_fuzz
from training import checkpoints, steps

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TORCH_SAVE_SAMPLE = os.path.join(parity.FIXTURES, 'torch_save_sample')
FIXTURE_NAMES = sorted(os.path.basename(path)[:-len('.json')]
                       for path in glob.glob(os.path.join(parity.FIXTURES, '*.json'))
                       if not path.startswith(TORCH_SAVE_SAMPLE))


def run_convert(*args: str) -> subprocess.CompletedProcess:
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'TF_CPP_MIN_LOG_LEVEL': '3'}
  env.pop('XLA_FLAGS', None)
  return subprocess.run([sys.executable, '-m', 'trained.convert', *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600)


def convert_here(capsys, *args: str) -> subprocess.CompletedProcess:
  """`python -m trained.convert <args>` as its main() runs it, in this process, with what it
  printed: a refusal's line and status without a Python and JAX start each (the command's
  own process is test_a_legacy_pth_without_torch_names_the_optional_install's, and
  test_init_from.py's)."""
  capsys.readouterr()  # only what this conversion prints
  status = convert.main(list(args))
  out, err = capsys.readouterr()
  return subprocess.CompletedProcess(['trained.convert', *args], status, out, err)


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


# In the fast subset: one torchvision .pth and one timm .safetensors source, the two readers
# and both libraries' layouts; every other network's parity runs in the whole suite (7 to
# 20 s each on two cores).
FAST_PARITY = ('mobilenet_v1_relu6', 'resnet18')


@pytest.mark.parametrize('name', [name if name in FAST_PARITY
                                  else pytest.param(name, marks=pytest.mark.slow)
                                  for name in FIXTURE_NAMES])
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


def test_every_source_has_a_parity_fixture_or_a_tested_sibling(capsys):
  """Each covered family is pinned by a fixture; --list names every source."""
  families_with_fixtures = {parity.load_fixture(name)['model'] for name in FIXTURE_NAMES}
  assert {'resnet18', 'resnet50', 'resnext50_32x4d', 'wide_resnet50_2', 'vgg11_bn',
          'densenet121', 'mobilenet_v2', 'mobilenet_v3_small', 'inception_v3_torchvision',
          'googlenet_torchvision', 'inception_v4_tfslim', 'inception_resnet_v2_tfslim',
          'se_resnet50_caffe', 'mobilenet_v1_relu6', 'alexnet_torchvision'
          } <= families_with_fixtures
  listed = convert_here(capsys, '--list')
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


def test_weights_of_another_network_are_refused_naming_both_shapes(tmp_path, capsys):
  out = tmp_path / 'out'
  line = refused(convert_here(capsys, '--model=resnet50', f'--weights={resnet18_weights(tmp_path)}',
                              f'--out={out}'),
                 'layer1.0.conv1.weight (64, 64, 3, 3)', '(1, 1, 64, 64)', 'not of resnet50')
  assert 'trained.convert --list' in line
  assert not out.exists()


def test_weights_in_another_layout_are_refused(tmp_path, capsys):
  """resnet18's tensors as a .safetensors file for a network whose layout names others."""
  state_dict = parity.seeded_state_dict(parity.load_fixture('resnet18')['tensors'], 0)
  path = str(tmp_path / 'model.safetensors')
  save_file(state_dict, path)
  refused(convert_here(capsys, '--model=mobilenet_v1_relu6', f'--weights={path}',
                       f'--out={tmp_path / "out"}'),
          'is not in the layout of mobilenet_v1_relu6')
  refused(convert_here(capsys, '--model=resnet18', f'--weights={path}',
                       f'--out={tmp_path / "out"}'), 'does not ship .safetensors')
  assert not (tmp_path / 'out').exists()


def test_truncated_and_non_weight_files_are_refused(tmp_path, capsys):
  weights = resnet18_weights(tmp_path)
  with open(weights, 'rb') as file:
    data = file.read()
  truncated = tmp_path / 'truncated.pth'
  truncated.write_bytes(data[:len(data) // 2])
  refused(convert_here(capsys, '--model=resnet18', f'--weights={truncated}',
                       f'--out={tmp_path / "a"}'), 'truncated or not a weights file')
  text = tmp_path / 'notes.pth'
  text.write_text('not weights')
  refused(convert_here(capsys, '--model=resnet18', f'--weights={text}', f'--out={tmp_path / "b"}'),
          'neither a torch.save file nor .safetensors')
  broken = tmp_path / 'broken.safetensors'
  broken.write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"a": 1')
  refused(convert_here(capsys, '--model=mobilenet_v1_relu6', f'--weights={broken}',
                       f'--out={tmp_path / "c"}'), 'cannot be read as .safetensors')
  refused(convert_here(capsys, '--model=resnet18', f'--weights={tmp_path / "missing.pth"}',
                       f'--out={tmp_path / "d"}'), 'no weights file at')
  assert not any((tmp_path / name).exists() for name in 'abcd')


def test_a_pickle_that_would_run_code_is_refused_unrun(tmp_path, capsys):
  """The reader admits tensors and dicts only: a pickled os.system call is never made."""
  marker = tmp_path / 'ran'
  payload = (b'\x80\x02cos\nsystem\nq\x00X' + len(f'touch {marker}').to_bytes(4, 'little')
             + f'touch {marker}'.encode() + b'\x85R.')
  path = tmp_path / 'evil.pth'
  import zipfile
  with zipfile.ZipFile(path, 'w') as archive:
    archive.writestr('archive/data.pkl', payload)
  refused(convert_here(capsys, '--model=resnet18', f'--weights={path}',
                       f'--out={tmp_path / "out"}'), 'holds a', 'system object, not only tensors')
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
  result = subprocess.run([sys.executable, '-m', 'trained.convert', '--model=resnet18',
                           f'--weights={legacy}', f'--out={tmp_path / "out"}'], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
  refused(result, 'legacy (pre-1.6) format', 'pip install torch', 'not in requirements.txt')


def test_an_existing_checkpoint_folder_is_left_as_it_was(tmp_path, capsys):
  weights = resnet18_weights(tmp_path)
  out = tmp_path / 'out'
  converted = convert_here(capsys, '--model=resnet18', f'--weights={weights}', f'--out={out}')
  assert converted.returncode == 0, converted.stderr
  before = sorted(str(p) for p in out.rglob('*'))
  refused(convert_here(capsys, '--model=resnet18', f'--weights={weights}', f'--out={out}'),
          'already holds checkpoints')
  assert sorted(str(p) for p in out.rglob('*')) == before
  refused(convert_here(capsys, '--model=lenet5', f'--weights={weights}', f'--out={tmp_path / "x"}'),
          "no torchvision or timm source is known for 'lenet5'", 'resnet50')


def test_a_converted_checkpoint_records_the_sources_evaluation(tmp_path, capsys):
  weights = resnet18_weights(tmp_path)
  out = tmp_path / 'out'
  result = convert_here(capsys, '--model=resnet18', f'--weights={weights}', f'--out={out}',
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
  assert len(info['class_names']) == 1000
  assert info['class_names'][0] == 'n01440764'  # tench, class 0 of torchvision's
  assert info['eval_preprocess'] == 'resize_short(232)|center_crop(224)'
  assert pretrained['initialised_afresh'] == []


def test_list_shows_each_column_apart_with_the_mean_and_std(tmp_path, capsys):
  """Columns are as wide as their longest entry (timm's long names included) and two
  spaces apart; each source shows the normalisation its weights expect."""
  listed = convert_here(capsys, '--list')
  assert listed.returncode == 0, listed.stderr
  rows = [re.split(r' {2,}', line.strip()) for line in listed.stdout.strip().splitlines()]
  assert rows[0] == ['registry model', 'source', 'weights file', 'top-1 %', 'mean', 'std',
                     'eval']
  assert len(rows) == 1 + len(convert.SOURCES)
  for row, source in zip(rows[1:], convert.SOURCES.values()):
    assert row[:6] == [source.model, f'{source.library}:{source.name}', source.weights,
                       f'{source.top1:.3f}', ' '.join(f'{v:g}' for v in source.mean),
                       ' '.join(f'{v:g}' for v in source.std)], row
    assert row[6].startswith(f'resize {source.resize}, crop {source.crop}'), row
  googlenet = rows[1 + list(convert.SOURCES).index('googlenet_torchvision')]
  assert googlenet[4:6] == ['0.5 0.5 0.5', '0.5 0.5 0.5']


def resnet18_records() -> dict:
  state_dict = parity.seeded_state_dict(parity.load_fixture('resnet18')['tensors'], 0)
  return parity.pth_records(state_dict)


def test_a_view_outside_its_storage_is_refused_naming_the_tensor(tmp_path, capsys):
  """A record whose view reaches past its storage's bytes once copied process memory into
  the checkpoint (and a large stride segfaulted): now one line names the tensor."""
  records = resnet18_records()
  name = 'layer1.0.conv1.weight'
  edits = {'offset past the end': dict(offset=records[name].numel - 10),
           'more elements than stored': dict(size=(64 * 64 * 9 + 1,), stride=(0,)),
           'a stride past the end': dict(stride=(2**40, 9, 3, 1))}
  for index, (edit, fields) in enumerate(edits.items()):
    weights = str(tmp_path / f'{index}.pth')
    parity.write_pth_records(weights, {**records, name: dataclasses.replace(records[name],
                                                                            **fields)})
    out = tmp_path / f'out{index}'
    line = refused(convert_here(capsys, '--model=resnet18', f'--weights={weights}', f'--out={out}'),
                   f'tensor {name} ', 'download it again')
    assert 'element' in line, (edit, line)
    assert not out.exists()


def test_a_decompression_bomb_is_refused_before_it_is_read(tmp_path, capsys):
  """A 512 MiB deflated storage (a few MB in the file) of which a tensor uses 16 bytes."""
  weights = str(tmp_path / 'bomb.pth')
  test_weights_fuzz.bomb(weights, addressed_elements=4)
  out = tmp_path / 'out'
  refused(convert_here(capsys, '--model=resnet18', f'--weights={weights}', f'--out={out}'),
          'the storage of tensor fc.weight holds 536,870,912 bytes, but its tensors take 16')
  assert not out.exists()


def test_nonfinite_and_integer_weights_are_refused_naming_the_tensor(tmp_path, capsys):
  state_dict = parity.seeded_state_dict(parity.load_fixture('resnet18')['tensors'], 0)
  nan = dict(state_dict)
  nan['layer2.0.bn1.running_var'] = nan['layer2.0.bn1.running_var'].copy()
  nan['layer2.0.bn1.running_var'][3] = np.nan
  beyond_float32 = {name: value.astype(np.float64) for name, value in state_dict.items()}
  beyond_float32['conv1.weight'] *= 1e300  # finite in float64, infinite in float32
  integer = dict(state_dict, **{'fc.bias': np.zeros(1000, np.int64)})
  cases = [(nan, 'source tensor layer2.0.bn1.running_var (128,) holds 1 NaN or infinite'),
           (beyond_float32, 'source tensor conv1.weight (64, 3, 7, 7) holds'),
           (integer, 'source tensor fc.bias (1000,) is of dtype int64, not floating point')]
  for index, (weights, fragment) in enumerate(cases):
    path = str(tmp_path / f'{index}.pth')
    parity.write_pth(path, weights)
    line = refused(convert_here(capsys, '--model=resnet18', f'--weights={path}',
                                f'--out={tmp_path / "out"}'), fragment)
    assert ('--allow_nonfinite' in line) == (index < 2), line
  assert not (tmp_path / 'out').exists()
  result = convert_here(capsys, '--model=resnet18', f'--weights={tmp_path / "0.pth"}',
                        f'--out={tmp_path / "out"}', '--allow_nonfinite')
  assert result.returncode == 0, result.stderr
  manager = checkpoints.open_checkpoints(str(tmp_path / 'out' / 'checkpoints'))
  state = manager.restore(0, args=ocp.args.Composite(state=ocp.args.StandardRestore()))['state']
  assert sum(np.isnan(leaf).sum() for leaf in jax.tree.leaves(state['batch_stats'])) == 1


def test_an_out_naming_a_file_is_refused(tmp_path, capsys):
  weights = resnet18_weights(tmp_path)
  notes = tmp_path / 'notes.txt'
  notes.write_text('mine')
  refused(convert_here(capsys, '--model=resnet18', f'--weights={weights}', f'--out={notes}'),
          f'{notes} is a file, not a folder')
  refused(convert_here(capsys, '--model=resnet18', f'--weights={weights}',
                       f'--out={notes / "run"}'),
          f'{notes} is a file, so --out={notes / "run"} cannot be made')
  assert notes.read_text() == 'mine'


def safetensors_with_header(path: str, edit) -> None:
  """Two small tensors in a .safetensors file whose JSON header `edit` changed."""
  save_file({'a': np.ones((2, 2), np.float32), 'b': np.ones(3, np.float32)}, path)
  with open(path, 'rb') as file:
    data = file.read()
  length = int.from_bytes(data[:8], 'little')
  header = json.loads(data[8:8 + length])
  edit(header)
  text = json.dumps(header).encode()
  with open(path, 'wb') as file:
    file.write(len(text).to_bytes(8, 'little') + text + data[8 + length:])


def test_safetensors_offsets_outside_the_data_are_refused(tmp_path, capsys):
  """Offsets past the data, overlapping or negative: the safetensors package's checks,
  as one line."""
  edits = {'past the data': lambda h: h['b'].update(data_offsets=[16, 32]),
           'overlapping': lambda h: h['b'].update(data_offsets=[4, 16]),
           'negative': lambda h: h['b'].update(data_offsets=[-12, 28])}
  for index, edit in enumerate(edits.values()):
    path = str(tmp_path / f'{index}.safetensors')
    safetensors_with_header(path, edit)
    refused(convert_here(capsys, '--model=mobilenet_v1_relu6', f'--weights={path}',
                         f'--out={tmp_path / "out"}'), 'cannot be read as .safetensors',
            'pass a complete file as downloaded')
  assert not (tmp_path / 'out').exists()


AUXILIARY_HEADS = {'googlenet_torchvision': ('aux1', 'aux2'),
                   'inception_v3_torchvision': ('AuxLogits',)}


@pytest.mark.slow  # two large networks' conversion and logits (about 25 s each on two cores)
@pytest.mark.parametrize('name', sorted(AUXILIARY_HEADS))
def test_weights_saved_without_auxiliary_heads_convert_with_fresh_ones(name, tmp_path, capsys):
  """torchvision drops GoogLeNet's and Inception v3's auxiliary heads when built with
  weights: saved so, the file converts, its heads initialised afresh, and gives the
  source's logits (evaluation does not use the heads)."""
  fixture = parity.load_fixture(name)
  state_dict = parity.seeded_state_dict(fixture['tensors'], fixture['weight_seed'])
  heads = AUXILIARY_HEADS[name]
  weights = str(tmp_path / 'weights.pth')
  parity.write_pth(weights, {key: value for key, value in state_dict.items()
                             if not key.startswith(tuple(f'{head}.' for head in heads))})
  out = tmp_path / 'converted'
  result = convert_here(capsys, f'--model={name}', f'--weights={weights}', f'--out={out}',
                        f'--crop={fixture["input_size"]}')
  assert result.returncode == 0, result.stderr
  afresh = [module for _, module in convert.SOURCES[name].auxiliary_heads]
  assert f'auxiliary heads {", ".join(afresh)} initialised afresh' in result.stdout
  info = checkpoints.read_run_info(checkpoints.open_checkpoints(str(out / 'checkpoints')), 0)
  assert info['pretrained']['initialised_afresh'] == afresh
  expected = np.asarray(fixture['logits'])
  actual = converted_logits(str(out), fixture)
  assert np.abs(actual - expected).max() / np.abs(expected).max() < 1e-4


def test_weights_with_part_of_an_auxiliary_head_are_refused(tmp_path, capsys):
  fixture = parity.load_fixture('googlenet_torchvision')
  state_dict = parity.seeded_state_dict(fixture['tensors'], fixture['weight_seed'])
  weights = str(tmp_path / 'weights.pth')
  parity.write_pth(weights, {key: value for key, value in state_dict.items()
                             if not key.startswith('aux2.fc2.')})
  refused(convert_here(capsys, '--model=googlenet_torchvision', f'--weights={weights}',
                       f'--out={tmp_path / "out"}'),
          "hold 3 of the 4 layers of googlenet_torchvision's auxiliary head aux2")
  assert not (tmp_path / 'out').exists()
