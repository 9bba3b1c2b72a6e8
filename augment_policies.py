"""The automated augmentation policies, as TensorFlow ops on one uint8 image with PIL's
pixel arithmetic: RandAugment as timm defines it, AutoAugment's ImageNet policy and
TrivialAugment as torchvision defines them.

preprocessing.py registers them as the ops `rand_augment`, `auto_augment` and
`trivial_augment` (their docstrings there say what each draws); this module holds the
pixels. Both libraries apply their ops to PIL images, so every sub-op here does what PIL
does to an 8-bit image, including its rounding, so that a sub-op at a fixed magnitude gives
the pixels PIL gives (tests/test_augment_ops.py measures how close):

  * blends (ImageEnhance's Color, Contrast, Brightness, Sharpness) truncate
    `degenerate + factor·(image − degenerate)` to an integer, clipped to 0-255;
  * grey is PIL's 'L' conversion, (299 R + 587 G + 114 B) / 1000 in 16-bit fixed point;
  * Sharpness blends with ImageFilter.SMOOTH (3 × 3, weights 1 with 5 at the centre,
    over 13, rounded), which leaves the one-pixel border as it was;
  * AutoContrast and Equalize are ImageOps' per-channel look-up tables;
  * geometric ops are PIL's affine transform with bilinear interpolation: the source of an
    output pixel centre is found through the inverse matrix, pixels whose source falls
    outside the image get the fill colour, the others interpolate with the edge pixels
    repeated, and the value is truncated. The interpolation runs in float32 (PIL uses
    double), so a value that lands on an integer may come out one level lower or higher.

One-channel images are PIL's 'L' images: Color leaves them as they are, the other ops act
on the one channel.

Images travel between sub-ops as float32 holding integers 0-255, as PIL's uint8 images
would. Each policy takes and returns uint8.
"""

import math

import numpy as np
import tensorflow as tf

# RandAugment's magnitude scale: timm's `_LEVEL_DENOM`, the paper's 10.
MAX_LEVEL = 10.0

# --- PIL's image operations --------------------------------------------------------------


def _channels(image) -> int:
  channels = image.shape[-1]
  if channels is None:
    raise ValueError('augmentation ops need images of a known number of channels')
  return channels


def _blend(degenerate, image, factor):
  """PIL's Image.blend(degenerate, image, factor), the core of ImageEnhance:
  degenerate + factor·(image − degenerate) in float32 (PIL's arithmetic, the factor rounded
  to float), truncated and clipped to 0-255."""
  factor = tf.cast(tf.cast(factor, tf.float64), tf.float32)
  value = degenerate + factor * (image - degenerate)
  return tf.clip_by_value(tf.floor(value), 0.0, 255.0)


def _grey(image):
  """PIL's convert('L') of an RGB image: ITU-R 601 luma in 16-bit fixed point, rounded."""
  rgb = tf.cast(image, tf.int32)
  weighted = rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 32768
  return tf.cast(tf.bitwise.right_shift(weighted, 16), tf.float32)[..., None]


def color(image, factor):
  """ImageEnhance.Color: blend with the image's grey (an 'L' image is its own grey)."""
  if _channels(image) == 1:
    return image
  return _blend(tf.broadcast_to(_grey(image), tf.shape(image)), image, factor)


def contrast(image, factor):
  """ImageEnhance.Contrast: blend with a flat image of the grey's mean, rounded."""
  grey = image if _channels(image) == 1 else _grey(image)
  mean = tf.floor(tf.reduce_mean(tf.cast(grey, tf.float64)) + 0.5)
  return _blend(tf.fill(tf.shape(image), tf.cast(mean, tf.float32)), image, factor)


def brightness(image, factor):
  """ImageEnhance.Brightness: blend with black."""
  return _blend(tf.zeros_like(image), image, factor)


