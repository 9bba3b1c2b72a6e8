"""Input pipeline: a dataset source -> tf.data -> this process's numpy batches.

Sources (the `dataset` config field):
  * `digits`: scikit-learn's copy of the UCI handwritten digits (1,797 real 8×8
    scans, 10 classes), embedded so that the quickstart needs no network. A fixed
    stratified split keeps 360 images for testing.
  * any tfds image-classification dataset by name (`mnist`, `cifar10`,
    `imagenet2012`, `imagenette`, ...), read from `data_dir`. `imagenet2012` is
    prepared from the two ILSVRC2012 tars in `manual_dir` on first use. Test sets
    without a training split (`imagenet_v2/<config>`; `imagenet2012_real`, whose
    examples carry ReaL's label sets as well as the original label) serve evaluation
    only (`load_source(..., train=False)`).
  * `image_folder:<root>`: the user's own images as `<root>/<split>/<class>/<file>`.

Augmentation is the recipe's: the `train_preprocess` and `eval_preprocess` config
fields are strings of the ops in preprocessing.py. Left empty, they follow what the
data is (`default_preprocessing`):
  * photographs (ImageNet-style): Inception random-resized crop (Szegedy et al.
    2015, §6: 8–100 % of the area, aspect ratio 3/4–4/3) decoded with the fused
    `decode_and_crop_jpeg`, random horizontal flip; eval takes the centre crop of
    0.875 of the short side, resized to image_size;
  * small images (MNIST, CIFAR, digits): pad by 1/8 of the side and take a random
    crop (He et al. 2016, §4.2: 4 pixels on 32×32), flipped only where a mirror
    image is still the same class (not for digits).
Batches hold uint8 pixels. The train and eval steps normalise them on the
accelerator with the dataset's per-channel mean and std (`Source.mean/std`):
on the host that float arithmetic cost as much CPU as decoding and cropping
(BENCHMARKS.md), and uint8 is a quarter of the bytes to transfer.

Each process reads its own slice of every split (multi-host data parallelism).
Random augmentation is stateless, seeded per example from `seed`, so a run's
inputs do not depend on thread timing. Evaluation visits every example exactly
once: the last batch is padded with examples whose `mask` is 0.
"""

import dataclasses
import math
import os
from typing import Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

import preprocessing

# tf.data only: TensorFlow must leave every accelerator to JAX.
tf.config.set_visible_devices([], 'GPU')

IMAGE_FOLDER_PREFIX = 'image_folder:'
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif')
# The evaluation view of photographs: the centre crop of this fraction of the shorter side.
EVAL_CROP_FRACTION = 0.875

# Per-channel statistics on the 0-255 scale. ImageNet's serve any photo dataset.
IMAGENET_MEAN_STD = ((0.485 * 255, 0.456 * 255, 0.406 * 255), (0.229 * 255, 0.224 * 255,
                                                               0.225 * 255))
MEAN_STD = {
    'cifar10': ((0.4914 * 255, 0.4822 * 255, 0.4465 * 255), (0.2470 * 255, 0.2435 * 255,
                                                             0.2616 * 255)),
    'cifar100': ((0.5071 * 255, 0.4865 * 255, 0.4409 * 255), (0.2673 * 255, 0.2564 * 255,
                                                              0.2762 * 255)),
    'mnist': ((0.1307 * 255,), (0.3081 * 255,)),
}
GRAYSCALE_MEAN_STD = ((127.5,), (127.5,))

# Datasets of small, already centred images: pad-and-crop augmentation. The value
# says whether a horizontal flip keeps the class (it does not for written digits).
SMALL_IMAGE_DATASETS = {
    'digits': False,
    'mnist': False,
    'kmnist': False,
    'emnist': False,
    'fashion_mnist': True,
    'cifar10': True,
    'cifar100': True,
    'svhn_cropped': False,
}

# The two archives the tfds imagenet2012 builder prepares the dataset from.
ILSVRC_TARS = ('ILSVRC2012_img_train.tar', 'ILSVRC2012_img_val.tar')


class DatasetError(ValueError):
  """A dataset the user asked for cannot be read; the message says what to do."""


@dataclasses.dataclass
class Split:
  """One split, as this process sees it."""

  # {'image': uint8 array or encoded bytes, 'label': int64}, and 'real_labels' where the
  # source has `real_labels`
  dataset: tf.data.Dataset
  num_examples: int  # examples this process reads
  max_process_examples: int  # the most any process reads: evaluation pads to it
  total_examples: int  # over all processes
  name: str = ''  # the split's name in its dataset: 'validation', 'test[:1000]', ...


