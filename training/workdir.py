"""The run folder: the early check that it can be written, and run.json, the run's status.

<workdir>/run.json is what tools read about a run (sweep.py, the notebook):
what it trains (model, dataset, classes, image size, parameters, batch,
steps) and where it stands:

    status       'running', 'finished', 'stopped' (a signal; the same command
                 continues) or 'failed'
    step         the last step done (at a checkpoint or at exit)
    total_steps  the run's length
    stop_reason  'SIGTERM' or 'SIGINT' when stopped, the error when failed, else null
    last_eval    the last evaluation's metrics, or null

train.py's chief process writes it atomically at start, at each checkpoint and
at exit, so a reader never sees half a file. A run killed outright (kill -9,
a lost machine) leaves 'running': its exit status tells the rest.
"""

import contextlib
import datetime
import errno
import fcntl
import json
import math
import os
import shutil
import socket
import tempfile
from typing import Any, Iterator

RUN_STATUS_FILE = 'run.json'
LOCK_FILE = 'train.lock'
# Normalisation measured on an image folder's data, kept so that a resumed run uses the
# numbers it started with even if the folder has changed since.
IMAGE_STATISTICS_FILE = 'image_statistics.json'


class WorkdirError(OSError):
  """The workdir cannot be written; the message says what to do."""


def check_workdir(workdir: str) -> None:
  """Fails early, in one line, on a workdir that cannot be created or written."""
  try:
    os.makedirs(workdir, exist_ok=True)
    with tempfile.TemporaryFile(dir=workdir):
      pass
  except OSError as error:
    raise WorkdirError(f'cannot write to --workdir={workdir} ({error.strerror or error}): '
                       'choose a folder you can write to') from None


@contextlib.contextmanager
def hold_workdir(workdir: str, chief: bool = True) -> Iterator[None]:
  """Holds <workdir>/train.lock for the duration: one run per workdir.

  A second run on the same workdir would resume from the first one's checkpoint and
  train beside it, each writing metrics.jsonl. The lock is an advisory `flock` on the
  lock file, which the kernel releases when its holder exits in any way, kill -9
  included: a lock file without a live holder is stale by construction, and the next
  run takes it over (the file itself stays; it names the last holder). The holder
  writes its host, pid and start time into the file, which a refused run quotes. On
  several hosts the chief process holds it for the run. File systems without `flock`
  get a warning and no lock.
  """
  if not chief:
    yield
    return
  check_workdir(workdir)
  path = os.path.join(workdir, LOCK_FILE)
  with open(path, 'a+', encoding='utf-8') as lock:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
      if error.errno not in (errno.EAGAIN, errno.EACCES):
        print(f'warning: cannot lock {path} ({error.strerror or error}): nothing stops a '
              'second run on this workdir', flush=True)
      else:
        lock.seek(0)
        raise WorkdirError(f'--workdir={workdir} is in use by another run '
                           f'({_describe_holder(lock.read())}): wait for it to end or stop '
                           'it, or pass another --workdir') from None
    lock.seek(0)
    lock.truncate()
    json.dump({'host': socket.gethostname(), 'pid': os.getpid(),
               'started': datetime.datetime.now().astimezone().isoformat(timespec='seconds')},
              lock)
    lock.flush()
    yield


def _describe_holder(text: str) -> str:
  """'host H, pid P, started T' from a lock file's content, whatever it holds."""
  try:
    holder = json.loads(text)
    return (f'host {str(holder["host"])[:100]}, pid {int(holder["pid"])}, started '
            f'{str(holder["started"])[:40]}')
  except (ValueError, TypeError, KeyError):
    return 'its holder did not say who it is'


def write_json_atomically(path: str, value: Any) -> None:
  """Writes `value` as JSON through a temporary file: readers see the old or the new file.
  A failed write (a full disk) leaves the old file and is a WorkdirError."""
  try:
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
      json.dump(value, f, indent=1)
    os.replace(path + '.tmp', path)
  except OSError as error:
    with contextlib.suppress(OSError):
      os.remove(path + '.tmp')
    free = describe_bytes(free_bytes(os.path.dirname(path) or '.'))
    raise WorkdirError(f'cannot write {path} ({describe_write_error(error)}; {free} free '
                       'there): free some space or fix the permissions') from None


