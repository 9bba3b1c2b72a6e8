r"""Training and evaluation speed of any model, on synthetic data made on device.

    python benchmark.py --model=resnet50 --batch_size=256 --half_precision
    python benchmark.py --model=all --steps=5 --markdown_out=/tmp/models.md
    python benchmark.py --model=resnet20 --json

Runs train.py's own train and eval steps (imported, not re-implemented) over all
local devices. No TensorFlow is imported on this path, so it runs on a machine
that has only JAX. Reports compile time, train and eval images per second, model
FLOPs utilisation (2 × multiply-adds × 3 per trained image, forward plus
backward, against the device's peak where it is known) and peak device memory.
"""

import json
import sys
import time

from absl import app, flags, logging
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec as P

from configs import default
import models
from models import summary
import train

FLAGS = flags.FLAGS
flags.DEFINE_string('model', 'resnet50', 'A registered model name, or "all".')
flags.DEFINE_integer('batch_size', 0, 'Global batch; 0: 256 on accelerators, 32 on CPU.')
flags.DEFINE_integer('image_size', 0, "Input side; 0: the model's paper input.")
flags.DEFINE_bool('half_precision', False, 'bfloat16 activations.')
flags.DEFINE_integer('steps', 10, 'Timed steps (after two warm-up steps).')
flags.DEFINE_bool('json', False, 'Print one JSON object per model instead of a table row.')
flags.DEFINE_string('markdown_out', '', 'With --model=all: also write the table here.')

# Dense bfloat16 peak FLOP/s per device, from the vendors' data sheets.
PEAK_BF16_FLOPS = {
    'H100': 989e12,
    'H200': 989e12,
    'A100': 312e12,
    'TPU v4': 275e12,
    'TPU v5e': 197e12,
    'TPU v5p': 459e12,
}


def device_peak_flops() -> float | None:
  kind = jax.devices()[0].device_kind
  return next((peak for name, peak in PEAK_BF16_FLOPS.items() if name in kind), None)


def peak_memory_bytes() -> int | None:
  stats = jax.local_devices()[0].memory_stats()
  return stats.get('peak_bytes_in_use') if stats else None


def synthetic_batch(mesh, batch_size: int, image_size: int, channels: int, num_classes: int):
  """Normal images and random labels, generated directly on the devices."""

  def make(key):
    image_key, label_key = jax.random.split(key)
    return {
        'image': jax.random.normal(image_key, (batch_size, image_size, image_size, channels)),
        'label': jax.random.randint(label_key, (batch_size,), 0, num_classes),
        'mask': jnp.ones((batch_size,), jnp.float32),
    }

  return jax.jit(make, out_shardings=NamedSharding(mesh, P(train.BATCH_AXIS)))(
      jax.random.key(0))


def time_steps(step, steps: int) -> float:
  """Seconds per call of `step` (which returns something to wait on), after warm-up."""
  for _ in range(2):
    jax.block_until_ready(step())
  start = time.perf_counter()
  for _ in range(steps):
    result = step()
  jax.block_until_ready(result)
  return (time.perf_counter() - start) / steps


def benchmark(name: str, batch_size: int, image_size: int, half_precision: bool,
              steps: int) -> dict:
  """Speed of train.py's train and eval steps for model `name`."""
  spec = models.spec(name)
  config = default.get_config()
  config.model = name
  config.batch_size = batch_size
  config.image_size = image_size or spec.input_size
  config.half_precision = half_precision
  config.learning_rate = 0.01
  mesh = train.create_mesh()
  if batch_size % jax.device_count():
    raise train.ConfigError(f'--batch_size={batch_size} does not divide over '
                            f'{jax.device_count()} devices')
  model = train.create_model(config, spec.num_classes)
  schedule = train.create_learning_rate_schedule(config, steps_per_epoch=1000,
                                                 total_steps=100_000)
  state = train.create_train_state(jax.random.key(0), model, config.image_size, spec.channels,
                                   train.create_optimizer(config, schedule), mesh)
  parallel_train, parallel_eval = train.compile_steps(mesh, config, schedule)
  batch = synthetic_batch(mesh, batch_size, config.image_size, spec.channels, spec.num_classes)
  dropout_rng = jax.random.key(1)

  start = time.perf_counter()
  compiled_train = parallel_train.lower(state, batch, dropout_rng).compile()
  compiled_eval = parallel_eval.lower(state, batch).compile()
  compile_seconds = time.perf_counter() - start

  def train_once():
    nonlocal state
    state, metrics = compiled_train(state, batch, dropout_rng)
    return metrics

  train_seconds = time_steps(train_once, steps)
  eval_seconds = time_steps(lambda: compiled_eval(state, batch), steps)
  train_images_per_sec = batch_size / train_seconds
  macs = summary.summarize(name, config.image_size).total_macs
  peak = device_peak_flops()
  achieved = train_images_per_sec * 2 * macs * 3
  return {
      'model': name,
      'batch_size': batch_size,
      'image_size': config.image_size,
      'half_precision': half_precision,
      'devices': jax.device_count(),
      'device_kind': jax.devices()[0].device_kind,
      'train_images_per_sec': train_images_per_sec,
      'eval_images_per_sec': batch_size / eval_seconds,
      'compile_seconds': compile_seconds,
      'mfu': achieved / (peak * jax.device_count()) if peak else None,
      'peak_memory_bytes': peak_memory_bytes(),
  }


def table_row(result: dict) -> str:
  mfu = f'{result["mfu"]:.1%}' if result['mfu'] is not None else 'n/a'
  memory = (f'{result["peak_memory_bytes"] / 2**30:.1f} GiB'
            if result['peak_memory_bytes'] else 'n/a')
  return (f'| {result["model"]} | {result["batch_size"]} | {result["image_size"]} | '
          f'{result["train_images_per_sec"]:,.1f} | {result["eval_images_per_sec"]:,.1f} | '
          f'{result["compile_seconds"]:.1f} | {mfu} | {memory} |')


TABLE_HEADER = ('| model | batch | input | train img/s | eval img/s | compile s | MFU | '
                'peak memory |\n|---|---:|---:|---:|---:|---:|---:|---:|')


def main(argv):
  del argv
  if not FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # keep the table free of library INFO logs
  on_cpu = jax.devices()[0].platform == 'cpu'
  batch_size = FLAGS.batch_size or (32 if on_cpu else 256)
  names = models.names() if FLAGS.model == 'all' else [FLAGS.model]
  try:
    for name in names:
      models.spec(name)  # unknown names fail before any work
  except ValueError as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(2)
  if not FLAGS.json:
    print(f'{jax.device_count()} × {jax.devices()[0].device_kind}, JAX {jax.__version__}')
    print(TABLE_HEADER, flush=True)
  rows = []
  for name in names:
    try:
      result = benchmark(name, batch_size, FLAGS.image_size, FLAGS.half_precision, FLAGS.steps)
    except train.ConfigError as error:
      print(f'error: {error}', file=sys.stderr)
      sys.exit(2)
    rows.append(table_row(result))
    print(json.dumps(result) if FLAGS.json else rows[-1], flush=True)
  if FLAGS.markdown_out:
    with open(FLAGS.markdown_out, 'w', encoding='utf-8') as f:
      f.write(f'{jax.device_count()} × {jax.devices()[0].device_kind}, JAX {jax.__version__}\n\n'
              + TABLE_HEADER + '\n' + '\n'.join(rows) + '\n')


if __name__ == '__main__':
  app.run(main)
