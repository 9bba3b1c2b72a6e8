"""benchmark.py as a user runs it: real train and eval steps on synthetic data, JSON out,
no TensorFlow on its path. Speeds are printed, never asserted."""

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO

KEYS = {'model', 'batch_size', 'image_size', 'train_images_per_sec', 'eval_images_per_sec',
        'compile_seconds', 'mfu'}

# Runs benchmark.py's main in this interpreter, then reports whether TensorFlow was imported.
RUN_AND_REPORT_TENSORFLOW = """
import runpy, sys
sys.argv = ['benchmark.py'] + sys.argv[1:]
try:
  runpy.run_path('benchmark.py', run_name='__main__')
except SystemExit as exit:
  assert not exit.code, exit.code
print('tensorflow imported:', 'tensorflow' in sys.modules)
"""


@pytest.mark.e2e
def test_benchmark_json_for_two_small_models_without_tensorflow():
  results = []
  for name in ('lenet5', 'resnet20'):
    completed = subprocess.run(
        [sys.executable, '-c', RUN_AND_REPORT_TENSORFLOW, f'--model={name}', '--steps=2',
         '--batch_size=8', '--json'], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    lines = completed.stdout.strip().splitlines()
    assert lines[-1] == 'tensorflow imported: False'
    results.append(json.loads(lines[-2]))
  for name, result in zip(('lenet5', 'resnet20'), results):
    assert KEYS <= set(result) and result['model'] == name
    assert result['batch_size'] == 8 and result['image_size'] == 32
    for key in ('train_images_per_sec', 'eval_images_per_sec', 'compile_seconds'):
      assert result[key] > 0
    assert result['mfu'] is None  # no known peak for a CPU


@pytest.mark.e2e
def test_benchmark_rejects_an_unknown_model_in_one_line():
  completed = subprocess.run([sys.executable, 'benchmark.py', '--model=resnet99'], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
  assert completed.returncode == 2
  assert completed.stderr.strip().splitlines()[-1].startswith("error: unknown model 'resnet99'")


@pytest.mark.e2e
def test_input_pipeline_benchmark_on_a_tiny_generated_ilsvrc_dataset():
  completed = subprocess.run(
      [sys.executable, 'benchmark.py', '--input_pipeline', '--generated_images=24',
       '--batch_size=4', '--image_size=32', '--batches=2', '--json'],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert completed.returncode == 0, completed.stderr[-2000:]
  result = json.loads(completed.stdout.strip().splitlines()[-1])
  assert result['dataset'] == 'imagenet2012'
  assert (result['batch_size'], result['image_size']) == (4, 32)
  names = set(result['pipelines'])
  assert 'tf.data, as train.py runs it (uint8 out)' in names
  assert 'PIL/NumPy reference, one process (float32 out)' in names
  assert any(name.endswith('worker processes (float32 out)') for name in names)
  for timing in result['pipelines'].values():
    assert timing['images_per_sec'] > 0 and timing['images_per_cpu_sec'] > 0
  for key in ('per_core_ratio', 'per_core_ratio_same_work', 'total_ratio'):
    assert result[key] > 0
  for recipe in ('alexnet', 'vgg', 'resnet'):  # each against the reference doing its ops
    assert f'tf.data, {recipe} recipe (uint8 out)' in names
    assert f'PIL/NumPy reference, {recipe} recipe, one process (uint8 out)' in names
    assert result['recipe_per_core_ratios'][recipe] > 0
  assert set(result['op_cpu_microseconds']) == {
      'resize_short(37)|random_crop(32)', 'flip_lr', 'pca_lighting(0.1)', 'color_distort'}


@pytest.mark.e2e
def test_input_pipeline_benchmark_refuses_a_dataset_of_decoded_arrays():
  completed = subprocess.run([sys.executable, 'benchmark.py', '--input_pipeline',
                              '--dataset=digits'], cwd=REPO, capture_output=True, text=True,
                             timeout=300)
  assert completed.returncode == 2
  last = completed.stderr.strip().splitlines()[-1]
  assert last.startswith('error: digits is stored as decoded arrays'), last
