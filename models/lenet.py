"""LeNet-5: LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning
applied to document recognition", Fig. 2 and §II.B.

The layer sequence of the paper on a 32×32 input:

    C1  conv 6@5×5          -> 28×28×6       156 parameters
    S2  2×2 subsampling     -> 14×14×6        12
    C3  conv 16@5×5         -> 10×10×16    1,516 (sparse, Table I)
    S4  2×2 subsampling     ->  5×5×16        32
    C5  conv 120@5×5        ->  1×1×120   48,120
    F6  fully connected 84                10,164
    output 10 classes                          0 (fixed RBF centres)

`lenet5` is the form taught today: average pooling for subsampling, tanh
activations, every C3 map connected to all S2 maps, a linear output layer
(61,706 parameters on one input channel).

`lenet5_paper` is the network of §II.B, 60,000 trainable parameters and
340,908 connections (the paper's two figures; models.summary counts 325,680
multiply-adds, which leave out biases, subsampling and the RBF layer):
  * every layer's weighted sum goes through the squashing function
    f(a) = 1.7159 tanh(2a/3) (Eq. 6 and Appendix A);
  * S2 and S4 are trainable subsamplings: the mean of each 2×2 block (the paper
    adds the four inputs; the factor 1/4 is absorbed by the coefficient) times
    a trainable coefficient plus a trainable bias, one pair per map, then f;
  * C3 connects each of its 16 maps to a subset of the 6 S2 maps given by
    Table I: maps 0-5 see 3 contiguous S2 maps, 6-11 see 4 contiguous ones,
    12-14 see 4 non-contiguous ones and 15 sees all 6 (1,516 parameters
    instead of 2,416 with full connections);
  * the output layer has Euclidean RBF units (Eq. 7): y_i = sum_j (x_j - w_ij)^2,
    the squared distance between F6's 84 outputs and a fixed ±1 code vector of
    class i. The paper draws the codes as 7×12 bitmaps of the ASCII characters
    (Fig. 3); we take rows 1-10 of the 84×84 Hadamard matrix of Paley's
    construction (q = 83): ±1 vectors, half +1 and half -1, mutually orthogonal,
    so every two classes' codes differ in exactly 42 of 84 places, where the
    bitmaps are only "sufficiently different" (83 codes: up to 83 classes).
    The codes are a constant of the module, not a variable: they are not
    trained and train.py needs no extra collection.
    The network returns the negative distances -y_i as its logits, so that the
    most likely class is the closest code. Softmax cross-entropy on -y is the
    paper's discriminative criterion, Eq. (9), without its "rubbish class"
    term e^{-j}.

Initialisation: the paper draws weights uniformly in ±2.4/F_i (F_i the fan-in
of the unit, Appendix A) and trains with stochastic diagonal Levenberg-Marquardt;
with plain SGD we use variance 1/F_i ("LeCun normal", the recommendation of
LeCun et al. 1998b, "Efficient BackProp", for this squashing function). The
paper's input scaling (background -0.1, ink 1.175) belongs to the input
pipeline, not to the model.
"""

from functools import partial
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from models.features import stage
from models.layers import AvgPool, conv_general_dilated
from models.registry import register

# Table I of the paper: the S2 maps that each C3 map combines.
C3_CONNECTIONS = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def scaled_tanh(x):
  """The paper's squashing function f(a) = A tanh(S a), A = 1.7159, S = 2/3 (Appendix A):
  f(±1) = ±1, and the second derivative is largest there, where the RBF codes sit."""
  return 1.7159 * jnp.tanh(x * (2.0 / 3.0))


def paley_hadamard(q: int) -> np.ndarray:
  """The (q+1)×(q+1) Hadamard matrix of Paley's first construction, q a prime = 3 mod 4.

  With chi the quadratic character of GF(q) and Q_ij = chi(j - i) (skew-symmetric
  because chi(-1) = -1), S = [[0, 1^T], [-1, Q]] satisfies S S^T = q I, so
  H = I + S has H H^T = (q+1) I: its rows are orthogonal ±1 vectors.
  """
  residues = {(i * i) % q for i in range(1, q)}
  chi = np.array([0] + [1 if a in residues else -1 for a in range(1, q)])
  index = np.arange(q)
  q_matrix = chi[(index[None, :] - index[:, None]) % q]
  skew = np.zeros((q + 1, q + 1), dtype=np.int64)
  skew[0, 1:] = 1
  skew[1:, 0] = -1
  skew[1:, 1:] = q_matrix
  return np.eye(q + 1, dtype=np.int64) + skew


# One ±1 code of F6's 84 outputs per class (see the module docstring). Row 0 of H
# (all ones) is skipped: every other row is balanced and orthogonal to the rest.
RBF_CODES = paley_hadamard(83)[1:].astype(np.float32)


class LeNet5(nn.Module):
  """LeNet-5 with average-pool subsampling and tanh (see module docstring)."""

  num_classes: int = 10
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train  # No dropout or BatchNorm: the network behaves the same in both modes.
    conv = partial(nn.Conv, kernel_size=(5, 5), padding='VALID', dtype=self.dtype,
                   param_dtype=self.param_dtype, conv_general_dilated=conv_general_dilated)
    dense = partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype)
    x = stage(jnp.tanh(conv(6, name='c1')(x)), 'c1', 1)
    x = AvgPool(2, 2, name='s2')(x)
    x = stage(jnp.tanh(conv(16, name='c3')(x)), 'c3', 2)
    x = AvgPool(2, 2, name='s4')(x)
    x = stage(jnp.tanh(conv(120, name='c5')(x)), 'c5', 4)
    x = x.reshape((x.shape[0], -1))
    x = jnp.tanh(dense(84, name='f6')(x))
    return dense(self.num_classes, name='output')(x)


