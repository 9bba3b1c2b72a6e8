"""Fixtures: generated datasets the tests share (no test downloads anything)."""

import os

import numpy as np
import pytest
import tensorflow_datasets as tfds

import sample_ilsvrc

ILSVRC_CLASSES, ILSVRC_TRAIN_PER_CLASS, ILSVRC_VAL = 4, 12, 14


@pytest.fixture(scope='session')
def ilsvrc_manual_dir(tmp_path_factory):
  """ILSVRC2012_img_{train,val}.tar in the real archives' layout, of real photographs."""
  manual_dir = str(tmp_path_factory.mktemp('ilsvrc_manual'))
  sample_ilsvrc.write_manual_dir(manual_dir, ILSVRC_CLASSES, ILSVRC_TRAIN_PER_CLASS, ILSVRC_VAL)
  return manual_dir


@pytest.fixture(scope='session')
def imagenet_data_dir(tmp_path_factory, ilsvrc_manual_dir):
  """A tfds data_dir with imagenet2012 prepared by the real builder from the tars."""
  import input_pipeline
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  input_pipeline.load_source('imagenet2012', data_dir, ilsvrc_manual_dir)
  return data_dir


def write_mock_metadata(data_dir: str, name: str, split_sizes: dict[str, int]) -> None:
  """dataset_info.json for tfds.testing.mock_data, with the split sizes given."""
  builder = tfds.builder(name, data_dir=data_dir)
  builder.info.set_splits(tfds.core.SplitDict([
      tfds.core.SplitInfo(name=split, shard_lengths=[size], num_bytes=0)
      for split, size in split_sizes.items()]))
  os.makedirs(builder.data_dir, exist_ok=True)
  builder.info.write_to_directory(builder.data_dir)


def write_image_folder(root: str, classes=('cat', 'dog'), per_class: int = 5,
                       corrupt: tuple[str, ...] = ()) -> None:
  """<root>/{train,validation}/<class>/<n>.jpg of real photo crops; `corrupt` paths get garbage."""
  photos = sample_ilsvrc.sample_photographs(2 * len(classes) * per_class)
  index = 0
  for split in ('train', 'validation'):
    for name in classes:
      os.makedirs(os.path.join(root, split, name), exist_ok=True)
      for i in range(per_class):
        with open(os.path.join(root, split, name, f'{i}.jpg'), 'wb') as f:
          f.write(photos[index])
        index += 1
  for relative in corrupt:
    path = os.path.join(root, relative)
    with open(path, 'wb') as f:
      f.write(photos[0][:200])  # a truncated JPEG: header only


@pytest.fixture
def rng():
  return np.random.default_rng(0)
