"""Learning-rate schedules and the optimisers, built from the config's fields.

`lr_schedule`: cosine, step (× lr_step_factor at given epochs), exponential (Inception's "0.94
every 2 epochs"), constant, or plateau (÷ lr_plateau_factor when the validation
error has not improved for lr_plateau_patience evaluations: AlexNet §5, VGG §3.1,
ResNet §3.4). `optimizer`: SGD with momentum, RMSProp with TensorFlow's semantics
(Inception v3 §8, MobileNet v2 §6.1), AdamW, LAMB, or LARS (OPTIMIZERS). Gradient
clipping and an exponential moving average of the weights (`ema_decay`, applied in
steps.py) are the Inception recipe's other two parts.
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
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


def _polynomial(config, peak: float, steps_per_epoch: int, warmup_steps: int,
                decay_steps: int):
  """(peak - end)·(1 - t/T)^power + end over the T steps after warmup, end = lr_poly_end:
  the MLPerf ResNet-50 reference's schedule for LARS (power 2, end 1e-4; You et al.
  2017 decay with power 2 as well)."""
  del steps_per_epoch, warmup_steps
  return optax.polynomial_schedule(peak, config.lr_poly_end, config.lr_poly_power,
                                   transition_steps=decay_steps)


def _constant(config, peak: float, steps_per_epoch: int, warmup_steps: int, decay_steps: int):
  """The peak rate throughout; under 'plateau', until the validation error stalls."""
  del config, steps_per_epoch, warmup_steps, decay_steps
  return optax.constant_schedule(peak)


# config.lr_schedule -> the schedule after warmup; configs/default.py allows these names.
# 'plateau' is the constant rate scaled at each evaluation by create_plateau's state.
LR_SCHEDULES = {'cosine': _cosine, 'step': _step, 'exponential': _exponential,
                'polynomial': _polynomial, 'constant': _constant, 'plateau': _constant}


def create_learning_rate_schedule(config: ml_collections.ConfigDict,
                                  steps_per_epoch: int, total_steps: int) -> optax.Schedule:
  """Linear scaling, gradual warmup, then the recipe's schedule (Goyal et al. 2017).

  The peak rate is learning_rate × batch_size / lr_reference_batch (§2.1: the rate is
  stated for a batch of 256 and scaled linearly; a recipe that states an absolute rate at
  its own batch sets lr_reference_batch to that batch). Warmup rises linearly over
  warmup_epochs from learning_rate (§2.2), or from 0 with warmup_from_zero (He et al.
  2019 §3.1, timm, MLPerf), to that peak; then config.lr_schedule takes over
  (LR_SCHEDULES).
  """
  peak = config.learning_rate * config.batch_size / config.lr_reference_batch
  warmup_steps = min(int(config.warmup_epochs * steps_per_epoch), total_steps)
  after_warmup = max(total_steps - warmup_steps, 1)
  main = LR_SCHEDULES[config.lr_schedule](config, peak, steps_per_epoch, warmup_steps,
                                          after_warmup)
  if warmup_steps == 0:
    return main
  start = 0.0 if config.warmup_from_zero else min(config.learning_rate, peak)
  warmup = optax.linear_schedule(start, peak, warmup_steps)
  return optax.join_schedules([warmup, main], [warmup_steps])


def weight_decay_mask(params):
  """True for convolution and dense kernels, the only parameters that are decayed.

  Biases and BatchNorm scales and offsets are left alone, as in Goyal et al.
  2017 (§5.1, following the ResNet code of Gross & Wilber).
  """
  return jax.tree.map(lambda p: p.ndim > 1, params)


def _sgd(config: ml_collections.ConfigDict, learning_rate,
         decayed) -> optax.GradientTransformation:
  """SGD with momentum (optionally Nesterov): every recipe from AlexNet to ResNeXt."""
  del decayed  # the decay is in the gradient already (create_optimizer)
  return optax.sgd(learning_rate, momentum=config.momentum, nesterov=config.nesterov)


def _rmsprop(config: ml_collections.ConfigDict, learning_rate,
             decayed) -> optax.GradientTransformation:
  """RMSProp as TensorFlow's RMSPropOptimizer, which the Inception and MobileNet papers used:
  ε inside the square root, the mean square starting at 1 (not 0), and momentum applied
  after the learning rate. Inception v3 §8: decay 0.9, ε = 1.0."""
  del decayed
  return optax.rmsprop(learning_rate, decay=config.rmsprop_decay, eps=config.rmsprop_epsilon,
                       initial_scale=1.0, eps_in_sqrt=True, momentum=config.momentum or None)


def _adamw(config: ml_collections.ConfigDict, learning_rate,
           decayed) -> optax.GradientTransformation:
  """Adam with decoupled weight decay (Loshchilov & Hutter 2019, Algorithm 2), as
  torch.optim.AdamW: w ← w - lr·(m̂ / (√v̂ + ε) + λ·w), with bias-corrected moments of the
  raw gradient (β1 = adam_b1, β2 = adam_b2, ε = adam_epsilon outside the square root).
  The decay never enters the moments, and it is multiplied by the learning rate."""
  return optax.adamw(learning_rate, b1=config.adam_b1, b2=config.adam_b2,
                     eps=config.adam_epsilon, weight_decay=config.weight_decay, mask=decayed)


def _lamb(config: ml_collections.ConfigDict, learning_rate,
          decayed) -> optax.GradientTransformation:
  """LAMB (You et al. 2020, Algorithm 2), as timm's Lamb that "ResNet strikes back" (Wightman
  et al. 2021) trained ResNet-50 with: the Adam direction r = m̂ / (√v̂ + ε) plus λ·w, scaled
  per tensor by the trust ratio ‖w‖ / ‖r + λ·w‖ (1 where either norm is 0), times -lr.

  Biases and BatchNorm parameters get neither the decay nor the trust ratio (plain Adam
  steps), as timm's Lamb does for the parameters it excludes from decay; optax.lamb's mask
  covers only the decay, hence this chain of optax's parts. timm's Lamb also clips the
  gradient to a global norm of 1.0 by default (max_grad_norm); "ResNet strikes back"
  (Table 1) trains without clipping. Here clipping is grad_clip_norm's, applied to the raw
  gradient before the moments as timm does: set grad_clip_norm=1.0 to follow timm's
  default. timm's default ε is 1e-6 (adam_epsilon's is the Adam paper's 1e-8)."""
  return optax.chain(
      optax.scale_by_adam(b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_epsilon),
      optax.add_decayed_weights(config.weight_decay, mask=decayed),
      optax.masked(optax.scale_by_trust_ratio(), decayed),
      optax.scale_by_learning_rate(learning_rate))


