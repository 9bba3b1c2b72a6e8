r"""Evaluates checkpoints the way the papers did: any checkpoint, their multi-crop
protocols, and ensembles.

    python evaluate.py --workdir=/tmp/quickstart                 # newest checkpoint, centre view
    python evaluate.py --workdir=/tmp/resnet50 --best --protocol=center,ten_crop
    python evaluate.py --checkpoint=/tmp/vgg16/checkpoints/370000 \
        --protocol='multi_scale(256, 384, 512)'
    python evaluate.py --ensemble=/tmp/seed0,/tmp/seed1,/tmp/seed2 --out=/tmp/ensemble \
        --protocol=ten_crop
    python evaluate.py --workdir=/tmp/resnet50 --dataset=imagenet_v2/matched-frequency
    python evaluate.py --workdir=/tmp/resnet50 --dataset=imagenet2012_real

Prints top-1 and top-5 accuracy and error and the mean loss over the whole eval split,
each example exactly once, for each protocol (protocols.py), and writes them to
eval.json and eval.md in the run folder (or --out): one object per protocol and
checkpoint, updated in place when the same one is evaluated again. An ensemble reports
each member and the members' softmax averaged (AlexNet Table 2, GoogLeNet Table 2).

--dataset evaluates on another test set of the network's classes, such as ImageNet-V2
(Recht et al. 2019; tfds imagenet_v2/matched-frequency, /threshold-0.7, /topimages: a
test split only) or ImageNet-ReaL (Beyer et al. 2020; tfds imagenet2012_real: ILSVRC2012's
validation images with the original label and a set of labels that fit). On ReaL a top-1
prediction is right when it is in the image's set (`real_accuracy`; top-5: when any of the
five is), over the images whose set is not empty (`real_images`; the others,
`real_left_out`, are left out); the ordinary accuracies against the original label come
from the same pass. --split picks the split (default: validation, else test).

Checkpoints carry the config they were trained with, so --config is needed only for
checkpoints written before they did; given, it sets the data and the recipe's eval view
(its overrides apply, e.g. --config.data_dir=) and must name the checkpoint's network.
The evaluation is train.py's own: the same eval step, input pipeline and `center` view
(protocols.evaluate), data-parallel over every device of every process.
"""

import dataclasses
import os
import sys

from training import quiet_tensorflow  # noqa: E402  (TensorFlow's start-up notices)

quiet_tensorflow.import_tensorflow()

from absl import app, flags, logging
import jax
import ml_collections
from ml_collections import config_flags

from configs import default
import input_pipeline
import preprocessing
import protocols
from training import (checkpoints, compilation_cache, configuration, distributed, steps,
                      workdir as run_folder, xla_flags)
