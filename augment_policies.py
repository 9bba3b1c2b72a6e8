"""The automated augmentation policies, as TensorFlow ops on one uint8 image with PIL's
pixel arithmetic: RandAugment as timm defines it, AutoAugment's ImageNet policy and
TrivialAugment as torchvision defines them.

preprocessing.py registers them as the ops `rand_augment`, `auto_augment` and
`trivial_augment` (their docstrings there say what each draws); this module holds the
pixels. Both libraries apply their ops to PIL images, so every sub-op here does what PIL
does to an 8-bit image, including its rounding, so that a sub-op at a fixed magnitude gives
the pixels PIL gives (tests/test_augment_ops.py measures how close):

  * blends (ImageEnhance's Color, Contrast, Brightness, Sharpness) truncate
    `degenerate + factor·(image − degenerate)`, in float32 as PIL computes it, to an
    integer clipped to 0-255; ImageOps' Invert, Solarize and Posterize and timm's
    SolarizeAdd are the same arithmetic with other constants;
  * grey is PIL's 'L' conversion, (299 R + 587 G + 114 B) / 1000 in 16-bit fixed point;
  * Sharpness blends with ImageFilter.SMOOTH (3 × 3, weights 1 with 5 at the centre,
    over 13, rounded), which leaves the one-pixel border as it was;
  * AutoContrast and Equalize are ImageOps' per-channel tables, from the histogram;
  * geometric ops are PIL's affine transform with bilinear interpolation: the source of an
    output pixel centre is found through the inverse matrix, pixels whose source falls
    outside the image get the fill colour, the others interpolate with the edge pixels
    repeated, and the value is truncated. The interpolation runs in float32 (PIL uses
    double), so a value that lands on an integer may come out one level lower or higher.

One-channel images are PIL's 'L' images: Color leaves them as they are, the other ops act
on the one channel.

For speed in tf.data, a sub-op is described by a vector of parameters (`_operation`): a
kind of pixel work (a blend, a histogram table, an affine transform, ...) and its
constants. A policy computes the few scalars of every candidate op, picks one vector, and
runs the one kind it names: TensorFlow executes a branch not taken node by node, so few
branches of few nodes keep the cost of a draw low. Images travel between sub-ops as float32
holding integers 0-255, as PIL's uint8 images would; each policy takes and returns uint8.
The policies need no AutoGraph conversion (their control flow is explicit), which only
slowed their tracing several-fold.
"""

import math

import numpy as np
import tensorflow as tf

# RandAugment's magnitude scale: timm's `_LEVEL_DENOM`, the paper's 10.
MAX_LEVEL = 10.0

# --- PIL's pixel arithmetic ------------------------------------------------------------------


def _channels(image) -> int:
  channels = image.shape[-1]
  if channels is None:
    raise ValueError('augmentation ops need images of a known number of channels')
  return channels


def _blend(image, degenerate, factor, shift=0.0, quantum=1.0, low=0.0, high=256.0):
  """PIL's Image.blend(degenerate, image, factor), the core of ImageEnhance:
  degenerate + factor·(image − degenerate) in float32 (PIL's arithmetic, the factor rounded
  to float), truncated and clipped to 0-255.

  The same arithmetic makes ImageOps' point operations: plus `shift`, rounded down to a
  multiple of `quantum`, and only for values in [low, high) (the others stay).
  """
  factor, degenerate, shift, quantum, low, high = [
      tf.cast(value, tf.float32) for value in (factor, degenerate, shift, quantum, low, high)]
  value = degenerate + factor * (image - degenerate) + shift
  value = tf.clip_by_value(tf.floor(value / quantum) * quantum, 0.0, 255.0)
  # tf.where costs several times more per pixel than this exact arithmetic.
  applies = tf.logical_and(image >= low, image < high)
  return image + (value - image) * tf.cast(applies, tf.float32)


