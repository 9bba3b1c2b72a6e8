r"""Speed of the models' train and eval steps, and of the training input pipeline.

    python benchmark.py --model=resnet50 --batch_size=256 --half_precision
    python benchmark.py --model=all --steps=5 --markdown_out=/tmp/models.md
    python benchmark.py --model=resnet20 --json
    python benchmark.py --input_pipeline [--dataset=imagenet2012 --data_dir=...]
    python benchmark.py --input_pipeline \
        --train_preprocess='inception_crop(224)|flip_lr|rand_augment(2, 7, 0.5)'
    python benchmark.py --compare --model=resnet50,vgg16 --batch_sizes=1,4,16,64 --plot=c.png

Models: runs training/steps.py's train and eval steps (imported, not re-implemented)
over all local devices on synthetic data made on the devices. No TensorFlow is
imported on this path, so it runs on a machine that has only JAX. Reports
compile time, train and eval images per second, model FLOPs utilisation (2 ×
multiply-adds × 3 per trained image, forward plus backward, against the
device's peak where it is known) and peak device memory.

Input pipeline: times input_pipeline's training batches (decode, random-resized
crop, flip, batch; the step normalises on the device) and, in the same run, the
PIL/NumPy reference of benchmarks/pil_reference.py on the same JPEGs. --train_preprocess
gives train.py's pipelines another train_preprocess string (a recipe's augmentation); the
reference still does the Inception crop and flip only. Without
--dataset it generates an ILSVRC-format dataset of real photographs of
ImageNet-like size (tools/sample_ilsvrc.py) and reads it through the tfds imagenet2012
builder, as train.py would read ImageNet. "Per core" is images per CPU-second
the pipeline consumed (all its threads or processes), so pipelines that use
different numbers of cores compare fairly.

Comparing complexity (--compare): `python -m models compare`'s table and figure
(models/compare.py: parameters, multiply-adds, top-1) with forward (inference) images
per second and memory at each of --batch_sizes on one device, timed around train.py's
evaluation step; memory is the device's peak where the device reports one, else the
compiled program's size from XLA's memory analysis (arguments, outputs and temporaries:
what the CPU backend can tell). The figure gets a second panel, forward time per image
against batch size (Canziani et al. 2017, Fig. 3). --model takes comma-separated
ImageNet networks, or "all" for every one.
"""

import gc
import json
import os
import shutil
import sys
import tempfile
import time

from absl import app, flags, logging
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
import numpy as np

from benchmarks import device_peaks
from configs import default
import models
from models import summary
from training import compilation_cache, configuration, optimizers, steps, xla_flags
from training.configuration import ConfigError

FLAGS = flags.FLAGS
COMPARE_STEPS = 3  # per network and batch size: --compare times many of them
flags.DEFINE_string('model', 'resnet50', 'A registered model name, or "all".')
flags.DEFINE_integer('batch_size', 0, 'Global batch; 0: 256 on accelerators, 32 on CPU.')
flags.DEFINE_integer('image_size', 0, "Input side; 0: the model's paper input.")
flags.DEFINE_bool('half_precision', False, 'bfloat16 activations.')
flags.DEFINE_integer('steps', 10, 'Timed steps (after two warm-up steps); with --compare, '
                     f'{COMPARE_STEPS} unless given.')
flags.DEFINE_string('compilation_cache_dir', compilation_cache.default_cache_dir(),
                    "JAX's persistent compilation cache (training/compilation_cache.py); "
                    "'' = off.")
flags.DEFINE_bool('json', False, 'Print one JSON object per model instead of a table row.')
flags.DEFINE_string('markdown_out', '', 'With --model=all or --compare: also write the table here.')
flags.DEFINE_string('profile_dir', '', 'Also profile 5 train steps into this folder and print '
                    'where the device time goes (convolutions, BatchNorm/elementwise, ...).')
flags.DEFINE_bool('input_pipeline', False,
                  'Time the training input pipeline against the PIL/NumPy reference instead.')
flags.DEFINE_string('dataset', '', 'With --input_pipeline: a dataset of encoded photographs '
                    '(imagenet2012, image_folder:<root>, ...); empty: generate one.')
flags.DEFINE_string('data_dir', None, 'With --input_pipeline: tfds data_dir.')
flags.DEFINE_string('manual_dir', None, 'With --input_pipeline: folder of the ILSVRC2012 tars.')
flags.DEFINE_string('train_preprocess', '', "With --input_pipeline: the train_preprocess "
                    "string of the pipelines timed as train.py runs them; empty: the source's "
                    "default (Inception crop and flip).")
