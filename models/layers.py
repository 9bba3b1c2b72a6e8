"""Building blocks shared by several families."""

import functools
import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# He et al. 2015 ("Delving deep into rectifiers") initialisation, used by ResNet
# and most networks after it: variance 2/fan_out keeps activations' scale in ReLU nets.
he_normal = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')


class BatchNorm(nn.Module):
  """Batch normalisation, Ioffe & Szegedy 2015, Algorithm 1 in training and Algorithm 2's
  running statistics for inference.

  Training normalises with the batch's mean and biased variance (÷n, n the positions of a
  channel: examples × height × width on this device) and moves the running mean and
  variance towards them by 1 − `momentum`; the running variance takes the unbiased
  batch variance (÷(n − 1)), as Algorithm 2 step 10 (Var[x] = m/(m − 1) E_B[σ²_B]),
  PyTorch and TensorFlow's fused BatchNorm do. flax.linen.BatchNorm keeps the biased
  one: after one step of torch-converted networks at n = 4 the running variances were
  8e-2 to 2e-1 off torch's, against 3e-13 now (tests/training/test_step_parity.py).
  A single position per channel (n = 1) has no unbiased variance (PyTorch refuses it);
  its biased variance, 0, is kept.

  The statistics are computed in float32 at least (under bfloat16 activations too), in
  two passes: the mean, then the mean squared deviation from it. flax's one pass,
  E[x²] − E[x]², loses the variance of a channel whose mean is large next to its
  spread: on the float32 BatchNorm inputs of resnet18, densenet121 and mobilenet_v2
  (seeded weights, 64 px) the variance's error was 2e-7 of var + ε in two passes, 3e-6
  in one (3e-3 on synthetic data of mean/std 100), for about 7 % more time in a
  BatchNorm's forward and backward pass on CPU. In float64 both take torch's steps to
  rounding (~1e-13).

  Variables, their collections and the class name (so the automatic module names
  BatchNorm_N) are flax's: checkpoints and converted weights load unchanged, and
  inference computes what flax.linen.BatchNorm did, operation for operation.
  """

  use_running_average: bool | None = None
  momentum: float = 0.9  # the running averages keep 0.9 of themselves per step
  epsilon: float = 1e-5
  dtype: Any = None  # of the output; None: that of the input and parameters
  param_dtype: Any = jnp.float32
  use_bias: bool = True
  use_scale: bool = True
  bias_init: Callable = nn.initializers.zeros
  scale_init: Callable = nn.initializers.ones

  @nn.compact
  def __call__(self, x, use_running_average: bool | None = None):
    use_running_average = nn.merge_param('use_running_average', self.use_running_average,
                                         use_running_average)
    axes = tuple(range(x.ndim - 1))  # every axis but the channels' (NHWC)
    features = (x.shape[-1],)
    # float32 at least (float64 stays float64), whatever the activations' dtype.
    stats_dtype = jnp.promote_types(self.param_dtype, jnp.float32)
    running_mean = self.variable('batch_stats', 'mean',
                                 lambda: jnp.zeros(features, stats_dtype))
    running_var = self.variable('batch_stats', 'var', lambda: jnp.ones(features, stats_dtype))
    if use_running_average:
      mean, var = running_mean.value, running_var.value
    else:
      mean, var = batch_statistics(x, axes, self.dtype)
      if not self.is_initializing():
        count = math.prod(x.shape[axis] for axis in axes)
        unbiased_var = var * (count / max(count - 1, 1))
        running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
        running_var.value = (self.momentum * running_var.value
                             + (1 - self.momentum) * unbiased_var)
    # The arithmetic of flax's _normalize, step for step: inference gives its outputs.
    y = x - mean
    multiplier = jax.lax.rsqrt(var + self.epsilon)
    arrays = [x]
    if self.use_scale:
      scale = self.param('scale', self.scale_init, features, self.param_dtype)
      multiplier = multiplier * scale
      arrays.append(scale)
    y = y * multiplier
    if self.use_bias:
      bias = self.param('bias', self.bias_init, features, self.param_dtype)
      y = y + bias
      arrays.append(bias)
    return jnp.asarray(y, self.dtype if self.dtype is not None else jnp.result_type(*arrays))


