"""Preprocessing as strings of named ops, composed by the recipe (big_vision's idea).

A recipe says how its paper prepared each image with two config fields,
`train_preprocess` and `eval_preprocess`: ops separated by `|`, each with its
arguments, for example

    inception_crop(224)|flip_lr                           GoogLeNet §6, the default
    resize_short(256)|random_crop(224)|flip_lr|pca_lighting(0.1)    AlexNet §4.1
    scale_jitter(256, 512)|random_crop(224)|flip_lr       VGG §3.1
    pad_random_crop(32, 4)|flip_lr                        ResNet's CIFAR-10, §4.2
    resize_short(256)|center_crop(224)                    a centre-crop evaluation view

`python -m preprocessing` lists every op with its arguments and its paper.

Each op is a small function of one image (height × width × channels, uint8 or
float on the 0-255 scale) and a stateless seed; tf.data maps the composed
function over the examples, and the seed of an example is a function of the run's
seed and the example's position in the stream, so a resumed run and the
deterministic mode see the same pixels. Images leave as uint8 (rounded and
clipped): normalisation happens on the device.

Photographs arrive as encoded bytes. When the first op only takes a window of the
image (`inception_crop`, `center_crop`, `random_crop`), a JPEG is decoded inside
that window only (`tf.io.decode_and_crop_jpeg`): the fused decode is where tf.data
beats PIL (BENCHMARKS.md). Any other first op gets the whole decoded image.

Bad strings are refused before training with one line (`PreprocessError`): an
unknown op (with the closest names), wrong arguments, a crop larger than the image
it is taken from, or an output that is not image_size × image_size.
"""

import dataclasses
import difflib
import functools
import inspect
import math
import sys
from typing import Callable

import tensorflow as tf

import augment_policies
from op_strings import parse_call  # noqa: F401  (protocols.py reads its strings with it)


