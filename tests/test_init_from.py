"""train.py --config.init_from / init_from_rules / trainable, and evaluate.py on converted
weights: a converted torchvision checkpoint fine-tuned and linearly probed on a 10-class
image folder, VGG-13 started from VGG-11 by the paper's staged rule, and bad input."""

import json
import os

import jax
import numpy as np
import pytest
from flax.traverse_util import flatten_dict

import models
from models import features
from tests import helpers, parity
from tests.trained.test_convert import run_convert, write_weights
import train
from training import checkpoints, initialization, steps
from training.configuration import ConfigError

pytestmark = pytest.mark.e2e

TORCHVISION_MEAN = [0.485 * 255, 0.456 * 255, 0.406 * 255]


@pytest.fixture(scope='module')
def converted_resnet18(tmp_path_factory):
  """torchvision-layout resnet18 weights (seeded), converted through the CLI."""
  folder = tmp_path_factory.mktemp('resnet18_torchvision')
  weights = write_weights(parity.load_fixture('resnet18'), str(folder))
  out = str(folder / 'converted')
  result = run_convert('--model=resnet18', f'--weights={weights}', f'--out={out}')
  assert result.returncode == 0, result.stderr
  return out


@pytest.fixture(scope='module')
def rgb_digits(tmp_path_factory):
  root = str(tmp_path_factory.mktemp('digits_rgb'))
  helpers.write_digits_as_png_folder(root, rgb=True, per_class=8)
  return root


def variables_of(checkpoints_dir: str, step: int, model_name: str, num_classes: int) -> dict:
  model = models.create(model_name, num_classes=num_classes)
  restored = checkpoints.restore_eval_model(checkpoints.open_checkpoints(checkpoints_dir), step,
                                            model, 32, 3, False, steps.create_mesh())
  return {'/'.join(path): value
          for path, value in flatten_dict(jax.device_get(restored.variables)).items()}


def fine_tune(workdir, converted, data, *overrides):
  return helpers.run_train(helpers.QUICKSTART, '--config.model=resnet18',
                           f'--config.dataset=image_folder:{data}',
                           f'--config.init_from={converted}', '--config.num_train_steps=3',
                           '--config.log_every_steps=1', '--config.learning_rate=0.02',
                           *overrides, workdir=workdir)


@pytest.mark.parametrize('trainable', ['all', 'head'])
def test_a_converted_checkpoint_fine_tunes_or_probes_a_10_class_folder(
    trainable, converted_resnet18, rgb_digits, tmp_path):
  workdir = str(tmp_path / trainable)
  result = fine_tune(workdir, converted_resnet18, rgb_digits, f'--config.trainable={trainable}')
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'loaded 100 variables, re-initialised 2' in result.stdout
  with open(os.path.join(workdir, initialization.REPORT_FILE)) as file:
    report = json.load(file)
  # Everything but the 1000-way classifier came from the converted weights.
  assert set(report['reinitialised']) == {'params/fc/kernel', 'params/fc/bias'}
  assert 'shape (512, 10) here, (512, 1000) there' in report['reinitialised']['params/fc/kernel']
  assert len(report['loaded']) == 100
  assert all(key == value for key, value in report['loaded'].items())
  with open(os.path.join(workdir, 'run.json')) as file:
    run = json.load(file)
  np.testing.assert_allclose(run['image_mean'], TORCHVISION_MEAN)  # the weights' normalisation

  before = variables_of(os.path.join(converted_resnet18, 'checkpoints'), 0, 'resnet18', 1000)
  after = variables_of(os.path.join(workdir, 'checkpoints'), 3, 'resnet18', 10)
  unchanged = {key for key, value in after.items()
               if key in before and np.array_equal(before[key], value)}
  if trainable == 'head':  # a linear probe: only the classifier moved, statistics included
    assert report['frozen'] == sorted(k for k in before if not k.startswith('params/fc/'))
    assert unchanged == set(after) - {'params/fc/kernel', 'params/fc/bias'}
    return
  assert report['frozen'] == []
  assert not any(key.startswith('params/') for key in unchanged)
  assert not any(key.startswith('batch_stats/') for key in unchanged)
  # Run on: it resumes from its own checkpoint of step 3, not from init_from again.
  again = fine_tune(workdir, converted_resnet18, rgb_digits, f'--config.trainable={trainable}',
                    '--config.num_train_steps=4')
  assert again.returncode == 0, again.stderr[-2000:]
  assert 'init_from' not in again.stdout and 'resuming at step 3' in again.stdout


