r"""Classifies image files with a trained network: top-k classes with their names.

    python predict.py --workdir=/tmp/quickstart digits/*.png
    python predict.py --workdir=/tmp/resnet50_tv photos/ --top_k=5 --out=predictions.csv
    python predict.py --workdir=/tmp/run/checkpoints/4000 a.jpg b.png --out=preds.jsonl

--workdir is whatever `trained.load` reads: a train.py run folder (its newest checkpoint,
or --step, or --best), a `python -m trained.convert` folder, or one checkpoint folder.
The arguments are files, folders (their images, recursively) and glob patterns. Each
image goes through the folder's own evaluation preprocessing with the input pipeline's
decoder and ops (preprocessing.py: the pixels evaluate.py scores), in batches split over
every device. The console gets one line per image; --out also gets them, as CSV (path,
then name, index and probability per rank) or JSON lines. Nothing else is written.

Files that cannot be read or decoded are reported on stderr and left out; the exit status
is 0 when every image was classified, 1 when some were left out, 2 when nothing could be
done (a bad flag, a folder with no network, no image found).
"""

import csv
import glob
import io
import json
import os
import sys
import time

from absl import app, flags, logging
import numpy as np

import trained
from trained import eval_view
from training import checkpoints, compilation_cache, progress, quiet_tensorflow

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A train.py run folder, a `python -m trained.convert` '
                    'folder or a checkpoints/<step> folder.')
flags.DEFINE_integer('step', None, 'The checkpoint of this step of --workdir.')
flags.DEFINE_bool('best', False, 'The checkpoint of --workdir with the best eval accuracy.')
flags.DEFINE_bool('ema', None, 'Use the moving averages (default: where the run kept them).')
flags.DEFINE_integer('top_k', 5, 'Classes shown per image.')
flags.DEFINE_string('out', None, 'Also write the predictions here: a .csv or .jsonl file.')
flags.DEFINE_integer('batch_size', 64, 'Images per step over all devices.')
flags.DEFINE_string('compilation_cache_dir', compilation_cache.default_cache_dir(),
                    "JAX's persistent compilation cache; '' = off.")

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif')
OUT_FORMATS = ('.csv', '.jsonl')


class UsageError(ValueError):
  """A command line that cannot work, with what to do."""


def image_paths(arguments: list[str]) -> tuple[list[str], list[str], bool]:
  """The files the arguments name (folders walked, globs expanded; each file once, in
  argument order), the arguments that name nothing, and whether any was a folder."""
  paths, missing, any_folder = [], [], False
  for argument in arguments:
    if os.path.isdir(argument):
      any_folder = True
      found = sorted(os.path.join(root, name) for root, _, names in os.walk(argument)
                     for name in names if name.lower().endswith(IMAGE_EXTENSIONS))
    elif os.path.isfile(argument):
      found = [argument]
    else:
      found = sorted(path for path in glob.glob(argument, recursive=True)
                     if os.path.isfile(path))
    if not found:
      missing.append(argument)
    paths.extend(found)
  return list(dict.fromkeys(paths)), missing, any_folder


def check_out(out: str | None) -> None:
  if out is None:
    return
  if not out.endswith(OUT_FORMATS):
    raise UsageError(f'--out={out}: name a .csv or a .jsonl file')
  if os.path.isdir(out):
    raise UsageError(f'--out={out} is a folder: name a .csv or a .jsonl file')
  parent = os.path.dirname(os.path.abspath(out))
  if not os.path.isdir(parent):
    raise UsageError(f'--out={out}: the folder {parent} does not exist')


def images_of(paths: list[str], net: trained.TrainedNetwork, batch_size: int):
  """Batches of (indices into `paths`, uint8 images at the network's input), the files
  that cannot be read or decoded dropped (their indices never come)."""
  # TensorFlow only now: a mistake is answered before its seconds of start-up.
  tf = quiet_tensorflow.import_tensorflow()
  import preprocessing  # pylint: disable=import-outside-toplevel
  pipeline = preprocessing.parse(net.eval_preprocess)
  channels = eval_view.input_channels(eval_view.parse(net.eval_preprocess), net.channels)
  seed = tf.constant([0, 0], tf.int64)

  def prepare(index, path):
    image = pipeline(tf.io.read_file(path), seed, channels, True,
                     normalization=(net.mean, net.std))
    return index, image

  dataset = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), np.array(paths)))
  dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
  return dataset.batch(batch_size).prefetch(2).as_numpy_iterator()


