"""The preprocessing ops, each against a NumPy re-statement of its paper's definition."""

import numpy as np
import pytest
from sklearn.datasets import load_sample_image
import tensorflow as tf

import preprocessing
from preprocessing import PreprocessError, Size


def seeds(count: int):
  return [tf.constant([7, index], tf.int64) for index in range(count)]


def coordinates(height: int, width: int) -> np.ndarray:
  """An image whose pixels say where they are: channel 0 the row, 1 the column."""
  rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing='ij')
  return np.stack([rows, columns, np.zeros_like(rows)], axis=-1).astype(np.uint8)


def run(text: str, image, seed=(0, 0), channels: int = 3, encoded: bool = False) -> np.ndarray:
  pipeline = preprocessing.parse(text)
  return pipeline(tf.constant(image), tf.constant(seed, tf.int64), channels, encoded).numpy()


def apply_op(text: str, image, seed) -> np.ndarray:
  """One op's own output (float where the op computes in float), before the uint8 rounding."""
  return preprocessing.parse(text).ops[0](tf.constant(image), seed).numpy()


def test_parse_reads_arguments_and_prints_back():
  pipeline = preprocessing.parse('resize_short(256)|random_crop(224)|flip_lr|pca_lighting(0.1)')
  assert str(pipeline) == 'resize_short(256)|random_crop(224)|flip_lr|pca_lighting(0.1)'
  assert str(preprocessing.parse('inception_crop(224, min_area=0.25)')) == (
      'inception_crop(224, min_area=0.25)')


@pytest.mark.parametrize('text, message', [
    ('inception_crp(224)', "unknown preprocessing op 'inception_crp' .*did you mean inception_crop"),
    ('random_crop(224, 3)', 'random_crop takes random_crop\\(size\\)'),
    ('random_crop()', "missing a required argument: 'size'"),
    ("random_crop('big')", 'size is a int'),
    ('random_crop(22.5)', 'size is a int'),
    ('scale_jitter(512, 256)', 'need low <= high'),
    ('inception_crop(224)||flip_lr', 'empty op'),
    ('random_crop(224', 'cannot read preprocessing op'),
    ('center_crop(1.5)', 'a fraction of the shorter side is in'),
])
def test_bad_strings_are_one_line_errors(text, message):
  with pytest.raises(PreprocessError, match=message) as error:
    preprocessing.parse(text).output(Size(), 3)
  assert '\n' not in str(error.value)


def test_sizes_are_tracked_and_checked():
  check = lambda text, size: preprocessing.parse(text).check(size, 3, 224, 'train_preprocess')
  assert check('resize_short(256)|random_crop(224)', Size()) == 3
  assert check('scale_jitter(256, 512)|random_crop(224)|flip_lr', Size()) == 3
  with pytest.raises(PreprocessError, match='random_crop takes a 224×224 crop from an image '
                     'whose shorter side is 200'):
    check('resize_short(200)|random_crop(224)', Size())
  with pytest.raises(PreprocessError, match='makes images of shorter side 256, not image_size'):
    check('resize_short(256)|flip_lr', Size())
  with pytest.raises(PreprocessError, match='makes images 32×32, not image_size 224'):
    check('resize(32)', Size())
  with pytest.raises(PreprocessError, match='pad_random_crop takes a 41×41 crop from an image '
                     'whose shorter side is 32 \\+ 2×4 padding'):
    preprocessing.parse('pad_random_crop(41, 4)').output(Size.exact(32), 3)
  with pytest.raises(PreprocessError, match='works on 3-channel images; these have 1'):
    preprocessing.parse('pca_lighting').output(Size.exact(32), 1)
  assert preprocessing.parse('grayscale_to_rgb|pca_lighting').output(Size.exact(32), 1)[1] == 3


