"""A network's recorded evaluation preprocessing, applied to decoded images without
TensorFlow, so that a loaded network (trained/network.py) classifies NumPy images
wherever JAX runs.

The evaluation view is a preprocessing string (preprocessing.py), such as
`resize_short(256)|center_crop(224)` or `center_crop(0.875)|resize(224)`. Its ops have no
randomness, and each is restated here in JAX with TensorFlow's arithmetic: bilinear
resizing with half-pixel centres and no antialiasing (`tf.image.resize`'s default), sizes
rounded half to even, centre windows of int(fraction × shorter side), luma weights of
`tf.image.rgb_to_grayscale`, and the uint8 rounding of `preprocessing.to_uint8`.
tests/trained/test_network.py checks the pixels against preprocessing.py's own. The
training-only ops (random crops, flips, colour and automated augmentation) have no place
in an evaluation view and are refused.
"""

import jax
import jax.numpy as jnp
import numpy as np

from op_strings import parse_call

# tf.image.rgb_to_grayscale's weights (ITU-R 601 luma).
LUMA = np.array([0.2989, 0.5870, 0.1140], np.float32)


class EvalViewError(ValueError):
  """An evaluation preprocessing string this module cannot apply."""


def _resize(image: jax.Array, height: int, width: int) -> jax.Array:
  if image.shape[0] == height and image.shape[1] == width:
    return image
  return jax.image.resize(image.astype(jnp.float32), (height, width, image.shape[2]),
                          method='linear', antialias=False)


def resize_short(image, size: int):
  shape = np.array(image.shape[:2], np.float32)
  scale = np.float32(size) / shape.min()
  height, width = np.round(shape * scale).astype(int)  # half to even, as tf.round
  return _resize(image, int(height), int(width))


def center_crop(image, size):
  short = min(image.shape[0], image.shape[1])
  side = int(np.float32(size) * np.float32(short)) if isinstance(size, float) else size
  if side > short or side <= 0:
    raise EvalViewError(f'center_crop({size}) does not fit an image of shorter side {short}')
  top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
  return image[top:top + side, left:left + side]


def resize(image, height: int, width: int | None = None):
  return _resize(image, height, height if width is None else width)


def grayscale_to_rgb(image):
  return jnp.repeat(image, 3, axis=-1)


def rgb_to_grayscale(image):
  return jnp.tensordot(image.astype(jnp.float32), LUMA, axes=[[-1], [0]])[..., None]


OPS = {'resize_short': resize_short, 'center_crop': center_crop, 'resize': resize,
       'grayscale_to_rgb': grayscale_to_rgb, 'rgb_to_grayscale': rgb_to_grayscale}
CHANNELS_AFTER = {'grayscale_to_rgb': 3, 'rgb_to_grayscale': 1}


def parse(text: str) -> list[tuple[str, tuple, dict]]:
  """The ops of an evaluation string, as (name, args, kwargs)."""
  ops = []
  for part in text.split('|'):
    try:
      call = parse_call(part.strip())
    except ValueError:
      call = None
    if call is None or call[0] not in OPS:
      name = part.strip()[:60]
      raise EvalViewError(f'evaluation op {name!r} is not one of {", ".join(OPS)}: use '
                          'predict.py, which applies every preprocessing op')
    ops.append(call)
  return ops


def input_channels(ops, network_channels: int) -> int:
  """The channels images have before the view converts them to the network's."""
  for name, _, _ in ops:
    if name in CHANNELS_AFTER:
      return 4 - CHANNELS_AFTER[name]  # the other of 1 and 3
  return network_channels


def as_channels(image: np.ndarray, channels: int) -> np.ndarray:
  """A decoded image (H×W, H×W×1, ×3 or ×4) with `channels` channels: grey repeated,
  colour as luma rounded to uint8 (the pipeline's decoder's conversion), alpha dropped."""
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4) or min(image.shape[:2]) < 1:
    raise EvalViewError(f'an image has shape {image.shape}: pass height × width (× 1, 3 or 4 '
                        'channels) arrays')
  if image.shape[-1] in (2, 4):
    image = image[..., :-1]  # alpha
  if image.shape[-1] == channels:
    return image
  if channels == 3:
    return np.repeat(image, 3, axis=-1)
  luma = np.tensordot(image.astype(np.float32), LUMA, axes=[[-1], [0]])[..., None]
  return np.clip(np.round(luma), 0, 255).astype(np.uint8)


def apply(text: str, image: np.ndarray, network_channels: int) -> np.ndarray:
  """`image` (uint8 or 0-255 floats) through the evaluation string: uint8, as the input
  pipeline hands it to the network."""
  ops = parse(text)
  x = jnp.asarray(as_channels(image, input_channels(ops, network_channels)))
  for name, args, kwargs in ops:
    x = OPS[name](x, *args, **kwargs)
  return np.asarray(jnp.clip(jnp.round(x.astype(jnp.float32)), 0, 255).astype(jnp.uint8))
