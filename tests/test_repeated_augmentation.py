"""Repeated augmentation (input_pipeline.train_dataset's `repeats`): each epoch's images
appear k times with augmentations of their own, the copies spread over the devices, the
epoch about as long as the data, and a resumed stream the uninterrupted one."""

import dataclasses

import numpy as np

import input_pipeline

REPEATS, DEVICES, LOCAL_BATCH = 3, 2, 12


def indexed_digits():
  """The digits whose labels are their own indices, so that copies can be told apart."""
  source = input_pipeline.load_digits_source()
  images = np.stack([e['image'] for e in source.train.dataset.as_numpy_iterator()])
  train = input_pipeline._split_from_arrays(images, np.arange(len(images)), 0, 1)
  return dataclasses.replace(source, train=train)


def stream(source, steps, start_step=0):
  batches = input_pipeline.train_batches(source, LOCAL_BATCH, 32, seed=5, deterministic=True,
                                         start_step=start_step, repeats=REPEATS,
                                         devices=DEVICES)
  return [next(batches) for _ in range(steps)]


def test_an_epoch_holds_n_over_k_images_k_times_each_copy_augmented_on_another_device():
  source = indexed_digits()
  n = source.train.num_examples
  epoch_length = REPEATS * (n // REPEATS)
  steps = epoch_length // LOCAL_BATCH
  batches = stream(source, steps)
  labels = np.concatenate([b['label'] for b in batches])
  counts = np.bincount(labels, minlength=n)
  assert set(counts[counts > 0]) == {REPEATS}
  assert np.count_nonzero(counts) == len(labels) // REPEATS
  assert len(labels) == steps * LOCAL_BATCH > 0.95 * n

  per_device = LOCAL_BATCH // DEVICES
  spread = different = groups = 0
  for batch in batches:
    for label in set(batch['label'].tolist()):
      where = np.flatnonzero(batch['label'] == label)
      if len(where) < 2:
        continue  # the copies of this image straddle two batches
      groups += 1
      spread += len(set(where // per_device)) > 1
      images = batch['image'][where]
      different += any(not np.array_equal(images[0], other) for other in images[1:])
  assert groups > 0 and spread == groups
  assert different >= 0.9 * groups  # pad-and-crop: a copy may land on the same shift


def test_a_resumed_stream_is_the_uninterrupted_one():
  source = indexed_digits()
  whole = stream(source, 8)
  resumed = stream(source, 3, start_step=5)
  for one, other in zip(whole[5:], resumed):
    np.testing.assert_array_equal(one['label'], other['label'])
    np.testing.assert_array_equal(one['image'], other['image'])
