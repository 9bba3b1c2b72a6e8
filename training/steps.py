"""The data-parallel train and eval steps, and what they need: no TensorFlow here.

TrainState carries parameters, optimiser state and BatchNorm statistics;
`compile_steps` turns `train_step` and `eval_step` into jitted programs over a
one-axis device mesh (`jax.shard_map`, gradients and statistics averaged by
`pmean`). The input pipeline's uint8 batches are normalised on the device.
train.py, benchmark.py, the notebook and the tests use these public names.
"""

import collections
import dataclasses
import functools
from typing import Any, Callable, Iterable, Iterator

from flax import struct
from flax.training import train_state
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import ml_collections
import numpy as np
import optax

import models
from models import features
from training import mixing as batch_mixing
from training.configuration import ConfigError

BATCH_AXIS = 'batch'


def create_model(config: ml_collections.ConfigDict, num_classes: int, total_steps: int = 0):
  """The registry model of config.model; bfloat16 activations under half_precision.

  A network whose regularisation follows the length of training (NASNet's
  ScheduledDropPath) is told `total_steps`, unless config.model_options sets it. With
  config.probe_stages, the network's maps at those stages feed a new linear classifier
  (features.LinearProbe); its own head is not built.
  """
  dtype = jnp.bfloat16 if config.half_precision else jnp.float32
  options = config.model_options.to_dict()
  if total_steps and models.accepts_option(config.model, 'total_training_steps'):
    options.setdefault('total_training_steps', total_steps)
  probe_stages = config.get('probe_stages', '')
  try:
    if probe_stages:
      return features.linear_probe(config.model, features.parse_stages(probe_stages),
                                   num_classes, dtype=dtype, **options)
    return models.create(config.model, num_classes=num_classes, dtype=dtype, **options)
  except TypeError as error:  # an option the model's constructor does not take
    raise ConfigError(f'config.model_options={options} does not fit {config.model} '
                      f'({error}): remove the option or pick a model that has it') from None
  except features.StageIndexError as error:
    raise ConfigError(f'config.probe_stages={probe_stages!r}: {error}') from None


class CoreTrainState(train_state.TrainState):
  """Parameters, optimiser state and step, plus BatchNorm's running statistics: what
  every checkpoint holds."""

  batch_stats: Any = None


class TrainState(CoreTrainState):
  """CoreTrainState, plus with ema_decay the moving averages of the parameters and
  statistics (what evaluation uses), and under the plateau schedule the
  reduce-on-plateau state. Fields not in use are None (empty entries in a
  checkpoint); checkpoints written before these fields existed lack them, and
  training/checkpoints.py restores those with CoreTrainState."""

  ema_params: Any = None
  ema_batch_stats: Any = None
  plateau: Any = None


CORE_STATE_FIELDS = ('step', 'apply_fn', 'params', 'tx', 'opt_state', 'batch_stats')
OPTIONAL_STATE_FIELDS = ('ema_params', 'ema_batch_stats', 'plateau')


def create_train_state(rng, model, image_size: int, channels: int,
                       tx: optax.GradientTransformation, mesh: Mesh, *, ema: bool = False,
                       plateau: optax.GradientTransformation | None = None) -> TrainState:
  """Initialises the model and optimiser, replicated on every device of the mesh; the
  moving averages start at the initial weights."""

  def init(rng):
    variables = model.init(rng, jnp.zeros((1, image_size, image_size, channels), jnp.float32),
                           train=False)
    params, batch_stats = variables['params'], variables.get('batch_stats', {})
    return TrainState.create(apply_fn=model.apply, params=params, tx=tx,
                             batch_stats=batch_stats,
                             ema_params=params if ema else None,
                             ema_batch_stats=batch_stats if ema else None,
                             plateau=plateau.init(params) if plateau is not None else None)

  # The key is an argument, not a constant of the program: every seed of a sweep then
  # shares one compiled initialisation (and its entry in the compilation cache).
  return jax.jit(init, out_shardings=NamedSharding(mesh, P()))(rng)


def evaluated_variables(state: TrainState) -> dict:
  """The variables evaluation uses: the moving averages where the run keeps them
  (Inception v3 §8, Polyak averaging), else the trained ones."""
  if state.ema_params is not None:
    return {'params': state.ema_params, 'batch_stats': state.ema_batch_stats}
  return {'params': state.params, 'batch_stats': state.batch_stats}


