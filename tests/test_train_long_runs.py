"""Long runs through the real train.py process: preemption, kill -9, exact
continuation, non-finite steps."""

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tests.helpers import REPO, start_train
from training import metrics_file
QUICK = ['--config=configs/quickstart.py', '--config.log_every_steps=5']


def train_command(workdir, *args):
  return [sys.executable, 'train.py', f'--workdir={workdir}', *QUICK, *args]


def run(workdir, *args):
  return subprocess.run(train_command(workdir, *args), cwd=REPO, capture_output=True, text=True,
                        timeout=600)


def start(workdir, *args):
  return start_train(*QUICK, *args, workdir=workdir)


def wait_for_line(process, prefix: str) -> str:
  for line in process.stdout:
    if line.startswith(prefix):
      return line
  raise AssertionError(f'no line starting {prefix!r}; stderr: {process.stderr.read()[-2000:]}')


def train_events(workdir):
  return [e for e in metrics_file.read_events(str(workdir / 'metrics.jsonl')) if 'train_loss' in e]


def final_state(workdir, step):
  return ocp.StandardCheckpointer().restore(workdir / 'checkpoints' / str(step) / 'state')


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize('stop_signal', [signal.SIGTERM, signal.SIGINT])
def test_a_signal_checkpoints_the_current_step_and_exits_cleanly(tmp_path, stop_signal):
  process = start(tmp_path, '--config.num_train_steps=100000')
  wait_for_line(process, 'step 10/')
  process.send_signal(stop_signal)
  stdout, stderr = process.communicate(timeout=300)
  assert process.returncode == 0, stderr[-2000:]
  last = stdout.strip().splitlines()[-1]
  assert last.startswith(f'stopped by {signal.Signals(stop_signal).name} at step '), last
  step = int(last.split(' at step ')[1].split('/')[0])
  assert step >= 10 and str(step) in os.listdir(tmp_path / 'checkpoints')
  assert f'checkpoint saved in {tmp_path / "checkpoints"}' in last


# RMSProp, a plateau schedule that divides the rate several times within the run, and the
# moving average of the weights: their states must come back from the checkpoint too.
RMSPROP_PLATEAU_EMA = ['--config.optimizer=rmsprop', '--config.lr_schedule=plateau',
                       '--config.lr_plateau_patience=1', '--config.eval_every_epochs=0.1',
                       '--config.ema_decay=0.9', '--config.learning_rate=0.4']


# Today's procedures, whose randomness lives in the step (mixing draws per step and
# device) and in the stream (repeated augmentation): they must resume exactly too.
MIXED_ACCUMULATED_REPEATED = ['--config.mixup_alpha=0.2', '--config.cutmix_alpha=1.0',
                              '--config.loss=sigmoid_binary_cross_entropy',
                              '--config.grad_accum_steps=2', '--config.repeated_augmentation=2']


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize('recipe, steps', [(MIXED_ACCUMULATED_REPEATED, 100),
                                           (RMSPROP_PLATEAU_EMA, 60)],
                         ids=['sgd_mixed_accumulated_repeated', 'rmsprop_plateau_ema'])
