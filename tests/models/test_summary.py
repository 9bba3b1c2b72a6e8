"""models/summary.py, the per-layer tables, and its command line (`python -m models`).

The lectures' numbers of each network are checked in that family's test file."""

import json
import subprocess
import sys

import pytest

import models
from models import __main__ as models_main
from models import summary
from tests.models import helpers


@pytest.mark.parametrize('name', helpers.every_model())
def test_summary_accounts_for_every_parameter(name):
  """The per-layer table's rows add up to the model's parameters."""
  table = summary.summarize(name)
  assert sum(layer.params for layer in table.layers) == table.total_params
  assert table.total_macs > 0


@pytest.mark.parametrize('name', helpers.every_model())
def test_module_rows_add_up_to_the_totals(name):
  """At depths 1 and 2 the module rows sum to the network's totals (auxiliary classifiers in
  the parameters only, as in the layer table)."""
  table = summary.summarize(name)
  for depth in (1, 2):
    rows = summary.by_module(table, depth)
    inference = [row for row in rows if not row.auxiliary]
    assert sum(row.params for row in rows) == table.total_params
    assert sum(row.macs for row in inference) == table.total_macs
    assert sum(row.activations for row in inference) == table.total_activations
    assert len({row.name for row in rows}) == len(rows)
    assert all(row.name.count('/') < depth for row in rows)
  assert len(summary.by_module(table, 99)) == len(table.layers)  # deeper than any path


def test_module_rows_reject_depth_zero():
  with pytest.raises(ValueError, match='depth'):
    summary.by_module(summary.summarize('lenet5'), 0)


@pytest.mark.e2e
def test_summary_cli_prints_module_rows_as_json():
  result = subprocess.run([sys.executable, '-m', 'models', 'summary', 'googlenet', '--depth=1',
                           '--json'], cwd=helpers.REPO, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  table = json.loads(result.stdout)
  layers = summary.summarize('googlenet').to_json()
  assert set(table) == set(layers)
  assert {key: table[key] for key in table if key != 'layers'} == {
      key: layers[key] for key in layers if key != 'layers'}
  inception = next(row for row in table['layers'] if row['name'] == 'inception_3a')
  assert inception == {'name': 'inception_3a', 'type': 'InceptionModule',
                       'output_shape': [28, 28, 256], 'params': 163_696,
                       'macs': 128_049_152, 'activations': inception['activations']}
  bad = subprocess.run([sys.executable, '-m', 'models', 'summary', 'googlenet', '--depth=0'],
                       cwd=helpers.REPO, capture_output=True, text=True, timeout=300)
  assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith('error: depth')


@pytest.mark.e2e
def test_summary_cli_prints_the_lecture_numbers_as_json():
  result = subprocess.run([sys.executable, '-m', 'models', 'summary', 'alexnet', '--json'],
                          cwd=helpers.REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  table = json.loads(result.stdout)
  assert set(table) == {'model', 'image_size', 'total_params', 'total_macs',
                        'total_activations', 'layers'}
  # The lecture's numbers (CONV1 55×55×96, 34,944 parameters...) are test_alexnet.py's.
  assert table == summary.summarize('alexnet').to_json()
  assert table['image_size'] == models.spec('alexnet').input_size
  assert table['total_params'] == models.spec('alexnet').parameters
  conv1 = next(layer for layer in table['layers'] if layer['name'] == 'conv1')
  assert set(conv1) == {'name', 'type', 'output_shape', 'params', 'macs', 'activations'}


@pytest.mark.e2e
def test_summary_cli_rejects_an_unknown_model_in_one_line():
  result = subprocess.run([sys.executable, '-m', 'models', 'summary', 'resnet99'],
                          cwd=helpers.REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith("error: unknown model 'resnet99'")


@pytest.mark.slow  # summarises every registered model
def test_list_names_every_model_with_its_parameters(capsys):
  models_main.list_models()
  lines = capsys.readouterr().out.strip().splitlines()[1:]
  assert [line.split()[0] for line in lines] == models.names()
  resnet50 = next(line for line in lines if line.startswith('resnet50 '))
  assert f'{models.spec("resnet50").parameters:,}' in resnet50 and '224×224×3' in resnet50