def ema_decay_at(decay: float, step) -> jax.Array:
  """TensorFlow's ExponentialMovingAverage with num_updates, as Inception's training code
  used it: min(decay, (1 + step) / (10 + step)), so early averages follow the weights."""
  step = jnp.asarray(step, jnp.float32)
  return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def update_plateau(state: TrainState, plateau: optax.GradientTransformation,
                   eval_metrics: dict, mesh: Mesh) -> TrainState:
  """The plateau state after an evaluation with `eval_metrics`: the validation error
  (1 - top-1) decides. Every process computes the same from the same metrics."""
  error = 1.0 - eval_metrics['eval_accuracy']
  _, new = plateau.update(jnp.zeros(()), jax.device_get(state.plateau), value=error)
  new = jax.device_put(jax.device_get(new), NamedSharding(mesh, P()))
  return state.replace(plateau=new)


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


def split_outputs(outputs):
  """Main logits and auxiliary-classifier logits (GoogLeNet-style models return a tuple)."""
  if isinstance(outputs, (tuple, list)):
    return outputs[0], tuple(outputs[1:])
  return outputs, ()


def _loss_dtype(logits):
  """float32 at least: bfloat16 logits are promoted, float64 ones (parity tests) kept."""
  return logits.astype(jnp.promote_types(logits.dtype, jnp.float32))


def cross_entropy(logits, labels, label_smoothing: float = 0.0):
  """Per-example softmax cross-entropy in float32, with optional label smoothing."""
  return optax.softmax_cross_entropy(
      _loss_dtype(logits),
      batch_mixing.smoothed_one_hot(labels, logits.shape[-1], label_smoothing))


@dataclasses.dataclass(frozen=True)
class Objective:
  """What the train step minimises, from the config's loss fields.

  'softmax_cross_entropy': the mean over examples of -Σ_k t_k log softmax(z)_k.
  'sigmoid_binary_cross_entropy': each class an independent sigmoid, averaged over
  examples × classes, as timm's BinaryCrossEntropy does (the "ResNet strikes back"
  recipes' loss, whose learning rates assume that reduction); with
  `bce_target_threshold` > 0, soft targets above it become 1 and the rest 0.
  With a teacher (Hinton et al. 2015; He et al. 2019 §5.3): (1 - w)·loss + w·T²·CE(
  softmax(r/T), softmax(z/T)), r the teacher's logits, w = distill_weight, T =
  distill_temperature (the Bag of Tricks code's form: w = 0.5, T = 20).
  Auxiliary classifiers add aux_loss_weight × their loss (of the same kind, no teacher).
  """

  loss: str = 'softmax_cross_entropy'
  label_smoothing: float = 0.0
  bce_target_threshold: float = 0.0
  aux_loss_weight: float = 0.3
  distill_weight: float = 0.0
  distill_temperature: float = 1.0

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> 'Objective':
    return cls(loss=config.loss, label_smoothing=config.label_smoothing,
               bce_target_threshold=config.bce_target_threshold,
               aux_loss_weight=config.aux_loss_weight,
               distill_weight=config.distill_weight if config.teacher else 0.0,
               distill_temperature=config.distill_temperature)

  def classification(self, logits, targets):
    """The mean loss of `logits` against soft `targets` (examples × classes)."""
    logits = _loss_dtype(logits)
    targets = targets.astype(logits.dtype)
    if self.loss == 'sigmoid_binary_cross_entropy':
      if self.bce_target_threshold > 0:
        targets = (targets > self.bce_target_threshold).astype(logits.dtype)
      return optax.sigmoid_binary_cross_entropy(logits, targets).mean()
    return optax.softmax_cross_entropy(logits, targets).mean()

  def distillation(self, logits, teacher_logits):
    temperature = self.distill_temperature
    soft_targets = jax.nn.softmax(_loss_dtype(teacher_logits) / temperature)
    return temperature**2 * optax.softmax_cross_entropy(
        _loss_dtype(logits) / temperature, soft_targets).mean()

  def __call__(self, outputs, targets, teacher_logits=None):
    logits, aux_logits = split_outputs(outputs)
    loss = self.classification(logits, targets)
    if teacher_logits is not None:
      loss = ((1.0 - self.distill_weight) * loss
              + self.distill_weight * self.distillation(logits, teacher_logits))
    for aux in aux_logits:
      loss += self.aux_loss_weight * self.classification(aux, targets)
    return loss, logits


