r"""JAX (benchmark.py) against PyTorch (torch_reference.py), model by model, in one table.

    python benchmarks/compare_torch.py
    python benchmarks/compare_torch.py --models=resnet50,vgg16 --batch_size=128 \
        --markdown_out=/tmp/jax_vs_torch.md
    python benchmarks/compare_torch.py --torch_args="--no_compile" --json
    JAX_PLATFORMS=cpu python benchmarks/compare_torch.py --models=resnet50 --batch_size=2 \
        --steps=1 --image_size=64 --torch_python=/tmp/torchvenv/bin/python \
        --torch_args="--no_compile"

For each model it runs, one after the other and each in a process of its own,

    python benchmark.py --model=M --batch_size=B --half_precision --steps=S \
        --image_size=I --json
    python benchmarks/torch_reference.py --model=M --batch_size=B --steps=S \
        --image_size=I --json

and reads the last JSON line of each. Separate processes keep the frameworks
from competing for the GPU: JAX reserves 75 % of its memory when it starts, and
the PyTorch caching allocator keeps what it has used. Both sides get only the
first GPU (CUDA_VISIBLE_DEVICES=0, unless it is set already) because
benchmark.py would otherwise spread its batch over every GPU while PyTorch's
reference uses one.

It prints a header line (device, JAX and PyTorch versions) and a markdown table
of train and eval images per second with the ratio JAX / PyTorch; a run that
fails (out of memory, say) shows `failed: <its last error line>` in its row,
the other runs go on, and the exit status is 1 at the end. Neither framework is
imported here, so --python and --torch_python may name different environments.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_REFERENCE = os.path.join(REPO, 'benchmarks', 'torch_reference.py')
DEFAULT_MODELS = 'resnet50,vgg16,googlenet,densenet121,mobilenet_v2'

TABLE_HEADER = ('| model | batch | JAX train img/s | PyTorch train img/s | ratio (JAX/PyTorch) '
                '| JAX eval img/s | PyTorch eval img/s | eval ratio |\n'
                '|---|---:|---:|---:|---:|---:|---:|---:|')


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description='Train and eval speed of JAX (benchmark.py) against PyTorch.')
  parser.add_argument('--models', default=DEFAULT_MODELS, help='Comma-separated names.')
  parser.add_argument('--batch_size', type=int, default=256)
  parser.add_argument('--steps', type=int, default=20, help='Timed steps on each side.')
  parser.add_argument('--image_size', type=int, default=224, help='Passed to both sides.')
  parser.add_argument('--markdown_out', default='', help='Also write header and table here.')
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
  return parser.parse_args(argv)


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


def last_line(text: str) -> str:
  lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
  return lines[-1] if lines else ''


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
  return None, last_line(completed.stderr) or f'exit status {completed.returncode}'


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
  return f'failed: {message[:157]}...' if len(message) > 160 else f'failed: {message}'


def table_row(row: dict) -> str:
  jax_result, torch_result = row['jax'], row['torch']
  missing = '—'
  if jax_result:
    jax_train = f'{jax_result["train_images_per_sec"]:,.1f}'
    jax_eval = f'{jax_result["eval_images_per_sec"]:,.1f}'
  else:
    jax_train, jax_eval = cell_text(row['jax_error']), missing
  if torch_result:
    torch_train = f'{torch_result["train_images_per_sec"]:,.1f}'
    torch_eval = f'{torch_result["eval_images_per_sec"]:,.1f}'
  else:
    torch_train, torch_eval = cell_text(row['torch_error']), missing
  both = jax_result and torch_result
  train_ratio = (ratio(jax_result['train_images_per_sec'], torch_result['train_images_per_sec'])
                 if both else missing)
  eval_ratio = (ratio(jax_result['eval_images_per_sec'], torch_result['eval_images_per_sec'])
                if both else missing)
  return (f'| {row["model"]} | {row["batch_size"]} | {jax_train} | {torch_train} | '
          f'{train_ratio} | {jax_eval} | {torch_eval} | {eval_ratio} |')


def header_line(rows: list[dict], jax_version: str, torch_version: str,
                image_size: int, steps: int) -> str:
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
          f'{torch_settings}; {image_size}×{image_size} synthetic images, '
          f'{steps} timed step{"s" if steps != 1 else ""}')


def main(argv: list[str]) -> None:
  args = parse_args(argv)
  names = [name.strip() for name in args.models.split(',') if name.strip()]
  if not names:
    print('error: --models names no model', file=sys.stderr)
    sys.exit(2)
  env = dict(os.environ)
  env.setdefault('CUDA_VISIBLE_DEVICES', '0')  # one GPU each: see the module docstring
  common = [f'--batch_size={args.batch_size}', f'--steps={args.steps}',
            f'--image_size={args.image_size}', '--json']
  rows = []
  for name in names:
    row = {'model': name, 'batch_size': args.batch_size, 'image_size': args.image_size}
    print(f'{name}: JAX ...', file=sys.stderr, flush=True)
    row['jax'], row['jax_error'] = run(
        [args.python, 'benchmark.py', f'--model={name}', '--half_precision', *common,
         *shlex.split(args.jax_args)], env, args.timeout)
    print(f'{name}: PyTorch ...', file=sys.stderr, flush=True)
    row['torch'], row['torch_error'] = run(
        [args.torch_python, TORCH_REFERENCE, f'--model={name}', *common,
         *shlex.split(args.torch_args)], env, args.timeout)
    both = row['jax'] and row['torch']
    row['train_ratio'] = (row['jax']['train_images_per_sec']
                          / row['torch']['train_images_per_sec'] if both else None)
    row['eval_ratio'] = (row['jax']['eval_images_per_sec']
                         / row['torch']['eval_images_per_sec'] if both else None)
    rows.append(row)
    if args.json:
      print(json.dumps(row), flush=True)

  header = header_line(rows, package_version(args.python, 'jax'),
                       package_version(args.torch_python, 'torch'), args.image_size, args.steps)
  table = TABLE_HEADER + '\n' + '\n'.join(table_row(row) for row in rows)
  if not args.json:
    print(header + '\n\n' + table, flush=True)
  if args.markdown_out:
    with open(args.markdown_out, 'w', encoding='utf-8') as f:
      f.write(header + '\n\n' + table + '\n')
  if any(row['jax_error'] or row['torch_error'] for row in rows):
    sys.exit(1)


if __name__ == '__main__':
  main(sys.argv[1:])