def batch_statistics(x, axes: tuple[int, ...], dtype=None):
  """The mean and biased variance (÷n) of `x` over `axes`, computed in float32 at least
  (`dtype` or x's, promoted), in two passes."""
  x = x.astype(jnp.promote_types(dtype if dtype is not None else x.dtype, jnp.float32))
  mean = x.mean(axes)
  var = jnp.square(x - jnp.expand_dims(mean, axes)).mean(axes)
  return mean, var


def batch_norm(train: bool, dtype=jnp.float32, param_dtype=jnp.float32, **kwargs):
  """BatchNorm (Ioffe & Szegedy 2015) with the constants of the ResNet papers.

  Statistics are computed over the examples on one device, as in Goyal et al.
  2017 (§5.1, per-worker BN); train.py averages the running statistics over
  devices once per step instead of all-reducing inside every layer.
  """
  settings = dict(momentum=0.9, epsilon=1e-5)
  settings.update(kwargs)  # e.g. epsilon=1e-3 where the paper's framework used it
  return functools.partial(BatchNorm, use_running_average=not train, dtype=dtype,
                           param_dtype=param_dtype, **settings)


# Pooling as modules (not bare functions) so that `models.summary` sees each pool
# as a layer of the lecture tables: POOL1 27×27×96, 0 parameters.


class MaxPool(nn.Module):
  """Max pooling over `window`×`window` with `strides` (a layer of the summary table)."""

  window: int
  strides: int
  padding: Any = 'VALID'

  @nn.compact
  def __call__(self, x):
    return nn.max_pool(x, (self.window, self.window), strides=(self.strides, self.strides),
                       padding=self.padding)


class AvgPool(nn.Module):
  """Average pooling over `window`×`window` with `strides`; `count_include_pad`
  chooses whether zero padding counts in the mean (it does in Caffe)."""

  window: int
  strides: int
  padding: Any = 'VALID'
  count_include_pad: bool = True

  @nn.compact
  def __call__(self, x):
    return nn.avg_pool(x, (self.window, self.window), strides=(self.strides, self.strides),
                       padding=self.padding, count_include_pad=self.count_include_pad)


class GlobalAvgPool(nn.Module):
  """Mean over the spatial dimensions: N×H×W×C -> N×C (Lin et al. 2014, "Network in Network")."""

  @nn.compact
  def __call__(self, x):
    return jnp.mean(x, axis=(1, 2))