def test_inception_crop_windows_follow_the_area_and_aspect_ranges():
  """GoogLeNet §6: 8 %–100 % of the area, aspect ratio 3/4–4/3 (or the whole image when no
  window fits after the attempts)."""
  op = preprocessing.parse('inception_crop(32)').ops[0]
  shape = tf.constant([300, 400, 3])
  areas, aspects = [], []
  for seed in seeds(300):
    y, x, height, width = op.info.crop_window(shape, seed, *op.args).numpy()
    assert 0 <= y and y + height <= 300 and 0 <= x and x + width <= 400
    areas.append(height * width / (300 * 400))
    aspects.append(width / height)
  areas, aspects = np.array(areas), np.array(aspects)
  whole = areas == 1.0
  assert np.all((areas[~whole] >= 0.08 - 0.01) & (areas[~whole] <= 1.0))
  # Rounding to whole pixels moves the ratio a little beyond the range's ends.
  assert np.all((aspects[~whole] >= 0.75 * 0.97) & (aspects[~whole] <= 4 / 3 * 1.03))
  assert areas.min() < 0.15 and areas.max() > 0.8  # the range is used, not one corner of it
  narrow = preprocessing.parse('inception_crop(32, min_area=0.5, max_area=0.6)').ops[0]
  for seed in seeds(50):
    _, _, height, width = narrow.info.crop_window(shape, seed, *narrow.args,
                                                  **dict(narrow.kwargs)).numpy()
    assert height * width / (300 * 400) == pytest.approx(0.55, abs=0.06) or (
        height, width) == (300, 400)


def test_random_crop_is_a_window_of_the_image_at_a_uniform_position():
  image = coordinates(12, 10)
  positions = []
  for seed in seeds(400):
    crop = run('random_crop(8)', image, seed)
    y, x = crop[0, 0, 0], crop[0, 0, 1]
    np.testing.assert_array_equal(crop, image[y:y + 8, x:x + 8])
    positions.append((y, x))
  counts = np.zeros((5, 3))
  for y, x in positions:
    counts[y, x] += 1
  assert counts.min() > 0  # every one of the 5 × 3 positions is drawn (400 draws)


@pytest.mark.parametrize('text, rows, columns', [
    ('center_crop(6)', slice(3, 9), slice(2, 8)),
    ('center_crop(0.5)', slice(3, 8), slice(2, 7)),  # half of the shorter side 10: 5 pixels
])
def test_center_crop_is_the_centred_square(text, rows, columns):
  image = coordinates(12, 10)
  np.testing.assert_array_equal(run(text, image), image[rows, columns])


def test_pad_random_crop_is_a_window_of_the_zero_padded_image():
  """He et al. 2016 §4.2: 4 pixels padded on each side, a random 32 × 32 crop."""
  image = np.random.default_rng(0).integers(1, 255, (32, 32, 3), dtype=np.uint8)
  padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
  offsets = set()
  for seed in seeds(60):
    crop = run('pad_random_crop(32, 4)', image, seed)
    matches = [(y, x) for y in range(9) for x in range(9)
               if np.array_equal(padded[y:y + 32, x:x + 32], crop)]
    assert len(matches) == 1
    offsets.add(matches[0])
  assert len(offsets) > 20


def test_resize_short_keeps_the_aspect_and_scale_jitter_draws_the_shorter_side():
  image = np.zeros((60, 90, 3), np.uint8)
  assert run('resize_short(40)', image).shape == (40, 60, 3)
  sides = {run('scale_jitter(20, 24)', image, seed).shape[0] for seed in seeds(60)}
  assert sides == {20, 21, 22, 23, 24}  # VGG's S drawn from [S_min, S_max], both included
  assert run('resize(16, 20)', image).shape == (16, 20, 3)


def test_resize_to_the_same_size_leaves_pixels_unchanged():
  image = np.random.default_rng(0).integers(0, 255, (8, 8, 1), dtype=np.uint8)
  np.testing.assert_array_equal(run('resize(8)', image, channels=1), image)


def test_flip_lr_mirrors_about_half_the_time():
  image = coordinates(4, 6)
  flips = 0
  for seed in seeds(200):
    out = run('flip_lr', image, seed)
    if np.array_equal(out, image[:, ::-1]):
      flips += 1
    else:
      np.testing.assert_array_equal(out, image)
  assert 70 < flips < 130


