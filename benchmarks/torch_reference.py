r"""The PyTorch counterpart of benchmark.py: torchvision models trained as PyTorch users do.

    python benchmarks/torch_reference.py --model=resnet50 --batch_size=256
    python benchmarks/torch_reference.py --model=googlenet --steps=50 --json
    python benchmarks/torch_reference.py --model=vgg16 --no_compile --precision=fp32

Times one training step (forward and loss under bfloat16 autocast, backward,
SGD with momentum) and one inference forward pass of a torchvision model on
synthetic data generated on the device, with the usual speed settings of the
PyTorch recipes: `torch.compile`, `channels_last` memory format and
`torch.backends.cudnn.benchmark`. The optimiser and loss are those of train.py
(SGD, momentum 0.9, weight decay 1e-4 on convolution and linear weights only,
softmax cross-entropy, auxiliary losses of GoogLeNet weighed 0.3), so that
`benchmarks/compare_torch.py` can set the two frameworks side by side.

With --json the last line is one JSON object with benchmark.py's keys plus
framework, torch_version, compiled, compile_mode and channels_last. Its mfu
counts torchvision's own network: the forward FLOPs of one image as PyTorch's
FlopCounterMode counts them (convolutions and matrix products), three times per
trained image, over the device's bfloat16 peak (benchmarks/device_peaks.py);
torchvision's GoogLeNet is not the paper's, so its FLOPs are its own.

It imports neither JAX nor anything of this repository but the framework-free
benchmarks/device_peaks.py, so it runs where only torch and torchvision are
installed, and never shares the GPU with JAX. Without a CUDA device it runs on
the CPU (bfloat16 autocast on the CPU, or --precision=fp32 as a CPU user would).
"""

import argparse
import json
import os
import sys
import time
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import device_peaks  # noqa: E402  (after the repository is on the path)

# Repository model name -> torchvision.models constructor, its arguments beyond
# num_classes and weights, and the paper's input side. GoogLeNet and Inception-v3
# keep their auxiliary classifiers, as the repository's networks do in training;
# init_weights=True asks for torchvision's own initialisation (None would warn and
# do the same). torchvision's GoogLeNet has BatchNorm and a 3×3 "5×5" branch: it is
# the repository's `googlenet_torchvision`, close to `googlenet_bn`, and not the
# paper's `googlenet`.
MODELS = {
    'resnet50': ('resnet50', {}, 224),
    'resnet18': ('resnet18', {}, 224),
    'vgg16': ('vgg16', {}, 224),
    'densenet121': ('densenet121', {}, 224),
    'mobilenet_v2': ('mobilenet_v2', {}, 224),
    'inception_v3': ('inception_v3', {'aux_logits': True, 'init_weights': True}, 299),
    'googlenet_bn': ('googlenet', {'aux_logits': True, 'init_weights': True}, 224),
    'googlenet': ('googlenet', {'aux_logits': True, 'init_weights': True}, 224),
}
NUM_CLASSES = 1000

# train.py's defaults (configs/default.py), so that both sides do the same update.
LEARNING_RATE = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
AUX_LOSS_WEIGHT = 0.3

COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune', 'max-autotune-no-cudagraphs')


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(
      description='Train and eval speed of a torchvision model on synthetic data.')
  parser.add_argument('--model', default='resnet50', help=', '.join(MODELS))
  parser.add_argument('--batch_size', type=int, default=256)
  parser.add_argument('--image_size', type=int, default=0,
                      help="Input side; 0: the model's paper input (299 for inception_v3, "
                      'else 224).')
  parser.add_argument('--steps', type=int, default=20, help='Timed steps, after the warm-up.')
  parser.add_argument('--warmup_steps', type=int, default=3,
                      help='Untimed steps first; the first one compiles.')
  parser.add_argument('--no_compile', action='store_true', help='Eager mode, no torch.compile.')
  parser.add_argument('--compile_mode', default='default', choices=COMPILE_MODES,
                      help="torch.compile's mode.")
  parser.add_argument('--no_channels_last', action='store_true',
                      help='Keep the NCHW (channels first) memory format.')
  parser.add_argument('--precision', default='bf16', choices=('bf16', 'fp32'),
                      help='bf16: bfloat16 autocast over float32 parameters, like '
                      'benchmark.py --half_precision.')
  parser.add_argument('--json', action='store_true', help='Print one JSON object.')
  return parser.parse_args(argv)


