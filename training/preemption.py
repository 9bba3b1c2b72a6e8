"""SIGTERM and SIGINT as a clean stop: checkpoint after the current step, then exit 0."""

import signal
import threading

import jax
from jax.experimental import multihost_utils


class Preemption:
  """Turns SIGTERM and SIGINT into a clean stop after the current step.

  Single process: the first signal is noted and the loop checkpoints and stops
  at the end of its step; a second signal acts at once (the previous handlers
  are back). Several processes must stop at the same step, so there JAX's
  preemption sync point decides (jax.distributed's coordination service catches
  SIGTERM on each process and agrees on a step); SIGINT then interrupts at once.
  """

  def __init__(self):
    self.cause = None
    self._previous = {}

  def __enter__(self):
    signals = [signal.SIGINT] + ([signal.SIGTERM] if jax.process_count() == 1 else [])
    if threading.current_thread() is threading.main_thread():
      self._previous = {s: signal.signal(s, self._note) for s in signals}
    return self

  def _note(self, signum, frame):
    del frame
    self.cause = signal.Signals(signum).name
    self._restore()

  def _restore(self):
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    self._previous = {}

  def __exit__(self, *exc_info):
    self._restore()

  def reached(self, step: int) -> bool:
    """Whether the run should checkpoint and stop after `step`."""
    if jax.process_count() > 1:
      try:
        if multihost_utils.reached_preemption_sync_point(step):
          self.cause = 'SIGTERM'
      except RuntimeError:  # the runtime was started without a preemption notifier
        pass
    return self.cause is not None
