r"""Trains any model of the registry on any supported dataset.

    python train.py --config=configs/resnet50.py --workdir=/tmp/resnet50
    python train.py --config=configs/quickstart.py --workdir=/tmp/quickstart \
        --config.num_epochs=10

Data-parallel over every device of every process: parameters are replicated,
each device gets batch_size / device_count examples, and the per-device step
(forward, loss, gradients) runs under `jax.shard_map` inside one `jax.jit`, with
gradients and BatchNorm statistics averaged across devices by `pmean`
(training/steps.py). Re-running the same command on the same workdir resumes
from its newest checkpoint. <workdir>/run.json says where the run stands.

This file is the command line and the story of a run: `setup` builds one
Experiment (data, state, compiled steps, checkpoints, writers), then
`train_and_evaluate` loops. The machinery lives in training/.
"""

import time

COMMAND_STARTED = time.monotonic()  # before the imports, which take seconds

import contextlib
import dataclasses
import math
import os
import sys
from typing import Any, Callable, Iterator

# TensorFlow (tf.data, and clu's writers import it) prints start-up notices on import.
from training import quiet_tensorflow  # noqa: E402

quiet_tensorflow.import_tensorflow()

from absl import app, flags, logging
from clu import metric_writers as clu_writers
import jax
from jax.sharding import Mesh
import ml_collections
from ml_collections import config_flags
import orbax.checkpoint as ocp

from configs import default
import input_pipeline
import preprocessing
import protocols
from training import (checkpoints, compilation_cache, configuration, distributed,
                      initialization, metric_writers, metrics_file, optimizers, progress, steps,
                      workdir as run_folder, xla_flags)
from training.configuration import ConfigError
from training.preemption import Preemption
from training.teacher import load_teacher
from training.step_metrics import NonFiniteError, StepMetrics
from training.workdir import WorkdirError

FLAGS = flags.FLAGS
# Overrides of undeclared fields are accepted while parsing, then refused by parse_flags
# against configs/default.py's declarations (which model_options' free fields pass).
config_flags.DEFINE_config_file('config', None, 'Recipe file (configs/*.py).',
                                lock_config=False, accept_new_attributes=True)
flags.DEFINE_string('workdir', None, 'Where checkpoints, metrics.jsonl and TensorBoard '
                    'events go; re-using it resumes the run.')


@dataclasses.dataclass
class Experiment:
  """Everything the loop needs, made once by `setup`."""

  config: ml_collections.ConfigDict
  source: input_pipeline.Source
  mesh: Mesh
  state: steps.TrainState
  start_step: int
  total_steps: int
  steps_per_epoch: int
  eval_every_steps: int
  local_batch_size: int
  train_step: Callable  # compiled: (state, batch, dropout_rng) -> (state, metrics)
  eval_step: Callable  # compiled: ((EvalModel,), batch) -> sums
  eval_batches: protocols.EvalBatches  # kept in memory after the first evaluation if small
  plateau: Any  # the plateau schedule's optax transformation, or None
  train_batches: Iterator[dict]  # sharded global batches, already on their way to the devices
  dropout_rng: jax.Array
  manager: ocp.CheckpointManager
  run_info: dict  # saved with every checkpoint, checked when one is restored
  status: dict[str, Any]  # <workdir>/run.json
  writer: clu_writers.MultiWriter
  console: progress.Console
  workdir: str

  def describe_latest_checkpoint(self) -> str:
    return f'{checkpoints.describe_latest(self.manager)} in {self.manager.directory}'


def eval_size(config: ml_collections.ConfigDict) -> int:
  """The side of evaluation images: eval_image_size, or the training size."""
  return config.eval_image_size or config.image_size


def is_due(step: int, every_steps: int, total_steps: int) -> bool:
  """The one cadence of periodic work (logs, evaluations, checkpoints): every
  `every_steps` steps and at the last step."""
  return step % every_steps == 0 or step == total_steps