class LocalResponseNorm(nn.Module):
  """Local response normalisation across channels, Krizhevsky et al. 2012 §3.3:

      b_c = a_c / (k + alpha * sum_{c' within n/2 of c} a_c'^2) ** beta

  with the paper's k=2, n=5, alpha=1e-4, beta=0.75. Note alpha multiplies the sum
  itself, as in the paper (Caffe and PyTorch divide alpha by n).
  """

  size: int = 5
  k: float = 2.0
  alpha: float = 1e-4
  beta: float = 0.75

  @nn.compact
  def __call__(self, x):
    squares = jnp.square(x.astype(jnp.float32))
    half = self.size // 2
    padded = jnp.pad(squares, [(0, 0)] * (x.ndim - 1) + [(half, self.size - 1 - half)])
    window_sum = sum(padded[..., i:i + x.shape[-1]] for i in range(self.size))
    return (x / (self.k + self.alpha * window_sum) ** self.beta).astype(x.dtype)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         precision=None, preferred_element_type=None):
  """lax.conv_general_dilated, computed as patches × kernel on XLA's CPU backend where the
  feature maps are smaller than the kernel.

  XLA swaps a convolution's operands when its input has fewer positions than its kernel
  (a 3×3 convolution over ResNet-50's 2×2 last stage at 64 px, or the gradient of one
  that produced a 2×2 output); the swapped form has a reversed window, which the CPU
  backend cannot give to its fast convolution library and runs in a plain loop, at
  about 1 G multiply-adds/s: five such convolutions took half of ResNet-50's train step
  at 64 px (BENCHMARKS.md). The same sum as a gather of the kh×kw shifted windows and one
  matrix product is a dot, which the CPU runs at full speed; its gradients are dots and
  slices too. Elsewhere, and on other backends, this is lax.conv_general_dilated.
  """
  kh, kw = rhs.shape[:2]
  nhwc = dimension_numbers is None or (
      tuple(dimension_numbers.lhs_spec) == (0, 3, 1, 2)
      and tuple(dimension_numbers.rhs_spec) == (3, 2, 0, 1)
      and tuple(dimension_numbers.out_spec) == (0, 3, 1, 2))
  plain = (feature_group_count == 1 and lhs.ndim == 4 and nhwc
           and all(d in (None, 1) for d in tuple(lhs_dilation or ()) + tuple(rhs_dilation or ())))
  if plain and jax.default_backend() == 'cpu':
    height, width = lhs.shape[1:3]
    pads = (jax.lax.padtype_to_pads((height, width), (kh, kw), window_strides, padding)
            if isinstance(padding, str) else [tuple(p) for p in padding])
    out_height = (height + sum(pads[0]) - kh) // window_strides[0] + 1
    out_width = (width + sum(pads[1]) - kw) // window_strides[1] + 1
    if out_height > 0 and out_width > 0 and min(height * width, out_height * out_width) < kh * kw:
      padded = jnp.pad(lhs, ((0, 0), pads[0], pads[1], (0, 0)))
      sh, sw = window_strides
      # lax.slice, not indexing: with a symbolic batch (export) indexing becomes a gather,
      # which TFLite's converter cannot hold.
      windows = [jax.lax.slice(padded, (0, i, j, 0),
                               (padded.shape[0], i + sh * (out_height - 1) + 1,
                                j + sw * (out_width - 1) + 1, padded.shape[3]), (1, sh, sw, 1))
                 for i in range(kh) for j in range(kw)]
      patches = jnp.concatenate(windows, axis=-1)  # (i, j, c): the kernel's HWI order
      return jax.lax.dot_general(patches, rhs.reshape(kh * kw * rhs.shape[2], rhs.shape[3]),
                                 (((3,), (0,)), ((), ())), precision=precision,
                                 preferred_element_type=preferred_element_type)
  return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                      rhs_dilation, dimension_numbers, feature_group_count,
                                      precision=precision,
                                      preferred_element_type=preferred_element_type)


def conv_before_norm(module: nn.Module, **kwargs):
  """nn.Conv without a bias (the BatchNorm after it has an offset), He initialisation and
  `module`'s dtypes: the convolution of every residual and dense block."""
  return functools.partial(nn.Conv, use_bias=False, kernel_init=he_normal, dtype=module.dtype,
                           param_dtype=module.param_dtype,
                           conv_general_dilated=conv_general_dilated, **kwargs)


class ConvNormActivation(nn.Module):
  """A convolution, BatchNorm, then an activation: the unit of the Inception networks
  (Szegedy et al. 2015, 2016, 2017), the MobileNets (Howard et al. 2017, Sandler et al.
  2018, Howard et al. 2019) and FractalNet (Larsson et al. 2017, §4).

  Without BatchNorm (GoogLeNet predates it) the convolution has a bias; with it, none:
  the BN offset plays that role. `activation` None leaves the unit linear (MobileNet
  v2's linear bottleneck). `depthwise` gives one filter per input channel
  (feature_group_count = channels, MobileNet). `dropout_rate` drops activations after
  the unit in training (FractalNet's per-block dropout).

  `conv_name` and `norm_name` are the layers' names in the variable tree: 'conv' and
  'bn' by default (the Inceptions); None lets Flax call them Conv_0 and BatchNorm_0
  (the MobileNets and FractalNet). Checkpoints hold these names, so each family keeps
  its own.
  """

  filters: int
  kernel_size: int | Sequence[int] = 1  # an int k: k×k
  strides: int = 1
  padding: Any = 'SAME'
  depthwise: bool = False
  batch_norm: bool = True
  bn_epsilon: float = 1e-5  # the Inception and MobileNet v3 papers' TensorFlow used 1e-3
  activation: Callable | None = nn.relu
  dropout_rate: float = 0.0
  kernel_init: Callable = he_normal
  conv_name: str | None = 'conv'
  norm_name: str | None = 'bn'
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    kernel_size = self.kernel_size
    if isinstance(kernel_size, int):
      kernel_size = (kernel_size, kernel_size)
    x = nn.Conv(self.filters, tuple(kernel_size), strides=self.strides, padding=self.padding,
                feature_group_count=x.shape[-1] if self.depthwise else 1,
                use_bias=not self.batch_norm, kernel_init=self.kernel_init, dtype=self.dtype,
                param_dtype=self.param_dtype, name=self.conv_name,
                conv_general_dilated=conv_general_dilated)(x)
    if self.batch_norm:
      x = batch_norm(self.train, self.dtype, self.param_dtype,
                     epsilon=self.bn_epsilon)(name=self.norm_name)(x)
    if self.activation is not None:
      x = self.activation(x)
    if self.dropout_rate > 0:
      x = nn.Dropout(self.dropout_rate, deterministic=not self.train)(x)
    return x


