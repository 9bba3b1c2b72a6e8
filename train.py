r"""Trains any model of the registry on any supported dataset.

    python train.py --config=configs/resnet50.py --workdir=/tmp/resnet50
    python train.py --config=configs/quickstart.py --workdir=/tmp/quickstart \
        --config.num_epochs=10

Data-parallel over every device of every process: parameters are replicated,
each device gets batch_size / device_count examples, and the per-device step
(forward, loss, gradients) runs under `jax.shard_map` inside one `jax.jit`, with
gradients and BatchNorm statistics averaged across devices by `pmean`.
Re-running the same command on the same workdir resumes from its newest checkpoint.
"""

import collections
import difflib
import functools
import json
import math
import os
import re
import signal
import sys
import tempfile
import threading

# TensorFlow (tf.data) and XLA print start-up notices on import; keep warnings and errors.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import time
from typing import Any, Iterable, Iterator

from absl import app, flags, logging
from flax.training import train_state
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from ml_collections import config_flags
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp

import distributed
import models
import performance_flags

# input_pipeline (tf.data) and the metric writers (clu's import TensorFlow) are
# imported inside the functions that read data and write metrics, so that
# benchmark.py can use this module's steps where TensorFlow is not installed.

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Recipe file (configs/*.py).', lock_config=True)
flags.DEFINE_string('workdir', None, 'Where checkpoints, metrics.jsonl and TensorBoard '
                    'events go; re-using it resumes the run.')

BATCH_AXIS = 'batch'
LR_SCHEDULES = ('cosine', 'step', 'constant')


class ConfigError(ValueError):
  """A config field holds a value that cannot work; the message names the field."""


class WorkdirError(OSError):
  """The workdir cannot be written; the message says what to do."""


class NonFiniteError(RuntimeError):
  """A NaN or Inf loss or gradient with on_nonfinite='stop'."""


def validate_config(config: ml_collections.ConfigDict) -> None:
  """Stops a bad config before any work is done, naming the field and what is allowed."""
  close = difflib.get_close_matches(str(config.model), models.names(), n=4, cutoff=0.5)
  checks = [
      (config.model in models.names(), 'model',
       f'a registered model ({"did you mean " + ", ".join(close) + "?" if close else ""} '
       '`python -m models list` shows them all)'),
      (config.on_nonfinite in ('stop', 'skip'), 'on_nonfinite', "'stop' or 'skip'"),
      (config.corrupt_images in ('skip', 'fail'), 'corrupt_images', "'skip' or 'fail'"),
      (config.lr_schedule in LR_SCHEDULES, 'lr_schedule', f'one of {", ".join(LR_SCHEDULES)}'),
      (config.num_classes == -1 or config.num_classes > 0, 'num_classes',
       'a positive number, or -1 to take it from the dataset'),
      (config.image_size > 0, 'image_size', 'a positive number of pixels'),
      (config.batch_size > 0, 'batch_size', 'a positive number'),
      (config.num_train_steps > 0 or config.num_epochs > 0, 'num_epochs',
       'positive (or set num_train_steps)'),
      (config.learning_rate >= 0, 'learning_rate', 'zero or more'),
      (0 <= config.momentum < 1, 'momentum', 'in [0, 1)'),
      (config.weight_decay >= 0, 'weight_decay', 'zero or more'),
      (0 <= config.label_smoothing < 1, 'label_smoothing', 'in [0, 1)'),
      (config.warmup_epochs >= 0, 'warmup_epochs', 'zero or more'),
      (all(b > a for a, b in zip(config.lr_step_epochs, config.lr_step_epochs[1:]))
       and all(e > 0 for e in config.lr_step_epochs), 'lr_step_epochs',
       'positive epochs in increasing order, e.g. (30, 60, 80)'),
      (config.aux_loss_weight >= 0, 'aux_loss_weight', 'zero or more'),
      (config.log_every_steps > 0, 'log_every_steps', 'a positive number'),
      (config.eval_every_epochs > 0, 'eval_every_epochs', 'a positive number'),
      (config.checkpoint_every_steps > 0, 'checkpoint_every_steps', 'a positive number'),
      (config.keep_checkpoints > 0, 'keep_checkpoints', 'a positive number'),
  ]
  for ok, field, allowed in checks:
    if not ok:
      raise ConfigError(f'config.{field}={config[field]!r} is not allowed: use {allowed}')


# --- Model, optimiser, state ------------------------------------------------------------


def create_model(config: ml_collections.ConfigDict, num_classes: int):
  """The registry model of config.model; bfloat16 activations under half_precision."""
  dtype = jnp.bfloat16 if config.half_precision else jnp.float32
  return models.create(config.model, num_classes=num_classes, dtype=dtype,
                       **config.model_options.to_dict())


def create_learning_rate_schedule(config: ml_collections.ConfigDict,
                                  steps_per_epoch: int, total_steps: int) -> optax.Schedule:
  """Linear scaling, gradual warmup, then the recipe's schedule (Goyal et al. 2017).

  The peak rate is learning_rate × batch_size / 256 (§2.1). Warmup rises
  linearly from learning_rate to that peak over warmup_epochs (§2.2); 'step'
  divides by 10 at each of lr_step_epochs, 'cosine' decays to 0 at the end
  (Loshchilov & Hutter 2017, without restarts).
  """
  peak = config.learning_rate * config.batch_size / 256
  warmup_steps = min(int(config.warmup_epochs * steps_per_epoch), total_steps)
  after_warmup = max(total_steps - warmup_steps, 1)
  if config.lr_schedule == 'cosine':
    main = optax.cosine_decay_schedule(peak, decay_steps=after_warmup)
  elif config.lr_schedule == 'step':
    boundaries = {int(epoch * steps_per_epoch) - warmup_steps: 0.1
                  for epoch in config.lr_step_epochs
                  if int(epoch * steps_per_epoch) > warmup_steps}
    main = optax.piecewise_constant_schedule(peak, boundaries)
  else:
    main = optax.constant_schedule(peak)
  if warmup_steps == 0:
    return main
  warmup = optax.linear_schedule(min(config.learning_rate, peak), peak, warmup_steps)
  return optax.join_schedules([warmup, main], [warmup_steps])


def weight_decay_mask(params):
  """True for convolution and dense kernels, the only parameters that are decayed.

  Biases and BatchNorm scales and offsets are left alone, as in Goyal et al.
  2017 (§5.1, following the ResNet code of Gross & Wilber).
  """
  return jax.tree.map(lambda p: p.ndim > 1, params)


def create_optimizer(config: ml_collections.ConfigDict,
                     schedule: optax.Schedule) -> optax.GradientTransformation:
  """SGD with momentum (optionally Nesterov) and weight decay.

  Weight decay is applied as a separate gradient transformation rather than a
  term of the loss: λ·w is added to the gradient before momentum, the update
  of Krizhevsky et al. 2012 (§5) and the ResNet papers (L2 regularisation in
  plain SGD form). The loss and its logged value stay free of the decay term.
  """
  return optax.chain(
      optax.add_decayed_weights(config.weight_decay, mask=weight_decay_mask),
      optax.sgd(schedule, momentum=config.momentum, nesterov=config.nesterov),
  )


class TrainState(train_state.TrainState):
  """Parameters, optimiser state and step, plus BatchNorm's running statistics."""

  batch_stats: Any = None


def create_train_state(rng, model, image_size: int, channels: int,
                       tx: optax.GradientTransformation, mesh: Mesh) -> TrainState:
  """Initialises the model and optimiser, replicated on every device of the mesh."""

  def init():
    variables = model.init(rng, jnp.zeros((1, image_size, image_size, channels), jnp.float32),
                           train=False)
    return TrainState.create(apply_fn=model.apply, params=variables['params'], tx=tx,
                             batch_stats=variables.get('batch_stats', {}))

  return jax.jit(init, out_shardings=NamedSharding(mesh, P()))()


def check_input_size(model, config: ml_collections.ConfigDict, channels: int) -> None:
  """Stops, in one line, an image size the network cannot take (shapes only, no compute)."""
  rng = jax.random.key(0)
  images = jax.ShapeDtypeStruct((1, config.image_size, config.image_size, channels), jnp.float32)
  try:  # train mode: auxiliary classifiers (GoogLeNet, Inception) need the largest inputs
    jax.eval_shape(lambda x: model.init({'params': rng, 'dropout': rng}, x, train=True), images)
  except (TypeError, ValueError, ZeroDivisionError) as error:
    reason = ' '.join(str(error).split())[:160]
    spec = models.spec(config.model)
    raise ConfigError(
        f'config.image_size={config.image_size} is too small for {config.model} ({reason}): '
        f'use a larger one, such as its paper\'s {spec.input_size}') from None


def count_parameters(params) -> int:
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))


# --- Steps ------------------------------------------------------------------------------


def split_outputs(outputs):
  """Main logits and auxiliary-classifier logits (GoogLeNet-style models return a tuple)."""
  if isinstance(outputs, (tuple, list)):
    return outputs[0], tuple(outputs[1:])
  return outputs, ()


def cross_entropy(logits, labels, label_smoothing: float = 0.0):
  """Per-example softmax cross-entropy in float32, with optional label smoothing."""
  targets = jax.nn.one_hot(labels, logits.shape[-1])
  if label_smoothing:
    targets = optax.smooth_labels(targets, label_smoothing)
  return optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)


def top_k_correct(logits, labels, k: int):
  """1.0 where the label is among the k highest logits."""
  k = min(k, logits.shape[-1])
  _, top = jax.lax.top_k(logits, k)
  return jnp.any(top == labels[:, None], axis=-1).astype(jnp.float32)


def normalize_images(images, mean, std):
  """The input pipeline's uint8 pixels as float32, standardised per channel.

  This runs on the accelerator, at the start of each step, rather than in
  tf.data: normalising on the host halved the pipeline's images per CPU-second
  (BENCHMARKS.md), and uint8 batches are a quarter of the bytes to transfer.
  """
  return (images.astype(jnp.float32) - jnp.asarray(mean, jnp.float32)) / jnp.asarray(
      std, jnp.float32)


def all_finite(tree) -> jax.Array:
  """Whether every element of every array in `tree` is finite."""
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def train_step(state: TrainState, batch, dropout_rng, *, learning_rate_fn, label_smoothing: float,
               aux_loss_weight: float, image_mean, image_std):
  """One SGD step on this device's share of the batch (runs under shard_map)."""
  device_index = jax.lax.axis_index(BATCH_AXIS)
  dropout_rng = jax.random.fold_in(jax.random.fold_in(dropout_rng, state.step), device_index)

  images = normalize_images(batch['image'], image_mean, image_std)

  def loss_fn(params):
    outputs, updates = state.apply_fn(
        {'params': params, 'batch_stats': state.batch_stats}, images, train=True,
        mutable=['batch_stats'], rngs={'dropout': dropout_rng})
    logits, aux_logits = split_outputs(outputs)
    loss = cross_entropy(logits, batch['label'], label_smoothing).mean()
    for aux in aux_logits:
      loss += aux_loss_weight * cross_entropy(aux, batch['label'], label_smoothing).mean()
    return loss, (logits, updates)

  (loss, (logits, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  grads = jax.lax.pmean(grads, BATCH_AXIS)
  # Each device normalised with its own batch's statistics; the running averages
  # kept for evaluation are averaged over devices once per step.
  batch_stats = jax.lax.pmean(updates.get('batch_stats', {}), BATCH_AXIS)
  new_state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  # A NaN or Inf loss or gradient (on any device) leaves parameters, optimiser
  # state and BatchNorm statistics as they were, so no checkpoint can hold a
  # broken state; the host sees `nonfinite` and stops or counts the step.
  finite = jnp.logical_and(
      jax.lax.pmin(jnp.isfinite(loss).astype(jnp.int32), BATCH_AXIS) > 0, all_finite(grads))
  new_state = new_state.replace(**{
      field: jax.tree.map(lambda new, old: jnp.where(finite, new, old),
                          getattr(new_state, field), getattr(state, field))
      for field in ('params', 'opt_state', 'batch_stats')})
  metrics = {
      'train_loss': loss,
      'train_accuracy': top_k_correct(logits, batch['label'], 1).mean(),
      'learning_rate': learning_rate_fn(state.step),
  }
  metrics = jax.lax.pmean(metrics, BATCH_AXIS)
  metrics['nonfinite'] = 1.0 - finite.astype(jnp.float32)
  return new_state, metrics


def eval_step(state: TrainState, batch, *, image_mean, image_std):
  """Sums of correct predictions and losses over this device's real (mask 1) examples."""
  logits = state.apply_fn({'params': state.params, 'batch_stats': state.batch_stats},
                          normalize_images(batch['image'], image_mean, image_std), train=False)
  logits, _ = split_outputs(logits)
  mask = batch['mask']
  sums = {
      'correct': jnp.sum(top_k_correct(logits, batch['label'], 1) * mask),
      'correct_top5': jnp.sum(top_k_correct(logits, batch['label'], 5) * mask),
      'loss': jnp.sum(cross_entropy(logits, batch['label']) * mask),
      'count': jnp.sum(mask),
  }
  return jax.lax.psum(sums, BATCH_AXIS)


def create_mesh() -> Mesh:
  """A one-axis mesh over every device of every process."""
  return Mesh(np.array(jax.devices()), (BATCH_AXIS,))


def compile_steps(mesh: Mesh, config: ml_collections.ConfigDict, learning_rate_fn,
                  image_mean: tuple[float, ...], image_std: tuple[float, ...]):
  """train_step and eval_step, data-parallel over the mesh, each one jitted program.

  The train state is donated: its buffers are reused for the new state.
  `image_mean` and `image_std` (per channel, 0-255 scale) normalise the uint8 batches.
  """
  normalization = dict(image_mean=tuple(image_mean), image_std=tuple(image_std))
  train = functools.partial(train_step, learning_rate_fn=learning_rate_fn,
                            label_smoothing=config.label_smoothing,
                            aux_loss_weight=config.aux_loss_weight, **normalization)
  evaluate = functools.partial(eval_step, **normalization)
  parallel_train = jax.jit(
      jax.shard_map(train, mesh=mesh, in_specs=(P(), P(BATCH_AXIS), P()), out_specs=(P(), P())),
      donate_argnums=0)
  parallel_eval = jax.jit(
      jax.shard_map(evaluate, mesh=mesh, in_specs=(P(), P(BATCH_AXIS)), out_specs=P()))
  return parallel_train, parallel_eval


def shard_batches(batches: Iterable[dict], mesh: Mesh, buffer_size: int = 2) -> Iterator[dict]:
  """Global arrays from per-process numpy batches, transferred ahead of use.

  Keeping `buffer_size` batches in flight lets the host-to-device copy of the
  next batch overlap with the current step.
  """
  sharding = NamedSharding(mesh, P(BATCH_AXIS))
  queue = collections.deque()
  for batch in batches:
    queue.append(jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(sharding, x), batch))
    if len(queue) == buffer_size:
      yield queue.popleft()
  while queue:
    yield queue.popleft()


def runs_one_program_at_a_time() -> bool:
  """Whether the loop must wait for each step before dispatching the next.

  XLA's CPU runtime runs each device's share of a program on a pool of one
  thread per core, and a device waiting in an all-reduce holds its thread. With
  simulated devices, several programs in flight and few cores, every thread can
  end up waiting for a device that has none left (seen on 2 cores: a rendezvous
  timeout). GPUs and TPUs keep asynchronous dispatch.
  """
  return jax.devices()[0].platform == 'cpu' and jax.local_device_count() > 1


def evaluate(parallel_eval, state, source, config, local_batch_size, mesh) -> dict[str, float]:
  """Exact top-1/top-5 accuracy and mean loss over the whole eval split."""
  import input_pipeline
  totals = None
  one_program_at_a_time = runs_one_program_at_a_time()
  batches = input_pipeline.eval_batches(source, local_batch_size, config.image_size)
  for batch in shard_batches(batches, mesh):
    sums = parallel_eval(state, batch)
    if one_program_at_a_time:
      jax.block_until_ready(sums)
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
  totals = jax.device_get(totals)
  count = max(float(totals['count']), 1.0)
  return {
      'eval_accuracy': float(totals['correct']) / count,
      'eval_top5_accuracy': float(totals['correct_top5']) / count,
      'eval_loss': float(totals['loss']) / count,
  }


# --- Checkpoints ------------------------------------------------------------------------


def create_checkpoint_manager(workdir: str, keep: int) -> ocp.CheckpointManager:
  """Keeps the newest `keep` checkpoints plus the one with the best eval accuracy."""
  policy = ocp.checkpoint_managers.AnyPreservationPolicy([
      ocp.checkpoint_managers.LatestN(n=keep),
      ocp.checkpoint_managers.BestN(get_metric_fn=lambda m: m['eval_accuracy'], n=1,
                                    keep_checkpoints_without_metrics=False),
  ])
  return ocp.CheckpointManager(
      os.path.join(os.path.abspath(workdir), 'checkpoints'),
      # Synchronous saves: an asynchronous one finishes with a cross-device barrier
      # in a background thread, which on multi-device CPU can interleave with the
      # train step's all-reduce and deadlock both.
      options=ocp.CheckpointManagerOptions(preservation_policy=policy, create=True,
                                           enable_async_checkpointing=False),
      item_names=('state', 'run'))


def save_checkpoint(manager, step: int, state, run_info: dict, metrics=None) -> None:
  if manager.latest_step() == step:
    return
  manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                             run=ocp.args.JsonSave(run_info)),
               metrics=metrics)


def describe_run(config: ml_collections.ConfigDict, num_classes: int) -> dict:
  """What a checkpoint must match to be resumed: saved with it, checked on restore."""
  return {'model': config.model, 'num_classes': num_classes, 'image_size': config.image_size,
          'dataset': config.dataset}


def restore_trained_state(config: ml_collections.ConfigDict, workdir: str, num_classes: int,
                          channels: int) -> TrainState:
  """The newest checkpoint in `workdir` as a train state, for predictions (the notebook)."""
  model = create_model(config, num_classes)
  # The optimiser state's structure, which restoring needs, does not depend on the
  # schedule's values, only on there being a schedule.
  tx = create_optimizer(config, optax.constant_schedule(0.0))
  state = create_train_state(jax.random.key(config.seed), model, config.image_size, channels,
                             tx, create_mesh())
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
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
  return restored['state']


def check_workdir(workdir: str) -> None:
  """Fails early, in one line, on a workdir that cannot be created or written."""
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.TemporaryFile(dir=workdir):
      pass
  except OSError as error:
    raise WorkdirError(f'cannot write to --workdir={workdir} ({error.strerror or error}): '
                       'choose a folder you can write to') from None


def write_run_info(workdir: str, info: dict) -> None:
  """<workdir>/run.json: what this run trains, for tools that read many runs (sweep.py)."""
  path = os.path.join(workdir, 'run.json')
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    json.dump(info, f, indent=1)
  os.replace(path + '.tmp', path)  # readers never see half a file


def describe_latest(manager) -> str:
  step = manager.latest_step()
  return f'step {step}' if step is not None else 'none (no checkpoint yet)'


# --- The loop ---------------------------------------------------------------------------


def check_finite(fetched: list[tuple[int, dict]], on_nonfinite: str, manager) -> int:
  """How many of these steps had a non-finite loss or gradient (their update was skipped).

  With on_nonfinite='stop' the first such step stops the run instead. The train
  step never applies a non-finite update, so every checkpoint stays good.
  """
  bad = [step for step, metrics in fetched if metrics['nonfinite']]
  if bad and on_nonfinite == 'stop':
    raise NonFiniteError(
        f'non-finite loss or gradients at step {bad[0]}; its update was not applied and the run '
        f'stopped. The newest good checkpoint is {describe_latest(manager)} in '
        f'{manager.directory}: lower the learning rate (or warm up) and run again, or set '
        '--config.on_nonfinite=skip to skip such steps')
  return len(bad)


class Preemption:
  """Turns SIGTERM and SIGINT into a clean stop after the current step.

  Single process: the first signal is noted and the loop checkpoints and stops
  at the end of its step; a second signal acts at once (the previous handlers
  are back). Several processes must stop at the same step, so there JAX's
  preemption sync point decides (jax.distributed's coordination service catches
  SIGTERM on each process and agrees on a step); SIGINT then interrupts at once.
  """

  def __init__(self):
    self.cause = None
    self._previous = {}

  def __enter__(self):
    signals = [signal.SIGINT] + ([signal.SIGTERM] if jax.process_count() == 1 else [])
    if threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._note) for s in signals}
    return self

  def _note(self, signum, frame):
    del frame
    self.cause = signal.Signals(signum).name
    self._restore()

  def _restore(self):
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    self._previous = {}

  def __exit__(self, *exc_info):
    self._restore()

  def reached(self, step: int) -> bool:
    """Whether the run should checkpoint and stop after `step`."""
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils
      try:
        if multihost_utils.reached_preemption_sync_point(step):
          self.cause = 'SIGTERM'
      except RuntimeError:  # the runtime was started without a preemption notifier
        pass
    return self.cause is not None




def format_duration(seconds: float) -> str:
  seconds = int(seconds)
  hours, rest = divmod(seconds, 3600)
  return f'{hours}h{rest // 60:02d}m' if hours else f'{rest // 60}m{rest % 60:02d}s'


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """Trains config.model on config.dataset, evaluating and checkpointing on the way.

  Returns the last evaluation's metrics.
  """
  validate_config(config)
  check_workdir(workdir)
  process_index, process_count = jax.process_index(), jax.process_count()
  mesh = create_mesh()
  if config.batch_size % jax.device_count():
    raise ConfigError(
        f'config.batch_size={config.batch_size} does not divide over {jax.device_count()} '
        f'devices: use a multiple of {jax.device_count()}')
  local_batch_size = config.batch_size // process_count

  import input_pipeline
  import jsonl_writer
  source = input_pipeline.load_source(config.dataset, config.data_dir or None,
                                      config.manual_dir or None, process_index, process_count,
                                      config.seed)
  if source.skipped_files and config.corrupt_images == 'fail':
    raise input_pipeline.DatasetError(
        f'{len(source.skipped_files)} image files cannot be decoded, e.g. '
        f'{", ".join(source.skipped_files[:3])}: replace or remove them, or set '
        '--config.corrupt_images=skip to train without them')
  if source.skipped_files:
    print(f'warning: {len(source.skipped_files)} image files cannot be decoded and are left '
          f'out, e.g. {", ".join(source.skipped_files[:3])}', file=sys.stderr, flush=True)
  num_classes = source.num_classes if config.num_classes == -1 else config.num_classes
  if num_classes != source.num_classes:
    raise ConfigError(f'config.num_classes={config.num_classes} but {source.name} has '
                      f'{source.num_classes} classes: set it to {source.num_classes} or -1')
  steps_per_epoch = source.train.total_examples // config.batch_size
  if steps_per_epoch == 0:
    raise ConfigError(f'config.batch_size={config.batch_size} is larger than the '
                      f'{source.train.total_examples} training examples: use a smaller one')
  total_steps = (config.num_train_steps if config.num_train_steps > 0
                 else int(math.ceil(config.num_epochs * steps_per_epoch)))
  eval_every_steps = max(1, int(config.eval_every_epochs * steps_per_epoch))

  model = create_model(config, num_classes)
  check_input_size(model, config, source.channels)
  learning_rate_fn = create_learning_rate_schedule(config, steps_per_epoch, total_steps)
  tx = create_optimizer(config, learning_rate_fn)
  rng = jax.random.key(config.seed)
  init_rng, dropout_rng = jax.random.split(rng)
  state = create_train_state(init_rng, model, config.image_size, source.channels, tx, mesh)
  run_info = describe_run(config, num_classes)

  os.makedirs(workdir, exist_ok=True)
  manager = create_checkpoint_manager(workdir, config.keep_checkpoints)
  state = restore_checkpoint(manager, state, run_info)
  start_step = int(jax.device_get(state.step))
  metrics_path = os.path.join(workdir, 'metrics.jsonl')
  is_chief = process_index == 0
  if is_chief:
    jsonl_writer.drop_events_after(metrics_path, start_step)
  writers = [jsonl_writer.JsonlWriter(metrics_path)] if is_chief else []
  if is_chief:
    from clu import metric_writers  # TensorBoard events; only the chief writes them.
    writers.append(metric_writers.SummaryWriter(os.path.join(workdir, 'tensorboard')))

  if is_chief:
    print(f'{config.model}: {count_parameters(state.params):,} parameters | {source.name}: '
          f'{source.train.total_examples:,} train / {source.eval.total_examples:,} eval images, '
          f'{num_classes} classes | {jax.device_count()} {jax.devices()[0].platform} devices, '
          f'{process_count} processes | batch {config.batch_size}'
          + (f' ({local_batch_size} per process)' if process_count > 1 else '')
          + f', {steps_per_epoch} steps per '
          f'epoch, {total_steps} steps' + (f', resuming at step {start_step}' if start_step else ''),
          flush=True)

  if is_chief:
    write_run_info(workdir, {
        **run_info, 'channels': source.channels, 'parameters': count_parameters(state.params),
        'batch_size': config.batch_size, 'steps_per_epoch': steps_per_epoch,
        'total_steps': total_steps, 'devices': jax.device_count(), 'processes': process_count})

  parallel_train, parallel_eval = compile_steps(mesh, config, learning_rate_fn, source.mean,
                                               source.std)
  # The stream picks up exactly where the checkpointed step left it (see train_dataset).
  batches = input_pipeline.train_batches(source, local_batch_size, config.image_size,
                                         seed=config.seed, deterministic=config.deterministic,
                                         start_step=start_step)
  train_iter = shard_batches(batches, mesh)

  def write(step, scalars):
    for w in writers:
      w.write_scalars(step, scalars)

  def save(step, metrics=None):
    try:
      save_checkpoint(manager, step, state, run_info, metrics)
    except OSError as error:  # full disk, lost permissions: say so, keep what is there
      raise WorkdirError(
          f'cannot write the checkpoint of step {step} in {manager.directory} '
          f'({error.strerror or error}): free some space or fix the permissions and run again; '
          f'the newest complete checkpoint is {describe_latest(manager)}') from error

  one_program_at_a_time = runs_one_program_at_a_time()
  eval_metrics = {}
  step, stopping, logged = start_step, False, []
  skipped_steps = 0  # non-finite steps whose update was skipped (on_nonfinite='skip')
  pending = []  # (step, device-side metrics) since the last log line: fetched at log time
  # Throughput is timed over training steps only: the window restarts after the
  # first step (which compiles), after each evaluation and after each checkpoint.
  window_start_time, window_start_step = time.time(), start_step
  with Preemption() as preemption:
    for step in range(start_step + 1, total_steps + 1):
      state, metrics = parallel_train(state, next(train_iter), dropout_rng)
      if one_program_at_a_time or step == start_step + 1:
        jax.block_until_ready(metrics)
      if step == start_step + 1:
        window_start_time, window_start_step = time.time(), step
      pending.append((step, metrics))
      evaluated = step % eval_every_steps == 0 or step == total_steps
      checkpointed = evaluated or step % config.checkpoint_every_steps == 0
      stopping = preemption.reached(step)
      if step % config.log_every_steps == 0 or step == total_steps or checkpointed or stopping:
        # Fetched before any checkpoint, so that a non-finite step is caught first.
        fetched = list(zip([s for s, _ in pending], jax.device_get([m for _, m in pending])))
        pending = []
        try:
          skipped_steps += check_finite(fetched, config.on_nonfinite, manager)
        except NonFiniteError:
          for w in writers:  # keep the events logged so far
            w.flush()
          raise
        logged.extend(fetched)
      if logged and (step % config.log_every_steps == 0 or step == total_steps):
        finite = [m for _, m in logged if not m['nonfinite']] or [m for _, m in logged]
        summary = {k: float(np.mean([m[k] for m in finite])) for k in finite[0]
                   if k != 'nonfinite'}
        # The schedule's value at this step, not an average: a resumed run logs the same.
        summary['learning_rate'] = float(logged[-1][1]['learning_rate'])
        if config.on_nonfinite == 'skip':
          summary['skipped_steps'] = float(skipped_steps)
        logged = []
        now = time.time()
        steps_per_sec = (step - window_start_step) / max(now - window_start_time, 1e-9)
        window_start_time, window_start_step = now, step
        summary['images_per_sec'] = steps_per_sec * config.batch_size
        write(step, summary)
        if process_count > 1:
          distributed.replicas_agree(state.params, step)
        if is_chief:
          eta = format_duration((total_steps - step) / steps_per_sec) if steps_per_sec else '-'
          print(f'step {step}/{total_steps}  loss {summary["train_loss"]:.4f}  '
                f'lr {summary["learning_rate"]:.4g}  '
                f'{steps_per_sec * config.batch_size:,.0f} img/s  ETA {eta}'
                + (f'  skipped {skipped_steps}' if skipped_steps else ''), flush=True)
      if evaluated:
        eval_metrics = evaluate(parallel_eval, state, source, config, local_batch_size, mesh)
        write(step, eval_metrics)
        for w in writers:
          w.flush()
        if is_chief:
          print(f'eval at step {step} (epoch {step / steps_per_epoch:.1f}): top-1 '
                f'{eval_metrics["eval_accuracy"]:.2%}  '
                f'top-5 {eval_metrics["eval_top5_accuracy"]:.2%}'
                f'  loss {eval_metrics["eval_loss"]:.4f}', flush=True)
      if checkpointed or stopping:
        save(step, eval_metrics if evaluated else None)
        window_start_time, window_start_step = time.time(), step
      if stopping:
        break

  manager.wait_until_finished()
  for w in writers:
    w.flush()
    w.close()
  if is_chief:
    if stopping and step < total_steps:
      print(f'stopped by {preemption.cause} at step {step}/{total_steps}: checkpoint saved in '
            f'{manager.directory}; run the same command again to continue', flush=True)
    else:
      print(f'done: {total_steps} steps, checkpoints in {manager.directory}, metrics in '
            f'{metrics_path}', flush=True)
  return eval_metrics


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing that answers a bad recipe file or config field in one line."""
  try:
    remaining = FLAGS(argv)
    FLAGS.config.keys()  # Loads the recipe file now, so that its errors surface here.
    return remaining
  except flags.Error as error:  # a bad value: --config.batch_size=abc, missing --workdir
    message = str(error)
  except AttributeError as error:  # a misspelt field: --config.batch_sise=32
    text = str(error).encode().decode('unicode_escape')
    field = re.search(r"'(\w+)'", text)
    suggestion = re.search(r'Did you mean "(\w+)"', text)
    message = (f'unknown config field {field.group(1) if field else text.strip()!r}'
               + (f': did you mean {suggestion.group(1)!r}?' if suggestion else
                  ': see configs/default.py for the fields'))
  except (OSError, SyntaxError, ImportError) as error:  # no such recipe file, or a broken one
    cause = error.__cause__ or error.__context__ or error
    while cause.__cause__ is not None:
      cause = cause.__cause__
    message = (f'cannot load the --config recipe file ({type(cause).__name__}: '
               f'{" ".join(str(cause).split())}): pass an existing file such as '
               'configs/quickstart.py')
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  # Before JAX starts its backends, which read XLA_FLAGS once.
  performance_flags.set_default_xla_flags(deterministic=FLAGS.config.deterministic)
  if not FLAGS['verbosity'].present:
    # Library INFO logs (orbax writes a dozen lines per checkpoint) would drown
    # the progress lines; --verbosity=0 brings them back.
    logging.set_verbosity(logging.WARNING)
  import tensorflow as tf  # tf.data only: keep TensorFlow off the accelerators.
  tf.config.set_visible_devices([], 'GPU')
  import input_pipeline
  try:
    distributed.initialize(FLAGS.config)
    train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except (ConfigError, input_pipeline.DatasetError, WorkdirError,
          distributed.DistributedError) as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(2)
  except NonFiniteError as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(1)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main, flags_parser=parse_flags)
