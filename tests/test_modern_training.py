"""Today's training procedures through train.py: distillation from a trained run, and the
one-line refusals of settings that cannot work (before any work, nothing written)."""

import json
import os

import pytest

from tests.helpers import QUICKSTART, run_train
from training import metrics_file

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHORT = ['--config.num_train_steps=6', '--config.log_every_steps=3',
         '--config.eval_every_epochs=100']


def state_keys(workdir) -> set[str]:
  """The tree paths of the newest checkpoint's train state, from orbax's metadata."""
  checkpoints = workdir / 'checkpoints'
  step = max(int(name) for name in os.listdir(checkpoints) if name.isdigit())
  metadata = json.loads((checkpoints / str(step) / 'state' / '_METADATA').read_text())
  return set(metadata['tree_metadata'])


def losses(workdir) -> list[float]:
  return [e['train_loss'] for e in metrics_file.read_events(str(workdir / 'metrics.jsonl'))
          if 'train_loss' in e]


def test_a_student_distils_from_a_trained_run_whose_files_stay_as_they_were(
    tmp_path, quickstart_runs):
  teacher = quickstart_runs['embedded'][0]
  before = {path: os.path.getmtime(path) for path in teacher.rglob('*') if path.is_file()}
  plain = run_train(QUICKSTART, *SHORT, '--config.mixup_alpha=0.2', workdir=tmp_path / 'plain')
  assert plain.returncode == 0, plain.stderr[-2000:]
  student = run_train(QUICKSTART, *SHORT, '--config.mixup_alpha=0.2',
                      f'--config.teacher={teacher}', workdir=tmp_path / 'student')
  assert student.returncode == 0, student.stderr[-2000:]
  # The same seed and batches: only the distillation term makes the losses differ.
  assert losses(tmp_path / 'student') != losses(tmp_path / 'plain')
  assert state_keys(tmp_path / 'student') == state_keys(tmp_path / 'plain')
  assert {path: os.path.getmtime(path) for path in teacher.rglob('*') if path.is_file()} == \
      before


@pytest.mark.parametrize('args, message', [
    (['--config.mixup_alpha=-0.2'], 'config.mixup_alpha=-0.2 is not allowed: use zero or more'),
    (['--config.grad_accum_steps=3'], 'config.grad_accum_steps=3 does not divide the 16 images'),
    (['--config.train_preprocess=resize(32)|rand_augment(2, 12)'], 'rand_augment'),
    ('teacher', 'a teacher must predict the same classes from the same images'),
])
def test_settings_that_cannot_work_are_refused_in_one_line(tmp_path, quickstart_runs, args,
                                                          message):
  if args == 'teacher':  # the quickstart's LeNet-5 takes 32×32 images, this student 40×40
    args = [f'--config.teacher={quickstart_runs["embedded"][0]}', '--config.image_size=40']
  workdir = tmp_path / 'run'
  result = run_train(QUICKSTART, *SHORT, *args, workdir=workdir)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert lines[-1].startswith('error: ') and message in lines[-1], result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  assert not (workdir / 'checkpoints').exists() and not (workdir / 'metrics.jsonl').exists()
  if 'is not allowed' in message:  # a field's own rule: refused before the workdir is touched
    assert not workdir.exists()
