"""trained.load: a run, converted or checkpoint folder as a usable network; its evaluation
view restated without TensorFlow gives the input pipeline's pixels; ImageNet's names."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_sample_images

import input_pipeline
import preprocessing
import trained
from trained import class_names, eval_view
from training import workdir as run_folder

VIEWS = ['resize_short(256)|center_crop(224)', 'center_crop(0.875)|resize(224)', 'resize(32)',
         'resize_short(342)|center_crop(299)', 'resize(64, 48)',
         'resize_short(100)|center_crop(90)|rgb_to_grayscale']


@pytest.mark.parametrize('view', VIEWS)
def test_eval_view_gives_the_input_pipelines_pixels(view):
  """The same uint8 images as preprocessing.py's ops on the sample photographs (whole, a
  crop, one channel): within one level on at most 0.1 % of pixels (float32 rounding of
  the resampling weights; measured 1 level on 0.011 % at most)."""
  photos = load_sample_images().images
  images = [photos[0], photos[1][100:300, 50:500], photos[0][..., :1]]
  pipeline = preprocessing.parse(view)
  to_gray = 'rgb_to_grayscale' in view
  for image in images:
    if to_gray and image.shape[-1] == 1:
      continue
    expected = pipeline(tf.constant(image), tf.constant([0, 0], tf.int64), image.shape[-1],
                        False).numpy()
    got = eval_view.apply(view, image, 1 if to_gray else image.shape[-1])
    assert got.shape == expected.shape and got.dtype == np.uint8
    difference = np.abs(got.astype(int) - expected.astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() <= 1e-3, view


def test_eval_view_refuses_training_ops():
  with pytest.raises(eval_view.EvalViewError, match='predict.py'):
    eval_view.parse('random_crop(224)')


def test_imagenet_names_are_wordnet_lemmas_in_the_classifiers_order():
  rows = class_names.imagenet_classes()
  assert len(rows) == 1000 and rows[0] == ('n01440764', 'tench, Tinca tinca')
  assert rows[281] == ('n02123045', 'tabby, tabby cat')
  assert [synset for synset, _ in rows] == sorted(synset for synset, _ in rows)
  assert class_names.readable(['n02123045', 'cat']) == ('tabby, tabby cat', 'cat')


def test_load_gives_the_runs_network_and_its_evaluation(quickstart_runs):
  """The quickstart run as a value: what it recorded, and its predictions on the input
  pipeline's eval batches score the run's last evaluation exactly; predict() from the 8×8
  digits themselves (TensorFlow-free view) agrees on all but a few images."""
  workdir, _ = quickstart_runs['embedded']
  net = trained.load(str(workdir))
  assert (net.model_name, net.num_classes, net.image_size, net.channels) == ('lenet5', 10, 32, 1)
  assert net.eval_preprocess == 'resize(32)' and not net.ema
  assert net.class_names == tuple(str(digit) for digit in range(10))
  assert net.checkpoint.endswith('checkpoints/1320')
  final = run_folder.read_run_status(str(workdir))['last_eval']

  source = input_pipeline.load_digits_source()
  images, labels = [], []
  for batch in input_pipeline.eval_batches(source, 64, 32, net.eval_preprocess):
    real = batch['mask'] > 0
    images.append(batch['image'][real])
    labels.append(batch['label'][real])
  images, labels = np.concatenate(images), np.concatenate(labels)
  predicted = net.logits(images).argmax(axis=-1)
  assert np.mean(predicted == labels) == pytest.approx(final['eval_accuracy'], abs=1e-6)

  raw = [example['image'] for example in source.eval.dataset.as_numpy_iterator()]
  probabilities = net.predict(raw)
  assert probabilities.shape == (360, 10)
  np.testing.assert_allclose(probabilities.sum(axis=-1), 1, atol=1e-5)
  assert np.mean(probabilities.argmax(axis=-1) == predicted) >= 0.99
  top = net.top_k(probabilities[0], 3)
  assert [name for name, _ in top][0] == str(predicted[0]) and len(top) == 3
  description = net.description()
  assert json.loads(json.dumps(description))['eval_preprocess'] == 'resize(32)'


def test_load_refuses_in_one_line(quickstart_runs, tmp_path):
  workdir, _ = quickstart_runs['embedded']
  with pytest.raises(trained.LoadError, match='does not exist'):
    trained.load(str(tmp_path / 'nothing'))
  (tmp_path / 'empty').mkdir()
  with pytest.raises(trained.LoadError, match='no checkpoint'):
    trained.load(str(tmp_path / 'empty'))
  with pytest.raises(trained.LoadError, match='keeps no moving averages'):
    trained.load(str(workdir), ema=True)
  with pytest.raises(trained.LoadError, match='has no checkpoint of step 7'):
    trained.load(str(workdir), step=7)
  # A crafted run description: names that are not one per class.
  copy = tmp_path / 'copy'
  shutil.copytree(workdir / 'checkpoints' / '1320', copy / 'checkpoints' / '1320')
  run_json = copy / 'checkpoints' / '1320' / 'run' / 'metadata'
  info = json.loads(run_json.read_text())
  info['class_names'] = ['one', 'two']
  run_json.write_text(json.dumps(info))
  with pytest.raises(trained.LoadError, match='class_names is not one name per class'):
    trained.load(str(copy))
