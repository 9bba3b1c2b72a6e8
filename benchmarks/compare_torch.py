r"""JAX (benchmark.py) against PyTorch (torch_reference.py), model by model, in one table.

    python benchmarks/compare_torch.py                      # the GPU comparison
    python benchmarks/compare_torch.py --models=resnet50,vgg16 --batch_size=128 \
        --markdown_out=/tmp/jax_vs_torch.md --json_out=/tmp/jax_vs_torch.json
    python benchmarks/compare_torch.py --device=cpu --models=resnet50,densenet121 \
        --torch_python=/tmp/torchvenv/bin/python            # the laptop comparison
    python benchmarks/compare_torch.py --budget_seconds=360  # stop starting runs after 6 min

For each model, in the order given (put the most important first), it runs one
after the other, each in a process of its own,

    python benchmark.py --model=M --batch_size=B --steps=S --image_size=I --json [--half_precision]
    python benchmarks/torch_reference.py --model=M --batch_size=B --steps=S --image_size=I --json

and reads the last JSON line of each. Separate processes keep the frameworks
from competing for the GPU: JAX reserves 75 % of its memory when it starts, and
the PyTorch caching allocator keeps what it has used. Both sides get only the
first GPU (CUDA_VISIBLE_DEVICES=0, unless it is set already) because
benchmark.py would otherwise spread its batch over every GPU while PyTorch's
reference uses one.

--device=gpu (the default): bfloat16 on both sides (JAX: bfloat16 activations;
PyTorch: autocast, channels_last, torch.compile), batch 256, each network at its
paper's input (0 = benchmark.py's and torch_reference.py's own default).
--device=cpu: what a laptop user runs: float32, eager PyTorch (no torch.compile,
which on a CPU compiles for minutes), batch 32 at 64×64, JAX on its CPU backend.

Each run has a time limit (--timeout), and with --budget_seconds the whole
comparison has one too: a run gets at most what is left of it, and once less
than --min_run_seconds is left the remaining rows say `skipped: out of time`.
So a slow network cannot starve the ones after it of more than its own limit.

It prints a header line (device, versions, settings) and a markdown table of
train and eval images per second with the ratio JAX / PyTorch, each side's model
FLOPs utilisation (bfloat16 runs on a device of known peak) and compile time; a
run that fails (out of memory, say) shows `failed: <its last error line>` in its
row, the other runs go on, and the exit status is 1 at the end. Neither framework
is imported here, so --python and --torch_python may name different environments.
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_REFERENCE = os.path.join(REPO, 'benchmarks', 'torch_reference.py')
# In order of priority: with a time budget, the first ones are measured first.
DEFAULT_MODELS = 'resnet50,resnet18,vgg16,densenet121,mobilenet_v2,inception_v3,googlenet_bn'
# Per device: batch, input side (0: each network's paper input), what each side is
# told about precision and compilation.
DEVICE_SETTINGS = {
    'gpu': {'batch_size': 256, 'image_size': 0, 'jax': ['--half_precision'], 'torch': []},
    'cpu': {'batch_size': 32, 'image_size': 64, 'jax': [],
            'torch': ['--precision=fp32', '--no_compile']},
}

TABLE_HEADER = ('| model | batch | input | JAX train img/s | PyTorch train img/s | train ratio '
                '| JAX eval img/s | PyTorch eval img/s | eval ratio | JAX MFU | PyTorch MFU '
                '| JAX compile s | PyTorch warm-up s |\n'
                '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
MISSING = '—'


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description='Train and eval speed of JAX (benchmark.py) against PyTorch.')
  parser.add_argument('--models', default=DEFAULT_MODELS,
                      help='Comma-separated names, most important first.')
  parser.add_argument('--device', default='gpu', choices=sorted(DEVICE_SETTINGS),
                      help='gpu: bfloat16, torch.compile; cpu: float32, eager PyTorch.')
  parser.add_argument('--batch_size', type=int, default=0, help='0: 256 on gpu, 32 on cpu.')
  parser.add_argument('--steps', type=int, default=20, help='Timed steps on each side.')
  parser.add_argument('--image_size', type=int, default=-1,
                      help="Passed to both sides; 0: each network's paper input; "
                      '-1: 0 on gpu, 64 on cpu.')
  parser.add_argument('--markdown_out', default='', help='Also write header and table here.')
  parser.add_argument('--json_out', default='', help='Also write the rows here, as JSON.')
  parser.add_argument('--json', action='store_true',
                      help='Print one JSON object per model instead of the table.')
  parser.add_argument('--python', default=sys.executable,
                      help='Interpreter that runs benchmark.py (needs jax, flax, optax).')
  parser.add_argument('--torch_python', default=sys.executable,
                      help='Interpreter that runs torch_reference.py (needs torch, torchvision).')
  parser.add_argument('--jax_args', default='', help='More flags for benchmark.py.')
  parser.add_argument('--torch_args', default='',
                      help='More flags for torch_reference.py, e.g. "--no_compile".')
  parser.add_argument('--timeout', type=float, default=3600,
                      help='Seconds one run may take before it counts as failed.')
  parser.add_argument('--budget_seconds', type=float, default=0,
                      help='Seconds for the whole comparison; 0: no limit.')
  parser.add_argument('--min_run_seconds', type=float, default=30,
                      help='With --budget_seconds: no run starts with less than this left.')
  args = parser.parse_args(argv)
  settings = DEVICE_SETTINGS[args.device]
  args.batch_size = args.batch_size or settings['batch_size']
  args.image_size = settings['image_size'] if args.image_size < 0 else args.image_size
  return args


def last_json_object(stdout: str) -> dict | None:
  """The last line of `stdout` that holds a JSON object (logs may come before it)."""
  for line in reversed(stdout.strip().splitlines()):
    try:
      value = json.loads(line)
    except json.JSONDecodeError:
      continue
    if isinstance(value, dict):
      return value
  return None


# A traceback's exception line ('ZeroDivisionError: ...'), or a script's one-line error.
FAILURE_LINE = re.compile(r'^(error: |[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b)')


def failure_line(text: str) -> str:
  """Why a run failed, from its stderr: the last exception or `error:` line (JAX adds a
  note after its filtered tracebacks), else the last line."""
  lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
  failures = [line for line in lines if FAILURE_LINE.match(line)
              and not line.startswith('jax.errors.SimplifiedTraceback')]
  return failures[-1] if failures else (lines[-1] if lines else '')


def run(command: list[str], env: dict, timeout: float) -> tuple[dict | None, str | None]:
  """The result object of one benchmark process, or None and why it failed.

  The error is the last line of stderr: the exception of a traceback, or the
  one-line `error: ...` of either script.
  """
  try:
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=timeout)
  except subprocess.TimeoutExpired:
    return None, f'timed out after {timeout:.0f} s'
  except OSError as error:  # e.g. --python names no interpreter
    return None, str(error)
  result = last_json_object(completed.stdout)
  if completed.returncode == 0 and result is not None:
    return result, None
  # The tail of stderr helps to see why; the table gets only the last line.
  print('\n'.join(completed.stderr.strip().splitlines()[-20:]), file=sys.stderr)
  return None, failure_line(completed.stderr) or f'exit status {completed.returncode}'


def package_version(python: str, package: str) -> str:
  """Version of `package` in the environment of `python`, read without importing it.

  Importing JAX or torch here would start a framework only to read a string.
  """
  code = f'import importlib.metadata as m; print(m.version({package!r}))'
  try:
    completed = subprocess.run([python, '-c', code], capture_output=True, text=True, timeout=120)
  except (OSError, subprocess.TimeoutExpired):
    return 'unknown'
  return completed.stdout.strip() if completed.returncode == 0 else 'not installed'


def ratio(jax_speed: float, torch_speed: float) -> str:
  return f'{jax_speed / torch_speed:.2f}×'


def cell_text(message: str) -> str:
  """An error message fit for a markdown cell: no pipes, not longer than 160 characters."""
  message = message.replace('|', '/')
  if message.startswith('error: '):  # the scripts' own one-line errors
    message = message[len('error: '):]
  if message.startswith('skipped'):
    return message
  return f'failed: {message[:157]}...' if len(message) > 160 else f'failed: {message}'


def percent(value: float | None) -> str:
  return f'{value:.1%}' if value is not None else 'n/a'


def side_cells(result: dict | None, error: str | None) -> tuple[str, str, str, str]:
  """Train img/s, eval img/s, MFU and compile seconds of one side, or why there are none."""
  if not result:
    return cell_text(error or 'no result'), MISSING, MISSING, MISSING
  return (f'{result["train_images_per_sec"]:,.1f}', f'{result["eval_images_per_sec"]:,.1f}',
          percent(result.get('mfu')), f'{result["compile_seconds"]:.1f}')


def input_cell(row: dict) -> str:
  """The input side both ran at; both, where they differ (a row that compares nothing)."""
  sizes = [result['image_size'] for result in (row['jax'], row['torch']) if result]
  if not sizes:
    return str(row['image_size'] or MISSING)
  return str(sizes[0]) if len(set(sizes)) == 1 else f'JAX {sizes[0]}, PyTorch {sizes[1]}'


def table_row(row: dict) -> str:
  jax_train, jax_eval, jax_mfu, jax_compile = side_cells(row['jax'], row['jax_error'])
  torch_train, torch_eval, torch_mfu, torch_warmup = side_cells(row['torch'], row['torch_error'])
  train_ratio = f'{row["train_ratio"]:.2f}×' if row['train_ratio'] is not None else MISSING
  eval_ratio = f'{row["eval_ratio"]:.2f}×' if row['eval_ratio'] is not None else MISSING
  return (f'| {row["model"]} | {row["batch_size"]} | {input_cell(row)} | {jax_train} | '
          f'{torch_train} | {train_ratio} | {jax_eval} | {torch_eval} | {eval_ratio} | '
          f'{jax_mfu} | {torch_mfu} | {jax_compile} | {torch_warmup} |')


def header_line(rows: list[dict], jax_version: str, torch_version: str, steps: int) -> str:
  """Device, versions and the settings of each side, taken from the results themselves."""
  jax_result = next((row['jax'] for row in rows if row['jax']), None)
  torch_result = next((row['torch'] for row in rows if row['torch']), None)
  jax_device = jax_result['device_kind'] if jax_result else 'unknown device'
  torch_device = torch_result['device_kind'] if torch_result else jax_device
  if jax_result and jax_result['devices'] > 1:
    jax_device = f'{jax_result["devices"]} × {jax_device}'
  device = (jax_device if jax_device == torch_device
            else f'JAX on {jax_device}, PyTorch on {torch_device}')
  torch_settings = ''
  if torch_result:
    torch_settings = ' ({})'.format(', '.join(
        ['torch.compile' if torch_result['compiled'] else 'eager',
         'channels_last' if torch_result['channels_last'] else 'NCHW',
         'bf16 autocast' if torch_result['half_precision'] else 'fp32']))
  jax_settings = ''
  if jax_result:
    jax_settings = ' (bf16 activations)' if jax_result['half_precision'] else ' (fp32)'
  return (f'{device}, JAX {jax_version}{jax_settings}, PyTorch {torch_version}'
          f'{torch_settings}; synthetic images, {steps} timed step{"s" if steps != 1 else ""}')


class Budget:
  """What is left of --budget_seconds, as each run's time limit."""

  def __init__(self, total_seconds: float, run_timeout: float, min_run_seconds: float):
    self.deadline = time.monotonic() + total_seconds if total_seconds > 0 else None
    self.run_timeout = run_timeout
    self.min_run_seconds = min_run_seconds

  def next_timeout(self) -> float | None:
    """The next run's limit, or None when too little is left to start it."""
    if self.deadline is None:
      return self.run_timeout
    left = self.deadline - time.monotonic()
    return min(self.run_timeout, left) if left >= self.min_run_seconds else None


