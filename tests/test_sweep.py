"""sweep.py as a user runs it: runs, skips finished ones, survives a failed one, reports."""

import csv
import os
import signal
import subprocess
import sys

import pytest

import sweep
from tests.helpers import REPO
SHIPPED = sorted(f[:-3] for f in os.listdir(os.path.join(REPO, 'configs', 'sweeps'))
                 if f.endswith('.py'))


def write_sweep_file(tmp_path, runs: dict, overrides: dict) -> str:
  path = tmp_path / 'two_runs.py'
  path.write_text(f'def get_sweep(variant):\n'
                  f'  return {{"description": "Two runs on the digits.", '
                  f'"recipe": "configs/quickstart.py", "overrides": {overrides!r}, '
                  f'"runs": {runs!r}}}\n')
  return str(path)


def run_sweep(*args):
  return subprocess.run([sys.executable, 'sweep.py', *args], cwd=REPO, capture_output=True,
                        text=True, timeout=600)


def read_rows(workdir):
  with open(workdir / 'results.csv', encoding='utf-8') as f:
    return {row['run']: row for row in csv.DictReader(f)}


def is_png(path):
  with open(path, 'rb') as f:
    return f.read(8) == b'\x89PNG\r\n\x1a\n' and os.path.getsize(path) > 10_000


@pytest.mark.e2e
@pytest.mark.slow
def test_a_sweep_runs_reports_survives_a_failure_and_skips_finished_runs(tmp_path):
  sweep_file = write_sweep_file(
      tmp_path, {'small_lr': {'learning_rate': 0.2}, 'bad_batch': {'batch_size': 33}},
      {'num_train_steps': 30, 'log_every_steps': 10})
  workdir = tmp_path / 'sweep'
  result = run_sweep(f'--sweep={sweep_file}', f'--workdir={workdir}')
  assert result.returncode == 1, result.stderr[-2000:]
  assert result.stderr.strip().splitlines()[-1] == (
      'error: 1 of 2 runs failed; their train.log says why')
  assert 'failed (exit status 2): error: config.batch_size=33 does not divide' in result.stdout
  rows = read_rows(workdir)
  good, bad = rows['small_lr,seed=0'], rows['bad_batch,seed=0']
  assert good['status'] == 'finished' and good['steps'] == '30/30'
  assert 0 < float(good['final_eval_accuracy']) <= 1 and float(good['images_per_sec']) > 0
  assert int(good['parameters']) == 61_706 and int(good['multiply_adds']) > 0
  assert bad['status'] == 'failed'
  results_md = (workdir / 'results.md').read_text()
  assert '# Sweep two_runs' in results_md and '| small_lr,seed=0 | finished |' in results_md
  assert is_png(workdir / 'curves.png')

  again = run_sweep(f'--sweep={sweep_file}', f'--workdir={workdir}')
  assert '[1/2 small_lr,seed=0] finished earlier: skipped' in again.stdout
  assert again.returncode == 1


