"""NASNet-A: Zoph, Vasudevan, Shlens & Le 2018, "Learning transferable architectures
for scalable image recognition".

The cells were found by a controller on CIFAR-10 and stacked for ImageNet (Fig. 2):
a stem, then three stacks of N normal cells with a reduction cell between stacks.
Every cell takes the outputs of the two cells before it, h_i and h_{i-1}.

Cells (Fig. 4, the operations of Appendix A; `NORMAL_CELL`, `REDUCTION_CELL`): five
combinations, each adding two operations applied to two earlier hidden states, and the
concatenation of every hidden state no combination used. The normal cell keeps the grid
and gives 6·F channels (h_{i-1} and its five sums); the reduction cell applies its
operations on h_i and h_{i-1} with stride 2 and gives 4·F. Before the combinations h_i
goes through ReLU, 1×1 conv and BN to F channels, and h_{i-1} is brought to h_i's grid
and to F channels (ReLU, then the two half-width 1×1 convs of a "factorized reduction"
on two offset stride-2 grids, or a 1×1 conv where only the channels differ). A separable
operation is ReLU, a depthwise k×k and a pointwise 1×1 conv, BN, applied twice ("we
found it beneficial to apply the separable convolution twice", Appendix A.4). Pools use
TensorFlow's 'SAME' padding, and an average pool leaves the padding out of the mean.

"N @ P" (§4): N normal cells per stack, P filters in the penultimate layer. F
doubles at each reduction, so P = 6 · 4 · F of the first stack: 4 @ 1056 has F = 44 and
6 @ 4032 has F = 168. The ImageNet stem is a 3×3/2 valid convolution of 32 (mobile) or
96 (large) filters and BN, then two reduction cells at F/4 and F/2. The classifier is
ReLU, global pooling, dropout 0.5 and a linear layer. An auxiliary classifier (ReLU,
5×5/3 average pool, 1×1 conv 128 with BN and ReLU, a conv over the whole remaining grid
to 768 with BN and ReLU, linear) sits on the last normal cell of the second stack.

ScheduledDropPath (§4, Appendix A.5): in training every operation's output except an
identity is dropped for whole examples with a probability that rises linearly from 0 at
the start of training to its final value after `total_training_steps` (train.py passes
the run's length). As in the authors' released code, a cell's final probability is also
scaled by its depth: (cell index + 1) / (number of cells, stem cells included) times
`drop_path`. The network counts its training steps itself, in a 'batch_stats' variable
(updated and checkpointed like BatchNorm's statistics); at evaluation nothing is dropped.

What the paper leaves open follows the authors' released TF-slim network (which Keras's
NASNetMobile and NASNetLarge also reproduce): the hidden-state wiring and concatenation
order, the stem, and `skip_reduction_input`: in the large network the first normal cell
after a reduction takes as h_{i-1} the output two cells before the reduction cell's
input, where the mobile network takes the reduction cell's input itself. BatchNorm uses
TensorFlow's epsilon 1e-3.

Counts (1000 classes; convolutions without bias, each feeds a BN): nasnet_a_mobile at
224 px: 5,289,978 parameters without the auxiliary classifier (Table 3: 5.3 M; exactly
the trainable count of Keras's NASNetMobile), 7,701,218 with it, and 563.6 M
multiply-adds (Table 3: 564 M). nasnet_a_large at 331 px: 88,753,150 parameters without
the auxiliary classifier (Table 2: 88.9 M, 0.2 % apart; Keras's NASNetLarge: the same
88,753,150 trainable), 93,320,934 with it, and 23.8 G multiply-adds (Table 2: 23.8 G).
"""

from functools import partial
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from models import layers
from models.features import capturing_stages, stage
from models.registry import register

BN_EPSILON = 1e-3  # TensorFlow's, the framework of the paper

# Fig. 4 as data: five combinations, each a pair of (operation, input hidden state). Hidden
# state 0 is h_i (after its 1×1 conv), 1 is h_{i-1} (brought to h_i's shape), and 2 to 6
# are the combinations in order. The cell's output concatenates the states listed last.
NORMAL_CELL = (
    (('separable_5x5', 0), ('separable_3x3', 1)),
    (('separable_5x5', 1), ('separable_3x3', 1)),
    (('avg_pool_3x3', 0), ('identity', 1)),
    (('avg_pool_3x3', 1), ('avg_pool_3x3', 1)),
    (('separable_3x3', 0), ('identity', 0)),
)
NORMAL_OUTPUT = (1, 2, 3, 4, 5, 6)
REDUCTION_CELL = (
    (('separable_5x5', 0), ('separable_7x7', 1)),
    (('max_pool_3x3', 0), ('separable_7x7', 1)),
    (('avg_pool_3x3', 0), ('separable_5x5', 1)),
    (('identity', 3), ('avg_pool_3x3', 2)),
    (('separable_3x3', 2), ('max_pool_3x3', 0)),
)
REDUCTION_OUTPUT = (3, 4, 5, 6)


