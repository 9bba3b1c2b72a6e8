r"""Command line of the model zoo.

    python -m models list
    python -m models summary resnet50 [--image_size 224] [--json]
"""

import argparse
import json
import sys

import models
from models import summary as summary_lib


def list_models() -> None:
  print(f'{"model":<28}{"input":>12}{"classes":>9}{"params":>16}{"multiply-adds":>18}')
  for name in models.names():
    spec = models.spec(name)
    table = summary_lib.summarize(name)
    print(f'{name:<28}{f"{spec.input_size}×{spec.input_size}×{spec.channels}":>12}'
          f'{spec.num_classes:>9}{table.total_params:>16,}{table.total_macs:>18,}', flush=True)


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(prog='python -m models', description=__doc__.split('\n')[0])
  commands = parser.add_subparsers(dest='command', required=True)
  commands.add_parser('list', help='every registered model, its input and parameter count')
  summary = commands.add_parser('summary', help='per-layer shapes, parameters, multiply-adds')
  summary.add_argument('name')
  summary.add_argument('--image_size', type=int, default=None)
  summary.add_argument('--num_classes', type=int, default=None)
  summary.add_argument('--json', action='store_true', help='one JSON object instead of a table')
  args = parser.parse_args(argv)
  if args.command == 'list':
    list_models()
    return 0
  try:
    result = summary_lib.summarize(args.name, args.image_size, args.num_classes)
  except ValueError as error:
    print(f'error: {error}', file=sys.stderr)
    return 2
  except TypeError as error:  # shapes that do not fit the network, e.g. a too small input
    print(f'error: {args.name} cannot take a {args.image_size}×{args.image_size} input '
          f'({error}): use a larger --image_size', file=sys.stderr)
    return 2
  print(json.dumps(result.to_json()) if args.json else summary_lib.format_table(result))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