def test_an_interrupted_deterministic_run_ends_as_an_uninterrupted_one(tmp_path, recipe, steps):
  """Same steps, learning rates, metrics events and (to float tolerance) parameters, moving
  averages and plateau state."""
  args = [f'--config.num_train_steps={steps}', '--config.deterministic=True',
          '--config.checkpoint_every_steps=1000', *recipe]
  whole, interrupted = tmp_path / 'whole', tmp_path / 'interrupted'
  result = run(whole, *args)
  assert result.returncode == 0, result.stderr[-2000:]

  process = start(interrupted, *args)
  wait_for_line(process, 'step 20/')
  process.send_signal(signal.SIGTERM)
  stdout, _ = process.communicate(timeout=300)
  assert 'stopped by SIGTERM at step' in stdout
  stopped_line = next(line for line in stdout.splitlines() if line.startswith('stopped by'))
  stopped_at = int(stopped_line.split(' at step ')[1].split('/')[0])
  assert 20 <= stopped_at < steps  # stopped mid-run, between checkpoints and log steps
  result = run(interrupted, *args)
  assert result.returncode == 0, result.stderr[-2000:]
  assert f'resuming at step {stopped_at}' in result.stdout and f'done: {steps} steps' in result.stdout

  expected, got = train_events(whole), train_events(interrupted)
  assert [e['step'] for e in got] == [e['step'] for e in expected] == list(range(5, steps + 1, 5))
  assert [e['learning_rate'] for e in got] == pytest.approx(
      [e['learning_rate'] for e in expected], rel=1e-6)
  evals = lambda d: [e for e in metrics_file.read_events(str(d / 'metrics.jsonl'))
                     if 'eval_accuracy' in e]
  assert [e['step'] for e in evals(interrupted)] == [e['step'] for e in evals(whole)]
  for a, b in zip(evals(interrupted), evals(whole)):
    assert a['eval_loss'] == pytest.approx(b['eval_loss'], rel=1e-4)
  expected, got = final_state(whole, steps), final_state(interrupted, steps)
  plateau = recipe is RMSPROP_PLATEAU_EMA
  fields = ['params'] + (['ema_params', 'plateau'] if plateau else [])
  for field in fields:
    got_leaves = dict(jax.tree_util.tree_leaves_with_path(got[field]))
    for path, value in jax.tree_util.tree_leaves_with_path(expected[field]):
      np.testing.assert_allclose(got_leaves[path], value, rtol=1e-5, atol=1e-6,
                                 err_msg=f'{field}{jax.tree_util.keystr(path)}')
  if plateau:  # the plateau divided the rate during the run, before and after the stop
    rates = sorted({e['learning_rate'] for e in train_events(whole)}, reverse=True)
    assert len(rates) > 2 and float(got['plateau']['scale']) < 0.1


@pytest.mark.e2e
@pytest.mark.slow
def test_kill_9_during_a_save_resumes_from_the_newest_complete_checkpoint(tmp_path):
  # ResNet-18's 80 MB checkpoints take long enough to be caught half-written.
  args = ['--config.model=resnet18', '--config.num_train_steps=40',
          '--config.checkpoint_every_steps=1', '--config.log_every_steps=1']
  process = start(tmp_path, *args)
  checkpoints = tmp_path / 'checkpoints'
  half_written = None
  deadline = time.time() + 300
  while half_written is None and time.time() < deadline:
    names = os.listdir(checkpoints) if checkpoints.exists() else []
    half_written = next((n for n in names if 'tmp' in n and not n.startswith('1.')), None)
    time.sleep(0.005)
  process.kill()  # SIGKILL: no handler runs
  process.communicate(timeout=60)
  assert half_written, 'no checkpoint was seen being written'
  unfinished_step = int(half_written.split('.')[0])
  complete = sorted(int(n) for n in os.listdir(checkpoints) if n.isdigit())
  assert complete and max(complete) < unfinished_step

  result = run(tmp_path, *args[:2], '--config.num_train_steps=' + str(unfinished_step + 1),
               '--config.checkpoint_every_steps=1000')
  assert result.returncode == 0, result.stderr[-2000:]
  assert f'resuming at step {max(complete)}' in result.stdout
  steps = [e['step'] for e in train_events(tmp_path)]
  assert steps == sorted(set(steps))  # no step recorded twice


@pytest.mark.e2e
@pytest.mark.slow
def test_a_non_finite_loss_stops_the_run_and_keeps_the_good_checkpoint(tmp_path):
  result = run(tmp_path, '--config.num_train_steps=10', '--config.checkpoint_every_steps=10')
  assert result.returncode == 0, result.stderr[-2000:]
  before = sorted(os.listdir(tmp_path / 'checkpoints'))
  # The same workdir, continued with an absurd learning rate: the loss overflows.
  result = run(tmp_path, '--config.num_train_steps=200', '--config.learning_rate=1e6')
  assert result.returncode == 1
  error = result.stderr.strip().splitlines()[-1]
  assert error.startswith('error: non-finite loss or gradients at step '), error
  assert 'The newest good checkpoint is step 10 in' in error
  assert sorted(os.listdir(tmp_path / 'checkpoints')) == before


@pytest.mark.e2e
@pytest.mark.slow
def test_skipping_non_finite_steps_counts_them_and_finishes(tmp_path):
  result = run(tmp_path, '--config.num_train_steps=40', '--config.learning_rate=1e6',
               '--config.on_nonfinite=skip')
  assert result.returncode == 0, result.stderr[-2000:]
  events = train_events(tmp_path)
  assert events[-1]['step'] == 40 and events[-1]['skipped_steps'] > 0
  params = final_state(tmp_path, 40)['params']
  assert all(np.all(np.isfinite(v)) for layer in params.values() for v in layer.values())
