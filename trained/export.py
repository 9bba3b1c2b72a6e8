r"""Exports a trained network for use outside this project: StableHLO, SavedModel, TFLite, ONNX.

    python -m trained.export --workdir=/tmp/resnet50_tv --format=onnx --out=/tmp/resnet50_onnx
    python -m trained.export --workdir=/tmp/run --best --format=saved_model --out=/tmp/run_tf

What is exported: the network alone, `trained.load(workdir).forward` (trained/network.py):
normalised float32 images, N × S × S × C (NHWC, S the evaluation input size), in; logits,
N × classes, out; the batch dimension is left variable in every format. Decoding, resizing,
cropping and normalisation are not in the artefact: what they are is recorded beside it in
<out>/preprocessing.json (the network's description(): mean and std on the 0-255 scale, the
evaluation view such as 'resize_short(256)|center_crop(224)', class names), so a server
applies them as predict.py does.

--out is a folder, new or empty; it receives

    format       artefact                  runs in
    stablehlo    <out>/model.stablehlo     jax.export.deserialize(bytes).call(images)
    saved_model  <out> is the SavedModel   tf.saved_model.load(out).signatures['serving_default'](images=...)['logits']
    tflite       <out>/model.tflite        ai_edge_litert.interpreter.Interpreter (or TensorFlow's)
    onnx         <out>/model.onnx          onnxruntime.InferenceSession: input 'images', output 'logits'

and <out>/preprocessing.json. Everything is written into a hidden folder beside --out and
renamed into place at the end, so a failed export leaves nothing behind.

Routes. StableHLO is `jax.export` serialised: JAX's own, versioned format, with a symbolic
batch dimension. SavedModel goes through `jax2tf.convert`, which now emits one
`XlaCallModule` op holding that same StableHLO (graph serialisation left JAX in 0.4.36):
TensorFlow runs it with XLA. TFLite is TensorFlow's TFLiteConverter over that SavedModel,
the route TensorFlow names in place of its deprecated `experimental_from_jax`; the converter
legalises the StableHLO inside XlaCallModule into TFLite's built-in operators. ONNX is
jax2onnx, which lowers JAX's primitives one by one: tf2onnx over the SavedModel cannot look
inside XlaCallModule. jax2onnx is handed the network's jaxpr replayed primitive by
primitive rather than the flax module, because its flax.linen plugins stand in for flax's
own functions during tracing and do not take every call this project makes
(`nn.max_pool(x, window)` with a positional window, for one); the lax primitives beneath
them convert exactly, but for two measured gaps worked around here: pooling windows (as
strided slices) and padding with a symbolic batch (see _pooled_by_slices, _symbolic_pads).
An operation jax2onnx cannot convert stops the export with its message, in one line.

Runtimes and converters stay optional at import: a format whose package is missing says
which to install.
"""

import argparse
import contextlib
import dataclasses
import importlib.metadata
import importlib.util
import io
import itertools
import json
import logging
import os
import shutil
import sys
import tempfile
from typing import Callable

import numpy as np

PREPROCESSING = 'preprocessing.json'


class ExportError(ValueError):
  """An export that cannot be made, with what to do."""


@dataclasses.dataclass(frozen=True)
class Format:
  """An export format: the file it writes in --out (None: --out itself), the packages that
  write it and those that run it (import name, pip name)."""

  artefact: str | None
  writes_with: tuple[tuple[str, str], ...]
  runs_with: tuple[tuple[str, str], ...]


FORMATS = {
    'stablehlo': Format('model.stablehlo', (), ()),
    'saved_model': Format(None, (('tensorflow', 'tensorflow-cpu'),),
                          (('tensorflow', 'tensorflow-cpu'),)),
    'tflite': Format('model.tflite', (('tensorflow', 'tensorflow-cpu'),),
                     (('ai_edge_litert', 'ai-edge-litert'),)),
    'onnx': Format('model.onnx', (('jax2onnx', 'jax2onnx'), ('onnx', 'onnx')),
                   (('onnxruntime', 'onnxruntime'),)),
}
INPUT_NAME, OUTPUT_NAME = 'images', 'logits'