def scale_by_lars_trust_ratio(weight_decay: float, trust_coefficient: float,
                              eps: float) -> optax.GradientTransformation:
  """g ← η·‖w‖ / (‖g‖ + λ·‖w‖ + ε) · (g + λ·w), the ratio 1 where ‖w‖ or ‖g‖ is 0: LARS's
  local rate (You et al. 2017, Algorithm 1) as the MLPerf ResNet-50 reference computes it.

  optax.lars divides by ‖g + λ·w‖ instead of ‖g‖ + λ·‖w‖ (and tests the norm of that sum
  for 0), which the paper, MLPerf and timm do not; hence this transformation."""

  def update(updates, state, params):
    if params is None:
      raise ValueError('LARS needs the parameters: tx.update(grads, state, params)')

    def scale(g, w):
      w_norm, g_norm = jnp.linalg.norm(w), jnp.linalg.norm(g)
      ratio = trust_coefficient * w_norm / (g_norm + weight_decay * w_norm + eps)
      ratio = jnp.where((w_norm > 0) & (g_norm > 0), ratio, 1.0)
      return (ratio * (g + weight_decay * w)).astype(g.dtype)

    return jax.tree.map(scale, updates, params), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def _lars(config: ml_collections.ConfigDict, learning_rate,
          decayed) -> optax.GradientTransformation:
  """LARS (You et al. 2017) as the MLPerf ResNet-50 reference's LARS optimizer: each kernel's
  gradient plus λ·w is scaled by its trust ratio (scale_by_lars_trust_ratio, η =
  lars_trust_coefficient, ε = lars_epsilon; MLPerf: 0.001 and 0), then by the learning rate,
  then momentum: v ← μ·v + lr·ratio·(g + λ·w), w ← w - v. Biases and BatchNorm parameters
  (MLPerf's skip list) get neither decay nor trust ratio: v ← μ·v + lr·g.

  timm's Lars computes the same ratio (with ε = 1e-8 by default) but applies the learning
  rate after momentum, as torch's SGD does (v ← μ·v + ratio·(g + λ·w), w ← w - lr·v): the
  two agree while the learning rate is constant and differ as it changes (warmup, decay),
  where MLPerf's momentum keeps the rates the past steps were taken with."""
  return optax.chain(
      optax.masked(scale_by_lars_trust_ratio(config.weight_decay, config.lars_trust_coefficient,
                                             config.lars_epsilon), decayed),
      optax.scale_by_learning_rate(learning_rate),
      optax.trace(decay=config.momentum))


