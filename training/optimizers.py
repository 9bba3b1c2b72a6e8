"""Learning-rate schedules and the optimisers, built from the config's fields.

`lr_schedule`: cosine, step (× lr_step_factor at given epochs), exponential (Inception's "0.94
every 2 epochs"), constant, or plateau (÷ lr_plateau_factor when the validation
error has not improved for lr_plateau_patience evaluations: AlexNet §5, VGG §3.1,
ResNet §3.4). `optimizer`: SGD with momentum, or RMSProp with TensorFlow's
semantics (Inception v3 §8, MobileNet v2 §6.1). Gradient clipping and an
exponential moving average of the weights (`ema_decay`, applied in steps.py) are
the Inception recipe's other two parts.
"""

import jax
import ml_collections
import optax


def _cosine(config, peak: float, steps_per_epoch: int, warmup_steps: int, decay_steps: int):
  """Decays to 0 at the end (Loshchilov & Hutter 2017, without restarts)."""
  del config, steps_per_epoch, warmup_steps
  return optax.cosine_decay_schedule(peak, decay_steps=decay_steps)


def _step(config, peak: float, steps_per_epoch: int, warmup_steps: int, decay_steps: int):
  """× lr_step_factor (÷10 by default; Wide ResNet: ÷5) at each of lr_step_epochs (counted
  from the start of training)."""
  del decay_steps
  boundaries = {int(epoch * steps_per_epoch) - warmup_steps: config.lr_step_factor
                for epoch in config.lr_step_epochs
                if int(epoch * steps_per_epoch) > warmup_steps}
  return optax.piecewise_constant_schedule(peak, boundaries)


def _exponential(config, peak: float, steps_per_epoch: int, warmup_steps: int,
                 decay_steps: int):
  """× lr_decay_rate every lr_decay_epochs, in steps (staircase): Inception v3 §8 ("decayed
  every two epochs using an exponential rate of 0.94"), GoogLeNet §6 (4 % every 8 epochs)."""
  del warmup_steps, decay_steps
  return optax.exponential_decay(
      peak, transition_steps=max(1, int(config.lr_decay_epochs * steps_per_epoch)),
      decay_rate=config.lr_decay_rate, staircase=True)


def _constant(config, peak: float, steps_per_epoch: int, warmup_steps: int, decay_steps: int):
  """The peak rate throughout; under 'plateau', until the validation error stalls."""
  del config, steps_per_epoch, warmup_steps, decay_steps
  return optax.constant_schedule(peak)


# config.lr_schedule -> the schedule after warmup; configs/default.py allows these names.
# 'plateau' is the constant rate scaled at each evaluation by create_plateau's state.
LR_SCHEDULES = {'cosine': _cosine, 'step': _step, 'exponential': _exponential,
                'constant': _constant, 'plateau': _constant}


def create_learning_rate_schedule(config: ml_collections.ConfigDict,
                                  steps_per_epoch: int, total_steps: int) -> optax.Schedule:
  """Linear scaling, gradual warmup, then the recipe's schedule (Goyal et al. 2017).

  The peak rate is learning_rate × batch_size / 256 (§2.1). Warmup rises
  linearly from learning_rate to that peak over warmup_epochs (§2.2), then
  config.lr_schedule takes over (LR_SCHEDULES).
  """
  peak = config.learning_rate * config.batch_size / 256
  warmup_steps = min(int(config.warmup_epochs * steps_per_epoch), total_steps)
  after_warmup = max(total_steps - warmup_steps, 1)
  main = LR_SCHEDULES[config.lr_schedule](config, peak, steps_per_epoch, warmup_steps,
                                          after_warmup)
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


def _sgd(config: ml_collections.ConfigDict, learning_rate) -> optax.GradientTransformation:
  """SGD with momentum (optionally Nesterov): every recipe from AlexNet to ResNeXt."""
  return optax.sgd(learning_rate, momentum=config.momentum, nesterov=config.nesterov)


def _rmsprop(config: ml_collections.ConfigDict, learning_rate) -> optax.GradientTransformation:
  """RMSProp as TensorFlow's RMSPropOptimizer, which the Inception and MobileNet papers used:
  ε inside the square root, the mean square starting at 1 (not 0), and momentum applied
  after the learning rate. Inception v3 §8: decay 0.9, ε = 1.0."""
  return optax.rmsprop(learning_rate, decay=config.rmsprop_decay, eps=config.rmsprop_epsilon,
                       initial_scale=1.0, eps_in_sqrt=True, momentum=config.momentum or None)


# config.optimizer -> its update rule; configs/default.py allows these names.
OPTIMIZERS = {'sgd': _sgd, 'rmsprop': _rmsprop}


def create_optimizer(config: ml_collections.ConfigDict, schedule: optax.Schedule,
                     trainable=None) -> optax.GradientTransformation:
  """Weight decay, optional gradient clipping, then config.optimizer (OPTIMIZERS).

  Weight decay is applied as a separate gradient transformation rather than a
  term of the loss: λ·w is added to the gradient before momentum, the update
  of Krizhevsky et al. 2012 (§5) and the ResNet papers (L2 regularisation in
  plain SGD form). The loss and its logged value stay free of the decay term.
  Clipping (grad_clip_norm > 0) rescales that sum to the given global norm, as
  TensorFlow clipped the gradient of a loss that held the decay term.

  Under the plateau schedule the learning rate is a hyperparameter of the state
  (optax.inject_hyperparams) that the train step sets from the schedule and the
  plateau's scale.

  `trainable` (params -> tree of bools, config.trainable='head'): the other parameters'
  gradients are zeroed first, so neither decay nor momentum ever moves them.
  """

  def decay_mask(params):
    decayed = weight_decay_mask(params)
    if trainable is None:
      return decayed
    return jax.tree.map(lambda d, t: d and t, decayed, trainable(params))

  def build(learning_rate):
    parts = [optax.add_decayed_weights(config.weight_decay, mask=decay_mask)]
    if trainable is not None:
      frozen = lambda params: jax.tree.map(lambda t: not t, trainable(params))
      parts.insert(0, optax.masked(optax.set_to_zero(), frozen))
    if config.grad_clip_norm > 0:
      parts.append(optax.clip_by_global_norm(config.grad_clip_norm))
    parts.append(OPTIMIZERS[config.optimizer](config, learning_rate))
    return optax.chain(*parts)

  if config.lr_schedule == 'plateau':
    return optax.inject_hyperparams(build)(learning_rate=schedule(0))
  return build(schedule)


def create_plateau(config: ml_collections.ConfigDict):
  """The reduce-on-plateau transformation of the 'plateau' schedule, or None: its state
  (in the train state and its checkpoints) holds the scale of the learning rate, updated
  with the validation error (1 - top-1 accuracy) after each evaluation."""
  if config.lr_schedule != 'plateau':
    return None
  return optax.contrib.reduce_on_plateau(factor=1.0 / config.lr_plateau_factor,
                                         patience=config.lr_plateau_patience, rtol=1e-4)
