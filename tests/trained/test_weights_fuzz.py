"""trained/weights_file.py fuzzed: seeded mutations of small valid weight files, each read by
`read_weights` in a worker process under a memory limit and a timeout.

The source is a small state dict: float32 and float16 tensors, a 0-d int64 counter, and a
transposed view and an offset row that share one storage. It is written as .pth (a zip,
its members stored as torch.save writes them, and deflated) and as .safetensors. The
mutations: byte flips and truncations anywhere; edited zip fields (sizes, CRCs, offsets,
name lengths, compression methods, flags, the end record); edited pickle records (offset,
sizes, strides, numel, storage class, key, storage bytes) and flipped or truncated
pickles, re-zipped with valid CRCs; edited safetensors headers (offsets, shapes, dtypes,
the header length); and crafted files: decompression and pickle bombs, a pickle whose
dict key is a deeply nested tuple, a pickle naming a memo index of 2**30.

The criterion, for every case: `read_weights` returns tensors or raises a one-line
WeightsError, never another exception, a crash, a hang or a peak memory that shows a
bomb was inflated; and what it returns is what the file holds:
- a byte-level mutation of a .pth: zip's CRC-32 guards every member, so the tensors equal
  the source's (names, dtypes, shapes and bytes);
- a re-zipped .pth (valid CRCs, edited records or pickle): the tensors equal what the
  file's pickle, decoded by Python's own unpickler, addresses in its storages, gathered
  here element by element (`gathered`); a record that addresses any element outside its
  storage's bytes, or whose storage's bytes are not numel × item size, must be refused;
- a .safetensors (no checksum): every tensor is what the file's own header says: its
  name, dtype and shape, and its bytes the header's slice of the data. For flips of data
  bytes alone that means names, dtypes and shapes equal the source's and no more bytes
  differ than were flipped.
Refusing is always allowed (the reader's limits refuse some valid files); the crafted
cases must be refused, with the tensor's name where a record is at fault.
"""

import collections
import dataclasses
import io
import json
import math
import os
import pickle
import resource
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests import parity

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEMORY_LIMIT = 1 << 30  # address space of the worker
PEAK_RSS_LIMIT = 384 << 20  # a bomb inflated would pass it (they hold 512 MiB)
WORKER_TIMEOUT = 300
BOMB_BYTES = 512 << 20
TORCH_DTYPES = {'FloatStorage': '<f4', 'DoubleStorage': '<f8', 'HalfStorage': '<f2',
                'BFloat16Storage': '<u2', 'LongStorage': '<i8', 'IntStorage': '<i4',
                'ShortStorage': '<i2', 'CharStorage': 'i1', 'ByteStorage': 'u1',
                'BoolStorage': '?'}
SAFETENSORS_DTYPES = {'F64': '<f8', 'F32': '<f4', 'F16': '<f2', 'I64': '<i8', 'I32': '<i4',
                      'I16': '<i2', 'I8': '|i1', 'U64': '<u8', 'U32': '<u4', 'U16': '<u2',
                      'U8': '|u1', 'BOOL': '|b1'}


# --- the worker: read each case, report what came out --------------------------------

def encoded(array: np.ndarray) -> list:
  return [array.dtype.str, list(array.shape), array.tobytes().hex()]


def work(cases_file: str) -> None:
  """Runs in its own process: numpy, safetensors and trained/weights_file.py alone (the
  `models` package would import JAX), under MEMORY_LIMIT. One JSON line per case, and a
  'started' line before it, so that a crash or a hang names its case."""
  import importlib.util  # pylint: disable=import-outside-toplevel
  resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
  spec = importlib.util.spec_from_file_location(
      'weights_file', os.path.join(REPO, 'trained', 'weights_file.py'))
  weights_file = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(weights_file)
  with open(cases_file) as file:
    cases = json.load(file)
  for name, path in cases:
    print(json.dumps({'case': name, 'started': True}), flush=True)
    try:
      tensors = weights_file.read_weights(path)
      report = {'outcome': 'tensors', 'tensors': {key: encoded(value)
                                                  for key, value in tensors.items()}}
    except weights_file.WeightsError as error:
      report = {'outcome': 'refused', 'message': str(error)}
    except BaseException as error:  # pylint: disable=broad-except  # what the test looks for
      report = {'outcome': 'exception', 'message': f'{type(error).__name__}: {error}'[:300]}
    print(json.dumps({'case': name, **report}), flush=True)
  # VmHWM: this process image's own peak (getrusage's maxrss keeps the parent's across exec).
  with open('/proc/self/status') as file:
    peak_kib = next(int(line.split()[1]) for line in file if line.startswith('VmHWM:'))
  print(json.dumps({'peak_rss': peak_kib << 10, 'jax_imported': 'jax' in sys.modules}),
        flush=True)


