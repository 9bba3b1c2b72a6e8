"""Orbax checkpoints of the train state: manager, save, restore.

Each checkpoint holds the TrainState ('state') and what the run trains
('run': model, classes, image size, dataset), checked on restore so that a
workdir is never resumed by another run. Checkpoints are <workdir>/checkpoints/<step>.
"""

import os

import jax
import ml_collections
import optax
import orbax.checkpoint as ocp

from training import optimizers, steps
from training.configuration import ConfigError
from training.workdir import WorkdirError


def eval_accuracy(metrics: dict) -> float:
  return metrics['eval_accuracy']


def create_checkpoint_manager(workdir: str, keep: int) -> ocp.CheckpointManager:
  """Keeps the newest `keep` checkpoints plus the one with the best eval accuracy."""
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


def save_checkpoint(manager, step: int, state, run_info: dict, metrics=None) -> None:
  """Saves `state` as step `step` (once); `metrics` rank it for keeping the best.

  A failed write (full disk, lost permissions) is a WorkdirError that names the
  newest complete checkpoint, which stays as it was.
  """
  if manager.latest_step() == step:
    return
  try:
    manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                               run=ocp.args.JsonSave(run_info)),
                 metrics=metrics)
  except OSError as error:
    raise WorkdirError(
        f'cannot write the checkpoint of step {step} in {manager.directory} '
        f'({error.strerror or error}): free some space or fix the permissions and run again; '
        f'the newest complete checkpoint is {describe_latest(manager)}') from error


def describe_run(config: ml_collections.ConfigDict, num_classes: int, channels: int | None = None,
                 image_mean=None, image_std=None) -> dict:
  """What a checkpoint must match to be resumed (model, classes, image size: checked on
  restore), and what evaluating it needs (evaluate.py): input channels, the normalisation
  it was trained with, and the whole config."""
  return {'model': config.model, 'num_classes': num_classes, 'image_size': config.image_size,
          'dataset': config.dataset, 'channels': channels,
          'image_mean': None if image_mean is None else list(image_mean),
          'image_std': None if image_std is None else list(image_std),
          'config': config.to_dict()}


def open_checkpoints(directory: str) -> ocp.CheckpointManager:
  """The checkpoints in `directory` (a run's checkpoints/ folder), read-only."""
  return ocp.CheckpointManager(
      os.path.abspath(directory),
      options=ocp.CheckpointManagerOptions(read_only=True, create=False, best_fn=eval_accuracy,
                                           best_mode='max'),
      item_names=('state', 'run'))


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
  return manager.restore(step, args=ocp.args.Composite(run=ocp.args.JsonRestore()))['run']


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
    raise ConfigError(
        f'the checkpoint of step {step} in {manager.directory} does not hold {type(model).__name__}'
        f'\'s variables at {image_size}×{image_size}×{channels} ({" ".join(str(error).split())[:160]}): '
        'evaluate it with the config it was trained with') from None
  return steps.EvalModel(model.apply, {'params': restored[names[0]],
                                       'batch_stats': restored[names[1]]})


def restore_trained_state(config: ml_collections.ConfigDict, workdir: str, num_classes: int,
                          channels: int) -> steps.TrainState:
  """The newest checkpoint in `workdir` as a train state, for predictions (the notebook)."""
  model = steps.create_model(config, num_classes)
  # The optimiser state's structure, which restoring needs, does not depend on the
  # schedule's values, only on there being a schedule (and on what is trainable).
  from training import initialization  # pylint: disable=import-outside-toplevel
  tx = optimizers.create_optimizer(config, optax.constant_schedule(0.0),
                                   initialization.trainable_for(config, model, channels))
  state = steps.create_train_state(jax.random.key(config.seed), model, config.image_size,
                                   channels, tx, steps.create_mesh(), ema=config.ema_decay > 0,
                                   plateau=optimizers.create_plateau(config))
  manager = create_checkpoint_manager(workdir, config.keep_checkpoints)
  if manager.latest_step() is None:
    raise FileNotFoundError(f'no checkpoint in {manager.directory}: train first')
  return restore_checkpoint(manager, state, describe_run(config, num_classes))


def restore_checkpoint(manager, state, run_info: dict):
  """The newest checkpoint's state, or `state` itself when there is none.

  Refuses a checkpoint of another model or class count: that workdir belongs
  to another run.
  """
  step = manager.latest_step()
  if step is None:
    return state
  saved_info = manager.restore(step, args=ocp.args.Composite(run=ocp.args.JsonRestore()))['run']
  for key in ('model', 'num_classes', 'image_size'):
    if saved_info.get(key) != run_info[key]:
      raise ConfigError(
          f'{manager.directory} holds a checkpoint with {key}={saved_info.get(key)!r}, this '
          f'run has {key}={run_info[key]!r}: use another --workdir to start fresh')
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
