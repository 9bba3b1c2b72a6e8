"""The workdir under stress, through the real train.py and evaluate.py: two runs on one
workdir, a run killed outright, a damaged newest checkpoint, a disk that fills up."""

import contextlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO, run_evaluate, start_train
from training import metrics_file

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

QUICK = ['--config=configs/quickstart.py', '--config.log_every_steps=10']


def run(workdir, *args):
  return subprocess.run([sys.executable, 'train.py', f'--workdir={workdir}', *QUICK, *args],
                        cwd=REPO, capture_output=True, text=True, timeout=600)


def steps_logged(workdir) -> list[int]:
  return [e['step'] for e in metrics_file.read_events(str(workdir / 'metrics.jsonl'))
          if 'train_loss' in e]


def last_error(result) -> str:
  lines = result.stderr.strip().splitlines()
  assert 'Traceback' not in result.stderr, result.stderr[-3000:]
  assert [line for line in lines if line.startswith('error: ')] == lines[-1:], result.stderr
  return lines[-1]


def test_a_second_run_on_a_held_workdir_is_refused_and_a_killed_runs_lock_is_not(tmp_path):
  """The lock is an flock the kernel drops with its holder: after kill -9 the same command
  starts at once, with no stale lock to clear by hand."""
  first = start_train(*QUICK, '--config.num_train_steps=100000', workdir=tmp_path)
  for line in first.stdout:
    if line.startswith('step 20/'):
      break
  second = run(tmp_path, '--config.num_train_steps=30')
  assert second.returncode == 2
  error = last_error(second)
  assert error.startswith(f'error: --workdir={tmp_path} is in use by another run (host '), error
  assert f', pid {first.pid}, started 20' in error and 'pass another --workdir' in error
  first.kill()
  first.communicate(timeout=60)
  steps = steps_logged(tmp_path)
  assert steps == sorted(set(steps)) and steps[0] == 10  # the first run's alone

  third = run(tmp_path, '--config.num_train_steps=30')
  assert third.returncode == 0, third.stderr[-2000:]
  holder = json.loads((tmp_path / 'train.lock').read_text())
  assert holder['pid'] != first.pid