def top_k_correct(logits, labels, k: int):
  """1.0 where the label is among the k highest logits."""
  k = min(k, logits.shape[-1])
  _, top = jax.lax.top_k(logits, k)
  return jnp.any(top == labels[:, None], axis=-1).astype(jnp.float32)


def top_k_in_label_set(logits, label_sets, k: int):
  """1.0 where any of the k highest logits is in the example's label set (`label_sets`:
  examples × classes, nonzero where in the set): ImageNet-ReaL's rule (Beyer et al. 2020)."""
  k = min(k, logits.shape[-1])
  _, top = jax.lax.top_k(logits, k)
  return jnp.any(jnp.take_along_axis(label_sets, top, axis=-1) > 0, axis=-1).astype(jnp.float32)


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


# Folded into a step's dropout key to give its mixing key: a stream of its own.
MIXING_STREAM = 0x6D6978


def train_step(state: TrainState, batch, dropout_rng, teacher=None, *, learning_rate_fn,
               objective: Objective, image_mean, image_std, ema_decay: float = 0.0,
               frozen_features: bool = False, mixing: batch_mixing.Mixing | None = None,
               grad_accum_steps: int = 1, unroll_accumulation: bool = False,
               teacher_normalization=None):
  """One optimiser step on this device's share of the batch (runs under shard_map).

  The share is mixed (`mixing`, Mixup/CutMix) and, with `grad_accum_steps` = k, split
  into k micro-batches run one after another: each updates BatchNorm's statistics in
  turn, their gradients are averaged, and the optimiser steps once, so a step is one
  update of the whole batch whatever k (memory holds one micro-batch's activations).
  `unroll_accumulation` unrolls that loop: XLA's CPU backend runs a convolution inside a
  loop body far slower than outside one (jax-ml/jax#12868; measured here: ResNet-18's
  step 15× slower), so on CPUs the micro-batches are unrolled, at the cost of the memory
  saving.
  `teacher` (an EvalModel, normalised with `teacher_normalization`) runs in inference
  mode on the same mixed images; its variables are an input, never updated.
  `frozen_features` (a linear probe): the network runs in inference mode, BatchNorm with
  its running statistics, which stay as they are.
  """
  device_index = jax.lax.axis_index(BATCH_AXIS)
  dropout_rng = jax.random.fold_in(jax.random.fold_in(dropout_rng, state.step), device_index)

  labels = batch['label']
  images = batch['image'].astype(jnp.float32)
  partner_labels, lam = labels, jnp.float32(1.0)
  if mixing is not None and mixing.active:
    images, lam = batch_mixing.mix(jax.random.fold_in(dropout_rng, MIXING_STREAM), mixing,
                                   images)
    partner_labels = labels[::-1]

  def micro_batch_loss(params, batch_stats, images, labels, partner_labels, rng):
    teacher_logits = None
    if teacher is not None:
      teacher_logits, _ = split_outputs(teacher.apply_fn(
          teacher.variables, normalize_images(images, *teacher_normalization), train=False))
      teacher_logits = jax.lax.stop_gradient(teacher_logits)
    outputs, updates = state.apply_fn(
        {'params': params, 'batch_stats': batch_stats}, normalize_images(images, image_mean,
                                                                         image_std),
        train=not frozen_features, mutable=['batch_stats'], rngs={'dropout': rng})
    num_classes = split_outputs(outputs)[0].shape[-1]
    targets = batch_mixing.mixed_targets(labels, partner_labels, lam, num_classes,
                                         objective.label_smoothing)
    loss, logits = objective(outputs, targets, teacher_logits)
    new_stats = batch_stats if frozen_features else updates.get('batch_stats', batch_stats)
    return loss, (logits, new_stats)

  gradient = jax.value_and_grad(micro_batch_loss, has_aux=True)
  if grad_accum_steps == 1:
    (loss, (logits, batch_stats)), grads = gradient(state.params, state.batch_stats, images,
                                                    labels, partner_labels, dropout_rng)
  else:
    def split(x):
      return x.reshape((grad_accum_steps, x.shape[0] // grad_accum_steps) + x.shape[1:])

    def accumulate(carry, micro):
      grads_sum, loss_sum, batch_stats = carry
      index, micro_images, micro_labels, micro_partners = micro
      (loss, (logits, batch_stats)), grads = gradient(
          state.params, batch_stats, micro_images, micro_labels, micro_partners,
          jax.random.fold_in(dropout_rng, index))
      return (jax.tree.map(jnp.add, grads_sum, grads), loss_sum + loss, batch_stats), logits

    # The carry differs between devices from the first micro-batch on: it starts so.
    varying = lambda tree: jax.tree.map(
        lambda x: jax.lax.pcast(x, BATCH_AXIS, to='varying'), tree)
    zeros = jax.tree.map(jnp.zeros_like, state.params)
    (grads, loss, batch_stats), logits = jax.lax.scan(
        accumulate, varying((zeros, jnp.zeros((), jnp.float32), state.batch_stats)),
        (jnp.arange(grad_accum_steps), split(images), split(labels), split(partner_labels)),
        unroll=unroll_accumulation)
    grads = jax.tree.map(lambda g: g / grad_accum_steps, grads)
    loss = loss / grad_accum_steps
    logits = logits.reshape((-1,) + logits.shape[2:])

  grads = jax.lax.pmean(grads, BATCH_AXIS)
  # Each device normalised with its own batch's statistics; the running averages
  # kept for evaluation are averaged over devices once per step.
  batch_stats = (state.batch_stats if frozen_features
                 else jax.lax.pmean(batch_stats, BATCH_AXIS))
  learning_rate = learning_rate_fn(state.step)
  if state.plateau is not None:  # the schedule's rate × the plateau's scale, this step
    learning_rate = learning_rate * state.plateau.scale
    state = state.replace(opt_state=state.opt_state._replace(
        hyperparams={**state.opt_state.hyperparams, 'learning_rate': learning_rate}))
  new_state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  if state.ema_params is not None:
    decay = ema_decay_at(ema_decay, state.step)
    average = lambda old, new: decay * old + (1.0 - decay) * new
    new_state = new_state.replace(
        ema_params=jax.tree.map(average, state.ema_params, new_state.params),
        ema_batch_stats=jax.tree.map(average, state.ema_batch_stats, new_state.batch_stats))
  # A NaN or Inf loss or gradient (on any device) leaves parameters, optimiser
  # state and BatchNorm statistics as they were, so no checkpoint can hold a
  # broken state; the host sees `nonfinite` and stops or counts the step.
  finite = jnp.logical_and(
      jax.lax.pmin(jnp.isfinite(loss).astype(jnp.int32), BATCH_AXIS) > 0, all_finite(grads))
  # One conditional for the whole state, not a select per array: with a select per
  # array XLA's CPU compiler took 140 s instead of 40 s for DenseNet-121's step
  # (98 s instead of 17 s for a one-cell NASNet-A), for the same program.
  fields = ('params', 'opt_state', 'batch_stats', 'ema_params', 'ema_batch_stats')
  new_state = new_state.replace(**jax.lax.cond(
      finite, lambda: {field: getattr(new_state, field) for field in fields},
      lambda: {field: getattr(state, field) for field in fields}))
  metrics = {
      'train_loss': loss,
      'train_accuracy': top_k_correct(logits, labels, 1).mean(),
      'learning_rate': learning_rate,
  }
  metrics = jax.lax.pmean(metrics, BATCH_AXIS)
  metrics['nonfinite'] = 1.0 - finite.astype(jnp.float32)
  return new_state, metrics


@struct.dataclass
class EvalModel:
  """What evaluation needs of a trained network: its apply function and the variables it
  is evaluated with (`evaluated_variables`)."""

  apply_fn: Callable = struct.field(pytree_node=False)
  variables: dict


def eval_model(state: TrainState) -> EvalModel:
  return EvalModel(state.apply_fn, evaluated_variables(state))


def average_predictions(log_probs, axis: int):
  """The log of the mean softmax over `axis` (views of an image, or ensemble members):
  AlexNet §4.1 averages "the predictions made by the network's softmax layer". One
  prediction is returned as it is, so that a single view scores exactly its logits."""
  if log_probs.shape[axis] == 1:
    return jnp.squeeze(log_probs, axis)
  return jax.nn.logsumexp(log_probs, axis=axis) - jnp.log(float(log_probs.shape[axis]))


def eval_step(models: tuple[EvalModel, ...], batch, *, normalizations):
  """Sums of correct predictions and losses over this device's real (mask 1) examples,
  for each model and, with several, for their ensemble (softmax averaged) last.

  `batch['image']` holds one view per example (batch × height × width × channels) or
  several (batch × views × ...): each model's softmax is averaged over an example's
  views, then over the models. `normalizations` holds each model's (mean, std).

  Where the batch has 'real_labels' (examples × classes, nonzero for the labels that fit
  the image: ImageNet-ReaL), it also counts the predictions in that set, over the examples
  whose set is not empty (`real_count`): Beyer et al. 2020 leave the others out.
  """
  images = batch['image']
  if images.ndim == 4:
    images = images[:, None]
  examples, views = images.shape[:2]
  flat = images.reshape((examples * views,) + images.shape[2:])
  predictions = []
  for model, (mean, std) in zip(models, normalizations):
    logits, _ = split_outputs(model.apply_fn(model.variables, normalize_images(flat, mean, std),
                                             train=False))
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32).reshape(examples, views, -1))
    predictions.append(average_predictions(log_probs, axis=1))
  if len(predictions) > 1:
    predictions.append(average_predictions(jnp.stack(predictions), axis=0))
  labels, mask = batch['label'], batch['mask']
  sums = {
      'correct': [jnp.sum(top_k_correct(p, labels, 1) * mask) for p in predictions],
      'correct_top5': [jnp.sum(top_k_correct(p, labels, 5) * mask) for p in predictions],
      'loss': [-jnp.sum(jnp.take_along_axis(p, labels[:, None], axis=1)[:, 0] * mask)
               for p in predictions],
  }
  if 'real_labels' in batch:
    label_sets = batch['real_labels']
    counted = mask * jnp.any(label_sets > 0, axis=-1).astype(jnp.float32)
    sums['real_correct'] = [jnp.sum(top_k_in_label_set(p, label_sets, 1) * counted)
                            for p in predictions]
    sums['real_correct_top5'] = [jnp.sum(top_k_in_label_set(p, label_sets, 5) * counted)
                                 for p in predictions]
  sums = {name: jnp.stack(values) for name, values in sums.items()}
  sums['count'] = jnp.sum(mask)
  if 'real_labels' in batch:
    sums['real_count'] = jnp.sum(counted)
  return jax.lax.psum(sums, BATCH_AXIS)


