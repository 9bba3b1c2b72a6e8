"""Learning-rate schedules and the optimiser, built from the config's fields."""

import jax
import ml_collections
import optax


def _cosine(config, peak: float, steps_per_epoch: int, warmup_steps: int, decay_steps: int):
  """Decays to 0 at the end (Loshchilov & Hutter 2017, without restarts)."""
  del config, steps_per_epoch, warmup_steps
  return optax.cosine_decay_schedule(peak, decay_steps=decay_steps)


def _step(config, peak: float, steps_per_epoch: int, warmup_steps: int, decay_steps: int):
  """Divides by 10 at each of lr_step_epochs (counted from the start of training)."""
  del decay_steps
  boundaries = {int(epoch * steps_per_epoch) - warmup_steps: 0.1
                for epoch in config.lr_step_epochs
                if int(epoch * steps_per_epoch) > warmup_steps}
  return optax.piecewise_constant_schedule(peak, boundaries)


def _constant(config, peak: float, steps_per_epoch: int, warmup_steps: int, decay_steps: int):
  del config, steps_per_epoch, warmup_steps, decay_steps
  return optax.constant_schedule(peak)


# config.lr_schedule -> the schedule after warmup; configs/default.py allows these names.
LR_SCHEDULES = {'cosine': _cosine, 'step': _step, 'constant': _constant}


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
