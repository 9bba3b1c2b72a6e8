"""evaluate.py on the test sets without a training split: ImageNet-V2 (tfds imagenet_v2,
three configs, a test split only) and ImageNet-ReaL (tfds imagenet2012_real: ILSVRC2012's
validation images, each with its original label and a possibly empty set of labels that fit).

The data is tfds's own mock (tfds.testing.mock_data) with examples written here, so that
every label is known; the networks are LeNet-5 checkpoints with a zero output kernel, whose
logits are their output bias whatever the image: every prediction is known too. The
commands run in subprocesses (`run_under_mock`), as users run them, with the mock around
them; the ReaL rule on the device is also checked alone, on predictions taken from the
images, against a NumPy statement of it.
"""

import importlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import REPO, run_evaluate, write_mock_metadata

V2_CONFIGS = ('matched-frequency', 'threshold-0.7', 'topimages')
NUM_CLASSES = 1000

# ImageNet-ReaL mock examples: (original label, ReaL set); two sets are empty.
REAL_EXAMPLES = (
    (7, [7]), (7, [7, 12]), (7, []), (3, [3]), (42, [42]), (42, []), (999, [999, 7]),
    (5, [5, 6]), (11, [11]), (0, [0, 999, 3, 11]),
)
# ImageNet-V2 mock examples: labels.
V2_LABELS = (7, 7, 1, 3, 999, 7, 42)


def class_logits(seed: int, favourites: tuple[int, ...]) -> np.ndarray:
  """Small random logits with `favourites` highest, in that order (the network's top 5)."""
  logits = np.random.default_rng(seed).uniform(-1, 0, NUM_CLASSES).astype(np.float32)
  for rank, label in enumerate(favourites):
    logits[label] = 5.0 - rank
  return logits


BIASES = (class_logits(0, (7, 3, 11, 500, 999)), class_logits(1, (3, 42, 7, 6, 2)))


# --- The mock data ---------------------------------------------------------------------------


def mock_examples(self, split, decoders=None, read_config=None, **kwargs):
  """DatasetBuilder._as_dataset under tfds.testing.mock_data: the examples above, images
  as the encoded JPEGs the input pipeline reads (a single process reads the whole split)."""
  del split, decoders, read_config, kwargs
  import tensorflow as tf
  real = self.name == 'imagenet2012_real'
  count = len(REAL_EXAMPLES) if real else len(V2_LABELS)
  rng = np.random.default_rng(0)
  images = [tf.io.encode_jpeg(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).numpy()
            for _ in range(count)]

  def examples():
    for index, image in enumerate(images):
      name = f'{index}.JPEG'
      if real:
        original, label_set = REAL_EXAMPLES[index]
        yield {'image': image, 'original_label': original,
               'real_label': np.array(label_set, np.int64), 'file_name': name}
      else:
        yield {'image': image, 'label': V2_LABELS[index], 'file_name': name}

  signature = {'image': tf.TensorSpec([], tf.string), 'file_name': tf.TensorSpec([], tf.string)}
  if real:
    signature.update(original_label=tf.TensorSpec([], tf.int64),
                     real_label=tf.TensorSpec([None], tf.int64))
  else:
    signature['label'] = tf.TensorSpec([], tf.int64)
  return tf.data.Dataset.from_generator(examples, output_signature=signature)


def write_metadata(data_dir: str) -> None:
  """The splits as tfds knows them: ReaL's validation, each V2 config's test."""
  write_mock_metadata(data_dir, 'imagenet2012_real', {'validation': len(REAL_EXAMPLES)})
  for config in V2_CONFIGS:
    write_mock_metadata(data_dir, f'imagenet_v2/{config}', {'test': len(V2_LABELS)})


def run_under_mock() -> None:
  """`python -c '...run_under_mock()' <evaluate|train> <metadata dir> <flags...>`: the
  command's own entry point, with tfds mocked around it."""
  module_name, data_dir, *args = sys.argv[1:]
  from absl import app
  module = importlib.import_module(module_name)
  import tensorflow_datasets as tfds
  with tfds.testing.mock_data(as_dataset_fn=mock_examples, data_dir=data_dir):
    app.run(module.main, argv=[f'{module_name}.py', *args], flags_parser=module.parse_flags)


def run_mocked(module_name: str, data_dir, *args) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, '-c', 'from tests.test_imagenet_v2_real import run_under_mock; '
       'run_under_mock()', module_name, str(data_dir), *args],
      cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='module')