def create_mesh() -> Mesh:
  """A one-axis mesh over every device of every process."""
  return Mesh(np.array(jax.devices()), (BATCH_AXIS,))


@dataclasses.dataclass(frozen=True)
class Teacher:
  """A trained network that the train step distils from: its EvalModel and the
  normalisation (mean, std on the 0-255 scale) it was trained with."""

  model: EvalModel
  mean: tuple[float, ...]
  std: tuple[float, ...]


def mixing_from_config(config: ml_collections.ConfigDict) -> batch_mixing.Mixing:
  return batch_mixing.Mixing(mixup_alpha=config.mixup_alpha, cutmix_alpha=config.cutmix_alpha,
                             mix_prob=config.mix_prob, switch_prob=config.mix_switch_prob)


def compile_steps(mesh: Mesh, config: ml_collections.ConfigDict, learning_rate_fn,
                  image_mean: tuple[float, ...], image_std: tuple[float, ...],
                  teacher: Teacher | None = None, unroll_accumulation: bool | None = None):
  """train_step and eval_step, data-parallel over the mesh, each one jitted program.

  The train state is donated: its buffers are reused for the new state.
  `image_mean` and `image_std` (per channel, 0-255 scale) normalise the uint8 batches.
  A `teacher`'s variables enter the compiled step as an argument (not as constants of
  the program); the returned train step still takes (state, batch, rng).
  `unroll_accumulation`: see train_step; None unrolls on CPUs only.
  """
  if unroll_accumulation is None:
    unroll_accumulation = mesh.devices.flat[0].platform == 'cpu'
  train = functools.partial(
      train_step, learning_rate_fn=learning_rate_fn, objective=Objective.from_config(config),
      ema_decay=config.ema_decay, image_mean=tuple(image_mean), image_std=tuple(image_std),
      frozen_features=config.trainable == 'head', mixing=mixing_from_config(config),
      grad_accum_steps=config.grad_accum_steps,
      unroll_accumulation=unroll_accumulation,
      teacher_normalization=None if teacher is None else (teacher.mean, teacher.std))
  parallel_train = jax.jit(
      jax.shard_map(train, mesh=mesh, in_specs=(P(), P(BATCH_AXIS), P(), P()),
                    out_specs=(P(), P())),
      donate_argnums=0)
  return (CompiledTrainStep(parallel_train, None if teacher is None else teacher.model),
          compile_eval_step(mesh, ((image_mean, image_std),)))


