"""Default XLA flags: added where the user has not named them, never over the user's value."""

import subprocess
import sys

from tests.helpers import REPO
from training import xla_flags



def test_defaults_are_added_to_an_empty_environment():
  environ = {}
  xla_flags.set_default_xla_flags(environ)
  assert environ['XLA_FLAGS'].split() == [
      f'--{name}={value}' for name, value in xla_flags.DEFAULT_XLA_FLAGS.items()]


def test_a_flag_the_user_set_keeps_the_users_value_and_other_flags_stay():
  environ = {'XLA_FLAGS': '--xla_gpu_enable_latency_hiding_scheduler=false '
                          '--xla_force_host_platform_device_count=2'}
  xla_flags.set_default_xla_flags(environ)
  flags = environ['XLA_FLAGS'].split()
  assert '--xla_gpu_enable_latency_hiding_scheduler=false' in flags
  assert '--xla_gpu_enable_latency_hiding_scheduler=true' not in flags
  assert '--xla_force_host_platform_device_count=2' in flags


def test_deterministic_runs_ask_for_deterministic_gpu_kernels():
  environ = {}
  xla_flags.set_default_xla_flags(environ, deterministic=True)
  assert '--xla_gpu_deterministic_ops=true' in environ['XLA_FLAGS'].split()


def test_the_defaults_are_flags_this_jaxlib_accepts():
  # XLA aborts the process on an unknown flag in XLA_FLAGS, even on a CPU.
  code = ('import os; from training import xla_flags; '
          'xla_flags.set_default_xla_flags(deterministic=True); '
          'import jax; print(float(jax.numpy.ones(3).sum()))')
  completed = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
  assert completed.returncode == 0, completed.stderr[-2000:]
  assert completed.stdout.strip() == '3.0'