class PreprocessError(ValueError):
  """A preprocessing string cannot work; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class Size:
  """What is known of an image's size between two ops: its exact height and width,
  only its shorter side, or nothing (a photograph not yet resized)."""

  height: int | None = None
  width: int | None = None
  short_side: int | None = None

  @classmethod
  def exact(cls, height: int, width: int | None = None) -> 'Size':
    width = height if width is None else width
    return cls(height, width, min(height, width))

  @property
  def is_exact(self) -> bool:
    return self.height is not None


@dataclasses.dataclass(frozen=True)
class OpInfo:
  """A registered op: `apply(image, seed, *args)` and what it does to the size."""

  name: str
  apply: Callable
  output_size: Callable[..., Size]  # (Size, *args) -> Size; raises PreprocessError
  crop_window: Callable | None = None  # (image shape, seed, *args) -> [y, x, h, w]
  finish_crop: Callable | None = None  # after the fused decode: (image, seed, *args)
  channels: int | None = None  # the channels it needs (3 for colour ops); None: any
  # Receives the run's normalisation, `normalization=(mean, std)` per channel on the 0-255
  # scale, as a keyword the op string cannot set.
  normalization: bool = False


_OPS: dict[str, OpInfo] = {}


def register(output_size, crop_window=None, finish_crop=None, channels=None,
             normalization=False):
  """Registers the decorated function as an op named after it."""

  def decorate(apply):
    _OPS[apply.__name__] = OpInfo(apply.__name__, apply, output_size, crop_window,
                                  finish_crop, channels, normalization)
    return apply

  return decorate


def same_size(size: Size, *args, **kwargs) -> Size:
  return size


def square(side: int) -> Callable[..., Size]:
  return lambda size, *args, **kwargs: Size.exact(side)


def _check_crop_fits(op: str, crop: int, size: Size, padding: int = 0) -> None:
  """A crop larger than the (padded) image it is taken from cannot be taken."""
  if size.short_side is not None and crop > size.short_side + 2 * padding:
    raise PreprocessError(
        f'{op} takes a {crop}×{crop} crop from an image whose shorter side is '
        f'{size.short_side}{f" + 2×{padding} padding" if padding else ""}: resize it to '
        f'at least {crop - 2 * padding} first (for example resize_short({crop - 2 * padding}))')


def _positive(op: str, **values) -> None:
  for name, value in values.items():
    if value <= 0:
      raise PreprocessError(f'{op}: {name} must be positive; got {value}')


def _resize(image, height, width):
  return tf.image.resize(image, tf.stack([height, width]), method='bilinear')


def _short_side_to(image, side):
  """Resizes so that the shorter side is `side` (a scalar tensor), keeping the aspect."""
  shape = tf.cast(tf.shape(image)[:2], tf.float32)
  scale = tf.cast(side, tf.float32) / tf.reduce_min(shape)
  new_shape = tf.cast(tf.round(shape * scale), tf.int32)
  return _resize(image, new_shape[0], new_shape[1])


def _window(image, window):
  return tf.image.crop_to_bounding_box(image, window[0], window[1], window[2], window[3])


def to_uint8(image):
  """Pixels on the 0-255 scale, rounded and clipped to the uint8 batches carry."""
  if image.dtype == tf.uint8:
    return image
  return tf.saturate_cast(tf.round(image), tf.uint8)


# --- Crops -----------------------------------------------------------------------------------


def _inception_window(shape, seed, size, min_area=0.08, max_area=1.0, min_aspect=3 / 4,
                      max_aspect=4 / 3):
  begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
      shape, bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4]), seed=seed,
      min_object_covered=0.1, aspect_ratio_range=(min_aspect, max_aspect),
      area_range=(min_area, max_area), max_attempts=10, use_image_if_no_bounding_boxes=True)
  return tf.stack([begin[0], begin[1], extent[0], extent[1]])


def _resize_to(image, seed, size, *args, **kwargs):
  return _resize(image, size, size)


def _inception_size(size, side, min_area=0.08, max_area=1.0, min_aspect=3 / 4, max_aspect=4 / 3):
  _positive('inception_crop', size=side, min_area=min_area, min_aspect=min_aspect)
  if not (min_area <= max_area <= 1.0 and min_aspect <= max_aspect):
    raise PreprocessError('inception_crop: need min_area <= max_area <= 1 and '
                          f'min_aspect <= max_aspect; got {min_area}, {max_area}, {min_aspect}, '
                          f'{max_aspect}')
  return Size.exact(side)


@register(_inception_size, crop_window=_inception_window, finish_crop=_resize_to)
def inception_crop(image, seed, size: int, min_area: float = 0.08, max_area: float = 1.0,
                   min_aspect: float = 3 / 4, max_aspect: float = 4 / 3):
  """A random window of min_area to max_area of the image, of aspect ratio min_aspect to
  max_aspect, resized to size × size: Szegedy et al. 2015 (GoogLeNet) §6."""
  window = _inception_window(tf.shape(image), seed, size, min_area, max_area, min_aspect,
                             max_aspect)
  return _resize_to(_window(image, window), seed, size)


def _random_window(shape, seed, size):
  """A size × size window at a uniformly drawn position inside `shape`."""
  positions = tf.cast(tf.stack([shape[0] - size + 1, shape[1] - size + 1]), tf.float32)
  offset = tf.cast(tf.random.stateless_uniform([2], seed) * positions, tf.int32)
  return tf.stack([offset[0], offset[1], size, size])


def _random_crop_size(size, side):
  _positive('random_crop', size=side)
  _check_crop_fits('random_crop', side, size)
  return Size.exact(side)


@register(_random_crop_size, crop_window=_random_window)
def random_crop(image, seed, size: int):
  """A size × size window at a uniformly random position: AlexNet §4.1 ("random 224 × 224
  patches"), VGG §3.1, ResNet §3.4."""
  return _window(image, _random_window(tf.shape(image), seed, size))


def _center_window(shape, seed, size):
  if isinstance(size, float):  # a fraction of the shorter side
    side = tf.cast(size * tf.cast(tf.minimum(shape[0], shape[1]), tf.float32), tf.int32)
  else:
    side = tf.constant(size, tf.int32)
  return tf.stack([(shape[0] - side) // 2, (shape[1] - side) // 2, side, side])


def _center_crop_size(size, side):
  if isinstance(side, float):
    if not 0 < side <= 1:
      raise PreprocessError(f'center_crop: a fraction of the shorter side is in (0, 1]; got {side}')
    if size.is_exact:
      return Size.exact(int(side * size.short_side))
    return Size(short_side=None if size.short_side is None else int(side * size.short_side))
  _positive('center_crop', size=side)
  _check_crop_fits('center_crop', side, size)
  return Size.exact(side)


@register(_center_crop_size, crop_window=_center_window)
def center_crop(image, seed, size: int | float):
  """The centred square of `size` pixels, or (a float) of that fraction of the shorter side:
  the single-crop evaluation view (0.875 of the short side is Inception's)."""
  return _window(image, _center_window(tf.shape(image), seed, size))


def _pad_random_crop_size(size, side, padding):
  _positive('pad_random_crop', size=side)
  if padding < 0:
    raise PreprocessError(f'pad_random_crop: padding is at least 0; got {padding}')
  _check_crop_fits('pad_random_crop', side, size, padding)
  return Size.exact(side)


@register(_pad_random_crop_size)
def pad_random_crop(image, seed, size: int, padding: int):
  """Zero-pad `padding` pixels on every side, then a random size × size crop: He et al. 2016
  §4.2 (4 pixels on CIFAR-10's 32 × 32)."""
  image = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
  return _window(image, _random_window(tf.shape(image), seed, size))


# --- Resizing --------------------------------------------------------------------------------


def _resize_short_size(size, side):
  _positive('resize_short', size=side)
  if size.is_exact:
    scale = side / size.short_side
    return Size.exact(round(size.height * scale), round(size.width * scale))
  return Size(short_side=side)


@register(_resize_short_size)
def resize_short(image, seed, size: int):
  """Resize so that the shorter side is `size`, keeping the aspect ratio: AlexNet §2 ("rescaled
  the image such that the shorter side was of length 256"), and the evaluation views."""
  return _short_side_to(image, size)


def _scale_jitter_size(size, low, high):
  _positive('scale_jitter', low=low)
  if high < low:
    raise PreprocessError(f'scale_jitter: need low <= high; got {low}, {high}')
  return Size(short_side=low)


@register(_scale_jitter_size)
def scale_jitter(image, seed, low: int, high: int):
  """Resize so that the shorter side is an integer drawn uniformly from [low, high]: VGG §3.1
  (S in [256, 512]), ResNet §3.4 ([256, 480])."""
  side = tf.random.stateless_uniform([], seed, minval=low, maxval=high + 1, dtype=tf.int32)
  return _short_side_to(image, side)


def _resize_size(size, height, width=None):
  _positive('resize', size=height)
  return Size.exact(height, width)


@register(_resize_size)
def resize(image, seed, height: int, width: int | None = None):
  """Resize to height × width (width = height if not given), ignoring the aspect ratio."""
  width = height if width is None else width
  if image.shape[0] == height and image.shape[1] == width:
    return image  # already that size: no resampling (small datasets at their own size)
  return _resize(image, height, width)


# --- Flips and colour ------------------------------------------------------------------------


@register(same_size)
def flip_lr(image, seed):
  """Mirror the image left-right with probability 1/2: AlexNet §4.1 ("horizontal
  reflections"), and every ImageNet recipe after it."""
  return tf.image.stateless_random_flip_left_right(image, seed)


# The principal components of ImageNet's RGB pixel values on the 0-1 scale, as released with
# fb.resnet.torch (Gross & Wilber 2016) for AlexNet's colour augmentation: eigenvalues and,
# as columns, the eigenvectors.
IMAGENET_PCA_EIGENVALUES = (0.2175, 0.0188, 0.0045)
IMAGENET_PCA_EIGENVECTORS = ((-0.5675, 0.7192, 0.4009),
                             (-0.5808, -0.0045, -0.8140),
                             (-0.5836, -0.6948, 0.4203))


@register(same_size, channels=3)
def pca_lighting(image, seed, std: float = 0.1):
  """Add [p1, p2, p3][a1 λ1, a2 λ2, a3 λ3]ᵀ to every pixel, with p_i, λ_i the eigenvectors
  and eigenvalues of ImageNet's RGB covariance and a_i ~ N(0, std²) drawn once per image:
  Krizhevsky et al. 2012 §4.1 (std 0.1)."""
  alpha = tf.random.stateless_normal([3], seed, stddev=std)
  offset = tf.linalg.matvec(tf.constant(IMAGENET_PCA_EIGENVECTORS),
                            alpha * tf.constant(IMAGENET_PCA_EIGENVALUES))
  return tf.cast(image, tf.float32) + 255.0 * offset


@register(same_size, channels=3)
def color_distort(image, seed, brightness: float = 32 / 255, saturation: float = 0.5,
                  hue: float = 0.2, contrast: float = 0.5):
  """Random brightness (± `brightness` of the range), saturation and contrast (× 1 ± the
  value), and hue (± the value of a turn), in one of four orders drawn per image: the
  "photometric distortions" of GoogLeNet §6 (Howard 2013), as Inception's training code
  applies them."""
  order_seed, *seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 5))
  image = tf.cast(image, tf.float32) / 255.0
  adjust = {
      'brightness': lambda x: tf.image.stateless_random_brightness(x, brightness, seeds[0]),
      'saturation': lambda x: tf.image.stateless_random_saturation(
          x, 1 - saturation, 1 + saturation, seeds[1]),
      'hue': lambda x: tf.image.stateless_random_hue(x, hue, seeds[2]),
      'contrast': lambda x: tf.image.stateless_random_contrast(
          x, 1 - contrast, 1 + contrast, seeds[3]),
  }

  def in_order(*names):
    def run():
      x = image
      for name in names:
        x = tf.clip_by_value(adjust[name](x), 0.0, 1.0)
      return x
    return run

  order = tf.random.stateless_uniform([], order_seed, maxval=4, dtype=tf.int32)
  image = tf.switch_case(order, [
      in_order('brightness', 'saturation', 'hue', 'contrast'),
      in_order('saturation', 'brightness', 'contrast', 'hue'),
      in_order('contrast', 'hue', 'brightness', 'saturation'),
      in_order('hue', 'saturation', 'contrast', 'brightness')])
  return image * 255.0


@register(same_size, channels=1)
def grayscale_to_rgb(image, seed):
  """One channel repeated three times, for a colour network on grayscale images."""
  return tf.image.grayscale_to_rgb(image)


@register(same_size, channels=3)
def rgb_to_grayscale(image, seed):
  """The luma of the three channels (ITU-R 601), for a grayscale network on colour images."""
  return tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))