@dataclasses.dataclass
class Source:
  """A dataset's splits and what preprocessing needs to know about them."""

  name: str
  train: Split | None  # None where loaded for evaluation only (load_source(train=False))
  eval: Split
  num_classes: int
  channels: int
  encoded: bool  # images are encoded files (random-resized crop) or arrays (pad-and-crop)
  flip: bool
  mean: tuple[float, ...]
  std: tuple[float, ...]
  class_names: tuple[str, ...] = ()
  skipped_files: tuple[str, ...] = ()  # unreadable image files left out
  image_shape: tuple[int, int] | None = None  # (height, width) where every image has it
  # Small, centred images (digits, CIFAR): pad-and-crop by default, not Inception crops.
  small_images: bool = False
  inferred: str = ''  # what was read from the data rather than known by name (the banner)
  warnings: tuple[str, ...] = ()  # what the data leaves out, for the user to read
  # Eval examples carry 'real_labels': the set of labels that fit the image (Beyer et al.
  # 2020, "Are we done with ImageNet?"), multi-hot uint8 over the classes; an empty set is
  # an image ReaL's raters found no label for.
  real_labels: bool = False


def _process_slice(num_examples: int, process_index: int, process_count: int) -> tuple[int, int]:
  """Bounds of the contiguous slice of `num_examples` that a process reads."""
  start = num_examples * process_index // process_count
  end = num_examples * (process_index + 1) // process_count
  return start, end


def _split_from_arrays(images, labels, process_index, process_count, name: str = '') -> Split:
  bounds = [_process_slice(len(labels), p, process_count) for p in range(process_count)]
  sizes = [end - start for start, end in bounds]
  start, end = _process_slice(len(labels), process_index, process_count)
  dataset = tf.data.Dataset.from_tensor_slices({'image': images[start:end],
                                                'label': labels[start:end]})
  return Split(dataset, end - start, max(sizes), len(labels), name)


def load_digits_source(process_index: int = 0, process_count: int = 1) -> Source:
  """The UCI handwritten digits from scikit-learn: real scans, no download."""
  from sklearn import datasets, model_selection  # Imported here: only this source needs it.
  digits = datasets.load_digits()
  # The scans have 17 grey levels (0-16); spread them over 0-255.
  images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  labels = digits.target.astype(np.int64)
  train_index, test_index = model_selection.train_test_split(
      np.arange(len(labels)), test_size=360, stratify=labels, random_state=0)
  mean, std = GRAYSCALE_MEAN_STD
  return Source(
      name='digits',
      train=_split_from_arrays(images[train_index], labels[train_index], process_index,
                               process_count),
      eval=_split_from_arrays(images[test_index], labels[test_index], process_index,
                              process_count, 'test'),
      num_classes=10, channels=1, encoded=False, flip=False, mean=mean, std=std,
      class_names=tuple(str(d) for d in range(10)), image_shape=images.shape[1:3],
      small_images=True)


# The archives that builders of manually downloaded data prepare it from (image-net.org).
MANUAL_FILES = {'imagenet2012': ILSVRC_TARS, 'imagenet2012_real': (ILSVRC_TARS[1],)}


def _prepare_tfds_builder(builder, name: str, data_dir: str | None, manual_dir: str | None):
  """Prepares a tfds dataset that is not yet in data_dir, or says how to."""
  needed = MANUAL_FILES.get(builder.name, ())
  if needed:
    manual_dir = manual_dir or os.path.join(data_dir or tfds.core.constants.DATA_DIR,
                                            'downloads', 'manual')
    missing = [tar for tar in needed if not tf.io.gfile.exists(os.path.join(manual_dir, tar))]
    if missing:
      raise DatasetError(
          f'{name} is not prepared in {builder.data_dir} and {", ".join(missing)} '
          f'not found: put {" and ".join(needed)} (from image-net.org) in {manual_dir} '
          'or set --config.manual_dir to the folder holding them')
    print(f'Preparing {name} from {manual_dir} into {builder.data_dir} '
          f'(one time{"; the full ILSVRC2012 takes hours" if len(needed) > 1 else ""})',
          flush=True)
  try:
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  except Exception as error:  # tfds raises many kinds; the user needs one line.
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    raise DatasetError(
        f'could not prepare tfds dataset {name!r} in {builder.data_dir} ({first_line}); '
        'without network, run `tfds build` elsewhere and copy it into --config.data_dir') from error