def test_a_linear_probe_on_stages_of_the_trained_quickstart_learns_the_digits(
    quickstart_runs, tmp_path):
  """probe_stages: LeNet-5's c3 and c5 maps from the trained quickstart run (init_from),
  average-pooled and concatenated, feed a new Dense layer; trainable=head trains it alone."""
  source, _ = quickstart_runs['embedded']
  workdir = str(tmp_path / 'probe')
  result = helpers.run_train(helpers.QUICKSTART, f'--config.init_from={source}',
                             '--config.trainable=head', '--config.probe_stages=c3,-1',
                             '--config.num_train_steps=40', '--config.log_every_steps=20',
                             workdir=workdir)
  assert result.returncode == 0, result.stderr[-2000:]
  with open(os.path.join(workdir, initialization.REPORT_FILE)) as file:
    report = json.load(file)
  assert set(report['reinitialised']) == {'params/probe/kernel', 'params/probe/bias'}
  # LeNet-5 up to c5, with its own paths: its classifier layers f6 and output are not built.
  backbone = {f'params/{layer}/{leaf}' for layer in ('c1', 'c3', 'c5')
              for leaf in ('kernel', 'bias')}
  assert set(report['loaded']) == backbone and report['frozen'] == sorted(backbone)

  def variables(model, folder: str) -> dict:
    manager = checkpoints.open_checkpoints(os.path.join(folder, 'checkpoints'))
    restored = checkpoints.restore_eval_model(manager, manager.latest_step(), model, 32, 1,
                                              False, steps.create_mesh())
    return {'/'.join(path): value
            for path, value in flatten_dict(jax.device_get(restored.variables)).items()}

  before = variables(models.create('lenet5', num_classes=10), str(source))
  after = variables(features.linear_probe('lenet5', (1, 2), num_classes=10), workdir)
  assert all(np.array_equal(after[key], before[key]) for key in backbone)
  assert after['params/probe/kernel'].shape == (16 + 120, 10)
  with open(os.path.join(workdir, 'metrics.jsonl')) as file:
    evaluations = [json.loads(line) for line in file if 'eval_accuracy' in line]
  # 96.4 % measured after 40 steps (chance: 10 %; the quickstart's own LeNet-5: about 97 %).
  assert evaluations[-1]['step'] == 40 and evaluations[-1]['eval_accuracy'] > 0.9, evaluations


def test_vgg13_starts_from_vgg11_by_the_staged_rule_on_the_digits(tmp_path):
  """Simonyan & Zisserman §3.1: the first four convolutions and the three FC layers of net
  A start the deeper net; the intermediate layers are initialised at random."""
  short = ('--config.num_train_steps=1', '--config.batch_size=16', '--config.log_every_steps=1')
  vgg11 = str(tmp_path / 'vgg11')
  result = helpers.run_train(helpers.QUICKSTART, '--config.model=vgg11', *short, workdir=vgg11)
  assert result.returncode == 0, result.stderr[-2000:]
  vgg13 = str(tmp_path / 'vgg13')
  result = helpers.run_train(helpers.QUICKSTART, '--config.model=vgg13', *short,
                             f'--config.init_from={vgg11}', '--config.init_from_rules=conv[45]_.*=',
                             workdir=vgg13)
  assert result.returncode == 0, result.stderr[-2000:]
  with open(os.path.join(vgg13, initialization.REPORT_FILE)) as file:
    report = json.load(file)
  layers = lambda keys: sorted({key.split('/')[1] for key in keys})
  assert layers(report['loaded']) == ['conv1_1', 'conv2_1', 'conv3_1', 'conv3_2', 'fc6', 'fc7',
                                      'fc8']
  assert layers(report['reinitialised']) == ['conv1_2', 'conv2_2', 'conv4_1', 'conv4_2',
                                             'conv5_1', 'conv5_2']
  assert report['reinitialised']['params/conv4_1/kernel'] == 'init_from_rules'
  assert 'no params/conv1_2/kernel' in report['reinitialised']['params/conv1_2/kernel']