class SqueezeExcitation(nn.Module):
  """Channel gates from globally pooled features: Hu et al. 2018, "Squeeze-and-excitation
  networks", Eqs. 2-4 and Fig. 3.

  Squeeze (global average pool to C numbers), excite (FC to `squeeze_channels` → ReLU →
  FC back to C → `gate`), and scale each channel of the input by its gate. The width of
  the squeeze is C / `reduction` (the paper's r = 16) unless `squeeze_channels` is given;
  MobileNet v3 (Howard et al. 2019, §5.3) gives a quarter of its expanded channels and
  gates with a hard sigmoid.
  """

  reduction: int = 16
  squeeze_channels: int | None = None
  gate: Callable = nn.sigmoid
  use_bias: bool = True  # biases are not in the paper's Eq. 5 count, but in its models
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    channels = x.shape[-1]
    dense = functools.partial(nn.Dense, use_bias=self.use_bias, dtype=self.dtype,
                              param_dtype=self.param_dtype)
    squeezed = GlobalAvgPool()(x)
    excited = nn.relu(dense(self.squeeze_channels or channels // self.reduction,
                            name='reduce')(squeezed))
    gates = self.gate(dense(channels, name='expand')(excited))
    return x * gates[:, None, None, :].astype(x.dtype)


class StochasticDepth(nn.Module):
  """Drops a residual branch for whole examples at random in training (Huang et al. 2016).

  The branch survives with probability `survival_probability`; survivors are scaled
  by 1/p in training so that evaluation uses the branch unscaled (the expectation
  the paper's test-time rescaling by p gives, moved to training time). At eval,
  and when p == 1, the branch passes through unchanged. Needs the 'dropout' RNG.
  """

  survival_probability: float = 1.0

  @nn.compact
  def __call__(self, branch, train: bool):
    if not train or self.survival_probability >= 1.0:
      return branch
    keep = jax.random.bernoulli(self.make_rng('dropout'), self.survival_probability,
                                (branch.shape[0],) + (1,) * (branch.ndim - 1))
    return jnp.where(keep, branch / self.survival_probability, 0).astype(branch.dtype)


def check_stochastic_depth(stochastic_depth: float, has_shortcuts: bool = True) -> None:
  """Rejects a survival probability p_L outside (0, 1], and stochastic depth (p_L < 1)
  on a network without shortcuts, where dropping a branch would cut the network."""
  if not 0.0 < stochastic_depth <= 1.0:
    raise ValueError(f'stochastic_depth is the last block\'s survival probability p_L, '
                     f'in (0, 1]; got {stochastic_depth}')
  if stochastic_depth < 1.0 and not has_shortcuts:
    raise ValueError('stochastic depth drops residual branches: it needs shortcuts')


def linear_survival_probabilities(num_blocks: int, last_probability: float) -> list[float]:
  """Survival of block l of L: 1 - l/L (1 - p_L), Huang et al. 2016 Eq. (4)."""
  return [1.0 - (index + 1) / num_blocks * (1.0 - last_probability)
          for index in range(num_blocks)]