def require(packages: tuple[tuple[str, str], ...], purpose: str) -> None:
  """Raises ExportError naming the first of `packages` that is not installed."""
  for module, pip_name in packages:
    try:
      found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module hidden by None in sys.modules
      found = False
    if not found:
      raise ExportError(f'{purpose} needs the package {pip_name}, which is not installed: '
                        f'pip install {pip_name} (the version pinned in requirements.txt)')


def _version(distribution: str) -> str:
  try:
    return importlib.metadata.version(distribution)
  except importlib.metadata.PackageNotFoundError:
    return 'unknown'


def _first_line(error: BaseException) -> str:
  """A converter's message on one line: its first non-empty line (the cause; context
  follows), cut to a readable length."""
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  text = lines[0] if lines else ''
  text = ''.join(c if c.isprintable() else ' ' for c in text)
  return f'{type(error).__name__}: {text[:400]}'


def input_shape(net) -> tuple:
  """The artefact's input shape, None for the variable batch."""
  return (None, net.image_size, net.image_size, net.channels)


def _symbolic_input(net):
  import jax  # pylint: disable=import-outside-toplevel
  batch, = jax.export.symbolic_shape('batch')
  return jax.ShapeDtypeStruct((batch, *input_shape(net)[1:]), np.float32)


@contextlib.contextmanager
def _quiet():
  """Converters print progress and debugging text of their own: kept off the console, so
  that the command's output is its one summary line (errors still raise)."""
  loggers = [logging.getLogger(name) for name in ('jax2onnx', 'tensorflow', 'absl')]
  levels = [logger.level for logger in loggers]
  for logger in loggers:
    logger.setLevel(logging.ERROR)
  try:
    with contextlib.redirect_stdout(io.StringIO()):
      yield
  finally:
    for logger, level in zip(loggers, levels):
      logger.setLevel(level)


def write_stablehlo(net, folder: str) -> str:
  import jax  # pylint: disable=import-outside-toplevel
  exported = jax.export.export(jax.jit(net.forward))(_symbolic_input(net))
  path = os.path.join(folder, FORMATS['stablehlo'].artefact)
  with open(path, 'wb') as file:
    file.write(exported.serialize())
  return f'jax {_version("jax")}'


def write_saved_model(net, folder: str) -> str:
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  from jax.experimental import jax2tf  # pylint: disable=import-outside-toplevel

  shape = input_shape(net)
  polymorphic = f'(batch, {", ".join(map(str, shape[1:]))})'
  converted = jax2tf.convert(net.forward, polymorphic_shapes=[polymorphic],
                             with_gradient=False)
  module = tf.Module()
  # The variables travel as constants inside the XlaCallModule op; a SavedModel's 2 GB
  # protocol-buffer limit is far above the largest registered network.
  module.serve = tf.function(lambda images: {OUTPUT_NAME: converted(images)}, autograph=False,
                             input_signature=[tf.TensorSpec(shape, tf.float32, INPUT_NAME)])
  tf.saved_model.save(module, folder, signatures={'serving_default': module.serve})
  return f'tensorflow {tf.__version__} (jax2tf, jax {_version("jax")})'


def write_tflite(net, folder: str) -> str:
  import tensorflow as tf  # pylint: disable=import-outside-toplevel

  saved_model = tempfile.mkdtemp(prefix='saved_model-', dir=folder)
  try:
    write_saved_model(net, saved_model)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
    flatbuffer = converter.convert()
  finally:
    shutil.rmtree(saved_model, ignore_errors=True)
  with open(os.path.join(folder, FORMATS['tflite'].artefact), 'wb') as file:
    file.write(flatbuffer)
  return f'tensorflow {tf.__version__} TFLiteConverter (jax2tf SavedModel)'


