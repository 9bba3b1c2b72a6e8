"""The input pipeline on the embedded digits, tfds mock data, generated ILSVRC tars
and image folders."""

import collections
import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import input_pipeline
from tests.helpers import (ILSVRC_CLASSES, ILSVRC_TRAIN_PER_CLASS, ILSVRC_VAL,
                           write_image_folder, write_mock_metadata)


def test_digits_are_real_images_with_a_fixed_split():
  source = input_pipeline.load_source('digits')
  assert (source.train.num_examples, source.eval.num_examples) == (1437, 360)
  assert (source.num_classes, source.channels, source.encoded) == (10, 1, False)
  labels = [int(e['label']) for e in source.eval.dataset.as_numpy_iterator()]
  assert collections.Counter(labels).keys() == set(range(10))  # stratified
  batch = next(input_pipeline.train_batches(source, 16, 32, seed=0))
  # uint8 pixels (the train step normalises): black background, bright pen strokes.
  assert batch['image'].shape == (16, 32, 32, 1) and batch['image'].dtype == np.uint8
  assert batch['image'].min() == 0 and batch['image'].max() > 200


def test_augmentation_is_reproducible_from_the_seed():
  source = input_pipeline.load_source('digits')
  first = next(input_pipeline.train_batches(source, 8, 32, seed=1, deterministic=True))
  again = next(input_pipeline.train_batches(source, 8, 32, seed=1, deterministic=True))
  other = next(input_pipeline.train_batches(source, 8, 32, seed=2, deterministic=True))
  np.testing.assert_array_equal(first['image'], again['image'])
  assert not np.array_equal(first['image'], other['image'])


@pytest.mark.parametrize('batch_size', [7, 64, 360, 500])
def test_eval_visits_every_example_once(batch_size):
  source = input_pipeline.load_source('digits')
  batches = list(input_pipeline.eval_batches(source, batch_size, 32))
  assert len(batches) == input_pipeline.num_eval_steps(source, batch_size)
  mask = np.concatenate([b['mask'] for b in batches])
  labels = np.concatenate([b['label'] for b in batches])[mask == 1]
  expected = [int(e['label']) for e in source.eval.dataset.as_numpy_iterator()]
  assert mask.sum() == 360 and list(labels) == expected
  assert np.all(mask[:360] == 1) and np.all(mask[360:] == 0)


def test_processes_read_disjoint_slices_that_cover_the_split():
  slices = [input_pipeline.load_source('digits', process_index=p, process_count=3)
            for p in range(3)]
  everything = input_pipeline.load_source('digits')
  seen = np.concatenate([[e['image'] for e in s.eval.dataset.as_numpy_iterator()]
                         for s in slices])
  all_images = np.stack([e['image'] for e in everything.eval.dataset.as_numpy_iterator()])
  np.testing.assert_array_equal(seen, all_images)
  # Every process runs the same number of eval steps, padding where it has fewer.
  steps = {input_pipeline.num_eval_steps(s, 50) for s in slices}
  assert steps == {3}


def test_small_image_tfds_dataset_on_mock_data(tmp_path):
  write_mock_metadata(str(tmp_path), 'cifar10', {'train': 24, 'test': 10})
  with tfds.testing.mock_data(num_examples=24, data_dir=str(tmp_path)):
    source = input_pipeline.load_source('cifar10', data_dir=str(tmp_path / 'unused'))
    assert (source.num_classes, source.channels, source.encoded, source.flip) == (10, 3, False,
                                                                                   True)
    batch = next(input_pipeline.train_batches(source, 8, 32, seed=0))
    assert batch['image'].shape == (8, 32, 32, 3)
    assert batch['label'].min() >= 0 and batch['label'].max() < 10


def test_photo_tfds_dataset_on_mock_data_uses_encoded_images(tmp_path):
  write_mock_metadata(str(tmp_path), 'imagenette', {'train': 12, 'validation': 6})
  with tfds.testing.mock_data(num_examples=12, data_dir=str(tmp_path)):
    source = input_pipeline.load_source('imagenette', data_dir=str(tmp_path / 'unused'))
    assert source.encoded and source.eval.num_examples == 6
    batch = next(input_pipeline.train_batches(source, 4, 48, seed=0))
    assert batch['image'].shape == (4, 48, 48, 3)


def test_imagenet2012_is_prepared_from_ilsvrc_tars(imagenet_data_dir, ilsvrc_manual_dir):
  source = input_pipeline.load_source('imagenet2012', imagenet_data_dir, ilsvrc_manual_dir)
  assert source.num_classes == 1000
  assert source.train.num_examples == ILSVRC_CLASSES * ILSVRC_TRAIN_PER_CLASS
  assert source.eval.num_examples == ILSVRC_VAL
  batch = next(input_pipeline.train_batches(source, 8, 64, seed=0))
  assert batch['image'].shape == (8, 64, 64, 3)
  assert set(batch['label']) <= set(range(ILSVRC_CLASSES))  # the tars' first synsets
  # Photographs as uint8 pixels, which the train step normalises to roughly zero mean
  # and unit spread with the dataset's statistics.
  assert batch['image'].dtype == np.uint8 and batch['image'].std() > 20
  normalized = (batch['image'] - np.array(source.mean)) / np.array(source.std)
  assert abs(normalized.mean()) < 1.5 and 0.3 < normalized.std() < 2.0


def test_missing_ilsvrc_tars_say_which_files_go_where(tmp_path):
  with pytest.raises(input_pipeline.DatasetError) as error:
    input_pipeline.load_source('imagenet2012', str(tmp_path / 'data'), str(tmp_path / 'tars'))
  message = str(error.value)
  assert 'ILSVRC2012_img_train.tar' in message and 'ILSVRC2012_img_val.tar' in message
  assert str(tmp_path / 'tars') in message and '\n' not in message