flags.DEFINE_integer('batches', 20, 'With --input_pipeline: timed batches per pipeline.')
flags.DEFINE_integer('generated_images', 1000,
                     'With --input_pipeline and no --dataset: training images to generate.')
flags.DEFINE_bool('compare', False, "The ImageNet networks' comparison (python -m models "
                  'compare) with forward images/s and memory at each of --batch_sizes.')
flags.DEFINE_string('batch_sizes', '1,4,16,64', 'With --compare: comma-separated batch sizes.')
flags.DEFINE_string('plot', '', 'With --compare: write the figure to this PNG file.')

def peak_memory_bytes() -> int | None:
  stats = jax.local_devices()[0].memory_stats()
  return stats.get('peak_bytes_in_use') if stats else None


def synthetic_batch(mesh, batch_size: int, image_size: int, channels: int, num_classes: int):
  """Random uint8 images (as the input pipeline makes) and labels, made on the devices."""

  def make(key):
    image_key, label_key = jax.random.split(key)
    return {
        'image': jax.random.randint(image_key, (batch_size, image_size, image_size, channels),
                                    0, 256).astype(jnp.uint8),
        'label': jax.random.randint(label_key, (batch_size,), 0, num_classes),
        'mask': jnp.ones((batch_size,), jnp.float32),
    }

  return jax.jit(make, out_shardings=NamedSharding(mesh, P(steps.BATCH_AXIS)))(
      jax.random.key(0))


PROFILED_STEPS = 5


def time_steps(step, num_steps: int) -> float:
  """Seconds per call of `step` (which returns something to wait on), after warm-up."""
  for _ in range(2):
    jax.block_until_ready(step())
  start = time.perf_counter()
  for _ in range(num_steps):
    result = step()
  jax.block_until_ready(result)
  return (time.perf_counter() - start) / num_steps


def benchmark_config(name: str, batch_size: int, image_size: int = 0,
                     half_precision: bool = False, overrides: dict | None = None):
  """train.py's default config for model `name` at this batch, input and precision, with
  `overrides` (config fields of the train step: mixing, accumulation, optimiser...)."""
  config = default.get_config()
  config.model = name
  config.batch_size = batch_size
  config.image_size = image_size or models.spec(name).input_size
  config.half_precision = half_precision
  config.learning_rate = 0.01
  config.update(overrides or {})
  configuration.validate_config(config, default.FIELDS)
  return config


def initial_state(config, mesh):
  """The initial train state of config.model on the mesh, and its learning-rate schedule."""
  spec = models.spec(config.model)
  model = steps.create_model(config, spec.num_classes)
  steps.check_input_size(model, config, spec.channels)  # one line, not a trace, if too small
  schedule = optimizers.create_learning_rate_schedule(config, steps_per_epoch=1000,
                                                      total_steps=100_000)
  state = steps.create_train_state(jax.random.key(0), model, config.image_size, spec.channels,
                                   optimizers.create_optimizer(config, schedule), mesh)
  return state, schedule


def program_memory_bytes(compiled) -> int | None:
  """What XLA's memory analysis says a compiled program holds at once: its arguments,
  outputs and temporaries (outputs that reuse arguments counted once)."""
  analysis = compiled.memory_analysis()
  if analysis is None:
    return None
  return (analysis.argument_size_in_bytes + analysis.output_size_in_bytes
          + analysis.temp_size_in_bytes - analysis.alias_size_in_bytes)


def forward_speed(name: str, batch_size: int, image_size: int = 0, half_precision: bool = False,
                  num_steps: int = 3) -> dict:
  """Forward (evaluation) images per second of model `name` on one device, through train.py's
  evaluation step, and its memory: the device's peak where the device reports one (on
  a fresh device, the peak of this measurement), else the program's (XLA's analysis)."""
  spec = models.spec(name)
  config = benchmark_config(name, batch_size, image_size, half_precision)
  mesh = Mesh(np.array(jax.devices()[:1]), (steps.BATCH_AXIS,))
  state, _ = initial_state(config, mesh)
  parallel_eval = steps.compile_eval_step(mesh, (((127.5,) * spec.channels,
                                                  (64.0,) * spec.channels),))
  batch = synthetic_batch(mesh, batch_size, config.image_size, spec.channels, spec.num_classes)
  evaluated = (steps.eval_model(state),)
  start = time.perf_counter()
  compiled = parallel_eval.lower(evaluated, batch).compile()
  compile_seconds = time.perf_counter() - start
  seconds = time_steps(lambda: compiled(evaluated, batch), num_steps)
  device_peak = peak_memory_bytes()
  return {
      'model': name,
      'batch_size': batch_size,
      'image_size': config.image_size,
      'device_kind': jax.devices()[0].device_kind,
      'images_per_sec': batch_size / seconds,
      'compile_seconds': compile_seconds,
      'memory_bytes': device_peak if device_peak else program_memory_bytes(compiled),
      'memory_source': 'device peak' if device_peak else 'XLA memory analysis',
  }