# One train.py start for each place that refuses an initialisation: the source (open_source),
# the rules (their syntax, then against this network's variables), the probe's stages.
@pytest.mark.parametrize('overrides, fragment', [
    (('--config.init_from={missing}',), 'config.init_from: '),
    (('--config.init_from={converted}', '--config.init_from_rules=conv[=x'),
     'is not pattern=replacement'),
    (('--config.init_from={converted}', '--config.init_from_rules=nothing_like_this/.*='),
     'matches no variable of this network'),
    (('--config.init_from={converted}', '--config.model=lenet5'),
     'shares no variable (same path and shape) with this network'),
    (('--config.probe_stages=7',), "config.probe_stages='7': resnet18 has no stage 7: its 5 "
                                   'stage maps are 0 act1 /2, 1 layer1 /4'),
])
def test_bad_initialisation_settings_are_refused_before_any_step(overrides, fragment,
                                                                 converted_resnet18, tmp_path):
  workdir = tmp_path / 'run'
  args = [o.format(missing=tmp_path / 'nowhere', converted=converted_resnet18) for o in overrides]
  if not any(a.startswith('--config.model') for a in args):
    args.append('--config.model=resnet18')
  result = helpers.run_train(helpers.QUICKSTART, *args, workdir=str(workdir))
  assert result.returncode == 2, result.stdout[-1000:] + result.stderr[-1000:]
  error_lines = [line for line in result.stderr.splitlines() if line.startswith('error:')]
  assert len(error_lines) == 1 and fragment in error_lines[0], result.stderr[-1500:]
  assert not (workdir / 'checkpoints').exists() or not os.listdir(workdir / 'checkpoints')


# The field rules (configuration.validate_config, which test_train_cli.py's 'bad choice'
# meets through train.py): the function train.py runs, in this process, with no network built.
@pytest.mark.parametrize('fields, fragment', [
    ({'trainable': 'encoder'}, "config.trainable='encoder'"),
    ({'init_from_rules': 'a=b'}, "'' unless init_from is set"),
])
def test_bad_initialisation_fields_are_refused_by_the_function_train_py_runs(fields, fragment,
                                                                            tmp_path):
  config = helpers.load_recipe('quickstart')
  config.update(fields, model='resnet18')
  workdir = tmp_path / 'run'
  with pytest.raises(ConfigError) as caught:
    train.train_and_evaluate(config, str(workdir))
  assert fragment in str(caught.value) and '\n' not in str(caught.value)
  assert not (workdir / 'checkpoints').exists() or not os.listdir(workdir / 'checkpoints')


def test_evaluate_uses_the_converted_checkpoints_own_preprocessing(converted_resnet18,
                                                                   imagenet_data_dir, tmp_path):
  """No --config: the source's resize 256 / crop 224 and normalisation, on ILSVRC photos."""
  out = str(tmp_path / 'eval')
  result = helpers.run_evaluate(f'--workdir={converted_resnet18}', f'--data_dir={imagenet_data_dir}',
                                f'--out={out}')
  assert result.returncode == 0, result.stderr[-2000:]
  with open(os.path.join(out, 'eval.json')) as file:
    (entry,) = json.load(file)['results']
  assert entry['num_examples'] == helpers.ILSVRC_VAL and entry['views_per_image'] == 1
  assert entry['checkpoint_step'] == 0
