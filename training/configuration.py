"""Config fields, each declared once, and everything derived from the declarations.

configs/default.py declares every field as a `Field`: name, default, help and
the `Rule` its values follow. From those declarations come the default config
(`build_config`), the checks train.py runs before any work (`validate_config`),
the list of fields (`describe_fields`, printed by `python -m configs.default`)
and the unknown fields of a command line (`unknown_fields`), found by
comparing ml_collections' parsed overrides with the declared names.
"""

import dataclasses
import difflib
from typing import Any, Callable, Iterable, Sequence

import ml_collections

import models


class ConfigError(ValueError):
  """A config field holds a value that cannot work; the message names the field."""


@dataclasses.dataclass(frozen=True)
class Rule:
  """The values a field may take: a check of (value, whole config) and the words for it."""

  check: Callable[[Any, ml_collections.ConfigDict], bool]
  allowed: str | Callable[[Any], str]  # text, or text made from the refused value

  def describe(self, value: Any = None) -> str:
    return self.allowed(value) if callable(self.allowed) else self.allowed


def one_of(*choices: str) -> Rule:
  words = (f'{choices[0]!r} or {choices[1]!r}' if len(choices) == 2
           else f'one of {", ".join(choices)}')
  return Rule(lambda value, config: value in choices, words)


def positive(words: str = 'a positive number') -> Rule:
  return Rule(lambda value, config: value > 0, words)


def at_least_zero() -> Rule:
  return Rule(lambda value, config: value >= 0, 'zero or more')


def fraction_below_one() -> Rule:
  return Rule(lambda value, config: 0 <= value < 1, 'in [0, 1)')


def increasing_positive(example: str) -> Rule:
  return Rule(lambda value, config: all(b > a for a, b in zip(value, value[1:]))
              and all(v > 0 for v in value),
              f'positive epochs in increasing order, e.g. {example}')


def only_when(field: str, choice: str | tuple[str, ...], default: Any,
              rule: Rule | None = None) -> Rule:
  """A field that means something only when `field` is `choice` (an optimiser's or a
  schedule's setting; a tuple: any of them): elsewhere it must keep its default, so that a
  setting given to the wrong optimiser or schedule is refused rather than silently ignored;
  `rule` checks it where it applies."""
  choices = (choice,) if isinstance(choice, str) else tuple(choice)

  def check(value, config):
    if config[field] not in choices:
      return value == default
    return rule is None or rule.check(value, config)

  def words(value):
    inside = rule.describe(value) if rule else 'any value'
    named = ' or '.join(filter(None, [', '.join(map(repr, choices[:-1])), repr(choices[-1])]))
    return f'{inside} with {field}={named}; it applies to nothing else (default {default!r})'

  return Rule(check, words)


def _suggest_models(value) -> str:
  if value is None:  # the field list: no refused value to suggest from
    return 'a registered model (`python -m models list` shows them all)'
  close = difflib.get_close_matches(str(value), models.names(), n=4, cutoff=0.5)
  return (f'a registered model ({"did you mean " + ", ".join(close) + "?" if close else ""} '
          '`python -m models list` shows them all)')


def registered_model() -> Rule:
  return Rule(lambda value, config: value in models.names(), _suggest_models)


@dataclasses.dataclass(frozen=True)
class Field:
  """One config field: its dotted name, default, meaning and allowed values."""

  name: str
  default: Any
  help: str
  rule: Rule | None = None
  # Free-form sub-fields (model_options: constructor arguments of the model).
  open_ended: bool = False


def build_config(fields: Iterable[Field]) -> ml_collections.ConfigDict:
  """The default config: every declared field at its default."""
  config = ml_collections.ConfigDict()
  for field in fields:
    default = field.default
    if isinstance(default, dict):
      default = ml_collections.ConfigDict(default)
    config[field.name] = default
  return config


def recorded_config(record: dict, fields: Sequence[Field]) -> ml_collections.ConfigDict:
  """The config a checkpoint recorded (checkpoints.describe_run), checked like a command
  line's: fields declared since it was written take their defaults, which are what such
  a run did. Raises ConfigError (or TypeError) where the record cannot be a config."""
  if not isinstance(record, dict):
    raise ConfigError(f'the recorded config is a {type(record).__name__}, not a mapping')
  config = build_config(fields)
  for key, value in record.items():
    if isinstance(key, str) and isinstance(config.get(key), ml_collections.ConfigDict):
      value = ml_collections.ConfigDict(value) if isinstance(value, dict) else value
    config[key] = value
  validate_config(config, fields)
  return config


def validate_config(config: ml_collections.ConfigDict, fields: Sequence[Field]) -> None:
  """Stops a bad config before any work is done, naming the field and what is allowed."""
  unknown = unknown_fields(_leaf_paths(config), fields)
  if unknown:
    raise ConfigError(describe_unknown(unknown[0], fields))
  for field in fields:
    value = config[field.name]
    try:
      allowed = field.rule is None or field.rule.check(value, config)
    except (TypeError, ValueError):  # a value of another type (a crafted checkpoint's config)
      allowed = False
    if not allowed:
      raise ConfigError(f'config.{field.name}={value!r} is not allowed: use '
                        f'{field.rule.describe(value)}')


def _leaf_paths(config: ml_collections.ConfigDict, prefix: str = '') -> list[str]:
  paths = []
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict) and value:
      paths += _leaf_paths(value, f'{prefix}{key}.')
    else:
      paths.append(prefix + key)
  return paths


def unknown_fields(paths: Iterable[str], fields: Sequence[Field]) -> list[str]:
  """The dotted paths (e.g. ml_collections' override_values keys) no field declares."""
  names = {field.name for field in fields}
  open_ended = tuple(field.name + '.' for field in fields if field.open_ended)
  return [path for path in paths if path not in names and not path.startswith(open_ended)]


def describe_unknown(path: str, fields: Sequence[Field]) -> str:
  close = difflib.get_close_matches(path, [field.name for field in fields], n=1)
  return (f'unknown config field {path!r}'
          + (f': did you mean {close[0]!r}?' if close else ': see configs/default.py for the fields'))


def describe_fields(fields: Sequence[Field]) -> str:
  """The field list: name, default, allowed values and meaning, one field a paragraph."""
  lines = []
  for field in fields:
    allowed = f'  [{field.rule.describe()}]' if field.rule else ''
    lines += [f'--config.{field.name}={field.default!r}{allowed}', f'    {field.help}']
  return '\n'.join(lines)
