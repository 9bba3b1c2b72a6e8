r"""predict.py against timm's inference.py on the same folder of JPEGs and the same machine.

    python -m benchmarks.predict_throughput --torch_python=/work/torchvenv/bin/python \
        --timm_inference=/tmp/timm_inference.py

Both classify photographs (tools/sample_ilsvrc.py's crops of the sample photographs, 300-375
× 350-500 pixels) with a seeded ResNet-50 at 224 px: predict.py from a converted-folder
checkpoint (resize_short(256)|center_crop(224), tf.data decoding), inference.py (timm's
script, from its repository; it is not in the pip package) from a state dict, with its
torch DataLoader workers (-j). Each command runs twice, on `--small` and on `--large`
images, and the steady throughput is (large − small) / (difference of wall times): start-up,
imports and compilation cancel out. Times are wall-clock seconds of the whole command.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

import models
from models.released import SOURCES
from tools import sample_ilsvrc
from trained import convert

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# torchvision's compiled ops may not load against a CPU torch; classification needs none.
TORCHVISION_STUB = """
import sys, types
sys.modules['torchvision._meta_registrations'] = types.ModuleType('stub')
"""
SAVE_TIMM_WEIGHTS = TORCHVISION_STUB + """
import torch, timm
torch.manual_seed(0)
torch.save(timm.create_model('resnet50', pretrained=False).state_dict(), sys.argv[1])
"""

RUN_SCRIPT = TORCHVISION_STUB + """
import runpy
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""


def write_photos(folder: str, count: int) -> None:
  os.makedirs(folder, exist_ok=True)
  for index, photo in enumerate(sample_ilsvrc.sample_photographs(count)):
    with open(os.path.join(folder, f'{index:05d}.jpg'), 'wb') as file:
      file.write(photo)


def write_resnet50(out: str) -> None:
  """A converted-folder checkpoint of ResNet-50 with its initialisation's weights."""
  model = models.create('resnet50', num_classes=1000)
  variables = model.init(jax.random.key(0), np.zeros((1, 224, 224, 3), np.float32),
                         train=False)
  convert.write_checkpoint(out, SOURCES['resnet50'], variables, 1000, 'seeded', 256, 224)


def timed(command: list[str], cwd: str) -> float:
  start = time.perf_counter()
  completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
  if completed.returncode != 0:
    raise SystemExit(f'{" ".join(command[:3])} failed: {completed.stderr[-1500:]}')
  return time.perf_counter() - start


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--torch_python', required=True, help='A Python with torch and timm.')
  parser.add_argument('--timm_inference', required=True, help="timm's inference.py.")
  parser.add_argument('--small', type=int, default=64)
  parser.add_argument('--large', type=int, default=320)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--workers', type=int, default=2, help="inference.py's -j.")
  args = parser.parse_args()
  root = tempfile.mkdtemp(prefix='predict_throughput_')
  try:
    write_resnet50(os.path.join(root, 'resnet50'))
    timm_weights = os.path.join(root, 'timm_resnet50.pth')
    subprocess.run([args.torch_python, '-c', SAVE_TIMM_WEIGHTS, timm_weights], check=True)
    results = {}
    for count in (args.small, args.large):
      folder = os.path.join(root, f'photos_{count}')
      write_photos(folder, count)
      results[('predict.py', count)] = timed(
          [sys.executable, 'predict.py', f'--workdir={os.path.join(root, "resnet50")}', folder,
           f'--batch_size={args.batch_size}', f'--out={os.path.join(root, f"p{count}.csv")}'],
          REPO)
      results[('timm inference.py', count)] = timed(
          [args.torch_python, '-c', RUN_SCRIPT, args.timm_inference, folder, '--model=resnet50', '--device=cpu',
           f'--checkpoint={timm_weights}', f'-b={args.batch_size}', f'-j={args.workers}',
           '--topk=5', f'--results-dir={root}', '--results-file=timm', '--no-console-results'],
          root)
    print(f'ResNet-50, 224 px, batch {args.batch_size}, {os.cpu_count()} CPUs; wall seconds '
          f'of the whole command, {args.small} and {args.large} JPEGs')
    rates = {}
    for tool in ('predict.py', 'timm inference.py'):
      small, large = results[(tool, args.small)], results[(tool, args.large)]
      rates[tool] = (args.large - args.small) / (large - small)
      print(f'{tool:18s} {small:7.1f} s {large:7.1f} s   steady {rates[tool]:6.1f} images/s')
    print(f'predict.py / inference.py: {rates["predict.py"] / rates["timm inference.py"]:.2f}×')
  finally:
    shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
  main()
