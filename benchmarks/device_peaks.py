"""Peak dense bfloat16 FLOP/s of the accelerators, for model FLOPs utilisation (MFU).

Framework-free, so that benchmark.py (JAX), torch_reference.py (PyTorch) and
compare_torch.py (neither) read the same numbers. MFU = achieved FLOP/s of the
model's own arithmetic (2 × multiply-adds × 3 per trained image: forward, and a
backward of twice the forward) over this peak, as in Chowdhery et al. 2022
(PaLM, Appendix B). Known for bfloat16 only: a float32 run's MFU is not reported.

BENCHMARK_DEVICE_KIND, when set, replaces the device's name here: the GPU suite's
CPU dry run sets it to a GPU's name so that every MFU code path runs (its numbers
are then meaningless, and its output says it was a dry run).
"""

import os

# From the vendors' data sheets (dense, without sparsity).
PEAK_BF16_FLOPS = {
    'H100': 989e12,
    'H200': 989e12,
    'A100': 312e12,
    'TPU v4': 275e12,
    'TPU v5e': 197e12,
    'TPU v5p': 459e12,
}


def device_kind(reported: str) -> str:
  """The device's name as the frameworks report it, or the dry run's stand-in."""
  return os.environ.get('BENCHMARK_DEVICE_KIND') or reported


def peak_bf16_flops(kind: str) -> float | None:
  """Peak of one device named `kind` (e.g. 'NVIDIA H200'), None when not known."""
  kind = device_kind(kind)
  return next((peak for name, peak in PEAK_BF16_FLOPS.items() if name in kind), None)


def mfu(train_images_per_sec: float, forward_flops_per_image: float, kind: str,
        devices: int = 1, half_precision: bool = True) -> float | None:
  """Model FLOPs utilisation of a training run; None where the peak is not known."""
  peak = peak_bf16_flops(kind)
  if peak is None or not half_precision:
    return None
  return train_images_per_sec * 3 * forward_flops_per_image / (peak * devices)
