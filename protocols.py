"""Evaluation protocols: the views of each test image that the papers averaged, and the one
evaluation that train.py and evaluate.py both run.

    center                        the recipe's eval_preprocess view: what train.py reports
    ten_crop(S)                   the four corners and the centre of the image resized to
                                  shorter side S, and their mirror images: AlexNet §4.1,
                                  ResNet Table 3 (10 views)
    multi_scale(Q1, Q2, ..., grid=5)
                                  at each shorter side Q, a grid × grid regular grid of crops
                                  and their mirror images: VGG §3.2 and §4.2-4.3 (3 scales ×
                                  50 = 150 views by default)
    googlenet_144(Q1, Q2, Q3, Q4) at each Q, the left, centre and right squares (top, centre
                                  and bottom for portraits); of each, the four corners, the
                                  centre crop and the whole square resized; and their mirror
                                  images: Szegedy et al. 2015 §10 (4 × 3 × 6 × 2 = 144 views)

Every view is an image_size × image_size crop; an example's views are built together in
the input pipeline and evaluated together on the device, where the softmax is averaged
over them (training/steps.py, `eval_step`).

Mirror images are views only where the data's mirror images keep their class (the
data's `flip`: not for digits), unless `mirror=True` or `mirror=False` says otherwise.
Left out, the shorter sides are the paper's numbers (256 for ten_crop; 256, 384, 512;
256, 288, 320, 352) scaled by image_size / 224, except that ten_crop takes the recipe's own
resize_short where its eval view starts with one (AlexNet's 256 for 227 crops). Small
images (digits, CIFAR) are resized to Q × Q and zero-padded by image_size / 8 on every side,
as in training (pad_random_crop), and crops are taken from the padded image; their default
Q are the paper's numbers scaled by image_size / 256, so ten_crop's corners are training's
extreme pad-and-crop positions. VGG's dense evaluation (fully-connected layers as
convolutions over the whole image) is not built: it needs every network rewritten.
"""

import dataclasses
from typing import Any, Callable, Iterator

import jax
import tensorflow as tf

import input_pipeline
import preprocessing
from training import steps


class ProtocolError(ValueError):
  """An evaluation protocol cannot work; the message says what to change."""


# --- Geometry: where each view lies in the resized image --------------------------------------
# Written with + - * // only, so that the same statement serves Python integers (the tests'
# NumPy checks) and the scalar tensors of an image whose size is known only at run time.


@dataclasses.dataclass(frozen=True)
class Window:
  """One view: the `side` × `side` square at (`top`, `left`) of the resized image, resized
  to the crop size where larger, and mirrored left-right if `mirror`."""

  top: Any
  left: Any
  side: int
  mirror: bool = False