@pytest.mark.e2e
@pytest.mark.slow
def test_report_of_a_sweep_in_progress_and_a_clean_stop(tmp_path):
  sweep_file = write_sweep_file(
      tmp_path, {'short': {'num_train_steps': 20}, 'long': {'num_train_steps': 100_000}},
      {'log_every_steps': 5})
  workdir = tmp_path / 'sweep'
  process = subprocess.Popen([sys.executable, 'sweep.py', f'--sweep={sweep_file}',
                              f'--workdir={workdir}'], cwd=REPO, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
  for line in process.stdout:  # wait until the long run has logged a step
    if line.startswith('[2/2 long,seed=0] step '):
      break
  report = run_sweep('--report', f'--workdir={workdir}')
  assert report.returncode == 0, report.stderr[-2000:]
  rows = read_rows(workdir)
  assert rows['short,seed=0']['status'] == 'finished'
  long_row = rows['long,seed=0']
  assert long_row['status'] == 'running or stopped'
  assert int(long_row['steps'].split('/')[0]) >= 5 and long_row['steps'].endswith('/100000')
  assert is_png(workdir / 'curves.png')

  process.send_signal(signal.SIGINT)  # Ctrl-C: the run checkpoints, the sweep stops
  stdout, _ = process.communicate(timeout=300)
  assert process.returncode == 130
  assert 'sweep two_runs stopped during long,seed=0: run the same command again' in stdout
  assert sweep.read_status(str(workdir / 'long,seed=0'))['state'] == 'stopped'
  assert os.listdir(workdir / 'long,seed=0' / 'checkpoints')


@pytest.mark.parametrize('name', SHIPPED)
def test_shipped_sweeps_expand_to_valid_runs(name):
  for variant in ('', ':small'):
    _, definition, runs = sweep.load_sweep(os.path.join(REPO, 'configs', 'sweeps',
                                                        f'{name}.py{variant}'))
    assert len(runs) >= 2 and definition['description']
    assert definition['claim']['expect']  # every sweep states its claim as comparisons
    if variant:  # the small variants run on the embedded dataset, offline, over seeds
      assert definition['recipe'] == 'configs/quickstart.py'
      assert 'dataset' not in definition.get('overrides', {})
      assert len(definition['seeds']) >= 2


@pytest.mark.e2e
def test_dry_run_prints_one_train_command_per_run(tmp_path):
  result = run_sweep('--sweep=configs/sweeps/plain_vs_residual.py', f'--workdir={tmp_path}',
                     '--dry_run')
  assert result.returncode == 0, result.stderr[-2000:]
  commands = result.stdout.strip().splitlines()
  assert len(commands) == 4
  assert all(c.startswith('python train.py --config=configs/resnet20_cifar10.py') for c in commands)
  assert f'--workdir={tmp_path}/model=plain56,seed=0 --config.model=plain56' in commands[1]
  assert not os.listdir(tmp_path)  # a dry run writes nothing


@pytest.mark.e2e
def test_a_bad_sweep_file_is_one_line(tmp_path):
  path = tmp_path / 'typo.py'
  path.write_text('def get_sweep(variant):\n  return {"description": "x", '
                  '"recipe": "configs/quickstart.py", "axes": {"modle": ["resnet20"]}}\n')
  result = run_sweep(f'--sweep={path}', f'--workdir={tmp_path / "w"}')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      "error: run modle=resnet20,seed=0: configs/quickstart.py has no config field 'modle'")


# train.py with its progress lines reworded; '--stop_at_step_5' makes it stop as a
# SIGTERM would, after step 5.
REWORDED_TRAIN = """
import runpy, sys
from training import preemption, progress
progress.Console.finished = lambda self, *args: self.print('ALL DONE (reworded)')
progress.Console.stopped = lambda self, *args: self.print('HALTED (reworded)')
progress.Console.step = lambda self, step, *args: self.print(f'at {step} (reworded)')
if '--stop_at_step_5' in sys.argv:
  sys.argv.remove('--stop_at_step_5')
  def reached(self, step):
    self.cause = 'SIGTERM' if step >= 5 else None
    return self.cause is not None
  preemption.Preemption.reached = reached
sys.argv = ['train.py'] + sys.argv[1:]
runpy.run_path('train.py', run_name='__main__')
"""


@pytest.mark.e2e
@pytest.mark.slow
def test_outcomes_come_from_run_json_whatever_train_py_prints(tmp_path, monkeypatch, capsys):
  real_command = sweep.train_command

  def reworded_command(definition, run, workdir):
    command = real_command(definition, run, workdir)  # [python, train.py, flags...]
    stop = ['--stop_at_step_5'] if run['name'].startswith('stopped') else []
    return [sys.executable, '-c', REWORDED_TRAIN, *command[2:], *stop]

  monkeypatch.setattr(sweep, 'train_command', reworded_command)
  definition = {'description': 'Reworded progress lines.', 'recipe': 'configs/quickstart.py',
                'overrides': {'num_train_steps': 10, 'log_every_steps': 5},
                'runs': {'finished': {}, 'failed': {'batch_size': 33}, 'stopped': {}}}
  runs = sweep.expand(definition)
  with pytest.raises(KeyboardInterrupt):  # a stopped run stops the sweep
    sweep.run_sweep('reworded', definition, runs, str(tmp_path))
  out = capsys.readouterr().out
  assert 'ALL DONE (reworded)' in out and 'HALTED (reworded)' in out and 'at 5 (reworded)' in out
  states = {run['name']: sweep.read_status(str(tmp_path / run['name']))['state'] for run in runs}
  assert states == {'finished,seed=0': 'finished', 'failed,seed=0': 'failed',
                    'stopped,seed=0': 'stopped'}
