"""Orbax checkpoints of the train state: manager, save, restore.

Each checkpoint holds the TrainState ('state') and what the run trains
('run': model, classes, image size, dataset), checked on restore so that a
workdir is never resumed by another run. Checkpoints are <workdir>/checkpoints/<step>.
"""

import glob
import json
import logging
import math
import os
import shutil
import sys
import time
import traceback
import warnings

import jax
from jax.experimental import multihost_utils
import ml_collections
import orbax.checkpoint as ocp

import models
from training import steps
from training.configuration import ConfigError
from training.workdir import (WorkdirError, describe_bytes, describe_error, describe_write_error,
                              free_bytes)


def eval_accuracy(metrics: dict) -> float:
  return metrics['eval_accuracy']


# Where resuming moves checkpoints it cannot restore (<workdir>/damaged_checkpoints/<step>):
# out of the manager's way, so that the run can save those steps again, and kept for a look.
DAMAGED_FOLDER = 'damaged_checkpoints'


class DamagedCheckpointError(WorkdirError):
  """A checkpoint whose files cannot be read back (truncated, missing, not what was written)."""


def create_checkpoint_manager(workdir: str, keep: int) -> ocp.CheckpointManager:
  """Keeps the newest `keep` checkpoints plus the one with the best eval accuracy."""
  ignore_callbacks_into_closed_loops()
  policy = ocp.checkpoint_managers.AnyPreservationPolicy([
      ocp.checkpoint_managers.LatestN(n=keep),
      ocp.checkpoint_managers.BestN(get_metric_fn=eval_accuracy, n=1,
                                    keep_checkpoints_without_metrics=False),
  ])
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), 'checkpoints'),
      # Synchronous saves: an asynchronous one finishes with a cross-device barrier
      # in a background thread, which on multi-device CPU can interleave with the
      # train step's all-reduce and deadlock both.
      # best_fn makes orbax write each checkpoint's metrics, so that the best one is
      # still known (kept, and found by evaluate.py --best) after a restart.
      options=ocp.CheckpointManagerOptions(preservation_policy=policy, create=True,
                                           enable_async_checkpointing=False,
                                           best_fn=eval_accuracy, best_mode='max'),
      item_names=('state', 'run'))


class _WithoutOrbaxLogs(logging.Filter):
  """Drops orbax's log records, and asyncio's about orbax's tasks: a save's outcome is this
  module's to report, once (orbax logs each failed write thread's exception, and warns at
  every checkpoint saved without eval metrics, which most of train.py's are by design)."""

  def filter(self, record: logging.LogRecord) -> bool:
    return f'{os.sep}orbax{os.sep}' not in record.pathname and record.name != 'asyncio'


def _log_handlers() -> list[logging.Handler]:
  return logging.getLogger('absl').handlers + logging.getLogger().handlers


_orbax_leftovers_silenced = False
_closed_loop_callbacks_ignored = False


def _is_callback_into_closed_loop(kind, value, trace=None) -> bool:
  del trace
  return kind is RuntimeError and str(value) == 'Event loop is closed'


def _is_orbax_leftover(kind, value, trace) -> bool:
  frames = traceback.extract_tb(trace) if trace else []
  return (_is_callback_into_closed_loop(kind, value)
          or any(f'{os.sep}orbax{os.sep}' in frame.filename for frame in frames))


def ignore_callbacks_into_closed_loops() -> None:
  """For the rest of the process, from before the first checkpoint read or write.

  When a read or write fails, orbax closes its event loop while tensorstore still has
  callbacks pending; each then fails in a tensorstore thread, which prints it as an
  unraisable exception or through sys.excepthook, possibly before the failure reaches
  this module. Those alone are dropped: such a RuntimeError is only ever the aftermath
  of an error reported on its own.
  """
  global _closed_loop_callbacks_ignored
  if _closed_loop_callbacks_ignored:
    return
  _closed_loop_callbacks_ignored = True
  print_exception, print_unraisable = sys.excepthook, sys.unraisablehook

  def excepthook(kind, value, trace):
    if not _is_callback_into_closed_loop(kind, value):
      print_exception(kind, value, trace)

  def unraisablehook(unraisable):
    dropped = _is_orbax_leftover if _orbax_leftovers_silenced else _is_callback_into_closed_loop
    if not dropped(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback):
      print_unraisable(unraisable)

  sys.excepthook, sys.unraisablehook = excepthook, unraisablehook