@dataclasses.dataclass(frozen=True)
class CompiledTrainStep:
  """The jitted train step with its teacher bound: (state, batch, rng) -> (state, metrics)."""

  jitted: Callable
  teacher: EvalModel | None = None

  def __call__(self, state, batch, dropout_rng):
    return self.jitted(state, batch, dropout_rng, self.teacher)

  def lower(self, state, batch, dropout_rng) -> '_BoundLowering':
    """Ahead-of-time lowering (benchmark.py): `.compile()` gives a program that takes
    (state, batch, rng) too, with XLA's analyses (memory_analysis, as_text) as its own."""
    return _BoundLowering(self.jitted.lower(state, batch, dropout_rng, self.teacher),
                          self.teacher)


@dataclasses.dataclass(frozen=True)
class _BoundLowering:
  lowered: Any
  teacher: EvalModel | None

  def compile(self) -> '_BoundProgram':
    return _BoundProgram(self.lowered.compile(), self.teacher)

  def __getattr__(self, name):
    return getattr(self.lowered, name)


@dataclasses.dataclass(frozen=True)
class _BoundProgram:
  compiled: Any
  teacher: EvalModel | None

  def __call__(self, state, batch, dropout_rng):
    return self.compiled(state, batch, dropout_rng, self.teacher)

  def __getattr__(self, name):
    return getattr(self.compiled, name)