def _pooled_by_slices(eqn, x):
  """A reduce_window_max or _sum (max and average pooling) as the max or sum of its window's
  strided slices: jax2onnx lowers these windows over all four NHWC axes to one MaxPool or
  AveragePool, which ONNX Runtime refuses ('Unsupported pooling size'). None where the
  window is dilated (no registered network's is)."""
  import jax  # pylint: disable=import-outside-toplevel
  params = eqn.params
  if any(d != 1 for d in (*params['base_dilation'], *params['window_dilation'])):
    return None
  is_max = eqn.primitive.name == 'reduce_window_max'
  if any(low or high for low, high in params['padding']):
    fill = np.array(-np.inf if is_max else 0, x.dtype)
    x = jax.lax.pad(x, fill, [(low, high, 0) for low, high in params['padding']])
  out_shape = eqn.outvars[0].aval.shape
  combine = jax.lax.max if is_max else jax.lax.add
  result = None
  for offsets in itertools.product(*(range(size) for size in params['window_dimensions'])):
    piece = x
    for axis, (offset, size, stride) in enumerate(
        zip(offsets, params['window_dimensions'], params['window_strides'])):
      if size > 1 or stride > 1:  # the batch axis is never sliced: its size is symbolic
        piece = jax.lax.slice_in_dim(piece, offset, offset + stride * (out_shape[axis] - 1) + 1,
                                     stride, axis)
    result = piece if result is None else combine(result, piece)
  return result


def _replay(jaxpr, consts, *args) -> list:
  """Binds the primitives of `jaxpr` one by one (nested jit and custom_jvp bodies inlined),
  pooling windows rewritten by _pooled_by_slices."""
  from jax.extend import core  # pylint: disable=import-outside-toplevel
  values = dict(zip(jaxpr.constvars, consts)) | dict(zip(jaxpr.invars, args))

  def read(var):
    return var.val if isinstance(var, core.Literal) else values[var]

  for eqn in jaxpr.eqns:
    inputs = [read(var) for var in eqn.invars]
    name, outputs = eqn.primitive.name, None
    if name in ('reduce_window_max', 'reduce_window_sum'):
      pooled = _pooled_by_slices(eqn, inputs[0])
      outputs = None if pooled is None else [pooled]
    elif name in ('jit', 'custom_jvp_call'):
      body = eqn.params['jaxpr' if name == 'jit' else 'call_jaxpr']
      outputs = _replay(body.jaxpr, body.consts, *inputs)
    if outputs is None:
      outputs = eqn.primitive.bind(*inputs, **eqn.params)
      outputs = outputs if eqn.primitive.multiple_results else [outputs]
    values.update(zip(eqn.outvars, outputs))
  return [read(var) for var in jaxpr.outvars]


@contextlib.contextmanager
def _symbolic_pads():
  """jax2onnx's lax.pad lowering builds an onnx_ir.Shape straight from a symbolic JAX shape
  and fails on the batch dimension ('Symbolic dimension used in a context that requires a
  constant'), one line before it stamps the same shape correctly: the Shape it builds there
  gets its dimensions converted the way the stamp converts them, for the conversion only."""
  import onnx_ir  # pylint: disable=import-outside-toplevel
  from jax2onnx.plugins import _ir_shapes  # pylint: disable=import-outside-toplevel
  from jax2onnx.plugins.jax.lax import pad  # pylint: disable=import-outside-toplevel

  class ShapesConverted:
    def __getattr__(self, name):
      return getattr(onnx_ir, name)

    @staticmethod
    def Shape(dims):  # pylint: disable=invalid-name
      return onnx_ir.Shape([_ir_shapes._to_ir_dim_for_shape(dim) for dim in dims])  # pylint: disable=protected-access

  original = pad.ir
  pad.ir = ShapesConverted()
  try:
    yield
  finally:
    pad.ir = original