def measure(command: list[str], env: dict, budget: Budget) -> tuple[dict | None, str | None]:
  timeout = budget.next_timeout()
  if timeout is None:
    return None, 'skipped: out of time'
  return run(command, env, timeout)


def environments(device: str) -> tuple[dict, dict]:
  """The environment of the JAX and of the PyTorch processes."""
  env = dict(os.environ)
  if device == 'gpu':
    env.setdefault('CUDA_VISIBLE_DEVICES', '0')  # one GPU each: see the module docstring
    return env, env
  jax_env = {**env, 'JAX_PLATFORMS': 'cpu'}
  torch_env = {**env, 'CUDA_VISIBLE_DEVICES': ''}
  return jax_env, torch_env


def compare(args: argparse.Namespace, names: list[str]) -> list[dict]:
  """One row per model: both sides' results (or errors) and the ratios."""
  settings = DEVICE_SETTINGS[args.device]
  jax_env, torch_env = environments(args.device)
  common = [f'--batch_size={args.batch_size}', f'--steps={args.steps}',
            f'--image_size={args.image_size}', '--json']
  budget = Budget(args.budget_seconds, args.timeout, args.min_run_seconds)
  rows = []
  for name in names:
    row = {'model': name, 'device': args.device, 'batch_size': args.batch_size,
           'image_size': args.image_size}
    print(f'{name}: JAX ...', file=sys.stderr, flush=True)
    row['jax'], row['jax_error'] = measure(
        [args.python, 'benchmark.py', f'--model={name}', *settings['jax'], *common,
         *shlex.split(args.jax_args)], jax_env, budget)
    print(f'{name}: PyTorch ...', file=sys.stderr, flush=True)
    row['torch'], row['torch_error'] = measure(
        [args.torch_python, TORCH_REFERENCE, f'--model={name}', *settings['torch'], *common,
         *shlex.split(args.torch_args)], torch_env, budget)
    both = row['jax'] and row['torch']
    row['train_ratio'] = (row['jax']['train_images_per_sec']
                          / row['torch']['train_images_per_sec'] if both else None)
    row['eval_ratio'] = (row['jax']['eval_images_per_sec']
                         / row['torch']['eval_images_per_sec'] if both else None)
    rows.append(row)
    if args.json:
      print(json.dumps(row), flush=True)
  return rows


def main(argv: list[str]) -> None:
  args = parse_args(argv)
  names = [name.strip() for name in args.models.split(',') if name.strip()]
  if not names:
    print('error: --models names no model', file=sys.stderr)
    sys.exit(2)
  rows = compare(args, names)
  header = header_line(rows, package_version(args.python, 'jax'),
                       package_version(args.torch_python, 'torch'), args.steps)
  table = TABLE_HEADER + '\n' + '\n'.join(table_row(row) for row in rows)
  if not args.json:
    print(header + '\n\n' + table, flush=True)
  if args.markdown_out:
    with open(args.markdown_out, 'w', encoding='utf-8') as f:
      f.write(header + '\n\n' + table + '\n')
  if args.json_out:
    with open(args.json_out, 'w', encoding='utf-8') as f:
      json.dump({'header': header, 'rows': rows}, f, indent=1)
  if any(row['jax_error'] or row['torch_error'] for row in rows):
    sys.exit(1)


if __name__ == '__main__':
  main(sys.argv[1:])
