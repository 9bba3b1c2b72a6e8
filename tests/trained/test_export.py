"""trained.export: each format's artefact, run in its own runtime, gives JAX's logits.

Seeded random weights (He-scaled kernels, random BatchNorm statistics, as
tests/parity.py draws torch's) are written as a `python -m trained.convert` folder at a
small input size, exported through the command's main() and run on the sample
photographs (scikit-learn's and scikit-image's) after the network's own evaluation view:
max |Δlogit| ≤ 1e-4 · max |logit| (1e-3 for TFLite) and the same top-1 and top-5, at two
batch sizes (the batch dimension is variable). mobilenet_v2 covers every format in the
fast subset; the other networks are marked slow. Bad input: one line, exit 2, nothing
written.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
from sklearn.datasets import load_sample_images

import trained
from models.released import SOURCES
from tests.helpers import seeded_variables
from trained import convert, export

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Evaluation crop (the exported input size) and resize: small where the network allows.
SIZES = {'mobilenet_v2': (32, 36), 'resnet50': (32, 36), 'mobilenet_v3_large': (32, 36),
         'densenet121': (32, 36), 'inception_v3_torchvision': (299, 342)}
FAST = 'mobilenet_v2'
TOLERANCE = {'stablehlo': 1e-4, 'saved_model': 1e-4, 'onnx': 1e-4, 'tflite': 1e-3}



@pytest.fixture(scope='module')
def converted(tmp_path_factory):
  """A function of a model name to its seeded converted folder, written once per module."""
  folders = {}

  def folder(model_name: str) -> str:
    if model_name not in folders:
      crop, resize = SIZES[model_name]
      out = str(tmp_path_factory.mktemp(model_name))
      convert.write_checkpoint(out, SOURCES[model_name], seeded_variables(model_name, crop),
                               1000, 'seeded', resize, crop)
      folders[model_name] = out
    return folders[model_name]
  return folder


@pytest.fixture(scope='module')
def reference(converted):
  """A function of a model name to (its description, the photographs as its input, JAX's
  logits of them), computed once per module: one compilation of the network, not four."""
  references = {}

  def of(model_name: str):
    if model_name not in references:
      net = trained.load(converted(model_name))
      images = network_inputs(net)
      references[model_name] = (net.description(), net.image_size, images,
                                np.asarray(net.forward(images), np.float64))
    return references[model_name]
  return of


def photographs() -> list[np.ndarray]:
  return list(load_sample_images().images) + [
      getattr(skimage.data, name)() for name in ('astronaut', 'coffee', 'chelsea', 'rocket')]


def network_inputs(net) -> np.ndarray:
  """The photographs through the network's evaluation view, normalised: the artefact's input."""
  batch = np.stack([net.preprocess(photo) for photo in photographs()]).astype(np.float32)
  return (batch - np.asarray(net.mean, np.float32)) / np.asarray(net.std, np.float32)


def run_export(*args: str) -> subprocess.CompletedProcess:
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'TF_CPP_MIN_LOG_LEVEL': '3'}
  env.pop('XLA_FLAGS', None)
  return subprocess.run([sys.executable, '-m', 'trained.export', *args], cwd=REPO, env=env,
                        capture_output=True, text=True, timeout=600)


CASES = [pytest.param(model, fmt, marks=() if model == FAST else pytest.mark.slow,
                      id=f'{model}-{fmt}')
         for model in SIZES for fmt in export.FORMATS]


@pytest.mark.parametrize('model_name,export_format', CASES)
def test_exported_network_gives_jaxs_logits(model_name, export_format, converted, reference,
                                            tmp_path, capsys):
  workdir = converted(model_name)
  out = str(tmp_path / 'exported')
  status = export.main([f'--workdir={workdir}', f'--format={export_format}', f'--out={out}'])
  captured = capsys.readouterr()
  assert status == 0, captured.err
  assert f'exported {model_name}' in captured.out

  network, image_size, images, expected = reference(model_name)
  description = export.read_description(out)
  assert description['format'] == export_format
  assert description['input']['shape'] == [None, image_size, image_size, 3]
  assert description['network'] == network
  run = export.load_exported(out)
  for batch in (images, images[:1]):  # two batch sizes from one artefact
    actual = np.asarray(run(batch), np.float64)
    want = expected[:len(batch)]
    assert actual.shape == want.shape
    error = np.abs(actual - want).max() / np.abs(want).max()
    assert error <= TOLERANCE[export_format], f'max |Δlogit| / max |logit| = {error:.2e}'
    np.testing.assert_array_equal(np.argsort(-actual, axis=-1)[:, :5],
                                  np.argsort(-want, axis=-1)[:, :5])


def assert_refused(status: int, err: str, out: str, parent: str, before: list[str],
                   match: str) -> None:
  """One error line, exit 2, and nothing new beside --out (no partial folder)."""
  lines = err.strip().splitlines()
  assert status == 2 and len(lines) == 1 and lines[0].startswith('error: '), err
  assert match in lines[0], lines[0]
  assert sorted(os.listdir(parent)) == before


def test_a_folder_without_checkpoints_is_refused_by_the_command(tmp_path):
  empty = tmp_path / 'empty'
  empty.mkdir()
  out = tmp_path / 'out'
  result = run_export(f'--workdir={empty}', '--format=stablehlo', f'--out={out}')
  assert_refused(result.returncode, result.stderr, str(out), str(tmp_path),
                 ['empty'], 'no checkpoint in')


def test_bad_out_and_format_are_refused(converted, tmp_path, capsys):
  workdir = converted(FAST)
  taken = tmp_path / 'taken.onnx'
  taken.write_bytes(b'keep me')
  full = tmp_path / 'full'
  full.mkdir()
  (full / 'file').write_text('x')
  before = sorted(os.listdir(tmp_path))
  for out, export_format, match in [
      (taken, 'onnx', 'is a file, not a folder'), (full, 'onnx', 'is not empty'),
      (tmp_path / 'new', 'coreml', '--format=coreml is none of'),
      (taken / 'below', 'onnx', 'cannot be made')]:
    status = export.main([f'--workdir={workdir}', f'--format={export_format}', f'--out={out}'])
    assert_refused(status, capsys.readouterr().err, str(out), str(tmp_path), before, match)
  assert taken.read_bytes() == b'keep me' and os.listdir(full) == ['file']


def test_a_missing_converter_or_runtime_names_its_package(converted, tmp_path, capsys,
                                                          monkeypatch):
  workdir = converted(FAST)
  before = sorted(os.listdir(tmp_path))
  monkeypatch.setitem(sys.modules, 'jax2onnx', None)  # as if not installed
  out = tmp_path / 'out'
  status = export.main([f'--workdir={workdir}', '--format=onnx', f'--out={out}'])
  assert_refused(status, capsys.readouterr().err, str(out), str(tmp_path), before,
                 'needs the package jax2onnx, which is not installed: pip install jax2onnx')
  assert export.main([f'--workdir={workdir}', '--format=stablehlo', f'--out={out}']) == 0
  monkeypatch.setitem(sys.modules, 'onnxruntime', None)
  (out / export.PREPROCESSING).write_text('{"format": "onnx"}')
  with pytest.raises(export.ExportError, match='running --format=onnx needs the package '
                     'onnxruntime'):
    export.load_exported(str(out))


def test_an_operation_the_converter_cannot_hold_is_refused(converted, tmp_path, capsys,
                                                           monkeypatch):
  """Every network tested above converts; the message path is exercised with the kind of
  error jax2onnx raises for a primitive it has no plugin for."""
  import jax2onnx

  def unsupported(*args, **kwargs):
    raise NotImplementedError('Lowering for primitive "erf_inv" is not implemented\n'
                              '(the converter\'s context)')
  monkeypatch.setattr(jax2onnx, 'to_onnx', unsupported)
  before = sorted(os.listdir(tmp_path))
  out = tmp_path / 'out'
  status = export.main([f'--workdir={converted(FAST)}', '--format=onnx', f'--out={out}'])
  assert_refused(status, capsys.readouterr().err, str(out), str(tmp_path), before,
                 f'{FAST} cannot be exported as ONNX: NotImplementedError: Lowering for primitive '
                 '"erf_inv" is not implemented')