from training.configuration import ConfigError
from training.workdir import WorkdirError

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Recipe file (configs/*.py); needed only for '
                                'checkpoints that do not carry their config.',
                                lock_config=False, accept_new_attributes=True)
flags.DEFINE_string('workdir', None, 'A train.py run folder: its newest checkpoint, or --step '
                    'or --best.')
flags.DEFINE_string('checkpoint', None, 'One checkpoint folder, <workdir>/checkpoints/<step>.')
flags.DEFINE_integer('step', None, 'The checkpoint of this step of --workdir.')
flags.DEFINE_bool('best', False, 'The checkpoint of --workdir with the best eval accuracy.')
flags.DEFINE_list('ensemble', [], 'Run folders (or checkpoint folders) whose softmax outputs '
                  'are averaged: different seeds, or networks with the same classes.')
flags.DEFINE_string('protocol', 'center', 'Comma-separated protocols: ' +
                    ', '.join(protocols.KINDS) + ', optionally with scales, e.g. '
                    "'ten_crop,multi_scale(256, 384, 512)'.")
flags.DEFINE_integer('batch_size', -1, 'Test images per step over all devices (each with all '
                     'its views); -1: the recipe\'s batch_size divided by the views per image.')
flags.DEFINE_string('compilation_cache_dir', compilation_cache.default_cache_dir(),
                    "JAX's persistent compilation cache (training/compilation_cache.py); "
                    "'' = off.")
flags.DEFINE_string('out', None, 'Folder for eval.json and eval.md (default: the run folder).')
flags.DEFINE_string('data_dir', None, 'tfds data_dir of the checkpoint\'s own dataset, where it '
                    'is not the default (without --config, whose overrides set it otherwise).')
flags.DEFINE_string('dataset', None, 'Evaluate on this dataset instead of the checkpoint\'s own '
                    '(without --config; with it, --config.dataset): a test set of the same '
                    'classes, e.g. imagenet_v2/matched-frequency, imagenet_v2/threshold-0.7, '
                    'imagenet_v2/topimages, imagenet2012_real (ReaL labels).')
flags.DEFINE_string('split', None, 'The split to evaluate, in tfds\'s split syntax (e.g. '
                    'validation[:1000]); default: the dataset\'s validation split, else its '
                    'test split.')

RESULTS_JSON, RESULTS_MARKDOWN = 'eval.json', 'eval.md'


@dataclasses.dataclass
class Member:
  """One evaluated checkpoint."""

  checkpoints_dir: str
  step: int
  info: dict  # what train.py saved with it (checkpoints.describe_run)
  config: ml_collections.ConfigDict  # the network's config
  run_dir: str  # the run folder it belongs to

  @property
  def name(self) -> str:
    return os.path.join(self.checkpoints_dir, str(self.step))


def load_member(path: str, step: int | None, best: bool,
                given: ml_collections.ConfigDict | None) -> Member:
  directory, step = checkpoints.locate_checkpoint(path, step, best)
  manager = checkpoints.open_checkpoints(directory)
  if step not in manager.all_steps():
    raise WorkdirError(f'{directory} has no complete checkpoint of step {step}: it has steps '
                       f'{", ".join(map(str, manager.all_steps())) or "none"}')
  info = checkpoints.read_run_info_or_explain(manager, step)
  config = None
  if 'config' in info:
    try:  # the file may be damaged or crafted: the same checks as a command line's config
      config = configuration.recorded_config(info['config'], default.FIELDS)
    except (ConfigError, TypeError, KeyError, AttributeError) as error:
      if given is None:
        raise checkpoints.DamagedCheckpointError(
            f'the checkpoint {directory}/{step} carries a config that train.py refuses '
            f'({" ".join(str(error).split())[:200]}): pass --config=<the recipe it was trained '
            'with>, or evaluate another checkpoint') from None
      config = None
  if config is None and given is not None:
    config = given
  elif config is None:
    raise ConfigError(f'the checkpoint {directory}/{step} does not carry its config (written '
                      'before checkpoints did): pass --config=<the recipe it was trained with>')
  return Member(directory, step, info, config, os.path.dirname(directory))


# What an ensemble's members must share: they are scored on one stream of images.
SHARED_BY_MEMBERS = ('num_classes', 'image_size', 'channels', 'dataset')


def check_members(members: list[Member], data_config, given, ensemble: bool) -> None:
  """Refuses members that the data or each other cannot be evaluated together with."""
  first = members[0]
  for member in members:
    for key in SHARED_BY_MEMBERS:
      mine, theirs = member.info.get(key), first.info.get(key)
      if mine is not None and theirs is not None and mine != theirs:
        raise ConfigError(
            f'{member.name} has {key}={mine!r}, the ensemble\'s first member {key}={theirs!r}: '
            'an ensemble\'s members must share classes, input size, channels and dataset')
    if member.info['image_size'] != data_config.image_size:
      raise ConfigError(
          f'{member.name} has image_size={member.info["image_size"]}, the evaluation '
          f'image_size={data_config.image_size}: '
          + ('an ensemble\'s members must share classes and input size' if ensemble else
             'evaluate it with the config it was trained with'))
  if given is not None and not ensemble and given.model != first.info['model']:
    raise ConfigError(f'{first.name} holds a {first.info["model"]} network, --config names '
                      f'{given.model}: pass the recipe it was trained with, or leave --config out')


def check_channels(members: list[Member], channels: int, source_name: str) -> None:
  """Refuses members trained on images of other channels than the evaluation makes."""
  for member in members:
    trained = member.info.get('channels')
    if trained is not None and trained != channels:
      raise ConfigError(
          f'{member.name} was trained on {trained}-channel images, but the evaluation makes '
          f'{channels}-channel images of {source_name}: evaluate it with the config it was '
          'trained with (its preprocessing converts the channels)')


def normalization(member: Member, source) -> tuple[tuple[float, ...], tuple[float, ...]]:
  """The mean and std the member was trained with: saved with its checkpoint, else in its
  run folder (image folders), else the dataset's."""
  if member.info.get('image_mean') is not None:
    return tuple(member.info['image_mean']), tuple(member.info['image_std'])
  saved = run_folder.read_image_statistics(member.run_dir, source.name, source.channels)
  return saved if saved is not None else (source.mean, source.std)


def check_output(folder: str) -> dict:
  """Fails before any work where the results cannot be written or would overwrite a file
  this tool did not write; returns the results already there."""
  existing = os.path.join(folder, RESULTS_JSON)
  parent = folder
  while not os.path.isdir(parent):
    parent = os.path.dirname(parent) or '.'
  if not os.access(parent, os.W_OK) or (os.path.exists(existing)
                                        and not os.access(existing, os.W_OK)):
    raise WorkdirError(f'cannot write {RESULTS_JSON} in {folder}: pass --out=<a folder you '
                       'can write to>')
  if not os.path.exists(existing):
    return {'results': []}
  saved = run_folder.read_json(existing)
  if not (isinstance(saved.get('results'), list)
          and all(_is_result(result) for result in saved['results'])):
    raise WorkdirError(f'{existing} is not an {RESULTS_JSON} this tool wrote: move it away or '
                       'pass --out=<another folder>')
  return saved


def _is_result(result) -> bool:
  """Whether `result` is one of eval.json's results as `record` writes them (what result_key
  and table read of it)."""
  if not isinstance(result, dict):
    return False
  members = result.get('members', [])
  if not isinstance(members, list) or not all(isinstance(m, dict) for m in members):
    return False
  scores = ('eval_error', 'eval_top5_error', 'eval_accuracy', 'eval_top5_accuracy',
            'eval_loss')
  optional = {'real_accuracy': (int, float), 'real_top5_accuracy': (int, float),
              'real_images': (int,), 'real_left_out': (int,)}
  if not all(type(entry[key]) in types for entry in [result] + members
             for key, types in optional.items() if key in entry):
    return False
  if not all(isinstance(result.get(key, ''), str) for key in ('eval_dataset', 'eval_split')):
    return False
  return (isinstance(result.get('protocol'), str)
          and all(type(result.get(key)) is int for key in ('views_per_image', 'num_examples'))
          and all(type(entry.get(key)) in (int, float)
                  for entry in [result] + members for key in scores)
          and all(isinstance(entry.get('model'), str) and isinstance(entry.get('checkpoint'), str)
                  and type(entry.get('checkpoint_step')) is int for entry in members or [result]))


# The split of results written before eval.json named the data: they are of the default
# eval split of the checkpoint's own dataset, and an evaluation of that split replaces them.
DEFAULT_SPLIT = None


def result_key(result: dict) -> tuple:
  """What a result measured: protocol, checkpoints, data (dataset and split); evaluating
  the same again replaces it."""
  members = result.get('members', [result])
  data = (result.get('eval_dataset', (members or [result])[0].get('dataset')),
          result.get('eval_split', DEFAULT_SPLIT))
  return (result['protocol'], tuple((m['checkpoint'], m['checkpoint_step']) for m in members),
          data)


def data_name(result: dict) -> str:
  """The evaluated dataset and split, as the table shows them."""
  _, _, (dataset, split) = result_key(result)
  return f'{dataset} {split}' if split else str(dataset)


def record(protocol, metrics: dict, count: int, member: Member | None, batch_size: int,
           source) -> dict:
  """One evaluation's numbers as eval.json keeps them."""
  result = {'protocol': str(protocol), 'views_per_image': protocol.views_per_image,
            'num_examples': count, 'eval_dataset': source.name, 'eval_split': source.eval.name,
            **metrics,
            'eval_error': 1.0 - metrics['eval_accuracy'],
            'eval_top5_error': 1.0 - metrics['eval_top5_accuracy'],
            'batch_size': batch_size, 'devices': jax.device_count()}
  if member is not None:
    result.update(model=member.info['model'], checkpoint=member.checkpoints_dir,
                  checkpoint_step=member.step, dataset=member.info['dataset'])
  return result


def table(results: list[dict], markdown: bool = False) -> str:
  """The results as rows: one per protocol, or per member and ensemble."""
  real = any('real_accuracy' in result for result in results)
  header = ('protocol', 'views', 'model', 'checkpoint', 'top-1 err', 'top-5 err', 'top-1 acc',
            'top-5 acc') + (('ReaL top-1', 'ReaL top-5') if real else ()) + (
                'loss', 'images', 'data')
  rows = []
  for result in results:
    entries = result.get('members', []) + [result]
    for entry in entries:
      if entry is result and 'members' in result:
        who, where = f'ensemble of {len(result["members"])}', '(softmax averaged)'
      else:
        who, where = entry['model'], f'{entry["checkpoint"]}/{entry["checkpoint_step"]}'
      real_cells = ()
      if real:
        real_cells = tuple(f'{100 * entry[key]:.2f} %' if key in entry else ''
                           for key in ('real_accuracy', 'real_top5_accuracy'))
      rows.append((result['protocol'], str(result['views_per_image']), who, where,
                   f'{100 * entry["eval_error"]:.2f} %', f'{100 * entry["eval_top5_error"]:.2f} %',
                   f'{100 * entry["eval_accuracy"]:.2f} %',
                   f'{100 * entry["eval_top5_accuracy"]:.2f} %') + real_cells + (
                       f'{entry["eval_loss"]:.4f}', str(result['num_examples']),
                       data_name(result)))
  if markdown:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    return '\n'.join(lines + ['| ' + ' | '.join(row) + ' |' for row in rows])
  widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
  return '\n'.join('  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                   for row in [header] + rows)


def check_classes(member: Member, dataset: str, num_classes: int) -> None:
  if member.info['num_classes'] != num_classes:
    raise ConfigError(f'{member.name} has {member.info["num_classes"]} classes, {dataset} has '
                      f'{num_classes}: evaluate it on data of the classes it was trained on')


def evaluate_checkpoints(members: list[Member], data_config, protocol_list, batch_size: int,
                         split: str | None = None):
  """Every protocol's results for the members (one result per protocol, with the members'
  own numbers inside for an ensemble), on `split` of the data (None: its eval split)."""
  # Checked before anything is downloaded or prepared, where the dataset declares its classes.
  declared = input_pipeline.tfds_num_classes(data_config.dataset, data_config.data_dir or None)
  if declared is not None:
    check_classes(members[0], data_config.dataset, declared)
  source = input_pipeline.load_source(data_config.dataset, data_config.data_dir or None,
                                      data_config.manual_dir or None, jax.process_index(),
                                      jax.process_count(), data_config.seed, train=False,
                                      eval_split=split)
  check_classes(members[0], source.name, source.num_classes)
  if source.skipped_files:
    print(f'warning: {len(source.skipped_files)} image files cannot be decoded and are left '
          f'out, e.g. {", ".join(source.skipped_files[:3])}', file=sys.stderr)
  for warning in source.warnings:
    print(f'warning: {warning}', file=sys.stderr)
  image_size = data_config.eval_image_size or data_config.image_size
  channels = input_pipeline.create_preprocessing(
      source, data_config.image_size, data_config.train_preprocess, data_config.eval_preprocess,
      image_size).channels
  check_channels(members, channels, source.name)
  resolved = [p.resolve(image_size, source.small_images, data_config.eval_preprocess,
                        source.flip) for p in protocol_list]
  mesh = steps.create_mesh()
  models = []
  for member in members:
    network = steps.create_model(member.config, member.info['num_classes'])
    models.append(checkpoints.restore_eval_model(
        checkpoints.open_checkpoints(member.checkpoints_dir), member.step, network, image_size,
        channels, member.config.ema_decay > 0, mesh))
  parallel_eval = steps.compile_eval_step(mesh, [normalization(m, source) for m in members])
  results = []
  for protocol in resolved:
    size = batch_size if batch_size > 0 else max(
        1, data_config.batch_size // protocol.views_per_image)
    local_batch_size = -(-size // jax.process_count())
    metrics, count = protocols.evaluate(parallel_eval, tuple(models), source, protocol,
                                        local_batch_size, image_size,
                                        data_config.eval_preprocess, mesh)
    if len(members) == 1:
      results.append(record(protocol, metrics[0], count, members[0], size, source))
    else:
      result = record(protocol, metrics[-1], count, None, size, source)
      result['members'] = [record(protocol, m, count, member, size, source)
                           for m, member in zip(metrics, members)]
      results.append(result)
  return results


def run(argv_config: ml_collections.ConfigDict | None) -> list[dict]:
  """The command: checks everything, evaluates, prints and writes the results."""
  if FLAGS.ensemble and (FLAGS.workdir or FLAGS.checkpoint):
    raise ConfigError('pass either --ensemble or --workdir/--checkpoint, not both')
  if not FLAGS.ensemble and bool(FLAGS.workdir) == bool(FLAGS.checkpoint):
    raise ConfigError('pass --workdir=<run folder> or --checkpoint=<checkpoint folder> (or '
                      '--ensemble=<run>,<run>,...)')
  if FLAGS.step is not None and FLAGS.best:
    raise ConfigError('pass --step or --best, not both')
  if argv_config is not None:
    configuration.validate_config(argv_config, default.FIELDS)
  protocol_list = protocols.parse(FLAGS.protocol)
  paths = FLAGS.ensemble or [FLAGS.workdir or FLAGS.checkpoint]
  members = [load_member(path, FLAGS.step, FLAGS.best, argv_config) for path in paths]
  data_config = argv_config if argv_config is not None else members[0].config
  if FLAGS.data_dir or FLAGS.dataset:
    if argv_config is not None:
      raise ConfigError('with --config, set the data with --config.data_dir and '
                        '--config.dataset, not --data_dir or --dataset')
    data_config = ml_collections.ConfigDict(data_config.to_dict())
    data_config.data_dir = FLAGS.data_dir or data_config.data_dir
    data_config.dataset = FLAGS.dataset or data_config.dataset
  check_members(members, data_config, argv_config, ensemble=len(members) > 1)
  if FLAGS.out:
    out = FLAGS.out
  elif len(members) > 1:
    raise ConfigError('an ensemble\'s results need a folder of their own: pass --out=<folder>')
  else:
    out = members[0].run_dir
  saved = check_output(out) if jax.process_index() == 0 else {'results': []}

  results = evaluate_checkpoints(members, data_config, protocol_list, FLAGS.batch_size,
                                 FLAGS.split)
  if jax.process_index() == 0:
    print(table(results), flush=True)
    real = next((r for r in results if 'real_images' in r), None)
    if real is not None:
      print(f'ReaL: {real["real_images"]} images with a set of labels counted, '
            f'{real["real_left_out"]} whose set is empty left out')
    new_keys = {result_key(r) for r in results}
    if FLAGS.split is None:  # results written before eval.json named the data
      new_keys |= {(protocol, checkpoints_, (dataset, DEFAULT_SPLIT))
                   for protocol, checkpoints_, (dataset, _) in new_keys}
    kept = [r for r in saved['results'] if result_key(r) not in new_keys]
    everything = kept + results
    os.makedirs(out, exist_ok=True)
    run_folder.write_json_atomically(os.path.join(out, RESULTS_JSON), {'results': everything})
    with open(os.path.join(out, RESULTS_MARKDOWN), 'w', encoding='utf-8') as f:
      f.write(f'# Evaluations\n\nWritten by evaluate.py; {RESULTS_JSON} holds the same numbers.'
              f'\n\n{table(everything, markdown=True)}\n')
    print(f'results in {os.path.join(out, RESULTS_JSON)} and {RESULTS_MARKDOWN}')
  return results


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing that answers a bad flag, recipe or config field in one line."""
  try:
    remaining = FLAGS(argv)
    if FLAGS.config is not None:
      FLAGS.config.keys()
      unknown = configuration.unknown_fields(FLAGS['config'].override_values, default.FIELDS)
      if unknown:
        raise ConfigError(configuration.describe_unknown(unknown[0], default.FIELDS))
    return remaining
  except (flags.Error, ConfigError) as error:
    message = str(error)
  except (OSError, SyntaxError, ImportError) as error:
    message = f'cannot load the --config recipe file ({" ".join(str(error).split())})'
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  given = FLAGS.config
  xla_flags.set_default_xla_flags(deterministic=False)
  compilation_cache.enable(FLAGS.compilation_cache_dir)
  if not FLAGS['verbosity'].present:
    logging.set_verbosity(logging.ERROR)  # orbax's notices about the items it does not read
  try:
    distributed.initialize(given if given is not None else default.get_config())
    run(given)
    checkpoints.end_process(0)
  except (ConfigError, input_pipeline.DatasetError, preprocessing.PreprocessError,
          protocols.ProtocolError, WorkdirError, distributed.DistributedError) as error:
    print(f'error: {error}', file=sys.stderr)
    checkpoints.end_process(2)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
