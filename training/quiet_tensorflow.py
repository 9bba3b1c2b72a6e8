"""TensorFlow, imported without the start-up notices it writes to stderr.

Importing TensorFlow 2.21 on a CPU prints, before anything of the run, twice:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... port.cc:153] oneDNN custom operations are on. You may see slightly different ...

from C++ code that logs before TensorFlow reads TF_CPP_MIN_LOG_LEVEL, so that variable
cannot silence it. train.py and evaluate.py call `import_tensorflow()` before anything
imports TensorFlow (clu's metric writers do): stderr is captured at the file-descriptor
level for the import, and everything but those notices is written back, so a real error
message of the import still shows.
"""

import os
import sys
import tempfile

# Lines TensorFlow writes on every start, which tell a user nothing about the run.
START_UP_NOTICES = (
    'All log messages before absl::InitializeLog() is called are written to STDERR',
    'oneDNN custom operations are on',
    'This TensorFlow binary is optimized to use available CPU instructions',
    'To enable the following instructions:',
)


def is_notice(line: str) -> bool:
  return any(notice in line for notice in START_UP_NOTICES)


def import_tensorflow():
  """`import tensorflow`, its start-up notices left out of stderr; returns the module."""
  if 'tensorflow' in sys.modules:
    return sys.modules['tensorflow']
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorFlow's own later INFO logs
  sys.stderr.flush()
  saved = os.dup(2)
  with tempfile.TemporaryFile() as captured:
    os.dup2(captured.fileno(), 2)
    try:
      import tensorflow
    finally:
      sys.stderr.flush()
      os.dup2(saved, 2)
      os.close(saved)
      captured.seek(0)
      kept = [line for line in captured.read().decode(errors='replace').splitlines()
              if line.strip() and not is_notice(line)]
      if kept:
        print('\n'.join(kept), file=sys.stderr, flush=True)
  return tensorflow