CHANNELS_AFTER = {'grayscale_to_rgb': 3, 'rgb_to_grayscale': 1}


# --- Automated augmentation (augment_policies.py) and random erasing -----------------------


def _probability(op: str, **values) -> None:
  for name, value in values.items():
    if not 0 <= value <= 1:
      raise PreprocessError(f'{op}: {name} is a probability in [0, 1]; got {value}')


def _per_channel(values, channels: int) -> tuple[float, ...]:
  """Normalisation statistics for `channels` channels: as given, one value repeated, or
  (statistics of another channel count, the image converted since) their average."""
  values = tuple(float(v) for v in values)
  if len(values) == channels:
    return values
  return (sum(values) / len(values),) * channels


def _fill_colour(normalization, channels: int) -> tuple[float, ...]:
  """timm's fill of the geometric ops: the normalisation mean as integers (ImageNet's
  (124, 116, 104)); without one, timm's default grey 128."""
  if normalization is None:
    return (128.0,) * channels
  return tuple(float(min(255, round(m))) for m in _per_channel(normalization[0], channels))


def _rand_augment_size(size, num_ops, magnitude, magnitude_std=0.0, probability=0.5):
  if num_ops < 0:
    raise PreprocessError(f'rand_augment: num_ops is at least 0; got {num_ops}')
  if not 0 <= magnitude <= augment_policies.MAX_LEVEL:
    raise PreprocessError('rand_augment: magnitude is on the 0-10 scale (timm clips it to 10); '
                          f'got {magnitude}')
  if not 0 <= magnitude_std <= 100:
    raise PreprocessError('rand_augment: magnitude_std is in [0, 100] (timm reads larger values '
                          f'as uniform sampling, which this op does not do); got {magnitude_std}')
  _probability('rand_augment', probability=probability)
  return size


