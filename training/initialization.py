"""Starting a run from other weights: config.init_from, init_from_rules and trainable.

    --config.init_from=/runs/resnet50_torchvision          # a run folder (newest checkpoint)
    --config.init_from=/runs/vgg11/checkpoints/74000       # or one checkpoint
    --config.init_from_rules='conv[45]_.*='                # VGG §3.1: those start afresh
    --config.trainable=head                                # a linear probe

Every variable of the new network (parameters and BatchNorm statistics) whose path and
shape match a variable of the checkpoint starts from it; the rest keeps its fresh
initialisation, typically a classifier with another number of classes. `init_from_rules`
is a comma-separated list of `pattern=replacement` rules, tried in order on each
variable's path (without the collection, e.g. `conv1_1/kernel`): the first pattern that
matches the whole path names the checkpoint's variable to load, with `\\1`-style groups;
an empty replacement re-initialises the variable. This expresses VGG's staged training
(Simonyan & Zisserman 2015, §3.1: the deeper configurations start "the first four
convolutional layers and the last three fully-connected layers" from network A, the
intermediate layers at random): from a trained vgg11, vgg13's conv1_1, conv2_1, conv3_1,
conv3_2 and fc6-8 match by name and shape, and `conv[45]_.*=` leaves the rest fresh.

The run takes the checkpoint's input normalisation (the mean and std its weights were
trained with, e.g. torchvision's), which its weights expect. `trainable=head` trains the
classifier alone (the last layer the forward pass calls): every other parameter gets no
update and the network runs in inference mode, so its BatchNorm statistics stay as loaded
and dropout is off. What was loaded, re-initialised and frozen goes to the console and to
<workdir>/init_from.json. A run that resumes from its own checkpoint ignores init_from.
"""

import dataclasses
import os
import re

import flax
import jax
import numpy as np

import models
from models import features
from models.layer_order import model_layers
from training import checkpoints
from training.configuration import ConfigError
from training.workdir import WorkdirError, write_json_atomically

REPORT_FILE = 'init_from.json'


@dataclasses.dataclass
class Source:
  """The checkpoint a run starts from."""

  checkpoint: str  # <checkpoints folder>/<step>
  step: int
  info: dict  # what was saved with it (checkpoints.describe_run)

  @property
  def mean(self):
    return None if self.info.get('image_mean') is None else tuple(self.info['image_mean'])

  @property
  def std(self):
    return None if self.info.get('image_std') is None else tuple(self.info['image_std'])


def open_source(path: str) -> Source:
  """The checkpoint named by config.init_from, and its description."""
  try:
    directory, step = checkpoints.locate_checkpoint(path)
  except WorkdirError as error:
    raise ConfigError(f'config.init_from: {error}') from None
  info = checkpoints.read_run_info_or_explain(checkpoints.open_checkpoints(directory), step)
  if 'config' not in info:
    raise ConfigError(f'config.init_from={path}: its checkpoint does not record its network '
                      '(written before checkpoints did): evaluate.py and init_from need a '
                      'checkpoint of this version')
  return Source(os.path.join(directory, str(step)), step, info)


def parse_rules(text: str) -> list[tuple[re.Pattern, str]]:
  """config.init_from_rules: [(pattern, replacement), ...]."""
  rules = []
  for item in filter(None, (part.strip() for part in text.split(','))):
    pattern, equals, replacement = item.partition('=')
    try:
      if not equals:
        raise re.error('no "="')
      rules.append((re.compile(pattern), replacement))
    except re.error as error:
      raise ConfigError(f'config.init_from_rules: {item!r} is not pattern=replacement with a '
                        f'regular expression ({error}): e.g. \'conv[45]_.*=\' or '
                        '\'block(\\d+)/(.*)=stage\\1/\\2\'') from None
  return rules


def _flatten(tree) -> dict[str, np.ndarray]:
  return {'/'.join(path): value for path, value in
          flax.traverse_util.flatten_dict(flax.core.unfreeze(tree)).items()}


def _source_variables(source: Source, mesh) -> dict[str, dict[str, np.ndarray]]:
  """The checkpoint's evaluated variables (its moving averages where it kept them)."""
  config = source.info['config']
  options = {'num_classes': source.info['num_classes'], **config.get('model_options', {})}
  if config.get('probe_stages'):  # a probe's run: its network and probe, as it was trained
    model = features.linear_probe(source.info['model'],
                                  features.parse_stages(config['probe_stages']), **options)
  else:
    model = models.create(source.info['model'], **options)
  manager = checkpoints.open_checkpoints(os.path.dirname(source.checkpoint))
  restored = checkpoints.restore_eval_model(
      manager, source.step, model, source.info['image_size'], source.info.get('channels') or 3,
      ema=config.get('ema_decay', 0.0) > 0, mesh=mesh)
  variables = jax.device_get(restored.variables)
  return {collection: _flatten(variables.get(collection, {}))
          for collection in ('params', 'batch_stats')}