def mock_dir(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp('mock_tfds')
  write_metadata(str(data_dir))
  return data_dir


# --- The networks ----------------------------------------------------------------------------


def write_constant_network(workdir, bias: np.ndarray) -> None:
  """A LeNet-5 checkpoint (photographs, 32 × 32 RGB, trained on imagenet2012 as far as its
  run description says) whose logits are `bias` for every image: a zero output kernel."""
  import jax
  import optax
  from configs import quickstart
  from training import checkpoints, steps
  config = quickstart.get_config()
  config.dataset = 'imagenet2012'
  mesh = steps.create_mesh()
  state = steps.create_train_state(jax.random.key(0), steps.create_model(config, len(bias)),
                                   config.image_size, 3, optax.sgd(0.1), mesh)
  params = jax.device_get(state.params)
  params['output'] = {'kernel': np.zeros_like(params['output']['kernel']),
                      'bias': np.asarray(bias, np.float32)}
  state = state.replace(params=jax.device_put(params,
                                              jax.sharding.NamedSharding(mesh,
                                                                         jax.sharding.PartitionSpec())))
  manager = checkpoints.create_checkpoint_manager(str(workdir), keep=1)
  mean, std = ((124.0, 116.0, 104.0), (58.0, 57.0, 57.0))
  checkpoints.save_checkpoint(manager, 0, state,
                              checkpoints.describe_run(config, len(bias), 3, mean, std))
  manager.close()


@pytest.fixture(scope='module')
def networks(tmp_path_factory):
  """Two 1000-class networks of BIASES, and a 10-class one."""
  root = tmp_path_factory.mktemp('networks')
  folders = {}
  for name, bias in (('first', BIASES[0]), ('second', BIASES[1]), ('ten', BIASES[0][:10])):
    write_constant_network(root / name, bias)
    folders[name] = root / name
  return folders


# --- The ReaL rule, stated in NumPy ----------------------------------------------------------


def softmax(logits: np.ndarray) -> np.ndarray:
  e = np.exp(logits - logits.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def real_scores(probabilities: np.ndarray, label_sets) -> dict:
  """Beyer et al. 2020: a top-1 prediction is right when it is in the image's set of
  labels; top-5, when any of the five is; images of an empty set are left out."""
  counted = [(p, s) for p, s in zip(probabilities, label_sets) if len(s)]
  top5 = [np.argsort(-p, kind='stable')[:5] for p, _ in counted]
  return {'real_accuracy': np.mean([np.argmax(p) in s for p, s in counted]),
          'real_top5_accuracy': np.mean([bool(set(t) & set(s)) for t, (_, s) in
                                         zip(top5, counted)]),
          'real_images': len(counted), 'real_left_out': len(label_sets) - len(counted)}


def test_the_real_rule_on_the_device_is_the_numpy_rule():
  """The one eval step, on two devices, predictions taken from the images: ReaL's sums for
  each model and their ensemble, padding (mask 0, a set of its own) not counted, empty sets
  left out; the ordinary metrics of the same pass unchanged."""
  import jax
  from training import steps
  classes, examples = 12, 14
  rng = np.random.default_rng(3)
  # 12 distinct pixels, the logits, per image: no ties for the top-k to break.
  images = np.stack([rng.choice(256, classes, replace=False).astype(np.uint8).reshape(4, 3, 1)
                     for _ in range(examples + 2)])
  labels = rng.integers(0, classes, examples + 2)
  label_sets = [set(rng.choice(classes, rng.integers(1, 4), replace=False).tolist())
                for _ in range(examples + 2)]
  for row, pixels in enumerate(images.reshape(examples + 2, -1)):  # some right predictions
    if row % 3 == 0:
      label_sets[row].add(int(np.argmax(pixels)))
    if row % 4 == 0:
      label_sets[row].add(int(np.argmax(np.roll(pixels, 1))))
  label_sets = [sorted(label_set) for label_set in label_sets]
  label_sets[1], label_sets[5] = [], []
  multi_hot = np.zeros((examples + 2, classes), np.uint8)
  for row, label_set in enumerate(label_sets):
    multi_hot[row, label_set] = 1
  mask = np.array([1.0] * examples + [0.0, 0.0], np.float32)  # two padding examples
  multi_hot[-2:] = 1  # whose sets would count every prediction if they were counted

  def model(shift: int, scale: float):
    def apply(variables, x, train):  # the pixels, in another order than their classes'
      return jax.numpy.roll(x.reshape(len(x), -1), shift, axis=1) / scale
    return steps.EvalModel(apply, {})

  models = (model(0, 32.0), model(1, 20.0))
  batches = [{'image': images[i:i + 8], 'label': labels[i:i + 8], 'mask': mask[i:i + 8],
              'real_labels': multi_hot[i:i + 8]} for i in (0, 8)]
  parallel_eval = steps.compile_eval_step(steps.create_mesh(), [((0.0,), (1.0,))] * 2)
  metrics, count = steps.evaluate(parallel_eval, models, batches, steps.create_mesh())
  assert jax.device_count() == 2 and count == examples

  pixels = images[:examples].reshape(examples, -1).astype(np.float64)
  probabilities = [softmax(pixels / 32.0), softmax(np.roll(pixels, 1, axis=1) / 20.0)]
  probabilities.append((probabilities[0] + probabilities[1]) / 2)
  for got, p in zip(metrics, probabilities):
    want = real_scores(p, label_sets[:examples])
    assert want['real_images'] == examples - 2 and 0 < want['real_accuracy'] < 1
    assert {key: got[key] for key in want} == pytest.approx(want)
    assert got['eval_accuracy'] == pytest.approx(np.mean(p.argmax(-1) == labels[:examples]))
  without = [{key: value for key, value in b.items() if key != 'real_labels'} for b in batches]
  plain, _ = steps.evaluate(parallel_eval, models, without, steps.create_mesh())
  assert plain == [{key: m[key] for key in plain[0]} for m in metrics]


def results(folder) -> list[dict]:
  return json.loads((folder / 'eval.json').read_text())['results']


@pytest.mark.e2e  # evaluate.py (and train.py) in subprocesses
def test_imagenet2012_real_under_every_protocol_and_as_an_ensemble(mock_dir, networks, tmp_path):
  """ReaL accuracies, images counted and left out, and the original label's accuracy from
  the same pass, for each network and their ensemble, under the centre view and ten crops
  (the views carry the labels along), in batches of 4 (padded) on two devices."""
  out = tmp_path / 'out'
  completed = run_mocked('evaluate', mock_dir, f'--ensemble={networks["first"]},'
                         f'{networks["second"]}', '--dataset=imagenet2012_real',
                         '--protocol=center,ten_crop', '--batch_size=4', f'--out={out}')
  assert completed.returncode == 0, completed.stderr[-3000:]
  assert 'ReaL top-1' in completed.stdout and 'imagenet2012_real validation' in completed.stdout
  assert 'ReaL: 8 images with a set of labels counted, 2 whose set is empty left out' in (
      completed.stdout)
  originals = np.array([original for original, _ in REAL_EXAMPLES])
  label_sets = [label_set for _, label_set in REAL_EXAMPLES]
  members = [softmax(bias)[None].repeat(len(REAL_EXAMPLES), 0) for bias in BIASES]
  probabilities = members + [(members[0] + members[1]) / 2]
  center, ten_crop = results(out)
  assert (center['views_per_image'], ten_crop['views_per_image']) == (1, 10)
  for result in (center, ten_crop):
    assert (result['eval_dataset'], result['eval_split'], result['num_examples']) == (
        'imagenet2012_real', 'validation', len(REAL_EXAMPLES))
    for entry, p in zip(result['members'] + [result], probabilities):
      want = real_scores(p, label_sets)
      assert {key: entry[key] for key in want} == pytest.approx(want)
      assert entry['eval_accuracy'] == pytest.approx(np.mean(p.argmax(-1) == originals))
  # The first network predicts 7, the second 3; the ensemble 3 (its softmax is the higher).
  assert [m['real_accuracy'] for m in center['members']] == pytest.approx([3 / 8, 2 / 8])
  assert [m['real_top5_accuracy'] for m in center['members']] == pytest.approx([6 / 8, 7 / 8])


def test_imagenet_v2_configs_have_a_test_split_only(mock_dir):
  """Each config resolves to its test split, evaluation only; training is refused in one
  line; a config tfds does not have is named with the ones it has."""
  import tensorflow_datasets as tfds
  import input_pipeline
  with tfds.testing.mock_data(as_dataset_fn=mock_examples, data_dir=str(mock_dir)):
    for config in V2_CONFIGS:
      source = input_pipeline.load_source(f'imagenet_v2/{config}', train=False)
      assert (source.train, source.eval.name, source.eval.num_examples, source.num_classes,
              source.real_labels, source.encoded) == (None, 'test', len(V2_LABELS), 1000,
                                                      False, True)
      labels = [int(e['label']) for e in source.eval.dataset.as_numpy_iterator()]
      assert labels == list(V2_LABELS)
    real = input_pipeline.load_source('imagenet2012_real', train=False)
    assert (real.eval.name, real.num_classes, real.real_labels) == ('validation', 1000, True)
    with pytest.raises(input_pipeline.DatasetError,
                       match="'imagenet_v2/matched-frequency' has no training split"):
      input_pipeline.load_source('imagenet_v2/matched-frequency')
    with pytest.raises(input_pipeline.DatasetError, match="has no split 'validation'"):
      input_pipeline.load_source('imagenet_v2/topimages', train=False, eval_split='validation')
  with pytest.raises(input_pipeline.DatasetError,
                     match="'imagenet_v2' has no config 'top-images': use one of "
                     'imagenet_v2/matched-frequency, imagenet_v2/threshold-0.7, '
                     'imagenet_v2/topimages'):
    input_pipeline.tfds_num_classes('imagenet_v2/top-images')
  with pytest.raises(input_pipeline.DatasetError, match='can be named for tfds datasets only'):
    input_pipeline.load_source('digits', train=False, eval_split='test')
  # What evaluate.py checks a network's classes against before anything is prepared.
  assert [input_pipeline.tfds_num_classes(f'imagenet_v2/{config}', str(mock_dir / 'none'))
          for config in V2_CONFIGS] == [1000] * 3
  assert input_pipeline.tfds_num_classes('digits') is None
  assert not (mock_dir / 'none').exists()


@pytest.mark.e2e  # evaluate.py (and train.py) in subprocesses
def test_imagenet_v2_through_evaluate_and_refused_by_train(mock_dir, networks, tmp_path):
  """evaluate.py on a V2 config's test split (its default), the accuracy against its labels;
  train.py refuses the dataset in one line."""
  completed = run_mocked('evaluate', mock_dir, f'--workdir={networks["first"]}',
                         '--dataset=imagenet_v2/threshold-0.7', f'--out={tmp_path / "v2"}')
  assert completed.returncode == 0, completed.stderr[-3000:]
  assert 'ReaL' not in completed.stdout
  (result,) = results(tmp_path / 'v2')
  assert (result['eval_dataset'], result['eval_split'], result['num_examples']) == (
      'imagenet_v2/threshold-0.7', 'test', len(V2_LABELS))
  assert result['eval_accuracy'] == pytest.approx(np.mean(np.array(V2_LABELS) == 7))
  assert result['eval_top5_accuracy'] == pytest.approx(
      np.mean(np.isin(V2_LABELS, [7, 3, 11, 500, 999])))
  assert 'real_accuracy' not in result

  trained = run_mocked('train', mock_dir, '--config=configs/quickstart.py',
                       '--config.dataset=imagenet_v2/matched-frequency',
                       '--config.num_classes=-1', f'--workdir={tmp_path / "train"}')
  assert trained.returncode == 2
  errors = [line for line in trained.stderr.splitlines() if line.startswith('error:')]
  assert len(errors) == 1 and 'has no training split (only test)' in errors[0], trained.stderr


@pytest.mark.e2e  # evaluate.py (and train.py) in subprocesses
def test_a_network_of_other_classes_is_refused_before_any_download(networks, tmp_path):
  """A 10-class network: one line, exit 2, nothing written, and nothing prepared (the data
  is not there and there is no network: the class count is the one tfds declares, known
  before anything is read; imagenet_v2's too, test_imagenet_v2_configs_have_a_test_split_only)."""
  dataset = 'imagenet2012_real'
  before = sorted(os.listdir(networks['ten']))
  completed = run_evaluate(f'--workdir={networks["ten"]}', f'--dataset={dataset}',
                           f'--data_dir={tmp_path / "tfds"}', f'--out={tmp_path / "out"}')
  assert completed.returncode == 2
  errors = [line for line in completed.stderr.splitlines() if line.startswith('error:')]
  assert len(errors) == 1, completed.stderr[-2000:]
  assert f'has 10 classes, {dataset} has 1000' in errors[0]
  assert not (tmp_path / 'out').exists() and sorted(os.listdir(networks['ten'])) == before
  assert not (tmp_path / 'tfds').exists()
