"""train.train_and_evaluate on two simulated CPU devices (see conftest.py): the loop,
checkpoints and resumption, metrics.jsonl, run.json, and ResNet-18 on ILSVRC tars."""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from tests.helpers import small_config
import train
from training import metrics_file, workdir
from training.configuration import ConfigError
from training.step_metrics import NonFiniteError


def test_runs_on_two_devices_and_the_loss_falls(tmp_path):
  assert jax.device_count() == 2
  train.train_and_evaluate(small_config(num_train_steps=60, learning_rate=0.8), str(tmp_path))
  losses = [e['train_loss'] for e in metrics_file.read_events(str(tmp_path / 'metrics.jsonl'))
            if 'train_loss' in e]
  assert len(losses) == 12
  assert losses[-1] < 0.5 * losses[0]


def test_metrics_jsonl_holds_train_and_eval_events(tmp_path):
  metrics = train.train_and_evaluate(small_config(), str(tmp_path))
  events = metrics_file.read_events(str(tmp_path / 'metrics.jsonl'))
  train_events = [e for e in events if 'train_loss' in e]
  eval_events = [e for e in events if 'eval_accuracy' in e]
  assert [e['step'] for e in train_events] == [5, 10, 15, 20]
  assert all(e['learning_rate'] > 0 for e in train_events)
  assert [e['step'] for e in eval_events] == [20]
  assert eval_events[0] == {'step': 20, **metrics}
  assert 0 <= metrics['eval_accuracy'] <= metrics['eval_top5_accuracy'] <= 1
  assert metrics['eval_loss'] > 0
  assert os.listdir(tmp_path / 'tensorboard')


def test_resume_continues_at_the_newest_checkpoint_without_duplicate_events(tmp_path, capsys):
  workdir = str(tmp_path)
  train.train_and_evaluate(small_config(num_train_steps=40), workdir)
  # As if the process had died after the step-20 checkpoint but had logged further.
  for step in ('30', '40'):
    shutil.rmtree(tmp_path / 'checkpoints' / step)
  capsys.readouterr()
  train.train_and_evaluate(small_config(num_train_steps=40), workdir)
  assert 'resuming at step 20' in capsys.readouterr().out
  steps = [e['step'] for e in metrics_file.read_events(str(tmp_path / 'metrics.jsonl'))
           if 'train_loss' in e]
  assert steps == [5, 10, 15, 20, 25, 30, 35, 40]
  assert sorted(int(d) for d in os.listdir(tmp_path / 'checkpoints') if d.isdigit())[-1] == 40


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
  train.train_and_evaluate(small_config(num_train_steps=10), str(tmp_path))
  with pytest.raises(ConfigError, match='another --workdir'):
    train.train_and_evaluate(small_config(num_train_steps=10, model='resnet20',
                                          model_options={}), str(tmp_path))


@pytest.mark.slow
def test_resnet18_trains_and_evaluates_on_ilsvrc_tars(tmp_path, imagenet_data_dir,
                                                      ilsvrc_manual_dir):
  config = small_config(model='resnet18', dataset='imagenet2012', data_dir=imagenet_data_dir,
                        manual_dir=ilsvrc_manual_dir, num_classes=1000, image_size=64,
                        batch_size=8, num_train_steps=4, log_every_steps=2,
                        checkpoint_every_steps=100, learning_rate=0.1)
  metrics = train.train_and_evaluate(config, str(tmp_path))
  assert 0 <= metrics['eval_accuracy'] <= 1 and np.isfinite(metrics['eval_loss'])
  saved = json.loads((tmp_path / 'checkpoints' / '4' / 'run' / 'metadata').read_text())
  assert saved['model'] == 'resnet18' and saved['num_classes'] == 1000


def test_half_precision_trains_with_float32_parameters(tmp_path):
  metrics = train.train_and_evaluate(small_config(half_precision=True, num_train_steps=10),
                                     str(tmp_path))
  assert np.isfinite(metrics['eval_loss'])
  losses = [e['train_loss'] for e in metrics_file.read_events(str(tmp_path / 'metrics.jsonl'))
            if 'train_loss' in e]
  assert all(np.isfinite(losses))


def test_run_json_says_where_the_run_stands(tmp_path):
  metrics = train.train_and_evaluate(small_config(), str(tmp_path))
  status = workdir.read_run_status(str(tmp_path))
  assert status['status'] == 'finished' and status['stop_reason'] is None
  assert (status['step'], status['total_steps']) == (20, 20)
  assert status['last_eval'] == metrics
  assert status['model'] == 'lenet5' and status['parameters'] == 61_706


def test_run_json_records_a_failure_and_its_reason(tmp_path):
  # The learning rate test_train_long_runs.py uses to make the loss diverge.
  with pytest.raises(NonFiniteError):
    train.train_and_evaluate(small_config(num_train_steps=200, learning_rate=1e6),
                             str(tmp_path))
  status = workdir.read_run_status(str(tmp_path))
  assert status['status'] == 'failed'
  assert status['stop_reason'].startswith('non-finite loss or gradients at step')


def test_a_resumed_run_keeps_the_image_statistics_it_started_with(tmp_path):
  import dataclasses
  import input_pipeline
  source = dataclasses.replace(input_pipeline.load_digits_source(), mean=(10.0,), std=(2.0,),
                               name='image_folder:/data')
  assert train.keep_image_statistics(source, str(tmp_path)) is source
  changed = dataclasses.replace(source, mean=(12.0,), std=(3.0,))  # the folder grew
  kept = train.keep_image_statistics(changed, str(tmp_path))
  assert (kept.mean, kept.std) == ((10.0,), (2.0,))
  other = dataclasses.replace(changed, name='image_folder:/elsewhere')
  assert train.keep_image_statistics(other, str(tmp_path)).mean == (12.0,)


def test_resuming_with_moving_averages_a_run_written_without_them_is_refused(tmp_path):
  train.train_and_evaluate(small_config(num_train_steps=10), str(tmp_path))
  with pytest.raises(ConfigError, match='has no ema_params, ema_batch_stats state'):
    train.train_and_evaluate(small_config(num_train_steps=20, ema_decay=0.9), str(tmp_path))


def test_resuming_without_the_moving_averages_a_run_written_with_them_is_refused(tmp_path):
  train.train_and_evaluate(small_config(num_train_steps=10, ema_decay=0.9), str(tmp_path))
  with pytest.raises(ConfigError, match='resume with the settings it was written with'):
    train.train_and_evaluate(small_config(num_train_steps=20), str(tmp_path))
