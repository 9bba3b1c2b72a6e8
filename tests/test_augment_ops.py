"""The automated augmentation ops (rand_augment, auto_augment, trivial_augment) and
random_erasing: each sub-op against the pixels timm and torchvision make with PIL
(tests/fixtures/augment, made by make_augment_fixtures.py in their environment), then the
ops through the op strings: seeding, shapes, grey images, argument checks, and random
erasing's statistics in the run's normalisation.

Tolerances, per sub-op, against the reference pixels:
  * photometric and look-up-table ops (AutoContrast, Equalize, Invert, Posterize, Solarize,
    SolarizeAdd, Color, Contrast, Brightness, Sharpness): equal, pixel for pixel;
  * geometric ops (Rotate, ShearX/Y, TranslateX/Y): the same pixels are filled (PIL's test
    of the source point is reproduced, so edges agree) and no pixel differs by more than
    one level; up to 10 % of them may differ by one, because the bilinear interpolation
    runs in float32 and PIL's in double, and both truncate: a value that lands on an
    integer falls on either side (measured: at most 4.2 % of a photograph's pixels, 7.8 % of
    the 8 × 8 digit's, mean absolute difference at most 0.08 levels).
"""

import ast
import os

import numpy as np
import pytest
import tensorflow as tf

import augment_policies
import input_pipeline
import preprocessing
from preprocessing import PreprocessError, Size

FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'augment',
                       'augment_references.npz')
REFERENCES = np.load(FIXTURE)
FAMILIES = ('rand_augment', 'auto_augment', 'trivial_augment')
CASES = sorted(key for key in REFERENCES.files if key.split('/')[0] in FAMILIES)
# One reference case of each family's sub-op runs in the fast subset, the others (225 in
# all, about 1.5 minutes on two cores) in the whole suite only; which one rotates with the
# op, so that the sample spans levels, signs and images (photographs and the grey digit).
FAST_CASES = frozenset(
    group[index % len(group)] for index, group in enumerate(
        [case for case in CASES if tuple(case.split('/')[:2]) == op]
        for op in sorted({tuple(case.split('/')[:2]) for case in CASES})))
GEOMETRIC = {'Rotate', 'ShearX', 'ShearY', 'TranslateX', 'TranslateY', 'TranslateXRel',
             'TranslateYRel'}

IMAGENET = input_pipeline.IMAGENET_MEAN_STD
GREY = input_pipeline.GRAYSCALE_MEAN_STD


def photo(name: str = 'coffee') -> np.ndarray:
  return REFERENCES[f'input/{name}']


def sub_op(family: str, name: str, level: str, sign: str, image: np.ndarray, fill) -> np.ndarray:
  """One sub-op at a fixed magnitude and sign, as the reference applied it."""
  pixels = tf.constant(image, tf.float32)
  if family == 'rand_augment':
    output = augment_policies.RAND_AUGMENT_OPS[name](
        pixels, tf.constant(float(level), tf.float64), tf.constant(sign == '-'),
        tf.constant(fill, tf.float32))
  else:
    bins = 10 if family == 'auto_augment' else augment_policies.TRIVIAL_AUGMENT_BINS
    values, signed = augment_policies.torchvision_magnitudes(bins)[name]
    magnitude = 0.0 if level == 'None' else float(values[int(level)])
    if signed and sign == '-':
      magnitude = -magnitude
    output = augment_policies.TORCHVISION_OPS[name](
        pixels, tf.constant(magnitude, tf.float64), tf.zeros([image.shape[-1]]))
  return output.numpy()


@pytest.mark.parametrize('case', [case if case in FAST_CASES
                                  else pytest.param(case, marks=pytest.mark.slow)
                                  for case in CASES])
def test_sub_ops_give_the_pixels_of_timm_and_torchvision(case):
  family, name, level, sign, image_name = case.split('/')
  image = photo(image_name)
  output = sub_op(family, name, level, sign, image, REFERENCES[f'fill/{image_name}'])
  reference = REFERENCES[case].astype(int)
  assert output.shape == reference.shape
  difference = np.abs(output.astype(int) - reference)
  if name in GEOMETRIC:
    assert difference.max() <= 1, f'{case}: {difference.max()} levels apart'
    assert np.mean(difference > 0) <= 0.10, f'{case}: {np.mean(difference > 0):.3f} differ'
    assert difference.mean() <= 0.15
  else:
    assert difference.max() == 0, f'{case}: {np.mean(difference > 0):.4f} of the pixels differ'


