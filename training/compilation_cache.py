"""JAX's persistent compilation cache, on by default for every command of the project.

train.py, evaluate.py, benchmark.py and the runs a sweep starts compile the same
programs again and again: a run resumed after preemption, a second evaluation of
a checkpoint, a sweep's next seed of the same network. On a 2-core CPU those
compiles take tens of seconds to minutes (BENCHMARKS.md), so the compiled programs are kept on disk, keyed by
JAX on the program, the devices, the XLA flags and the library versions, and a
later start of the same program loads it instead.

The folder is, in order: the command's `compilation_cache_dir` setting when given
(an empty value turns the cache off), the JAX_COMPILATION_CACHE_DIR environment
variable, else `<XDG_CACHE_HOME or ~/.cache>/classic-cnns/jax_compilation_cache`.
It grows with every new program (no size limit: JAX's limit needs the `filelock`
package, which this project does not install); deleting it at any time only costs
the next start its compile. Programs that compile in under a second are not written
(JAX's default, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS): the cache holds the
steps, not the many small helper programs.
"""

import os

ENVIRONMENT_VARIABLE = 'JAX_COMPILATION_CACHE_DIR'


def default_cache_dir(environ=os.environ) -> str:
  """Where compiled programs are kept unless a command says otherwise."""
  if environ.get(ENVIRONMENT_VARIABLE):
    return environ[ENVIRONMENT_VARIABLE]
  cache_home = environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
  return os.path.join(cache_home, 'classic-cnns', 'jax_compilation_cache')


def enable(cache_dir: str) -> str:
  """Turns the cache on in `cache_dir` ('': off); the commands' default is
  default_cache_dir().

  Must run before the first compilation of the process, which is when JAX opens
  its cache. Returns the folder in use, '' when off.
  """
  import jax  # here, so that configs/default.py can name the default folder without JAX

  cache_dir = os.path.expanduser(cache_dir)
  jax.config.update('jax_compilation_cache_dir', cache_dir or None)
  return cache_dir


# The three phases of turning a jitted function into a program (jax/_src/dispatch.py):
# tracing to a jaxpr, lowering to MLIR, and XLA's compile, which is also where a
# program is loaded from the persistent cache instead.
COMPILE_EVENTS = ('/jax/core/compile/jaxpr_trace_duration',
                  '/jax/core/compile/jaxpr_to_mlir_module_duration',
                  '/jax/core/compile/backend_compile_duration')
BACKEND_COMPILE_EVENT = COMPILE_EVENTS[2]
CACHE_HIT_EVENT = '/jax/compilation_cache/cache_hits'


class CompileTimer:
  """Counts, while active, the seconds JAX spends making programs, the programs made
  and how many of them came from the persistent cache (through `jax.monitoring`).

      with CompileTimer() as timer:
        state, metrics = train_step(state, batch, rng)
      print(timer.describe())
  """

  def __init__(self):
    self.seconds = 0.0
    self.programs = 0
    self.cache_hits = 0

  def _on_duration(self, event: str, duration_secs: float, **unused_metadata) -> None:
    if event in COMPILE_EVENTS:
      self.seconds += duration_secs
    if event == BACKEND_COMPILE_EVENT:
      self.programs += 1

  def _on_event(self, event: str, **unused_metadata) -> None:
    if event == CACHE_HIT_EVENT:
      self.cache_hits += 1

  def __enter__(self) -> 'CompileTimer':
    import jax  # see enable()

    jax.monitoring.register_event_duration_secs_listener(self._on_duration)
    jax.monitoring.register_event_listener(self._on_event)
    return self

  def __exit__(self, *unused_exception) -> None:
    import jax

    jax.monitoring.unregister_event_duration_listener(self._on_duration)
    jax.monitoring.unregister_event_listener(self._on_event)

  def describe(self) -> str:
    """'compiled in 12.3 s' with how many programs the cache supplied, if any."""
    text = f'compiled in {self.seconds:.1f} s'
    if self.cache_hits:
      text += f' ({self.cache_hits} of {self.programs} programs from the compilation cache)'
    return text
