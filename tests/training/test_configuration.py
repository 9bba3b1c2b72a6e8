"""Config fields declared once (configs/default.py): the default config, the checks and
the field list all come from the declarations."""

import subprocess
import sys

import pytest

from configs import default
from tests.helpers import REPO, small_config
from training import configuration
from training.configuration import ConfigError


def test_every_declared_field_is_in_the_default_config_and_nothing_else():
  config = default.get_config()
  assert sorted(config.keys()) == sorted(field.name for field in default.FIELDS)
  for field in default.FIELDS:
    value = config[field.name]
    assert (value.to_dict() if field.open_ended else value) == field.default, field.name


@pytest.mark.parametrize('field, value, message', [
    ('momentum', 1.0, "config.momentum=1.0 is not allowed: use in [0, 1)"),
    ('corrupt_images', 'keep', "config.corrupt_images='keep' is not allowed: use 'skip' or "
                               "'fail'"),
    ('lr_step_epochs', (60, 30), 'use positive epochs in increasing order, e.g. (30, 60, 80)'),
    ('num_classes', 0, 'use a positive number, or -1 to take it from the dataset'),
    ('model', 'resnet5O', 'use a registered model (did you mean resnet56, resnet50'),
    ('rmsprop_epsilon', 0.1, "config.rmsprop_epsilon=0.1 is not allowed: use a positive number "
                             "with optimizer='rmsprop'; it applies to nothing else (default 1.0)"),
    ('nesterov', True, None),  # fine with SGD: checked below with RMSProp
    ('lr_plateau_patience', 3, "with lr_schedule='plateau'; it applies to nothing else"),
    ('optimizer', 'adam', 'use one of sgd, rmsprop, adamw, lamb, lars'),
])
def test_a_value_outside_its_rule_names_the_field_and_what_is_allowed(field, value, message):
  config = small_config()
  config[field] = value
  if message is None:
    configuration.validate_config(config, default.FIELDS)
    config.optimizer = 'rmsprop'
    message = "config.nesterov=True is not allowed: use any value with optimizer='sgd'"
  with pytest.raises(ConfigError, match='^config.') as caught:
    configuration.validate_config(config, default.FIELDS)
  assert message in str(caught.value)


def test_num_epochs_may_be_zero_only_when_steps_are_given():
  configuration.validate_config(small_config(num_epochs=0, num_train_steps=5), default.FIELDS)
  with pytest.raises(ConfigError, match='positive \\(or set num_train_steps\\)'):
    configuration.validate_config(small_config(num_epochs=0, num_train_steps=-1), default.FIELDS)


def test_a_field_a_recipe_adds_by_mistake_is_unknown():
  config = small_config()
  config.lr_schedul = 'step'
  with pytest.raises(ConfigError, match="unknown config field 'lr_schedul': did you mean "
                                        "'lr_schedule'"):
    configuration.validate_config(config, default.FIELDS)


def test_unknown_fields_of_overrides_leave_model_options_free():
  assert configuration.unknown_fields(
      ['batch_size', 'model_options.zero_init_last_bn', 'batch_sise'], default.FIELDS) == [
          'batch_sise']


@pytest.mark.e2e
def test_the_field_list_shows_every_field_with_its_default_and_rule():
  completed = subprocess.run([sys.executable, '-m', 'configs.default'], cwd=REPO,
                             capture_output=True, text=True, timeout=120)
  assert completed.returncode == 0, completed.stderr[-2000:]
  text = completed.stdout
  for field in default.FIELDS:
    assert f'--config.{field.name}=' in text, field.name
  assert "--config.on_nonfinite='stop'  ['stop' or 'skip']" in text
  assert '--config.model=' in text and '`python -m models list` shows them all' in text