def test_the_bins_and_the_imagenet_policy_are_torchvisions():
  for key in REFERENCES.files:
    if not key.startswith('tables/') or key == 'tables/imagenet_policy':
      continue
    _, bins, name = key.split('/')
    if name.startswith('Translate') and bins == '10':
      continue  # AutoAugment's translations depend on the image; its ImageNet policy has none
    values, _ = augment_policies.torchvision_magnitudes(int(bins))[name]
    reference = np.atleast_1d(REFERENCES[key]).astype(np.float32)
    assert np.array_equal(np.broadcast_to(values, reference.shape), reference), key
  policy = ast.literal_eval(str(REFERENCES['tables/imagenet_policy']))
  assert [tuple(sub) for sub in policy] == list(augment_policies.AUTO_AUGMENT_POLICIES['imagenet'])


def test_magnitude_zero_leaves_the_image_where_timm_does():
  image = tf.constant(photo('astronaut'), tf.float32)
  fill = tf.constant((124.0, 116.0, 104.0))
  for name, op in augment_policies.RAND_AUGMENT_OPS.items():
    for negate in (False, True):
      output = op(image, tf.constant(0.0, tf.float64), tf.constant(negate), fill).numpy()
      if name == 'PosterizeIncreasing':  # keeps 4 bits at magnitude 0
        assert np.array_equal(output, photo('astronaut') & 0xF0)
      elif name not in ('AutoContrast', 'Equalize', 'Invert'):
        assert np.array_equal(output, photo('astronaut')), name


def test_posterize_at_magnitude_ten_keeps_no_bits():
  """Pillow before 10 made 0 bits black; current Pillow refuses them (timm would fail)."""
  output = augment_policies.RAND_AUGMENT_OPS['PosterizeIncreasing'](
      tf.constant(photo(), tf.float32), tf.constant(10.0, tf.float64), tf.constant(False),
      tf.zeros([3]))
  assert not np.any(output.numpy())


# --- Through the op strings ------------------------------------------------------------------


def run(text: str, image: np.ndarray, seed=(0, 0), normalization=IMAGENET) -> np.ndarray:
  pipeline = preprocessing.parse(text)
  return pipeline(tf.constant(image), tf.constant(seed, tf.int64), image.shape[-1], False,
                  normalization=normalization).numpy()


POLICIES = ['rand_augment(2, 9, 0.5)', 'auto_augment', 'trivial_augment',
            'random_erasing(0.5, max_count=2)']


@pytest.mark.parametrize('text', POLICIES)
def test_ops_are_seeded_and_keep_shape_and_dtype(text):
  image = photo()
  first = run(text, image, (3, 1))
  assert first.dtype == np.uint8 and first.shape == image.shape
  assert np.array_equal(first, run(text, image, (3, 1)))
  outputs = {run(text, image, (3, seed)).tobytes() for seed in range(16)}
  assert len(outputs) >= 4, f'{text}: {len(outputs)} different images of 16 seeds'


@pytest.mark.parametrize('text', POLICIES)
def test_grey_images_and_float_input(text):
  for name in ('camera', 'digit'):
    image = photo(name)
    output = run(text, image, (5, 2), normalization=GREY)
    assert output.shape == image.shape and output.dtype == np.uint8
    # Pixels arrive uint8 or float on the 0-255 scale: the same image either way.
    assert np.array_equal(output, run(text, image.astype(np.float32), (5, 2), GREY))