def measure_compare_row(row, batch_sizes, num_steps: int = COMPARE_STEPS) -> None:
  """Fills a models.compare.Row's forward images per second and memory at each batch size."""
  for batch_size in batch_sizes:
    result = forward_speed(row.name, batch_size, num_steps=num_steps)
    row.images_per_sec[batch_size] = result['images_per_sec']
    row.memory_bytes[batch_size] = result['memory_bytes']


def run_compare() -> None:
  """--compare: the comparison table and figure of models/compare.py, measured here."""
  from models import compare
  try:
    names = (compare.imagenet_networks() if FLAGS.model == 'all'
             else [name for name in FLAGS.model.split(',') if name])
    compare.check_names(names)
    batch_sizes = compare.check_batch_sizes(FLAGS.batch_sizes)
  except ValueError as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(2)
  num_steps = FLAGS.steps if FLAGS['steps'].present else COMPARE_STEPS
  rows = compare.table_rows(names)
  for row in rows:
    measure_compare_row(row, batch_sizes, num_steps)
    print(f'measured {row.name}: ' + ', '.join(
        f'{row.images_per_sec[size]:,.1f} img/s @{size}' for size in batch_sizes),
          file=sys.stderr, flush=True)
  device = jax.devices()[0].device_kind
  if FLAGS.plot:
    compare.plot(rows, FLAGS.plot, device)
    print(f'plot: {FLAGS.plot}', file=sys.stderr)
  table = compare.format_table(rows)
  print(json.dumps(compare.to_json(rows)) if FLAGS.json else table, flush=True)
  if FLAGS.markdown_out:
    with open(FLAGS.markdown_out, 'w', encoding='utf-8') as f:
      f.write(f'1 × {device}, JAX {jax.__version__}, {num_steps} timed steps\n\n{table}\n')


class CompiledSteps:
  """A model's compiled train and eval steps on one synthetic batch, ready to time."""

  def __init__(self, name: str, batch_size: int, image_size: int = 0,
               half_precision: bool = False, overrides: dict | None = None,
               unroll_accumulation: bool | None = None):
    spec = models.spec(name)
    config = benchmark_config(name, batch_size, image_size, half_precision, overrides)
    mesh = steps.create_mesh()
    if batch_size % jax.device_count():
      raise ConfigError(f'--batch_size={batch_size} does not divide over '
                        f'{jax.device_count()} devices')
    self.state, schedule = initial_state(config, mesh)
    # Any per-channel constants cost the same as a dataset's mean and std.
    parallel_train, parallel_eval = steps.compile_steps(mesh, config, schedule,
                                                        (127.5,) * spec.channels,
                                                        (64.0,) * spec.channels,
                                                        unroll_accumulation=unroll_accumulation)
    self.batch = synthetic_batch(mesh, batch_size, config.image_size, spec.channels,
                                 spec.num_classes)
    self.dropout_rng = jax.random.key(1)
    self.image_size = config.image_size
    start = time.perf_counter()
    self.compiled_train = parallel_train.lower(self.state, self.batch, self.dropout_rng).compile()
    self.compiled_eval = parallel_eval.lower((steps.eval_model(self.state),),
                                             self.batch).compile()
    self.compile_seconds = time.perf_counter() - start

  def train_once(self):
    """One train step; its metrics, to wait on."""
    self.state, metrics = self.compiled_train(self.state, self.batch, self.dropout_rng)
    return metrics

  def eval_once(self):
    # The train step donates the state: the variables are this step's.
    return self.compiled_eval((steps.eval_model(self.state),), self.batch)


