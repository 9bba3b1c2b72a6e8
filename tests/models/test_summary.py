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