def tfds_builder(name: str, data_dir: str | None = None):
  """The tfds builder of `name` (`dataset` or `dataset/config`), nothing read or prepared;
  an unknown name or config is a DatasetError that lists what there is."""
  try:
    return tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as error:
    raise DatasetError(
        f'unknown dataset {name!r}: use digits, image_folder:<root>, or a tfds '
        'image-classification dataset name such as mnist, cifar10, imagenet2012') from error
  except ValueError as error:  # an unknown config (imagenet_v2/top-images) among others
    base, _, config = name.partition('/')
    try:
      configs = [c.name for c in tfds.builder_cls(base).BUILDER_CONFIGS]
    except Exception:  # pylint: disable=broad-except  (tfds raises many kinds)
      configs = []
    if config and configs:
      raise DatasetError(f'tfds dataset {base!r} has no config {config!r}: use one of '
                         + ', '.join(f'{base}/{c}' for c in configs)) from error
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    raise DatasetError(f'cannot open tfds dataset {name!r} ({first_line})') from error


def _label_feature(features) -> str | None:
  """The name of the feature that holds an example's class: 'label', or ImageNet-ReaL's
  'original_label' (its ILSVRC2012 label, beside the 'real_label' set)."""
  return next((key for key in ('label', 'original_label')
               if key in features and isinstance(features[key], tfds.features.ClassLabel)),
              None)


def tfds_num_classes(name: str, data_dir: str | None = None) -> int | None:
  """The classes tfds dataset `name` declares, known before anything is downloaded or
  prepared; None for the sources that are not tfds datasets, or that declare none."""
  if name == 'digits' or name.startswith(IMAGE_FOLDER_PREFIX):
    return None
  features = tfds_builder(name, data_dir).info.features
  label = _label_feature(features)
  return features[label].num_classes if label else None


def _has_real_labels(features) -> bool:
  """Whether the examples carry a 'real_label' set of classes (imagenet2012_real)."""
  return ('real_label' in features and isinstance(features['real_label'], tfds.features.Sequence)
          and isinstance(features['real_label'].feature, tfds.features.ClassLabel))


def multi_hot(labels, num_classes: int):
  """A set of class indices as a uint8 vector over the classes (1 where in the set); an
  index outside the classes is dropped."""
  hot = tf.one_hot(labels, num_classes, dtype=tf.uint8)  # a row of zeros where outside
  return tf.reduce_max(tf.concat([tf.zeros([1, num_classes], tf.uint8), hot], 0), axis=0)


def load_tfds_source(name: str, data_dir: str | None = None, manual_dir: str | None = None,
                     process_index: int = 0, process_count: int = 1, seed: int = 0, *,
                     train: bool = True, eval_split: str | None = None) -> Source:
  """A tfds image-classification dataset, prepared in data_dir if needed.

  `train`: whether the training split is needed (train.py); without it (evaluate.py) a
  test set of no training split is read too, and Source.train is None. `eval_split`: the
  split to evaluate, in tfds's split syntax (`validation[:1000]`); None: `validation`,
  else `test`.
  """
  builder = tfds_builder(name, data_dir)
  features = builder.info.features
  label_key = _label_feature(features)
  if 'image' not in features or label_key is None:
    raise DatasetError(f'tfds dataset {name!r} has no image and label features; '
                       'pick an image-classification dataset')
  if not builder.is_prepared():
    _prepare_tfds_builder(builder, name, data_dir, manual_dir)
  splits = builder.info.splits
  if train and 'train' not in splits:
    raise DatasetError(f'tfds dataset {name!r} has no training split (only '
                       f'{", ".join(splits)}): it is a test set, for evaluate.py '
                       f'--dataset={name}; train on a dataset with a train split')
  if eval_split is None:
    eval_split = next((s for s in ('validation', 'test') if s in splits), None)
    if eval_split is None:
      raise DatasetError(f'tfds dataset {name!r} has neither a validation nor a test split: '
                         f'name one of {", ".join(splits)}')
  else:
    try:
      if splits[eval_split].num_examples < 1:
        raise ValueError('no examples')
    except (ValueError, KeyError, TypeError, AssertionError) as error:
      raise DatasetError(f'tfds dataset {name!r} has no split {eval_split!r} with examples '
                         f'({" ".join(str(error).split())[:120]}): it has '
                         f'{", ".join(f"{s} ({splits[s].num_examples})" for s in splits)}'
                         ) from None
  encoded = name not in SMALL_IMAGE_DATASETS
  decoders = {'image': tfds.decode.SkipDecoding()} if encoded else None
  num_classes = features[label_key].num_classes
  real_labels = _has_real_labels(features)

  def example(e):
    kept = {'image': e['image'], 'label': e[label_key]}
    if real_labels:
      kept['real_labels'] = multi_hot(e['real_label'], num_classes)
    return kept

  def split(split_name: str, shuffle_files: bool) -> Split:
    per_process = [tfds.split_for_jax_process(split_name, process_index=p,
                                              process_count=process_count)
                   for p in range(process_count)]
    sizes = [splits[s].num_examples for s in per_process]
    dataset = builder.as_dataset(
        split=per_process[process_index], shuffle_files=shuffle_files, decoders=decoders,
        # One seeded file order for every epoch, so that a resumed run reads the
        # epochs as an uninterrupted one; examples are reshuffled per epoch.
        read_config=tfds.ReadConfig(shuffle_seed=seed, shuffle_reshuffle_each_iteration=False))
    dataset = dataset.map(example)
    return Split(dataset, sizes[process_index], max(sizes), splits[split_name].num_examples,
                 split_name)

  channels = features['image'].shape[-1] or 3
  height, width = features['image'].shape[:2]
  mean, std = MEAN_STD.get(name, IMAGENET_MEAN_STD if channels == 3 else GRAYSCALE_MEAN_STD)
  return Source(
      name=name, train=split('train', True) if train else None,
      eval=split(eval_split, False), num_classes=num_classes, channels=channels,
      encoded=encoded, flip=SMALL_IMAGE_DATASETS.get(name, True), mean=mean, std=std,
      class_names=tuple(features[label_key].names),
      image_shape=(height, width) if height and width else None, small_images=not encoded,
      real_labels=real_labels)