def _grey(image, channels: int):
  """PIL's convert('L') of an RGB image, (19595 R + 38470 G + 7471 B + 32768) >> 16 (ITU-R
  601 luma in 16-bit fixed point), written into `channels` channels. As a product with a
  weight matrix: its sums are integers under 2²⁴, exact in float32."""
  weights = tf.tile(tf.constant([[19595.0], [38470.0], [7471.0]]), [1, channels])
  total = tf.matmul(tf.reshape(image, [-1, 3]), weights) + 32768.0
  shape = tf.shape(image)
  return tf.reshape(tf.floor(total / 65536.0), [shape[0], shape[1], channels])


def color(image, factor):
  """ImageEnhance.Color: blend with the image's grey (an 'L' image is its own grey)."""
  if _channels(image) == 1:
    return image
  return _blend(image, _grey(image, 3), factor)


def contrast(image, factor):
  """ImageEnhance.Contrast: blend with a flat image of the grey's mean, rounded."""
  grey = image if _channels(image) == 1 else _grey(image, 1)
  mean = tf.floor(tf.reduce_mean(tf.cast(grey, tf.float64)) + 0.5)
  return _blend(image, mean, factor)


def _smooth(image):
  """ImageFilter.SMOOTH: the 3 × 3 kernel [[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13, rounded,
  inside the image; PIL copies the one-pixel border (and images under 3 × 3) unfiltered."""
  channels = _channels(image)
  kernel = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]])
  kernel = tf.tile(kernel[:, :, None, None], [1, 1, channels, 1])
  padded = tf.pad(image, [[1, 1], [1, 1], [0, 0]], mode='SYMMETRIC')
  # Sums of integers times integer weights are exact in float32.
  total = tf.nn.depthwise_conv2d(padded[None], kernel, [1, 1, 1, 1], 'VALID')[0]
  change = (tf.floor(total / 13.0 + 0.5) - image)[1:-1, 1:-1]
  # The change inside, padded back with zeros for the border.
  shape, inner = tf.shape(image), tf.shape(change)
  return image + tf.pad(change, [[1, shape[0] - 1 - inner[0]], [1, shape[1] - 1 - inner[1]],
                                 [0, 0]])


def sharpness(image, factor):
  """ImageEnhance.Sharpness: blend with the SMOOTH-filtered image."""
  return _blend(image, _smooth(image), factor)


def _histogram(image):
  """Each channel's count of each value, [channels, 256], and the pixels as indices into its
  flattened form (value + 256 × channel)."""
  channels = _channels(image)
  index = tf.cast(image, tf.int32) + 256 * tf.range(channels)
  counts = tf.math.bincount(tf.reshape(index, [-1]), minlength=256 * channels,
                            maxlength=256 * channels)
  return tf.reshape(counts, [channels, 256]), index


def auto_contrast(image):
  """ImageOps.autocontrast: each channel stretched linearly so that its darkest value
  becomes 0 and its lightest 255, int(value × scale + offset) in double (channels of one
  value stay as they are)."""
  counts, _ = _histogram(image)
  present = tf.cast(counts > 0, tf.int32)
  low = tf.cast(tf.argmax(present, axis=1), tf.float64)
  high = tf.cast(255 - tf.argmax(present[:, ::-1], axis=1), tf.float64)
  spread = high > low
  scale = tf.where(spread, 255.0 / tf.maximum(high - low, 1.0), tf.ones_like(high))
  offset = tf.where(spread, -low * scale, tf.zeros_like(low))
  stretched = tf.floor(tf.cast(image, tf.float64) * scale + offset)
  return tf.cast(tf.clip_by_value(stretched, 0.0, 255.0), tf.float32)


