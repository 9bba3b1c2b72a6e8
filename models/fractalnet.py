"""FractalNet: Larsson, Maire & Shakhnarovich 2017, "FractalNet: ultra-deep neural
networks without residuals" (ICLR).

A fractal block of C columns follows the expansion rule (Eq. 1, Fig. 1):

    f_1(z) = conv(z),    f_{C+1}(z) = join(f_C(f_C(z)), conv(z)),

where conv is a 3×3 convolution, BatchNorm and ReLU, and join is the
element-wise mean of its inputs. Column c (1 = shallowest) holds 2^(c-1)
convolutions, so the longest path through a block has 2^(C-1) of them.
Adjacent joins are merged, as drawn in Fig. 1: every 2^(C-c)-th step of the
deepest column, the columns c..C that end there meet in one join (for C=3:
a join of 2 after step 2, a join of 3 after step 4), and its output feeds all
of them.

The CIFAR network of §4 stacks B=5 blocks with 64, 128, 256, 512, 512 channels,
each followed by 2×2 max pooling (32×32 -> 1×1), then a linear classifier.
`fractalnet20` is the paper's 20-layer network: C=3 columns, 4 convolutions on
the longest path of each block, 4·5 = 20 (with C=4 a block is 8 deep and the
network 40; `num_columns=4`). Here it has 33,724,618 parameters (33,698,880
convolution weights, 20,608 BatchNorm scales and offsets, the 5,130 of the
classifier) against the paper's "38.6 M" (Table 1), 12.6 % fewer. The paper
leaves what makes up the difference open; the plain reading of §4 (each
column's first convolution maps the block's input channels to its output
channels, no other layers) gives ours, as other public implementations find
too. Convolutions carry no bias (each feeds a BatchNorm). The classifier
reads the 1×1×512 map after the last pooling; it is written as global average
pooling, the same at 32×32, so that larger inputs still work.

Regularisation ("Regularization via drop-path" and §4):
  * drop-path, training only: per mini-batch, with probability
    `global_drop_fraction` (paper: 0.5) global drop-path keeps one column,
    drawn uniformly, in the whole network; otherwise local drop-path makes each
    join drop each of its inputs with probability `local_drop_probability`
    (paper: 0.15), keeping at least one (a random one when all would drop).
    The kept inputs are averaged. At evaluation every join is the plain mean.
    The random choices come from the 'dropout' RNG stream and act through
    masks, so a training step traces once under jax.jit.
  * dropout: one rate per block (paper: 0, 0.1, 0.2, 0.3, 0.4 in its dropout
    experiments; default off), after every conv-BN-ReLU unit of the block.
"""

from functools import partial
from typing import Any, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from models.features import stage
from models.layers import ConvNormActivation, GlobalAvgPool, MaxPool
from models.registry import register


# --- Joins and drop-path --------------------------------------------------------------------


def local_drop_path_mask(rng: jax.Array, num_inputs: int, drop_probability: float) -> jax.Array:
  """Which inputs of one join survive local drop-path: each is dropped independently
  with `drop_probability`; if all are, one drawn uniformly survives. Boolean, (num_inputs,)."""
  keep_rng, rescue_rng = jax.random.split(rng)
  keep = jax.random.bernoulli(keep_rng, 1.0 - drop_probability, (num_inputs,))
  rescue = jax.random.randint(rescue_rng, (), 0, num_inputs) == jnp.arange(num_inputs)
  return jnp.where(jnp.any(keep), keep, rescue)


def global_drop_path_mask(columns: Sequence[int], chosen_column: jax.Array) -> jax.Array:
  """Which inputs of a join fed by `columns` survive global drop-path: the chosen column's.

  A join that the chosen column does not reach lies off the selected path: its output
  never reaches the loss, and it keeps all inputs so that the BatchNorm layers after it
  see ordinary statistics (they are computed anyway, as the graph is fixed under jit).
  """
  on_path = jnp.asarray(columns) == chosen_column
  return jnp.where(jnp.any(on_path), on_path, True)


def mean_join(inputs: Sequence[jax.Array], keep: jax.Array | None = None) -> jax.Array:
  """The join layer: element-wise mean of the inputs that `keep` marks (all when None)."""
  stacked = jnp.stack(inputs)
  if keep is None:
    return jnp.mean(stacked, axis=0)
  weights = keep.astype(stacked.dtype)
  weights = weights / jnp.maximum(jnp.sum(weights), 1)  # a guard: masks always keep one
  return jnp.tensordot(weights, stacked, axes=1)


class DropPathChoice(NamedTuple):
  """The network-wide draw of one training step: global or local, and the global column."""

  is_global: jax.Array  # boolean scalar
  column: jax.Array  # int scalar in [0, num_columns)