@pytest.mark.parametrize('text', POLICIES)
def test_ops_run_in_tf_data_on_images_of_unknown_size(text):
  pipeline = preprocessing.parse(text)
  images = [photo('coffee'), photo('astronaut')]
  dataset = tf.data.Dataset.from_generator(
      lambda: iter(images), output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
  dataset = dataset.enumerate().map(
      lambda index, image: pipeline(image, tf.stack([index, 7]), 3, False,
                                    normalization=IMAGENET), num_parallel_calls=2)
  outputs = list(dataset.as_numpy_iterator())
  assert [o.shape for o in outputs] == [i.shape for i in images]
  assert np.array_equal(outputs[0], run(text, images[0], (0, 7)))


@pytest.mark.parametrize('text', POLICIES)
def test_a_known_image_size_stays_known(text):
  pipeline = preprocessing.parse(text)
  traced = tf.function(lambda image, seed: pipeline(image, seed, 3, False,
                                                    normalization=IMAGENET))
  output = traced.get_concrete_function(tf.TensorSpec([48, 72, 3], tf.uint8),
                                        tf.TensorSpec([2], tf.int64)).structured_outputs
  assert output.shape == (48, 72, 3)


def test_probability_zero_or_no_ops_leave_the_image():
  image = photo()
  for text in ('rand_augment(3, 9, 0.5, 0.0)', 'rand_augment(0, 9)', 'random_erasing(0.0)'):
    for seed in range(4):
      assert np.array_equal(run(text, image, (seed, 0)), image), text


def test_rand_augment_fills_with_the_normalisation_mean():
  assert preprocessing._fill_colour(IMAGENET, 3) == (124, 116, 104)
  assert preprocessing._fill_colour(GREY, 1) == (128,)
  assert preprocessing._fill_colour(None, 3) == (128, 128, 128)  # timm's default
  assert preprocessing._fill_colour(IMAGENET, 1) == (114,)  # converted to grey since


def test_the_stream_with_augmentation_reproduces_and_resumes_exactly():
  source = input_pipeline.load_digits_source()
  text = 'resize(16)|rand_augment(2, 9, 0.5)|random_erasing(0.5)'
  batches = input_pipeline.train_batches(source, 16, 16, seed=3, deterministic=True,
                                         preprocess=text)
  expected = [next(batches)['image'] for _ in range(3)]
  resumed = input_pipeline.train_batches(source, 16, 16, seed=3, deterministic=True,
                                         start_step=2, preprocess=text)
  assert np.array_equal(next(resumed)['image'], expected[2])
  assert expected[0].dtype == np.uint8 and expected[0].shape == (16, 16, 16, 1)


# --- Random erasing --------------------------------------------------------------------------


def erased_batch(text: str, image: np.ndarray, count: int, normalization=IMAGENET):
  """`count` outputs of one op string on `image`, seeds (0, 0) to (count - 1, 0)."""
  pipeline = preprocessing.parse(text)
  dataset = tf.data.Dataset.range(count).map(
      lambda index: pipeline(tf.constant(image), tf.stack([index, tf.constant(0, tf.int64)]),
                             image.shape[-1], False, normalization=normalization))
  return np.stack(list(dataset.batch(count).as_numpy_iterator())[0])


def test_random_erasing_erases_the_given_fraction_of_images():
  image = photo()
  outputs = erased_batch('random_erasing(0.25)', image, 800)
  erased = np.any(outputs != image, axis=(1, 2, 3))
  assert abs(erased.mean() - 0.25) < 0.05  # 4.9 standard deviations of 800 draws


def test_random_erasing_boxes_follow_the_area_and_aspect_ranges():
  image = np.full((60, 90, 3), 7, np.uint8)
  outputs = erased_batch('random_erasing(1.0)', image, 200)
  for output in outputs:
    rows, columns = np.nonzero(np.any(output != image, axis=-1))
    height, width = np.ptp(rows) + 1, np.ptp(columns) + 1
    assert len(rows) == height * width  # one rectangle
    assert 0.02 * 0.8 <= height * width / image[..., 0].size <= 1 / 3 * 1.2
    assert 0.3 * 0.7 <= height / width <= 1 / 0.3 / 0.7


def test_random_erasing_noise_is_standard_normal_after_normalisation():
  """Inside the boxes, (pixel − mean) / std is N(0, 1) rounded to a level and clipped to
  the 0-255 range: its median, spread and clipped fractions are those of that law."""
  image = np.full((48, 48, 3), 7, np.uint8)
  outputs = erased_batch('random_erasing(1.0, max_count=3)', image, 200)
  inside = np.any(outputs != image, axis=-1)
  mean, std = np.array(IMAGENET[0]), np.array(IMAGENET[1])
  normalised = (outputs[inside].astype(float) - mean) / std  # [pixels, 3]
  z = np.random.default_rng(0).standard_normal((200_000, 3))
  expected = (np.clip(np.round(mean + std * z), 0, 255) - mean) / std
  assert len(normalised) > 20_000
  assert np.all(np.abs(np.median(normalised, axis=0)) < 0.03)
  assert np.all(np.abs(normalised.std(axis=0) - expected.std(axis=0)) < 0.02)
  within_one = np.mean(np.abs(normalised) <= 1, axis=0)
  assert np.all(np.abs(within_one - np.mean(np.abs(expected) <= 1, axis=0)) < 0.01)
  assert np.all(np.abs(np.mean(outputs[inside] == 0, axis=0)
                       - np.mean(expected == -mean / std, axis=0)) < 0.005)


def test_random_erasing_needs_the_runs_normalisation():
  with pytest.raises(PreprocessError, match="random_erasing draws its noise in the run's"):
    run('random_erasing(1.0)', photo(), normalization=None)


# --- Arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize('text, message', [
    ("auto_augment('cifar10')", "unknown policy 'cifar10'; the policies are: imagenet"),
    ('auto_augment(3)', 'policy is a str'),
    ('rand_augment(-1, 9)', 'num_ops is at least 0'),
    ('rand_augment(2.5, 9)', 'num_ops is a int'),
    ('rand_augment(2, 11)', 'magnitude is on the 0-10 scale'),
    ('rand_augment(2, -1)', 'magnitude is on the 0-10 scale'),
    ('rand_augment(2, 9, -0.5)', 'magnitude_std is in \\[0, 100\\]'),
    ('rand_augment(2, 9, 101)', 'timm reads larger values as uniform sampling'),
    ('rand_augment(2, 9, 0.5, 1.5)', 'probability is a probability in \\[0, 1\\]'),
    ('rand_augment(2)', "missing a required argument: 'magnitude'"),
    ('random_erasing(-0.1)', 'probability is a probability in \\[0, 1\\]'),
    ('random_erasing(0.25, -0.02)', '0 <= min_area <= max_area <= 1'),
    ('random_erasing(0.25, 0.02, -0.3)', '0 <= min_area <= max_area <= 1'),
    ('random_erasing(0.25, 0.5, 0.2)', '0 <= min_area <= max_area <= 1'),
    ('random_erasing(0.25, 0.02, 1.5)', '0 <= min_area <= max_area <= 1'),
    ('random_erasing(min_aspect=0)', 'min_aspect must be positive'),
    ('random_erasing(max_count=0)', 'max_count must be positive'),
    ('random_erasing(normalization=1)', "unexpected keyword argument 'normalization'"),
    ('trivial_augment(3)', 'trivial_augment takes trivial_augment\\(\\)'),
])
def test_bad_arguments_are_one_line_errors(text, message):
  with pytest.raises(PreprocessError, match=message) as error:
    preprocessing.parse(text).output(Size(), 3)
  assert '\n' not in str(error.value)


def test_the_ops_are_listed_and_keep_size_and_channels():
  listing = preprocessing.describe_ops()
  for usage in ('rand_augment(num_ops, magnitude, magnitude_std=0.0, probability=0.5)',
                "auto_augment(policy='imagenet')", 'trivial_augment()',
                'random_erasing(probability=0.25, min_area=0.02, max_area=0.3333, '
                'min_aspect=0.3, max_count=1)'):
    assert f'\n{usage}\n' in f'\n{listing}'
  pipeline = preprocessing.parse('rand_augment(2, 9)|auto_augment|trivial_augment|random_erasing')
  assert pipeline.output(Size.exact(24, 32), 1) == (Size.exact(24, 32), 1)
  assert pipeline.output(Size.exact(24, 32), 3) == (Size.exact(24, 32), 3)