@register(_rand_augment_size, normalization=True)
def rand_augment(image, seed, num_ops: int, magnitude: float, magnitude_std: float = 0.0,
                 probability: float = 0.5, *, normalization=None):
  """RandAugment (Cubuk et al. 2020) as timm's `rand-mM-nN-mstdS-inc1` makes it (M the
  magnitude, N num_ops, S magnitude_std): num_ops ops drawn uniformly with replacement from
  AutoContrast, Equalize, Invert, Rotate, Posterize, Solarize, SolarizeAdd, Color, Contrast,
  Brightness, Sharpness, ShearX/Y and TranslateX/Y (timm's "increasing" set: no Identity),
  each applied with `probability` at magnitude (of 10) plus N(0, magnitude_std²) noise,
  clipped to [0, 10], with a random sign where timm draws one.

  timm's ImageNet settings: translations up to 0.45 of the side, geometric ops filled with
  the normalisation mean as integers ((124, 116, 104) for ImageNet). Differences: bilinear
  interpolation always (timm draws bilinear or bicubic per op unless told one); no uniform
  magnitude sampling (timm's magnitude_std above 100) and no magnitude_max; Posterize at
  magnitude 10 keeps 0 bits (black), which current Pillow refuses. Pixel arithmetic is
  PIL's (augment_policies.py). Grey images: Color leaves them as they are.
  """
  channels = image.shape[-1]
  return augment_policies.rand_augment(to_uint8(image), seed, num_ops, magnitude, magnitude_std,
                                       probability, _fill_colour(normalization, channels))


