"""Weights that a test can regenerate from a seed, and the files they are shipped in.

The parity fixtures (tests/fixtures/parity/*.json) hold, for one torchvision or timm
network, the names and shapes of its state dict and the logits that torch computed with
`seeded_state_dict` loaded into it (tests/fixtures/parity/make_reference_logits.py, run
once with torch). A test regenerates the same tensors here with NumPy alone, writes them
as the source ships them (`write_pth`, `safetensors.numpy.save_file`), converts them with
`python -m trained.convert` and compares logits. Only NumPy is imported, so the fixture
script (torch's environment) and the tests (this project's) share this file.
"""

import collections
import dataclasses
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


@dataclasses.dataclass
class PthRecord:
  """One tensor as torch.save pickles it: a view (`offset`, `size`, `stride`, counted in
  elements) of a storage, which the pickle names by `storage_class`, `key` and `numel`
  and whose bytes are the archive's member `data/<key>`.

  `pth_records` makes the records torch.save would write; a test edits any field (a
  number, a string or anything else picklable) to write a damaged or crafted file.
  `storage_bytes=None` writes no member for the key; records with the same key share one
  storage, whose bytes the first of them gives.
  """

  key: object
  storage_class: str
  numel: object
  offset: object
  size: object
  stride: object
  storage_bytes: bytes | None


def pth_records(state_dict: dict[str, np.ndarray]) -> dict[str, PthRecord]:
  """The records of torch.save(state_dict): each tensor a contiguous view of a storage
  of its own."""
  records = {}
  for index, (name, array) in enumerate(state_dict.items()):
    array = np.array(array, order='C')  # np.ascontiguousarray would make a 0-d array 1-d
    records[name] = PthRecord(
        key=str(index), storage_class=_STORAGE_NAMES[array.dtype], numel=array.size, offset=0,
        size=array.shape, stride=tuple(s // array.itemsize for s in array.strides),
        storage_bytes=array.tobytes())
  return records


class _Global:
  """A module-level name of torch's, pickled by reference (torch need not be importable)."""

  def __init__(self, module: str, name: str):
    self.module, self.name = module, name

  def __call__(self, *args):  # pickle wants a callable; the reader calls torch's own
    raise TypeError(f'{self.module}.{self.name} is only a name to pickle')


class _Storage:
  """A storage's persistent id in the pickle: ('storage', class, key, location, numel)."""

  def __init__(self, record: PthRecord):
    self.record = record


class _Tensor:
  """Pickled as torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)."""

  def __init__(self, record: PthRecord):
    self.record = record

  def __reduce__(self):
    record = self.record
    no_hooks = _Call(_Global('collections', 'OrderedDict'), ())
    return (_Global('torch._utils', '_rebuild_tensor_v2'),
            (_Storage(record), record.offset, record.size, record.stride, False, no_hooks))


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
      record = obj.record
      return ('storage', _Global('torch', record.storage_class), record.key, 'cpu', record.numel)
    return None


def pth_pickle(records: dict[str, PthRecord], protocol: int = 2) -> bytes:
  """data.pkl of a torch.save archive holding `records` (torch.save's default protocol is
  2; torch.save(..., pickle_protocol=4) writes frames, memoize and stack-global opcodes)."""
  buffer = io.BytesIO()
  _Pickler(buffer, protocol=protocol).dump(
      collections.OrderedDict((name, _Tensor(record)) for name, record in records.items()))
  return buffer.getvalue()


def write_pth_records(path: str, records: dict[str, PthRecord], compression=zipfile.ZIP_STORED,
                      data_pkl: bytes | None = None) -> None:
  """`records` in torch.save's zip format, its members stored (as torch writes them) or
  compressed with `compression`; `data_pkl` replaces the pickle of the records."""
  with zipfile.ZipFile(path, 'w', compression) as archive:
    archive.writestr('archive/data.pkl', pth_pickle(records) if data_pkl is None else data_pkl)
    archive.writestr('archive/byteorder', 'little')
    written = set()
    for record in records.values():
      if record.storage_bytes is not None and str(record.key) not in written:
        archive.writestr(f'archive/data/{record.key}', record.storage_bytes)
        written.add(str(record.key))
    archive.writestr('archive/version', '3\n')


def write_pth(path: str, state_dict: dict[str, np.ndarray], compression=zipfile.ZIP_STORED) -> None:
  """`state_dict` in torch.save's zip format (PyTorch >= 1.6), which torch.load reads."""
  write_pth_records(path, pth_records(state_dict), compression)
