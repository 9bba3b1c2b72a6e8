"""Today's training procedures through train.py: distillation from a trained run, and the
one-line refusals of settings that cannot work (before any work, nothing written)."""

import json
import os

import pytest

import input_pipeline
import preprocessing
from tests.helpers import QUICKSTART, load_recipe, run_train
import train
from training import metrics_file
from training.configuration import ConfigError

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


@pytest.mark.e2e
@pytest.mark.slow
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


# A setting that cannot work, through train.py: the teacher's refusal, which only a trained
# run can meet. The refusals that test_train_cli.py meets through train.py at the same place
# (a field's rule, the batch's division, the preprocessing strings) are checked below
# against the function train.py runs.
@pytest.mark.e2e
@pytest.mark.slow
def test_a_teacher_that_cannot_teach_is_refused_in_one_line(tmp_path, quickstart_runs):
  # The quickstart's LeNet-5 takes 32×32 images, this student 40×40.
  args = [f'--config.teacher={quickstart_runs["embedded"][0]}', '--config.image_size=40']
  message = 'a teacher must predict the same classes from the same images'
  workdir = tmp_path / 'run'
  result = run_train(QUICKSTART, *SHORT, *args, workdir=workdir)
  assert result.returncode == 2, result.stderr[-2000:]
  lines = result.stderr.strip().splitlines()
  assert lines[-1].startswith('error: ') and message in lines[-1], result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  assert not (workdir / 'checkpoints').exists() and not (workdir / 'metrics.jsonl').exists()


@pytest.mark.parametrize('fields, message', [
    ({'mixup_alpha': -0.2}, 'config.mixup_alpha=-0.2 is not allowed: use zero or more'),
    ({'grad_accum_steps': 3}, 'config.grad_accum_steps=3 does not divide the 16 images'),
    ({'train_preprocess': 'resize(32)|rand_augment(2, 12)'},
     'rand_augment: magnitude is on the 0-10 scale (timm clips it to 10); got 12'),
])
def test_settings_that_cannot_work_are_refused_in_one_line(tmp_path, fields, message):
  config = load_recipe('quickstart')
  config.update(num_train_steps=6, log_every_steps=3, eval_every_epochs=100.0, **fields)
  workdir = tmp_path / 'run'
  with pytest.raises((ConfigError, input_pipeline.DatasetError,
                      preprocessing.PreprocessError)) as caught:
    train.train_and_evaluate(config, str(workdir))
  assert message in str(caught.value) and '\n' not in str(caught.value)
  assert not (workdir / 'checkpoints').exists() and not (workdir / 'metrics.jsonl').exists()