def _smooth(image):
  """ImageFilter.SMOOTH: the 3 × 3 kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13, rounded,
  inside the image; PIL copies the one-pixel border (and images under 3 × 3) unfiltered."""
  channels = _channels(image)
  kernel = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]])
  kernel = tf.tile(kernel[:, :, None, None], [1, 1, channels, 1])
  padded = tf.pad(image, [[1, 1], [1, 1], [0, 0]], mode='SYMMETRIC')
  # Sums of integers times integer weights are exact in float32.
  total = tf.nn.depthwise_conv2d(padded[None], kernel, [1, 1, 1, 1], 'VALID')[0]
  smoothed = tf.floor(total / 13.0 + 0.5)
  shape = tf.shape(image)
  rows, columns = tf.range(shape[0]), tf.range(shape[1])
  inner_rows = tf.logical_and(rows > 0, rows < shape[0] - 1)
  inner_columns = tf.logical_and(columns > 0, columns < shape[1] - 1)
  inner = tf.logical_and(inner_rows[:, None], inner_columns[None, :])
  return tf.where(inner[..., None], smoothed, image)


def sharpness(image, factor):
  """ImageEnhance.Sharpness: blend with the SMOOTH-filtered image."""
  return _blend(_smooth(image), image, factor)


def auto_contrast(image):
  """ImageOps.autocontrast: each channel stretched linearly so that its darkest value
  becomes 0 and its lightest 255 (channels of one value stay as they are)."""
  low = tf.cast(tf.reduce_min(image, axis=[0, 1]), tf.float64)
  high = tf.cast(tf.reduce_max(image, axis=[0, 1]), tf.float64)
  scale = 255.0 / tf.maximum(high - low, 1.0)
  offset = -low * scale
  stretched = tf.clip_by_value(tf.floor(tf.cast(image, tf.float64) * scale + offset), 0.0, 255.0)
  return tf.where(high > low, tf.cast(stretched, tf.float32), image)


