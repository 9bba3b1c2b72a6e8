"""Reads the weight files people have: PyTorch `.pth` state dicts and `.safetensors` files.

    read_weights('resnet50-0676ba61.pth')   # {'conv1.weight': np.ndarray, ...}

A `.pth` written by `torch.save` since PyTorch 1.6 is a zip archive: `data.pkl`, a pickle
of the state dict in which every tensor is a call to `torch._utils._rebuild_tensor_v2`
(a view: storage, offset, size and stride, counted in elements) over a storage kept as a
separate raw member `data/<key>` of the archive. It is read here with NumPy and no torch.
The older, non-zip format is read through torch when it is installed; `.safetensors` (a
JSON header and raw little-endian tensors) through the `safetensors` package.

Any file may be damaged or crafted, so nothing in it is trusted before it is checked, and
every failure is a WeightsError of one line that says what to do:

- data.pkl is at most 4 MiB (torch writes ~100 bytes a tensor) and is run by a small
  pickle machine of this file that knows only the opcodes and calls torch.save writes for
  a state dict: nothing from the file runs, and it makes nothing but numbers, strings,
  tuples, lists, dicts keyed by strings and records of tensors and storages. (Python's
  own unpickler, even restricted, zero-fills a memo as long as an index the file names
  and hashes dict keys of any depth, which overflows the C stack.)
- Each tensor, by name, after unpickling: its storage record is ('storage', a known
  storage class, a key, a location, numel) and the member `data/<key>` exists and holds
  exactly numel × the class's item size bytes; its offset, sizes and strides are integers
  in [0, 2**63) (not bools or floats), as many strides as sizes (at most 32); it has no
  more elements than its storage, and its last element lies inside the storage.
- Before any storage is read: a storage may hold at most twice the bytes of the
  tensors that view it plus 4 KiB (torch.save writes each tensor's own storage; a much
  larger one is data no tensor uses, which a compressed archive could inflate at will),
  and all tensors together at most 8 times the file's size plus 16 MiB (torch stores
  tensors uncompressed, so they take about the file's size; more means a decompression
  bomb or overlapping zip members). A storage is then read whole, so that zip's CRC-32
  checks its bytes, and the views are copied out of it.
- A `.safetensors` header is at most 16 MiB; the safetensors package checks the header
  (JSON, offsets inside the data, neither overlapping nor leaving gaps, shape × dtype ==
  bytes), and each tensor's dtype is checked here to be one NumPy holds.

The values are not judged here: trained/convert.py refuses non-finite and integer weights.
"""

import collections
import dataclasses
import lzma
import math
import os
import pickle
import pickletools
import struct
import zipfile
import zlib

import numpy as np


class WeightsError(ValueError):
  """A file that is not a weights file this module reads, with what to do."""


MAX_PICKLE_BYTES = 4 << 20
MAX_SAFETENSORS_HEADER_BYTES = 16 << 20
# A storage may hold this many times the bytes its tensors take, plus the slack.
STORAGE_BYTES_PER_TENSOR_BYTE = 2
STORAGE_SLACK_BYTES = 4 << 10
# All tensors together may take this many times the file's size, plus the slack.
TENSOR_BYTES_PER_FILE_BYTE = 8
TENSOR_SLACK_BYTES = 16 << 20
MAX_DIMENSIONS = 32  # NumPy 1.x's limit; weights have at most 5

# torch storage classes as they appear in the pickle, and the NumPy dtype of their bytes.
# bfloat16 has no NumPy dtype: its 16 bits are widened to float32 below.
_STORAGE_DTYPES = {
    'FloatStorage': np.dtype('<f4'), 'DoubleStorage': np.dtype('<f8'),
    'HalfStorage': np.dtype('<f2'), 'BFloat16Storage': np.dtype('<u2'),
    'LongStorage': np.dtype('<i8'), 'IntStorage': np.dtype('<i4'),
    'ShortStorage': np.dtype('<i2'), 'CharStorage': np.dtype('i1'),
    'ByteStorage': np.dtype('u1'), 'BoolStorage': np.dtype('?'),
}
# safetensors dtypes that NumPy holds (BF16 and the F8 types it does not).
_SAFETENSORS_DTYPES = {'F64', 'F32', 'F16', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16',
                       'U8', 'BOOL'}

_DOWNLOAD_AGAIN = 'download it again (the file is damaged, or not written by torch.save)'


def _shown(text) -> str:
  """A string from the file, safe to print on one line."""
  text = str(text)
  return text if text.isprintable() and len(text) <= 80 else repr(text[:80])


