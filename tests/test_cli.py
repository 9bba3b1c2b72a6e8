"""train.py as a user runs it: the quickstart recipe, and one-line answers to mistakes."""

import os
import subprocess
import sys

import pytest

import jsonl_writer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_train(*args, workdir):
  return subprocess.run([sys.executable, 'train.py', f'--workdir={workdir}', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=600)


def test_quickstart_reaches_97_percent(tmp_path):
  """The README's quickstart command: LeNet-5 on the embedded digits."""
  result = run_train('--config=configs/quickstart.py', workdir=tmp_path)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'done: 1320 steps' in result.stdout
  evals = [e for e in jsonl_writer.read_events(str(tmp_path / 'metrics.jsonl'))
           if 'eval_accuracy' in e]
  assert evals[-1]['step'] == 1320
  assert evals[-1]['eval_accuracy'] >= 0.97


@pytest.mark.parametrize('args, message', [
    (['--config=configs/quickstart.py', '--config.batch_sise=32'],
     "unknown config field 'batch_sise': did you mean 'batch_size'?"),
    (['--config=configs/quickstart.py', '--config.model=resnet99'],
     "config.model='resnet99' is not allowed: use a registered model: alexnet,"),
    (['--config=configs/quickstart.py', '--config.lr_schedule=linear'],
     "config.lr_schedule='linear' is not allowed: use one of cosine, step, constant"),
    (['--config=configs/quickstart.py', '--config.batch_size=33'],
     'config.batch_size=33 does not divide over 2 devices: use a multiple of 2'),
    (['--config=configs/quickstart.py', '--config.batch_size=many'],
     'flag --config.batch_size=many'),
    (['--config=configs/no_such_recipe.py'], 'cannot load the --config recipe file'),
    (['--config=configs/quickstart.py', '--config.dataset=no_such_dataset'],
     "unknown dataset 'no_such_dataset'"),
])
def test_bad_input_gets_one_line_and_a_nonzero_exit(tmp_path, args, message):
  result = run_train(*args, workdir=tmp_path / 'run')
  assert result.returncode == 2
  errors = [line for line in result.stderr.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  assert not (tmp_path / 'run' / 'checkpoints').exists()
