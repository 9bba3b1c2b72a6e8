"""Reading and trimming <workdir>/metrics.jsonl, with the standard library only.

metrics.jsonl is the record other tools read (sweeps, notebooks, tests): every
line holds `step` and the scalars written at that step, e.g.
{"step": 100, "train_loss": 2.31, "learning_rate": 0.1}. Readers import
neither clu nor TensorFlow; training/metric_writers.py writes the file.
"""

import json
import os
from typing import Any

FILE_NAME = 'metrics.jsonl'


def format_event(step: int, scalars: dict[str, float]) -> str:
  """One line of metrics.jsonl."""
  return json.dumps({'step': int(step), **scalars}) + '\n'


def read_events(path: str) -> list[dict[str, Any]]:
  """All events of a metrics.jsonl file, in order; none if there is no file. Lines that
  are not an event (a JSON object of numbers with an integer step) are passed over."""
  if not os.path.exists(path):
    return []
  events = []
  with open(path, encoding='utf-8', errors='replace') as f:
    for line in f:
      try:
        event = json.loads(line)
      except ValueError:  # a line cut short by a crash, or not this file's
        continue
      if (isinstance(event, dict) and type(event.get('step')) is int
          and all(type(value) in (int, float) for value in event.values())):
        events.append(event)
  return events


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