def keep_image_statistics(source, workdir: str):
  """`source` with the mean/std saved in the workdir by the run's first start, if any;
  else saves its own there."""
  saved = run_folder.read_image_statistics(workdir, source.name, source.channels)
  if saved is not None:
    return dataclasses.replace(source, mean=saved[0], std=saved[1])
  if jax.process_index() == 0:
    run_folder.write_image_statistics(workdir, source.name, source.mean, source.std)
  return source


def load_source(config: ml_collections.ConfigDict, workdir: str):
  """This process's slice of the dataset, after the corrupt-image policy; and the class count."""
  source = input_pipeline.load_source(config.dataset, config.data_dir or None,
                                      config.manual_dir or None, jax.process_index(),
                                      jax.process_count(), config.seed)
  if source.inferred:
    source = keep_image_statistics(source, workdir)
  skipped = source.skipped_files
  if skipped and config.corrupt_images == 'fail':
    raise input_pipeline.DatasetError(
        f'{len(skipped)} image files cannot be decoded, e.g. {", ".join(skipped[:3])}: '
        'replace or remove them, or set --config.corrupt_images=skip to train without them')
  if skipped:
    print(f'warning: {len(skipped)} image files cannot be decoded and are left out, e.g. '
          f'{", ".join(skipped[:3])}', file=sys.stderr, flush=True)
  for warning in source.warnings:
    print(f'warning: {warning}', file=sys.stderr, flush=True)
  num_classes = source.num_classes if config.num_classes == -1 else config.num_classes
  if num_classes != source.num_classes:
    raise ConfigError(f'config.num_classes={config.num_classes} but {source.name} has '
                      f'{source.num_classes} classes: set it to {source.num_classes} or -1')
  return source, num_classes


def count_steps(config: ml_collections.ConfigDict, source) -> tuple[int, int, int]:
  """Steps per epoch, total steps and steps between evaluations."""
  if config.batch_size % jax.device_count():
    raise ConfigError(
        f'config.batch_size={config.batch_size} does not divide over {jax.device_count()} '
        f'devices: use a multiple of {jax.device_count()}')
  per_device = config.batch_size // jax.device_count()
  if per_device % config.grad_accum_steps:
    raise ConfigError(
        f'config.grad_accum_steps={config.grad_accum_steps} does not divide the '
        f'{per_device} images of each device\'s share of the batch (batch_size '
        f'{config.batch_size} over {jax.device_count()} devices): use a divisor of {per_device}')
  steps_per_epoch = source.train.total_examples // config.batch_size
  if steps_per_epoch == 0:
    raise ConfigError(f'config.batch_size={config.batch_size} is larger than the '
                      f'{source.train.total_examples} training examples: use a smaller one')
  if config.repeated_augmentation > source.train.num_examples:
    raise ConfigError(
        f'config.repeated_augmentation={config.repeated_augmentation} repeats more images than '
        f'the {source.train.num_examples} training examples of this process: use at most that')
  total_steps = (config.num_train_steps if config.num_train_steps > 0
                 else int(math.ceil(config.num_epochs * steps_per_epoch)))
  eval_every_steps = max(1, int(config.eval_every_epochs * steps_per_epoch))
  evaluations = total_steps // eval_every_steps
  if config.lr_schedule == 'plateau' and evaluations <= config.lr_plateau_patience:
    raise ConfigError(
        f'lr_schedule=plateau divides the rate after {config.lr_plateau_patience} evaluations '
        f'without improvement, but this run evaluates {evaluations} times before its end: '
        'evaluate more often (eval_every_epochs) or lower lr_plateau_patience')
  return steps_per_epoch, total_steps, eval_every_steps


