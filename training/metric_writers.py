"""Where train.py's scalars go: metrics.jsonl and TensorBoard, through clu's writers.

`create_metric_writer` gives the chief process clu's default writer (absl
logging and TensorBoard events in <workdir>/tensorboard) together with a
JsonlWriter for <workdir>/metrics.jsonl; the other processes only log.
"""

import contextlib
import os
from typing import Any, Mapping

from clu import metric_writers
import numpy as np

from training import metrics_file, workdir


class JsonlWriter(metric_writers.LoggingWriter):
  """Appends each write_scalars call to metrics.jsonl as one JSON line.

  Scalars are all the runs record; other kinds of summaries (images,
  histograms, ...) fall through to clu's LoggingWriter, which logs them.
  Each line reaches the file whole or not at all: a write that fails half-way (a full
  disk) is cut back off, so that the file stays a list of complete events.
  """

  def __init__(self, path: str):
    super().__init__()
    self._path = path
    # Unbuffered: tools read the file while the run goes on (sweep.py --report).
    self._file = open(path, 'ab', buffering=0)

  def write_scalars(self, step: int, scalars: Mapping[str, Any]):
    line = metrics_file.format_event(
        step, {key: float(np.asarray(value)) for key, value in scalars.items()}).encode()
    start = self._file.seek(0, os.SEEK_END)
    try:
      written = 0
      while written < len(line):
        written += self._file.write(line[written:])
    except OSError as error:
      with contextlib.suppress(OSError):
        self._file.truncate(start)
      raise workdir.WorkdirError(
          f'cannot append to {self._path} ({workdir.describe_write_error(error)}; '
          f'{workdir.describe_bytes(workdir.free_bytes(os.path.dirname(self._path)))} free '
          'there): free some space, '
          'then run the same command to resume') from None

  def flush(self):
    os.fsync(self._file.fileno())  # asks the disk to keep what was written

  def close(self):
    self._file.close()


def create_metric_writer(workdir: str, is_chief: bool) -> metric_writers.MultiWriter:
  """metrics.jsonl + TensorBoard + logging on the chief; logging alone elsewhere.

  Synchronous: the loop flushes before it reports, stops or checkpoints, and
  an asynchronous writer would have to be drained there anyway.
  """
  if not is_chief:
    return metric_writers.create_default_writer(just_logging=True, asynchronous=False)
  default = metric_writers.create_default_writer(os.path.join(workdir, 'tensorboard'),
                                                 asynchronous=False)
  return metric_writers.MultiWriter(
      [JsonlWriter(os.path.join(workdir, metrics_file.FILE_NAME)), default])
