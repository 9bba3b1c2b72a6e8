"""What a run prints: the banner, a line per log step and evaluation, and how it ended.

Only the chief process prints. Throughput is timed over training steps only:
the window restarts after the first step (which compiles) and after each
evaluation and checkpoint. Tools read run.json and metrics.jsonl, never these lines.
"""

import time


def format_duration(seconds: float) -> str:
  seconds = int(seconds)
  hours, rest = divmod(seconds, 3600)
  return f'{hours}h{rest // 60:02d}m' if hours else f'{rest // 60}m{rest % 60:02d}s'


class Throughput:
  """Steps per second since the window last restarted."""

  def __init__(self, step: int):
    self.restart(step)

  def restart(self, step: int) -> None:
    self._start_time, self._start_step = time.time(), step

  def steps_per_sec(self, step: int) -> float:
    """The window's rate up to `step`; the window then restarts at `step`."""
    now = time.time()
    rate = (step - self._start_step) / max(now - self._start_time, 1e-9)
    self._start_time, self._start_step = now, step
    return rate


class Console:
  """train.py's progress lines on stdout (the chief process's only)."""

  def __init__(self, is_chief: bool):
    self.is_chief = is_chief

  def print(self, line: str) -> None:
    if self.is_chief:
      print(line, flush=True)

  def banner(self, *, model: str, parameters: int, source, num_classes: int, devices: int,
             platform: str, processes: int, batch_size: int, local_batch_size: int,
             steps_per_epoch: int, total_steps: int, start_step: int, processing) -> None:
    self.print(
        f'{model}: {parameters:,} parameters | {source.name}: '
        f'{source.train.total_examples:,} train / {source.eval.total_examples:,} eval images, '
        f'{num_classes} classes | {devices} {platform} devices, {processes} processes | '
        f'batch {batch_size}' + (f' ({local_batch_size} per process)' if processes > 1 else '')
        + f', {steps_per_epoch} steps per epoch, {total_steps} steps'
        + (f', resuming at step {start_step}' if start_step else ''))
    if source.inferred:
      self.print(f'{source.name}: {source.inferred}')
    self.print(f'preprocessing: train {processing.train} | eval {processing.eval} | '
               f'{processing.channels} channel{"s" if processing.channels > 1 else ""}')

  def first_step(self, compiled: str, seconds_since_start: float) -> None:
    """The line after the first step: how long compiling took and when training began."""
    self.print(f'{compiled}; first training step done {seconds_since_start:.1f} s after the '
               'command started')

  def step(self, step: int, total_steps: int, summary: dict, steps_per_sec: float,
           batch_size: int, skipped_steps: int) -> None:
    eta = format_duration((total_steps - step) / steps_per_sec) if steps_per_sec else '-'
    self.print(f'step {step}/{total_steps}  loss {summary["train_loss"]:.4f}  '
               f'lr {summary["learning_rate"]:.4g}  '
               f'{steps_per_sec * batch_size:,.0f} img/s  ETA {eta}'
               + (f'  skipped {skipped_steps}' if skipped_steps else ''))

  def evaluation(self, step: int, epoch: float, metrics: dict) -> None:
    self.print(f'eval at step {step} (epoch {epoch:.1f}): top-1 '
               f'{metrics["eval_accuracy"]:.2%}  top-5 {metrics["eval_top5_accuracy"]:.2%}'
               f'  loss {metrics["eval_loss"]:.4f}')

  def stopped(self, cause: str, step: int, total_steps: int, checkpoint_dir: str) -> None:
    self.print(f'stopped by {cause} at step {step}/{total_steps}: checkpoint saved in '
               f'{checkpoint_dir}; run the same command again to continue')

  def finished(self, total_steps: int, checkpoint_dir: str, metrics_path: str) -> None:
    self.print(f'done: {total_steps} steps, checkpoints in {checkpoint_dir}, metrics in '
               f'{metrics_path}')
