r"""MobileNet v2 at 224 px exported in every format of `python -m trained.export`: file
size and batch-1 CPU latency of each artefact in its own runtime, against JAX's jit and
PyTorch eager (torchvision's mobilenet_v2), on the same machine.

    python benchmarks/export_latency.py --torch_python=/work/torchvenv/bin/python
    python benchmarks/export_latency.py --runs=50 --torch_python=    # without PyTorch

The network has its initialisation's weights (latency does not depend on their values), written
as a `python -m trained.convert` folder and exported through the command's main(). Each
runtime gets the same normalised 1 × 224 × 224 × 3 image (PyTorch its NCHW transpose);
the latency is the median of --runs calls after --warmup calls, each call ending with the
logits on the host. Each runtime keeps its own default threading. PyTorch runs in the
interpreter --torch_python names (torch is never a requirement of the project): this file
re-runs itself there with --torch_only, importing nothing of the project.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types

SIZE = 224


def median_latency(call, image, warmup: int, runs: int) -> float:
  """Median seconds of `call(image)` over `runs` calls after `warmup` calls."""
  for _ in range(warmup):
    call(image)
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    call(image)
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def torch_latency(warmup: int, runs: int) -> dict:
  """torchvision's mobilenet_v2, eager, in eval mode under no_grad (run with --torch_only)."""
  sys.modules.setdefault('torchvision._meta_registrations',
                         types.ModuleType('torchvision._meta_registrations'))
  import numpy as np  # pylint: disable=import-outside-toplevel
  import torch  # pylint: disable=import-outside-toplevel
  import torchvision  # pylint: disable=import-outside-toplevel

  model = torchvision.models.mobilenet_v2().eval()
  image = torch.from_numpy(np.random.default_rng(0).normal(
      size=(1, 3, SIZE, SIZE)).astype(np.float32))

  def call(x):
    with torch.no_grad():
      return model(x).numpy()
  return {'runtime': f'PyTorch {torch.__version__} eager (torchvision {torchvision.__version__})',
          'seconds': median_latency(call, image, warmup, runs), 'bytes': None,
          'threads': torch.get_num_threads()}


def project_latencies(warmup: int, runs: int) -> list[dict]:
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  import models  # pylint: disable=import-outside-toplevel
  import trained  # pylint: disable=import-outside-toplevel
  from models.released import SOURCES  # pylint: disable=import-outside-toplevel
  from trained import convert, export  # pylint: disable=import-outside-toplevel

  root = tempfile.mkdtemp(prefix='export_latency-')
  workdir = os.path.join(root, 'converted')
  # The initialisation's weights: the time of a forward pass does not depend on the values.
  network = models.create('mobilenet_v2', num_classes=1000)
  variables = network.init(jax.random.key(0), np.zeros((1, SIZE, SIZE, 3), np.float32),
                           train=False)
  convert.write_checkpoint(workdir, SOURCES['mobilenet_v2'], variables, 1000, 'seeded', 256,
                           SIZE)
  net = trained.load(workdir)
  image = np.random.default_rng(0).normal(size=(1, SIZE, SIZE, 3)).astype(np.float32)
  rows = [{'runtime': f'JAX {jax.__version__} jit', 'seconds': median_latency(
      lambda x: np.asarray(net.forward(x)), image, warmup, runs), 'bytes': None}]
  for export_format in export.FORMATS:
    out = os.path.join(root, export_format)
    if export.main([f'--workdir={workdir}', f'--format={export_format}', f'--out={out}']):
      continue
    description = export.read_description(out)
    size = sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(out) for name in names
               if name != export.PREPROCESSING)
    run = export.load_exported(out)
    rows.append({'runtime': f'{export_format}: {description["exported_with"]}',
                 'seconds': median_latency(run, image, warmup, runs), 'bytes': size})
  return rows


def main(argv: list[str]) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--warmup', type=int, default=10)
  parser.add_argument('--runs', type=int, default=100)
  parser.add_argument('--torch_python', default='',
                      help='a Python with torch and torchvision; empty: leave PyTorch out')
  parser.add_argument('--torch_only', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.torch_only:
    print(json.dumps(torch_latency(args.warmup, args.runs)))
    return 0
  rows = project_latencies(args.warmup, args.runs)
  if args.torch_python:
    result = subprocess.run([args.torch_python, os.path.abspath(__file__), '--torch_only',
                             f'--warmup={args.warmup}', f'--runs={args.runs}'],
                            capture_output=True, text=True, check=False)
    if result.returncode:
      print(f'error: PyTorch run failed: {result.stderr.strip().splitlines()[-1:]}',
            file=sys.stderr)
      return 2
    rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
  print(f'MobileNet v2, 1 × {SIZE} × {SIZE} × 3, median of {args.runs} calls after '
        f'{args.warmup}; {os.cpu_count()} CPUs')
  print(f'{"runtime":<78} {"file MiB":>9} {"ms":>8}')
  for row in rows:
    size = f'{row["bytes"] / 2**20:.1f}' if row['bytes'] else '-'
    print(f'{row["runtime"]:<78} {size:>9} {1000 * row["seconds"]:>8.2f}')
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