def conv_bn(filters: int, kernel_size: Any = 1, strides: int = 1, padding: Any = 'SAME', *,
            name: str, **common):
  """Conv (no bias, He fan-out initialisation as the released code) then BN, no activation;
  `common`: train, dtype and param_dtype."""
  return layers.ConvNormActivation(filters, kernel_size, strides, padding=padding,
                                   bn_epsilon=BN_EPSILON, activation=None, **common, name=name)


class SeparableStack(nn.Module):
  """ReLU, depthwise k×k (the stride), pointwise 1×1 to `filters`, BN — twice (Appendix A.4)."""

  filters: int
  kernel_size: int
  strides: int = 1
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = layers.conv_before_norm(self, padding='SAME')
    norm = layers.batch_norm(self.train, self.dtype, self.param_dtype, epsilon=BN_EPSILON)
    for index, strides in enumerate((self.strides, 1)):
      x = nn.relu(x)
      x = conv(x.shape[-1], (self.kernel_size, self.kernel_size), strides=strides,
               feature_group_count=x.shape[-1], name=f'depthwise_{index}')(x)
      x = conv(self.filters, (1, 1), name=f'pointwise_{index}')(x)
      x = norm(name=f'bn_{index}')(x)
    return x


class FactorizedReduction(nn.Module):
  """Halves the grid without dropping positions: two 1×1 convs of filters/2, one on the even
  positions and one on the grid shifted by one pixel, concatenated, then BN."""

  filters: int
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    conv = partial(layers.conv_before_norm(self), self.filters // 2, (1, 1))
    even = x[:, ::2, ::2]
    # Shifted by one pixel down and right; a grid of odd side gets a row and column of zeros.
    shifted = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))[:, 1::2, 1::2][:, :even.shape[1],
                                                                            :even.shape[2]]
    x = jnp.concatenate([conv(name='path_1')(even), conv(name='path_2')(shifted)], axis=-1)
    return layers.batch_norm(self.train, self.dtype, self.param_dtype,
                             epsilon=BN_EPSILON)(name='bn')(x)


def scheduled_drop_path(x, probability, uniform):
  """Drops an operation's output for whole examples with `probability` (the final one ×
  the training progress); survivors are scaled by 1/(keep probability). `uniform`: one
  uniform [0, 1) number per example."""
  keep = 1.0 - probability
  mask = (uniform < keep)[:, None, None, None]
  return jnp.where(mask, x / keep.astype(x.dtype), 0).astype(x.dtype)


class Cell(nn.Module):
  """A normal or reduction cell of Fig. 4 (see the module docstring) with F = `filters`."""

  filters: int
  reduction: bool
  drop_path: float = 0.0  # this cell's final ScheduledDropPath probability
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def common(self) -> dict:
    return dict(train=self.train, dtype=self.dtype, param_dtype=self.param_dtype)

  def operation(self, name: str, x, strides: int, layer_name: str):
    """One operation of the cell, named by the released code's vocabulary."""
    common = self.common()
    if name.startswith('separable'):
      return SeparableStack(self.filters, int(name[-1]), strides, **common, name=layer_name)(x)
    if name == 'avg_pool_3x3':
      return layers.AvgPool(3, strides, 'SAME', count_include_pad=False, name=layer_name)(x)
    if name == 'max_pool_3x3':
      return layers.MaxPool(3, strides, 'SAME', name=layer_name)(x)
    assert name == 'identity' and strides == 1 and x.shape[-1] == self.filters, name
    return x

  @nn.compact
  def __call__(self, current, previous, progress, uniform=None):
    """`progress` of training in [0, 1] and, in training with drop-path, `uniform` noise
    (10 operations × examples) decide which operations ScheduledDropPath drops."""
    # h_{i-1}: the cell input itself where there is none before it (the first stem cell),
    # else brought to h_i's grid and F channels.
    if previous is None:
      previous = current
    elif previous.shape[1] != current.shape[1]:
      previous = FactorizedReduction(self.filters, self.train, self.dtype, self.param_dtype,
                                     name='previous_reduction')(nn.relu(previous))
    elif previous.shape[-1] != self.filters:
      previous = conv_bn(self.filters, name='previous_1x1', **self.common())(nn.relu(previous))
    current = conv_bn(self.filters, name='input_1x1', **self.common())(nn.relu(current))
    states = [current, previous]

    combinations, output = ((REDUCTION_CELL, REDUCTION_OUTPUT) if self.reduction
                            else (NORMAL_CELL, NORMAL_OUTPUT))
    for index, pair in enumerate(combinations):
      total = 0
      for side, (name, source) in enumerate(pair):
        # Only operations on the cell's inputs stride; later states are already reduced.
        strides = 2 if self.reduction and source < 2 else 1
        y = self.operation(name, states[source], strides,
                           f'combination_{index}_{("left", "right")[side]}')
        if name != 'identity' and uniform is not None and self.drop_path > 0:
          y = scheduled_drop_path(y, self.drop_path * progress, uniform[2 * index + side])
        total = total + y
      states.append(total)
    return jnp.concatenate([states[index] for index in output], axis=-1)