def sample_drop_path(rng: jax.Array, num_columns: int, global_fraction: float) -> DropPathChoice:
  """Global drop-path with probability `global_fraction`, else local; a uniform column."""
  mode_rng, column_rng = jax.random.split(rng)
  return DropPathChoice(jax.random.bernoulli(mode_rng, global_fraction),
                        jax.random.randint(column_rng, (), 0, num_columns))


class Join(nn.Module):
  """A join of the columns `columns` (0 = shallowest), with drop-path in training.

  The keep mask is sown into the 'intermediates' collection (name 'keep') for inspection.
  """

  columns: Sequence[int]
  local_drop_probability: float = 0.15

  @nn.compact
  def __call__(self, inputs: Sequence[jax.Array], drop_path: DropPathChoice | None = None):
    if drop_path is None:  # evaluation, or drop-path switched off
      return mean_join(inputs)
    local = local_drop_path_mask(self.make_rng('dropout'), len(inputs),
                                 self.local_drop_probability)
    keep = jnp.where(drop_path.is_global, global_drop_path_mask(self.columns, drop_path.column),
                     local)
    self.sow('intermediates', 'keep', keep)
    return mean_join(inputs, keep)


# --- Network --------------------------------------------------------------------------------


def conv_unit(filters: int, **options) -> nn.Module:
  """3×3 convolution, BatchNorm, ReLU (§4), then dropout at the rate in `options`: the unit
  of every column. Its layers keep Flax's automatic names (Conv_0, BatchNorm_0)."""
  return ConvNormActivation(filters, 3, padding=1, conv_name=None, norm_name=None, **options)


class FractalBlock(nn.Module):
  """f_C of Eq. (1) with merged joins (see module docstring)."""

  filters: int
  num_columns: int = 3
  dropout_rate: float = 0.0
  local_drop_probability: float = 0.15
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, drop_path: DropPathChoice | None = None):
    conv = partial(conv_unit, self.filters, dropout_rate=self.dropout_rate, train=self.train,
                   dtype=self.dtype, param_dtype=self.param_dtype)
    depth = 2**(self.num_columns - 1)
    column_inputs = [x] * self.num_columns
    joins = 0
    for step in range(1, depth + 1):
      # Column c's convolutions each span depth / 2^c steps of the deepest column.
      arriving = [c for c in range(self.num_columns) if step % (depth >> c) == 0]
      outputs = [conv(name=f'column{c + 1}_conv{step // (depth >> c)}')(column_inputs[c])
                 for c in arriving]
      if len(outputs) == 1:
        merged = outputs[0]
      else:
        joins += 1
        merged = Join(tuple(arriving), self.local_drop_probability, name=f'join{joins}')(
            outputs, drop_path)
      for c in arriving:
        column_inputs[c] = merged
    return merged


class FractalNet(nn.Module):
  """The CIFAR FractalNet of §4 (see module docstring)."""

  num_columns: int = 3
  channels: Sequence[int] = (64, 128, 256, 512, 512)  # one block per entry
  dropout_rates: Sequence[float] | None = None  # per block; None: no dropout
  local_drop_probability: float = 0.15
  global_drop_fraction: float = 0.5
  num_classes: int = 10
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = x.astype(self.dtype)
    dropout_rates = self.dropout_rates or (0.0,) * len(self.channels)
    if len(dropout_rates) != len(self.channels):
      raise ValueError(f'dropout_rates has {len(dropout_rates)} rates for '
                       f'{len(self.channels)} blocks')
    drop_path = None
    if train and (self.local_drop_probability > 0 or self.global_drop_fraction > 0):
      drop_path = sample_drop_path(self.make_rng('dropout'), self.num_columns,
                                   self.global_drop_fraction)
      self.sow('intermediates', 'drop_path', drop_path)  # for inspection, like the joins' masks
    for index, (filters, rate) in enumerate(zip(self.channels, dropout_rates)):
      x = FractalBlock(filters, self.num_columns, rate, self.local_drop_probability, train,
                       self.dtype, self.param_dtype, name=f'block{index + 1}')(x, drop_path)
      # Stage maps: each block before its pool, and the last pool's output (as VGG's).
      x = MaxPool(2, 2, name=f'pool{index + 1}')(stage(x, f'block{index + 1}', 2**index))
    x = GlobalAvgPool()(stage(x, f'pool{len(self.channels)}', 2**len(self.channels)))
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='classifier')(x)


# The paper's "38.6 M" is 12.6 % more than the code's count (see the module docstring).
register('fractalnet20', partial(FractalNet, num_columns=3), input_size=32, num_classes=10,
         parameters=33_724_618)