def _auto_augment_size(size, policy='imagenet'):
  if policy not in augment_policies.AUTO_AUGMENT_POLICIES:
    raise PreprocessError(f'auto_augment: unknown policy {policy!r}; the policies are: '
                          f'{", ".join(augment_policies.AUTO_AUGMENT_POLICIES)}')
  return size


@register(_auto_augment_size)
def auto_augment(image, seed, policy: str = 'imagenet'):
  """AutoAugment's ImageNet policy (Cubuk et al. 2019, Table 9) as torchvision's
  AutoAugment(AutoAugmentPolicy.IMAGENET) applies it: one of 25 sub-policies drawn
  uniformly, each of its two ops applied with its probability at its magnitude bin of 10,
  with a random sign for the signed ops.

  torchvision's magnitude ranges, its black fill, bilinear interpolation (torchvision's
  reference recipe; the class defaults to nearest). timm's default AutoAugment policy, 'v0',
  is a different, later policy (from TPU EfficientNet), not this one. Pixel arithmetic is
  PIL's (augment_policies.py).
  """
  channels = image.shape[-1]
  return augment_policies.auto_augment(to_uint8(image), seed, policy, (0.0,) * channels)


@register(same_size)
def trivial_augment(image, seed):
  """TrivialAugment (Müller & Hutter 2021) as torchvision's TrivialAugmentWide: one op per
  image drawn uniformly from Identity, ShearX/Y, TranslateX/Y, Rotate, Brightness, Color,
  Contrast, Sharpness, Posterize, Solarize, AutoContrast and Equalize, at a uniformly drawn
  magnitude bin of 31 of the wide ranges, with a random sign for the signed ops.

  torchvision's black fill and bilinear interpolation (its reference recipe; the class
  defaults to nearest). Pixel arithmetic is PIL's (augment_policies.py).
  """
  channels = image.shape[-1]
  return augment_policies.trivial_augment(to_uint8(image), seed, (0.0,) * channels)


def _random_erasing_size(size, probability=0.25, min_area=0.02, max_area=1 / 3,
                         min_aspect=0.3, max_count=1):
  _probability('random_erasing', probability=probability)
  if not 0 <= min_area <= max_area <= 1:
    raise PreprocessError('random_erasing: the areas are fractions of the image with '
                          f'0 <= min_area <= max_area <= 1; got {min_area}, {max_area}')
  _positive('random_erasing', min_aspect=min_aspect, max_count=max_count)
  return size


