"""pytest set-up shared by every test: two simulated CPU devices, quiet TensorFlow,
and the generated datasets the tests share (no test downloads anything).

XLA reads XLA_FLAGS when JAX starts, so the environment is set here, before any
test imports JAX; subprocesses started by tests (the train.py CLI) inherit it.
"""

import fcntl
import json
import os
import tempfile

# Two simulated devices exercise the data-parallel code. The other two flags
# halve XLA's CPU compile time (the registry walk compiles every network's training
# step) at the price of slower generated code, which tests do not notice.
FAST_COMPILE_XLA_FLAGS = '--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false'
TEST_XLA_FLAGS = '--xla_force_host_platform_device_count=2 ' + FAST_COMPILE_XLA_FLAGS
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' ' + TEST_XLA_FLAGS).strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# The suite's own compilation cache (training/compilation_cache.py), shared by both
# workers and every train.py the tests start: the command-line tests compile the same
# small programs in many processes. No test relies on it being warm; the cache's own
# tests use folders of their own.
os.environ.setdefault('JAX_COMPILATION_CACHE_DIR',
                      os.path.join(tempfile.gettempdir(), 'classic-cnns-tests-jax-cache'))
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests import helpers  # noqa: E402
from tools import sample_ilsvrc  # noqa: E402


@pytest.fixture(scope='session')
def ilsvrc_manual_dir(tmp_path_factory):
  """ILSVRC2012_img_{train,val}.tar in the real archives' layout, of real photographs."""
  manual_dir = str(tmp_path_factory.mktemp('ilsvrc_manual'))
  sample_ilsvrc.write_manual_dir(manual_dir, helpers.ILSVRC_CLASSES,
                                 helpers.ILSVRC_TRAIN_PER_CLASS, helpers.ILSVRC_VAL)
  return manual_dir


@pytest.fixture(scope='session')
def imagenet_data_dir(tmp_path_factory, ilsvrc_manual_dir):
  """A tfds data_dir with imagenet2012 prepared by the real builder from the tars."""
  import input_pipeline  # TensorFlow: after the environment above
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  input_pipeline.load_source('imagenet2012', data_dir, ilsvrc_manual_dir)
  return data_dir


@pytest.fixture(scope='session')
def quickstart_runs(tmp_path_factory):
  """The README's quickstart command, trained once for the whole suite: on the embedded
  digits ('embedded') and on the same digits as a folder of grayscale PNG files ('folder').
  Maps each to (workdir, stdout). Tests evaluate these runs but never write into them.

  The test processes share one temporary root (pytest-xdist's recipe for a session fixture
  that runs once): the first to get here trains under a file lock, the others wait for it
  and read what it left.
  """
  root = tmp_path_factory.getbasetemp().parent / 'quickstart'
  root.mkdir(exist_ok=True)
  runs = {'embedded': [], 'folder': [f'--config.dataset=image_folder:{root / "digits_png"}']}
  with open(root / 'lock', 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not (root / 'outputs.json').exists():
      helpers.write_digits_as_png_folder(str(root / 'digits_png'))
      # 1,320 steps each: here the generated code's speed counts, not the compiler's, so
      # these two runs compile as a user's do (still on the suite's two devices). On the
      # 2-core machine that takes a third less processor time than with the suite's flags.
      env = {'XLA_FLAGS': ' '.join(flag for flag in os.environ['XLA_FLAGS'].split()
                                   if flag not in FAST_COMPILE_XLA_FLAGS.split())}
      processes = {name: helpers.start_train(helpers.QUICKSTART, *args, workdir=root / name,
                                             env=env)
                   for name, args in runs.items()}
      outputs = {name: process.communicate(timeout=900) for name, process in processes.items()}
      for name, process in processes.items():
        assert process.returncode == 0, outputs[name][1][-2000:]
      (root / 'outputs.json').write_text(json.dumps({n: out for n, (out, _) in outputs.items()}))
  outputs = json.loads((root / 'outputs.json').read_text())
  return {name: (root / name, outputs[name]) for name in runs}


def pytest_collection_modifyitems(items):
  """A test that uses quickstart_runs drives train.py (the fixture's two 1,320-step runs,
  about a minute of both cores), whatever it checks in them: it is e2e, out of the fast
  subset, in whichever file it is."""
  for item in items:
    if 'quickstart_runs' in getattr(item, 'fixturenames', ()):
      item.add_marker(pytest.mark.e2e)


@pytest.fixture
def rng():
  return np.random.default_rng(0)