def compile_eval_step(mesh: Mesh, normalizations) -> Callable:
  """eval_step as one jitted, data-parallel program: (models, batch) -> sums, for models
  normalised with `normalizations` ((mean, std) per model, 0-255 scale)."""
  normalizations = tuple((tuple(mean), tuple(std)) for mean, std in normalizations)
  evaluate = functools.partial(eval_step, normalizations=normalizations)
  return jax.jit(jax.shard_map(evaluate, mesh=mesh, in_specs=(P(), P(BATCH_AXIS)),
                               out_specs=P()))


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


def evaluate(parallel_eval, models: tuple[EvalModel, ...], batches: Iterable[dict],
             mesh: Mesh) -> tuple[list[dict[str, float]], int]:
  """Exact top-1/top-5 accuracy and mean loss over `batches` (numpy, masked padding), for
  each of `models` and, with several, their ensemble last; and the number of examples.
  Batches with 'real_labels' add the ReaL accuracies (`real_accuracy`,
  `real_top5_accuracy`) over the `real_images` whose label set is not empty, and the
  number left out (`real_left_out`)."""
  totals = None
  one_program_at_a_time = runs_one_program_at_a_time()
  for batch in shard_batches(batches, mesh):
    sums = parallel_eval(models, batch)
    if one_program_at_a_time:
      jax.block_until_ready(sums)
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
  totals = jax.device_get(totals)
  count = max(float(totals['count']), 1.0)
  metrics = [{
      'eval_accuracy': float(correct) / count,
      'eval_top5_accuracy': float(correct_top5) / count,
      'eval_loss': float(loss) / count,
  } for correct, correct_top5, loss in zip(totals['correct'], totals['correct_top5'],
                                           totals['loss'])]
  if 'real_count' in totals:
    real_images = int(totals['real_count'])
    for entry, correct, correct_top5 in zip(metrics, totals['real_correct'],
                                            totals['real_correct_top5']):
      entry.update(real_accuracy=float(correct) / max(real_images, 1),
                   real_top5_accuracy=float(correct_top5) / max(real_images, 1),
                   real_images=real_images, real_left_out=int(totals['count']) - real_images)
  return metrics, int(totals['count'])
