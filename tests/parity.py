"""Weights that a test can regenerate from a seed, and the files they are shipped in.

The parity fixtures (tests/fixtures/parity/*.json) hold, for one torchvision or timm
network, the names and shapes of its state dict and the logits that torch computed with
`seeded_state_dict` loaded into it (tests/fixtures/parity/make_reference_logits.py, run
once with torch). A test regenerates the same tensors here with NumPy alone, writes them
as the source ships them (`write_pth`, `safetensors.numpy.save_file`), converts them with
`python -m models.convert` and compares logits. Only NumPy is imported, so the fixture
script (torch's environment) and the tests (this project's) share this file.
"""

import collections
import io
import json
import os
import pickle
import zipfile

import numpy as np

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'parity')


def seeded_state_dict(tensors: list, seed: int) -> dict[str, np.ndarray]:
  """Random weights for the (name, shape, dtype) list `tensors`, in its order.

  Convolution and linear weights are He-scaled normals, so that deep networks keep
  activations of order one; BatchNorm gets random scales, offsets and running statistics
  (identity statistics would hide a mean/variance swap); integer counters are zero.
  """
  rng = np.random.default_rng(seed)
  out = {}
  for name, shape, dtype in tensors:
    shape = tuple(shape)
    leaf = name.rsplit('.', 1)[-1]
    if not dtype.startswith('float'):
      out[name] = np.zeros(shape, dtype=dtype)
      continue
    if leaf == 'running_var':
      value = rng.uniform(0.5, 1.5, shape)
    elif leaf == 'running_mean':
      value = rng.normal(0.0, 0.1, shape)
    elif len(shape) >= 2:
      fan_in = int(np.prod(shape[1:]))
      value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    elif leaf == 'weight':  # a BatchNorm (or LayerNorm) scale
      value = rng.uniform(0.5, 1.5, shape)
    else:  # biases and offsets
      value = rng.normal(0.0, 0.1, shape)
    out[name] = value.astype(dtype)
  return out


def seeded_input(batch: int, size: int, seed: int, channels: int = 3) -> np.ndarray:
  """A normalised NCHW image batch (torch's layout)."""
  return np.random.default_rng(seed).normal(size=(batch, channels, size, size)).astype('float32')


def load_fixture(name: str) -> dict:
  with open(os.path.join(FIXTURES, f'{name}.json')) as file:
    return json.load(file)


# --- torch.save's file format, written without torch ---------------------------------

_STORAGE_NAMES = {np.dtype('float32'): 'FloatStorage', np.dtype('float64'): 'DoubleStorage',
                  np.dtype('float16'): 'HalfStorage', np.dtype('int64'): 'LongStorage',
                  np.dtype('int32'): 'IntStorage', np.dtype('uint8'): 'ByteStorage',
                  np.dtype('bool'): 'BoolStorage'}


class _Global:
  """A module-level name of torch's, pickled by reference (torch need not be importable)."""

  def __init__(self, module: str, name: str):
    self.module, self.name = module, name

  def __call__(self, *args):  # pickle wants a callable; the reader calls torch's own
    raise TypeError(f'{self.module}.{self.name} is only a name to pickle')


class _Storage:
  """One tensor's storage: pickled as a persistent id, its bytes written beside the pickle."""

  def __init__(self, key: str, array: np.ndarray):
    self.key, self.array = key, array


class _Tensor:
  """Pickled as torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)."""

  def __init__(self, key: str, array: np.ndarray):
    self.storage = _Storage(key, np.array(array, order="C"))  # ascontiguousarray makes 0-d 1-d

  def __reduce__(self):
    array = self.storage.array
    strides = tuple(s // array.itemsize for s in array.strides)
    no_hooks = _Call(_Global('collections', 'OrderedDict'), ())
    return (_Global('torch._utils', '_rebuild_tensor_v2'),
            (self.storage, 0, array.shape, strides, False, no_hooks))


class _Call:

  def __init__(self, function: _Global, args: tuple):
    self.function, self.args = function, args

  def __reduce__(self):
    return self.function, self.args


class _Pickler(pickle._Pickler):  # the Python pickler, whose save() can be extended
  """Writes torch's names as GLOBAL opcodes and storages as persistent ids."""

  def save(self, obj, save_persistent_id=True):
    if isinstance(obj, _Global):
      self.write(pickle.GLOBAL + f'{obj.module}\n{obj.name}\n'.encode('utf-8'))
      return
    super().save(obj, save_persistent_id)

  def persistent_id(self, obj):
    if isinstance(obj, _Storage):
      storage_class = _Global('torch', _STORAGE_NAMES[obj.array.dtype])
      return ('storage', storage_class, obj.key, 'cpu', obj.array.size)
    return None


def write_pth(path: str, state_dict: dict[str, np.ndarray]) -> None:
  """`state_dict` in torch.save's zip format (PyTorch >= 1.6), which torch.load reads."""
  tensors = collections.OrderedDict(
      (name, _Tensor(str(index), array)) for index, (name, array) in enumerate(state_dict.items()))
  buffer = io.BytesIO()
  _Pickler(buffer, protocol=2).dump(tensors)
  with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as archive:
    archive.writestr('archive/data.pkl', buffer.getvalue())
    archive.writestr('archive/byteorder', 'little')
    for tensor in tensors.values():
      archive.writestr(f'archive/data/{tensor.storage.key}', tensor.storage.array.tobytes())
    archive.writestr('archive/version', '3\n')
