r"""The GPU suite's report: its parts (device check, comparisons, profile) in one page.

    python benchmarks/gpu_suite_report.py --out=<the suite's output folder>

benchmarks/gpu_suite.sh calls it last. It reads what the suite's steps left in the
folder (device.json, compare_*.json, profile.json; any may be missing, when a step
failed or ran out of time) and writes summary.md (what goes into BENCHMARKS.md)
and summary.json (all numbers). Framework-free: it only reads JSON.
"""

import argparse
import glob
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import compare_torch  # noqa: E402  (after the repository is on the path)


def read_json(path: str) -> dict | None:
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except (OSError, json.JSONDecodeError):
    return None


def device_section(device: dict | None) -> list[str]:
  if device is None:
    return ['Device check: no result (device.json missing).']
  lines = [f'- JAX {device["jax_version"]}: {device["jax_devices"]}',
           f'- PyTorch {device["torch_version"]}: {device["torch_device"]}',
           f'- Python {device["python"]}; packages brought as wheels: '
           f'{", ".join(device["wheels"]) or "none"}']
  if device.get('dry_run'):
    lines.insert(0, '**CPU dry run**: the device names and MFU below are stand-ins, the '
                 'numbers mean nothing.')
  return lines


def comparison_section(parts: list[dict]) -> list[str]:
  rows = [row for part in parts for row in part['rows']]
  if not rows:
    return ['No comparison ran.']
  headers = sorted({part['header'] for part in parts})
  return [*headers, '', compare_torch.TABLE_HEADER, *map(compare_torch.table_row, rows)]


def profile_section(profile: dict | None) -> list[str]:
  if profile is None or not profile.get('profile'):
    return ['No profile (profile.json missing: the step failed or ran out of time).']
  from benchmarks import profile_summary  # imports JAX only for its profiler, not needed here

  return [f'{profile["model"]} batch {profile["batch_size"]} at {profile["image_size"]}, '
          f'{"bfloat16" if profile["half_precision"] else "float32"}: '
          f'train {profile["train_images_per_sec"]:,.1f} img/s, MFU '
          f'{compare_torch.percent(profile["mfu"])}', '',
          profile_summary.format_summary(profile['profile'])]


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--out', required=True, help="The suite's output folder.")
  parser.add_argument('--seconds', type=float, default=None, help='How long the suite ran.')
  args = parser.parse_args(argv)
  device = read_json(os.path.join(args.out, 'device.json'))
  parts = [part for part in map(read_json, sorted(glob.glob(os.path.join(args.out,
                                                                         'compare_*.json'))))
           if part]
  profile = read_json(os.path.join(args.out, 'profile.json'))
  lines = ['# GPU suite', '']
  if args.seconds is not None:
    lines += [f'Ran in {args.seconds:.0f} s.', '']
  lines += ['## Device', '', *device_section(device), '',
            '## JAX against PyTorch', '', *comparison_section(parts), '',
            '## Where ResNet-50\'s train step spends its device time', '',
            *profile_section(profile), '']
  text = '\n'.join(lines)
  with open(os.path.join(args.out, 'summary.md'), 'w', encoding='utf-8') as f:
    f.write(text)
  with open(os.path.join(args.out, 'summary.json'), 'w', encoding='utf-8') as f:
    json.dump({'device': device, 'comparisons': parts, 'profile': profile,
               'seconds': args.seconds}, f, indent=1)
  print(text)


if __name__ == '__main__':
  main(sys.argv[1:])
