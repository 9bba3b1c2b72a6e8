r"""timm's own training transform, timed per CPU-second: the reference for this project's
tf.data pipeline with the same augmentation (inception crop, flip, RandAugment).

Runs in a separate Python environment with torch, torchvision and timm (for example a venv
made with `pip install torch torchvision timm`), never in the project's: nothing of the
project imports this file, and it imports nothing of the project. It reads the JPEGs of an
ILSVRC2012-format manual_dir (tools/sample_ilsvrc.py, or the real train tar's first
synsets), the files `benchmark.py --input_pipeline --manual_dir=...` reads through tfds:

    python tools/sample_ilsvrc.py --manual_dir=/tmp/ilsvrc --num_classes=10 \
        --train_per_class=100 --num_val=10
    /path/to/torchvenv/bin/python benchmarks/timm_reference.py --manual_dir=/tmp/ilsvrc
    /path/to/torchvenv/bin/python benchmarks/timm_reference.py --manual_dir=/tmp/ilsvrc \
        --auto_augment= --per_op

Per image, as a timm training loader's worker does it: PIL decode (Image.open +
convert('RGB')), then `timm.data.create_transform(224, is_training=True,
auto_augment='rand-m7-mstd0.5-inc1', interpolation='bilinear', re_prob=0,
color_jitter=None, hflip=0.5, scale=(0.08, 1), ratio=(3/4, 4/3))`: random-resized crop,
flip, RandAugment (ResNet strikes back's A2 setting), ToTensor and Normalize (float32
out); then batches are stacked. With --uint8 it is timm's `use_prefetcher=True` path
instead: the transform ends in a uint8 tensor and the batch is collated as uint8 (timm
normalises on the device then, as this project does), the same work as this project's
pipeline. One process with one torch thread, as a DataLoader worker runs.

Prints one JSON line: images per second and per CPU-second of this process, after two
warm-up batches. Pillow 10 and later refuse to posterize to 0 bits, which timm's
PosterizeIncreasing asks for when the noisy magnitude reaches 10 (7 + 0.5·N(0, 1) ≥ 10:
about one draw in 10⁹); such an image is drawn again and counted (`posterize_errors`).

--per_op also times each RandAugment op alone (probability 1, magnitude 7, no noise) on
decoded random-resized 224² crops, and the whole RandAugment transform on them: CPU
microseconds per image.
"""

import argparse
import io
import json
import random
import sys
import tarfile
import time
import types

# torchvision's meta registrations fail to import with some CPU torch builds; timm imports
# torchvision, and the transforms do not need them.
sys.modules.setdefault('torchvision._meta_registrations',
                       types.ModuleType('torchvision._meta_registrations'))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
import timm  # noqa: E402
from timm.data import auto_augment, create_transform  # noqa: E402
import torch  # noqa: E402


def read_train_jpegs(manual_dir: str, limit: int) -> list[bytes]:
  """The JPEG files of ILSVRC2012_img_train.tar (a tar of one tar per synset)."""
  jpegs = []
  with tarfile.open(f'{manual_dir}/ILSVRC2012_img_train.tar') as outer:
    for member in outer:
      if not member.isfile():
        continue
      with tarfile.open(fileobj=outer.extractfile(member)) as inner:
        for image in inner:
          if image.isfile() and image.name.upper().endswith('.JPEG'):
            jpegs.append(inner.extractfile(image).read())
            if len(jpegs) == limit:
              return jpegs
  return jpegs


def make_transform(image_size: int, auto_augment_text: str, uint8: bool):
  return create_transform(image_size, is_training=True, auto_augment=auto_augment_text or None,
                          interpolation='bilinear', re_prob=0, color_jitter=None, hflip=0.5,
                          scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), use_prefetcher=uint8)


def decode(jpeg: bytes) -> Image.Image:
  return Image.open(io.BytesIO(jpeg)).convert('RGB')