class AuxiliaryClassifier(nn.Module):
  """ReLU, 5×5/3 average pool, 1×1 conv 128 + BN + ReLU, conv over the whole grid to 768
  + BN + ReLU, linear (the released code's auxiliary head)."""

  num_classes: int
  train: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    common = dict(train=self.train, dtype=self.dtype, param_dtype=self.param_dtype)
    x = layers.AvgPool(5, 3, name='pool')(nn.relu(x))
    x = nn.relu(conv_bn(128, name='projection', **common)(x))
    x = nn.relu(conv_bn(768, x.shape[1:3], 1, 'VALID', name='conv', **common)(x))
    x = x.reshape((x.shape[0], -1))
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name='classifier')(x)


class NASNetA(nn.Module):
  """NASNet-A "N @ P" for ImageNet (see the module docstring): `cells_per_stack` = N,
  `filters` = F of the first stack (P = 24·F)."""

  cells_per_stack: int = 4
  filters: int = 44
  stem_filters: int = 32
  skip_reduction_input: bool = False
  drop_path: float = 0.0  # ScheduledDropPath's final probability at the last cell
  total_training_steps: int = 0  # steps over which drop_path rises; 0: at full from the start
  dropout_rate: float = 0.5
  num_classes: int = 1000
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    if not 0.0 <= self.drop_path < 1.0:
      raise ValueError(f'drop_path is a probability in [0, 1); got {self.drop_path}')
    common = dict(train=train, dtype=self.dtype, param_dtype=self.param_dtype)
    # ScheduledDropPath's clock: the number of training steps taken so far.
    step = self.variable('batch_stats', 'drop_path_step', lambda: jnp.zeros((), jnp.float32))
    progress = jnp.float32(1.0)
    if self.total_training_steps > 0:
      progress = jnp.minimum(1.0, step.value / self.total_training_steps)
    if train and not self.is_initializing():
      step.value = step.value + 1

    num_cells = 2 + 3 * self.cells_per_stack + 2  # stem, normal and reduction cells
    # One draw of noise for every operation of every cell: a random-number op per
    # operation made the CPU compilation of the training step 50 s longer.
    uniform = None
    if train and self.drop_path > 0:
      uniform = jax.random.uniform(self.make_rng('dropout'), (num_cells, 10, x.shape[0]))
    cell_index = iter(range(num_cells))

    def cell(filters, reduction, name):
      index = next(cell_index)
      drop = self.drop_path * (index + 1) / num_cells
      built = Cell(filters, reduction, drop, **common, name=name)
      return lambda current, previous: built(current, previous, progress,
                                             None if uniform is None else uniform[index])

    x = x.astype(self.dtype)
    x = conv_bn(self.stem_filters, 3, 2, 'VALID', name='stem_conv', **common)(x)
    x = stage(x, 'stem_conv', 2)
    outputs = [None, x]  # every cell's output, the stem convolution's first
    for index, filters in enumerate((self.filters // 4, self.filters // 2)):
      outputs.append(cell(filters, True, f'stem_cell_{index}')(outputs[-1], outputs[-2]))
      if index == 0:  # timm's stages: cells' outputs after the ReLU the next cell applies
        stage(nn.relu(outputs[-1]), 'stem_cell_0', 4)
    aux_logits = None
    filters = self.filters
    for stack in range(3):
      if stack > 0:
        filters *= 2
        before_reduction = outputs[-2]
        outputs.append(cell(filters, True, f'reduction_cell_{stack - 1}')(
            outputs[-1], outputs[-2]))
      for index in range(self.cells_per_stack):
        previous = outputs[-2]
        if index == 0 and stack > 0 and self.skip_reduction_input:
          previous = before_reduction
        outputs.append(cell(filters, False, f'cell_{stack * self.cells_per_stack + index}')(
            outputs[-1], previous))
      last_cell = f'cell_{(stack + 1) * self.cells_per_stack - 1}'
      if stack < 2:
        stage(nn.relu(outputs[-1]), last_cell, 8 * 2**stack)
      if stack == 1 and (train or self.is_initializing()) and not capturing_stages():
        aux_logits = AuxiliaryClassifier(self.num_classes, **common, name='aux')(outputs[-1])

    x = layers.GlobalAvgPool(name='avg_pool')(stage(nn.relu(outputs[-1]), last_cell, 32))
    x = nn.Dropout(self.dropout_rate, deterministic=not train, name='dropout')(x)
    logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                      name='classifier')(x)
    if train:
      return logits, aux_logits
    return logits


register('nasnet_a_mobile', NASNetA, input_size=224, num_classes=1000, test_input_size=72,
         paper_parameters='5.3', paper_top1=74.0,
         paper_top1_source='Zoph et al. 2018, Table 3 (224 px, a single model)')
register('nasnet_a_large', partial(NASNetA, cells_per_stack=6, filters=168, stem_filters=96,
                                   skip_reduction_input=True, drop_path=0.3),
         input_size=331, num_classes=1000, test_input_size=72, paper_parameters='88.9',
         paper_top1=82.7, paper_top1_source='Zoph et al. 2018, Table 2 (331 px, a single model)')