def setup(config: ml_collections.ConfigDict, workdir: str) -> Experiment:
  """Checks the config and workdir, loads the data, builds or restores the state."""
  configuration.validate_config(config, default.FIELDS)
  run_folder.check_workdir(workdir)
  mesh = steps.create_mesh()
  source, num_classes = load_source(config, workdir)
  steps_per_epoch, total_steps, eval_every_steps = count_steps(config, source)
  processing = input_pipeline.create_preprocessing(source, config.image_size,
                                                   config.train_preprocess, config.eval_preprocess,
                                                   config.eval_image_size)
  initial = initialization.open_source(config.init_from) if config.init_from else None
  if initial is not None and initial.mean is not None and len(initial.mean) == processing.channels:
    # Pretrained weights expect the normalisation they were trained with.
    source = dataclasses.replace(source, mean=initial.mean, std=initial.std)
  model = steps.create_model(config, num_classes, total_steps)
  steps.check_input_size(model, config, processing.channels)
  teacher = load_teacher(config, default.FIELDS, num_classes, processing.channels, source.mean,
                         source.std, mesh)
  schedule = optimizers.create_learning_rate_schedule(config, steps_per_epoch, total_steps)
  init_rng, dropout_rng = jax.random.split(jax.random.key(config.seed))
  plateau = optimizers.create_plateau(config)
  trainable = initialization.trainable_for(config, model, processing.channels)
  state = steps.create_train_state(init_rng, model, config.image_size, processing.channels,
                                   optimizers.create_optimizer(config, schedule, trainable), mesh,
                                   ema=config.ema_decay > 0, plateau=plateau)
  run_info = checkpoints.describe_run(config, num_classes, processing.channels, source.mean,
                                      source.std, str(processing.eval),
                                      source.class_names if len(source.class_names) == num_classes
                                      else None)
  manager = checkpoints.create_checkpoint_manager(workdir, config.keep_checkpoints)
  if initial is not None and manager.latest_step() is None:  # a resumed run has its own
    frozen = initialization.frozen_variables(state.params, state.batch_stats,
                                             trainable.classifier if trainable else None)
    state, report = initialization.initialise(state, initial, config.init_from_rules, mesh,
                                              frozen)
    if jax.process_index() == 0:
      print(initialization.describe(report), flush=True)
    initialization.write_report(workdir, report)
  state = checkpoints.restore_checkpoint(manager, state, run_info,
                                         chief=jax.process_index() == 0)
  start_step = int(jax.device_get(state.step))

  is_chief = jax.process_index() == 0
  if is_chief:  # events past the checkpoint will be logged again
    metrics_file.drop_events_after(os.path.join(workdir, metrics_file.FILE_NAME), start_step)
  local_batch_size = config.batch_size // jax.process_count()
  parameters = steps.count_parameters(state.params)
  console = progress.Console(is_chief)
  console.banner(model=config.model, parameters=parameters, source=source,
                 num_classes=num_classes, devices=jax.device_count(),
                 platform=jax.devices()[0].platform, processes=jax.process_count(),
                 batch_size=config.batch_size, local_batch_size=local_batch_size,
                 steps_per_epoch=steps_per_epoch, total_steps=total_steps, start_step=start_step,
                 processing=processing)
  status = {**run_info, 'parameters': parameters,
            'batch_size': config.batch_size, 'steps_per_epoch': steps_per_epoch,
            'total_steps': total_steps, 'devices': jax.device_count(),
            'processes': jax.process_count(), 'status': 'running', 'step': start_step,
            'stop_reason': None, 'last_eval': None}
  train_step, eval_step = steps.compile_steps(mesh, config, schedule, source.mean, source.std,
                                              teacher)
  # The stream picks up exactly where the checkpointed step left it (see train_dataset).
  batches = input_pipeline.train_batches(source, local_batch_size, config.image_size,
                                         seed=config.seed, deterministic=config.deterministic,
                                         start_step=start_step,
                                         preprocess=config.train_preprocess,
                                         repeats=config.repeated_augmentation,
                                         devices=jax.local_device_count())
  eval_batches = protocols.EvalBatches(source, protocols.CENTER, local_batch_size,
                                       eval_size(config), config.eval_preprocess,
                                       memory_budget_bytes=int(config.eval_in_memory_mb * 2**20))
  return Experiment(
      config=config, source=source, mesh=mesh, state=state, start_step=start_step,
      eval_batches=eval_batches,
      total_steps=total_steps, steps_per_epoch=steps_per_epoch,
      eval_every_steps=eval_every_steps, local_batch_size=local_batch_size,
      train_step=train_step, eval_step=eval_step, plateau=plateau,
      train_batches=steps.shard_batches(batches, mesh), dropout_rng=dropout_rng,
      manager=manager, run_info=run_info, status=status,
      writer=metric_writers.create_metric_writer(workdir, is_chief), console=console,
      workdir=workdir)


