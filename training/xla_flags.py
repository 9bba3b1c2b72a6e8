"""XLA settings that matter for training speed, set by default where a user has not.

`set_default_xla_flags()` runs at the start of train.py and benchmark.py, before
JAX starts its backends (XLA reads XLA_FLAGS once, then). Each default below is
added to the XLA_FLAGS environment variable only if the user's XLA_FLAGS does not
name that flag already, so a user overrides any of them the usual way:

    XLA_FLAGS=--xla_gpu_enable_latency_hiding_scheduler=false python train.py ...

Settings documented in BENCHMARKS.md but left to the user, because their best
value depends on the machine or the run: XLA_PYTHON_CLIENT_MEM_FRACTION (JAX
preallocates 75 % of each GPU's memory; 0.9 leaves room for larger batches) and
--xla_gpu_autotune_level (cuDNN algorithm search; 0 compiles faster, runs slower).
The persistent compilation cache is on by default (training/compilation_cache.py).
"""

import os

DEFAULT_XLA_FLAGS = {
    # Lets XLA's scheduler overlap the data-parallel gradient all-reduce with the
    # rest of the backward pass instead of waiting for it at the end (JAX's GPU
    # performance tips; NVIDIA's JAX containers set it too). It changes nothing on
    # one device or on CPUs and TPUs.
    'xla_gpu_enable_latency_hiding_scheduler': 'true',
}


# With --config.deterministic=True: GPU kernels that give the same bits on every
# run (no atomics-based scatter or reductions), at some cost in speed. XLA on CPUs
# and TPUs is deterministic already.
DETERMINISTIC_XLA_FLAGS = {
    'xla_gpu_deterministic_ops': 'true',
}


def set_default_xla_flags(environ=os.environ, deterministic: bool = False) -> None:
  """Adds each default flag to XLA_FLAGS unless XLA_FLAGS already sets it."""
  defaults = {**DEFAULT_XLA_FLAGS, **(DETERMINISTIC_XLA_FLAGS if deterministic else {})}
  current = environ.get('XLA_FLAGS', '')
  named = {flag.lstrip('-').split('=')[0] for flag in current.split()}
  added = [f'--{name}={value}' for name, value in defaults.items() if name not in named]
  if added:
    environ['XLA_FLAGS'] = ' '.join([current, *added]).strip()
