"""The project's own files, damaged or crafted: image statistics, a checkpoint's run
description, eval.json, metrics.jsonl, run.json, sweep.json. Each is checked before use:
one line that says what to do, or the damaged part left out, never a traceback."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import (QUICKSTART, REPO, load_recipe, run_evaluate, run_train,
                           write_digits_as_png_folder)
import train
from training import metrics_file, workdir as run_folder
from training.workdir import WorkdirError


def one_error_line(result) -> str:
  assert result.returncode == 2, result.stderr[-2000:]
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  lines = result.stderr.strip().splitlines()
  assert [line for line in lines if line.startswith('error: ')] == lines[-1:], result.stderr
  return lines[-1]


@pytest.mark.e2e
@pytest.mark.slow
def test_a_runs_own_files_are_checked_before_use(tmp_path):
  images = tmp_path / 'images'
  write_digits_as_png_folder(str(images), per_class=3)
  command = (QUICKSTART, f'--config.dataset=image_folder:{images}', '--config.batch_size=8',
             '--config.num_train_steps=2', '--config.checkpoint_every_steps=2')
  workdir = tmp_path / 'run'
  assert run_train(*command, workdir=workdir).returncode == 0

  # The statistics a resumed run reuses: refused by the same function, with the error that
  # train.py's main() prints as its one line (test_train_cli.py runs that through train.py).
  statistics = workdir / 'image_statistics.json'
  kept = statistics.read_text()
  statistics.write_text(json.dumps({'dataset': f'image_folder:{images}', 'mean': ['grey'],
                                    'std': [0]}))
  config = load_recipe('quickstart')
  config.update(dataset=f'image_folder:{images}', batch_size=8, num_train_steps=4)
  with pytest.raises(WorkdirError) as caught:
    train.train_and_evaluate(config, str(workdir))
  assert str(caught.value) == (f'{statistics} does not hold 1 finite means and positive standard '
                               'deviations: delete it to measure them again from the training '
                               'images')
  statistics.write_text(kept)

  # eval.json, which evaluate.py updates in place: refused whole, left as it is.
  eval_json = workdir / 'eval.json'
  eval_json.write_text(json.dumps({'results': [{'protocol': 'center', 'eval_accuracy': 'all'}]}))
  error = one_error_line(run_evaluate(f'--workdir={workdir}'))
  assert f'{eval_json} is not an eval.json this tool wrote' in error
  assert 'eval_accuracy' in eval_json.read_text()
  eval_json.unlink()

  # A checkpoint's run description: named as damaged by evaluate.py, skipped by resuming.
  description = workdir / 'checkpoints' / '2' / 'run' / 'metadata'
  info = json.loads(description.read_text())
  description.write_text(json.dumps({**info, 'num_classes': 'ten'}))
  error = one_error_line(run_evaluate(f'--workdir={workdir}'))
  assert error == (f'error: the checkpoint {workdir / "checkpoints"}/2 is damaged (ValueError: '
                   'its run description is not what train.py writes: num_classes=\'ten\' is '
                   'not a positive count): restore it from a copy')
  description.write_text(json.dumps({**info, 'config': {**info['config'],
                                                        'learning_rate': 'fast'}}))
  error = one_error_line(run_evaluate(f'--workdir={workdir}'))
  assert 'carries a config that train.py refuses' in error and 'learning_rate' in error


def test_metrics_run_status_and_sweep_plans_keep_only_what_they_should_hold(tmp_path):
  path = tmp_path / 'metrics.jsonl'
  path.write_bytes(b'{"step": 1, "train_loss": 2.5}\n{"step": "2"}\n[1, 2]\n\xff\xfe\n'
                   b'{"step": 3, "train_loss": "low"}\n{"step": 4, "train_loss": 1.5}\n'
                   b'{"step": 5, "train_lo')
  assert metrics_file.read_events(str(path)) == [{'step': 1, 'train_loss': 2.5},
                                                 {'step': 4, 'train_loss': 1.5}]
  metrics_file.drop_events_after(str(path), 3)
  assert metrics_file.read_events(str(path)) == [{'step': 1, 'train_loss': 2.5}]

  (tmp_path / 'run.json').write_text(json.dumps({'model': ['lenet5'], 'image_size': 32,
                                                 'status': 'finished', 'step': '9'}))
  assert run_folder.read_run_status(str(tmp_path)) == {'image_size': 32, 'status': 'finished'}
  (tmp_path / 'run.json').write_text('[1, 2, 3]')
  assert run_folder.read_run_status(str(tmp_path)) == {}


@pytest.mark.e2e
def test_a_crafted_sweep_plan_reads_nothing_outside_the_sweep(tmp_path):
  (tmp_path / 'sweep.json').write_text(json.dumps({
      'name': 'x', 'description': '', 'recipe': 'configs/quickstart.py', 'overrides': {},
      'claim': None, 'runs': [{'name': '..', 'overrides': {}, 'all_overrides': {}}]}))
  result = subprocess.run([sys.executable, 'sweep.py', f'--workdir={tmp_path}', '--report'],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert one_error_line(result) == (
      f'error: {tmp_path / "sweep.json"} is not a sweep.json this script wrote (a name and '
      'runs, each run a folder of the sweep): start the sweep in a new --workdir')
  assert sorted(os.listdir(tmp_path)) == ['sweep.json']