def write_onnx(net, folder: str) -> str:
  import jax  # pylint: disable=import-outside-toplevel
  from jax2onnx import to_onnx  # pylint: disable=import-outside-toplevel

  images = _symbolic_input(net)
  # Traced here, outside jax2onnx's tracing-time stand-ins for flax functions (see the
  # module docstring); the replay binds only JAX primitives, shapes symbolic in the same
  # scope as `images`.
  closed = jax.make_jaxpr(net.forward)(images)
  with _symbolic_pads():
    model = to_onnx(lambda x: _replay(closed.jaxpr, closed.consts, x)[0], [images],
                    model_name=net.model_name, input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME])
  with open(os.path.join(folder, FORMATS['onnx'].artefact), 'wb') as file:
    file.write(model.SerializeToString())
  return (f'jax2onnx {_version("jax2onnx")} (onnx {_version("onnx")}, opset '
          f'{model.opset_import[0].version})')


WRITERS: dict[str, Callable] = {'stablehlo': write_stablehlo, 'saved_model': write_saved_model,
                                'tflite': write_tflite, 'onnx': write_onnx}
FORMAT_NAMES = {'stablehlo': 'StableHLO', 'saved_model': 'a SavedModel', 'tflite': 'TFLite',
                'onnx': 'ONNX'}


def describe_export(net, export_format: str, exported_with: str) -> dict:
  """preprocessing.json: the artefact, its input and output, and what using it needs."""
  return {'format': export_format, 'artefact': FORMATS[export_format].artefact or '.',
          'exported_with': exported_with,
          'input': {'name': INPUT_NAME, 'shape': list(input_shape(net)), 'dtype': 'float32',
                    'layout': 'NHWC'},
          'output': {'name': OUTPUT_NAME, 'shape': [None, net.num_classes],
                     'dtype': 'float32'},
          'network': net.description()}


def check_out(out: str) -> None:
  """--out is a new or empty folder in a place this user can write."""
  if os.path.exists(out) and not os.path.isdir(out):
    raise ExportError(f'{out} is a file, not a folder: pass an --out folder that is new or empty')
  if os.path.isdir(out) and os.listdir(out):
    raise ExportError(f'{out} is not empty: pass an --out folder that is new or empty')
  existing = _nearest_existing(out)
  if not os.path.isdir(existing):
    raise ExportError(f'{existing} is a file, so --out={out} cannot be made: pass an --out '
                      'folder path')
  if not os.access(existing, os.W_OK | os.X_OK):
    raise ExportError(f'cannot write in {existing}: pass an --out folder you can write to')


