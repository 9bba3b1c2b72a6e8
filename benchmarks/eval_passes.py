r"""Seconds per pass over an eval split's batches, decoded each time or kept in memory.

    python benchmarks/eval_passes.py --dataset=digits
    python benchmarks/eval_passes.py --dataset=image_folder:/data/cifar_png --image_size=32

train.py evaluates every few epochs; protocols.EvalBatches keeps a small split's
preprocessed batches after the first pass (config.eval_in_memory_mb). This times
three passes of the center view's batches with the budget at 0 (decoded every
time) and at 1 GiB (kept), so the saving per evaluation reads off directly.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from training import quiet_tensorflow  # noqa: E402  (after the repository is on the path)

quiet_tensorflow.import_tensorflow()

import input_pipeline  # noqa: E402
import protocols  # noqa: E402


def main(argv: list[str]) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--dataset', default='digits')
  parser.add_argument('--data_dir', default=None)
  parser.add_argument('--image_size', type=int, default=32)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--passes', type=int, default=3)
  args = parser.parse_args(argv)
  source = input_pipeline.load_source(args.dataset, args.data_dir)
  print('| eval split | kept | ' + ' | '.join(f'pass {i + 1}' for i in range(args.passes)) + ' |')
  print('|---|---:|' + '---:|' * args.passes)
  for budget in (0, 2**30):
    batches = protocols.EvalBatches(source, protocols.CENTER, args.batch_size, args.image_size,
                                    '', budget)
    seconds = []
    for _ in range(args.passes):
      start = time.perf_counter()
      for _ in batches:
        pass
      seconds.append(time.perf_counter() - start)
    print(f'| {args.dataset} ({source.eval.num_examples:,} images, '
          f'{batches.size_bytes / 2**20:.1f} MiB) | {"yes" if batches.kept_in_memory else "no"} | '
          + ' | '.join(f'{s:.3f} s' for s in seconds) + ' |', flush=True)


if __name__ == '__main__':
  main(sys.argv[1:])