@tf.autograph.experimental.do_not_convert
def _erase_box(image, seed, min_area, max_area, min_aspect, count, mean, std):
  """One of timm's boxes on a uint8 image: up to 10 attempts at an area and a log-uniform
  aspect ratio until one fits, at a uniform position, filled with mean + std·N(0, 1) per
  value, rounded and clipped to 0-255."""
  area_seed, aspect_seed, position_seed, noise_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 4))
  shape = tf.shape(image)
  height, width = shape[0], shape[1]
  area = tf.cast(height * width, tf.float32)
  target = tf.random.stateless_uniform([10], area_seed, min_area, max_area) * area / count
  aspect = tf.exp(tf.random.stateless_uniform([10], aspect_seed, math.log(min_aspect),
                                              -math.log(min_aspect)))
  box_height = tf.cast(tf.round(tf.sqrt(target * aspect)), tf.int32)
  box_width = tf.cast(tf.round(tf.sqrt(target / aspect)), tf.int32)
  fits = tf.logical_and(box_height < height, box_width < width)
  attempt = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)  # the first that fits
  box_height = tf.where(fits[attempt], box_height[attempt], 0)
  box_width = tf.where(fits[attempt], box_width[attempt], 0)
  free = tf.cast(tf.stack([height - box_height + 1, width - box_width + 1]), tf.float32)
  top, left = tf.unstack(tf.cast(tf.random.stateless_uniform([2], position_seed) * free,
                                 tf.int32))
  noise = tf.random.stateless_normal([box_height, box_width, image.shape[-1]], noise_seed)
  noise = tf.saturate_cast(tf.round(mean + std * noise), tf.uint8)
  # The image around the box, joined to it: a copy of the image, no per-pixel selection.
  rows = image[top:top + box_height]
  rows = tf.concat([rows[:, :left], noise, rows[:, left + box_width:]], axis=1)
  return tf.concat([image[:top], rows, image[top + box_height:]], axis=0)


@register(_random_erasing_size, normalization=True)
def random_erasing(image, seed, probability: float = 0.25, min_area: float = 0.02,
                   max_area: float = 1 / 3, min_aspect: float = 0.3, max_count: int = 1, *,
                   normalization=None):
  """Random Erasing (Zhong et al. 2020) as timm's RandomErasing(mode='pixel') does it: with
  `probability`, 1 to max_count boxes (a uniform count) of min_area to max_area of the image
  (divided by the count) and aspect ratio log-uniform in [min_aspect, 1/min_aspect], each
  filled with per-pixel, per-channel noise that is N(0, 1) after the run's normalisation.

  timm writes the noise into the normalised tensor; this pipeline's images stay uint8 until
  the device normalises them, so the op writes mean + std·z, rounded and clipped to 0-255,
  with the run's mean and std. The normalised noise is z within 0.5/std (0.009 for
  ImageNet), except in the tails beyond the 0-255 range, which clip (with ImageNet's
  statistics z under -1.8 to -2.1 or over 2.2 to 2.6 by channel: 3 to 4 % of the values).
  timm erases after normalisation: put it last to match.
  """
  if normalization is None:
    raise PreprocessError('random_erasing draws its noise in the run\'s normalisation: the '
                          'pipeline needs normalization=(mean, std)')
  channels = image.shape[-1]
  mean = tf.constant(_per_channel(normalization[0], channels), tf.float32)
  std = tf.constant(_per_channel(normalization[1], channels), tf.float32)
  erase_seed, count_seed, *box_seeds = tf.unstack(
      tf.random.experimental.stateless_split(seed, 2 + max_count))
  image = to_uint8(image)  # an image left as it is costs nothing
  count = tf.random.stateless_uniform([], count_seed, 1, max_count + 1, dtype=tf.int32)

  def erase():
    erased = image
    for index, box_seed in enumerate(box_seeds):
      box = functools.partial(_erase_box, seed=box_seed, min_area=min_area, max_area=max_area,
                              min_aspect=min_aspect, count=tf.cast(count, tf.float32),
                              mean=mean, std=std)
      erased = (box(erased) if index == 0 else
                tf.cond(index < count, lambda x=erased, box=box: box(x), lambda x=erased: x))
    return erased

  output = tf.cond(tf.random.stateless_uniform([], erase_seed) < probability, erase,
                   lambda: image)
  output.set_shape(image.shape)
  return output