class TrainableSubsampling(nn.Module):
  """S2/S4 of the paper: mean of each 2×2 block × a coefficient + a bias, per map.

  One module (one row of models.summary, with the layer's 2 parameters per map),
  so the averaging is done here rather than by a separate layers.AvgPool.
  The squashing function is applied by the caller.
  """

  window: int = 2
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    maps = x.shape[-1]
    coefficient = self.param('coefficient', nn.initializers.ones, (maps,), self.param_dtype)
    bias = self.param('bias', nn.initializers.zeros, (maps,), self.param_dtype)
    x, coefficient, bias = nn.dtypes.promote_dtype(x, coefficient, bias, dtype=self.dtype)
    window = (self.window, self.window)
    return nn.avg_pool(x, window, strides=window) * coefficient + bias


class ConnectionTableConv(nn.Module):
  """A convolution whose output map j sees only the input maps connections[j] (Table I).

  The weights are stored packed, one 'kernel' column per connection
  (kernel_size × kernel_size × number of connections), so that the parameter
  count is the paper's; they are scattered into a dense HWIO kernel, zero where
  the table has no connection, for one ordinary convolution.
  """

  connections: Sequence[Sequence[int]]
  kernel_size: int = 5
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def _dense_kernel_index(self, in_maps: int) -> np.ndarray:
    """index[i, j]: the packed column of connection (input i, output j); the last column
    (a zero) where there is none."""
    num_connections = sum(len(inputs) for inputs in self.connections)
    index = np.full((in_maps, len(self.connections)), num_connections)
    column = 0
    for out_map, inputs in enumerate(self.connections):
      for in_map in inputs:
        index[in_map, out_map] = column
        column += 1
    return index

  @nn.compact
  def __call__(self, x):
    fan_in = np.array([self.kernel_size**2 * len(inputs)
                       for inputs in self.connections for _ in inputs])

    def lecun_normal_per_map(key, shape, dtype):
      # Variance 1/fan-in, where a unit's fan-in depends on how many maps it sees.
      return (jax.random.normal(key, shape, dtype) / np.sqrt(fan_in)).astype(dtype)

    kernel = self.param('kernel', lecun_normal_per_map,
                        (self.kernel_size, self.kernel_size, len(fan_in)), self.param_dtype)
    bias = self.param('bias', nn.initializers.zeros, (len(self.connections),),
                      self.param_dtype)
    x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
    padded = jnp.concatenate([kernel, jnp.zeros_like(kernel[..., :1])], axis=-1)
    dense_kernel = padded[..., self._dense_kernel_index(x.shape[-1])]
    y = jax.lax.conv_general_dilated(x, dense_kernel, window_strides=(1, 1), padding='VALID',
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    return y + bias


class EuclideanRBF(nn.Module):
  """The paper's output layer, Eq. (7): y_i = ||x - code_i||², with the fixed codes
  RBF_CODES[i] of the first `num_classes` classes (a constant, not a parameter).

  Returns -y (negative squared distances) as logits: train with softmax
  cross-entropy, predict the class of the nearest code.
  """

  num_classes: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    if self.num_classes > len(RBF_CODES):
      raise ValueError(f'there are {len(RBF_CODES)} RBF codes; '
                       f'num_classes={self.num_classes} is too many')
    # In float32 even under half precision: the distances reach hundreds, and their
    # differences of a fraction of one decide the class.
    codes = jnp.asarray(RBF_CODES[:self.num_classes])
    x = x.astype(jnp.float32)
    distances = jnp.sum(jnp.square(x[:, None, :] - codes[None, :, :]), axis=-1)
    return (-distances).astype(self.dtype)


class LeNet5Paper(nn.Module):
  """LeNet-5 as in §II.B of the paper (see module docstring); logits are -RBF distances."""

  num_classes: int = 10
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train  # No dropout or BatchNorm: the network behaves the same in both modes.
    x = x.astype(self.dtype)
    conv = partial(nn.Conv, kernel_size=(5, 5), padding='VALID', dtype=self.dtype,
                   param_dtype=self.param_dtype, conv_general_dilated=conv_general_dilated)
    subsample = partial(TrainableSubsampling, dtype=self.dtype, param_dtype=self.param_dtype)
    x = stage(scaled_tanh(conv(6, name='c1')(x)), 'c1', 1)
    x = scaled_tanh(subsample(name='s2')(x))
    x = stage(scaled_tanh(ConnectionTableConv(C3_CONNECTIONS, dtype=self.dtype,
                                              param_dtype=self.param_dtype, name='c3')(x)),
              'c3', 2)
    x = scaled_tanh(subsample(name='s4')(x))
    x = stage(scaled_tanh(conv(120, name='c5')(x)), 'c5', 4)
    x = x.reshape((x.shape[0], -1))
    x = scaled_tanh(nn.Dense(84, dtype=self.dtype, param_dtype=self.param_dtype, name='f6')(x))
    return EuclideanRBF(self.num_classes, dtype=self.dtype, name='output')(x)


register('lenet5', LeNet5, input_size=32, num_classes=10, channels=1, parameters=61_706)
register('lenet5_paper', LeNet5Paper, input_size=32, num_classes=10, channels=1,
         parameters=60_000)  # §II.B: "60,000 trainable parameters"