# --- data.pkl --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Global:
  """A function or class the pickle names (module, name), from those admitted below."""
  module: str
  name: str


@dataclasses.dataclass(frozen=True)
class _StorageClass:
  """torch.FloatStorage and its kin, as a storage record names them."""
  name: str


@dataclasses.dataclass(frozen=True)
class _PersistentId:
  """What the pickle gave as a storage's persistent id, checked when a tensor uses it."""
  value: object


@dataclasses.dataclass(frozen=True)
class _TensorRecord:
  """A call to torch._utils._rebuild_tensor_v2, checked when its name is known."""
  storage: object
  offset: object
  size: object
  stride: object


_ORDERED_DICT = _Global('collections', 'OrderedDict')
_REBUILD_TENSOR = _Global('torch._utils', '_rebuild_tensor_v2')
_REBUILD_PARAMETER = _Global('torch._utils', '_rebuild_parameter')
# Opcodes whose argument is the value to push, and those that push a new constant.
_PUSH_ARGUMENT = {'INT', 'BININT', 'BININT1', 'BININT2', 'LONG', 'LONG1', 'LONG4', 'FLOAT',
                  'BINFLOAT', 'UNICODE', 'BINUNICODE', 'SHORT_BINUNICODE', 'BINUNICODE8'}
_PUSH_NEW = {'NONE': lambda: None, 'NEWTRUE': lambda: True, 'NEWFALSE': lambda: False,
             'EMPTY_TUPLE': tuple, 'EMPTY_LIST': list, 'EMPTY_DICT': dict}


def _global(module: str, name: str, path: str):
  if _Global(module, name) in (_ORDERED_DICT, _REBUILD_TENSOR, _REBUILD_PARAMETER):
    return _Global(module, name)
  if module == 'torch' and name in _STORAGE_DTYPES:
    return _StorageClass(name)
  raise WeightsError(f'{path} holds a {_shown(module)}.{_shown(name)} object, not only '
                     'tensors: save the state dict alone (torch.save(model.state_dict(), path))')


def _call(function, args, path: str):
  """The REDUCE opcode: one of the admitted calls, with the arguments torch writes."""
  if not isinstance(function, _Global) or not isinstance(args, tuple):
    raise WeightsError(f'{path}: data.pkl calls a {type(function).__name__}, not a function '
                       f'of a state dict: {_DOWNLOAD_AGAIN}')
  if function == _ORDERED_DICT and not args:
    return collections.OrderedDict()
  if function == _REBUILD_TENSOR and len(args) in (6, 7):  # metadata is the 7th
    return _TensorRecord(*args[:4])
  if function == _REBUILD_PARAMETER and len(args) == 3:  # data, requires_grad, hooks
    return args[0]
  raise WeightsError(f'{path}: data.pkl calls {function.module}.{function.name} with '
                     f'{len(args)} arguments, which torch.save does not write: {_DOWNLOAD_AGAIN}')


