"""Reads the weight files people have: PyTorch `.pth` state dicts and `.safetensors` files.

    read_weights('resnet50-0676ba61.pth')   # {'conv1.weight': np.ndarray, ...}

A `.pth` written by `torch.save` since PyTorch 1.6 is a zip archive: `data.pkl`, a pickle
of the state dict in which every tensor is a call to `torch._utils._rebuild_tensor_v2`
over a storage kept as a separate raw file `data/<key>` of the archive. It is read here
with NumPy and a restricted unpickler that admits only those calls and ordered dicts (the
same allow-list idea as `torch.load(weights_only=True)`), so reading never runs code from
the file and needs no torch. The older, non-zip format is read through torch when it is
installed; `.safetensors` (a JSON header and raw little-endian tensors) through the
`safetensors` package.
"""

import collections
import os
import pickle
import zipfile

import numpy as np


class WeightsError(ValueError):
  """A file that is not a weights file this module reads, with what to do."""


# torch storage classes as they appear in the pickle, and the NumPy dtype of their bytes.
# bfloat16 has no NumPy dtype: its 16 bits are widened to float32 below.
_STORAGE_DTYPES = {
    'FloatStorage': np.dtype('<f4'), 'DoubleStorage': np.dtype('<f8'),
    'HalfStorage': np.dtype('<f2'), 'BFloat16Storage': np.dtype('<u2'),
    'LongStorage': np.dtype('<i8'), 'IntStorage': np.dtype('<i4'),
    'ShortStorage': np.dtype('<i2'), 'CharStorage': np.dtype('i1'),
    'ByteStorage': np.dtype('u1'), 'BoolStorage': np.dtype('?'),
}


class _Storage:
  """A storage class named in the pickle (torch.FloatStorage, ...)."""

  def __init__(self, name: str):
    self.name = name
    self.dtype = _STORAGE_DTYPES[name]


def _bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
  return (bits.astype(np.uint32) << 16).view(np.float32)


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False,
                    backward_hooks=None, metadata=None):
  """torch._utils._rebuild_tensor_v2: a view of `storage` with `size` and `stride`
  (counted in elements), copied out of the archive's buffer."""
  data, name = storage
  itemsize = data.dtype.itemsize
  view = np.lib.stride_tricks.as_strided(data[storage_offset:], shape=tuple(size),
                                         strides=tuple(s * itemsize for s in stride))
  array = np.array(view)
  return _bfloat16_to_float32(array) if name == 'BFloat16Storage' else array


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
  return data


class _WeightsUnpickler(pickle.Unpickler):
  """Unpickles a state dict, refusing any object that is not a tensor or a dict."""

  def __init__(self, file, archive: zipfile.ZipFile, prefix: str, path: str):
    super().__init__(file)
    self._archive, self._prefix, self._path = archive, prefix, path

  def find_class(self, module, name):
    if (module, name) == ('collections', 'OrderedDict'):
      return collections.OrderedDict
    if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
      return _rebuild_tensor
    if (module, name) == ('torch._utils', '_rebuild_parameter'):
      return _rebuild_parameter
    if module == 'torch' and name in _STORAGE_DTYPES:
      return _Storage(name)
    raise WeightsError(f'{self._path} holds a {module}.{name} object, not only tensors: '
                       'save the state dict alone (torch.save(model.state_dict(), path))')

  def persistent_load(self, pid):
    kind, storage, key, _location, numel = pid
    if kind != 'storage' or not isinstance(storage, _Storage):
      raise WeightsError(f'{self._path} refers to a {kind!r} record this reader does not know')
    raw = self._archive.read(f'{self._prefix}data/{key}')
    return np.frombuffer(raw, dtype=storage.dtype, count=numel), storage.name


def _read_pth_archive(path: str) -> dict:
  with zipfile.ZipFile(path) as archive:
    pickles = [name for name in archive.namelist() if name.endswith('data.pkl')]
    if not pickles:
      raise WeightsError(f'{path} is a zip archive without data.pkl: not a file of torch.save')
    prefix = pickles[0][:-len('data.pkl')]
    byteorder = f'{prefix}byteorder'
    if byteorder in archive.namelist() and archive.read(byteorder) != b'little':
      raise WeightsError(f'{path} was written on a big-endian machine: re-save it on a '
                         'little-endian one')
    with archive.open(pickles[0]) as file:
      return _WeightsUnpickler(file, archive, prefix, path).load()


def _read_legacy_pth(path: str) -> dict:
  try:
    import torch  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise WeightsError(f'{path} is in PyTorch\'s legacy (pre-1.6) format, which only torch '
                       'reads: pip install torch (it is not in requirements.txt), or re-save it '
                       'with a recent torch') from None
  loaded = torch.load(path, map_location='cpu', weights_only=True)
  return {name: value.float().numpy() if value.is_floating_point() else value.numpy()
          for name, value in _state_dict_of(loaded, path).items()}


def _read_safetensors(path: str) -> dict:
  from safetensors import SafetensorError  # pylint: disable=import-outside-toplevel
  from safetensors.numpy import load_file  # pylint: disable=import-outside-toplevel
  try:
    return load_file(path)
  except (SafetensorError, ValueError, TypeError) as error:
    raise WeightsError(f'{path} cannot be read as .safetensors ({error}): pass a complete '
                       'file as downloaded') from None


def _state_dict_of(loaded, path: str) -> dict:
  """The tensors of a loaded checkpoint: a state dict itself, or one kept under 'state_dict'
  or 'model' (training checkpoints), without DataParallel's 'module.' prefix."""
  if isinstance(loaded, dict):
    for key in ('state_dict', 'model'):
      if isinstance(loaded.get(key), dict):
        loaded = loaded[key]
        break
  if not isinstance(loaded, dict) or not loaded:
    raise WeightsError(f'{path} holds no state dict: save model.state_dict()')
  return {(name[len('module.'):] if name.startswith('module.') else name): value
          for name, value in loaded.items()}


def read_weights(path: str) -> dict[str, np.ndarray]:
  """The named tensors of a `.pth`/`.pt`/`.bin` (torch.save) or `.safetensors` file."""
  if not os.path.isfile(path):
    raise WeightsError(f'no weights file at {path}: pass the path of a downloaded .pth or '
                       '.safetensors file')
  try:
    with open(path, 'rb') as file:
      magic = file.read(4)
    if path.endswith('.safetensors'):
      tensors = _read_safetensors(path)
    elif magic == b'PK\x03\x04':  # a zip archive, torch.save's format since PyTorch 1.6
      tensors = _state_dict_of(_read_pth_archive(path), path)
    else:
      if magic[:2] not in (b'\x80\x02', b'\x80\x03', b'\x80\x04', b'\x80\x05'):
        raise WeightsError(f'{path} is neither a torch.save file nor .safetensors: pass a '
                           'weights file as downloaded (.pth or .safetensors)')
      tensors = _read_legacy_pth(path)
  except (zipfile.BadZipFile, EOFError, KeyError, pickle.UnpicklingError, ValueError,
          TypeError) as error:
    if isinstance(error, WeightsError):
      raise
    raise WeightsError(f'{path} is truncated or not a weights file ({type(error).__name__}: '
                       f'{" ".join(str(error).split())[:120]}): download it again') from None
  bad = [name for name, value in tensors.items() if not isinstance(value, np.ndarray)]
  if bad:
    raise WeightsError(f'{path}: {bad[0]!r} is not a tensor: save the state dict alone')
  return dict(tensors)