def five_crops(height, width, crop: int, top=0, left=0) -> list[Window]:
  """The four corners and the centre of the height × width region at (top, left)."""
  bottom, right = top + height - crop, left + width - crop
  return [Window(top, left, crop), Window(top, right, crop), Window(bottom, left, crop),
          Window(bottom, right, crop),
          Window(top + (height - crop) // 2, left + (width - crop) // 2, crop)]


def with_mirrors(windows: list[Window]) -> list[Window]:
  """The windows, then each of them mirrored: the "horizontal reflections" of every paper."""
  return windows + [dataclasses.replace(w, mirror=True) for w in windows]


def grid_crops(height, width, crop: int, grid: int) -> list[Window]:
  """A grid × grid regular grid of crops spanning the image, corners included (VGG §4.3);
  one crop is the centre."""
  if grid == 1:
    return [five_crops(height, width, crop)[-1]]
  return [Window(i * (height - crop) // (grid - 1), j * (width - crop) // (grid - 1), crop)
          for i in range(grid) for j in range(grid)]


def googlenet_crops(height, width, short_side: int, crop: int) -> list[Window]:
  """Of the three short_side squares along the longer side (start, centre, end), the four
  corners, the centre and the whole square (resized later): Szegedy et al. 2015 §10."""
  windows = []
  for k in range(3):
    # The shorter side equals short_side, so one of the two offsets is always 0.
    top, left = (height - short_side) * k // 2, (width - short_side) * k // 2
    windows += five_crops(short_side, short_side, crop, top, left)
    windows.append(Window(top, left, short_side))
  return windows


# --- Protocols ---------------------------------------------------------------------------------

# The paper's shorter sides for 224 × 224 crops.
PAPER_SCALES = {
    'ten_crop': (256,),  # AlexNet §2, ResNet §3.4
    'multi_scale': (256, 384, 512),  # VGG §4.2, for models trained with S in [256, 512]
    'googlenet_144': (256, 288, 320, 352),  # Szegedy et al. 2015 §10
}
KINDS = ('center',) + tuple(PAPER_SCALES)
VGG_GRID = 5  # VGG §4.3: "a regular 5 × 5 grid with 2 flips", 50 crops per scale


@dataclasses.dataclass(frozen=True)
class Protocol:
  """One protocol; `scales` are the shorter sides the image is resized to (empty: the
  defaults, filled in by `resolve`)."""

  kind: str
  scales: tuple[int, ...] = ()
  grid: int = VGG_GRID
  # Mirror images as views too; None: where the data's mirror images keep their class
  # (not for digits: a mirrored 2 is no 2), as training's flips.
  mirror: bool | None = None

  def __str__(self):
    arguments = [str(q) for q in self.scales]
    if self.kind == 'multi_scale' and self.grid != VGG_GRID:
      arguments.append(f'grid={self.grid}')
    if self.mirror is False:
      arguments.append('mirror=False')
    return f'{self.kind}({", ".join(arguments)})' if arguments else self.kind

  @property
  def views_per_image(self) -> int:
    if self.kind == 'center':
      return 1
    per_scale = {'ten_crop': 5, 'multi_scale': self.grid**2, 'googlenet_144': 18}[self.kind]
    return per_scale * max(1, len(self.scales)) * (1 if self.mirror is False else 2)

  def windows(self, height, width, short_side: int, crop: int) -> list[Window]:
    """The views of one scale: an image of height × width whose shorter side is short_side."""
    if self.kind == 'ten_crop':
      windows = five_crops(height, width, crop)
    elif self.kind == 'multi_scale':
      windows = grid_crops(height, width, crop, self.grid)
    elif self.kind == 'googlenet_144':
      windows = googlenet_crops(height, width, short_side, crop)
    else:
      raise ProtocolError(f'{self.kind} has no crop windows: it is the recipe\'s eval view')
    return windows if self.mirror is False else with_mirrors(windows)

  def resolve(self, image_size: int, small_images: bool, eval_preprocess: str,
              flip: bool = True) -> 'Protocol':
    """This protocol with its default scales and mirroring (`flip`: whether the data's
    mirror images keep their class) filled in, checked to fit image_size crops."""
    if self.kind == 'center':
      return self
    scales = self.scales
    if not scales:
      first_eval_op = preprocessing.parse(eval_preprocess).ops[0] if eval_preprocess else None
      if small_images:
        scales = tuple(round(q * image_size / 256) for q in PAPER_SCALES[self.kind])
      elif (self.kind == 'ten_crop' and first_eval_op is not None
            and first_eval_op.info.name == 'resize_short'):
        scales = (first_eval_op.args[0],)
      else:
        scales = tuple(round(q * image_size / 224) for q in PAPER_SCALES[self.kind])
    padding = image_padding(image_size, small_images)
    for q in scales:
      if q + 2 * padding < image_size:
        shown = f'{q} + 2×{padding} padding' if padding else f'{q}'
        raise ProtocolError(
            f'protocol {self.kind}: its {image_size}×{image_size} crops do not fit an image '
            f'of shorter side {shown}: use scales of at least {image_size - 2 * padding}')
    mirror = flip if self.mirror is None else self.mirror
    return dataclasses.replace(self, scales=tuple(scales), mirror=mirror)


CENTER = Protocol('center')


def image_padding(image_size: int, small_images: bool) -> int:
  """Zero padding around small images before cropping, as pad_random_crop's in training."""
  return image_size // 8 if small_images else 0


def _split_top_level(text: str) -> list[str]:
  """`text` split at the commas outside parentheses."""
  parts, depth, current = [], 0, ''
  for char in text:
    depth += {'(': 1, ')': -1}.get(char, 0)
    if char == ',' and depth == 0:
      parts.append(current)
      current = ''
    else:
      current += char
  return parts + [current]


def parse_one(text: str) -> Protocol:
  """`kind` or `kind(scale, ..., grid=N)`."""
  text = text.strip()
  try:
    call = preprocessing.parse_call(text)
  except ValueError:
    raise ProtocolError(f'{text}: arguments are whole numbers') from None
  if call is None:
    raise ProtocolError(f'cannot read protocol {text!r}: write a name such as ten_crop, or '
                        'one with its scales such as multi_scale(256, 384, 512)')
  kind, scales, options = call
  if kind not in KINDS:
    raise ProtocolError(f'unknown protocol {kind!r}: use one of {", ".join(KINDS)}')
  allowed = {'center': set(), 'multi_scale': {'grid', 'mirror'}}.get(kind, {'mirror'})
  if set(options) - allowed:
    raise ProtocolError(f'{text}: {kind} takes no {", ".join(sorted(set(options) - allowed))} '
                        f'argument' + (f'; it takes {" and ".join(sorted(allowed))}'
                                       if allowed else ''))
  grid = options.get('grid', VGG_GRID)
  mirror = options.get('mirror')
  if mirror is not None and not isinstance(mirror, bool):
    raise ProtocolError(f'{text}: mirror is True or False; got {mirror!r}')
  if kind == 'center' and scales:
    raise ProtocolError(f'{text}: center takes no scales (it is the recipe\'s eval view)')
  if kind == 'ten_crop' and len(scales) > 1:
    raise ProtocolError(f'{text}: ten_crop takes one shorter side, such as ten_crop(256)')
  for value in scales + (grid,):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
      raise ProtocolError(f'{text}: scales and grid are positive whole numbers; got {value!r}')
  return Protocol(kind, scales, grid, mirror)


def parse(text: str) -> list[Protocol]:
  """A comma-separated list of protocols, e.g. 'center,ten_crop,multi_scale(256, 384)'."""
  if not text.strip():
    raise ProtocolError(f'no protocol given: use one or more of {", ".join(KINDS)}')
  return [parse_one(part) for part in _split_top_level(text)]


# --- Views in the input pipeline ---------------------------------------------------------------


def scaled(image, shorter_side: int, small_images: bool, padding: int):
  """The image a protocol crops at one scale, as float32: photographs resized so that the
  shorter side is `shorter_side`; small images resized to it squarely and zero-padded."""
  if small_images:
    image = preprocessing.resize(image, None, shorter_side)
    image = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
  else:
    image = preprocessing.resize_short(image, None, shorter_side)
  return tf.cast(image, tf.float32)


def crop_views(image, protocol: Protocol, crop: int, small_images: bool):
  """All of a protocol's views of one decoded image (height × width × channels), stacked:
  views × crop × crop × channels, uint8."""
  padding = image_padding(crop, small_images)
  views = []
  for q in protocol.scales:
    base = scaled(image, q, small_images, padding)
    shape = tf.shape(base)
    for window in protocol.windows(shape[0], shape[1], q + 2 * padding, crop):
      view = base[window.top:window.top + window.side, window.left:window.left + window.side]
      if window.side != crop:
        view = tf.image.resize(view, [crop, crop], method='bilinear')
      view.set_shape([crop, crop, image.shape[-1]])
      views.append(tf.reverse(view, [1]) if window.mirror else view)
  return preprocessing.to_uint8(tf.stack(views))


def example_views(protocol: Protocol, source: input_pipeline.Source, crop: int,
                  channels: int) -> Callable:
  """A function from one stored example image (encoded bytes or an array) to its views,
  in `channels` channels (the run's, which a recipe may convert to)."""

  def views(stored):
    image = stored
    if source.encoded:
      image = tf.io.decode_image(stored, channels=source.channels, expand_animations=False)
      image.set_shape([None, None, source.channels])
    if channels == 3 and source.channels == 1:
      image = preprocessing.grayscale_to_rgb(image, None)
    elif channels == 1 and source.channels == 3:
      image = preprocessing.rgb_to_grayscale(image, None)
    return crop_views(image, protocol, crop, source.small_images)

  return views


# --- The evaluation ------------------------------------------------------------------------------


class EvalBatches:
  """The eval split's batches under one protocol, for a run that evaluates again and again
  (train.py, every few epochs).

  Decoding and preprocessing the split is much of a small dataset's evaluation time on
  a CPU, and gives the same batches each time. Where the batches (uint8 images, with
  the padding examples) take at most `memory_budget_bytes`, the first pass keeps them
  and later passes replay them from memory; larger splits (ImageNet's 50,000 validation
  images at 224 px are 7.5 GB) are read again each time.
  """

  def __init__(self, source: input_pipeline.Source, protocol: Protocol, local_batch_size: int,
               image_size: int, eval_preprocess: str, memory_budget_bytes: int = 0):
    _, channels = input_pipeline.checked_pipeline(source, image_size, eval_preprocess,
                                                  'eval_preprocess')
    views = None
    if protocol.kind != 'center':
      views = example_views(protocol, source, image_size, channels)
    devices = jax.local_device_count()
    self._make = lambda: input_pipeline.eval_batches(
        source, local_batch_size, image_size, eval_preprocess, views=views,
        views_per_image=protocol.views_per_image, devices=devices)
    examples = (input_pipeline.num_eval_steps(source, local_batch_size)
                * input_pipeline.padded_eval_batch_size(local_batch_size, devices))
    self.size_bytes = examples * protocol.views_per_image * image_size**2 * channels
    self.kept_in_memory = self.size_bytes <= memory_budget_bytes
    self._kept = None

  def __iter__(self) -> Iterator[dict]:
    if self._kept is not None:
      yield from self._kept
      return
    kept = [] if self.kept_in_memory else None
    for batch in self._make():
      if kept is not None:
        kept.append(batch)
      yield batch
    self._kept = kept  # only after a whole pass


def evaluate(parallel_eval, models: tuple[steps.EvalModel, ...], source: input_pipeline.Source,
             protocol: Protocol, local_batch_size: int, image_size: int, eval_preprocess: str,
             mesh, batches: EvalBatches | None = None) -> tuple[list[dict[str, float]], int]:
  """Metrics of each model (and, with several, their ensemble last) over the whole eval
  split under `protocol` (resolved), and the number of examples: what train.py reports
  each evaluation, with CENTER, and what evaluate.py reports. `batches`: the same split's
  EvalBatches of an earlier call, to replay (train.py's)."""
  if batches is None:
    batches = EvalBatches(source, protocol, local_batch_size, image_size, eval_preprocess)
  return steps.evaluate(parallel_eval, models, batches, mesh)