# --- Parsing ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Op:
  """One op of a string, with its arguments bound."""

  info: OpInfo
  args: tuple
  kwargs: tuple  # (name, value) pairs

  def __call__(self, image, seed, normalization=None):
    kwargs = dict(self.kwargs)
    if self.info.normalization:
      kwargs['normalization'] = normalization
    return self.info.apply(image, seed, *self.args, **kwargs)

  def __str__(self):
    arguments = [repr(a) for a in self.args] + [f'{k}={v!r}' for k, v in self.kwargs]
    return f'{self.info.name}({", ".join(arguments)})' if arguments else self.info.name


def _check_argument_types(name: str, signature: inspect.Signature, bound) -> None:
  for parameter, value in bound.arguments.items():
    annotation = signature.parameters[parameter].annotation
    expected = {int: (int,), float: (int, float), int | float: (int, float),
                int | None: (int, type(None)), str: (str,)}.get(annotation, (object,))
    if isinstance(value, bool) or not isinstance(value, expected):
      kinds = ' or '.join(t.__name__ for t in expected if t is not type(None))
      raise PreprocessError(f'{name}: {parameter} is a {kinds}; got {value!r}')


def parse_op(text: str) -> Op:
  """One op, `name` or `name(arg, ..., key=value)`, checked against its signature."""
  text = text.strip()
  try:
    call = parse_call(text)
  except ValueError:
    raise PreprocessError(f'{text}: arguments are numbers') from None
  if call is None:
    raise PreprocessError(f'cannot read preprocessing op {text!r}: write name(arg, ...), '
                          'for example random_crop(224)')
  name, args, kwargs = call
  if name not in _OPS:
    close = difflib.get_close_matches(name, _OPS, n=3)
    hint = f' (did you mean {", ".join(close)}?)' if close else ''
    raise PreprocessError(f'unknown preprocessing op {name!r}{hint}; the ops are: '
                          f'{", ".join(sorted(_OPS))}')
  info = _OPS[name]
  signature = inspect.signature(info.apply)
  signature = signature.replace(parameters=_string_parameters(info))
  try:
    bound = signature.bind(*args, **kwargs)
  except TypeError as error:
    raise PreprocessError(f'{text}: {error}; {name} takes {usage(info)}') from None
  _check_argument_types(name, signature, bound)
  return Op(info, args, tuple(kwargs.items()))


def _string_parameters(info: OpInfo) -> list[inspect.Parameter]:
  """The parameters an op string sets: after image and seed, and not keyword-only (those
  the pipeline passes, as `normalization`)."""
  parameters = list(inspect.signature(info.apply).parameters.values())[2:]
  return [p for p in parameters if p.kind != p.KEYWORD_ONLY]


def usage(info: OpInfo) -> str:
  """An op's arguments as `name(a, b=default)`."""
  arguments = []
  for parameter in _string_parameters(info):
    if parameter.default is parameter.empty:
      arguments.append(parameter.name)
    else:
      default = parameter.default
      shown = (round(default, 4) if isinstance(default, float) else
               repr(default) if isinstance(default, str) else default)
      arguments.append(f'{parameter.name}={shown}')
  return f'{info.name}({", ".join(arguments)})'


@dataclasses.dataclass(frozen=True)
class Pipeline:
  """A parsed preprocessing string: ops applied in order to each image."""

  ops: tuple[Op, ...]

  def __str__(self):
    return '|'.join(str(op) for op in self.ops)

  def output(self, size: Size, channels: int) -> tuple[Size, int]:
    """The size and channels of the output for an input of `size` and `channels`; raises
    PreprocessError where an op cannot apply."""
    for op in self.ops:
      if op.info.channels is not None and op.info.channels != channels:
        raise PreprocessError(f'{op} works on {op.info.channels}-channel images; these have '
                              f'{channels} here')
      size = op.info.output_size(size, *op.args, **dict(op.kwargs))
      channels = CHANNELS_AFTER.get(op.info.name, channels)
    return size, channels

  def check(self, size: Size, channels: int, image_size: int, what: str) -> int:
    """Refuses a pipeline whose output is not image_size²; returns the output channels."""
    out, out_channels = self.output(size, channels)
    if not (out.is_exact and out.height == image_size and out.width == image_size):
      shown = (f'{out.height}×{out.width}' if out.is_exact else
               'of unknown size' if out.short_side is None else
               f'of shorter side {out.short_side}')
      raise PreprocessError(
          f'{what} {str(self)!r} makes images {shown}, not image_size {image_size}×{image_size}: '
          f'end it with a crop or resize to {image_size}')
    return out_channels

  def __call__(self, image, seed, channels: int, encoded: bool, normalization=None):
    """The uint8 image this pipeline makes of one example (encoded bytes if `encoded`).

    `normalization`: the (mean, std) per channel, 0-255 scale, that the run normalises the
    batches with on the device, for the ops that need it (random_erasing; rand_augment's
    fill colour).
    """
    ops = self.ops
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, max(1, len(ops))))
    if encoded:
      first = ops[0] if ops else None
      if first is not None and first.info.crop_window is not None:
        image = _decode_window(image, channels, lambda shape: first.info.crop_window(
            shape, seeds[0], *first.args, **dict(first.kwargs)))
        if first.info.finish_crop is not None:
          image = first.info.finish_crop(image, seeds[0], *first.args, **dict(first.kwargs))
        ops, seeds = ops[1:], seeds[1:]
      else:
        image = decode_image(image, channels)
    for op, op_seed in zip(ops, seeds):
      image = op(image, op_seed, normalization)
    return to_uint8(image)