def _unpickle(data: bytes, path: str):
  """The object that data.pkl describes, made by a machine that knows only the opcodes
  torch.save writes (pickletools parses them, without running anything)."""
  stack, marks, memo = [], [], {}

  def damaged(what: str) -> WeightsError:
    return WeightsError(f'{path}: data.pkl {what}: {_DOWNLOAD_AGAIN}')

  def pop(count: int) -> list:
    if len(stack) - (marks[-1] if marks else 0) < count:
      raise damaged('takes more values than it pushed')
    items = stack[len(stack) - count:]
    del stack[len(stack) - count:]
    return items

  def pop_mark() -> list:
    if not marks:
      raise damaged('ends a group it did not start')
    start = marks.pop()
    items = stack[start:]
    del stack[start:]
    return items

  def top(kind=object):
    if len(stack) <= (marks[-1] if marks else 0):
      raise damaged('uses a value it did not push')
    if not isinstance(stack[-1], kind):
      raise damaged(f'adds items to a {type(stack[-1]).__name__}, not a {kind.__name__}')
    return stack[-1]

  def set_items(target: dict, items: list) -> dict:
    if len(items) % 2:
      raise damaged('gives a dict a key without a value')
    for key, value in zip(items[::2], items[1::2]):
      if type(key) is not str:  # hashing a crafted key (a deep tuple) overflows the C stack
        raise damaged(f'keys a dict with a {type(key).__name__}, not a name')
      target[key] = value
    return target

  for opcode, arg, _ in pickletools.genops(data):
    name = opcode.name
    if name == 'PROTO' and arg > pickle.HIGHEST_PROTOCOL:
      raise damaged(f'is of pickle protocol {arg}, which Python does not know')
    if name in ('PROTO', 'FRAME'):
      continue
    if name in _PUSH_ARGUMENT:
      stack.append(arg)
    elif name in _PUSH_NEW:
      stack.append(_PUSH_NEW[name]())
    elif name == 'MARK':
      marks.append(len(stack))
    elif name in ('TUPLE1', 'TUPLE2', 'TUPLE3'):
      stack.append(tuple(pop(int(name[-1]))))
    elif name == 'TUPLE':
      stack.append(tuple(pop_mark()))
    elif name == 'LIST':
      stack.append(pop_mark())
    elif name == 'DICT':
      stack.append(set_items({}, pop_mark()))
    elif name == 'APPEND':
      value, = pop(1)
      top(list).append(value)
    elif name == 'APPENDS':
      items = pop_mark()
      top(list).extend(items)
    elif name == 'SETITEM':
      items = pop(2)
      set_items(top(dict), items)
    elif name == 'SETITEMS':
      items = pop_mark()
      set_items(top(dict), items)
    elif name in ('PUT', 'BINPUT', 'LONG_BINPUT'):
      memo[arg] = top()
    elif name == 'MEMOIZE':
      memo[len(memo)] = top()
    elif name in ('GET', 'BINGET', 'LONG_BINGET'):
      if arg not in memo:
        raise damaged(f'recalls a value it never stored ({arg})')
      stack.append(memo[arg])
    elif name == 'GLOBAL':
      module, _, qualname = arg.partition(' ')
      stack.append(_global(module, qualname, path))
    elif name == 'STACK_GLOBAL':
      module, qualname = pop(2)
      if type(module) is not str or type(qualname) is not str:
        raise damaged('names a function by something that is not a string')
      stack.append(_global(module, qualname, path))
    elif name == 'BINPERSID':
      stack.append(_PersistentId(pop(1)[0]))
    elif name == 'REDUCE':
      function, args = pop(2)
      stack.append(_call(function, args, path))
    elif name == 'BUILD':
      pop(1)  # the state dict's _metadata (its modules' versions), which nothing here uses
      top(dict)
    elif name == 'POP':
      pop(1)
    elif name == 'POP_MARK':
      pop_mark()
    elif name == 'DUP':
      stack.append(top())
    elif name == 'STOP':
      return pop(1)[0]
    else:
      raise damaged(f'uses the pickle opcode {name}, which torch.save does not write')
  raise damaged('ends before its STOP opcode')


# --- the tensors of a torch.save archive -----------------------------------------------

@dataclasses.dataclass(frozen=True)
class _View:
  """A tensor whose record is proven to lie inside its storage."""
  member: zipfile.ZipInfo
  storage_class: str
  offset: int
  size: tuple
  stride: tuple
  count: int  # elements

  @property
  def dtype(self) -> np.dtype:
    return _STORAGE_DTYPES[self.storage_class]


def _is_index(value) -> bool:
  """An integer torch holds as an offset, size or stride: int64, not negative."""
  return type(value) is int and 0 <= value < 2**63  # type() is: not a bool


def _checked_view(name: str, record, archive: zipfile.ZipFile, prefix: str, path: str) -> _View:
  """The view `record` describes, once its storage exists and holds every element."""
  def refuse(problem: str) -> WeightsError:
    return WeightsError(f'{path}: tensor {_shown(name)} {problem}: {_DOWNLOAD_AGAIN}')

  if not isinstance(record, _TensorRecord):
    raise WeightsError(f'{path}: {_shown(name)} is not a tensor: save the state dict alone')
  pid = record.storage.value if isinstance(record.storage, _PersistentId) else None
  if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == 'storage'):
    raise refuse('has a storage record this reader does not know')
  _, storage_class, key, _location, numel = pid
  if not isinstance(storage_class, _StorageClass):
    raise refuse('has a storage of no known type')
  if type(key) is not str or not _is_index(numel):
    raise refuse('has a storage record without a key or an element count')
  try:
    member = archive.getinfo(f'{prefix}data/{key}')
  except KeyError:
    raise refuse(f'refers to storage data/{_shown(key)}, which the archive lacks') from None
  itemsize = _STORAGE_DTYPES[storage_class.name].itemsize
  if member.file_size != numel * itemsize:
    raise refuse(f'has a storage data/{_shown(key)} of {member.file_size} bytes, not the '
                 f'{numel} × {itemsize} its record declares')
  size, stride, offset = record.size, record.stride, record.offset
  if not (_is_index(offset) and isinstance(size, (tuple, list))
          and isinstance(stride, (tuple, list)) and len(size) == len(stride) <= MAX_DIMENSIONS
          and all(_is_index(value) for value in (*size, *stride))):
    raise refuse('has an offset, sizes or strides that are not non-negative integers, as '
                 'many strides as sizes')
  count = math.prod(size)
  if count > numel:
    raise refuse(f'has {count} elements, more than the {numel} its storage holds')
  if count:
    last = offset + sum((length - 1) * step for length, step in zip(size, stride))
    if last >= numel:
      raise refuse(f'reads element {last} of a storage of {numel} elements')
  elif offset > numel:
    raise refuse(f'starts at element {offset} of a storage of {numel} elements')
  return _View(member, storage_class.name, offset, tuple(size), tuple(stride), count)


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, path: str) -> bytes:
  """A member's bytes, all of them (zipfile checks its CRC-32 on reaching the end)."""
  with archive.open(member) as stream:
    data = stream.read(member.file_size)
  if len(data) != member.file_size:
    raise WeightsError(f'{path}: {_shown(member.filename)} ends after {len(data)} of its '
                       f'{member.file_size} bytes: {_DOWNLOAD_AGAIN}')
  return data


