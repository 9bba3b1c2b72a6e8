"""A trained network as a value: `trained.load(folder)` and what it holds.

    import trained
    net = trained.load('/tmp/quickstart')          # a train.py run folder
    net = trained.load('/tmp/resnet50_tv')         # a `python -m trained.convert` folder
    net = trained.load('/tmp/run/checkpoints/4000')  # one checkpoint
    probabilities = net.predict(images)            # decoded images of any size
    for name, p in net.top_k(probabilities[0], 5): print(f'{p:.3f} {name}')

Every checkpoint records what using it needs (training/checkpoints.describe_run): the
network and its options (the run's config), the classes and their names, the input size
and channels, the normalisation it was trained with, and its evaluation preprocessing.
load() reads that, builds the registry network as the run built it, and restores only the
variables evaluation uses: the moving averages where the run kept them (`ema=False` for
the raw ones), replicated over every device; the optimiser state is not read. Nothing
here imports TensorFlow: `predict` applies the evaluation view with trained/eval_view.py.
"""

import dataclasses
import functools
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from configs import default
from trained import class_names as names_table
from trained import eval_view
from training import checkpoints, configuration, steps
from training.configuration import ConfigError
from training.workdir import WorkdirError


class LoadError(ValueError):
  """A folder that holds no usable network, with what to do."""