def benchmark(name: str, batch_size: int, image_size: int, half_precision: bool,
              num_steps: int, profile_dir: str = '') -> dict:
  """Speed of the train and eval steps train.py runs, for model `name`."""
  compiled = CompiledSteps(name, batch_size, image_size, half_precision)
  train_seconds = time_steps(compiled.train_once, num_steps)
  eval_seconds = time_steps(compiled.eval_once, num_steps)
  profile = None
  if profile_dir:
    from benchmarks import profile_summary
    trace = profile_summary.profile(compiled.train_once, PROFILED_STEPS,
                                    os.path.join(profile_dir, name))
    profile = profile_summary.summarize(trace, steps=PROFILED_STEPS,
                                        hlo_text=compiled.compiled_train.as_text())
  train_images_per_sec = batch_size / train_seconds
  forward_flops = 2 * summary.summarize(name, compiled.image_size).total_macs
  device_kind = device_peaks.device_kind(jax.devices()[0].device_kind)
  return {
      'model': name,
      'batch_size': batch_size,
      'image_size': compiled.image_size,
      'half_precision': half_precision,
      'devices': jax.device_count(),
      'device_kind': device_kind,
      'train_images_per_sec': train_images_per_sec,
      'eval_images_per_sec': batch_size / eval_seconds,
      'compile_seconds': compiled.compile_seconds,
      'forward_flops_per_image': forward_flops,
      'mfu': device_peaks.mfu(train_images_per_sec, forward_flops, device_kind,
                              jax.device_count(), half_precision),
      'peak_memory_bytes': peak_memory_bytes(),
      'profile': profile,
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


# --- Input pipeline --------------------------------------------------------------------


def available_cores() -> int:
  return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()


def time_batches(batches, num_batches: int, batch_size: int) -> dict:
  """Images per second, and per CPU-second of this process (every thread), of any batch
  iterator (tf.data or the PIL/NumPy reference), after warm-up."""
  for _ in range(2):  # the first batches include filling the shuffle buffer and autotuning
    next(batches)
  wall, cpu = time.perf_counter(), time.process_time()
  for _ in range(num_batches):
    next(batches)
  wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
  images = num_batches * batch_size
  return {'images_per_sec': images / wall, 'images_per_cpu_sec': images / cpu}


def recipe_preprocess(recipe: str, side: int) -> str:
  """The train_preprocess strings of the recipes benchmarked against the PIL/NumPy
  reference (benchmarks/pil_reference.RECIPE_OPS restates the same ops), for a side-`side`
  output: the scales are the papers' for 224 (256; [256, 512]; [256, 480])."""
  return {
      'inception': f'inception_crop({side})|flip_lr',
      'alexnet': f'resize_short({round(side * 256 / 224)})|center_crop({round(side * 256 / 224)})'
                 f'|random_crop({side})|flip_lr|pca_lighting(0.1)',
      'vgg': f'scale_jitter({side * 8 // 7}, {side * 16 // 7})|random_crop({side})|flip_lr'
             '|pca_lighting(0.1)',
      'resnet': f'scale_jitter({side * 8 // 7}, {side * 15 // 7})|random_crop({side})|flip_lr'
                '|pca_lighting(0.1)',
  }[recipe]


# Each op's cost is measured as what appending it to BASE_OPS adds per image and core.
OP_COST_BASE = 'resize_short({short})|random_crop({side})'
OP_COST_OPS = ('flip_lr', 'pca_lighting(0.1)', 'color_distort')


def time_recipe_pipelines(results: dict, tf_data, jpegs, source, batch_size: int,
                          image_size: int, num_batches: int) -> dict[str, float]:
  """Adds to `results` the AlexNet, VGG and ResNet recipes' pipelines, tf.data's and the
  PIL/NumPy reference's doing the same ops (uint8 out); returns tf.data's per-core ratio."""
  from benchmarks import pil_reference
  ratios = {}
  for recipe in ('alexnet', 'vgg', 'resnet'):
    ours_name = f'tf.data, {recipe} recipe (uint8 out)'
    reference_name = f'PIL/NumPy reference, {recipe} recipe, one process (uint8 out)'
    results[ours_name] = time_batches(
        tf_data(preprocess=recipe_preprocess(recipe, image_size)).as_numpy_iterator(),
        num_batches, batch_size)
    reference = pil_reference.ReferencePipeline(jpegs, batch_size, image_size, source.mean,
                                                source.std, normalize=False, recipe=recipe)
    results[reference_name] = time_batches(iter(reference), num_batches, batch_size)
    ratios[recipe] = (results[ours_name]['images_per_cpu_sec']
                      / results[reference_name]['images_per_cpu_sec'])
  return ratios


def time_op_costs(tf_data, batch_size: int, image_size: int, num_batches: int) -> dict:
  """CPU microseconds per image of OP_COST_BASE, and what each of OP_COST_OPS adds to it."""
  base = OP_COST_BASE.format(short=round(image_size * 256 / 224), side=image_size)
  microseconds = {}
  for text in (base, *(f'{base}|{op}' for op in OP_COST_OPS)):
    rate = time_batches(tf_data(preprocess=text).as_numpy_iterator(), num_batches, batch_size)
    microseconds[text] = 1e6 / rate['images_per_cpu_sec']
  costs = {op: microseconds[f'{base}|{op}'] - microseconds[base] for op in OP_COST_OPS}
  costs[base] = microseconds[base]
  return costs


def benchmark_input_pipeline(dataset: str, data_dir: str | None, manual_dir: str | None,
                             batch_size: int, image_size: int, num_batches: int,
                             generated_images: int, train_preprocess: str = '') -> dict:
  """tf.data training batches against the PIL/NumPy reference, on the same JPEGs.
  `train_preprocess`: the pipelines timed as train.py runs them use it (empty: the source's
  default); the recipes' pipelines and the op costs keep their own."""
  import tensorflow as tf  # Imported here: the model benchmarks run without TensorFlow.
  tf.config.set_visible_devices([], 'GPU')
  import input_pipeline
  from benchmarks import pil_reference
  scratch = None
  try:
    if not dataset:
      from tools import sample_ilsvrc
      scratch = tempfile.mkdtemp(prefix='input_pipeline_benchmark_')
      dataset, data_dir, manual_dir = ('imagenet2012', os.path.join(scratch, 'tfds'),
                                       os.path.join(scratch, 'manual'))
      num_classes = min(10, generated_images)
      sample_ilsvrc.write_manual_dir(manual_dir, num_classes, -(-generated_images // num_classes),
                                     num_val=10)
    source = input_pipeline.load_source(dataset, data_dir, manual_dir)
    if not source.encoded:
      raise input_pipeline.DatasetError(
          f'{dataset} is stored as decoded arrays, not encoded photographs: time the input '
          'pipeline on imagenet2012, image_folder:<root> or another photo dataset')
    jpegs = [example['image'] for example in
             source.train.dataset.take((num_batches + 1) * batch_size).as_numpy_iterator()]

    def tf_data(**options):
      options.setdefault('preprocess', train_preprocess)
      return input_pipeline.train_dataset(source, batch_size, image_size, seed=0, **options)

    def normalized_on_host(batch):
      image = (tf.cast(batch['image'], tf.float32) - source.mean) / source.std
      return {**batch, 'image': image}

    cores = available_cores()
    reference = pil_reference.ReferencePipeline(jpegs, batch_size, image_size, source.mean,
                                                source.std)
    same_work_reference = pil_reference.ReferencePipeline(jpegs, batch_size, image_size,
                                                          source.mean, source.std,
                                                          normalize=False)
    timed = {
        'tf.data, as train.py runs it (uint8 out)': tf_data(),
        'tf.data, deterministic order': tf_data(deterministic=True),
        'tf.data, private pool of one thread': tf_data(threads=1),
        'tf.data, private pool of one thread per core': tf_data(threads=cores),
        'tf.data, normalised on the host (float32 out)': tf_data().map(normalized_on_host),
    }
    results = {}
    for name, pipeline in timed.items():
      batches = pipeline.as_numpy_iterator()
      results[name] = time_batches(batches, num_batches, batch_size)
      # A live iterator keeps prefetching on tf.data's threads: stop it before the next.
      del batches
      gc.collect()
    results['PIL/NumPy reference, one process (float32 out)'] = (
        time_batches(iter(reference), num_batches, batch_size))
    results[f'PIL/NumPy reference, {cores} worker processes (float32 out)'] = (
        pil_reference.time_with_workers(reference, num_batches, cores))
    results['PIL/NumPy reference, one process, not normalised (uint8 out)'] = (
        time_batches(iter(same_work_reference), num_batches, batch_size))
    recipes = time_recipe_pipelines(results, tf_data, jpegs, source, batch_size, image_size,
                                    num_batches)
    op_costs = time_op_costs(tf_data, batch_size, image_size, num_batches)
  finally:
    if scratch:
      shutil.rmtree(scratch, ignore_errors=True)
  ours = results['tf.data, as train.py runs it (uint8 out)']
  return {
      'dataset': source.name,
      'batch_size': batch_size,
      'image_size': image_size,
      'cores': cores,
      'train_preprocess': train_preprocess,
      'pipelines': results,
      # The headline: the real pipeline against the torchvision-style path.
      'per_core_ratio': ours['images_per_cpu_sec'] / results[
          'PIL/NumPy reference, one process (float32 out)']['images_per_cpu_sec'],
      # Equal work on the host: both leave normalisation to the accelerator.
      'per_core_ratio_same_work': ours['images_per_cpu_sec'] / results[
          'PIL/NumPy reference, one process, not normalised (uint8 out)']['images_per_cpu_sec'],
      'total_ratio': ours['images_per_sec'] / results[
          f'PIL/NumPy reference, {cores} worker processes (float32 out)']['images_per_sec'],
      # Per core, tf.data against the reference doing the same recipe's ops (uint8 out).
      'recipe_per_core_ratios': recipes,
      # CPU microseconds per image: the base pipeline's, and what each op adds to it.
      'op_cpu_microseconds': op_costs,
  }


def input_pipeline_table(result: dict) -> str:
  lines = [f'{result["dataset"]}: batch {result["batch_size"]}, {result["image_size"]}×'
           f'{result["image_size"]} crops, {result["cores"]} cores',
           '| pipeline | images/s | images/s per core |', '|---|---:|---:|']
  if result['train_preprocess']:
    lines.insert(1, 'tf.data as train.py runs it: train_preprocess '
                    f'{result["train_preprocess"]!r} (the PIL/NumPy reference: Inception '
                    'crop and flip only)')
  lines += [f'| {name} | {r["images_per_sec"]:,.0f} | {r["images_per_cpu_sec"]:,.0f} |'
            for name, r in result['pipelines'].items()]
  lines.append(f'per core, tf.data is {result["per_core_ratio"]:.2f}× the PIL/NumPy reference '
               f'({result["per_core_ratio_same_work"]:.2f}× the reference without host '
               f'normalisation); with all cores {result["total_ratio"]:.2f}×')
  lines.append('per core, against the reference doing the same ops: ' + ', '.join(
      f'{recipe} {ratio:.2f}×' for recipe, ratio in result['recipe_per_core_ratios'].items()))
  lines += ['', '| op | CPU µs per image |', '|---|---:|']
  for op, microseconds in result['op_cpu_microseconds'].items():
    lines.append(f'| {op if "|" not in op else op.replace("|", " then ")} '
                 f'{"(the base)" if "|" in op else "(added to the base)"} | {microseconds:,.0f} |')
  return '\n'.join(lines)


def run_input_pipeline_benchmark() -> None:
  import input_pipeline
  import preprocessing
  try:
    result = benchmark_input_pipeline(FLAGS.dataset, FLAGS.data_dir, FLAGS.manual_dir,
                                      FLAGS.batch_size or 64, FLAGS.image_size or 224,
                                      FLAGS.batches, FLAGS.generated_images,
                                      FLAGS.train_preprocess)
  except (input_pipeline.DatasetError, preprocessing.PreprocessError) as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(2)
  print(json.dumps(result) if FLAGS.json else input_pipeline_table(result), flush=True)


def main(argv):
  del argv
  xla_flags.set_default_xla_flags()  # before JAX starts its backends
  compilation_cache.enable(FLAGS.compilation_cache_dir)
  if FLAGS.input_pipeline:
    run_input_pipeline_benchmark()
    return
  if not FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)  # keep the table free of library INFO logs
  if FLAGS.compare:
    run_compare()
    return
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
      result = benchmark(name, batch_size, FLAGS.image_size, FLAGS.half_precision, FLAGS.steps,
                         FLAGS.profile_dir)
    except ConfigError as error:
      print(f'error: {error}', file=sys.stderr)
      sys.exit(2)
    rows.append(table_row(result))
    print(json.dumps(result) if FLAGS.json else rows[-1], flush=True)
    if result['profile'] and not FLAGS.json:
      from benchmarks import profile_summary
      print(f'\n{name}: where the train step\'s device time goes\n'
            f'{profile_summary.format_summary(result["profile"])}\n', flush=True)
  if FLAGS.markdown_out:
    with open(FLAGS.markdown_out, 'w', encoding='utf-8') as f:
      f.write(f'{jax.device_count()} × {jax.devices()[0].device_kind}, JAX {jax.__version__}\n\n'
              + TABLE_HEADER + '\n' + '\n'.join(rows) + '\n')


if __name__ == '__main__':
  app.run(main)
