r"""Command line of the model zoo.

    python -m models list
    python -m models summary resnet50 [--image_size 224] [--depth N] [--json]
    python -m models compare [--plot c.png] [--models a,b] [--json]

Measured speed and memory come from `python benchmark.py --compare` (models/ times
nothing: the evaluation step it times belongs to training/, a floor above).
"""

import argparse
import json
import shlex
import sys

import models
from models import compare as compare_lib
from models import summary as summary_lib


def list_models() -> None:
  print(f'{"model":<28}{"input":>12}{"classes":>9}{"params":>16}{"multiply-adds":>18}')
  for name in models.names():
    spec = models.spec(name)
    table = summary_lib.summarize(name)
    print(f'{name:<28}{f"{spec.input_size}×{spec.input_size}×{spec.channels}":>12}'
          f'{spec.num_classes:>9}{table.total_params:>16,}{table.total_macs:>18,}', flush=True)


def compare(args: argparse.Namespace) -> int:
  """The comparison table of the ImageNet networks and the plot; --measure says where the
  measuring moved, as the command to run."""
  if args.measure:
    command = ['python', 'benchmark.py', '--compare', f'--model={args.models or "all"}',
               f'--batch_sizes={args.batch_sizes}', f'--steps={args.steps}']
    command += [f'--plot={args.plot}'] if args.plot else []
    command += ['--json'] if args.json else []
    print('error: measuring moved to benchmark.py, which times train.py\'s evaluation step '
          f'(the networks sit below it): {shlex.join(command)}', file=sys.stderr)
    return 2
  try:
    names = args.models.split(',') if args.models else None
    compare_lib.check_names(names or [])
  except ValueError as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  rows = compare_lib.table_rows(names)
  if args.plot:
    compare_lib.plot(rows, args.plot)
  print(json.dumps(compare_lib.to_json(rows)) if args.json else compare_lib.format_table(rows))
  if args.plot:
    print(f'plot: {args.plot}', file=sys.stderr)
  return 0


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(prog='python -m models', description=__doc__.split('\n')[0])
  commands = parser.add_subparsers(dest='command', required=True)
  commands.add_parser('list', help='every registered model, its input and parameter count')
  summary = commands.add_parser('summary', help='per-layer shapes, parameters, multiply-adds')
  summary.add_argument('name')
  summary.add_argument('--image_size', type=int, default=None)
  summary.add_argument('--num_classes', type=int, default=None)
  summary.add_argument('--json', action='store_true', help='one JSON object instead of a table')
  summary.add_argument('--depth', type=int, default=None,
                       help='one row per module: layers grouped by the first N parts of '
                            'their module path, with summed counts')
  comparison = commands.add_parser(
      'compare', help='the ImageNet networks: parameters, multiply-adds, top-1 (paper and '
                      'released weights)')
  comparison.add_argument('--plot', default='', help='write the figure to this PNG file')
  comparison.add_argument('--models', default='',
                          help='comma-separated registry names; default: every ImageNet one')
  # Kept so that an old command line gets the new one to run.
  comparison.add_argument('--measure', action='store_true',
                          help='moved: prints the benchmark.py --compare command to run')
  comparison.add_argument('--batch_sizes', default=','.join(map(str, compare_lib.BATCH_SIZES)),
                          help='with --measure: passed on')
  comparison.add_argument('--steps', type=int, default=3, help='with --measure: passed on')
  comparison.add_argument('--json', action='store_true', help='JSON instead of markdown')
  args = parser.parse_args(argv)
  if args.command == 'list':
    list_models()
    return 0
  if args.command == 'compare':
    return compare(args)
  try:
    result = summary_lib.summarize(args.name, args.image_size, args.num_classes)
  except ValueError as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  except TypeError as error:  # shapes that do not fit the network, e.g. a too small input
    print(f'error: {args.name} cannot take a {args.image_size}×{args.image_size} input '
          f'({error}): use a larger --image_size', file=sys.stderr)
    return 2
  try:
    rows = None if args.depth is None else summary_lib.by_module(result, args.depth)
  except ValueError as error:
    print(f'error: {error}: use --depth=1 or more', file=sys.stderr)
    return 2
  print(json.dumps(result.to_json(rows)) if args.json else summary_lib.format_table(result, rows))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
