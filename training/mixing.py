"""Mixup and CutMix on the device, inside the train step: images and targets of a batch
mixed with the batch reversed.

Mixup (Zhang et al. 2018) blends each image with another, x = λ x_i + (1 - λ) x_j, and
the targets alike; CutMix (Yun et al. 2019) pastes a box of x_j into x_i and mixes the
targets by the box's share of the image. Both follow timm's `Mixup` in batch mode, the
form the "ResNet strikes back" recipes train with:

  - one draw per batch: with probability `mix_prob` the batch is mixed, by CutMix with
    probability `switch_prob` when both alphas are set, else by the one that is set;
    λ ~ Beta(α, α) of the chosen method;
  - image i is mixed with image N-1-i (the batch reversed), so no permutation is drawn;
  - a CutMix box has sides √(1-λ) of the image's, centred on a uniformly drawn pixel and
    clipped at the borders; λ is then corrected to the area the clipped box leaves;
  - targets are the label-smoothed one-hot vectors, mixed with the same λ
    (`mixed_targets`).

The pairing spans the batch of one device (the share it already holds), as timm mixes
the batch of each process: mixing across devices would move images between them every
step for no statistical gain, and the result would depend on the number of devices only
through which images meet. Each device draws its own λ and box (its key is folded with
its index), as each of timm's processes draws its own. Nothing here leaves the device.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax


@dataclasses.dataclass(frozen=True)
class Mixing:
  """A recipe's mixing: alphas of 0 turn a method off."""

  mixup_alpha: float = 0.0
  cutmix_alpha: float = 0.0
  mix_prob: float = 1.0
  switch_prob: float = 0.5

  @property
  def active(self) -> bool:
    return (self.mixup_alpha > 0 or self.cutmix_alpha > 0) and self.mix_prob > 0


def draw(key, mixing: Mixing, height: int, width: int):
  """(λ, use_cutmix, box) for one batch; box = (top, bottom, left, right), rows and
  columns [top, bottom) × [left, right), empty unless CutMix is drawn. λ is 1 for a batch
  left as it is, and for CutMix already corrected to the box's area."""
  mix_key, switch_key, lam_key, centre_key = jax.random.split(key, 4)
  mixed = jax.random.uniform(mix_key) < mixing.mix_prob
  if mixing.mixup_alpha > 0 and mixing.cutmix_alpha > 0:
    use_cutmix = jax.random.uniform(switch_key) < mixing.switch_prob
  else:
    use_cutmix = jnp.asarray(mixing.cutmix_alpha > 0)
  # One Beta draw, of the chosen method's α (a method that is off never gets chosen).
  alpha = jnp.where(use_cutmix, mixing.cutmix_alpha, mixing.mixup_alpha)
  raw_lam = jax.random.beta(lam_key, jnp.maximum(alpha, 1e-6), jnp.maximum(alpha, 1e-6))
  use_cutmix = jnp.logical_and(mixed, use_cutmix)
  box = cutmix_box(centre_key, raw_lam, height, width)
  top, bottom, left, right = box
  box_lam = 1.0 - ((bottom - top) * (right - left)).astype(jnp.float32) / (height * width)
  lam = jnp.where(mixed, jnp.where(use_cutmix, box_lam, raw_lam), 1.0)
  box = jnp.where(use_cutmix, box, jnp.zeros_like(box))
  return lam.astype(jnp.float32), use_cutmix, box


def cutmix_box(key, lam, height: int, width: int):
  """timm's `rand_bbox`: sides int(side·√(1-λ)), centre uniform over the image, the box
  clipped to it (its half-sides rounded down)."""
  ratio = jnp.sqrt(1.0 - lam)
  cut_h = (height * ratio).astype(jnp.int32)
  cut_w = (width * ratio).astype(jnp.int32)
  y_key, x_key = jax.random.split(key)
  cy = jax.random.randint(y_key, (), 0, height)
  cx = jax.random.randint(x_key, (), 0, width)
  return jnp.stack([jnp.clip(cy - cut_h // 2, 0, height), jnp.clip(cy + cut_h // 2, 0, height),
                    jnp.clip(cx - cut_w // 2, 0, width), jnp.clip(cx + cut_w // 2, 0, width)])


def apply(images, lam, use_cutmix, box):
  """The batch (N, H, W, C), float, mixed with itself reversed, in one pass: CutMix pastes
  the box (and blends nothing), Mixup blends everywhere (its box is empty)."""
  rows = jnp.arange(images.shape[1])[:, None]
  columns = jnp.arange(images.shape[2])[None, :]
  inside = ((rows >= box[0]) & (rows < box[1]) & (columns >= box[2]) & (columns < box[3]))
  weight = jnp.where(use_cutmix, 1.0, lam)  # of the image itself, outside the box
  weight = jnp.where(inside, 0.0, weight)[None, :, :, None]
  return weight * images + (1.0 - weight) * images[::-1]


def smoothed_one_hot(labels, num_classes: int, label_smoothing: float = 0.0):
  """One-hot targets, label-smoothed: 1 - ε + ε/K for the label, ε/K elsewhere (Szegedy et
  al. 2016 §7, "Inception v3")."""
  return optax.smooth_labels(jax.nn.one_hot(labels, num_classes), label_smoothing)


def mixed_targets(labels, partner_labels, lam, num_classes: int, label_smoothing: float):
  """λ·t(label) + (1-λ)·t(partner's label), t the label-smoothed one-hot vector: timm's
  `mixup_target`."""
  return (lam * smoothed_one_hot(labels, num_classes, label_smoothing)
          + (1.0 - lam) * smoothed_one_hot(partner_labels, num_classes, label_smoothing))


def mix(key, mixing: Mixing, images):
  """Draws this batch's mixing and applies it to the images: returns them and λ (the
  partner of image i is image N-1-i)."""
  lam, use_cutmix, box = draw(key, mixing, images.shape[1], images.shape[2])
  return apply(images, lam, use_cutmix, box), lam