class Batches:
  """Endless batches of the transformed JPEGs, in order, stacked as timm's collate does."""

  def __init__(self, jpegs, batch_size: int, transform):
    self.jpegs, self.batch_size, self.transform = jpegs, batch_size, transform
    self.position = 0
    self.posterize_errors = 0

  def one(self, jpeg):
    while True:
      try:
        return self.transform(decode(jpeg))
      except ValueError as error:  # Pillow: "bits must be in range (1, 8)"
        if 'bits' not in str(error):
          raise
        self.posterize_errors += 1

  def __next__(self):
    images = []
    for _ in range(self.batch_size):
      images.append(self.one(self.jpegs[self.position % len(self.jpegs)]))
      self.position += 1
    return torch.stack(images)


def time_batches(batches, num_batches: int, batch_size: int) -> dict:
  for _ in range(2):
    next(batches)
  wall, cpu = time.perf_counter(), time.process_time()
  for _ in range(num_batches):
    next(batches)
  wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
  images = num_batches * batch_size
  return {'images_per_sec': images / wall, 'images_per_cpu_sec': images / cpu}


def cpu_microseconds(function, images, repeats: int) -> float:
  start = time.process_time()
  for _ in range(repeats):
    for image in images:
      function(image)
  return 1e6 * (time.process_time() - start) / (repeats * len(images))


def per_op_costs(jpegs, image_size: int, auto_augment_text: str, count: int,
                 repeats: int) -> dict:
  """CPU µs per image of each RandAugment op alone (probability 1, the magnitude without
  noise) and of the whole RandAugment transform, on decoded random-resized crops."""
  crop = make_transform(image_size, '', uint8=True).transforms[0]
  images = [crop(decode(jpeg)) for jpeg in jpegs[:count]]
  rand_augment = make_transform(image_size, auto_augment_text, uint8=True).transforms[2]
  assert isinstance(rand_augment, auto_augment.RandAugment), rand_augment
  costs = {}
  for op in rand_augment.ops:
    fixed = auto_augment.AugmentOp(op.name, prob=1.0, magnitude=op.magnitude,
                                   hparams={**op.hparams, 'magnitude_std': 0})
    costs[op.name] = cpu_microseconds(fixed, images, repeats)
  costs['RandAugment (whole)'] = cpu_microseconds(rand_augment, images, repeats)
  return costs


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--manual_dir', required=True)
  parser.add_argument('--batch_size', type=int, default=64)
  parser.add_argument('--image_size', type=int, default=224)
  parser.add_argument('--batches', type=int, default=30, help='timed batches')
  parser.add_argument('--images', type=int, default=1000, help='JPEGs read from the tar')
  parser.add_argument('--auto_augment', default='rand-m7-mstd0.5-inc1',
                      help="timm's auto_augment string; empty: crop and flip only")
  parser.add_argument('--uint8', action='store_true',
                      help="timm's use_prefetcher path: uint8 out, normalised on the device")
  parser.add_argument('--per_op', action='store_true',
                      help='also time each RandAugment op alone on 224² crops')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()
  torch.set_num_threads(1)  # as in a DataLoader worker
  random.seed(args.seed)
  np.random.seed(args.seed)
  torch.manual_seed(args.seed)
  jpegs = read_train_jpegs(args.manual_dir, args.images)
  random.Random(args.seed).shuffle(jpegs)
  batches = Batches(jpegs, args.batch_size,
                    make_transform(args.image_size, args.auto_augment, args.uint8))
  result = {
      'pipeline': f'timm create_transform, auto_augment={args.auto_augment!r}, '
                  + ('uint8 out' if args.uint8 else 'float32 out (ToTensor, Normalize)'),
      'timm': timm.__version__, 'torch': torch.__version__,
      'pillow': Image.__version__, 'batch_size': args.batch_size,
      'image_size': args.image_size, 'images': len(jpegs),
      **time_batches(batches, args.batches, args.batch_size),
      'posterize_errors': batches.posterize_errors,
  }
  if args.per_op:
    result['op_cpu_microseconds'] = per_op_costs(
        jpegs, args.image_size, args.auto_augment or 'rand-m7-mstd0.5-inc1', count=128,
        repeats=2)
  print(json.dumps(result), flush=True)


if __name__ == '__main__':
  main()