def fail(message: str) -> None:
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def import_torchvision():
  """torchvision, also where its wheel was built for another torch release.

  Then its compiled detection operators do not load ('operator torchvision::nms does
  not exist', raised while it registers their meta functions); the classification
  networks do not use them, so that registration is skipped.
  """
  try:
    import torchvision
  except RuntimeError as error:
    if 'torchvision::nms' not in str(error):
      raise
    for name in [name for name in sys.modules if name.startswith('torchvision')]:
      del sys.modules[name]
    sys.modules['torchvision._meta_registrations'] = types.ModuleType(
        'torchvision._meta_registrations')
    import torchvision
  return torchvision


def create_model(torchvision, name: str):
  constructor, options, _ = MODELS[name]
  return getattr(torchvision.models, constructor)(weights=None, num_classes=NUM_CLASSES,
                                                  **options)


def create_optimizer(torch, model):
  """SGD with momentum whose weight decay reaches only weights of more than one dimension.

  train.py decays convolution and dense kernels only (its weight_decay_mask,
  after Goyal et al. 2017, §5.1); torch's SGD would decay biases and BatchNorm
  scales too, so they go into a group of their own without decay. torch adds
  λ·w to the gradient before momentum, as optax.add_decayed_weights does.
  """
  decayed = [p for p in model.parameters() if p.ndim > 1]
  not_decayed = [p for p in model.parameters() if p.ndim <= 1]
  return torch.optim.SGD([{'params': decayed, 'weight_decay': WEIGHT_DECAY},
                          {'params': not_decayed, 'weight_decay': 0.0}],
                         lr=LEARNING_RATE, momentum=MOMENTUM)


def training_loss(functional, outputs, labels):
  """Cross-entropy of the logits plus 0.3 × that of each auxiliary classifier.

  torchvision's GoogLeNet returns a named tuple (logits, aux2, aux1) in
  training, Inception-v3 (logits, aux); the other networks return the logits. Under autocast
  cross_entropy runs in float32, as train.py computes its loss.
  """
  if isinstance(outputs, tuple):
    logits, *aux_logits = outputs
  else:
    logits, aux_logits = outputs, []
  loss = functional.cross_entropy(logits, labels)
  for aux in aux_logits:
    loss = loss + AUX_LOSS_WEIGHT * functional.cross_entropy(aux, labels)
  return loss


def forward_flops_per_image(torch, model, images) -> float:
  """FLOPs of one image through the network in evaluation mode, as PyTorch counts them."""
  from torch.utils.flop_counter import FlopCounterMode

  model.eval()
  counter = FlopCounterMode(display=False)
  with torch.no_grad(), counter:
    model(images[:1])
  return float(counter.get_total_flops())


def time_steps(step, warmup_steps: int, steps: int, synchronize) -> tuple[float, float]:
  """Seconds of the warm-up steps together, and seconds per timed step after them.

  CUDA kernels run asynchronously, so the clock is read only after
  `synchronize` has waited for all of them.
  """
  start = time.perf_counter()
  for _ in range(warmup_steps):
    step()
  synchronize()
  warmup_seconds = time.perf_counter() - start
  start = time.perf_counter()
  for _ in range(steps):
    step()
  synchronize()
  return warmup_seconds, (time.perf_counter() - start) / steps


