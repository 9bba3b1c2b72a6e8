"""Where train.py's scalars go: metrics.jsonl and TensorBoard, through clu's writers.

`create_metric_writer` gives the chief process clu's default writer (absl
logging and TensorBoard events in <workdir>/tensorboard) together with a
JsonlWriter for <workdir>/metrics.jsonl; the other processes only log.
"""

import os
from typing import Any, Mapping

from clu import metric_writers
import numpy as np

from training import metrics_file


class JsonlWriter(metric_writers.LoggingWriter):
  """Appends each write_scalars call to metrics.jsonl as one JSON line.

  Scalars are all the runs record; other kinds of summaries (images,
  histograms, ...) fall through to clu's LoggingWriter, which logs them.
  """

  def __init__(self, path: str):
    super().__init__()
    self._file = open(path, 'a', encoding='utf-8')

  def write_scalars(self, step: int, scalars: Mapping[str, Any]):
    self._file.write(metrics_file.format_event(
        step, {key: float(np.asarray(value)) for key, value in scalars.items()}))
    # Out of the process's buffer at once: tools read the file while the run goes on
    # (sweep.py --report). flush() also asks the disk to keep it.
    self._file.flush()

  def flush(self):
    self._file.flush()
    os.fsync(self._file.fileno())

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
