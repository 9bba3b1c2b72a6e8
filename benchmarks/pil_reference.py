"""The plain reference input pipeline: what torchvision's ImageNet transforms do, in PIL and NumPy.

`benchmark.py --input_pipeline` times input_pipeline.train_batches against this
on the same JPEG files, so its speed is reported as a ratio, not only a time.
Per image, as in torchvision's ImageNet training example:

  * decode the whole JPEG with PIL (Image.open + convert('RGB'));
  * RandomResizedCrop: an area of 8-100 % and an aspect ratio of 3/4-4/3 (log-
    uniform), ten tries and then a centre crop of clamped ratio (Szegedy et al.
    2015, §6), resized to image_size² with PIL's bilinear filter;
  * RandomHorizontalFlip with probability 1/2;
  * to float32 and Normalize with the per-channel mean and std (skipped when
    `normalize` is False, which leaves uint8 pixels, as this project's pipeline
    sends them, for the comparison of equal work);
  * stack a batch (NHWC).

The recipes' other pipelines (`RECIPE_OPS`: AlexNet's, VGG's and ResNet's) are
restated the same way, op by op, for the same comparison: resize the shorter side
with PIL's bilinear filter, crop with PIL, flip, and PCA lighting in NumPy.

Worker processes make whole batches each, like a torch DataLoader's workers.
"""

import collections
import io
import itertools
import math
import multiprocessing
from multiprocessing import shared_memory
import time

import numpy as np
from PIL import Image

AREA_RANGE = (0.08, 1.0)
LOG_RATIO_RANGE = (math.log(3 / 4), math.log(4 / 3))


def random_resized_crop_box(width: int, height: int, rng: np.random.Generator):
  """(left, top, right, bottom) of a random-resized crop of a width×height image."""
  area = width * height
  for _ in range(10):
    target_area = area * rng.uniform(*AREA_RANGE)
    ratio = math.exp(rng.uniform(*LOG_RATIO_RANGE))
    crop_width = round(math.sqrt(target_area * ratio))
    crop_height = round(math.sqrt(target_area / ratio))
    if 0 < crop_width <= width and 0 < crop_height <= height:
      left = int(rng.integers(0, width - crop_width + 1))
      top = int(rng.integers(0, height - crop_height + 1))
      return left, top, left + crop_width, top + crop_height
  # Fallback: the whole image's centre, its aspect ratio clamped to the range.
  ratio = min(max(width / height, 3 / 4), 4 / 3)
  crop_width, crop_height = (width, round(width / ratio)) if width / height <= ratio else (
      round(height * ratio), height)
  left, top = (width - crop_width) // 2, (height - crop_height) // 2
  return left, top, left + crop_width, top + crop_height


def inception_crop(image: Image.Image, rng, image_size: int) -> Image.Image:
  box = random_resized_crop_box(image.width, image.height, rng)
  return image.resize((image_size, image_size), Image.BILINEAR, box=box)


def resize_short(image: Image.Image, side: int) -> Image.Image:
  scale = side / min(image.width, image.height)
  return image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)


def random_crop(image: Image.Image, rng, size: int) -> Image.Image:
  left = int(rng.integers(0, image.width - size + 1))
  top = int(rng.integers(0, image.height - size + 1))
  return image.crop((left, top, left + size, top + size))


def center_crop(image: Image.Image, size: int) -> Image.Image:
  left, top = (image.width - size) // 2, (image.height - size) // 2
  return image.crop((left, top, left + size, top + size))


def flip(image: Image.Image, rng) -> Image.Image:
  return image.transpose(Image.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else image


# ImageNet's RGB eigenvalues and eigenvectors (columns), as preprocessing.pca_lighting uses.
EIGENVALUES = np.array([0.2175, 0.0188, 0.0045])
EIGENVECTORS = np.array([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140],
                         [-0.5836, -0.6948, 0.4203]])


def pca_lighting(pixels: np.ndarray, rng, std: float = 0.1) -> np.ndarray:
  offset = 255.0 * EIGENVECTORS @ (rng.normal(0.0, std, 3) * EIGENVALUES)
  return np.clip(np.rint(pixels + offset.astype(np.float32)), 0, 255).astype(np.uint8)


