"""The persistent compilation cache: where it lives, and that a second start of train.py
loads its programs from it (training/compilation_cache.py)."""

import os
import re

import pytest

from tests.helpers import QUICKSTART, run_train
from training import compilation_cache


def test_default_folder_is_the_environment_variable_else_the_user_cache_folder(tmp_path):
  assert compilation_cache.default_cache_dir(
      {'JAX_COMPILATION_CACHE_DIR': '/x/jax', 'XDG_CACHE_HOME': '/y'}) == '/x/jax'
  assert compilation_cache.default_cache_dir({'XDG_CACHE_HOME': '/y'}) == (
      '/y/classic-cnns/jax_compilation_cache')
  home = os.path.expanduser('~')
  assert compilation_cache.default_cache_dir({}) == (
      os.path.join(home, '.cache', 'classic-cnns', 'jax_compilation_cache'))


def test_compile_timer_describes_programs_from_the_cache():
  timer = compilation_cache.CompileTimer()
  timer._on_duration(compilation_cache.COMPILE_EVENTS[0], 0.5)
  timer._on_duration(compilation_cache.BACKEND_COMPILE_EVENT, 2.0)
  timer._on_duration(compilation_cache.BACKEND_COMPILE_EVENT, 1.0)
  timer._on_duration('/jax/some/other_event', 100.0)
  assert timer.describe() == 'compiled in 3.5 s'
  timer._on_event(compilation_cache.CACHE_HIT_EVENT)
  assert timer.describe() == 'compiled in 3.5 s (1 of 2 programs from the compilation cache)'


def cached_programs(folder) -> set[str]:
  return {name for name in os.listdir(folder)} if os.path.isdir(folder) else set()


def banner_line(stdout: str) -> str:
  return next(line for line in stdout.splitlines() if line.startswith('compiled in'))


@pytest.mark.e2e
@pytest.mark.slow
def test_second_start_of_train_py_loads_its_programs_from_the_cache(tmp_path):
  """Two runs of the same command in fresh workdirs: the first writes the programs, the
  second, with another seed (a sweep's next run), reads every one of them (the banner
  says how many) and writes none; '' turns the cache off, over JAX_COMPILATION_CACHE_DIR
  too."""
  cache = str(tmp_path / 'cache')
  args = [QUICKSTART, '--config.num_train_steps=2',
          f'--config.compilation_cache_dir={cache}']
  # Every program written, however fast it compiled, so that the test does not depend on
  # this machine's speed.
  env = {'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0'}
  first = run_train(*args, workdir=tmp_path / 'first', env=env)
  assert first.returncode == 0, first.stderr
  first_line = banner_line(first.stdout)
  assert re.fullmatch(r'compiled in [\d.]+ s; first training step done [\d.]+ s after the '
                      r'command started', first_line), first_line
  written = cached_programs(cache)
  assert written
  # TensorFlow's start-up notices (training/quiet_tensorflow.py) are not in a normal run.
  assert 'oneDNN' not in first.stderr and 'absl::InitializeLog' not in first.stderr, first.stderr

  second = run_train(*args, '--config.seed=1', workdir=tmp_path / 'second', env=env)
  assert second.returncode == 0, second.stderr
  hits = re.search(r'\((\d+) of (\d+) programs from the compilation cache\)',
                   banner_line(second.stdout))
  # The seed is an argument of the programs, not a constant in them.
  assert hits and int(hits[1]) == int(hits[2]), second.stdout
  assert cached_programs(cache) == written

  unused = str(tmp_path / 'unused')
  off = run_train(*args[:-1], '--config.compilation_cache_dir=', workdir=tmp_path / 'off',
                  env={**env, 'JAX_COMPILATION_CACHE_DIR': unused})
  assert off.returncode == 0, off.stderr
  assert 'from the compilation cache' not in banner_line(off.stdout)
  assert not cached_programs(unused)
