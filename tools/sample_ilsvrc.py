r"""Writes a small ILSVRC2012-format `manual_dir` made of real photographs.

    python tools/sample_ilsvrc.py --manual_dir=/tmp/ilsvrc --num_classes=4 \
        --train_per_class=20 --num_val=20

produces ILSVRC2012_img_train.tar (one inner tar per synset, files named
n01440764_1.JPEG ...) and ILSVRC2012_img_val.tar (ILSVRC2012_val_00000001.JPEG
...), laid out exactly like the real archives, so the tfds imagenet2012 builder
prepares them and train.py reads them through the same code path as ImageNet.

The images are crops of the photographs scikit-learn ships (a Chinese temple
and a flower), of ImageNet-like size (about 400×350 to 500×375), with random
mirror and colour changes: real JPEG photographs, never noise. Validation
labels are those of the real validation set for the first `num_val` files.
"""

import io
import os
import tarfile

from absl import app, flags
import numpy as np

# The first synsets of ImageNet's label list (tfds imagenet2012 labels.txt order).
SYNSETS = ('n01440764', 'n01443537', 'n01484850', 'n01491361', 'n01494475', 'n01496331',
           'n01498041', 'n01514668', 'n01514859', 'n01518878')


def sample_photographs(count: int, seed: int = 0) -> list[bytes]:
  """`count` JPEG-encoded crops of real photographs, 350–500 pixels a side."""
  from PIL import Image
  from sklearn.datasets import load_sample_images
  photos = load_sample_images().images  # two 427×640 RGB photographs
  rng = np.random.default_rng(seed)
  encoded = []
  for index in range(count):
    photo = photos[index % len(photos)]
    height = int(rng.integers(300, 376))
    width = int(rng.integers(350, 501))
    top = int(rng.integers(0, photo.shape[0] - height + 1))
    left = int(rng.integers(0, photo.shape[1] - width + 1))
    crop = photo[top:top + height, left:left + width].astype(np.float32)
    if rng.random() < 0.5:
      crop = crop[:, ::-1]
    crop = np.clip(crop * rng.uniform(0.7, 1.3, size=3), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, format='JPEG', quality=90)
    encoded.append(buffer.getvalue())
  return encoded


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
  info = tarfile.TarInfo(name)
  info.size = len(data)
  archive.addfile(info, io.BytesIO(data))


def write_manual_dir(manual_dir: str, num_classes: int = 4, train_per_class: int = 10,
                     num_val: int = 10, seed: int = 0) -> None:
  """Writes ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar into manual_dir."""
  if not 1 <= num_classes <= len(SYNSETS):
    raise ValueError(f'num_classes must be between 1 and {len(SYNSETS)}')
  os.makedirs(manual_dir, exist_ok=True)
  photos = sample_photographs(num_classes * train_per_class + num_val, seed)
  with tarfile.open(os.path.join(manual_dir, 'ILSVRC2012_img_train.tar'), 'w') as train_tar:
    for class_index, synset in enumerate(SYNSETS[:num_classes]):
      inner = io.BytesIO()
      with tarfile.open(fileobj=inner, mode='w') as class_tar:
        for i in range(train_per_class):
          _add_bytes(class_tar, f'{synset}_{i + 1}.JPEG', photos[class_index * train_per_class + i])
      _add_bytes(train_tar, f'{synset}.tar', inner.getvalue())
  with tarfile.open(os.path.join(manual_dir, 'ILSVRC2012_img_val.tar'), 'w') as val_tar:
    for i in range(num_val):
      _add_bytes(val_tar, f'ILSVRC2012_val_{i + 1:08d}.JPEG', photos[num_classes * train_per_class + i])


def define_flags() -> None:
  """The command line's flags; defined only when run, so that importers keep theirs."""
  flags.DEFINE_string('manual_dir', None, 'Folder to write the two tars into.', required=True)
  flags.DEFINE_integer('num_classes', 4, 'Synsets in the training tar (at most 10).')
  flags.DEFINE_integer('train_per_class', 10, 'Training images per synset.')
  flags.DEFINE_integer('num_val', 10, 'Validation images.')


def main(argv):
  del argv
  options = flags.FLAGS
  write_manual_dir(options.manual_dir, options.num_classes, options.train_per_class,
                   options.num_val)
  print(f'wrote ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar to {options.manual_dir}')


if __name__ == '__main__':
  define_flags()
  app.run(main)