def equalize(image):
  """ImageOps.equalize: per channel, value i becomes (step // 2 + the count of values below
  i) // step, with step = (pixels - count of the highest value present) // 255; a channel
  of one value, or of step 0, stays as it is."""
  channels = _channels(image)
  index = tf.cast(image, tf.int32) + 256 * tf.range(channels)
  flat = tf.reshape(index, [-1])
  histogram = tf.reshape(tf.math.bincount(flat, minlength=256 * channels,
                                          maxlength=256 * channels), [channels, 256])
  present = histogram > 0
  highest = 255 - tf.argmax(tf.cast(present[:, ::-1], tf.int32), axis=1, output_type=tf.int32)
  highest_count = tf.gather(histogram, highest, batch_dims=1)
  step = (tf.reduce_sum(histogram, axis=1) - highest_count) // 255
  below = tf.cumsum(histogram, axis=1, exclusive=True)
  table = tf.minimum((step[:, None] // 2 + below) // tf.maximum(step[:, None], 1), 255)
  unchanged = tf.logical_or(tf.reduce_sum(tf.cast(present, tf.int32), axis=1) <= 1, step == 0)
  table = tf.where(unchanged[:, None], tf.range(256)[None, :], table)
  return tf.cast(tf.gather(tf.reshape(table, [-1]), index), tf.float32)


def invert(image):
  """ImageOps.invert."""
  return 255.0 - image


def posterize(image, bits):
  """ImageOps.posterize: keep the `bits` highest bits of each value (0 bits: black, as
  Pillow before version 10 allowed; later Pillow refuses 0)."""
  step = tf.pow(2.0, 8.0 - tf.cast(bits, tf.float32))
  return tf.floor(image / step) * step


def solarize(image, threshold):
  """ImageOps.solarize: values at or above `threshold` inverted."""
  return tf.where(image < tf.cast(threshold, tf.float32), image, 255.0 - image)


def solarize_add(image, addition, threshold=128):
  """timm's solarize_add: `addition` added (up to 255) to values below `threshold`."""
  added = tf.minimum(image + tf.cast(addition, tf.float32), 255.0)
  return tf.where(image < tf.cast(threshold, tf.float32), added, image)


def affine(image, matrix, fill):
  """PIL's Image.transform(size, AFFINE, matrix, BILINEAR, fillcolor=fill).

  `matrix` (a, b, c, d, e, f) maps an output point (x, y) to the input point
  (a x + b y + c, d x + e y + f), in PIL's coordinates where pixel (i, j) covers
  [i, i + 1) × [j, j + 1). `fill`: one value per channel.
  """
  a, b, c, d, e, f = [tf.cast(value, tf.float32) for value in matrix]
  shape = tf.shape(image)
  height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
  # TensorFlow's coordinates are pixel indices: centres at integers, not at i + 0.5.
  transform = tf.stack([a, b, 0.5 * (a + b) + c - 0.5, d, e, 0.5 * (d + e) + f - 0.5, 0.0, 0.0])
  # Bilinear with the source point clamped to the image repeats the edge pixels, as PIL's
  # interpolation does for points within half a pixel of the border.
  moved = tf.raw_ops.ImageProjectiveTransformV3(
      images=image[None], transforms=transform[None], output_shape=shape[:2],
      fill_value=tf.constant(0.0), interpolation='BILINEAR', fill_mode='NEAREST')[0]
  x = tf.range(width) + 0.5
  y = tf.range(height) + 0.5
  source_x = a * x[None, :] + b * y[:, None] + c
  source_y = d * x[None, :] + e * y[:, None] + f
  inside = tf.logical_and(
      tf.logical_and(source_x >= 0.0, source_x < width),
      tf.logical_and(source_y >= 0.0, source_y < height))
  moved = tf.clip_by_value(tf.floor(moved), 0.0, 255.0)
  return tf.where(inside[..., None], moved, tf.cast(fill, tf.float32))


def rotate(image, degrees, fill):
  """PIL's Image.rotate(degrees, BILINEAR, fillcolor=fill): counter-clockwise about the
  image centre, same size; the matrix rounded to 15 decimals as PIL does, so that right
  angles map pixels exactly onto pixels."""
  shape = tf.cast(tf.shape(image), tf.float64)
  centre_x, centre_y = shape[1] / 2.0, shape[0] / 2.0
  angle = -tf.cast(degrees, tf.float64) * (math.pi / 180.0)
  cos = tf.round(tf.cos(angle) * 1e15) / 1e15
  sin = tf.round(tf.sin(angle) * 1e15) / 1e15
  c = cos * -centre_x + sin * -centre_y + centre_x
  f = -sin * -centre_x + cos * -centre_y + centre_y
  return affine(image, (cos, sin, c, -sin, cos, f), fill)


def shear_x(image, factor, fill):
  """Output (x, y) from input (x + factor·y, y): timm's shear_x, torchvision's ShearX."""
  return affine(image, (1.0, factor, 0.0, 0.0, 1.0, 0.0), fill)


def shear_y(image, factor, fill):
  """Output (x, y) from input (x, factor·x + y)."""
  return affine(image, (1.0, 0.0, 0.0, factor, 1.0, 0.0), fill)


def translate(image, dx, dy, fill):
  """Output (x, y) from input (x + dx, y + dy): the content moves by (-dx, -dy)."""
  return affine(image, (1.0, 0.0, dx, 0.0, 1.0, dy), fill)


# --- RandAugment, as timm defines it ---------------------------------------------------------


def _negated(value, negate):
  return tf.where(negate, -value, value)


def _enhance_increasing(level, negate):
  """timm's `_enhance_increasing_level_to_arg`: 1 ± 0.9·level/10, at least 0.1."""
  return tf.maximum(1.0 + _negated(level / MAX_LEVEL * 0.9, negate), 0.1)


def _width(image):
  return tf.cast(tf.shape(image)[1], tf.float64)


def _height(image):
  return tf.cast(tf.shape(image)[0], tf.float64)


# The ops of timm's `rand-...-inc1` (`_RAND_INCREASING_TRANSFORMS`), in timm's order, each
# as f(image, magnitude, negate, fill): magnitude on the 0-10 scale (float64), `negate`
# where timm's `_randomly_negate` flips the sign, fill one value per channel. Each maps the
# magnitude to its argument as timm's LEVEL_TO_ARG does.
RAND_AUGMENT_OPS = {
    'AutoContrast': lambda image, level, negate, fill: auto_contrast(image),
    'Equalize': lambda image, level, negate, fill: equalize(image),
    'Invert': lambda image, level, negate, fill: invert(image),
    'Rotate': lambda image, level, negate, fill: rotate(
        image, _negated(level / MAX_LEVEL * 30.0, negate), fill),
    'PosterizeIncreasing': lambda image, level, negate, fill: posterize(
        image, 4.0 - tf.floor(level / MAX_LEVEL * 4.0)),
    'SolarizeIncreasing': lambda image, level, negate, fill: solarize(
        image, 256.0 - tf.minimum(tf.floor(level / MAX_LEVEL * 256.0), 256.0)),
    'SolarizeAdd': lambda image, level, negate, fill: solarize_add(
        image, tf.minimum(tf.floor(level / MAX_LEVEL * 110.0), 128.0)),
    'ColorIncreasing': lambda image, level, negate, fill: color(
        image, _enhance_increasing(level, negate)),
    'ContrastIncreasing': lambda image, level, negate, fill: contrast(
        image, _enhance_increasing(level, negate)),
    'BrightnessIncreasing': lambda image, level, negate, fill: brightness(
        image, _enhance_increasing(level, negate)),
    'SharpnessIncreasing': lambda image, level, negate, fill: sharpness(
        image, _enhance_increasing(level, negate)),
    'ShearX': lambda image, level, negate, fill: shear_x(
        image, _negated(level / MAX_LEVEL * 0.3, negate), fill),
    'ShearY': lambda image, level, negate, fill: shear_y(
        image, _negated(level / MAX_LEVEL * 0.3, negate), fill),
    # timm's hparams for ImageNet leave translate_pct at 0.45 of the side.
    'TranslateXRel': lambda image, level, negate, fill: translate(
        image, _negated(level / MAX_LEVEL * 0.45, negate) * _width(image), 0.0, fill),
    'TranslateYRel': lambda image, level, negate, fill: translate(
        image, 0.0, _negated(level / MAX_LEVEL * 0.45, negate) * _height(image), fill),
}


def _seeds(seed, count: int):
  return tf.unstack(tf.random.experimental.stateless_split(seed, count))


def rand_augment(image, seed, num_ops: int, magnitude: float, magnitude_std: float,
                 probability: float, fill):
  """`num_ops` ops drawn uniformly with replacement from RAND_AUGMENT_OPS, each applied
  with `probability` at magnitude + magnitude_std·N(0, 1) clipped to [0, 10] and a random
  sign; `fill` per channel. uint8 in, uint8 out."""
  pixels = tf.cast(image, tf.float32)
  names = list(RAND_AUGMENT_OPS)
  fill = tf.constant(fill, tf.float32)
  for layer_seed in _seeds(seed, num_ops) if num_ops else []:
    choice_seed, apply_seed, noise_seed, sign_seed = _seeds(layer_seed, 4)
    choice = tf.random.stateless_uniform([], choice_seed, maxval=len(names), dtype=tf.int32)
    applied = tf.random.stateless_uniform([], apply_seed) < probability
    level = tf.constant(magnitude, tf.float64)
    if magnitude_std > 0:
      noise = tf.random.stateless_normal([], noise_seed, dtype=tf.float64)
      level = tf.clip_by_value(level + magnitude_std * noise, 0.0, MAX_LEVEL)
    negate = tf.random.stateless_uniform([], sign_seed) < 0.5
    branches = [lambda op=RAND_AUGMENT_OPS[name], x=pixels: op(x, level, negate, fill)
                for name in names]
    branches.append(lambda x=pixels: x)  # the op is not applied
    pixels = tf.switch_case(tf.where(applied, choice, len(names)), branches)
  return tf.cast(pixels, tf.uint8)


# --- AutoAugment and TrivialAugment, as torchvision defines them -----------------------------


def _translate_pixels(magnitude):
  """torchvision translates by int(magnitude) pixels (truncated towards zero)."""
  return tf.sign(magnitude) * tf.floor(tf.abs(magnitude))


# torchvision's `_apply_op` ops, each as f(image, magnitude, fill) with the signed magnitude
# torchvision passes it (a factor's offset from 1, degrees, pixels, bits or a threshold).
TORCHVISION_OPS = {
    'Identity': lambda image, magnitude, fill: image,
    'ShearX': lambda image, magnitude, fill: shear_x(image, magnitude, fill),
    'ShearY': lambda image, magnitude, fill: shear_y(image, magnitude, fill),
    'TranslateX': lambda image, magnitude, fill: translate(
        image, -_translate_pixels(magnitude), 0.0, fill),
    'TranslateY': lambda image, magnitude, fill: translate(
        image, 0.0, -_translate_pixels(magnitude), fill),
    'Rotate': lambda image, magnitude, fill: rotate(image, magnitude, fill),
    'Brightness': lambda image, magnitude, fill: brightness(image, 1.0 + magnitude),
    'Color': lambda image, magnitude, fill: color(image, 1.0 + magnitude),
    'Contrast': lambda image, magnitude, fill: contrast(image, 1.0 + magnitude),
    'Sharpness': lambda image, magnitude, fill: sharpness(image, 1.0 + magnitude),
    'Posterize': lambda image, magnitude, fill: posterize(image, tf.floor(magnitude)),
    'Solarize': lambda image, magnitude, fill: solarize(image, magnitude),
    'AutoContrast': lambda image, magnitude, fill: auto_contrast(image),
    'Equalize': lambda image, magnitude, fill: equalize(image),
    'Invert': lambda image, magnitude, fill: invert(image),
}


def torch_linspace(start: float, end: float, steps: int) -> np.ndarray:
  """torch.linspace in float32 as torch computes it: a float32 step, then start + step·i for
  the first half and end − step·(steps − 1 − i) for the rest, each rounded once to float32.
  These are torchvision's magnitude bins, whose exact values decide its int() truncations
  (bin 15 of TrivialAugment's translation is 15.999999 pixels: 15)."""
  step = np.float32((np.float32(end) - np.float32(start)) / np.float32(steps - 1))
  index = np.arange(steps, dtype=np.float64)
  from_start = np.float64(np.float32(start)) + np.float64(step) * index
  from_end = np.float64(np.float32(end)) - np.float64(step) * (steps - 1 - index)
  return np.where(index < steps // 2, from_start, from_end).astype(np.float32)


def _posterize_bins(bins: int, span: int) -> np.ndarray:
  """torchvision's posterize bits: 8 − round(i / ((bins − 1) / span)), rounding half to even."""
  return 8 - np.round(np.arange(bins, dtype=np.float32) / np.float32((bins - 1) / span))


def torchvision_magnitudes(bins: int) -> dict[str, tuple[np.ndarray, bool]]:
  """Each op's magnitude bins and whether its sign is drawn: torchvision's
  `_augmentation_space` of AutoAugment (10 bins) and TrivialAugmentWide (31 bins).
  AutoAugment's translations, which depend on the image size, are left out: the ImageNet
  policy has none."""
  if bins == 10:
    enhance, shear, rotation, posterize_span = 0.9, 0.3, 30.0, 4
  else:
    enhance, shear, rotation, posterize_span = 0.99, 0.99, 135.0, 6
  ops = {
      'Identity': (np.zeros(1, np.float32), False),
      'ShearX': (torch_linspace(0.0, shear, bins), True),
      'ShearY': (torch_linspace(0.0, shear, bins), True),
      'Rotate': (torch_linspace(0.0, rotation, bins), True),
      'Brightness': (torch_linspace(0.0, enhance, bins), True),
      'Color': (torch_linspace(0.0, enhance, bins), True),
      'Contrast': (torch_linspace(0.0, enhance, bins), True),
      'Sharpness': (torch_linspace(0.0, enhance, bins), True),
      'Posterize': (_posterize_bins(bins, posterize_span), False),
      'Solarize': (torch_linspace(255.0, 0.0, bins), False),
      'AutoContrast': (np.zeros(1, np.float32), False),
      'Equalize': (np.zeros(1, np.float32), False),
      'Invert': (np.zeros(1, np.float32), False),
  }
  if bins != 10:
    ops['TranslateX'] = ops['TranslateY'] = (torch_linspace(0.0, 32.0, bins), True)
  return ops


# torchvision's ops of TrivialAugmentWide, in its order (one drawn uniformly per image).
TRIVIAL_AUGMENT_OPS = ('Identity', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'Rotate',
                       'Brightness', 'Color', 'Contrast', 'Sharpness', 'Posterize', 'Solarize',
                       'AutoContrast', 'Equalize')
TRIVIAL_AUGMENT_BINS = 31

# Cubuk et al. 2019's ImageNet policy (their Table 9), as torchvision's
# AutoAugmentPolicy.IMAGENET writes it: 25 sub-policies of two (op, probability, magnitude
# bin of 10); None for ops without a magnitude.
AUTO_AUGMENT_POLICIES = {
    'imagenet': (
        (('Posterize', 0.4, 8), ('Rotate', 0.6, 9)),
        (('Solarize', 0.6, 5), ('AutoContrast', 0.6, None)),
        (('Equalize', 0.8, None), ('Equalize', 0.6, None)),
        (('Posterize', 0.6, 7), ('Posterize', 0.6, 6)),
        (('Equalize', 0.4, None), ('Solarize', 0.2, 4)),
        (('Equalize', 0.4, None), ('Rotate', 0.8, 8)),
        (('Solarize', 0.6, 3), ('Equalize', 0.6, None)),
        (('Posterize', 0.8, 5), ('Equalize', 1.0, None)),
        (('Rotate', 0.2, 3), ('Solarize', 0.6, 8)),
        (('Equalize', 0.6, None), ('Posterize', 0.4, 6)),
        (('Rotate', 0.8, 8), ('Color', 0.4, 0)),
        (('Rotate', 0.4, 9), ('Equalize', 0.6, None)),
        (('Equalize', 0.0, None), ('Equalize', 0.8, None)),
        (('Invert', 0.6, None), ('Equalize', 1.0, None)),
        (('Color', 0.6, 4), ('Contrast', 1.0, 8)),
        (('Rotate', 0.8, 8), ('Color', 1.0, 2)),
        (('Color', 0.8, 8), ('Solarize', 0.8, 7)),
        (('Sharpness', 0.4, 7), ('Invert', 0.6, None)),
        (('ShearX', 0.6, 5), ('Equalize', 1.0, None)),
        (('Color', 0.4, 0), ('Equalize', 0.6, None)),
        (('Equalize', 0.4, None), ('Solarize', 0.2, 4)),
        (('Solarize', 0.6, 5), ('AutoContrast', 0.6, None)),
        (('Invert', 0.6, None), ('Equalize', 1.0, None)),
        (('Color', 0.6, 4), ('Contrast', 1.0, 8)),
        (('Equalize', 0.8, None), ('Equalize', 0.6, None)),
    ),
}


def _torchvision_branches(names, pixels, magnitude, fill):
  """switch_case branches applying TORCHVISION_OPS[name] for each of `names`, and a last
  one that leaves the image."""
  branches = [lambda op=TORCHVISION_OPS[name]: op(pixels, magnitude, fill) for name in names]
  return branches + [lambda: pixels]


def auto_augment(image, seed, policy: str, fill):
  """One of the policy's sub-policies drawn uniformly; each of its two ops applied with its
  probability at its magnitude bin, with a random sign where torchvision draws one.
  uint8 in, uint8 out."""
  subpolicies = AUTO_AUGMENT_POLICIES[policy]
  magnitudes = torchvision_magnitudes(10)
  names = sorted({name for subpolicy in subpolicies for name, _, _ in subpolicy})
  op_index = [[names.index(name) for name, _, _ in subpolicy] for subpolicy in subpolicies]
  probabilities = [[p for _, p, _ in subpolicy] for subpolicy in subpolicies]
  values = [[0.0 if level is None else float(magnitudes[name][0][level])
             for name, _, level in subpolicy] for subpolicy in subpolicies]
  signed = [[magnitudes[name][1] for name, _, _ in subpolicy] for subpolicy in subpolicies]
  choice_seed, apply_seed, sign_seed = _seeds(seed, 3)
  chosen = tf.random.stateless_uniform([], choice_seed, maxval=len(subpolicies), dtype=tf.int32)
  draws = tf.random.stateless_uniform([2], apply_seed)
  negate = tf.random.stateless_uniform([2], sign_seed) < 0.5
  pixels = tf.cast(image, tf.float32)
  fill = tf.constant(fill, tf.float32)
  for slot in range(2):
    applied = draws[slot] <= tf.gather(tf.constant(probabilities, tf.float32)[:, slot], chosen)
    magnitude = tf.gather(tf.constant(values, tf.float64)[:, slot], chosen)
    flip = tf.logical_and(tf.gather(tf.constant(signed)[:, slot], chosen), negate[slot])
    magnitude = tf.where(flip, -magnitude, magnitude)
    index = tf.where(applied, tf.gather(tf.constant(op_index)[:, slot], chosen), len(names))
    pixels = tf.switch_case(index, _torchvision_branches(names, pixels, magnitude, fill))
  return tf.cast(pixels, tf.uint8)


def trivial_augment(image, seed, fill):
  """One op of TRIVIAL_AUGMENT_OPS drawn uniformly, at a uniformly drawn magnitude bin of
  31, with a random sign where torchvision draws one. uint8 in, uint8 out."""
  magnitudes = torchvision_magnitudes(TRIVIAL_AUGMENT_BINS)
  table = np.stack([np.broadcast_to(magnitudes[name][0], [TRIVIAL_AUGMENT_BINS])
                    for name in TRIVIAL_AUGMENT_OPS]).astype(np.float64)
  signed = [magnitudes[name][1] for name in TRIVIAL_AUGMENT_OPS]
  op_seed, bin_seed, sign_seed = _seeds(seed, 3)
  chosen = tf.random.stateless_uniform([], op_seed, maxval=len(TRIVIAL_AUGMENT_OPS),
                                       dtype=tf.int32)
  level = tf.random.stateless_uniform([], bin_seed, maxval=TRIVIAL_AUGMENT_BINS, dtype=tf.int32)
  magnitude = tf.gather_nd(tf.constant(table), tf.stack([chosen, level]))
  flip = tf.logical_and(tf.gather(tf.constant(signed), chosen),
                        tf.random.stateless_uniform([], sign_seed) < 0.5)
  magnitude = tf.where(flip, -magnitude, magnitude)
  pixels = tf.cast(image, tf.float32)
  branches = _torchvision_branches(TRIVIAL_AUGMENT_OPS, pixels, magnitude,
                                   tf.constant(fill, tf.float32))
  return tf.cast(tf.switch_case(chosen, branches[:-1]), tf.uint8)
