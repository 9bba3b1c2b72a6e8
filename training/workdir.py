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

import json
import os
import tempfile
from typing import Any

RUN_STATUS_FILE = 'run.json'


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


def write_json_atomically(path: str, value: Any) -> None:
  """Writes `value` as JSON through a temporary file: readers see the old or the new file."""
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    json.dump(value, f, indent=1)
  os.replace(path + '.tmp', path)


def read_json(path: str) -> dict:
  """A JSON file written by write_json_atomically, or {} where there is none (yet)."""
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except (OSError, ValueError):
    return {}


def write_run_status(workdir: str, status: dict) -> None:
  write_json_atomically(os.path.join(workdir, RUN_STATUS_FILE), status)


def read_run_status(workdir: str) -> dict:
  """<workdir>/run.json, or {} for a run that has not started."""
  return read_json(os.path.join(workdir, RUN_STATUS_FILE))