def test_pca_lighting_adds_the_eigenvector_noise_of_alexnet():
  """Krizhevsky et al. 2012 §4.1: I_xy += [p1 p2 p3][a1 λ1, a2 λ2, a3 λ3]ᵀ, a_i ~ N(0, 0.1²),
  one draw per image, the same offset for every pixel."""
  image = np.full((4, 4, 3), 128.0, np.float32)
  eigenvectors = np.array(preprocessing.IMAGENET_PCA_EIGENVECTORS)
  eigenvalues = np.array(preprocessing.IMAGENET_PCA_EIGENVALUES)
  alphas = []
  for seed in seeds(2000):
    offset = apply_op('pca_lighting(0.1)', image, seed) - image
    np.testing.assert_allclose(offset, np.broadcast_to(offset[0, 0], offset.shape), atol=1e-4)
    alphas.append(np.linalg.solve(eigenvectors, offset[0, 0] / 255.0) / eigenvalues)
  alphas = np.array(alphas)
  np.testing.assert_allclose(alphas.mean(axis=0), 0.0, atol=0.01)
  np.testing.assert_allclose(alphas.std(axis=0), 0.1, rtol=0.08)


def test_color_distort_keeps_its_ranges():
  """On a grey image saturation, hue and contrast change nothing, so the output is the input
  moved by the brightness delta, within ±32 of 255 (Inception's max_delta 32/255)."""
  grey = np.full((4, 4, 3), 100.0, np.float32)
  deltas = []
  for seed in seeds(200):
    out = apply_op('color_distort', grey, seed)
    np.testing.assert_allclose(out, np.broadcast_to(out[0, 0, 0], out.shape), atol=1e-3)
    deltas.append(out[0, 0, 0] - 100.0)
  deltas = np.array(deltas)
  assert deltas.min() >= -32.01 and deltas.max() <= 32.01
  assert deltas.min() < -25 and deltas.max() > 25
  colour = np.random.default_rng(0).uniform(0, 255, (8, 8, 3)).astype(np.float32)
  outputs = [apply_op('color_distort', colour, seed) for seed in seeds(20)]
  assert all(o.min() >= 0 and o.max() <= 255 for o in outputs)
  assert len({o.tobytes() for o in outputs}) == 20


def test_ops_are_seeded_per_example():
  image = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
  text = 'scale_jitter(32, 48)|random_crop(32)|flip_lr|pca_lighting|color_distort'
  first = run(text, image, (3, 9))
  np.testing.assert_array_equal(first, run(text, image, (3, 9)))
  assert not np.array_equal(first, run(text, image, (3, 10)))
  assert first.dtype == np.uint8 and first.shape == (32, 32, 3)


@pytest.mark.parametrize('text', ['inception_crop(32)|flip_lr', 'center_crop(0.875)|resize(32)',
                                  'random_crop(40)|resize(32)', 'resize_short(36)|center_crop(32)'])
def test_the_fused_decode_gives_the_pixels_of_decoding_first(text):
  """A JPEG's first crop is decoded inside its window only: the same window as decoding the
  whole image and cropping, and the same pixels up to the chroma upsampling at the window's
  edges. A PNG always decodes whole: exactly the same pixels."""
  photo = load_sample_image('china.jpg')[::4, ::4]  # a real photograph, 107 × 160
  for encode, tolerance in ((tf.io.encode_png, 0), (tf.io.encode_jpeg, 4)):
    encoded = encode(photo)
    decoded = tf.io.decode_image(encoded, channels=3).numpy()
    for seed in [(1, 2), (5, 6)]:
      fused = run(text, encoded, seed, encoded=True).astype(int)
      difference = np.abs(fused - run(text, decoded, seed).astype(int))
      assert difference.max() <= tolerance and difference.mean() < 0.05


def test_channel_conversions():
  grey = np.random.default_rng(0).integers(0, 255, (6, 6, 1), dtype=np.uint8)
  rgb = run('grayscale_to_rgb', grey, channels=1)
  assert rgb.shape == (6, 6, 3) and np.array_equal(rgb[..., 0], grey[..., 0])
  assert run('rgb_to_grayscale', rgb).shape == (6, 6, 1)


def test_every_op_is_listed_with_its_arguments():
  listing = preprocessing.describe_ops()
  for name in preprocessing.names():
    assert f'\n{name}(' in f'\n{listing}'
  assert 'inception_crop(size, min_area=0.08, max_area=1.0, min_aspect=0.75' in listing