def read_in_worker(cases: list, folder: str) -> tuple[dict, dict]:
  """Each case's report, and the worker's summary (peak RSS, whether JAX came in)."""
  cases_file = os.path.join(folder, 'cases.json')
  with open(cases_file, 'w') as file:
    json.dump([[case.name, case.path] for case in cases], file)
  env = {**os.environ, 'OPENBLAS_NUM_THREADS': '1', 'PYTHONPATH': REPO}
  command = ('import sys; from tests.trained.test_weights_fuzz import work; work(sys.argv[1])')
  try:
    result = subprocess.run([sys.executable, '-c', command, cases_file], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    stdout, crashed = result.stdout, result.returncode != 0
  except subprocess.TimeoutExpired as timeout:
    stdout, crashed = (timeout.stdout or b'').decode(), True
  reports, summary, running = {}, {}, None
  for line in stdout.splitlines():
    report = json.loads(line)
    if 'peak_rss' in report:
      summary = report
    elif report.get('started'):
      running = report['case']
    else:
      reports[report['case']] = report
      running = None
  if crashed:
    reports[running or 'the worker'] = {'outcome': 'crash or hang',
                                        'message': stdout[-300:]}
  return reports, summary


# --- the source and what the reader must return -------------------------------------

def source() -> tuple[dict, dict]:
  """The .pth records of the source state dict, and its tensors as read."""
  rng = np.random.default_rng(0)
  shared = rng.normal(size=(3, 5)).astype(np.float32)  # one storage, two views of it
  state_dict = {'conv.weight': rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
                'bn.running_var': rng.uniform(0.5, 1.5, 4).astype(np.float16),
                'bn.num_batches_tracked': np.array(17, np.int64)}
  records = parity.pth_records(state_dict)
  view = dict(key='shared', storage_class='FloatStorage', numel=15,
              storage_bytes=shared.tobytes())
  records['fc.weight'] = parity.PthRecord(**view, offset=0, size=(5, 3), stride=(1, 5))
  records['fc.row'] = parity.PthRecord(**view, offset=5, size=(5,), stride=(1,))
  tensors = {**state_dict, 'fc.weight': shared.T, 'fc.row': shared[1]}
  return records, {name: encoded(array) for name, array in tensors.items()}


@dataclasses.dataclass
class Case:
  """A mutated file and how its outcome is judged ('source', 'pickle' or 'header'); a
  crafted case must be refused, with `fragment` in the message."""
  name: str
  path: str
  judge: str
  flipped_data_bytes: int | None = None  # .safetensors: flips of data bytes alone
  must_refuse: bool = False
  fragment: str = ''


@dataclasses.dataclass(frozen=True)
class _Tensor:
  storage: object
  offset: object
  size: object
  stride: object


@dataclasses.dataclass(frozen=True)
class _StorageClass:
  name: str


class _Unpickler(pickle._Unpickler):  # Python's own, whose memo is a dict
  """Decodes a pickle as torch.load would, into records the test gathers itself."""

  def find_class(self, module, name):
    if (module, name) == ('collections', 'OrderedDict'):
      return collections.OrderedDict
    if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
      return lambda storage, offset, size, stride, *_: _Tensor(storage, offset, size, stride)
    if (module, name) == ('torch._utils', '_rebuild_parameter'):
      return lambda data, *_: data
    if module == 'torch' and name in TORCH_DTYPES:
      return _StorageClass(name)
    raise pickle.UnpicklingError(f'{module}.{name}')

  def persistent_load(self, pid):
    return ('persistent', pid)


def _is_index(value) -> bool:
  return type(value) is int and 0 <= value < 2**63


def gathered(record, members: dict) -> np.ndarray | None:
  """The tensor a decoded record addresses, gathered element by element; None where it
  is no tensor of torch's or addresses anything outside its storage's bytes."""
  if not isinstance(record, _Tensor) or not (isinstance(record.storage, tuple)
                                             and record.storage[0] == 'persistent'):
    return None
  pid = record.storage[1]
  if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == 'storage'
          and isinstance(pid[1], _StorageClass) and type(pid[2]) is str):
    return None
  _, storage_class, key, _, numel = pid
  size, stride = record.size, record.stride
  if not (_is_index(numel) and _is_index(record.offset)
          and isinstance(size, (tuple, list)) and isinstance(stride, (tuple, list))
          and len(size) == len(stride) <= 64 and all(map(_is_index, (*size, *stride)))):
    return None
  dtype = np.dtype(TORCH_DTYPES[storage_class.name])
  data = members.get(f'archive/data/{key}')
  if data is None or len(data) != numel * dtype.itemsize or math.prod(size) > numel:
    return None
  storage = np.frombuffer(data, dtype)
  elements = []
  for index in np.ndindex(*size):
    position = record.offset + sum(i * step for i, step in zip(index, stride))
    if position >= numel:
      return None
    elements.append(storage[position])
  array = np.array(elements, dtype).reshape(size)
  if storage_class.name == 'BFloat16Storage':
    array = (array.astype(np.uint32) << 16).view(np.float32)
  return array


