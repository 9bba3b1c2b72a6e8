"""A clu metric writer that appends one JSON object per event to metrics.jsonl.

metrics.jsonl is the record other tools read (sweeps, notebooks, tests): every
line holds `step` and the scalars written at that step, e.g.
{"step": 100, "train_loss": 2.31, "learning_rate": 0.1}.
"""

import json
import os
from typing import Any, Mapping

import numpy as np
from clu.metric_writers import interface


class JsonlWriter(interface.MetricWriter):
  """Writes scalars as JSON lines; other kinds of summaries are not recorded."""

  def __init__(self, path: str):
    self._path = path
    self._file = open(path, 'a', encoding='utf-8')

  def write_scalars(self, step: int, scalars: Mapping[str, Any]):
    event = {'step': int(step)}
    event.update({key: float(np.asarray(value)) for key, value in scalars.items()})
    self._file.write(json.dumps(event) + '\n')

  def write_summaries(self, step, values, metadata=None):
    pass  # Tensor summaries go to TensorBoard only.

  def write_images(self, step, images):
    pass

  def write_videos(self, step, videos):
    pass

  def write_audios(self, step, audios, *, sample_rate):
    pass

  def write_texts(self, step, texts):
    pass

  def write_histograms(self, step, arrays, num_buckets=None):
    pass

  def write_hparams(self, hparams):
    pass

  def flush(self):
    self._file.flush()
    os.fsync(self._file.fileno())

  def close(self):
    self._file.close()


def read_events(path: str) -> list[dict[str, Any]]:
  """All events of a metrics.jsonl file, in order."""
  if not os.path.exists(path):
    return []
  with open(path, encoding='utf-8') as f:
    return [json.loads(line) for line in f if line.strip()]


def drop_events_after(path: str, step: int) -> None:
  """Removes events past `step`, so a resumed run does not record them twice.

  The file is replaced atomically: an interruption leaves the old or the new one.
  """
  events = read_events(path)
  kept = [event for event in events if event['step'] <= step]
  if len(kept) == len(events):
    return
  temporary = path + '.tmp'
  with open(temporary, 'w', encoding='utf-8') as f:
    f.writelines(json.dumps(event) + '\n' for event in kept)
  os.replace(temporary, path)