def describe_error(error: BaseException) -> str:
  """One line for a failed read or write: the innermost error of the chain, whose message
  names the file and what is wrong (orbax wraps tensorstore's errors in generic ones)."""
  while (error.__cause__ or error.__context__) is not None:
    error = error.__cause__ or error.__context__
  text = ' '.join(str(error).split()) or type(error).__name__
  return f'{type(error).__name__}: {text[:500]}'


def describe_write_error(error: BaseException) -> str:
  """'no space left on the device', or the innermost error of a failed write."""
  cause = error
  while cause is not None:
    if ((isinstance(cause, OSError) and cause.errno == errno.ENOSPC)
        or 'No space left on device' in str(cause)):
      return 'no space left on the device'
    cause = cause.__cause__ or cause.__context__
  return describe_error(error)


def free_bytes(path: str) -> int | None:
  """The bytes left to write on the file system of `path`, or None where it cannot say."""
  try:
    return shutil.disk_usage(path).free
  except OSError:
    return None


def describe_bytes(count: int | None) -> str:
  """'116.0 KiB' and the like, for a person to read."""
  if count is None:
    return 'an unknown amount'
  if count < 1024:
    return f'{count} bytes'
  size = float(count)
  for unit in ('KiB', 'MiB', 'GiB', 'TiB'):
    size /= 1024
    if size < 1024 or unit == 'TiB':
      break
  return f'{size:.1f} {unit}'


def read_json(path: str) -> dict:
  """A JSON object written by write_json_atomically, or {} where there is none (yet) or the
  file holds something else (damaged, or not this project's)."""
  try:
    with open(path, encoding='utf-8') as f:
      value = json.load(f)
  except (OSError, ValueError):
    return {}
  return value if isinstance(value, dict) else {}


def write_run_status(workdir: str, status: dict) -> None:
  write_json_atomically(os.path.join(workdir, RUN_STATUS_FILE), status)


# The fields of run.json that tools read, and the types train.py writes them with.
RUN_STATUS_TYPES = {'model': (str,), 'dataset': (str,), 'status': (str,), 'num_classes': (int,),
                    'image_size': (int,), 'channels': (int, type(None)), 'parameters': (int,),
                    'step': (int,), 'total_steps': (int,), 'batch_size': (int,),
                    'last_eval': (dict, type(None))}


def read_run_status(workdir: str) -> dict:
  """<workdir>/run.json, or {} for a run that has not started. A field of another type than
  train.py writes (a damaged or crafted file) is left out."""
  status = read_json(os.path.join(workdir, RUN_STATUS_FILE))
  return {key: value for key, value in status.items()
          if type(value) in RUN_STATUS_TYPES.get(key, (type(value),))}


def read_image_statistics(workdir: str, dataset: str,
                          channels: int) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
  """The mean and std a run measured on `dataset` and kept in its workdir, or None where it
  kept none (or kept them for another dataset); a damaged file is a WorkdirError."""
  path = os.path.join(workdir, IMAGE_STATISTICS_FILE)
  saved = read_json(path)
  if not saved or saved.get('dataset') != dataset:
    return None
  mean, std = saved.get('mean'), saved.get('std')
  numbers = [value for values in (mean, std) if isinstance(values, list) for value in values]
  if not (isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std) == channels
          and all(type(v) in (int, float) and math.isfinite(v) for v in numbers)
          and min(std) > 0):
    raise WorkdirError(f'{path} does not hold {channels} finite means and positive standard '
                       'deviations: delete it to measure them again from the training images')
  return tuple(mean), tuple(std)


def write_image_statistics(workdir: str, dataset: str, mean, std) -> None:
  write_json_atomically(os.path.join(workdir, IMAGE_STATISTICS_FILE),
                        {'dataset': dataset, 'mean': list(mean), 'std': list(std)})
