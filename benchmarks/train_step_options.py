r"""What the train step's options cost: Mixup/CutMix against none, and gradient
accumulation's compiled peak memory against its micro-batch count.

    python -m benchmarks.train_step_options                       # ResNet-50, 64 px, CPU
    python -m benchmarks.train_step_options --model=resnet18 --image_size=112 --batch_size=64

Each variant is train.py's own jitted train step (benchmark.CompiledSteps) on one
synthetic batch. Mixing: images per second with and without `mixup_alpha=0.2,
cutmix_alpha=1.0` (both drawn, half the batches each), timed in alternating rounds so
that drift in the machine's speed falls on both. Accumulation: XLA's memory analysis of
the compiled step (arguments, outputs and temporaries) for grad_accum_steps = 1, 2, 4, 8
of the same batch, with the micro-batches as a rolled loop (what accelerators run) and
unrolled (what CPUs run: XLA's CPU backend runs convolutions inside a loop body far
slower), and each form's speed.
"""

import sys

from absl import app, flags

import benchmark

# --model, --image_size, --batch_size and --steps are benchmark.py's flags (defaults here:
# resnet50, 64 px, batch 32, 5 steps per round).
flags.DEFINE_integer('rounds', 3, 'Alternating rounds of the mixing comparison.')
FLAGS = flags.FLAGS

MIXING = {'mixup_alpha': 0.2, 'cutmix_alpha': 1.0}


def images_per_second(compiled, steps: int) -> float:
  return compiled.batch['image'].shape[0] / benchmark.time_steps(compiled.train_once, steps)


def main(argv):
  del argv
  FLAGS.batch_size = FLAGS.batch_size or 32
  FLAGS.image_size = FLAGS.image_size or 64
  FLAGS.steps = FLAGS.steps if FLAGS['steps'].present else 5
  size = dict(batch_size=FLAGS.batch_size, image_size=FLAGS.image_size)
  plain = benchmark.CompiledSteps(FLAGS.model, **size)
  mixed = benchmark.CompiledSteps(FLAGS.model, **size, overrides=MIXING)
  speeds = {'none': [], 'mixup+cutmix': []}
  for _ in range(FLAGS.rounds):
    speeds['none'].append(images_per_second(plain, FLAGS.steps))
    speeds['mixup+cutmix'].append(images_per_second(mixed, FLAGS.steps))
  print(f'{FLAGS.model} at {FLAGS.image_size} px, batch {FLAGS.batch_size}, '
        f'{FLAGS.rounds} rounds of {FLAGS.steps} steps (best round):')
  best = {name: max(values) for name, values in speeds.items()}
  print('| mixing | train img/s | vs none |\n|---|---:|---:|')
  for name, value in best.items():
    print(f'| {name} | {value:,.1f} | {value / best["none"] - 1:+.1%} |')
  del plain, mixed

  print('\n| grad_accum_steps | micro-batch per device | loop | compiled memory MiB | '
        'train img/s |')
  print('|---:|---:|---|---:|---:|')
  devices = benchmark.jax.device_count()
  for accumulation in (1, 2, 4, 8):
    if (FLAGS.batch_size // devices) % accumulation:
      continue
    for unroll in ((False,) if accumulation == 1 else (False, True)):
      compiled = benchmark.CompiledSteps(FLAGS.model, **size,
                                         overrides={'grad_accum_steps': accumulation},
                                         unroll_accumulation=unroll)
      memory = benchmark.program_memory_bytes(compiled.compiled_train)
      speed = images_per_second(compiled, FLAGS.steps)
      shown = 'n/a' if memory is None else f'{memory / 2**20:,.1f}'
      loop = '—' if accumulation == 1 else ('unrolled' if unroll else 'rolled')
      print(f'| {accumulation} | {FLAGS.batch_size // devices // accumulation} | {loop} | '
            f'{shown} | {speed:,.1f} |')
      sys.stdout.flush()


if __name__ == '__main__':
  app.run(main)