def update_status(ex: Experiment, **changes) -> None:
  """run.json with `changes`; the chief process writes it."""
  ex.status.update(changes)
  if jax.process_index() == 0:
    run_folder.write_run_status(ex.workdir, ex.status)


def log_progress(ex: Experiment, step: int, metrics: StepMetrics,
                 throughput: progress.Throughput) -> None:
  """The log step's summary to the writers and the console; replicas checked to agree."""
  summary = metrics.summary()
  if summary is None:
    return
  steps_per_sec = throughput.steps_per_sec(step)
  summary['images_per_sec'] = steps_per_sec * ex.config.batch_size
  ex.writer.write_scalars(step, summary)
  if jax.process_count() > 1:
    distributed.replicas_agree(ex.state.params, step)
  ex.console.step(step, ex.total_steps, summary, steps_per_sec, ex.config.batch_size,
                  metrics.skipped_steps)


def evaluate(ex: Experiment, step: int) -> dict[str, float]:
  """Exact metrics over the whole eval split, written, flushed and printed."""
  # The same evaluation as evaluate.py's `center` protocol, on the same kind of model.
  (eval_metrics,), _ = protocols.evaluate(
      ex.eval_step, (steps.eval_model(ex.state),), ex.source, protocols.CENTER,
      ex.local_batch_size, eval_size(ex.config), ex.config.eval_preprocess, ex.mesh,
      ex.eval_batches)
  if ex.plateau is not None:  # before the checkpoint of this step, which keeps its state
    ex.state = steps.update_plateau(ex.state, ex.plateau, eval_metrics, ex.mesh)
  ex.writer.write_scalars(step, eval_metrics)
  ex.writer.flush()
  ex.console.evaluation(step, step / ex.steps_per_epoch, eval_metrics)
  ex.status['last_eval'] = eval_metrics
  return eval_metrics


def save(ex: Experiment, step: int, eval_metrics: dict | None) -> None:
  checkpoints.save_checkpoint(ex.manager, step, ex.state, ex.run_info, eval_metrics)
  update_status(ex, step=step)


def record_end(ex: Experiment, status: str, reason: str) -> None:
  """On the way out of a failed or interrupted run: the events logged so far, then run.json.
  Best effort: a full disk may refuse both, and the error on its way out says so."""
  with contextlib.suppress(Exception):
    ex.writer.flush()
  with contextlib.suppress(Exception):
    update_status(ex, status=status, stop_reason=reason)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """Trains config.model on config.dataset, evaluating and checkpointing on the way.

  Returns the last evaluation's metrics.
  """
  # One run per workdir: a second one would resume beside this one.
  with run_folder.hold_workdir(workdir, chief=jax.process_index() == 0):
    return train_in_held_workdir(config, workdir)