def decode_image(image_bytes, channels: int):
  """An encoded image (JPEG, PNG, BMP, GIF) as uint8 pixels with `channels` channels.

  The one decoder of image files: the input pipeline's, and the start-up check's and the
  statistics' of an image folder, so that all three see the same pixels. 16-bit PNGs come
  out rescaled to 8 bits (TensorFlow's conversion, a shift by 8 bits). TensorFlow's own
  channel conversion covers JPEG and PNG; it refuses one channel of a BMP or GIF, whose
  pixels are therefore decoded as they are stored and converted here (colour to ITU-R 601
  luma, alpha dropped).
  """
  if channels == 3:
    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
  else:
    header = tf.strings.substr(image_bytes, 0, 4)
    image = tf.cond(
        tf.logical_or(tf.io.is_jpeg(image_bytes), tf.equal(header, b'\x89PNG')),
        lambda: tf.io.decode_image(image_bytes, channels=1, expand_animations=False),
        lambda: _to_one_channel(tf.io.decode_image(image_bytes, channels=0,
                                                   expand_animations=False)))
  image.set_shape([None, None, channels])
  return image


def _to_one_channel(image):
  """Grayscale of an image decoded with its own 1 to 4 channels (gray, gray + alpha, RGB,
  RGBA)."""
  stored = tf.shape(image)[-1]
  return tf.cond(stored < 3, lambda: image[..., :1],
                 lambda: tf.cast(tf.round(tf.image.rgb_to_grayscale(
                     tf.cast(image[..., :3], tf.float32))), tf.uint8))


def _decode_window(image_bytes, channels: int, window_fn):
  """Decodes only the window of a JPEG (fused op); other formats decode, then crop."""

  def jpeg():
    window = window_fn(tf.io.extract_jpeg_shape(image_bytes))
    return tf.io.decode_and_crop_jpeg(image_bytes, window, channels=channels)

  def other_format():
    image = decode_image(image_bytes, channels)
    return _window(image, window_fn(tf.shape(image)))

  image = tf.cond(tf.io.is_jpeg(image_bytes), jpeg, other_format)
  image.set_shape([None, None, channels])
  return image


def parse(text: str) -> Pipeline:
  """A `|`-separated string of ops."""
  parts = [part for part in text.split('|')]
  if not text.strip() or any(not part.strip() for part in parts):
    raise PreprocessError(f'preprocessing string {text!r} has an empty op: separate ops '
                          'with single |')
  return Pipeline(tuple(parse_op(part) for part in parts))


def names() -> list[str]:
  return sorted(_OPS)


def describe_ops() -> str:
  """Every op with its arguments and the first paragraph of its docstring."""
  lines = []
  for name in names():
    info = _OPS[name]
    doc = ' '.join(inspect.cleandoc(info.apply.__doc__).split('\n\n')[0].split())
    lines.append(f'{usage(info)}\n    {doc}')
  return '\n'.join(lines)


if __name__ == '__main__':
  if sys.argv[1:] not in ([], ['ops']):
    sys.exit('usage: python -m preprocessing [ops]   (lists the preprocessing ops)')
  print(describe_ops())