def pickle_expectation(path: str) -> dict | None:
  """What a re-zipped .pth holds, decoded independently of the reader; None: refuse it."""
  with zipfile.ZipFile(path) as archive:
    members = {info.filename: archive.read(info) for info in archive.infolist()}
  try:
    loaded = _Unpickler(io.BytesIO(members['archive/data.pkl'])).load()
  except Exception:  # pylint: disable=broad-except  # not a pickle: must be refused
    return None
  if isinstance(loaded, dict):
    for key in ('state_dict', 'model'):
      if isinstance(loaded.get(key), dict):
        loaded = loaded[key]
        break
  if not isinstance(loaded, dict) or not loaded:
    return None
  expected = {}
  for name, record in loaded.items():
    if not isinstance(name, str):
      return None
    name = name.removeprefix('module.')
    array = gathered(record, members)
    if array is None or name in expected:
      return None
    expected[name] = encoded(array)
  return expected


def header_problem(path: str, tensors: dict) -> str | None:
  """Why `tensors` is not what the .safetensors file's own header describes, if it is not."""
  with open(path, 'rb') as file:
    data = file.read()
  length = int.from_bytes(data[:8], 'little')
  try:
    header = json.loads(data[8:8 + length])
  except ValueError as error:
    return f'read, though its header is not JSON ({error})'
  body = data[8 + length:]
  names = {name for name in header if name != '__metadata__'}
  if set(tensors) != names:
    return f'names {sorted(tensors)} are not the header\'s {sorted(names)}'
  for name, (dtype, shape, hex_bytes) in tensors.items():
    entry = header[name]
    begin, end = entry['data_offsets']
    if (np.dtype(SAFETENSORS_DTYPES[entry['dtype']]) != np.dtype(dtype)
        or shape != entry['shape'] or bytes.fromhex(hex_bytes) != body[begin:end]):
      return f'{name} is not the header\'s {entry}'
  return None


def judged(case: Case, report: dict, source_tensors: dict) -> str | None:
  """Why the case's outcome breaks the module docstring's criterion, if it does."""
  outcome = report['outcome']
  if outcome == 'refused':
    message = report['message']
    if '\n' in message or case.fragment not in message:
      return f'refused without one line naming {case.fragment!r}: {message}'
    return None
  if outcome != 'tensors':
    return f'{outcome}: {report["message"]}'
  if case.must_refuse:
    return 'read, though it must be refused'
  tensors = report['tensors']
  if case.judge == 'source':
    return None if tensors == source_tensors else 'read other tensors than the source\'s'
  if case.judge == 'pickle':
    expected = pickle_expectation(case.path)
    if expected is None:
      return 'read, though its records address bytes outside their storages'
    return None if tensors == expected else 'read other tensors than its records address'
  problem = header_problem(case.path, tensors)
  if problem or case.flipped_data_bytes is None:
    return problem
  if {name: value[:2] for name, value in tensors.items()} != {
      name: value[:2] for name, value in source_tensors.items()}:
    return 'names, dtypes or shapes changed by flipping data bytes'
  changed = sum(a != b for name in tensors for a, b in zip(
      bytes.fromhex(tensors[name][2]), bytes.fromhex(source_tensors[name][2])))
  return (f'{changed} bytes changed by {case.flipped_data_bytes} flips'
          if changed > case.flipped_data_bytes else None)


