"""The training loop on two simulated CPU devices (see conftest.py): steps, exact
evaluation, checkpoints and resumption, metrics.jsonl, and ResNet-18 on ILSVRC tars."""

import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import input_pipeline
import jsonl_writer
import train
from configs import quickstart


def small_config(**overrides):
  config = quickstart.get_config()
  config.update(dict(num_train_steps=20, batch_size=32, log_every_steps=5,
                     eval_every_epochs=100.0, checkpoint_every_steps=10, keep_checkpoints=5))
  config.update(overrides)
  return config


def test_runs_on_two_devices_and_the_loss_falls(tmp_path):
  assert jax.device_count() == 2
  train.train_and_evaluate(small_config(num_train_steps=60, learning_rate=0.8), str(tmp_path))
  losses = [e['train_loss'] for e in jsonl_writer.read_events(str(tmp_path / 'metrics.jsonl'))
            if 'train_loss' in e]
  assert len(losses) == 12
  assert losses[-1] < 0.5 * losses[0]


def test_metrics_jsonl_holds_train_and_eval_events(tmp_path):
  metrics = train.train_and_evaluate(small_config(), str(tmp_path))
  events = jsonl_writer.read_events(str(tmp_path / 'metrics.jsonl'))
  train_events = [e for e in events if 'train_loss' in e]
  eval_events = [e for e in events if 'eval_accuracy' in e]
  assert [e['step'] for e in train_events] == [5, 10, 15, 20]
  assert all(e['learning_rate'] > 0 for e in train_events)
  assert [e['step'] for e in eval_events] == [20]
  assert eval_events[0] == {'step': 20, **metrics}
  assert 0 <= metrics['eval_accuracy'] <= metrics['eval_top5_accuracy'] <= 1
  assert metrics['eval_loss'] > 0
  assert os.listdir(tmp_path / 'tensorboard')


def test_evaluation_is_exact_with_a_partial_last_batch():
  config = small_config()
  source = input_pipeline.load_source('digits')
  mesh = train.create_mesh()
  model = train.create_model(config, 10)
  schedule = train.create_learning_rate_schedule(config, 44, 100)
  state = train.create_train_state(jax.random.key(3), model, 32, 1,
                                   train.create_optimizer(config, schedule), mesh)
  _, parallel_eval = train.compile_steps(mesh, config, schedule, source.mean, source.std)
  # 360 examples in batches of 34 (17 per device): the last batch has 20 real ones.
  metrics = train.evaluate(parallel_eval, state, source, config, 34, mesh)

  batches = list(input_pipeline.eval_batches(source, 360, 32))
  images, labels = batches[0]['image'], batches[0]['label']
  logits = model.apply({'params': state.params},
                       train.normalize_images(images, source.mean, source.std), train=False)
  expected_accuracy = float(np.mean(np.argmax(logits, -1) == labels))
  expected_loss = float(np.mean(train.cross_entropy(logits, labels)))
  assert metrics['eval_accuracy'] == pytest.approx(expected_accuracy, abs=1e-9)
  assert metrics['eval_loss'] == pytest.approx(expected_loss, rel=1e-5)


def test_resume_continues_at_the_newest_checkpoint_without_duplicate_events(tmp_path, capsys):
  workdir = str(tmp_path)
  train.train_and_evaluate(small_config(num_train_steps=40), workdir)
  # As if the process had died after the step-20 checkpoint but had logged further.
  for step in ('30', '40'):
    shutil.rmtree(tmp_path / 'checkpoints' / step)
  capsys.readouterr()
  train.train_and_evaluate(small_config(num_train_steps=40), workdir)
  assert 'resuming at step 20' in capsys.readouterr().out
  steps = [e['step'] for e in jsonl_writer.read_events(str(tmp_path / 'metrics.jsonl'))
           if 'train_loss' in e]
  assert steps == [5, 10, 15, 20, 25, 30, 35, 40]
  assert sorted(int(d) for d in os.listdir(tmp_path / 'checkpoints') if d.isdigit())[-1] == 40


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
  train.train_and_evaluate(small_config(num_train_steps=10), str(tmp_path))
  with pytest.raises(train.ConfigError, match='another --workdir'):
    train.train_and_evaluate(small_config(num_train_steps=10, model='resnet20',
                                          model_options={}), str(tmp_path))


def test_learning_rate_scales_warms_up_and_steps():
  config = small_config(learning_rate=0.1, batch_size=1024, warmup_epochs=5, lr_schedule='step',
                        lr_step_epochs=(30, 60))
  schedule = train.create_learning_rate_schedule(config, steps_per_epoch=10, total_steps=900)
  assert schedule(0) == pytest.approx(0.1)  # Goyal et al.: warmup starts at the base rate
  assert schedule(50) == pytest.approx(0.4)  # ... and reaches 0.1 × 1024 / 256
  assert schedule(299) == pytest.approx(0.4)
  assert schedule(300) == pytest.approx(0.04)
  assert schedule(600) == pytest.approx(0.004)
  cosine = train.create_learning_rate_schedule(small_config(learning_rate=0.1, batch_size=256,
                                                            lr_schedule='cosine'), 10, 100)
  assert cosine(0) == pytest.approx(0.1) and cosine(100) == pytest.approx(0.0)


def test_weight_decay_touches_kernels_only():
  params = {'conv': {'kernel': jnp.ones((3, 3, 1, 2))}, 'bn': {'scale': jnp.ones(2),
                                                               'bias': jnp.ones(2)}}
  assert train.weight_decay_mask(params) == {'conv': {'kernel': True},
                                             'bn': {'scale': False, 'bias': False}}


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
  losses = [e['train_loss'] for e in jsonl_writer.read_events(str(tmp_path / 'metrics.jsonl'))
            if 'train_loss' in e]
  assert all(np.isfinite(losses))
