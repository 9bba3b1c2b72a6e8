"""`python -m models compare`: the ImageNet networks' table against models.summary and the
registry's cited accuracies, the figure, and the measured panel."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import models
from models import compare, summary
from tests.models import helpers


@pytest.mark.slow  # summarises every ImageNet network (traced, about a minute on two cores)
def test_the_table_is_the_summary_and_the_registry():
  rows = compare.table_rows()
  assert [row.name for row in rows] == [
      name for name in models.names() if models.spec(name).num_classes == 1000]
  for row in rows:
    table = summary.summarize(row.name)
    spec = models.spec(row.name)
    assert row.input_size == spec.input_size
    assert row.params == table.total_params - table.auxiliary_params
    assert row.macs == table.total_macs
    assert row.top1 == spec.paper_top1
    # A cited number names its table; a missing one says why.
    assert row.source, f'{row.name}: no citation and no reason'
  drawn = {row.name: row for row in rows if row.top1 is not None}
  assert {'resnext50_32x4d', 'inception_v3', 'nasnet_a_large', 'mobilenet_v2'} <= set(drawn)
  assert 70 < drawn['nasnet_a_mobile'].top1 < drawn['nasnet_a_large'].top1 < 90
  assert 'resnet50' not in drawn  # He et al. report 10-crop and dense results only
  markdown = compare.format_table(rows)
  assert markdown.count('\n') == len(rows) + 1
  assert '| resnet50 |' in markdown and 'crop' in markdown


def test_a_plot_without_measurements_and_one_with(tmp_path):
  rows = compare.table_rows(['alexnet', 'inception_v3', 'resnext50_32x4d', 'mobilenet_v2'])
  compare.plot(rows, str(tmp_path / 'accuracy.png'))
  for row, speed in zip(rows, (100.0, 50.0, 80.0, 400.0)):
    row.images_per_sec = {1: speed, 4: 2 * speed}
    row.memory_bytes = {1: 2**20, 4: 2**22}
  compare.plot(rows, str(tmp_path / 'both.png'), device='cpu')
  one = np.asarray(Image.open(tmp_path / 'accuracy.png'))
  two = np.asarray(Image.open(tmp_path / 'both.png'))
  assert two.shape[1] > 1.4 * one.shape[1]  # the second panel
  markdown = compare.format_table(rows)
  assert 'img/s @4' in markdown and '| 200.0 |' in markdown and '4 MiB' in markdown


def test_batch_sizes_are_checked():
  assert compare.check_batch_sizes('1,4,16,64') == (1, 4, 16, 64)
  for bad in ('', '0,4', 'a', '1,,2'):
    with pytest.raises(ValueError, match='positive integers'):
      compare.check_batch_sizes(bad)


@pytest.mark.e2e
def test_compare_measures_and_plots_through_the_command_line(tmp_path):
  plot = tmp_path / 'compare.png'
  result = subprocess.run(
      [sys.executable, '-m', 'models', 'compare', '--models=mobilenet_v3_small,alexnet',
       '--measure', '--batch_sizes=1,2', '--steps=1', f'--plot={plot}', '--json'],
      cwd=helpers.REPO, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = json.loads(result.stdout)
  assert [row['name'] for row in rows] == ['mobilenet_v3_small', 'alexnet']
  for row in rows:
    assert set(row['images_per_sec']) == {'1', '2'}
    assert all(speed > 0 for speed in row['images_per_sec'].values())
    assert all(memory > 0 for memory in row['memory_bytes'].values())  # XLA's analysis on CPU
  assert Image.open(plot).size[0] > 1000
  bad = subprocess.run([sys.executable, '-m', 'models', 'compare', '--models=resnet20'],
                       cwd=helpers.REPO, capture_output=True, text=True, timeout=300)
  assert bad.returncode == 2
  assert bad.stderr.strip().splitlines()[-1].startswith(
      'error: resnet20 is not an ImageNet network')
