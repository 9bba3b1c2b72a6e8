"""protocols.py: each protocol's crops against a NumPy statement of its paper's definition,
and the one-line refusals of protocols that cannot work."""

import numpy as np
import pytest
import tensorflow as tf

import protocols
from protocols import Protocol, ProtocolError


# --- The papers' definitions, written here independently of protocols.py: (top, left, side,
# mirrored) of each view of an image of height × width, for crops of `crop`.


def paper_ten_crop(height, width, crop):
  """AlexNet §4.1: "the four corner patches and the center patch as well as their horizontal
  reflections"."""
  patches = [(0, 0), (0, width - crop), (height - crop, 0), (height - crop, width - crop),
             ((height - crop) // 2, (width - crop) // 2)]
  return [(y, x, crop, mirror) for mirror in (False, True) for y, x in patches]


def paper_vgg_grid(height, width, crop, grid):
  """VGG §4.3: a regular grid × grid grid of crops over the image, and their flips."""
  ys = np.floor(np.linspace(0, height - crop, grid)).astype(int)
  xs = np.floor(np.linspace(0, width - crop, grid)).astype(int)
  return [(int(y), int(x), crop, mirror) for mirror in (False, True) for y in ys for x in xs]


def paper_googlenet(height, width, crop):
  """Szegedy et al. 2015 §10: the left, center and right squares (top, center, bottom for
  portraits); of each, the 4 corners and the center crop, and the square resized; mirrored."""
  side = min(height, width)
  if width >= height:
    squares = [(0, 0), (0, (width - side) // 2), (0, width - side)]
  else:
    squares = [(0, 0), ((height - side) // 2, 0), (height - side, 0)]
  views = []
  for top, left in squares:
    for y, x, _, _ in paper_ten_crop(side, side, crop)[:5]:
      views.append((top + y, left + x, crop))
    views.append((top, left, side))
  return [view + (mirror,) for mirror in (False, True) for view in views]


def as_tuples(windows):
  return [(int(w.top), int(w.left), w.side, w.mirror) for w in windows]


@pytest.mark.parametrize('height,width', [(256, 341), (384, 256), (224, 224), (40, 40)])
def test_crop_positions_follow_the_papers(height, width):
  crop = 224 if height >= 224 else 32
  short = min(height, width)
  assert as_tuples(Protocol('ten_crop').windows(height, width, short, crop)) == (
      paper_ten_crop(height, width, crop))
  assert as_tuples(Protocol('multi_scale').windows(height, width, short, crop)) == (
      paper_vgg_grid(height, width, crop, 5))
  assert as_tuples(Protocol('multi_scale', grid=3).windows(height, width, short, crop)) == (
      paper_vgg_grid(height, width, crop, 3))
  assert as_tuples(Protocol('googlenet_144').windows(height, width, short, crop)) == (
      paper_googlenet(height, width, crop))
  unmirrored = Protocol('ten_crop', mirror=False).windows(height, width, short, crop)
  assert as_tuples(unmirrored) == paper_ten_crop(height, width, crop)[:5]


def test_views_per_image_are_the_papers_counts():
  resolve = lambda text, flip=True: protocols.parse_one(text).resolve(224, False, '', flip)
  assert resolve('ten_crop').views_per_image == 10  # AlexNet, ResNet
  assert resolve('multi_scale').views_per_image == 150  # VGG: 3 scales × 50
  assert resolve('googlenet_144').views_per_image == 144  # 4 × 3 × 6 × 2
  assert resolve('center').views_per_image == 1
  assert resolve('ten_crop', flip=False).views_per_image == 5  # digits: no mirror images
  assert resolve('ten_crop(mirror=True)', flip=False).views_per_image == 10


def test_default_scales_are_the_papers_scaled_with_the_image():
  assert protocols.parse_one('ten_crop').resolve(224, False, '').scales == (256,)
  assert protocols.parse_one('multi_scale').resolve(224, False, '').scales == (256, 384, 512)
  assert protocols.parse_one('googlenet_144').resolve(224, False, '').scales == (
      256, 288, 320, 352)
  # AlexNet's recipe resizes to 256 for its 227 crops: ten_crop takes the recipe's 256.
  alexnet_eval = 'resize_short(256)|center_crop(227)'
  assert protocols.parse_one('ten_crop').resolve(227, False, alexnet_eval).scales == (256,)
  # Small images: the paper's numbers × image_size / 256, then padded by image_size / 8.
  assert protocols.parse_one('googlenet_144').resolve(32, True, '').scales == (32, 36, 40, 44)


def coordinate_image(height, width):
  """Pixels that say where they are: channel 0 the row, 1 the column, 2 their sum mod 256."""
  y, x = np.mgrid[:height, :width]
  return np.stack([y, x, (y + x) % 256], axis=-1).astype(np.uint8)


@pytest.mark.parametrize('height,width', [(40, 56), (56, 40)])
def test_views_hold_the_pixels_of_their_windows(height, width):
  """A photograph whose shorter side is already the scale: every view is its window's
  pixels (mirrored where the paper mirrors), or for GoogLeNet's whole squares the square
  resized."""
  image = coordinate_image(height, width)
  crop = 24
  for protocol in (Protocol('ten_crop', (40,), mirror=True),
                   Protocol('multi_scale', (40,), grid=3, mirror=True),
                   Protocol('googlenet_144', (40,), mirror=True)):
    views = protocols.crop_views(tf.constant(image), protocol, crop, small_images=False).numpy()
    definitions = protocol.windows(height, width, 40, crop)
    assert views.shape == (protocol.views_per_image, crop, crop, 3) == (
        len(definitions), crop, crop, 3)
    for view, (top, left, side, mirror) in zip(views, as_tuples(definitions)):
      window = image[top:top + side, left:left + side]
      if side != crop:
        window = np.round(tf.image.resize(window, [crop, crop]).numpy()).astype(np.uint8)
      np.testing.assert_array_equal(view, window[:, ::-1] if mirror else window)


def test_small_image_views_are_crops_of_the_padded_image():
  """Digits and CIFAR: crops of the image zero-padded by image_size / 8, as training's
  pad_random_crop; ten_crop's corners are its extreme positions."""
  image = (np.arange(64).reshape(8, 8, 1) + 1).astype(np.uint8)
  views = protocols.crop_views(tf.constant(image), Protocol('ten_crop', (8,), mirror=False), 8,
                               small_images=True).numpy()
  padded = np.pad(image, [(1, 1), (1, 1), (0, 0)])
  expected = [padded[y:y + 8, x:x + 8] for y, x in ((0, 0), (0, 2), (2, 0), (2, 2), (1, 1))]
  np.testing.assert_array_equal(views, np.stack(expected))


@pytest.mark.parametrize('text,message', [
    ('twelve_crop', "unknown protocol 'twelve_crop': use one of center, ten_crop, multi_scale, "
                    'googlenet_144'),
    ('ten_crop(256, 384)', 'ten_crop takes one shorter side'),
    ('multi_scale(256, -1)', 'scales and grid are positive whole numbers; got -1'),
    ('multi_scale(grid=0)', 'got 0'),
    ('googlenet_144(grid=3)', 'googlenet_144 takes no grid argument; it takes mirror'),
    ('center(256)', 'center takes no scales'),
    ('ten_crop(mirror=1)', 'mirror is True or False'),
    ('ten_crop(', "cannot read protocol 'ten_crop('"),
    ('', 'no protocol given'),
])
def test_bad_protocols_are_refused_in_one_line(text, message):
  with pytest.raises(ProtocolError, match=None) as error:
    protocols.parse(text)
  assert message in str(error.value) and '\n' not in str(error.value)


def test_crops_that_do_not_fit_the_image_are_refused():
  with pytest.raises(ProtocolError) as error:
    protocols.parse_one('ten_crop(200)').resolve(224, False, '')
  assert str(error.value) == ('protocol ten_crop: its 224×224 crops do not fit an image of '
                              'shorter side 200: use scales of at least 224')
  with pytest.raises(ProtocolError) as error:
    protocols.parse_one('googlenet_144(20, 32)').resolve(32, True, '')
  assert 'shorter side 20 + 2×4 padding: use scales of at least 24' in str(error.value)


def test_a_list_splits_at_the_commas_between_protocols():
  parsed = protocols.parse('center, multi_scale(256, 384, grid=3),ten_crop(mirror=False)')
  assert [str(p) for p in parsed] == ['center', 'multi_scale(256, 384, grid=3)',
                                      'ten_crop(mirror=False)']


@pytest.mark.parametrize('budget_bytes, passes_decoded', [(10**9, 1), (0, 2)])
def test_a_small_eval_split_is_decoded_once_and_replayed_from_memory(monkeypatch, budget_bytes,
                                                                      passes_decoded):
  """train.py's evaluations after the first replay the kept batches (the same arrays) where
  they fit the memory budget; otherwise every pass decodes the split again."""
  import input_pipeline

  source = input_pipeline.load_digits_source()
  made = []
  original = input_pipeline.eval_batches

  def counting_eval_batches(*args, **kwargs):
    made.append(1)
    return original(*args, **kwargs)

  monkeypatch.setattr(input_pipeline, 'eval_batches', counting_eval_batches)
  batches = protocols.EvalBatches(source, protocols.CENTER, 64, 32, '', budget_bytes)
  # 360 test digits in 6 batches of 64 (24 padding examples), 32 × 32 × 1 bytes each.
  assert batches.size_bytes == 6 * 64 * 32 * 32
  first, second = list(batches), list(batches)
  assert len(made) == passes_decoded
  assert batches.kept_in_memory == (passes_decoded == 1)
  assert len(first) == len(second) == 6
  for a, b in zip(first, second):
    for key in ('image', 'label', 'mask'):
      np.testing.assert_array_equal(a[key], b[key])
  assert sum(float(batch['mask'].sum()) for batch in second) == 360