def _materialise(views: dict[str, _View], archive: zipfile.ZipFile, path: str) -> dict:
  """The tensors of checked views, each storage bounded and read once."""
  storages: dict[str, list] = {}
  for name, view in views.items():
    storages.setdefault(view.member.filename, []).append(name)
  total = 0
  for names in storages.values():
    member = views[names[0]].member
    used = sum(views[name].count * views[name].dtype.itemsize for name in names)
    if member.file_size > STORAGE_BYTES_PER_TENSOR_BYTE * used + STORAGE_SLACK_BYTES:
      raise WeightsError(
          f'{path}: the storage of tensor {_shown(names[0])} holds {member.file_size:,} bytes, '
          f'but its tensors take {used:,}: re-save the state dict with each tensor cloned '
          '(torch.save({k: v.clone() for k, v in state_dict.items()}, path)), or download '
          'it again')
    total += used
  file_size = os.path.getsize(path)
  if total > TENSOR_BYTES_PER_FILE_BYTE * file_size + TENSOR_SLACK_BYTES:
    raise WeightsError(f'{path}: its tensors would take {total:,} bytes, more than '
                       f'{TENSOR_BYTES_PER_FILE_BYTE} times the file\'s {file_size:,} (a '
                       f'decompression bomb or overlapping zip members): {_DOWNLOAD_AGAIN}')
  tensors = {}
  for names in storages.values():
    data = _read_member(archive, views[names[0]].member, path)
    for name in names:
      view = views[name]  # its dtype may differ from another view's of the same storage
      if view.count == 0:
        array = np.zeros(view.size, view.dtype)
      else:  # inside the storage, as _checked_view proved
        storage = np.frombuffer(data, dtype=view.dtype)
        array = np.lib.stride_tricks.as_strided(
            storage[view.offset:], view.size,
            [step * view.dtype.itemsize for step in view.stride]).copy()
      if view.storage_class == 'BFloat16Storage':
        array = _bfloat16_to_float32(array)
      tensors[name] = array
  return {name: tensors[name] for name in views}


def _bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
  return (bits.astype(np.uint32) << 16).view(np.float32)


def _read_pth_archive(path: str) -> dict:
  with zipfile.ZipFile(path) as archive:
    pickles = [info for info in archive.infolist()
               if info.filename == 'data.pkl' or info.filename.endswith('/data.pkl')]
    if not pickles:
      raise WeightsError(f'{path} is a zip archive without data.pkl: not a file of torch.save')
    prefix = pickles[0].filename[:-len('data.pkl')]
    if pickles[0].file_size > MAX_PICKLE_BYTES:
      raise WeightsError(f'{path}: its data.pkl declares {pickles[0].file_size:,} bytes, more '
                         f'than the {MAX_PICKLE_BYTES >> 20} MiB a state dict\'s pickle '
                         f'takes: {_DOWNLOAD_AGAIN}')
    try:
      byteorder = archive.getinfo(f'{prefix}byteorder')
    except KeyError:
      byteorder = None  # files of PyTorch < 1.10 have none and are little-endian
    if byteorder is not None:
      order = _read_member(archive, byteorder, path) if byteorder.file_size <= 6 else b''
      if order == b'big':
        raise WeightsError(f'{path} was written on a big-endian machine: re-save it on a '
                           'little-endian one')
      if order != b'little':
        raise WeightsError(f'{path}: its byteorder member is neither little nor big: '
                           f'{_DOWNLOAD_AGAIN}')
    loaded = _unpickle(_read_member(archive, pickles[0], path), path)
    records = _state_dict_of(loaded, path)
    views = {name: _checked_view(name, record, archive, prefix, path)
             for name, record in records.items()}
    return _materialise(views, archive, path)