# --- mutations ------------------------------------------------------------------------

def flipped(data: bytes, rng, positions=None) -> tuple[bytes, int]:
  data = bytearray(data)
  count = int(rng.integers(1, 4))
  for position in rng.choice(positions if positions is not None else len(data), count,
                             replace=False):
    data[position] ^= int(rng.integers(1, 256))
  return bytes(data), count


def zip_fields(path: str) -> list[tuple[int, int]]:
  """(offset, width) of the fields of every local header, central directory entry and
  the end record of a zip written by zipfile (no comment, no zip64)."""
  with open(path, 'rb') as file:
    data = file.read()
  end = data.rindex(b'PK\x05\x06')
  fields = [(end + offset, width) for offset, width in
            ((8, 2), (10, 2), (12, 4), (16, 4), (20, 2))]
  central = struct.unpack_from('<I', data, end + 16)[0]
  with zipfile.ZipFile(path) as archive:
    for info in archive.infolist():
      fields += [(info.header_offset + offset, width) for offset, width in
                 ((6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2))]
  while data[central:central + 4] == b'PK\x01\x02':
    fields += [(central + offset, width) for offset, width in
               ((8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2), (42, 4))]
    name, extra, comment = struct.unpack_from('<HHH', data, central + 28)
    central += 46 + name + extra + comment
  return fields


def edited_field(data: bytes, field: tuple[int, int], rng) -> bytes:
  offset, width = field
  old = int.from_bytes(data[offset:offset + width], 'little')
  limit = (1 << (8 * width)) - 1
  value = int(rng.choice([0, 1, old - 1, old + 1, old * 2, limit, limit // 2,
                          int(rng.integers(0, limit + 1)), 8, 12, 14, 99]))
  value = min(max(value, 0), limit)
  return data[:offset] + value.to_bytes(width, 'little') + data[offset + width:]


RECORD_VALUES = {
    'offset': [-1, 1, 2, 14, 15, 16, 2**31, 2**63, 2**64, 1.0, True, None, '0'],
    'size': [(), (2,), (5, 3, 1), (-1, 3), (2**40, 3), (2**62, 4), (1.0, 3), (True, 3),
             (1,) * 33, [5, 3], (3, 5), (16,), (15, 2)],
    'stride': [(0, 0), (-1, 5), (5, 1), (2**40, 1), (2**62, 1), (1,), (1, 5, 1),
               (1.0, 5), (True, 5), [1, 5], (3, 0)],
    'numel': [0, 1, 14, 16, 30, 2**63, -1, True, 1.5, None],
    'storage_class': ['DoubleStorage', 'HalfStorage', 'BFloat16Storage', 'LongStorage',
                      'BoolStorage', 'ByteStorage', 'QInt8Storage', 'Storage', 'Tensor'],
    'key': ['0', '1', '99', 0, None, '../data.pkl', 'data.pkl', ''],
    'storage_bytes': ['drop the last byte', 'half', 'one more element', 'one more MiB',
                      None],
}