def damage(checkpoint) -> None:
  """Cuts every data file of a checkpoint's state to half its size: whatever part of the
  state a reader needs (evaluation reads the parameters alone), it meets a cut file."""
  for root, _, names in os.walk(checkpoint / 'state'):
    if os.path.basename(root) == 'd':
      for name in names:
        path = os.path.join(root, name)
        os.truncate(path, os.path.getsize(path) // 2)


def test_damaged_checkpoints_are_named_and_resuming_falls_back_to_an_intact_one(tmp_path):
  keep = ['--config.checkpoint_every_steps=10', '--config.keep_checkpoints=10']
  first = run(tmp_path, '--config.num_train_steps=30', *keep)
  assert first.returncode == 0, first.stderr[-2000:]
  damage(tmp_path / 'checkpoints' / '30')
  (tmp_path / 'checkpoints' / '20' / 'run' / 'metadata').write_text('{"model": "lenet')

  for args, step, others in (([], 30, '10, 20'), (['--step=20'], 20, '10, 30')):
    result = run_evaluate(f'--workdir={tmp_path}', *args, f'--out={tmp_path / "eval"}')
    assert result.returncode == 2
    error = last_error(result)
    assert error.startswith(f'error: the checkpoint {tmp_path / "checkpoints"}/{step} is '
                            'damaged ('), error
    assert error.endswith(f'pass --step= one of its other steps ({others})'), error
  assert not (tmp_path / 'eval').exists()

  # Resuming skips both, says why, moves them aside, and goes on from step 10.
  second = run(tmp_path, '--config.num_train_steps=40', *keep)
  assert second.returncode == 0, second.stderr[-2000:]
  assert 'Traceback' not in second.stderr, second.stderr[-3000:]
  warnings = [line for line in second.stderr.splitlines() if line.startswith('warning: ')]
  assert len(warnings) == 2, second.stderr[-3000:]
  assert warnings[0].startswith('warning: the checkpoint of step 30 cannot be restored (')
  assert 'is not valid for value of size' in warnings[0] or 'Truncated' in warnings[0]
  assert warnings[0].endswith('; resuming from step 10; it is kept in '
                              f'{tmp_path / "damaged_checkpoints" / "30"}'), warnings[0]
  assert 'step 20 cannot be restored (JSONDecodeError' in warnings[1]
  assert 'resuming at step 10' in second.stdout
  assert sorted(os.listdir(tmp_path / 'damaged_checkpoints')) == ['20', '30']
  assert sorted(map(int, os.listdir(tmp_path / 'checkpoints'))) == [10, 20, 30, 40]
  assert steps_logged(tmp_path) == [10, 20, 30, 40]

  # With no intact checkpoint left, the run stops in one line and moves nothing.
  for step in (10, 20, 30, 40):
    damage(tmp_path / 'checkpoints' / str(step))
  third = run(tmp_path, '--config.num_train_steps=50', *keep)
  assert third.returncode == 2
  assert last_error(third).startswith(
      f'error: no checkpoint in {tmp_path / "checkpoints"} can be restored (steps 40, 30, 20, '
      '10; step 40: ')
  assert 'move the checkpoints folder away to start afresh' in last_error(third)
  assert sorted(map(int, os.listdir(tmp_path / 'checkpoints'))) == [10, 20, 30, 40]


@contextlib.contextmanager
def small_disk(path, options: str):
  """A tmpfs of `options` (size=, nr_inodes=) mounted at `path`: a disk that fills up."""
  os.makedirs(path)
  if os.geteuid() != 0 or subprocess.run(['mount', '-t', 'tmpfs', '-o', options, 'tmpfs',
                                          str(path)], capture_output=True).returncode:
    pytest.skip('mounting a small tmpfs needs root (CI runs as root)')
  try:
    yield path
  finally:
    subprocess.run(['umount', '-l', str(path)], check=False)


# A checkpoint of LeNet-5 with its momentum is about 0.5 MB in ~20 files. 1,200 KiB hold two
# (the check before writing refuses the third); 60 inodes hold one or two, as orbax's
# parallel writes happen to split the data (the write runs out of inodes half-way, past
# that check).
# The first case also resumes, with space again, from the checkpoints it kept.
@pytest.mark.parametrize('disk, reason, resume', [
    ('size=1200k', 'it takes about ', True),
    ('size=20m,nr_inodes=60', '(no space left on the device; ', False)])
def test_a_full_disk_stops_the_run_in_one_line_with_earlier_checkpoints_intact(
    tmp_path, disk, reason, resume):
  with small_disk(tmp_path / 'disk', disk) as mounted:
    workdir = mounted / 'run'
    result = run(workdir, '--config.num_train_steps=60', '--config.checkpoint_every_steps=10',
                 '--config.keep_checkpoints=10')
    assert result.returncode == 2
    error = last_error(result)
    saved = sorted(map(int, os.listdir(workdir / 'checkpoints')))  # no half-written one
    assert saved and saved == list(range(10, saved[-1] + 1, 10))
    if 'the checkpoint of step' in error:
      failing = saved[-1] + 10
      assert error.startswith(f'error: cannot write the checkpoint of step {failing} in '
                              f'{workdir / "checkpoints"}'), error
      assert reason in error and ' free there' in error
      assert error.endswith(f'complete checkpoints: steps {", ".join(map(str, saved))}'), error
      status = json.loads((workdir / 'run.json').read_text())
      assert status['status'] == 'failed' and status['step'] == saved[-1]
    else:  # out of inodes for run.json's update just after a checkpoint: as clean a stop
      assert not resume
      failing = saved[-1]
      assert error.startswith(f'error: cannot write {workdir / "run.json"} (no space left on '
                              'the device; '), error
      json.loads((workdir / 'run.json').read_text())  # the previous one, whole
    assert steps_logged(workdir) == list(range(10, failing + 1, 10))
    shutil.copytree(workdir, tmp_path / 'copy', ignore=shutil.ignore_patterns('train.lock'))
  if not resume:
    return
  # With space again, the same command resumes from the newest checkpoint.
  resumed = run(tmp_path / 'copy', '--config.num_train_steps=60',
                '--config.checkpoint_every_steps=10', '--config.keep_checkpoints=10')
  assert resumed.returncode == 0, resumed.stderr[-2000:]
  assert f'resuming at step {saved[-1]}' in resumed.stdout
  assert steps_logged(tmp_path / 'copy') == list(range(10, 61, 10))