def equalize(image):
  """ImageOps.equalize: per channel, value i becomes (step // 2 + the count of values below
  i) // step, with step = (pixels - count of the highest value present) // 255; a channel
  of one value, or of step 0, stays as it is."""
  histogram, index = _histogram(image)
  present = histogram > 0
  highest = 255 - tf.argmax(tf.cast(present[:, ::-1], tf.int32), axis=1, output_type=tf.int32)
  highest_count = tf.gather(histogram, highest, batch_dims=1)
  step = (tf.reduce_sum(histogram, axis=1) - highest_count) // 255
  below = tf.cumsum(histogram, axis=1, exclusive=True)
  table = tf.minimum((step[:, None] // 2 + below) // tf.maximum(step[:, None], 1), 255)
  unchanged = tf.logical_or(tf.reduce_sum(tf.cast(present, tf.int32), axis=1) <= 1, step == 0)
  table = tf.where(unchanged[:, None], tf.range(256)[None, :], table)
  return tf.cast(tf.gather(tf.reshape(table, [-1]), index), tf.float32)


def affine(image, matrix, fill):
  """PIL's Image.transform(size, AFFINE, matrix, BILINEAR, fillcolor=fill).

  `matrix` (a, b, c, d, e, f) maps an output point (x, y) to the input point
  (a x + b y + c, d x + e y + f), in PIL's coordinates where pixel (i, j) covers
  [i, i + 1) × [j, j + 1). `fill`: one value per channel.
  """
  a, b, c, d, e, f = [tf.cast(value, tf.float32) for value in matrix]
  channels = _channels(image)
  shape = tf.shape(image)
  height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
  # TensorFlow's coordinates are pixel indices: centres at integers, not at i + 0.5.
  transform = tf.stack([a, b, 0.5 * (a + b) + c - 0.5, d, e, 0.5 * (d + e) + f - 0.5, 0.0, 0.0])
  # Bilinear with the source point clamped to the image repeats the edge pixels, as PIL's
  # interpolation does for points within half a pixel of the border.
  moved = tf.raw_ops.ImageProjectiveTransformV3(
      images=image[None], transforms=transform[None], output_shape=shape[:2],
      fill_value=tf.constant(0.0), interpolation='BILINEAR', fill_mode='NEAREST')[0]
  # PIL fills the pixels whose source point falls outside the image. Computed on rows of
  # width × channels values, so that every broadcast is of a row or a column (fast).
  x = tf.repeat(tf.range(width) + 0.5, channels)[None, :]
  y = (tf.range(height) + 0.5)[:, None]
  source_x = a * x + b * y + c
  source_y = d * x + e * y + f
  inside = tf.logical_and(tf.logical_and(source_x >= 0.0, source_x < width),
                          tf.logical_and(source_y >= 0.0, source_y < height))
  moved = tf.reshape(tf.clip_by_value(tf.floor(moved), 0.0, 255.0), [shape[0], -1])
  fill = tf.tile(tf.cast(fill, tf.float32), shape[1:2])[None, :]
  return tf.reshape(fill + (moved - fill) * tf.cast(inside, tf.float32), shape)


# --- Sub-ops as parameter vectors ------------------------------------------------------------

# The kinds of pixel work, in the order of `_apply`'s branches.
IDENTITY, BLEND, CONTRAST, COLOR, SHARPNESS, AUTO_CONTRAST, EQUALIZE, AFFINE = range(8)
# A sub-op's parameters, and their values where it leaves them: the blend's constants
# (degenerate, factor, shift, quantum, [low, high)) and the affine matrix (a to f).
_DEFAULTS = {'kind': IDENTITY, 'degenerate': 0.0, 'factor': 1.0, 'shift': 0.0, 'quantum': 1.0,
             'low': 0.0, 'high': 256.0, 'a': 1.0, 'b': 0.0, 'c': 0.0, 'd': 0.0, 'e': 1.0,
             'f': 0.0}
_INDEX = {name: index for index, name in enumerate(_DEFAULTS)}


def _operations(candidates):
  """The parameter vectors of several sub-ops (dicts of the parameters they set), stacked:
  constants in a table, the drawn values scattered into it. Few graph nodes: in graphs of
  small tensors, TensorFlow's cost per node dominates."""
  table = np.array([list(_DEFAULTS.values())] * len(candidates), np.float64)
  positions, values = [], []
  for row, parameters in enumerate(candidates):
    for name, value in parameters.items():
      if isinstance(value, (int, float)):
        table[row, _INDEX[name]] = value
      else:
        positions.append([row, _INDEX[name]])
        values.append(tf.cast(value, tf.float64))
  if not values:
    return tf.constant(table)
  return tf.tensor_scatter_nd_update(tf.constant(table), positions, tf.stack(values))


def _operation(**parameters):
  """One sub-op's parameter vector."""
  return _operations([parameters])[0]


def _apply(image, operation, fill):
  """The pixel work `operation` names, on `image` (float32 holding 0-255). The parameters
  become float32 as PIL's blend factor does (the other values are exact in float32); each
  branch unpacks them itself, since every tensor a branch takes in costs a little."""
  operation = tf.cast(operation, tf.float32)
  value = lambda name: operation[_INDEX[name]]
  branches = [
      lambda: image,
      lambda: _blend(image, *tf.unstack(operation)[1:7]),
      lambda: contrast(image, value('factor')),
      lambda: color(image, value('factor')),
      lambda: sharpness(image, value('factor')),
      lambda: auto_contrast(image),
      lambda: equalize(image),
      lambda: affine(image, tf.unstack(operation)[7:], fill),
  ]
  output = tf.switch_case(tf.cast(operation[_INDEX['kind']], tf.int32), branches)
  output.set_shape(image.shape)
  return output


def _invert():
  """ImageOps.invert: 255 − value, a blend about 127.5 with factor −1."""
  return {'kind': BLEND, 'degenerate': 127.5, 'factor': -1.0}


def _solarize(threshold):
  """ImageOps.solarize: values at or above `threshold` inverted."""
  return {**_invert(), 'low': threshold}


def _solarize_add(addition, threshold=128.0):
  """timm's solarize_add: `addition` added (up to 255) to values below `threshold`."""
  return {'kind': BLEND, 'shift': addition, 'high': threshold}


def _posterize(bits):
  """ImageOps.posterize: keep the `bits` highest bits of each value (0 bits: black, as
  Pillow before version 10 allowed; later Pillow refuses 0)."""
  two = tf.constant(2.0, tf.float64)
  return {'kind': BLEND, 'quantum': tf.pow(two, 8.0 - tf.cast(bits, tf.float64))}


def _brightness(factor):
  """ImageEnhance.Brightness: blend with black."""
  return {'kind': BLEND, 'factor': factor}


def _rotate(degrees, height, width):
  """PIL's Image.rotate(degrees): counter-clockwise about the image centre, same size; the
  matrix rounded to 15 decimals as PIL does, so that right angles map pixels exactly onto
  pixels."""
  centre_x, centre_y = width / 2.0, height / 2.0
  angle = -tf.cast(degrees, tf.float64) * (math.pi / 180.0)
  cos = tf.round(tf.cos(angle) * 1e15) / 1e15
  sin = tf.round(tf.sin(angle) * 1e15) / 1e15
  return {'kind': AFFINE, 'a': cos, 'b': sin, 'c': cos * -centre_x + sin * -centre_y + centre_x,
          'd': -sin, 'e': cos, 'f': -sin * -centre_x + cos * -centre_y + centre_y}


def _shear_x(factor):
  """Output (x, y) from input (x + factor·y, y): timm's shear_x, torchvision's ShearX."""
  return {'kind': AFFINE, 'b': factor}


def _shear_y(factor):
  """Output (x, y) from input (x, factor·x + y)."""
  return {'kind': AFFINE, 'd': factor}


def _translate(dx, dy):
  """Output (x, y) from input (x + dx, y + dy): the content moves by (−dx, −dy)."""
  return {'kind': AFFINE, 'c': dx, 'f': dy}


def _size(image):
  shape = tf.cast(tf.shape(image), tf.float64)
  return shape[0], shape[1]


# --- RandAugment, as timm defines it ---------------------------------------------------------


def _negated(value, negate):
  return tf.where(negate, -value, value)


def _enhance_increasing(level, negate):
  """timm's `_enhance_increasing_level_to_arg`: 1 ± 0.9·level/10, at least 0.1."""
  return tf.maximum(1.0 + _negated(level / MAX_LEVEL * 0.9, negate), 0.1)


# The ops of timm's `rand-...-inc1` (`_RAND_INCREASING_TRANSFORMS`), in timm's order, each
# as its parameters f(level, negate, height, width): the magnitude level on the 0-10 scale
# (float64), `negate` where timm's `_randomly_negate` flips the sign. Each maps the level to
# its argument as timm's LEVEL_TO_ARG does.
_RAND_AUGMENT_PARAMETERS = {
    'AutoContrast': lambda level, negate, height, width: {'kind': AUTO_CONTRAST},
    'Equalize': lambda level, negate, height, width: {'kind': EQUALIZE},
    'Invert': lambda level, negate, height, width: _invert(),
    'Rotate': lambda level, negate, height, width: _rotate(
        _negated(level / MAX_LEVEL * 30.0, negate), height, width),
    'PosterizeIncreasing': lambda level, negate, height, width: _posterize(
        4.0 - tf.floor(level / MAX_LEVEL * 4.0)),
    'SolarizeIncreasing': lambda level, negate, height, width: _solarize(
        256.0 - tf.minimum(tf.floor(level / MAX_LEVEL * 256.0), 256.0)),
    'SolarizeAdd': lambda level, negate, height, width: _solarize_add(
        tf.minimum(tf.floor(level / MAX_LEVEL * 110.0), 128.0)),
    'ColorIncreasing': lambda level, negate, height, width: {
        'kind': COLOR, 'factor': _enhance_increasing(level, negate)},
    'ContrastIncreasing': lambda level, negate, height, width: {
        'kind': CONTRAST, 'factor': _enhance_increasing(level, negate)},
    'BrightnessIncreasing': lambda level, negate, height, width: _brightness(
        _enhance_increasing(level, negate)),
    'SharpnessIncreasing': lambda level, negate, height, width: {
        'kind': SHARPNESS, 'factor': _enhance_increasing(level, negate)},
    'ShearX': lambda level, negate, height, width: _shear_x(
        _negated(level / MAX_LEVEL * 0.3, negate)),
    'ShearY': lambda level, negate, height, width: _shear_y(
        _negated(level / MAX_LEVEL * 0.3, negate)),
    # timm's hparams for ImageNet leave translate_pct at 0.45 of the side.
    'TranslateXRel': lambda level, negate, height, width: _translate(
        _negated(level / MAX_LEVEL * 0.45, negate) * width, 0.0),
    'TranslateYRel': lambda level, negate, height, width: _translate(
        0.0, _negated(level / MAX_LEVEL * 0.45, negate) * height),
}


def _rand_augment_op(parameters):
  def apply(image, level, negate, fill):
    return _apply(image, _operation(**parameters(level, negate, *_size(image))), fill)
  return apply


# The same ops on an image, f(image, level, negate, fill) with fill one value per channel.
RAND_AUGMENT_OPS = {name: _rand_augment_op(parameters)
                    for name, parameters in _RAND_AUGMENT_PARAMETERS.items()}


def _seeds(seed, count: int):
  return tf.unstack(tf.random.experimental.stateless_split(seed, count))


@tf.autograph.experimental.do_not_convert
def rand_augment(image, seed, num_ops: int, magnitude: float, magnitude_std: float,
                 probability: float, fill):
  """`num_ops` ops drawn uniformly with replacement from RAND_AUGMENT_OPS, each applied
  with `probability` at magnitude + magnitude_std·N(0, 1) clipped to [0, 10] and a random
  sign; `fill` per channel. uint8 in, uint8 out."""
  pixels = tf.cast(image, tf.float32)
  height, width = _size(image)
  fill = tf.constant(fill, tf.float32)
  for layer_seed in _seeds(seed, num_ops) if num_ops else []:
    choice_seed, apply_seed, noise_seed, sign_seed = _seeds(layer_seed, 4)
    choice = tf.random.stateless_uniform([], choice_seed, maxval=len(_RAND_AUGMENT_PARAMETERS),
                                         dtype=tf.int32)
    applied = tf.random.stateless_uniform([], apply_seed) < probability
    level = tf.constant(magnitude, tf.float64)
    if magnitude_std > 0:
      noise = tf.random.stateless_normal([], noise_seed, dtype=tf.float64)
      level = tf.clip_by_value(level + magnitude_std * noise, 0.0, MAX_LEVEL)
    negate = tf.random.stateless_uniform([], sign_seed) < 0.5
    candidates = [parameters(level, negate, height, width)
                  for parameters in _RAND_AUGMENT_PARAMETERS.values()]
    # The last row, identity, where the op is not applied.
    operations = _operations(candidates + [{}])
    pixels = _apply(pixels, tf.gather(operations, tf.where(applied, choice, len(candidates))),
                    fill)
  return tf.cast(pixels, tf.uint8)


# --- AutoAugment and TrivialAugment, as torchvision defines them -----------------------------


def _translate_pixels(magnitude):
  """torchvision translates by int(magnitude) pixels (truncated towards zero)."""
  return tf.sign(magnitude) * tf.floor(tf.abs(magnitude))


# torchvision's `_apply_op` ops, each as its parameters f(magnitude, height, width) with the
# signed magnitude torchvision passes it (a factor's offset from 1, degrees, pixels, bits or
# a threshold).
_TORCHVISION_PARAMETERS = {
    'Identity': lambda magnitude, height, width: {},
    'ShearX': lambda magnitude, height, width: _shear_x(magnitude),
    'ShearY': lambda magnitude, height, width: _shear_y(magnitude),
    'TranslateX': lambda magnitude, height, width: _translate(-_translate_pixels(magnitude), 0.0),
    'TranslateY': lambda magnitude, height, width: _translate(0.0, -_translate_pixels(magnitude)),
    'Rotate': lambda magnitude, height, width: _rotate(magnitude, height, width),
    'Brightness': lambda magnitude, height, width: _brightness(1.0 + magnitude),
    'Color': lambda magnitude, height, width: {'kind': COLOR, 'factor': 1.0 + magnitude},
    'Contrast': lambda magnitude, height, width: {'kind': CONTRAST, 'factor': 1.0 + magnitude},
    'Sharpness': lambda magnitude, height, width: {'kind': SHARPNESS, 'factor': 1.0 + magnitude},
    'Posterize': lambda magnitude, height, width: _posterize(tf.floor(magnitude)),
    'Solarize': lambda magnitude, height, width: _solarize(magnitude),
    'AutoContrast': lambda magnitude, height, width: {'kind': AUTO_CONTRAST},
    'Equalize': lambda magnitude, height, width: {'kind': EQUALIZE},
    'Invert': lambda magnitude, height, width: _invert(),
}


def _torchvision_op(parameters):
  def apply(image, magnitude, fill):
    return _apply(image, _operation(**parameters(magnitude, *_size(image))), fill)
  return apply


# The same ops on an image, f(image, magnitude, fill) with fill one value per channel.
TORCHVISION_OPS = {name: _torchvision_op(parameters)
                   for name, parameters in _TORCHVISION_PARAMETERS.items()}


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


def _torchvision_operation(names, index, magnitude, height, width):
  """The parameters of op `index` of `names` at the signed `magnitude`; index len(names):
  identity."""
  candidates = [_TORCHVISION_PARAMETERS[name](magnitude, height, width) for name in names]
  return tf.gather(_operations(candidates + [{}]), index)


@tf.autograph.experimental.do_not_convert
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
  height, width = _size(image)
  fill = tf.constant(fill, tf.float32)
  for slot in range(2):
    applied = draws[slot] <= tf.gather(tf.constant(probabilities, tf.float32)[:, slot], chosen)
    magnitude = tf.gather(tf.constant(values, tf.float64)[:, slot], chosen)
    flip = tf.logical_and(tf.gather(tf.constant(signed)[:, slot], chosen), negate[slot])
    magnitude = tf.where(flip, -magnitude, magnitude)
    index = tf.where(applied, tf.gather(tf.constant(op_index)[:, slot], chosen), len(names))
    pixels = _apply(pixels, _torchvision_operation(names, index, magnitude, height, width), fill)
  return tf.cast(pixels, tf.uint8)


@tf.autograph.experimental.do_not_convert
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
  height, width = _size(image)
  operation = _torchvision_operation(TRIVIAL_AUGMENT_OPS, chosen, magnitude, height, width)
  pixels = _apply(tf.cast(image, tf.float32), operation, tf.constant(fill, tf.float32))
  return tf.cast(pixels, tf.uint8)