def edited_records(records: dict, rng) -> tuple[dict, str]:
  records = {name: dataclasses.replace(record) for name, record in records.items()}
  name = str(rng.choice(list(records)))
  field = str(rng.choice(list(RECORD_VALUES)))
  choices = RECORD_VALUES[field]
  value = choices[int(rng.integers(len(choices)))]
  record = records[name]
  if field == 'storage_bytes' and value is not None:
    data = record.storage_bytes
    value = {'drop the last byte': data[:-1], 'half': data[:len(data) // 2],
             'one more element': data + data[:4], 'one more MiB': data + bytes(1 << 20)}[value]
  setattr(record, field, value)
  return records, f'{field}={value if field != "storage_bytes" else len(value or b"")}'


def edited_header(data: bytes, rng) -> bytes:
  length = int.from_bytes(data[:8], 'little')
  header = json.loads(data[8:8 + length])
  body = data[8 + length:]
  names = sorted(name for name in header if name != '__metadata__')
  name, other = rng.choice(names, 2, replace=False)
  entry = header[name]
  edit = int(rng.integers(12))
  if edit == 0:
    entry['data_offsets'] = [entry['data_offsets'][0], entry['data_offsets'][1] + 4]
  elif edit == 1:
    entry['data_offsets'] = [entry['data_offsets'][0] - 4, entry['data_offsets'][1]]
  elif edit == 2:  # two tensors over the same bytes
    entry['data_offsets'] = list(header[other]['data_offsets'])
  elif edit == 3:
    entry['data_offsets'] = [-8, entry['data_offsets'][1]]
  elif edit == 4:
    entry['data_offsets'] = [len(body), len(body) + 8]
  elif edit == 5:
    entry['shape'] = entry['shape'] + [2]
  elif edit == 6:
    entry['shape'] = [int(rng.choice([-1, 0, 2**62, 2**64]))] + entry['shape'][1:]
  elif edit == 7:
    entry['dtype'] = str(rng.choice(['F64', 'I64', 'I16', 'U16', 'BF16', 'F8_E4M3', 'C64',
                                     'BOOL', 'X']))
  elif edit == 8:  # the offsets of two tensors swapped
    entry['data_offsets'], header[other]['data_offsets'] = (header[other]['data_offsets'],
                                                            entry['data_offsets'])
  elif edit == 9:
    header['__metadata__'] = {'format': int(rng.integers(3))}
  elif edit == 10:
    entry['shape'] = [1.5] + entry['shape'][1:]
  else:
    entry['data_offsets'] = [entry['data_offsets'][0], 2**64]
  text = json.dumps(header).encode()
  new_length = len(text) + int(rng.choice([0, 0, 0, -1, 1, 8]))
  return new_length.to_bytes(8, 'little') + text + data[8 + length:]


def fuzz_cases(folder: str, records: dict, seed: int = 0) -> list[Case]:
  rng = np.random.default_rng(seed)
  cases = []

  def add(name, data, judge, **kwargs):
    path = os.path.join(folder, f'{len(cases)}.{"safetensors" if judge == "header" else "pth"}')
    with open(path, 'wb') as file:
      file.write(data)
    cases.append(Case(f'{len(cases)}: {name}', path, judge, **kwargs))

  for method, label in ((zipfile.ZIP_STORED, 'stored'), (zipfile.ZIP_DEFLATED, 'deflated')):
    path = os.path.join(folder, f'source_{label}.pth')
    parity.write_pth_records(path, records, method)
    with open(path, 'rb') as file:
      data = file.read()
    fields = zip_fields(path)
    for _ in range(40):
      mutated, count = flipped(data, rng)
      add(f'{label}: {count} bytes flipped', mutated, 'source')
    for _ in range(12):
      add(f'{label}: truncated', data[:int(rng.integers(len(data)))], 'source')
    for _ in range(50):
      field = fields[int(rng.integers(len(fields)))]
      add(f'{label}: zip field at {field[0]} edited', edited_field(data, field, rng), 'source')
    for _ in range(70):
      edited, change = edited_records(records, rng)
      mutated = os.path.join(folder, 'edited.pth')
      parity.write_pth_records(mutated, edited, method)
      with open(mutated, 'rb') as file:
        add(f'{label}: record {change}', file.read(), 'pickle')
    for protocol in (2, 4):
      mutated = os.path.join(folder, 'edited.pth')
      parity.write_pth_records(mutated, records, method, parity.pth_pickle(records, protocol))
      with open(mutated, 'rb') as file:
        add(f'{label}: data.pkl of protocol {protocol}', file.read(), 'pickle')
    for index in range(30):
      mutated = os.path.join(folder, 'edited.pth')
      edit, _ = flipped(parity.pth_pickle(records, protocol=2 + 2 * (index % 2)), rng)
      if rng.integers(4) == 0:
        edit = edit[:int(rng.integers(len(edit)))]
      parity.write_pth_records(mutated, records, method, data_pkl=edit)
      with open(mutated, 'rb') as file:
        add(f'{label}: data.pkl flipped or cut', file.read(), 'pickle')

  path = os.path.join(folder, 'source.safetensors')
  _, source_tensors = source()
  save_file({name: np.frombuffer(bytes.fromhex(value[2]), value[0]).reshape(value[1])
             for name, value in source_tensors.items()}, path)
  with open(path, 'rb') as file:
    data = file.read()
  body_start = 8 + int.from_bytes(data[:8], 'little')
  for _ in range(30):
    mutated, count = flipped(data, rng, np.arange(body_start, len(data)))
    add(f'safetensors: {count} data bytes flipped', mutated, 'header',
        flipped_data_bytes=count)
  for _ in range(30):
    add('safetensors: bytes flipped', flipped(data, rng)[0], 'header')
  for _ in range(10):
    add('safetensors: truncated', data[:int(rng.integers(len(data)))], 'header')
  for _ in range(40):
    add('safetensors: header edited', edited_header(data, rng), 'header')
  return cases


# --- crafted files --------------------------------------------------------------------

def deflated_zeros_member(archive: zipfile.ZipFile, name: str, size: int) -> None:
  """A member of `size` zero bytes, deflated as it is written (the test never holds it)."""
  with archive.open(name, 'w') as member:
    chunk = bytes(1 << 20)
    for _ in range(size // len(chunk)):
      member.write(chunk)


def bomb(path: str, addressed_elements: int, declared_elements: int = BOMB_BYTES // 4) -> None:
  """torch.save's layout with one float32 storage of BOMB_BYTES zeros, deflated (a few
  MB), which its record declares of `declared_elements` and a tensor addresses
  `addressed_elements` of."""
  record = parity.PthRecord(key='0', storage_class='FloatStorage', numel=declared_elements,
                            offset=0, size=(addressed_elements,), stride=(1,),
                            storage_bytes=None)
  with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
    archive.writestr('archive/data.pkl', parity.pth_pickle({'fc.weight': record}))
    deflated_zeros_member(archive, 'archive/data/0', BOMB_BYTES)


def declare_size(path: str, name: str, size: int) -> None:
  """Edits the uncompressed size that the central directory declares for member `name`."""
  with open(path, 'rb') as file:
    data = bytearray(file.read())
  entry = struct.unpack_from('<I', data, data.rindex(b'PK\x05\x06') + 16)[0]
  while data[entry + 46:entry + 46 + len(name)] != name.encode():
    name_length, extra, comment = struct.unpack_from('<HHH', data, entry + 28)
    entry += 46 + name_length + extra + comment
  data[entry + 24:entry + 28] = size.to_bytes(4, 'little')
  with open(path, 'wb') as file:
    file.write(bytes(data))


def crafted_cases(folder: str, records: dict) -> list[Case]:
  cases = []

  def add(name, fragment=''):
    path = os.path.join(folder, f'crafted_{len(cases)}.pth')
    cases.append(Case(f'crafted: {name}', path, 'pickle', must_refuse=True, fragment=fragment))
    return path

  def with_record(name, tensor='conv.weight', fragment=None, **fields):
    edited = dict(records, **{tensor: dataclasses.replace(records[tensor], **fields)})
    fragment = f'tensor {tensor}' if fragment is None else fragment
    parity.write_pth_records(add(name, fragment=fragment), edited)

  numel = records['conv.weight'].numel
  with_record('offset at the end of the storage', offset=numel)
  with_record('a stride of 2**40 (it segfaulted before)', size=(2, 3, 3, 3),
              stride=(2**40, 9, 3, 1))
  with_record('more elements than the storage (an expanded view)', tensor='fc.row',
              size=(1000,), stride=(0,))
  with_record('a negative stride', stride=(-27, 9, 3, 1))
  with_record('a bool offset', offset=True)
  with_record('a float size', size=(4.0, 3, 3, 3))
  with_record('sizes without as many strides', stride=(27, 9, 3))
  with_record('numel beyond the stored bytes', numel=numel + 1)
  with_record('an unknown storage class', storage_class='QInt8Storage', fragment='')
  with_record('a storage the archive lacks', key='99', storage_bytes=None)

  def with_pickle(name, pickled, fragment=''):
    parity.write_pth_records(add(name, fragment=fragment), records, data_pkl=pickled)

  nested = b'\x80\x02}' + b')' + b'\x85' * 1_000_000 + b'K\x01s.'  # {((...),): 1}
  with_pickle('a dict keyed by a tuple nested a million deep', nested, 'not a name')
  # Python's C unpickler would allocate and zero a memo of 2**31 pointers (16 GiB).
  with_pickle('a memo index of 2**30', b'\x80\x02}r' + struct.pack('<I', 2**30) + b'.')
  with_pickle('os.system', b'\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.', 'os.system')
  with_pickle('an OrderedDict built from arguments',
              b'\x80\x02ccollections\nOrderedDict\n]\x85R.')

  path = add('data.pkl of 64 MiB, deflated', fragment='data.pkl')
  with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
    deflated_zeros_member(archive, 'archive/data.pkl', 64 << 20)
  bomb(add('512 MiB deflated storage of which a tensor uses 16 bytes', fragment='fc.weight'), 4)
  bomb(add('512 MiB deflated tensor in a file of a few MB', fragment='decompression bomb'),
       BOMB_BYTES // 4)
  shared = {f'view{index}': parity.PthRecord(
      key='0', storage_class='FloatStorage', numel=1 << 18, offset=0, size=(1 << 18,),
      stride=(1,), storage_bytes=bytes(1 << 20)) for index in range(64)}
  parity.write_pth_records(add('64 views of one 1 MiB storage', fragment='decompression bomb'),
                           shared, zipfile.ZIP_DEFLATED)

  # A storage whose deflated stream inflates to 512 MiB while its zip entry declares 16 bytes.
  path = add('a deflated stream longer than its declared size', fragment='CRC')
  bomb(path, 4, declared_elements=4)
  declare_size(path, 'archive/data/0', 16)
  return cases


# --- the tests ------------------------------------------------------------------------

def test_mutated_weight_files_are_read_right_or_refused_in_one_line(tmp_path):
  records, source_tensors = source()
  cases = fuzz_cases(str(tmp_path), records) + crafted_cases(str(tmp_path), records)
  reports, summary = read_in_worker(cases, str(tmp_path))
  missing = {'outcome': 'not read (the worker stopped before it)', 'message': ''}
  failures = [f'{case.name}: {problem}' for case in cases
              if (problem := judged(case, reports.get(case.name, missing), source_tensors))]
  if 'the worker' in reports:
    failures.append(f'the worker: {reports["the worker"]}')
  assert not failures, f'{len(failures)} of {len(cases)} cases:\n' + '\n'.join(failures[:40])
  assert summary['peak_rss'] < PEAK_RSS_LIMIT, f'peak RSS {summary["peak_rss"] >> 20} MiB'
  assert not summary['jax_imported']
  outcomes = collections.Counter(reports[case.name]['outcome'] for case in cases)
  assert outcomes['tensors'] >= 50 and outcomes['refused'] >= 200, outcomes  # both reached


@pytest.mark.e2e  # three `python -m trained.convert` starts
def test_mutated_files_are_refused_by_the_command_line_in_one_line(tmp_path):
  """Three of the fuzzer's kinds of damage, through `python -m trained.convert`: exit 2, one
  line, nothing written."""
  # JAX comes in with test_convert: here, not where the worker imports this file.
  from tests.trained.test_convert import refused, run_convert  # pylint: disable=C0415
  records, _ = source()
  big_stride = dict(records, **{'conv.weight': dataclasses.replace(
      records['conv.weight'], stride=(2**40, 9, 3, 1))})
  parity.write_pth_records(str(tmp_path / 'stride.pth'), big_stride)
  parity.write_pth_records(str(tmp_path / 'flipped.pth'), records)
  with zipfile.ZipFile(tmp_path / 'flipped.pth') as archive:
    info = archive.getinfo('archive/data/0')
  data = bytearray((tmp_path / 'flipped.pth').read_bytes())
  data[info.header_offset + 30 + len(info.filename) + len(info.extra) + 5] ^= 0x40
  (tmp_path / 'flipped.pth').write_bytes(bytes(data))
  tensors = {'conv.weight': np.ones((2, 2), np.float32), 'fc.weight': np.ones(3, np.float32)}
  save_file(tensors, str(tmp_path / 'past.safetensors'))
  data = (tmp_path / 'past.safetensors').read_bytes()
  length = int.from_bytes(data[:8], 'little')
  header = json.loads(data[8:8 + length])
  header['fc.weight']['data_offsets'][1] += 4
  text = json.dumps(header).encode()
  (tmp_path / 'past.safetensors').write_bytes(
      len(text).to_bytes(8, 'little') + text + data[8 + length:])
  for name, model, fragment in [('stride.pth', 'resnet18', "tensor conv.weight reads element"),
                                ('flipped.pth', 'resnet18', 'Bad CRC-32'),
                                ('past.safetensors', 'mobilenet_v1_relu6',
                                 'cannot be read as .safetensors')]:
    out = tmp_path / f'out_{name}'
    refused(run_convert(f'--model={model}', f'--weights={tmp_path / name}', f'--out={out}'),
            fragment)
    assert not out.exists()
