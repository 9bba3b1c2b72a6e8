"""benchmarks/compare_torch.py's table and time budget, and the GPU suite's CPU dry run
(benchmarks/gpu_suite.sh --cpu_dry_run), which runs every step of the suite at tiny sizes."""

import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

from benchmarks import compare_torch, device_peaks
from tests.helpers import REPO


def result(train: float, evaluation: float, mfu=None, image_size=224) -> dict:
  return {'train_images_per_sec': train, 'eval_images_per_sec': evaluation, 'mfu': mfu,
          'compile_seconds': 12.34, 'image_size': image_size, 'device_kind': 'NVIDIA H200',
          'devices': 1, 'half_precision': True, 'compiled': True, 'channels_last': True}


def row(jax_result, torch_result, jax_error=None, torch_error=None) -> dict:
  both = jax_result and torch_result
  return {'model': 'resnet50', 'batch_size': 256, 'image_size': 0, 'jax': jax_result,
          'torch': torch_result, 'jax_error': jax_error, 'torch_error': torch_error,
          'train_ratio': both and jax_result['train_images_per_sec']
          / torch_result['train_images_per_sec'],
          'eval_ratio': both and jax_result['eval_images_per_sec']
          / torch_result['eval_images_per_sec']}


def test_table_row_has_ratios_mfu_and_compile_seconds():
  line = compare_torch.table_row(row(result(3000.0, 9000.0, 0.412), result(2500.0, 10000.0, 0.3)))
  assert line == ('| resnet50 | 256 | 224 | 3,000.0 | 2,500.0 | 1.20× | 9,000.0 | 10,000.0 | '
                  '0.90× | 41.2% | 30.0% | 12.3 | 12.3 |')


def test_table_row_says_why_a_side_has_no_numbers():
  line = compare_torch.table_row(row(result(3000.0, 9000.0), None,
                                     torch_error="error: No module named 'torch': pip install"))
  assert "| failed: No module named 'torch': pip install | — | 9,000.0 | — | — | n/a | — |" in line
  skipped = compare_torch.table_row(row(None, None, 'skipped: out of time',
                                        'skipped: out of time'))
  assert skipped.count('skipped: out of time') == 2


def test_rows_at_different_inputs_show_both():
  line = compare_torch.table_row(row(result(1.0, 1.0, image_size=299),
                                     result(1.0, 1.0, image_size=224)))
  assert '| JAX 299, PyTorch 224 |' in line


def test_budget_gives_each_run_what_is_left_and_then_nothing():
  assert compare_torch.Budget(0, 600, 30).next_timeout() == 600
  budget = compare_torch.Budget(100, 600, 30)
  assert 99 < budget.next_timeout() <= 100
  assert compare_torch.Budget(100, 60, 30).next_timeout() == 60
  budget.deadline = time.monotonic() + 10  # 10 s left, under the 30 s minimum
  assert budget.next_timeout() is None


def test_mfu_needs_a_known_peak_and_bfloat16(monkeypatch):
  monkeypatch.delenv('BENCHMARK_DEVICE_KIND', raising=False)
  # 1000 img/s × 3 × 8.2 GFLOPs = 24.6 TFLOP/s of H200's 989.
  assert device_peaks.mfu(1000.0, 8.2e9, 'NVIDIA H200') == pytest.approx(24.6e12 / 989e12)
  assert device_peaks.mfu(1000.0, 8.2e9, 'cpu') is None
  assert device_peaks.mfu(1000.0, 8.2e9, 'NVIDIA H200', half_precision=False) is None
  monkeypatch.setenv('BENCHMARK_DEVICE_KIND', 'NVIDIA H200 (CPU dry run)')
  assert device_peaks.mfu(1000.0, 8.2e9, 'cpu') is not None


@pytest.mark.e2e
@pytest.mark.slow
def test_gpu_suite_cpu_dry_run_writes_every_part(tmp_path):
  """The suite's own command on the CPU, with one network: device check, the comparison,
  ResNet-50's profile and the report; PyTorch's side runs where torch is installed and
  says why not where it is not (CI installs requirements.txt only)."""
  out = tmp_path / 'suite'
  env = {key: value for key, value in os.environ.items() if key != 'TORCH_PYTHON'}
  env['PYTHON'] = sys.executable  # both sides in this environment
  completed = subprocess.run(['bash', 'benchmarks/gpu_suite.sh', '--cpu_dry_run',
                              f'--out={out}', '--models=resnet18'], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=900)
  has_torch = importlib.util.find_spec('torch') is not None
  log = (out / 'suite.log').read_text()
  assert completed.returncode == (0 if has_torch else 1), log[-3000:]
  device = json.loads((out / 'device.json').read_text())
  assert device['dry_run'] and device['jax_platform'] == 'cpu'
  comparison = json.loads((out / 'compare_1_first.json').read_text())
  (first,) = comparison['rows']
  assert first['model'] == 'resnet18' and first['jax']['image_size'] == 224
  assert first['jax']['device_kind'] == 'NVIDIA H200 (CPU dry run)'
  assert first['jax']['mfu'] > 0  # the stand-in peak: every MFU code path ran
  if has_torch:
    assert first['torch']['mfu'] > 0 and first['train_ratio'] > 0
  else:
    assert "No module named 'torch'" in first['torch_error']
  profile = json.loads((out / 'profile.json').read_text())
  assert profile['model'] == 'resnet50' and profile['profile']['categories']
  summary = (out / 'summary.md').read_text()
  assert '**CPU dry run**' in summary
  assert '| resnet18 | 2 | 224 |' in summary
  assert 'ms per step' in summary  # the profile's table
  assert not os.path.exists(out / 'compare_2_others.json')  # no other network was named


def test_cpu_comparison_is_float32_eager_at_64_pixels_on_the_cpu_only():
  args = compare_torch.parse_args(['--device=cpu'])
  assert (args.batch_size, args.image_size) == (32, 64)
  assert compare_torch.DEVICE_SETTINGS['cpu']['jax'] == []  # float32
  assert compare_torch.DEVICE_SETTINGS['cpu']['torch'] == ['--precision=fp32', '--no_compile']
  jax_env, torch_env = compare_torch.environments('cpu')
  assert jax_env['JAX_PLATFORMS'] == 'cpu' and torch_env['CUDA_VISIBLE_DEVICES'] == ''
  gpu = compare_torch.parse_args([])
  assert (gpu.batch_size, gpu.image_size) == (256, 0)  # 0: each network's paper input
  assert compare_torch.DEVICE_SETTINGS['gpu']['jax'] == ['--half_precision']


def test_a_failed_run_is_told_by_its_exception_line():
  jax_stderr = ('Traceback (most recent call last):\n  File "x.py", line 1\n'
                'ZeroDivisionError: division by zero\n--------------------\n'
                'For simplicity, JAX has removed its internal frames from the traceback.\n')
  assert compare_torch.failure_line(jax_stderr) == 'ZeroDivisionError: division by zero'
  assert compare_torch.failure_line('loading...\nerror: out of memory at batch 256: CUDA\n') == (
      'error: out of memory at batch 256: CUDA')
  assert compare_torch.failure_line('something odd\nlast words\n') == 'last words'
