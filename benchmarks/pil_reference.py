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


def train_example(jpeg: bytes, rng: np.random.Generator, image_size: int, mean: np.ndarray,
                  std: np.ndarray, normalize: bool = True) -> np.ndarray:
  """One augmented training image, image_size×image_size×3."""
  with Image.open(io.BytesIO(jpeg)) as image:
    image = image.convert('RGB')
  box = random_resized_crop_box(image.width, image.height, rng)
  image = image.resize((image_size, image_size), Image.BILINEAR, box=box)
  if rng.random() < 0.5:
    image = image.transpose(Image.FLIP_LEFT_RIGHT)
  if not normalize:
    return np.asarray(image)
  return (np.asarray(image, dtype=np.float32) - mean) / std


class ReferencePipeline:
  """Batches of `jpegs` (encoded bytes), cycled in order, made by `train_example`."""

  def __init__(self, jpegs: list[bytes], batch_size: int, image_size: int,
               mean: tuple[float, ...], std: tuple[float, ...], normalize: bool = True):
    self.jpegs = jpegs
    self.batch_size = batch_size
    self.image_size = image_size
    self.mean = np.asarray(mean, np.float32)
    self.std = np.asarray(std, np.float32)
    self.normalize = normalize

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
                            self.mean, self.std, self.normalize)
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