def _nearest_existing(path: str) -> str:
  existing = os.path.abspath(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  return existing


def export(net, export_format: str, out: str) -> str:
  """Writes `net` in `export_format` into the folder `out` (new or empty) with its
  preprocessing.json; returns the artefact's path. Nothing is left at `out` on failure."""
  out = os.path.abspath(out)
  base = _nearest_existing(os.path.dirname(out))
  staging = tempfile.mkdtemp(prefix=f'.{os.path.basename(out)}.partial-', dir=base)
  try:
    try:
      with _quiet():
        exported_with = WRITERS[export_format](net, staging)
    except Exception as error:  # the converters raise many kinds; theirs is the message
      raise ExportError(f'{net.model_name} cannot be exported as {FORMAT_NAMES[export_format]}: '
                        f'{_first_line(error)}') from None
    with open(os.path.join(staging, PREPROCESSING), 'w') as file:
      json.dump(describe_export(net, export_format, exported_with), file, indent=1)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's folder is private
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if os.path.isdir(out):
      os.rmdir(out)  # empty: checked before
    os.rename(staging, out)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return os.path.join(out, FORMATS[export_format].artefact or '')


def read_description(folder: str) -> dict:
  """The preprocessing.json of an exported folder, checked for the fields runners use."""
  path = os.path.join(folder, PREPROCESSING)
  try:
    with open(path) as file:
      description = json.load(file)
  except (OSError, ValueError) as error:
    raise ExportError(f'cannot read {path} ({error}): pass a folder written by '
                      'python -m trained.export') from None
  if not (isinstance(description, dict) and description.get('format') in FORMATS):
    raise ExportError(f'{path} names no export format: pass a folder written by '
                      'python -m trained.export')
  return description


def load_exported(folder: str) -> Callable[[np.ndarray], np.ndarray]:
  """A function of normalised float32 N × S × S × C images to logits that runs the
  artefact in `folder` in its own runtime (the tests and benchmarks/export_latency.py)."""
  export_format = read_description(folder)['format']
  require(FORMATS[export_format].runs_with, f'running --format={export_format}')
  artefact = os.path.join(folder, FORMATS[export_format].artefact or '')
  if export_format == 'stablehlo':
    import jax  # pylint: disable=import-outside-toplevel
    with open(artefact, 'rb') as file:
      exported = jax.export.deserialize(bytearray(file.read()))
    call = jax.jit(exported.call)
    return lambda images: np.asarray(call(np.asarray(images, np.float32)))
  if export_format == 'saved_model':
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    serve = tf.saved_model.load(artefact).signatures['serving_default']
    return lambda images: serve(**{INPUT_NAME: tf.constant(images, tf.float32)})[
        OUTPUT_NAME].numpy()
  if export_format == 'tflite':
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=import-outside-toplevel
    interpreter = Interpreter(model_path=artefact)
    source, = interpreter.get_input_details()
    target, = interpreter.get_output_details()

    def run_tflite(images):
      images = np.asarray(images, np.float32)
      if tuple(interpreter.get_input_details()[0]['shape']) != images.shape:
        interpreter.resize_tensor_input(source['index'], images.shape)
        interpreter.allocate_tensors()
      interpreter.set_tensor(source['index'], images)
      interpreter.invoke()
      return interpreter.get_tensor(target['index']).copy()
    interpreter.allocate_tensors()
    return run_tflite
  import onnxruntime  # pylint: disable=import-outside-toplevel
  session = onnxruntime.InferenceSession(artefact, providers=['CPUExecutionProvider'])
  return lambda images: session.run([OUTPUT_NAME], {INPUT_NAME: np.asarray(images, np.float32)})[0]


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog='python -m trained.export',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', help='a train.py run folder, a python -m trained.convert '
                      'folder, or one checkpoints/<step> folder')
  parser.add_argument('--format', help=f'one of {", ".join(FORMATS)}')
  parser.add_argument('--out', help='the folder to write, new or empty')
  parser.add_argument('--step', type=int, default=None, help='the checkpoint of this step')
  parser.add_argument('--best', action='store_true',
                      help='the checkpoint with the best eval accuracy')
  return parser.parse_args(argv)


def main(argv: list[str]) -> int:
  args = parse_args(argv)
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  try:
    if not (args.workdir and args.format and args.out):
      raise ExportError('pass --workdir, --format and --out')
    if args.format not in FORMATS:
      raise ExportError(f'--format={args.format} is none of {", ".join(FORMATS)}')
    check_out(args.out)
    require(FORMATS[args.format].writes_with, f'--format={args.format}')
    import trained  # pylint: disable=import-outside-toplevel
    try:
      net = trained.load(args.workdir, step=args.step, best=args.best)
    except trained.LoadError as error:
      raise ExportError(str(error)) from None
    path = export(net, args.format, args.out)
  except ExportError as error:
    message = ''.join(c if c.isprintable() else ' ' for c in str(error))
    print(f'error: {message}', file=sys.stderr)
    return 2
  size = sum(os.path.getsize(os.path.join(root, name))
             for root, _, names in os.walk(os.path.abspath(args.out)) for name in names)
  print(f'exported {net.model_name} ({net.checkpoint}) as {FORMAT_NAMES[args.format]}: '
        f'{path} (folder {size / 2**20:.1f} MiB); input {INPUT_NAME}, batch × '
        f'{net.image_size} × {net.image_size} × {net.channels} float32 normalised; '
        f'preprocessing in {os.path.join(os.path.abspath(args.out), PREPROCESSING)}')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