def train_in_held_workdir(config: ml_collections.ConfigDict, workdir: str) -> dict[str, float]:
  """train_and_evaluate's body, in a workdir this process holds."""
  # Counts what JAX compiles (or loads from the cache) up to the first step's end.
  compile_timer = compilation_cache.CompileTimer()
  with compile_timer:
    ex = setup(config, workdir)
  update_status(ex)
  metrics = StepMetrics(config.on_nonfinite)
  throughput = progress.Throughput(ex.start_step)
  one_program_at_a_time = steps.runs_one_program_at_a_time()
  eval_metrics, step, stop_cause = {}, ex.start_step, None
  try:
    with Preemption() as preemption:
      for step in range(ex.start_step + 1, ex.total_steps + 1):
        if step == ex.start_step + 1:  # the first step compiles (or loads from the cache)
          with compile_timer:
            ex.state, step_metrics = ex.train_step(ex.state, next(ex.train_batches),
                                                   ex.dropout_rng)
            jax.block_until_ready(step_metrics)
          ex.console.first_step(compile_timer.describe(), time.monotonic() - COMMAND_STARTED)
          throughput.restart(step)  # time from here
        else:
          ex.state, step_metrics = ex.train_step(ex.state, next(ex.train_batches),
                                                 ex.dropout_rng)
          if one_program_at_a_time:
            jax.block_until_ready(step_metrics)
        metrics.add(step, step_metrics)
        logging_now = is_due(step, config.log_every_steps, ex.total_steps)
        evaluating = is_due(step, ex.eval_every_steps, ex.total_steps)
        checkpointing = evaluating or is_due(step, config.checkpoint_every_steps, ex.total_steps)
        stopping = preemption.reached(step)
        if logging_now or checkpointing or stopping:
          # Fetched before any checkpoint, so that a non-finite step is caught first.
          metrics.fetch(ex.describe_latest_checkpoint)
        if logging_now:
          log_progress(ex, step, metrics, throughput)
        if evaluating:
          eval_metrics = evaluate(ex, step)
        if checkpointing or stopping:
          save(ex, step, eval_metrics if evaluating else None)
          throughput.restart(step)
        if stopping:
          stop_cause = preemption.cause
          break
  except KeyboardInterrupt:  # a second signal: stopped at once, at the last checkpoint
    record_end(ex, 'stopped', 'SIGINT')
    raise
  except Exception as error:
    record_end(ex, 'failed', ' '.join(str(error).split()))
    raise
  ex.manager.wait_until_finished()
  ex.writer.close()
  if stop_cause and step < ex.total_steps:
    ex.console.stopped(stop_cause, step, ex.total_steps, ex.manager.directory)
    update_status(ex, status='stopped', stop_reason=stop_cause)
  else:
    ex.console.finished(ex.total_steps, ex.manager.directory,
                        os.path.join(workdir, metrics_file.FILE_NAME))
    update_status(ex, status='finished')
  return eval_metrics


def parse_flags(argv: list[str]) -> list[str]:
  """absl flag parsing that answers a bad recipe file or config field in one line."""
  try:
    remaining = FLAGS(argv)
    FLAGS.config.keys()  # Loads the recipe file now, so that its errors surface here.
    unknown = configuration.unknown_fields(FLAGS['config'].override_values, default.FIELDS)
    if not unknown:
      FLAGS.config.lock()  # from here on, a misspelt field is an error, not a new one
      return remaining
    message = configuration.describe_unknown(unknown[0], default.FIELDS)
  except flags.Error as error:  # a bad value: --config.batch_size=abc, missing --workdir
    message = str(error)
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
  xla_flags.set_default_xla_flags(deterministic=FLAGS.config.deterministic)
  compilation_cache.enable(FLAGS.config.compilation_cache_dir)
  if not FLAGS['verbosity'].present:
    # Library INFO logs (orbax writes a dozen lines per checkpoint) would drown
    # the progress lines; --verbosity=0 brings them back.
    logging.set_verbosity(logging.WARNING)
  try:
    # Before the workdir is touched (its lock taken): a refused config writes nothing.
    configuration.validate_config(FLAGS.config, default.FIELDS)
    distributed.initialize(FLAGS.config)
    train_and_evaluate(FLAGS.config, FLAGS.workdir)
    checkpoints.end_process(0)  # quietly, after skipping a damaged checkpoint
  except (ConfigError, input_pipeline.DatasetError, preprocessing.PreprocessError, WorkdirError,
          distributed.DistributedError) as error:
    print(f'error: {error}', file=sys.stderr)
    checkpoints.end_process(2)
  except NonFiniteError as error:
    print(f'error: {error}', file=sys.stderr)
    checkpoints.end_process(1)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'workdir'])
  app.run(main, flags_parser=parse_flags)