@dataclasses.dataclass(frozen=True)
class Optimizer:
  """An update rule and where the weight decay enters it.

  `build(config, learning_rate, decayed)`: the transformation after clipping; `decayed`
  (params -> tree of bools) marks the parameters that are decayed, and for LAMB and LARS
  also trust-ratio adapted. `decay_in_gradient`: True, λ·w is added to the gradient before
  clipping and `build` (L2 regularisation in plain SGD form); False, `build` applies the
  decay itself, where its paper puts it (AdamW, LAMB: decoupled, times the learning rate;
  LARS: inside the trust ratio).
  """

  build: Callable[..., optax.GradientTransformation]
  decay_in_gradient: bool


# config.optimizer -> its update rule; configs/default.py allows these names.
OPTIMIZERS = {'sgd': Optimizer(_sgd, decay_in_gradient=True),
              'rmsprop': Optimizer(_rmsprop, decay_in_gradient=True),
              'adamw': Optimizer(_adamw, decay_in_gradient=False),
              'lamb': Optimizer(_lamb, decay_in_gradient=False),
              'lars': Optimizer(_lars, decay_in_gradient=False)}


def create_optimizer(config: ml_collections.ConfigDict, schedule: optax.Schedule,
                     trainable=None) -> optax.GradientTransformation:
  """Weight decay, optional gradient clipping, then config.optimizer (OPTIMIZERS).

  Under SGD and RMSProp, weight decay is applied as a separate gradient
  transformation rather than a term of the loss: λ·w is added to the gradient
  before momentum, the update of Krizhevsky et al. 2012 (§5) and the ResNet papers
  (L2 regularisation in plain SGD form). The loss and its logged value stay free
  of the decay term. Clipping (grad_clip_norm > 0) rescales that sum to the given
  global norm, as TensorFlow clipped the gradient of a loss that held the decay
  term. AdamW, LAMB and LARS apply the decay inside their update (Optimizer), so
  clipping sees the gradient alone, as in timm. Only convolution and dense kernels
  are decayed (weight_decay_mask).

  Under the plateau schedule the learning rate is a hyperparameter of the state
  (optax.inject_hyperparams) that the train step sets from the schedule and the
  plateau's scale.

  `trainable` (params -> tree of bools, config.trainable='head'): the other parameters'
  gradients are zeroed first, so neither decay nor momentum ever moves them.
  """
  optimizer = OPTIMIZERS[config.optimizer]

  def decayed(params):
    kernels = weight_decay_mask(params)
    if trainable is None:
      return kernels
    return jax.tree.map(lambda d, t: d and t, kernels, trainable(params))

  def build(learning_rate):
    parts = []
    if trainable is not None:
      frozen = lambda params: jax.tree.map(lambda t: not t, trainable(params))
      parts.append(optax.masked(optax.set_to_zero(), frozen))
    if optimizer.decay_in_gradient:
      parts.append(optax.add_decayed_weights(config.weight_decay, mask=decayed))
    if config.grad_clip_norm > 0:
      parts.append(optax.clip_by_global_norm(config.grad_clip_norm))
    parts.append(optimizer.build(config, learning_rate, decayed))
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
