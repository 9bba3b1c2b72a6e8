"""metrics.jsonl: written through clu's writer interface, read without clu or TensorFlow."""

import subprocess
import sys

from tests.helpers import REPO
from training import metric_writers, metrics_file


def test_the_chief_writes_jsonl_and_tensorboard(tmp_path):
  writer = metric_writers.create_metric_writer(str(tmp_path), is_chief=True)
  writer.write_scalars(5, {'train_loss': 2.5, 'learning_rate': 0.1})
  writer.write_scalars(10, {'train_loss': 1.5, 'learning_rate': 0.05})
  writer.flush()
  writer.close()
  assert metrics_file.read_events(str(tmp_path / 'metrics.jsonl')) == [
      {'step': 5, 'train_loss': 2.5, 'learning_rate': 0.1},
      {'step': 10, 'train_loss': 1.5, 'learning_rate': 0.05}]
  assert (tmp_path / 'tensorboard').is_dir()


def test_other_processes_write_no_files(tmp_path):
  writer = metric_writers.create_metric_writer(str(tmp_path), is_chief=False)
  writer.write_scalars(5, {'train_loss': 2.5})
  writer.close()
  assert not list(tmp_path.iterdir())


def test_events_after_a_step_are_dropped_atomically(tmp_path):
  path = str(tmp_path / 'metrics.jsonl')
  with open(path, 'w', encoding='utf-8') as f:
    f.writelines(metrics_file.format_event(step, {'train_loss': 1.0}) for step in (5, 10, 15))
  metrics_file.drop_events_after(path, 10)
  assert [e['step'] for e in metrics_file.read_events(path)] == [5, 10]
  assert not (tmp_path / 'metrics.jsonl.tmp').exists()


def test_reading_metrics_imports_neither_clu_nor_tensorflow():
  code = ('import sys; from training import metrics_file, workdir; '
          'assert not {"clu", "tensorflow"} & set(sys.modules), sorted(sys.modules)')
  completed = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
  assert completed.returncode == 0, completed.stderr[-2000:]