# The recipes' train pipelines for an output of side s, op by op (the preprocessing strings
# of the same names in benchmark.py).
RECIPE_OPS = {
    'inception': lambda s: [lambda im, rng: inception_crop(im, rng, s), flip],
    'alexnet': lambda s: [lambda im, rng: resize_short(im, round(s * 256 / 224)),
                          lambda im, rng: center_crop(im, round(s * 256 / 224)),
                          lambda im, rng: random_crop(im, rng, s), flip, pca_lighting],
    'vgg': lambda s: [lambda im, rng: resize_short(im, int(rng.integers(s * 8 // 7,
                                                                        s * 16 // 7 + 1))),
                      lambda im, rng: random_crop(im, rng, s), flip, pca_lighting],
    'resnet': lambda s: [lambda im, rng: resize_short(im, int(rng.integers(s * 8 // 7,
                                                                           s * 15 // 7 + 1))),
                         lambda im, rng: random_crop(im, rng, s), flip, pca_lighting],
}


def train_example(jpeg: bytes, rng: np.random.Generator, image_size: int, mean: np.ndarray,
                  std: np.ndarray, normalize: bool = True, recipe: str = 'inception') -> np.ndarray:
  """One augmented training image, image_size×image_size×3."""
  with Image.open(io.BytesIO(jpeg)) as image:
    image = image.convert('RGB')
  for op in RECIPE_OPS[recipe](image_size):
    image = op(image, rng) if op is not pca_lighting else op(np.asarray(image, np.float32), rng)
  if not normalize:
    return np.asarray(image)
  return (np.asarray(image, dtype=np.float32) - mean) / std


class ReferencePipeline:
  """Batches of `jpegs` (encoded bytes), cycled in order, made by `train_example`."""

  def __init__(self, jpegs: list[bytes], batch_size: int, image_size: int,
               mean: tuple[float, ...], std: tuple[float, ...], normalize: bool = True,
               recipe: str = 'inception'):
    self.jpegs = jpegs
    self.batch_size = batch_size
    self.image_size = image_size
    self.mean = np.asarray(mean, np.float32)
    self.std = np.asarray(std, np.float32)
    self.normalize = normalize
    self.recipe = recipe

  def __iter__(self):
    """Endless batches made in this process, one image at a time (one core)."""
    for index in itertools.count():
      yield self.batch(index)[0]

  def batch(self, index: int) -> tuple[np.ndarray, float]:
    """Batch number `index` and the CPU seconds this process spent making it."""
    start = time.process_time()
    rng = np.random.default_rng(index)
    first = index * self.batch_size
    images = [train_example(self.jpegs[(first + i) % len(self.jpegs)], rng, self.image_size,
                            self.mean, self.std, self.normalize, self.recipe)
              for i in range(self.batch_size)]
    return np.stack(images), time.process_time() - start


# Set in each worker process by _init_worker.
_worker_pipeline: ReferencePipeline | None = None
_worker_slots: list[np.ndarray] = []


def _init_worker(pipeline: ReferencePipeline, slot_names: list[str], shape: tuple[int, ...],
                 dtype: str) -> None:
  global _worker_pipeline, _worker_slots
  _worker_pipeline = pipeline
  # Kept open for the worker's lifetime; the arrays below are views of them.
  _init_worker.memory = [shared_memory.SharedMemory(name) for name in slot_names]
  _worker_slots = [np.ndarray(shape, dtype, buffer=m.buf) for m in _init_worker.memory]


def _worker_batch(task: tuple[int, int]) -> tuple[int, float]:
  """Makes batch `index` into shared slot `slot`, as a DataLoader worker does."""
  index, slot = task
  batch, cpu_seconds = _worker_pipeline.batch(index)
  start = time.process_time()
  _worker_slots[slot][...] = batch
  return slot, cpu_seconds + time.process_time() - start


def time_with_workers(pipeline: ReferencePipeline, num_batches: int, workers: int) -> dict:
  """Images per second with `workers` processes making batches (DataLoader-style).

  As in a torch DataLoader, each worker writes its batch into shared memory and
  the consumer receives only a slot number, with two batches in flight per
  worker. CPU time counts the workers' batch making and this process's work.
  Workers are spawned, not forked: this process may be running TensorFlow's and
  JAX's threads, which fork does not copy safely.
  """
  example = pipeline.batch(0)[0]
  num_slots = 2 * workers
  memory = [shared_memory.SharedMemory(create=True, size=example.nbytes)
            for _ in range(num_slots)]
  try:
    context = multiprocessing.get_context('spawn')
    with context.Pool(workers, initializer=_init_worker,
                      initargs=(pipeline, [m.name for m in memory], example.shape,
                                example.dtype.str)) as pool:
      # Warm-up: every worker started and has made a batch.
      list(pool.imap_unordered(_worker_batch, [(i, i) for i in range(workers)]))
      wall, cpu = time.perf_counter(), time.process_time()
      worker_cpu = 0.0
      pending = collections.deque(pool.apply_async(_worker_batch, ((i, i),))
                                  for i in range(num_slots))
      made = 0
      while pending:
        slot, seconds = pending.popleft().get()
        worker_cpu += seconds
        made += 1
        next_index = made + num_slots - 1
        if next_index < num_batches:
          pending.append(pool.apply_async(_worker_batch, ((next_index, slot),)))
      wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
  finally:
    for m in memory:
      m.close()
      m.unlink()
  images = made * pipeline.batch_size
  return {'images_per_sec': images / wall, 'images_per_cpu_sec': images / (cpu + worker_cpu)}