def silence_orbax_leftovers() -> None:
  """For the rest of the process, after a failed read or write reported in one line.

  Orbax's pending tasks and tensorstore's callbacks then fail as well, after the fact,
  and print tracebacks of their own: coroutines whose exception nobody retrieves, and
  callbacks into orbax's event loop once it is closed. Those alone are dropped.
  """
  global _orbax_leftovers_silenced
  if _orbax_leftovers_silenced:
    return
  ignore_callbacks_into_closed_loops()
  _orbax_leftovers_silenced = True  # the unraisable hook now drops orbax's tasks too
  warnings.filterwarnings('ignore', message="coroutine '.*' was never awaited",
                          category=RuntimeWarning)
  for handler in _log_handlers():
    handler.addFilter(_WithoutOrbaxLogs())


def end_process(status: int) -> None:
  """The end of train.py and evaluate.py, once everything they write is closed: in a
  single process, an exit that skips the interpreter's shutdown, which would spend seconds
  tearing down TensorFlow's and JAX's runtimes and, after a failed checkpoint read or
  write, let orbax's abandoned tasks and tensorstore's callbacks print their own failures
  after the one line that reported it. Several processes leave through sys.exit, whose
  shutdown takes jax.distributed's down with the others."""
  if jax.process_count() == 1:
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(status)  # pylint: disable=protected-access
  sys.exit(status)


def save_checkpoint(manager, step: int, state, run_info: dict, metrics=None) -> None:
  """Saves `state` as step `step` (once); `metrics` rank it for keeping the best.

  A failed write (a full disk, lost permissions) is a WorkdirError in one line: what
  was written where, the space left there, and the complete checkpoints, which stay as
  they were. The half-written folder of `step` is removed.
  """
  if manager.latest_step() == step:
    return
  # Checked first: a write that runs out of space leaves orbax's threads failing noisily.
  needed = sum(leaf.nbytes for leaf in jax.tree.leaves(state)) + run_info_bytes(run_info)
  free = free_bytes(manager.directory)
  if free is not None and free < needed:
    raise WorkdirError(
        f'cannot write the checkpoint of step {step} in {manager.directory}: it takes about '
        f'{describe_bytes(needed)} and {describe_bytes(free)} are free there; free some space, '
        'then run the same command to resume; complete checkpoints: steps '
        f'{", ".join(map(str, manager.all_steps())) or "none yet"}')
  quiet = _WithoutOrbaxLogs()
  handlers = _log_handlers()
  for handler in handlers:
    handler.addFilter(quiet)
  try:
    manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                               run=ocp.args.JsonSave(run_info)),
                 metrics=metrics)
  except Exception as error:  # tensorstore's write errors arrive wrapped, as ValueError
    silence_orbax_leftovers()
    if jax.process_index() == 0:
      remove_partial_checkpoint(manager.directory, step)
    manager.reload()
    intact = ', '.join(map(str, manager.all_steps())) or 'none yet'
    raise WorkdirError(
        f'cannot write the checkpoint of step {step} in {manager.directory} '
        f'({describe_write_error(error)}; {describe_bytes(free_bytes(manager.directory))} free '
        'there): free some space or fix the permissions, then run the same command to resume; '
        f'complete checkpoints: steps {intact}') from None
  finally:
    for handler in handlers:
      handler.removeFilter(quiet)


def remove_partial_checkpoint(directory: str, step: int, settle_seconds: float = 0.5,
                              most_seconds: float = 5.0) -> None:
  """Removes the half-written folder of `step` after a failed write. Tensorstore's threads
  may still finish writes they had started, creating the folder again: it is removed until
  it has stayed away for `settle_seconds` (at most `most_seconds` in all)."""
  pattern = os.path.join(directory, f'{step}.orbax-checkpoint-tmp*')
  start = last_seen = time.monotonic()
  while time.monotonic() - last_seen < settle_seconds and time.monotonic() - start < most_seconds:
    partials = glob.glob(pattern)
    for partial in partials:
      shutil.rmtree(partial, ignore_errors=True)
    if partials:
      last_seen = time.monotonic()
    time.sleep(0.05)