def benchmark(torch, torchvision, args: argparse.Namespace) -> dict:
  """Speed of the train and eval steps of torchvision's args.model."""
  functional = torch.nn.functional
  device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
  on_cuda = device.type == 'cuda'
  # cuDNN tries its convolution algorithms on the first call of each shape and
  # keeps the fastest, as XLA's autotuner does at compile time.
  torch.backends.cudnn.benchmark = True
  if args.precision == 'fp32':
    # XLA lets float32 convolutions and matmuls use TF32 on GPUs that have it;
    # torch does so for cuDNN convolutions but not for matmuls unless asked.
    torch.set_float32_matmul_precision('high')
  memory_format = torch.contiguous_format if args.no_channels_last else torch.channels_last

  torch.manual_seed(0)
  model = create_model(torchvision, args.model).to(device, memory_format=memory_format)
  optimizer = create_optimizer(torch, model)
  # One batch, made on the device once (as benchmark.py's synthetic_batch), so
  # no host-to-device copy or input pipeline is timed.
  images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
  images = images.contiguous(memory_format=memory_format)
  labels = torch.randint(0, NUM_CLASSES, (args.batch_size,), device=device)

  forward_flops = forward_flops_per_image(torch, model, images)

  # The compiled module shares the parameters of `model`; eval mode changes a
  # flag that torch.compile guards on, so evaluation recompiles once, in its
  # own warm-up.
  network = model if args.no_compile else torch.compile(model, mode=args.compile_mode)

  def autocast():
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == 'bf16')

  def train_step():
    optimizer.zero_grad(set_to_none=True)
    with autocast():
      loss = training_loss(functional, network(images), labels)
    loss.backward()
    optimizer.step()
    return loss

  def eval_step():
    with torch.no_grad(), autocast():
      return network(images)

  synchronize = torch.cuda.synchronize if on_cuda else lambda: None
  model.train()
  train_warmup, train_seconds = time_steps(train_step, args.warmup_steps, args.steps, synchronize)
  model.eval()
  eval_warmup, eval_seconds = time_steps(eval_step, args.warmup_steps, args.steps, synchronize)
  device_kind = device_peaks.device_kind(torch.cuda.get_device_name(device) if on_cuda
                                         else 'cpu')
  train_images_per_sec = args.batch_size / train_seconds
  return {
      'model': args.model,
      'batch_size': args.batch_size,
      'image_size': args.image_size,
      'half_precision': args.precision == 'bf16',
      'devices': 1,
      'device_kind': device_kind,
      'train_images_per_sec': train_images_per_sec,
      'eval_images_per_sec': args.batch_size / eval_seconds,
      # Unlike benchmark.py's (ahead-of-time compilation alone), this is the
      # wall time of all warm-up steps: torch compiles lazily, inside the first call.
      'compile_seconds': train_warmup + eval_warmup,
      'forward_flops_per_image': forward_flops,
      'mfu': device_peaks.mfu(train_images_per_sec, forward_flops, device_kind,
                              half_precision=args.precision == 'bf16'),
      'peak_memory_bytes': torch.cuda.max_memory_allocated(device) if on_cuda else None,
      'framework': 'torch',
      'torch_version': torch.__version__,
      'compiled': not args.no_compile,
      'compile_mode': None if args.no_compile else args.compile_mode,
      'channels_last': not args.no_channels_last,
  }


def readable_line(result: dict) -> str:
  memory = (f'{result["peak_memory_bytes"] / 2**30:.1f} GiB'
            if result['peak_memory_bytes'] is not None else 'n/a')
  settings = ', '.join(
      ['torch.compile' if result['compiled'] else 'eager',
       'channels_last' if result['channels_last'] else 'NCHW',
       'bf16 autocast' if result['half_precision'] else 'fp32'])
  return (f'{result["model"]} batch {result["batch_size"]} at {result["image_size"]}: '
          f'train {result["train_images_per_sec"]:,.1f} img/s, '
          f'eval {result["eval_images_per_sec"]:,.1f} img/s, '
          f'warm-up {result["compile_seconds"]:.1f} s, peak memory {memory} '
          f'({result["device_kind"]}, torch {result["torch_version"]}, {settings})')


def main(argv: list[str]) -> None:
  args = parse_args(argv)
  if args.model not in MODELS:
    fail(f'unknown model {args.model!r}: supported are {", ".join(MODELS)}')
  for flag in ('batch_size', 'steps'):
    if getattr(args, flag) < 1:
      fail(f'--{flag} must be at least 1')
  if args.image_size < 0:
    fail('--image_size must be 0 (the paper input) or a side in pixels')
  args.image_size = args.image_size or MODELS[args.model][2]
  if args.warmup_steps < 0:
    fail('--warmup_steps must be zero or more')
  try:
    import torch
    torchvision = import_torchvision()
  except ImportError as error:
    fail(f'{error}: pip install torch torchvision')
  try:
    result = benchmark(torch, torchvision, args)
  except torch.cuda.OutOfMemoryError as error:
    # One line, for compare_torch.py's table; torch's message spans several.
    message = ' '.join(str(error).split())
    print(f'error: out of memory at batch {args.batch_size}: {message[:200]}', file=sys.stderr)
    sys.exit(1)
  print(json.dumps(result) if args.json else readable_line(result), flush=True)


if __name__ == '__main__':
  main(sys.argv[1:])
