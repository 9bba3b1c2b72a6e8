"""Plain helpers the tests share (fixtures live in conftest.py)."""

import glob
import importlib.util
import os
import subprocess
import sys

from tools import sample_ilsvrc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART = '--config=configs/quickstart.py'
ILSVRC_CLASSES, ILSVRC_TRAIN_PER_CLASS, ILSVRC_VAL = 4, 12, 14


def run_train(*args, workdir, timeout=600, env=None):
  """`python train.py --workdir=<workdir> <args>` from the repository, output captured;
  `env`: variables to set on top of this process's environment."""
  return subprocess.run([sys.executable, 'train.py', f'--workdir={workdir}', *args], cwd=REPO,
                        capture_output=True, text=True, timeout=timeout,
                        env={**os.environ, **(env or {})})


def start_train(*args, workdir, env=None) -> subprocess.Popen:
  """`python train.py --workdir=<workdir> <args>` started in the background, text pipes;
  `env`: variables to set on top of this process's environment."""
  return subprocess.Popen([sys.executable, 'train.py', f'--workdir={workdir}', *args], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **(env or {})})


def run_evaluate(*args, devices: int | None = None, timeout=600):
  """`python evaluate.py <args>` from the repository, output captured; `devices` simulated
  CPU devices instead of the suite's two."""
  env = dict(os.environ)
  if devices is not None:
    env['XLA_FLAGS'] = env['XLA_FLAGS'].replace('device_count=2', f'device_count={devices}')
  return subprocess.run([sys.executable, 'evaluate.py', *args], cwd=REPO, capture_output=True,
                        text=True, timeout=timeout, env=env)


def write_digits_as_png_folder(root: str, rgb: bool = False, per_class: int | None = None) -> None:
  """The embedded digits' own train/test split as 8-bit grayscale (or `rgb`) PNG files,
  <root>/{train,validation}/<digit>/<n>.png; `per_class`: at most that many of each digit
  in each split."""
  from PIL import Image
  import input_pipeline  # TensorFlow: imported once the environment is set (conftest.py)
  source = input_pipeline.load_digits_source()
  for split_name, split in (('train', source.train), ('validation', source.eval)):
    for index, example in enumerate(split.dataset.as_numpy_iterator()):
      folder = os.path.join(root, split_name, str(example['label']))
      os.makedirs(folder, exist_ok=True)
      if per_class is not None and len(os.listdir(folder)) >= per_class:
        continue
      image = Image.fromarray(example['image'][..., 0])
      (image.convert('RGB') if rgb else image).save(os.path.join(folder, f'{index}.png'))


def write_mock_metadata(data_dir: str, name: str, split_sizes: dict[str, int]) -> None:
  """dataset_info.json for tfds.testing.mock_data, with the split sizes given."""
  import tensorflow_datasets as tfds
  builder = tfds.builder(name, data_dir=data_dir)
  builder.info.set_splits(tfds.core.SplitDict([
      tfds.core.SplitInfo(name=split, shard_lengths=[size], num_bytes=0)
      for split, size in split_sizes.items()]))
  os.makedirs(builder.data_dir, exist_ok=True)
  builder.info.write_to_directory(builder.data_dir)


def write_image_folder(root: str, classes=('cat', 'dog'), per_class: int = 5,
                       corrupt: tuple[str, ...] = ()) -> None:
  """<root>/{train,validation}/<class>/<n>.jpg of real photo crops; `corrupt` paths get garbage."""
  photos = sample_ilsvrc.sample_photographs(2 * len(classes) * per_class)
  index = 0
  for split in ('train', 'validation'):
    for name in classes:
      os.makedirs(os.path.join(root, split, name), exist_ok=True)
      for i in range(per_class):
        with open(os.path.join(root, split, name, f'{i}.jpg'), 'wb') as f:
          f.write(photos[index])
        index += 1
  for relative in corrupt:
    path = os.path.join(root, relative)
    with open(path, 'wb') as f:
      f.write(photos[0][:200])  # a truncated JPEG: header only


def small_config(**overrides):
  """The quickstart recipe (LeNet-5 on the embedded digits), 20 steps, logging every 5."""
  from configs import quickstart
  config = quickstart.get_config()
  config.update(dict(num_train_steps=20, batch_size=32, log_every_steps=5,
                     eval_every_epochs=100.0, checkpoint_every_steps=10, keep_checkpoints=5))
  config.update(overrides)
  return config


# Every recipe file of configs/ (default.py is the base, not a recipe).
RECIPES = sorted(os.path.splitext(os.path.basename(path))[0]
                 for path in glob.glob(os.path.join(REPO, 'configs', '*.py'))
                 if os.path.basename(path) not in ('__init__.py', 'default.py'))


def load_recipe(name: str):
  """The config of configs/<name>.py."""
  spec = importlib.util.spec_from_file_location(f'recipe_{name}',
                                                os.path.join(REPO, 'configs', f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def seeded_variables(model_name: str, size: int, seed: int = 0) -> dict:
  """The network's variables drawn as tests/parity.py draws torch's: He-scaled kernels,
  BatchNorm scales and variances in [0.5, 1.5], small means and offsets."""
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  import models  # pylint: disable=import-outside-toplevel
  module = models.create(model_name, num_classes=1000)
  shapes = jax.eval_shape(lambda: module.init(
      jax.random.key(0), jax.numpy.zeros((1, size, size, 3)), train=False))
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name = path[-1].key
    if name in ('var', 'scale'):
      value = rng.uniform(0.5, 1.5, leaf.shape)
    elif len(leaf.shape) >= 2:
      value = rng.normal(0.0, np.sqrt(2.0 / np.prod(leaf.shape[:-1])), leaf.shape)
    else:  # biases, offsets, running means
      value = rng.normal(0.0, 0.1, leaf.shape)
    return value.astype(np.float32)
  return jax.tree_util.tree_map_with_path(draw, jax.tree.map(lambda x: x, dict(shapes)))