def run_info_bytes(run_info: dict) -> int:
  return len(json.dumps(run_info)) + 64 * 1024  # and orbax's metadata files


def describe_run(config: ml_collections.ConfigDict, num_classes: int, channels: int | None = None,
                 image_mean=None, image_std=None, eval_preprocess: str | None = None,
                 class_names=None) -> dict:
  """What a checkpoint must match to be resumed (model, classes, image size: checked on
  restore), and what evaluating and using it needs (evaluate.py, trained.load): input
  channels, the normalisation it was trained with, the evaluation preprocessing as the run
  resolved it, the names of its classes, and the whole config."""
  return {'model': config.model, 'num_classes': num_classes, 'image_size': config.image_size,
          'dataset': config.dataset, 'channels': channels,
          'image_mean': None if image_mean is None else list(image_mean),
          'image_std': None if image_std is None else list(image_std),
          'eval_preprocess': eval_preprocess,
          'class_names': None if class_names is None else [str(name) for name in class_names],
          'config': config.to_dict()}


def open_checkpoints(directory: str) -> ocp.CheckpointManager:
  """The checkpoints in `directory` (a run's checkpoints/ folder), read-only (without
  orbax's warnings that a read-only manager saves nothing)."""
  ignore_callbacks_into_closed_loops()
  absl_logger, without_orbax = logging.getLogger('absl'), _WithoutOrbaxLogs()
  absl_logger.addFilter(without_orbax)
  try:
    return ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(read_only=True, create=False,
                                             best_fn=eval_accuracy, best_mode='max'),
        item_names=('state', 'run'))
  finally:
    absl_logger.removeFilter(without_orbax)


def locate_checkpoint(path: str, step: int | None = None,
                      best: bool = False) -> tuple[str, int]:
  """The checkpoints folder and the step named by a run folder (with --step or --best) or by
  a checkpoint folder."""
  path = os.path.abspath(path)
  if not os.path.isdir(path):
    raise WorkdirError(f'{path} does not exist: pass a train.py --workdir or one of its '
                       'checkpoints/<step> folders')
  name = os.path.basename(path)
  if name.isdigit() and not os.path.isdir(os.path.join(path, 'checkpoints')):
    return os.path.dirname(path), int(name)  # a checkpoint folder
  directory = os.path.join(path, 'checkpoints')
  manager = open_checkpoints(directory) if os.path.isdir(directory) else None
  saved = manager.all_steps() if manager else []
  if not saved:
    raise WorkdirError(f'no checkpoint in {directory}: train first (python train.py '
                       f'--workdir={path} ...) or pass the run folder that has them')
  if step is not None:
    if step not in saved:
      raise WorkdirError(f'{directory} has no checkpoint of step {step}: it has steps '
                         f'{", ".join(map(str, saved))}')
    return directory, step
  if best:
    best_step = manager.best_step()
    if best_step is None or manager.metrics(best_step) is None:
      raise WorkdirError(f'no checkpoint in {directory} carries eval metrics to rank by: pass '
                         f'--step (it has steps {", ".join(map(str, saved))}) or leave both out '
                         'for the newest')
    return directory, best_step
  return directory, saved[-1]


def read_run_info(manager, step: int) -> dict:
  """What the run saved with the checkpoint of `step` (describe_run)."""
  info = manager.restore(step, args=ocp.args.Composite(run=ocp.args.JsonRestore()))['run']
  check_run_info(info)
  return info


def _is_count(value, largest: int = 1 << 31) -> bool:
  return type(value) is int and 0 < value <= largest


def _is_statistics(values) -> bool:
  # One value per channel of the data, which the preprocessing may convert (1 to 3, 3 to 1).
  return (isinstance(values, list) and 1 <= len(values) <= 4 and
          all(type(v) in (int, float) and math.isfinite(v) for v in values))