@dataclasses.dataclass(frozen=True)
class TrainedNetwork:
  """A registry network with its variables and everything needed to use it.

  `forward(x)` is the network alone (normalised float32 N×S×S×C in, logits out);
  `logits(batch)` takes the input pipeline's 0-255 pixels at the input size;
  `predict(images)` takes decoded images of any size and returns probabilities.
  """

  module: nn.Module
  variables: dict  # {'params': ..., 'batch_stats': ...}, replicated over the mesh
  model_name: str
  num_classes: int
  image_size: int  # the evaluation input size (eval_image_size where the recipe set one)
  channels: int
  mean: tuple[float, ...]  # per channel, on the 0-255 scale
  std: tuple[float, ...]
  eval_preprocess: str
  class_names: tuple[str, ...]  # readable: ImageNet's WordNet lemmas, else the dataset's
  checkpoint: str  # <checkpoints folder>/<step>
  ema: bool  # whether `variables` are the run's moving averages
  mesh: jax.sharding.Mesh = dataclasses.field(repr=False, default=None)

  @functools.cached_property
  def _apply(self):
    return jax.jit(lambda variables, x: steps.split_outputs(
        self.module.apply(variables, x, train=False))[0])

  def forward(self, x) -> jax.Array:
    """Logits of already normalised images (float32, N × S × S × C)."""
    return self._apply(self.variables, x)

  def logits(self, batch) -> np.ndarray:
    """Logits of a batch of the input pipeline's images (N × S × S × C, 0-255), normalised
    as in training; the batch is split over every device (padded to a multiple)."""
    batch = np.asarray(batch)
    expected = (self.image_size, self.image_size, self.channels)
    if batch.ndim != 4 or batch.shape[1:] != expected:
      raise ValueError(f'a batch of shape {batch.shape}: {self.model_name} takes N × '
                       f'{" × ".join(map(str, expected))} images (preprocess them first)')
    count, devices = len(batch), self.mesh.size
    padded = -(-max(count, 1) // devices) * devices
    if padded != count:
      batch = np.concatenate([batch, np.zeros((padded - count, *expected), batch.dtype)])
    sharded = jax.device_put(batch, jax.sharding.NamedSharding(
        self.mesh, jax.sharding.PartitionSpec(steps.BATCH_AXIS)))
    logits = self._apply(self.variables, steps.normalize_images(sharded, self.mean, self.std))
    return np.asarray(logits, np.float32)[:count]

  def preprocess(self, image) -> np.ndarray:
    """One decoded image (H×W or H×W×C, uint8 or 0-255) through the recorded evaluation
    preprocessing: the network's input, uint8."""
    return eval_view.apply(self.eval_preprocess, image, self.channels)

  def predict(self, images, batch_size: int = 64) -> np.ndarray:
    """Class probabilities (softmax) of decoded images of any size: a list of arrays, or
    one N × H × W (× C) array."""
    if isinstance(images, np.ndarray) and images.ndim in (2, 3) and len(images) and (
        images.ndim == 2 or images.shape[-1] not in (1, 2, 3, 4)):
      raise ValueError(f'an array of shape {images.shape}: pass a list of images or an '
                       'N × H × W × C batch')
    if isinstance(images, np.ndarray) and images.ndim == 3 and images.shape[-1] in (1, 3, 4):
      images = [images]  # one H × W × C image
    prepared = [self.preprocess(image) for image in images]
    outputs = [self.logits(np.stack(prepared[start:start + batch_size]))
               for start in range(0, len(prepared), batch_size)]
    logits = np.concatenate(outputs) if outputs else np.zeros((0, self.num_classes))
    return np.asarray(jax.nn.softmax(jnp.asarray(logits, jnp.float32), axis=-1))

  def top_k(self, probabilities, k: int = 5) -> list[tuple[str, float]]:
    """The k most probable classes of one image's probabilities, as (name, probability)."""
    probabilities = np.asarray(probabilities)
    order = np.argsort(-probabilities, kind='stable')[:k]
    return [(self.class_names[i], float(probabilities[i])) for i in order]

  def description(self) -> dict:
    """What using the network needs, as JSON: written beside exported networks."""
    return {'model': self.model_name, 'num_classes': self.num_classes,
            'image_size': self.image_size, 'channels': self.channels,
            'mean': list(self.mean), 'std': list(self.std),
            'eval_preprocess': self.eval_preprocess, 'input': 'normalised float32 NHWC: '
            '(pixel - mean) / std, pixels on the 0-255 scale after eval_preprocess',
            'class_names': list(self.class_names), 'checkpoint': self.checkpoint,
            'ema': self.ema}


def _recorded_config(info: dict, where: str):
  if 'config' not in info:
    raise LoadError(f'{where} does not record its config (written before checkpoints did): '
                    'evaluate it with evaluate.py --config=<its recipe>')
  try:  # the file may be damaged or crafted: the checks of a command line's config
    return configuration.recorded_config(info['config'], default.FIELDS)
  except (ConfigError, TypeError, KeyError, AttributeError) as error:
    raise LoadError(f'{where} carries a config that train.py refuses '
                    f'({" ".join(str(error).split())[:200]})') from None


def _eval_preprocess(info: dict, config, image_size: int, where: str) -> str:
  text = info.get('eval_preprocess') or config.eval_preprocess
  if text:
    return text
  if config.dataset == 'digits':  # the small-image default (input_pipeline)
    return f'resize({image_size})'
  raise LoadError(f'{where} does not record its evaluation preprocessing (written before '
                  'checkpoints did): pass load(..., eval_preprocess=\'resize_short(256)|'
                  'center_crop(224)\') or the view it was evaluated with')


def _class_names(info: dict, num_classes: int) -> tuple[str, ...]:
  recorded = info.get('class_names') or (info.get('pretrained') or {}).get('class_names')
  if isinstance(recorded, list) and len(recorded) == num_classes and all(
      isinstance(name, str) for name in recorded):
    return names_table.readable(recorded)
  if num_classes == names_table.IMAGENET_CLASSES and info.get('dataset', '').startswith(
      'imagenet'):
    return tuple(lemmas for _, lemmas in names_table.imagenet_classes())
  return tuple(f'class {i}' for i in range(num_classes))


def load(path: str, step: int | None = None, best: bool = False, ema: bool | None = None,
         eval_preprocess: str | None = None) -> TrainedNetwork:
  """The network of a run folder (its newest checkpoint, or `step`, or the `best` by eval
  accuracy), of a `python -m trained.convert` folder, or of one checkpoints/<step> folder.

  `ema`: None uses the moving averages where the run kept them; False the raw variables;
  True requires the averages. `eval_preprocess` overrides the recorded view.
  Raises LoadError with one line saying what to do.
  """
  try:
    directory, step = checkpoints.locate_checkpoint(path, step, best)
    manager = checkpoints.open_checkpoints(directory)
    if step not in manager.all_steps():
      raise LoadError(f'{directory} has no complete checkpoint of step {step}')
    where = f'the checkpoint {directory}/{step}'
    info = checkpoints.read_run_info_or_explain(manager, step)
    config = _recorded_config(info, where)
    kept = config.ema_decay > 0
    if ema and not kept:
      raise LoadError(f'{where} keeps no moving averages (its run had ema_decay=0): load it '
                      'with ema=None or False')
    use_ema = kept if ema is None else bool(ema)
    channels = info.get('channels')
    if channels is None or info.get('image_mean') is None:
      raise LoadError(f'{where} does not record its input channels and normalisation '
                      '(written before checkpoints did): evaluate it with evaluate.py')
    image_size = config.eval_image_size or info['image_size']
    module = steps.create_model(config, info['num_classes'])
    mesh = steps.create_mesh()
    restored = checkpoints.restore_eval_model(manager, step, module, image_size, channels,
                                              use_ema, mesh)
  except (WorkdirError, ConfigError) as error:  # DamagedCheckpointError is a WorkdirError
    raise LoadError(str(error)) from None
  view = eval_preprocess or _eval_preprocess(info, config, image_size, where)
  try:
    eval_view.parse(view)
  except eval_view.EvalViewError as error:
    raise LoadError(f'{where}: {error}') from None
  return TrainedNetwork(
      module=module, variables=restored.variables, model_name=info['model'],
      num_classes=info['num_classes'], image_size=image_size, channels=channels,
      mean=tuple(float(m) for m in info['image_mean']),
      std=tuple(float(s) for s in info['image_std']), eval_preprocess=view,
      class_names=_class_names(info, info['num_classes']),
      checkpoint=os.path.join(directory, str(step)), ema=use_ema, mesh=mesh)