def test_image_folder_reports_and_skips_a_corrupt_file(tmp_path):
  write_image_folder(str(tmp_path), per_class=4, corrupt=('train/dog/2.jpg',))
  source = input_pipeline.load_source(f'image_folder:{tmp_path}')
  assert source.class_names == ('cat', 'dog') and source.num_classes == 2
  assert source.skipped_files == (str(tmp_path / 'train' / 'dog' / '2.jpg'),)
  assert source.train.num_examples == 7 and source.eval.num_examples == 8
  batches = input_pipeline.train_batches(source, 7, 32, seed=0)
  for _ in range(3):  # several epochs: the corrupt file never reaches the decoder
    assert next(batches)['image'].shape == (7, 32, 32, 3)


def test_an_image_folder_is_described_by_its_images(tmp_path):
  """Photographs: 3 channels, Inception crops, flips and ImageNet's statistics. Small
  grayscale images: 1 channel, pad-and-crop without flips, their own statistics."""
  write_image_folder(str(tmp_path / 'photos'), per_class=3)
  photos = input_pipeline.load_source(f'image_folder:{tmp_path / "photos"}')
  assert (photos.channels, photos.small_images, photos.flip) == (3, False, True)
  assert (photos.mean, photos.std) == input_pipeline.IMAGENET_MEAN_STD
  assert input_pipeline.default_preprocessing(photos, 224)[0] == 'inception_crop(224)|flip_lr'
  from PIL import Image
  rng = np.random.default_rng(0)
  pixels = {}
  for split in ('train', 'validation'):
    for label in ('a', 'b'):
      os.makedirs(tmp_path / 'small' / split / label)
      for index in range(4):
        pixels[split, label, index] = rng.integers(0, 200, (20, 16), dtype=np.uint8)
        Image.fromarray(pixels[split, label, index]).save(
            tmp_path / 'small' / split / label / f'{index}.png')
  small = input_pipeline.load_source(f'image_folder:{tmp_path / "small"}')
  assert (small.channels, small.small_images, small.flip, small.image_shape) == (1, True, False,
                                                                                 (20, 16))
  train_pixels = np.stack([v for k, v in pixels.items() if k[0] == 'train']).astype(np.float64)
  assert small.mean == pytest.approx((train_pixels.mean(),))
  assert small.std == pytest.approx((train_pixels.std(),))
  assert input_pipeline.default_preprocessing(small, 16) == (
      'resize(16)|pad_random_crop(16, 2)', 'resize(16)')
  assert next(input_pipeline.train_batches(small, 4, 16, seed=0))['image'].shape == (4, 16, 16, 1)


def test_empty_image_folder_is_a_clear_error(tmp_path):
  os.makedirs(tmp_path / 'train' / 'cat')
  os.makedirs(tmp_path / 'validation' / 'cat')
  with pytest.raises(input_pipeline.DatasetError, match='holds no image files'):
    input_pipeline.load_source(f'image_folder:{tmp_path}')


def test_default_preprocessing_handles_png_as_well_as_jpeg():
  source = dataclasses.replace(input_pipeline.load_digits_source(), encoded=True, channels=3,
                               image_shape=None)
  processing = input_pipeline.create_preprocessing(source, 32)
  image = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
  for encode in (tf.io.encode_png, tf.io.encode_jpeg):
    crop = processing.train(encode(image), tf.constant([1, 2], tf.int64), 3, encoded=True)
    assert crop.shape == (32, 32, 3)
    center = processing.eval(encode(image), tf.constant([0, 0], tf.int64), 3, encoded=True)
    assert center.shape == (32, 32, 3)


def assert_resumes_exactly(source, batch_size: int, image_size: int, start_step: int,
                           steps: int) -> None:
  """Batches from start_step on equal those of an uninterrupted stream, pixel for pixel."""
  uninterrupted = input_pipeline.train_batches(source, batch_size, image_size, seed=4,
                                               deterministic=True)
  expected = [next(uninterrupted) for _ in range(start_step + steps)][start_step:]
  resumed = input_pipeline.train_batches(source, batch_size, image_size, seed=4,
                                         deterministic=True, start_step=start_step)
  for batch in expected:
    got = next(resumed)
    np.testing.assert_array_equal(got['label'], batch['label'])
    np.testing.assert_array_equal(got['image'], batch['image'])


def test_a_resumed_stream_continues_exactly_where_the_uninterrupted_one_is():
  # Batches of 100 over 1,437 examples: step 13 is in the middle of the second epoch.
  assert_resumes_exactly(input_pipeline.load_source('digits'), 100, 32, start_step=13, steps=7)


def test_every_epoch_visits_every_example_once_in_a_new_order():
  source = input_pipeline.load_source('digits')
  all_labels = collections.Counter(
      int(e['label']) for e in source.train.dataset.as_numpy_iterator())
  batches = input_pipeline.train_batches(source, 479, 32, seed=0, deterministic=True)
  # 1,437 = 3 × 479: three batches are one epoch.
  epochs = [np.concatenate([next(batches)['label'] for _ in range(3)]) for _ in range(2)]
  for labels in epochs:
    assert collections.Counter(labels.tolist()) == all_labels
  assert not np.array_equal(epochs[0], epochs[1])


def test_resumed_photo_stream_matches_on_ilsvrc_tars(imagenet_data_dir, ilsvrc_manual_dir):
  source = input_pipeline.load_source('imagenet2012', imagenet_data_dir, ilsvrc_manual_dir)
  # 48 examples in batches of 10: step 6 is in the second epoch.
  assert_resumes_exactly(source, 10, 48, start_step=6, steps=2)