def check_run_info(info) -> None:
  """Raises ValueError unless `info` is a run description as describe_run writes it: the
  fields evaluation and resuming use, of their types and in their ranges."""
  if not isinstance(info, dict):
    raise ValueError(f'its run description is a {type(info).__name__}, not an object')
  problems = []
  if not isinstance(info.get('model'), str) or info['model'] not in models.names():
    problems.append(f'model={info.get("model")!r} is no registered network')
  for key in ('num_classes', 'image_size'):
    if not _is_count(info.get(key), 1 << 20):
      problems.append(f'{key}={info.get(key)!r} is not a positive count')
  channels = info.get('channels')
  if channels is not None and not _is_count(channels, 4):
    problems.append(f'channels={channels!r} is not 1 to 4')
  for key in ('image_mean', 'image_std'):
    if info.get(key) is not None and not _is_statistics(info[key]):
      problems.append(f'{key} is not 1 to 4 finite numbers')
  if info.get('image_std') is not None and not problems and min(info['image_std']) <= 0:
    problems.append('image_std is not positive')
  if info.get('eval_preprocess') is not None and not (
      isinstance(info['eval_preprocess'], str) and 0 < len(info['eval_preprocess']) <= 1000):
    problems.append('eval_preprocess is not a preprocessing string')
  names = info.get('class_names')
  if names is not None and not (
      isinstance(names, list) and len(names) == info.get('num_classes')
      and all(isinstance(name, str) and len(name) <= 1000 for name in names)):
    problems.append('class_names is not one name per class')
  if 'config' in info and not (isinstance(info['config'], dict)
                               and info['config'].get('model') == info.get('model')):
    problems.append('its config does not name its model')
  if problems:
    raise ValueError(f'its run description is not what train.py writes: {problems[0]}')


def read_run_info_or_explain(manager, step: int) -> dict:
  """read_run_info, or a DamagedCheckpointError that names the checkpoint and the others."""
  try:
    return read_run_info(manager, step)
  except Exception as error:  # orbax and tensorstore raise many kinds
    raise damaged_checkpoint(manager, step, error) from None


def damaged_checkpoint(manager, step: int, error: BaseException) -> 'DamagedCheckpointError':
  silence_orbax_leftovers()
  others = [str(other) for other in manager.all_steps() if other != step]
  return DamagedCheckpointError(
      f'the checkpoint {manager.directory}/{step} is damaged ({describe_error(error)}): '
      + (f'pass --step= one of its other steps ({", ".join(others)})' if others else
         'restore it from a copy'))


def restore_eval_model(manager, step: int, model, image_size: int, channels: int, ema: bool,
                       mesh) -> steps.EvalModel:
  """Only the variables evaluation uses of the checkpoint of `step` (the moving averages
  with `ema`), replicated over the mesh: the optimiser state is not read."""
  shapes = jax.eval_shape(lambda: model.init(
      jax.random.key(0), jax.numpy.zeros((1, image_size, image_size, channels)), train=False))
  names = ('ema_params', 'ema_batch_stats') if ema else ('params', 'batch_stats')
  target = {names[0]: shapes['params'], names[1]: shapes.get('batch_stats', {})}
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated),
                          target)
  restore_args = jax.tree.map(lambda x: ocp.ArrayRestoreArgs(sharding=replicated), target)
  try:
    restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.PyTreeRestore(
        abstract, restore_args=restore_args, partial_restore=True)))['state']
  except (ValueError, KeyError) as error:
    if 'in OCDBT database' in describe_error(error):  # tensorstore could not read a file
      raise damaged_checkpoint(manager, step, error) from None
    raise ConfigError(
        f'the checkpoint of step {step} in {manager.directory} does not hold {type(model).__name__}'
        f'\'s variables at {image_size}×{image_size}×{channels} ({" ".join(str(error).split())[:160]}): '
        'evaluate it with the config it was trained with') from None
  except Exception as error:  # tensorstore's read errors, wrapped by orbax
    raise damaged_checkpoint(manager, step, error) from None
  return steps.EvalModel(model.apply, {'params': restored[names[0]],
                                       'batch_stats': restored[names[1]]})