def decodable_images(paths: list[str], channels: int) -> list[bool]:
  """Whether each file at `paths` decodes to `channels` channels with the pipeline's own
  decoder (`preprocessing.decode_image`), so that no file the start-up check lets through
  fails in the middle of training: a truncated file, a foreign format, a CMYK JPEG."""
  if not paths:
    return []
  dataset = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), np.array(paths)))
  dataset = dataset.map(
      lambda index, path: (index, tf.shape(preprocessing.decode_image(tf.io.read_file(path),
                                                                      channels))[0]),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
  decoded = {int(index) for index, _ in dataset.ignore_errors().as_numpy_iterator()}
  return [index in decoded for index in range(len(paths))]


def _list_image_folder(split_dir: str, class_names: list[str]) -> tuple[list[str], list[int]]:
  paths, labels = [], []
  for label, class_name in enumerate(class_names):
    class_dir = os.path.join(split_dir, class_name)
    if not os.path.isdir(class_dir):
      continue
    for file_name in sorted(os.listdir(class_dir)):
      if file_name.lower().endswith(IMAGE_EXTENSIONS):
        paths.append(os.path.join(class_dir, file_name))
        labels.append(label)
  return paths, labels


# Images whose shorter side is at most this many pixels are "small" (digits, CIFAR-like):
# padded random crops instead of Inception crops, no flips unless the recipe asks.
SMALL_IMAGE_SIDE = 64
# How many training images are opened to learn what a folder's images are.
SAMPLED_IMAGES = 64


@dataclasses.dataclass(frozen=True)
class FolderSample:
  """What a sample of a folder's training images says about all of them."""

  channels: int  # 1 if every sampled image is grayscale, else 3
  shape: tuple[int, int] | None  # (height, width) if every sampled image has it
  typical_side: int  # the median shorter side
  count: int
  paths: tuple[str, ...] = ()  # the training images, for image_statistics

  @property
  def small(self) -> bool:
    return self.typical_side <= SMALL_IMAGE_SIDE

  def describe(self) -> str:
    size = (f'{self.shape[0]}×{self.shape[1]}' if self.shape
            else f'shorter side ~{self.typical_side} px')
    kind = 'small images' if self.small else 'photographs'
    return (f'{self.count} sampled images: {self.channels} channel'
            f'{"s" if self.channels > 1 else ""}, {size}: {kind}'
            + ('' if self.channels == 3 and not self.small else
               ', mean/std from the training images'))


def _is_grayscale(image) -> bool:
  """Whether a PIL image holds only grey levels: by its mode, or by its palette (a GIF or
  BMP of grey levels is a palette image)."""
  if image.mode in ('1', 'L', 'LA', 'I', 'I;16', 'F'):
    return True
  if image.mode in ('P', 'PA'):
    palette = image.getpalette() or []
    return all(palette[i] == palette[i + 1] == palette[i + 2]
               for i in range(0, len(palette) - 2, 3))
  return False


def sample_image_folder(train_dir: str, class_names: list[str]) -> FolderSample:
  """Channels and size of up to SAMPLED_IMAGES training images, taken across the classes."""
  from PIL import Image  # Imported here: only image folders are sampled.
  paths, _ = _list_image_folder(train_dir, class_names)
  step = max(1, len(paths) // SAMPLED_IMAGES)
  channels, shapes = set(), []
  for path in paths[::step][:SAMPLED_IMAGES]:
    try:
      with Image.open(path) as image:
        channels.add(1 if _is_grayscale(image) else 3)
        shapes.append((image.height, image.width))
    except Exception:  # unreadable files are reported by the split reader
      continue
  if not shapes:
    return FolderSample(3, None, 256, 0)
  sides = sorted(min(shape) for shape in shapes)
  return FolderSample(channels=1 if channels == {1} else 3,
                      shape=shapes[0] if len(set(shapes)) == 1 else None,
                      typical_side=sides[len(sides) // 2], count=len(shapes),
                      paths=tuple(paths))


def image_statistics(paths: list[str], channels: int,
                     max_images: int = 1000) -> tuple[tuple[float, ...], tuple[float, ...]]:
  """Per-channel mean and standard deviation (0-255 scale) of up to `max_images` of the
  images at `paths`, evenly spaced through the list (so the same on every process).

  The pixels are the ones training sees: decoded by the pipeline's own decoder (a 16-bit
  PNG rescaled to 8 bits, as the pipeline does, not clipped as PIL's conversion would).
  """
  chosen = list(paths[::max(1, len(paths) // max_images)][:max_images])
  total, squares, count = 0.0, 0.0, 0
  if chosen:
    dataset = tf.data.Dataset.from_tensor_slices(np.array(chosen)).map(
        lambda path: preprocessing.decode_image(tf.io.read_file(path), channels),
        num_parallel_calls=tf.data.AUTOTUNE)
    # Unreadable files are reported by the split reader.
    for image in dataset.ignore_errors().as_numpy_iterator():
      pixels = image.reshape(-1, channels).astype(np.float64)
      total, squares = total + pixels.sum(0), squares + (pixels**2).sum(0)
      count += len(pixels)
  mean = total / max(count, 1)
  std = np.sqrt(np.maximum(squares / max(count, 1) - mean**2, 1.0))
  mean = np.broadcast_to(mean, (channels,))
  std = np.broadcast_to(std, (channels,))
  return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def load_image_folder_source(root: str, process_index: int = 0, process_count: int = 1) -> Source:
  """The user's images laid out `<root>/<split>/<class>/<image>`.

  `train` is the training split; `validation`, `val` or `test` (the first that
  exists) the evaluation split. Classes are the sub-folders of `train`, sorted.
  Every file is decoded once up front; unreadable ones are left out and reported.
  What the images are is read from a sample of them (`sample_image_folder`):
  grayscale folders give 1 channel, and small images (a shorter side of
  SMALL_IMAGE_SIDE or less) the small-image preprocessing without flips.
  """
  train_dir = os.path.join(root, 'train')
  if not os.path.isdir(train_dir):
    raise DatasetError(f'image folder {root!r} has no train/ directory: lay the images out '
                       'as <root>/train/<class>/<image> and <root>/validation/<class>/<image>')
  eval_dir = next((os.path.join(root, s) for s in ('validation', 'val', 'test')
                   if os.path.isdir(os.path.join(root, s))), None)
  if eval_dir is None:
    raise DatasetError(f'image folder {root!r} has no validation/, val/ or test/ directory '
                       'for evaluation: add one laid out like train/')
  class_names = sorted(d for d in os.listdir(train_dir)
                       if os.path.isdir(os.path.join(train_dir, d)))
  if not class_names:
    raise DatasetError(f'{train_dir} has no class sub-directories: put each class\'s images '
                       'in train/<class>/')
  # What the images are decides the channels every file must decode to.
  sample = sample_image_folder(train_dir, class_names)
  skipped, labels_read = [], {}

  def split(split_dir: str) -> Split:
    paths, labels = _list_image_folder(split_dir, class_names)
    if not paths:
      raise DatasetError(f'{split_dir} holds no image files ({", ".join(IMAGE_EXTENSIONS)}) '
                         'in its class sub-directories')
    readable = decodable_images(paths, sample.channels)
    skipped.extend(p for p, ok in zip(paths, readable) if not ok)
    paths = np.array([p for p, ok in zip(paths, readable) if ok])
    labels = np.array([l for l, ok in zip(labels, readable) if ok], dtype=np.int64)
    if not len(paths):
      raise DatasetError(f'none of the image files in {split_dir} can be decoded')
    result = _split_from_arrays(paths, labels, process_index, process_count,
                                os.path.basename(split_dir))
    result.dataset = result.dataset.map(
        lambda e: {'image': tf.io.read_file(e['image']), 'label': e['label']})
    labels_read[split_dir] = labels
    return result

  train, evaluation = split(train_dir), split(eval_dir)
  empty = [name for label, name in enumerate(class_names) if label not in set(labels_read[train_dir])]
  if empty:
    raise DatasetError(
        f'{len(empty)} class folder{"s" if len(empty) > 1 else ""} of {train_dir} '
        f'hold{"" if len(empty) > 1 else "s"} no image that decodes ({", ".join(empty[:5])}): '
        'each would be a class without a training example; add images to it or remove the '
        'folder')
  warnings = []
  eval_only = {name: count for name in sorted(os.listdir(eval_dir))
               if name not in class_names and os.path.isdir(os.path.join(eval_dir, name))
               and (count := len(_list_image_folder(eval_dir, [name])[0]))}
  if eval_only:
    warnings.append(
        f'{sum(eval_only.values())} images of {eval_dir} are in class folders that '
        f'{train_dir} does not have ({", ".join(list(eval_only)[:5])}) and are left out of '
        'evaluation: add those classes to train/ to learn them, or move the folders away')
  # Photographs keep ImageNet's statistics (those of any pretrained weights); grayscale or
  # small images are normalised with their own, measured on the training images.
  if sample.channels == 3 and not sample.small:
    mean, std = IMAGENET_MEAN_STD
  else:
    mean, std = image_statistics(sample.paths, sample.channels)
  return Source(name=f'{IMAGE_FOLDER_PREFIX}{root}', train=train, eval=evaluation,
                num_classes=len(class_names), channels=sample.channels, encoded=True,
                # Mirror images of small images (digits, letters) may be another class.
                flip=not sample.small, mean=mean, std=std, class_names=tuple(class_names),
                skipped_files=tuple(skipped), image_shape=sample.shape,
                small_images=sample.small, inferred=sample.describe(),
                warnings=tuple(warnings))


def load_source(dataset: str, data_dir: str | None = None, manual_dir: str | None = None,
                process_index: int = 0, process_count: int = 1, seed: int = 0, *,
                train: bool = True, eval_split: str | None = None) -> Source:
  """The dataset named by the `dataset` config field, sliced for this process.

  `train`: whether the training split is needed (see load_tfds_source); `eval_split`: a
  tfds dataset's split to evaluate (None: its validation split, else its test split).
  """
  if eval_split is not None and (dataset == 'digits'
                                 or dataset.startswith(IMAGE_FOLDER_PREFIX)):
    raise DatasetError(f'a split to evaluate ({eval_split!r}) can be named for tfds datasets '
                       f'only: {dataset} has one evaluation split, its own')
  if dataset == 'digits':
    return load_digits_source(process_index, process_count)
  if dataset.startswith(IMAGE_FOLDER_PREFIX):
    return load_image_folder_source(dataset[len(IMAGE_FOLDER_PREFIX):], process_index,
                                    process_count)
  return load_tfds_source(dataset, data_dir, manual_dir, process_index, process_count, seed,
                          train=train, eval_split=eval_split)


# --- Preprocessing ---------------------------------------------------------------------


def default_preprocessing(source: Source, image_size: int) -> tuple[str, str]:
  """The train and eval preprocessing strings for `source` when the recipe gives none."""
  if not source.small_images:
    return (f'inception_crop({image_size})|flip_lr',
            f'center_crop({EVAL_CROP_FRACTION})|resize({image_size})')
  train = f'resize({image_size})|pad_random_crop({image_size}, {image_size // 8})'
  return train + ('|flip_lr' if source.flip else ''), f'resize({image_size})'


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """The checked train and eval pipelines of a run, and the channels they output."""

  train: preprocessing.Pipeline
  eval: preprocessing.Pipeline
  channels: int


def checked_pipeline(source: Source, image_size: int, text: str,
                     what: str) -> tuple[preprocessing.Pipeline, int]:
  """The pipeline of one preprocessing field (`what`: 'train_preprocess' or
  'eval_preprocess'; empty `text`: `default_preprocessing`), checked to make image_size ×
  image_size images from this source's images, and the channels it outputs; raises
  preprocessing.PreprocessError."""
  if not text:
    text = default_preprocessing(source, image_size)[what == 'eval_preprocess']
  size = (preprocessing.Size.exact(*source.image_shape) if source.image_shape
          else preprocessing.Size())
  try:
    pipeline = preprocessing.parse(text)
    return pipeline, pipeline.check(size, source.channels, image_size, what)
  except preprocessing.PreprocessError as error:
    raise preprocessing.PreprocessError(
        str(error) if str(error).startswith(what) else f'{what}: {error}') from None


def create_preprocessing(source: Source, image_size: int, train: str = '',
                         evaluation: str = '', eval_image_size: int = 0) -> Preprocessing:
  """Parses the recipe's strings (empty: `default_preprocessing`) and checks that they make
  image_size × image_size training images and eval_image_size² evaluation images (0: the
  training size) of the same channels from this source's images; raises
  preprocessing.PreprocessError."""
  train_pipeline, train_channels = checked_pipeline(source, image_size, train,
                                                    'train_preprocess')
  eval_pipeline, eval_channels = checked_pipeline(source, eval_image_size or image_size,
                                                  evaluation, 'eval_preprocess')
  if train_channels != eval_channels:
    raise preprocessing.PreprocessError(
        f'train_preprocess makes {train_channels}-channel images but eval_preprocess '
        f'{eval_channels}-channel ones: convert both the same way')
  return Preprocessing(train_pipeline, eval_pipeline, train_channels)


def preprocess_for_train(example, seed, source: Source, pipeline: preprocessing.Pipeline):
  """One training example through the train pipeline; uint8 (the step normalises with
  source.mean and source.std, which the ops that draw in normalised units receive)."""
  image = pipeline(example['image'], seed, source.channels, source.encoded,
                   normalization=(source.mean, source.std))
  return {'image': image, 'label': example['label']}


def preprocess_for_eval(example, source: Source, pipeline: preprocessing.Pipeline):
  """One evaluation example through the eval pipeline (its random ops get a fixed seed)."""
  image = pipeline(example['image'], tf.constant([0, 0], tf.int64), source.channels,
                   source.encoded, normalization=(source.mean, source.std))
  return {**example, 'image': image, 'mask': tf.constant(1.0, tf.float32)}


def _data_options(deterministic: bool, threads: int | None = None) -> tf.data.Options:
  """tf.data settings, chosen by `benchmark.py --input_pipeline` (BENCHMARKS.md).

  Map parallelism and prefetch depth are left to AUTOTUNE, over tf.data's shared
  thread pool: fixed values and a private pool of one thread per core measured
  the same. Training gives up element order (`deterministic=False`) so that a slow
  image does not hold back the batch; the augmentation is seeded per example, so
  only the order of examples within nearby batches can change.
  """
  options = tf.data.Options()
  options.deterministic = deterministic
  options.experimental_optimization.map_parallelization = True
  if threads:
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
  return options


def train_batches(source: Source, local_batch_size: int, image_size: int, seed: int,
                  deterministic: bool = False, start_step: int = 0,
                  preprocess: str = '', repeats: int = 1,
                  devices: int = 1) -> Iterator[dict[str, np.ndarray]]:
  """Endless shuffled, augmented batches of this process's training examples.

  See `train_dataset`; `start_step` is the step a resumed run starts after.
  """
  return train_dataset(source, local_batch_size, image_size, seed, deterministic,
                       start_example=start_step * local_batch_size,
                       preprocess=preprocess, repeats=repeats,
                       devices=devices).as_numpy_iterator()


# Epoch e is shuffled with seed * EPOCH_SEED_STRIDE + e: a distinct seed per (seed, epoch).
EPOCH_SEED_STRIDE = 1_000_003


def train_dataset(source: Source, local_batch_size: int, image_size: int, seed: int,
                  deterministic: bool = False, threads: int | None = None,
                  start_example: int = 0, preprocess: str = '', repeats: int = 1,
                  devices: int = 1) -> tf.data.Dataset:
  """This process's endless training stream, batched; `threads` gives it a private pool.

  `preprocess` is the train_preprocess string (empty: the source's default).

  The stream is a sequence of epochs, and epoch e is a shuffle of every example
  of this process's slice, seeded by (seed, e); batches run on across epoch
  boundaries. The example at position i of the stream is augmented with the
  stateless seed (seed, i). So the stream is a function of the seed alone, and
  `start_example` (a resumed run passes steps done × local batch size) starts
  it exactly where an uninterrupted run would be: earlier epochs are skipped by
  number, and the examples already seen in the current epoch are read past
  without being decoded. With `deterministic` the order is exactly reproducible;
  without it tf.data may deliver neighbouring examples out of order (their
  augmentation stays the same) and resumption is exact up to that order.

  `repeats` = k > 1 is repeated augmentation as DeiT's sampler (Touvron et al. 2021;
  timm's RepeatAugSampler; Hoffer et al. 2020 put the copies in one batch instead): an
  epoch takes the first n // k images of its shuffle and each appears k times, augmented
  with a seed of its own, so that the epoch keeps about n examples. Copies go to
  different devices where the process has several (`devices`: its local devices, which
  take consecutive blocks of the batch): example j of the epoch's stream goes to device
  j mod devices, as timm hands consecutive copies to consecutive processes. A process
  reads only its slice of the data here, so copies stay on its own devices; timm's
  processes each drive one device. timm also rounds the epoch down to a multiple of 256
  images.
  """
  pipeline, _ = checked_pipeline(source, image_size, preprocess, 'train_preprocess')
  dataset = source.train.dataset
  if not source.encoded:
    dataset = dataset.cache()  # small decoded datasets fit in memory; shared by all epochs
  num_examples = source.train.num_examples
  buffer_size = min(num_examples, 16 * local_batch_size + 10_000)
  selected = num_examples // repeats
  first_epoch, skipped = divmod(start_example, selected * repeats)

  def epoch(number):
    shuffled = dataset.shuffle(buffer_size, seed=seed * EPOCH_SEED_STRIDE + number,
                               reshuffle_each_iteration=False)
    if repeats == 1:
      return shuffled
    return shuffled.take(selected).flat_map(
        lambda example: tf.data.Dataset.from_tensors(example).repeat(repeats))

  dataset = tf.data.Dataset.range(first_epoch, EPOCH_SEED_STRIDE).flat_map(epoch).skip(skipped)
  positions = tf.data.Dataset.range(start_example, tf.int64.max)
  dataset = tf.data.Dataset.zip(dataset, positions)
  dataset = dataset.map(
      lambda example, position: preprocess_for_train(
          example, tf.stack([tf.constant(seed, tf.int64), position]), source, pipeline),
      num_parallel_calls=tf.data.AUTOTUNE)
  if repeats > 1 and devices > 1:
    dataset = _spread_over_devices(dataset, local_batch_size, devices)
  else:
    dataset = dataset.batch(local_batch_size, drop_remainder=True)
  return dataset.prefetch(tf.data.AUTOTUNE).with_options(_data_options(deterministic, threads))


def _spread_over_devices(dataset: tf.data.Dataset, local_batch_size: int,
                         devices: int) -> tf.data.Dataset:
  """Batches in which example j of the stream sits in device (j mod devices)'s block."""
  per_device = local_batch_size // devices

  def device_major(batch):
    return tf.nest.map_structure(
        lambda x: tf.reshape(tf.experimental.numpy.swapaxes(x, 0, 1),
                             tf.concat([[local_batch_size], tf.shape(x)[2:]], 0)), batch)

  return (dataset.batch(devices, drop_remainder=True)
          .batch(per_device, drop_remainder=True).map(device_major))


def num_eval_steps(source: Source, local_batch_size: int) -> int:
  """Batches that cover the eval split on every process (the largest slice decides)."""
  return max(1, math.ceil(source.eval.max_process_examples / local_batch_size))


def padded_eval_batch_size(local_batch_size: int, devices: int) -> int:
  """Examples in each eval batch: `local_batch_size` rounded up to a multiple of `devices`
  with padding examples, so that any batch size divides over this process's devices."""
  return local_batch_size + -local_batch_size % devices


def eval_batches(source: Source, local_batch_size: int, image_size: int, preprocess: str = '',
                 views=None, views_per_image: int = 1,
                 devices: int = 1) -> Iterator[dict[str, np.ndarray]]:
  """This process's eval examples once, in num_eval_steps batches.

  Each example is the eval_preprocess string `preprocess` makes of it (empty: the
  source's default), or, with `views` (protocols.py), the `views_per_image` views that
  function makes of the stored image, stacked on a second axis.
  Padding examples (zero image, `mask` 0) fill the last batches, so metrics
  weighted by `mask` count every real example exactly once; they also round each batch
  up to a multiple of `devices`, so that any batch size divides over this process's devices.
  Examples keep the source's 'real_labels' (empty sets for the padding).
  """
  steps = num_eval_steps(source, local_batch_size)
  pipeline, channels = checked_pipeline(source, image_size, preprocess, 'eval_preprocess')
  if views is None:
    dataset = source.eval.dataset.map(lambda e: preprocess_for_eval(e, source, pipeline),
                                      num_parallel_calls=tf.data.AUTOTUNE)
    shape = [image_size, image_size, channels]
  else:
    dataset = source.eval.dataset.map(
        lambda e: {**e, 'image': views(e['image']), 'mask': tf.constant(1.0, tf.float32)},
        num_parallel_calls=tf.data.AUTOTUNE)
    shape = [views_per_image, image_size, image_size, channels]

  def padding(count: int) -> dict:
    padded = {'image': tf.zeros([count] + shape, tf.uint8), 'label': tf.zeros([count], tf.int64),
              'mask': tf.zeros([count], tf.float32)}
    if source.real_labels:
      padded['real_labels'] = tf.zeros([count, source.num_classes], tf.uint8)
    return padded

  dataset = dataset.concatenate(tf.data.Dataset.from_tensor_slices(
      padding(steps * local_batch_size - source.eval.num_examples)))
  dataset = dataset.batch(local_batch_size, drop_remainder=True)
  extra = padded_eval_batch_size(local_batch_size, devices) - local_batch_size
  if extra:
    dataset = dataset.map(lambda batch: _append_examples(batch, padding(extra)))
  dataset = dataset.prefetch(tf.data.AUTOTUNE).with_options(_data_options(True))
  return dataset.as_numpy_iterator()


def _append_examples(batch: dict, more: dict) -> dict:
  """Each entry of `batch` with the same entry of `more` appended along the batch axis."""
  return {key: tf.concat([value, more[key]], axis=0) for key, value in batch.items()}
