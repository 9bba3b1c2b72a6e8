"""The train step's metrics: kept on the device, fetched at log time, summarised.

The loop hands every step's device-side metrics to `StepMetrics.add` without
waiting for them. `fetch` brings all pending ones to the host in one transfer
(at log, checkpoint and stop steps) and checks them for non-finite steps
before anything is saved; `summary` averages the fetched ones for one log line.
"""

import jax
import numpy as np


class NonFiniteError(RuntimeError):
  """A NaN or Inf loss or gradient with on_nonfinite='stop'."""


class StepMetrics:
  """Pending (device) and fetched (host) metrics of the steps since the last log line."""

  def __init__(self, on_nonfinite: str):
    self.on_nonfinite = on_nonfinite
    self.skipped_steps = 0  # non-finite steps whose update was skipped (on_nonfinite='skip')
    self._pending = []  # (step, device-side metrics)
    self._fetched = []  # (step, host metrics) since the last summary

  def add(self, step: int, metrics) -> None:
    self._pending.append((step, metrics))

  def fetch(self, describe_latest_checkpoint) -> None:
    """Brings the pending metrics to the host in one transfer and checks them.

    The train step never applies a non-finite update, so every checkpoint stays
    good; such a step is counted (on_nonfinite='skip') or stops the run with a
    NonFiniteError that names the newest good checkpoint (on_nonfinite='stop').
    """
    values = jax.device_get([metrics for _, metrics in self._pending])
    fetched = list(zip([step for step, _ in self._pending], values))
    self._pending = []
    bad = [step for step, metrics in fetched if metrics['nonfinite']]
    if bad and self.on_nonfinite == 'stop':
      raise NonFiniteError(
          f'non-finite loss or gradients at step {bad[0]}; its update was not applied and the '
          f'run stopped. The newest good checkpoint is {describe_latest_checkpoint()}: lower the '
          'learning rate (or warm up) and run again, or set --config.on_nonfinite=skip to skip '
          'such steps')
    self.skipped_steps += len(bad)
    self._fetched.extend(fetched)

  def summary(self) -> dict[str, float] | None:
    """Means over the fetched finite steps since the last summary; None if there are none."""
    if not self._fetched:
      return None
    finite = [m for _, m in self._fetched if not m['nonfinite']] or [m for _, m in self._fetched]
    summary = {k: float(np.mean([m[k] for m in finite])) for k in finite[0] if k != 'nonfinite'}
    # The schedule's value at this step, not an average: a resumed run logs the same.
    summary['learning_rate'] = float(self._fetched[-1][1]['learning_rate'])
    if self.on_nonfinite == 'skip':
      summary['skipped_steps'] = float(self.skipped_steps)
    self._fetched = []
    return summary
