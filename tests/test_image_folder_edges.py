"""Image folders as people hand them over: 16-bit PNGs, BMP and GIF files in a grayscale
folder, files only another decoder reads, empty class folders, classes only the test split
has. Each through train.py, the way a user meets them."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import input_pipeline
from tests.helpers import QUICKSTART, run_train, write_digits_as_png_folder

# Few enough images and steps for seconds per run, enough to learn the digits well.
PER_CLASS = 12
TRAIN_ARGS = (QUICKSTART, '--config.num_train_steps=60', '--config.batch_size=16',
              '--config.eval_every_epochs=1000', '--config.log_every_steps=30',
              '--config.deterministic=true')


def rewrite(folder, convert) -> int:
  """Applies `convert(path, pixels)` to every third PNG of `folder`; returns how many."""
  count = 0
  for root, _, names in sorted(os.walk(folder)):
    for index, name in enumerate(sorted(names)):
      if name.endswith('.png') and index % 3 == 0:
        path = os.path.join(root, name)
        convert(path, np.asarray(Image.open(path)))
        count += 1
  return count


def as_other_files(path: str, pixels: np.ndarray) -> None:
  """The same 8-bit grey pixels as a 16-bit PNG, an 8-bit BMP or a GIF, in turn."""
  kind = sum(map(ord, os.path.basename(path))) % 3
  os.remove(path)
  stem = path[:-len('.png')]
  if kind == 0:  # 16 bits holding v * 257: the pipeline's 8 bits are v again
    Image.fromarray(pixels.astype(np.uint16) * 257).save(stem + '.png')
  elif kind == 1:
    Image.fromarray(pixels).save(stem + '.bmp')
  else:
    Image.fromarray(pixels).save(stem + '.gif')


def final_accuracy(workdir) -> float:
  with open(os.path.join(workdir, 'run.json'), encoding='utf-8') as f:
    status = json.load(f)
  assert status['status'] == 'finished'
  return status['last_eval']['eval_accuracy']


@pytest.mark.e2e
@pytest.mark.slow
def test_16_bit_pngs_bmp_and_gif_files_train_as_their_8_bit_pngs(tmp_path):
  """A grayscale folder whose files are partly 16-bit PNGs (TensorFlow rescales them to 8
  bits; PIL's conversion used to clip them to 255 for the statistics), 8-bit BMPs and GIFs
  (which TensorFlow will not decode to one channel) gives the same pixels, statistics and
  accuracy as the same images as 8-bit PNGs."""
  plain, mixed = tmp_path / 'plain', tmp_path / 'mixed'
  write_digits_as_png_folder(str(plain), per_class=PER_CLASS)
  write_digits_as_png_folder(str(mixed), per_class=PER_CLASS)
  assert rewrite(mixed, as_other_files) > 50
  kinds = {name.rsplit('.', 1)[-1] for _, _, names in os.walk(mixed) for name in names}
  assert kinds == {'png', 'bmp', 'gif'}

  plain_source = input_pipeline.load_source(f'image_folder:{plain}')
  mixed_source = input_pipeline.load_source(f'image_folder:{mixed}')
  assert mixed_source.skipped_files == () and mixed_source.channels == 1
  assert mixed_source.mean == pytest.approx(plain_source.mean, abs=1e-9)
  assert mixed_source.std == pytest.approx(plain_source.std, abs=1e-9)
  assert 20 < plain_source.mean[0] < 100  # not the clipped 255s of 16-bit values

  accuracies = []
  for folder in (plain, mixed):
    result = run_train(*TRAIN_ARGS, f'--config.dataset=image_folder:{folder}',
                       workdir=tmp_path / f'run_{folder.name}')
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'cannot be decoded' not in result.stderr
    accuracies.append(final_accuracy(tmp_path / f'run_{folder.name}'))
  assert accuracies[0] >= 0.8, accuracies
  assert accuracies[0] == accuracies[1], accuracies


def test_every_file_decodes_to_the_folders_channels_or_is_left_out(tmp_path):
  """In a grayscale folder, colour, grey-with-alpha and BMP files that the sample of the
  folder did not open are converted to one channel; a CMYK JPEG, which PIL opens but
  TensorFlow cannot turn into one channel, is reported and left out before training rather
  than failing its batch. Files are recognised by their content, whatever their name."""
  write_digits_as_png_folder(str(tmp_path), per_class=14)
  train_dir = str(tmp_path / 'train')
  paths, _ = input_pipeline._list_image_folder(train_dir, [str(d) for d in range(10)])
  assert len(paths) // input_pipeline.SAMPLED_IMAGES == 2  # the sample opens every other file
  pixels = np.asarray(Image.open(paths[0]))
  colour = Image.fromarray(np.stack([pixels] * 3, -1))
  colour.save(paths[1], 'PNG')
  Image.fromarray(np.stack([pixels, pixels], -1), 'LA').save(paths[3], 'PNG')
  colour.save(paths[5], 'BMP')
  colour.convert('CMYK').save(paths[7], 'JPEG')
  assert input_pipeline.sample_image_folder(train_dir, [str(d) for d in range(10)]).channels == 1
  source = input_pipeline.load_source(f'image_folder:{tmp_path}')
  assert source.channels == 1
  assert source.skipped_files == (paths[7],)
  batches = input_pipeline.train_batches(source, 8, 8, seed=0, deterministic=True,
                                         preprocess='resize(8)')
  for _ in range(2 * source.train.num_examples // 8):  # two epochs: every file decoded
    assert next(batches)['image'].shape == (8, 8, 8, 1)


@pytest.mark.e2e
def test_an_empty_class_folder_is_refused_and_a_test_only_class_is_named(tmp_path):
  write_digits_as_png_folder(str(tmp_path / 'images'), per_class=3)
  os.makedirs(tmp_path / 'images' / 'train' / 'ten')
  result = run_train(QUICKSTART, f'--config.dataset=image_folder:{tmp_path / "images"}',
                     workdir=tmp_path / 'run')
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1] == (
      f'error: 1 class folder of {tmp_path / "images" / "train"} holds no image that decodes '
      '(ten): each would be a class without a training example; add images to it or remove '
      'the folder')
  assert not (tmp_path / 'run' / 'checkpoints').exists()

  os.rmdir(tmp_path / 'images' / 'train' / 'ten')
  os.rename(tmp_path / 'images' / 'train' / '9', tmp_path / 'images' / 'nine')
  result = run_train(QUICKSTART, f'--config.dataset=image_folder:{tmp_path / "images"}',
                     '--config.num_train_steps=2', '--config.batch_size=8',
                     workdir=tmp_path / 'run')
  assert result.returncode == 0, result.stderr[-2000:]
  warnings = [line for line in result.stderr.splitlines() if line.startswith('warning: ')]
  assert warnings == [
      f'warning: 3 images of {tmp_path / "images" / "validation"} are in class folders that '
      f'{tmp_path / "images" / "train"} does not have (9) and are left out of evaluation: '
      'add those classes to train/ to learn them, or move the folders away'], result.stderr