def match_variables(targets: dict[str, dict], sources: dict[str, dict],
                    rules: list[tuple[re.Pattern, str]]) -> tuple[dict, dict]:
  """For each target variable 'collection/path': the source variable it loads, or why not.

  Returns (loaded: {target: source}, reinitialised: {target: reason}).
  """
  loaded, reinitialised = {}, {}
  used_rules = set()
  for collection, variables in targets.items():
    for path, value in variables.items():
      source_path = path
      for index, (pattern, replacement) in enumerate(rules):
        match = pattern.fullmatch(path)
        if match:
          used_rules.add(index)
          source_path = match.expand(replacement) if replacement else None
          break
      key = f'{collection}/{path}'
      if source_path is None:
        reinitialised[key] = 'init_from_rules'
      elif source_path not in sources.get(collection, {}):
        reinitialised[key] = f'no {collection}/{source_path} in the checkpoint'
      elif sources[collection][source_path].shape != value.shape:
        reinitialised[key] = (f'shape {tuple(value.shape)} here, '
                              f'{tuple(sources[collection][source_path].shape)} there')
      else:
        loaded[key] = f'{collection}/{source_path}'
  unused = [rules[i][0].pattern for i in range(len(rules)) if i not in used_rules]
  if unused:
    raise ConfigError(f'config.init_from_rules: {unused[0]!r} matches no variable of this '
                      'network (paths look like conv1_1/kernel or bn1/mean): fix the pattern')
  return loaded, reinitialised


def classifier_layer(model, image_size: int, channels: int) -> str:
  """The path of the last Conv or Dense layer the forward pass calls: the classifier."""
  layers, _ = model_layers(model, image_size, channels)
  return [layer.name for layer in layers if layer.kind in ('conv', 'dense')][-1]


def trainable_for(config, model, channels: int):
  """The optimiser's trainable mask for config.trainable ('head': the classifier), or None."""
  if config.trainable != 'head':
    return None
  return trainable_mask(classifier_layer(model, config.image_size, channels))


def trainable_mask(classifier: str):
  """params -> a tree of bools: True for the classifier's parameters only."""
  def mask(params):  # also tells the frozen variables apart (mask.classifier)
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(params))
    prefix = tuple(classifier.split('/'))
    return flax.traverse_util.unflatten_dict(
        {path: path[:len(prefix)] == prefix for path in flat})
  mask.classifier = classifier
  return mask


def _replicated_like(old: jax.Array, value: np.ndarray) -> jax.Array:
  """`value` with the dtype and (replicated, possibly multi-process) sharding of `old`."""
  value = np.asarray(value, dtype=old.dtype)
  return jax.make_array_from_callback(value.shape, old.sharding, lambda index: value[index])


def initialise(state, source: Source, rules_text: str, mesh, frozen: set[str]):
  """`state` with the checkpoint's matching variables loaded; and the report."""
  sources = _source_variables(source, mesh)
  targets = {'params': _flatten(state.params), 'batch_stats': _flatten(state.batch_stats)}
  loaded, reinitialised = match_variables(targets, sources, parse_rules(rules_text))
  if not loaded:
    raise ConfigError(
        f'config.init_from={source.checkpoint} ({source.info["model"]}) shares no variable '
        '(same path and shape) with this network: start from a checkpoint of a related '
        'network, or map the names with config.init_from_rules')

  def updated(collection: str, tree):
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(tree))
    for path, old in flat.items():
      key = f'{collection}/{"/".join(path)}'
      if key in loaded:
        source_collection, _, source_path = loaded[key].partition('/')
        flat[path] = _replicated_like(old, sources[source_collection][source_path])
    return flax.traverse_util.unflatten_dict(flat)

  params, batch_stats = updated('params', state.params), updated('batch_stats', state.batch_stats)
  state = state.replace(params=params, batch_stats=batch_stats)
  if state.ema_params is not None:  # the averages start at the loaded weights
    state = state.replace(ema_params=params, ema_batch_stats=batch_stats)
  report = {'init_from': source.checkpoint, 'model': source.info['model'],
            'step': source.step, 'rules': rules_text, 'loaded': loaded,
            'reinitialised': reinitialised, 'frozen': sorted(frozen)}
  return state, report


def frozen_variables(params, batch_stats, classifier: str | None) -> set[str]:
  """The variables a linear probe keeps as they are: all but the classifier's parameters."""
  if classifier is None:
    return set()
  frozen = {f'batch_stats/{path}' for path in _flatten(batch_stats)}
  frozen |= {f'params/{path}' for path in _flatten(params)
             if not (path == classifier or path.startswith(classifier + '/'))}
  return frozen


def describe(report: dict) -> str:
  """The console lines of what init_from did."""
  loaded, reinitialised = report['loaded'], report['reinitialised']
  lines = [f'init_from {report["init_from"]} ({report["model"]}): loaded {len(loaded)} '
           f'variables, re-initialised {len(reinitialised)}'
           + (f', froze {len(report["frozen"])}' if report['frozen'] else '')]
  for key, reason in list(reinitialised.items())[:8]:
    lines.append(f'  re-initialised {key}: {reason}')
  if len(reinitialised) > 8:
    lines.append(f'  ... and {len(reinitialised) - 8} more (init_from.json lists them all)')
  return '\n'.join(lines)


def write_report(workdir: str, report: dict) -> None:
  if jax.process_index() == 0:
    write_json_atomically(os.path.join(workdir, REPORT_FILE), report)