def csv_text(rows: list[tuple[str, list[tuple[int, str, float]]]], top_k: int) -> str:
  buffer = io.StringIO()
  writer = csv.writer(buffer, lineterminator='\n')
  writer.writerow(['path'] + [f'{field}_{rank}' for rank in range(1, top_k + 1)
                              for field in ('name', 'index', 'probability')])
  for path, top in rows:
    writer.writerow([path] + [value for index, name, p in top
                              for value in (name, index, f'{p:.6f}')])
  return buffer.getvalue()


def jsonl_text(rows: list[tuple[str, list[tuple[int, str, float]]]]) -> str:
  return ''.join(json.dumps({'path': path, 'top_k': [
      {'index': index, 'name': name, 'probability': round(p, 6)} for index, name, p in top]})
      + '\n' for path, top in rows)


def write_atomically(path: str, text: str) -> None:
  temporary = f'{path}.partial'
  with open(temporary, 'w', encoding='utf-8') as file:
    file.write(text)
  os.replace(temporary, path)


def predict(net: trained.TrainedNetwork, paths: list[str], top_k: int, batch_size: int,
            show_progress: bool) -> dict[int, list[tuple[int, str, float]]]:
  """The top-k (class index, name, probability) of each readable file, by index."""
  # The rate counts from the end of the first batch, which compiles the network.
  results, done, start, first = {}, 0, time.time(), 0
  for indices, images in images_of(paths, net, batch_size):
    count = len(indices)
    if count < batch_size:  # the last batch: padded, so that one program serves all
      images = np.concatenate([images, np.zeros((batch_size - count, *images.shape[1:]),
                                                images.dtype)])
    logits = net.logits(images)[:count]
    probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    top = np.argsort(-probabilities, axis=-1, kind='stable')[:, :top_k]
    for row, index in enumerate(indices):
      results[int(index)] = [(int(c), net.class_names[c], float(probabilities[row, c]))
                             for c in top[row]]
      print(f'{paths[index]}: ' + ', '.join(f'{name} {p:.3f}' for _, name, p in
                                             results[int(index)]), flush=True)
    done += count
    if not first:
      first, start = done, time.time()
    elif show_progress:
      rate = (done - first) / max(time.time() - start, 1e-9)
      eta = progress.format_duration((len(paths) - done) / rate)
      print(f'{done}/{len(paths)} images  {rate:,.0f} img/s  ETA {eta}', file=sys.stderr,
            flush=True)
  return results


def run(arguments: list[str]) -> int:
  if not FLAGS.workdir:
    raise UsageError('pass --workdir=<a run, converted or checkpoint folder> and image files, '
                     'folders or globs')
  if not arguments:
    raise UsageError('name the images to classify: files, folders or glob patterns')
  if FLAGS.top_k < 1 or FLAGS.batch_size < 1:
    raise UsageError('--top_k and --batch_size are at least 1')
  check_out(FLAGS.out)
  paths, missing, any_folder = image_paths(arguments)
  for argument in missing:
    print(f'not found: {argument} names no image file', file=sys.stderr)
  if not paths:
    raise UsageError(f'no image file in {", ".join(arguments)[:200]} (images are '
                     f'{", ".join(IMAGE_EXTENSIONS)})')
  compilation_cache.enable(FLAGS.compilation_cache_dir)
  net = trained.load(FLAGS.workdir, FLAGS.step, FLAGS.best, FLAGS.ema)
  top_k = min(FLAGS.top_k, net.num_classes)
  results = predict(net, paths, top_k, FLAGS.batch_size, show_progress=any_folder)
  unreadable = [path for index, path in enumerate(paths) if index not in results]
  for path in unreadable:
    print(f'unreadable: {path} could not be read or decoded as an image; left out',
          file=sys.stderr)
  if FLAGS.out:
    rows = [(path, results[index]) for index, path in enumerate(paths) if index in results]
    write_atomically(FLAGS.out, csv_text(rows, top_k) if FLAGS.out.endswith('.csv')
                     else jsonl_text(rows))
  left_out = len(unreadable) + len(missing)
  print(f'{len(results)} of {len(paths)} images classified with {net.model_name} '
        f'({net.checkpoint})' + (f'; {left_out} left out' if left_out else '')
        + (f'; predictions in {FLAGS.out}' if FLAGS.out else ''), file=sys.stderr)
  return 1 if left_out else 0


def main(argv):
  if not FLAGS['verbosity'].present:
    logging.set_verbosity(logging.ERROR)  # orbax's notices about the items it reads
  try:
    status = run(argv[1:])
  except (UsageError, trained.LoadError) as error:
    print(f'error: {error}', file=sys.stderr)
    checkpoints.end_process(2)
  checkpoints.end_process(status)


if __name__ == '__main__':
  app.run(main)