def restore_checkpoint(manager, state, run_info: dict, chief: bool = True):
  """The newest checkpoint's state that restores, or `state` itself when there is none.

  Refuses a checkpoint of another model or class count: that workdir belongs to
  another run. A checkpoint that cannot be read back (a truncated or missing file)
  is skipped with a warning for the next older one, and moved (never deleted) into
  <workdir>/damaged_checkpoints/ by the chief process, so that the run saves its step
  again on the way.
  """
  damaged = []
  for step in sorted(manager.all_steps(), reverse=True):
    try:
      saved_info = read_run_info(manager, step)
    except Exception as error:  # orbax and tensorstore raise many kinds
      damaged.append((step, describe_error(error)))
      continue
    for key in ('model', 'num_classes', 'image_size'):
      if saved_info.get(key) != run_info[key]:
        raise ConfigError(
            f'{manager.directory} holds a checkpoint with {key}={saved_info.get(key)!r}, this '
            f'run has {key}={run_info[key]!r}: use another --workdir to start fresh')
    try:
      restored = _restore_matching(manager, step, state)
    except ConfigError:
      raise
    except Exception as error:
      silence_orbax_leftovers()
      damaged.append((step, describe_error(error)))
      continue
    _set_aside(manager, damaged, f'resuming from step {step}', chief)
    return restored
  if damaged:
    steps_text = ', '.join(str(step) for step, _ in damaged)
    raise DamagedCheckpointError(
        f'no checkpoint in {manager.directory} can be restored (steps {steps_text}; step '
        f'{damaged[0][0]}: {damaged[0][1]}): move the checkpoints folder away to start afresh, '
        'or restore it from a copy')
  return state


def _set_aside(manager, damaged: list[tuple[int, str]], outcome: str, chief: bool) -> None:
  """Moves the damaged checkpoints out of the manager's folder, saying so on stderr."""
  if not damaged:
    return
  aside = os.path.join(os.path.dirname(manager.directory), DAMAGED_FOLDER)
  for step, reason in damaged:
    target = os.path.join(aside, str(step))
    suffix = 1
    while os.path.exists(target):
      target, suffix = os.path.join(aside, f'{step}.{suffix}'), suffix + 1
    if chief:
      os.makedirs(aside, exist_ok=True)
      os.rename(os.path.join(manager.directory, str(step)), target)
      print(f'warning: the checkpoint of step {step} cannot be restored ({reason}); '
            f'{outcome}; it is kept in {target}', file=sys.stderr, flush=True)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices('damaged checkpoints set aside')
  manager.reload()


def _restore_matching(manager, step: int, state):
  """Step `step`'s state in the structure of `state`; a checkpoint of other settings (no
  EMA or plateau state where this run keeps one, or the reverse) is a ConfigError."""
  try:
    return _restore_state(manager, step, state)
  except ValueError as error:
    if 'do not match' not in str(error):
      raise
  in_use = [field for field in steps.OPTIONAL_STATE_FIELDS if getattr(state, field) is not None]
  if in_use:
    raise ConfigError(
        f'the checkpoint of step {step} in {manager.directory} has no {", ".join(in_use)} '
        'state (it was written without ema_decay or the plateau schedule): use another '
        '--workdir, or resume with the settings it was written with')
  try:  # written before the optional fields existed: the core fields are all it has
    core = _restore_state(manager, step, steps.CoreTrainState(
        **{field: getattr(state, field) for field in steps.CORE_STATE_FIELDS}))
  except ValueError as error:
    if 'do not match' not in str(error):
      raise
    raise ConfigError(
        f'the checkpoint of step {step} in {manager.directory} holds state this run does not '
        'keep (written with ema_decay or the plateau schedule, or another optimizer): resume '
        'with the settings it was written with, or use another --workdir') from None
  return state.replace(step=core.step, params=core.params, opt_state=core.opt_state,
                       batch_stats=core.batch_stats)


def _restore_state(manager, step: int, target):
  """Step `step`'s train state, restored into the structure and shardings of `target`."""
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
  return manager.restore(
      step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))['state']


def describe_latest(manager) -> str:
  step = manager.latest_step()
  return f'step {step}' if step is not None else 'none (no checkpoint yet)'
