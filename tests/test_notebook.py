"""notebooks/colab_tpu.ipynb, executed top to bottom in its smoke setting.

NOTEBOOK_SMOKE=1 makes the notebook train the quickstart recipe for 60 steps on the
CPU, with no installation, network or TensorBoard server. The kernel inherits this
process's environment (conftest.py: two simulated CPU devices) and starts in
notebooks/, as Jupyter would start it.
"""

import os

import nbformat
from nbclient import NotebookClient
import pytest

from tests.helpers import REPO
NOTEBOOK = os.path.join(REPO, 'notebooks', 'colab_tpu.ipynb')


def cell_text(cell) -> str:
  """Everything a cell printed: its streams and the text of its displays."""
  parts = []
  for output in cell.get('outputs', []):
    if output['output_type'] == 'stream':
      parts.append(output['text'])
    elif 'data' in output:
      parts.append(output['data'].get('text/plain', ''))
  return ''.join(parts)


def png_outputs(cell) -> int:
  return sum('image/png' in output.get('data', {}) for output in cell.get('outputs', []))


def tagged(notebook, tag: str):
  [cell] = [c for c in notebook.cells if tag in c.metadata.get('tags', [])]
  return cell


def test_notebook_is_stored_clean():
  """Valid nbformat, with no outputs: the repository holds the notebook, not a run of it."""
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  nbformat.validate(notebook)
  for cell in notebook.cells:
    if cell.cell_type == 'code':
      assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]
  settings = tagged(notebook, 'settings').source
  assert "RECIPE = 'configs/resnet20_cifar10.py'  # @param" in settings
  assert 'SMOKE = False  # @param {type:"boolean"}' in settings


@pytest.mark.e2e
@pytest.mark.slow
def test_notebook_runs_top_to_bottom_in_smoke_mode(monkeypatch, tmp_path):
  monkeypatch.setenv('NOTEBOOK_SMOKE', '1')
  monkeypatch.setenv('TMPDIR', str(tmp_path))  # the smoke run's workdir goes here
  notebook = nbformat.read(NOTEBOOK, as_version=4)
  client = NotebookClient(notebook, timeout=300, kernel_name='python3',
                          resources={'metadata': {'path': os.path.dirname(NOTEBOOK)}})
  client.execute()  # raises CellExecutionError, with the cell and its traceback, on any error

  errors = [output for cell in notebook.cells for output in cell.get('outputs', [])
            if output['output_type'] == 'error']
  assert not errors
  assert 'smoke mode' in cell_text(tagged(notebook, 'settings'))
  assert 'No TPU found: running on the CPU' in cell_text(tagged(notebook, 'devices'))
  assert 'TensorBoard: skipped in smoke mode' in cell_text(tagged(notebook, 'tensorboard'))
  training = cell_text(tagged(notebook, 'train'))
  assert 'step 20/60' in training and 'eval at step 60' in training
  assert 'done: 60 steps' in training
  assert png_outputs(tagged(notebook, 'curves')) == 1
  assert '61,706' in cell_text(tagged(notebook, 'summary'))  # LeNet-5's parameters
  classify = tagged(notebook, 'classify')
  assert png_outputs(classify) == 1
  text = cell_text(classify)
  assert 'loaded lenet5 from' in text and text.count('checkpoints/60') == 1
  assert text.count('predicted ') == 8 and 'of 8 right' in text
  [workdir] = [path for path in tmp_path.iterdir() if path.name.startswith('notebook_smoke_')]
  assert (workdir / 'learning_curves.png').exists() and (workdir / 'predictions.png').exists()