# --- the other formats -----------------------------------------------------------------

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
  from safetensors import SafetensorError, safe_open  # pylint: disable=import-outside-toplevel
  with open(path, 'rb') as file:
    header_size = int.from_bytes(file.read(8), 'little')
  if header_size > MAX_SAFETENSORS_HEADER_BYTES:
    raise WeightsError(f'{path} declares a header of {header_size:,} bytes, more than the '
                       f'{MAX_SAFETENSORS_HEADER_BYTES >> 20} MiB a .safetensors header takes: '
                       'pass a complete file as downloaded')
  try:
    with safe_open(path, framework='np') as file:
      names = list(file.keys())
      for name in names:
        dtype = file.get_slice(name).get_dtype()
        if dtype not in _SAFETENSORS_DTYPES:
          raise WeightsError(f'{path}: tensor {_shown(name)} is of dtype {_shown(dtype)}, '
                             'which NumPy does not hold: save the weights as float32')
      return {name: file.get_tensor(name) for name in names}
  except (SafetensorError, ValueError, TypeError) as error:
    if isinstance(error, WeightsError):
      raise
    raise WeightsError(f'{path} cannot be read as .safetensors ({_one_line(error)}): pass a '
                       'complete file as downloaded') from None


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
  state_dict = {}
  for name, value in loaded.items():
    if not isinstance(name, str):
      raise WeightsError(f'{path} names a tensor by a {type(name).__name__}: save the state '
                         'dict alone')
    short = name[len('module.'):] if name.startswith('module.') else name
    if short in state_dict:
      raise WeightsError(f'{path} holds both {_shown(short)} and module.{_shown(short)}: '
                         'save the state dict of one model')
    state_dict[short] = value
  return state_dict


def _one_line(error: BaseException) -> str:
  return f'{type(error).__name__}: {" ".join(str(error).split())[:120]}'


# What zipfile, zlib, bz2, lzma and pickletools raise for a damaged file. RuntimeError
# covers an encrypted member and NotImplementedError (an unknown compression method).
_DAMAGED_FILE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError,
                        ValueError, RuntimeError, struct.error, zlib.error, lzma.LZMAError,
                        OverflowError, pickle.UnpicklingError)  # the last: torch.load's


def read_weights(path: str) -> dict[str, np.ndarray]:
  """The named tensors of a `.pth`/`.pt`/`.bin` (torch.save) or `.safetensors` file."""
  if not os.path.isfile(path):
    raise WeightsError(f'no weights file at {path}: pass the path of a downloaded .pth or '
                       '.safetensors file')
  if not os.access(path, os.R_OK):
    raise WeightsError(f'cannot read {path}: make it readable (chmod +r)')
  try:
    with open(path, 'rb') as file:
      magic = file.read(4)
    if path.endswith('.safetensors'):
      tensors = _read_safetensors(path)
    elif magic == b'PK\x03\x04':  # a zip archive, torch.save's format since PyTorch 1.6
      tensors = _read_pth_archive(path)
    else:
      if magic[:2] not in (b'\x80\x02', b'\x80\x03', b'\x80\x04', b'\x80\x05'):
        raise WeightsError(f'{path} is neither a torch.save file nor .safetensors: pass a '
                           'weights file as downloaded (.pth or .safetensors)')
      tensors = _read_legacy_pth(path)
  except WeightsError:
    raise
  except MemoryError:
    raise WeightsError(f'{path} does not fit in the memory left on this machine: free some, '
                       'or convert on a larger one') from None
  except _DAMAGED_FILE_ERRORS as error:
    raise WeightsError(f'{path} is truncated or not a weights file ({_one_line(error)}): '
                       'download it again') from None
  if not tensors:
    raise WeightsError(f'{path} holds no tensors: pass a weights file as downloaded')
  bad = [name for name, value in tensors.items() if not isinstance(value, np.ndarray)]
  if bad:
    raise WeightsError(f'{path}: {bad[0]!r} is not a tensor: save the state dict alone')
  return dict(tensors)
