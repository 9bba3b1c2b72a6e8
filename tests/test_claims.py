"""A sweep's claim judged on synthetic metrics, and the verdict in sweep.py's report."""

import json
import os
import subprocess
import sys

import pytest

import claims
import sweep
from tests.helpers import REPO

DEGRADATION = ['train_error[plain56] > train_error[plain20]',
               'train_error[resnet56] < train_error[plain56]']


def test_a_claim_that_holds_gives_its_numbers():
  outcomes = claims.judge(DEGRADATION, {
      'plain20': {'train_error': [0.05, 0.07]}, 'plain56': {'train_error': [0.30, 0.40]},
      'resnet56': {'train_error': [0.02, 0.04]}})
  assert [o.holds for o in outcomes] == [True, True]
  assert claims.verdict(outcomes) == 'holds at this scale'
  lines = claims.report_lines('Deeper plain nets train worse.', outcomes)
  assert lines[0] == 'Claim: Deeper plain nets train worse. — holds at this scale'
  assert lines[1] == ('- train_error: plain56 35.00 % ± 5.00 % > plain20 6.00 % ± 1.00 %: yes')


def test_one_comparison_failing_means_the_claim_does_not_hold():
  outcomes = claims.judge(DEGRADATION, {
      'plain20': {'train_error': [0.30]}, 'plain56': {'train_error': [0.10]},
      'resnet56': {'train_error': [0.05]}})
  assert [o.holds for o in outcomes] == [False, True]
  assert claims.verdict(outcomes) == 'does not hold at this scale'
  assert outcomes[0].describe() == 'train_error: plain56 10.00 % > plain20 30.00 %: no'


def test_a_spread_larger_than_the_difference_is_said():
  outcomes = claims.judge(['eval_top1[a] > eval_top1[b]'], {
      'a': {'eval_top1': [0.90, 0.96]}, 'b': {'eval_top1': [0.91, 0.93]}})
  # Means 0.93 > 0.92: holds, but spreads 0.03 + 0.01 exceed the 0.01 difference.
  assert outcomes[0].holds and outcomes[0].within_spread
  assert claims.verdict(outcomes) == ('holds at this scale, but the seeds\' spread is larger '
                                      'than the difference in eval_top1[a] > eval_top1[b]')
  assert outcomes[0].describe().endswith(
      ': yes (the seeds\' spread is larger than the difference, 1.00 %)')


def test_counts_compare_without_spread_and_missing_groups_wait():
  outcomes = claims.judge(['parameters[naive] > parameters[reduced]'], {
      'naive': {'parameters': [9e6, 9e6]}, 'reduced': {'parameters': [6e6, 6e6]}})
  assert claims.verdict(outcomes) == 'holds at this scale'
  assert outcomes[0].describe() == 'parameters: naive 9,000,000 > reduced 6,000,000: yes'
  waiting = claims.judge(['parameters[naive] > parameters[reduced]'],
                         {'naive': {'parameters': [9e6]}, 'reduced': {}})
  assert claims.verdict(waiting) == 'cannot be judged yet'
  assert 'reduced has no parameters yet' in waiting[0].describe()


@pytest.mark.parametrize('text, message', [
    ('train_error[a] >= train_error[b]', r'write metric\[group\] < metric\[group\]'),
    ('train_error[a] > eval_top1[b]', 'compare one metric between two groups'),
    ('accuracy[a] > accuracy[b]', "unknown metric 'accuracy'"),
])
def test_a_claim_that_cannot_be_read_says_how_to_write_it(text, message):
  with pytest.raises(claims.ClaimError, match=message):  # a regular expression
    claims.parse(text)


def test_a_sweep_file_whose_claim_names_no_run_is_refused(tmp_path):
  path = tmp_path / 'bad_claim.py'
  path.write_text('def get_sweep(variant):\n'
                  '  return {"description": "d", "recipe": "configs/quickstart.py",\n'
                  '          "axes": {"model": ["lenet5", "resnet20"]},\n'
                  '          "claim": {"statement": "s", "expect": '
                  '["train_error[lenet5] > train_error[resnet56]"]}}\n')
  with pytest.raises(sweep.SweepError, match="names 'resnet56', which is no run of the sweep: "
                                             'use one of lenet5, resnet20'):
    sweep.load_sweep(str(path))


def write_finished_run(run_dir, train_errors, eval_accuracy):
  """A run folder as train.py and sweep.py leave it, with made-up metrics."""
  os.makedirs(run_dir)
  with open(os.path.join(run_dir, 'metrics.jsonl'), 'w') as f:
    for step, error in enumerate(train_errors, 1):
      f.write(json.dumps({'step': 10 * step, 'train_loss': 2 * error,
                          'train_accuracy': 1 - error, 'images_per_sec': 100.0}) + '\n')
    f.write(json.dumps({'step': 10 * len(train_errors), 'eval_accuracy': eval_accuracy}) + '\n')
  with open(os.path.join(run_dir, 'run.json'), 'w') as f:
    json.dump({'status': 'finished', 'model': 'lenet5', 'image_size': 32, 'num_classes': 10,
               'channels': 1, 'parameters': 61_706, 'total_steps': 10 * len(train_errors)}, f)
  with open(os.path.join(run_dir, sweep.STATUS_FILE), 'w') as f:
    json.dump({'state': 'finished', 'seconds': 60.0, 'returncode': 0}, f)


def test_the_report_puts_the_verdict_first_with_means_over_seeds(tmp_path):
  definition = {'description': 'Two made-up groups.', 'recipe': 'configs/quickstart.py',
                'axes': {'learning_rate': [0.1, 0.4]}, 'seeds': (0, 1),
                'claim': {'statement': 'A smaller rate trains to a lower error.',
                          'expect': ['train_error[0.1] < train_error[0.4]']}}
  runs = sweep.expand(definition)
  assert [run['group'] for run in runs] == ['0.1', '0.4', '0.1', '0.4']
  (tmp_path / 'sweep.json').write_text(json.dumps(
      {'name': 'made_up', 'description': definition['description'],
       'recipe': definition['recipe'], 'overrides': {}, 'claim': definition['claim'],
       'runs': runs}))
  # Only the last fifth of the logged steps counts: the early errors of 0.9 do not.
  errors = {('0.1', 0): [0.9] * 8 + [0.10, 0.12], ('0.1', 1): [0.9] * 8 + [0.14, 0.16],
            ('0.4', 0): [0.9] * 8 + [0.20, 0.20], ('0.4', 1): [0.9] * 8 + [0.30, 0.30]}
  for run in runs:
    write_finished_run(str(tmp_path / run['name']),
                       errors[run['group'], run['overrides']['seed']], 0.9)
  result = subprocess.run([sys.executable, 'sweep.py', '--report', f'--workdir={tmp_path}'],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  verdict = ('Claim: A smaller rate trains to a lower error. — holds at this scale')
  assert result.stdout.splitlines()[:2] == [
      verdict, '- train_error: 0.1 13.00 % ± 2.00 % < 0.4 25.00 % ± 5.00 %: yes']
  results_md = (tmp_path / 'results.md').read_text()
  assert results_md.splitlines()[4] == f'**{verdict}**'
  assert '| 0.1 | 2/2 | 13.00 % ± 2.00 % |' in results_md
  with open(tmp_path / 'curves.png', 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
