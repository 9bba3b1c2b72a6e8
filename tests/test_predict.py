"""predict.py as a user runs it: the digits as PNG files score what the run's evaluation
scored; photographs through a converted ImageNet network get WordNet names and the same
top-5 as trained.load's TensorFlow-free predict; unreadable files are reported and left
out; mistakes get one line and write nothing."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
import tensorflow as tf

import trained
from models.released import SOURCES
from tests.helpers import REPO, seeded_variables
from tools import sample_ilsvrc
from trained import convert
from training import workdir as run_folder

pytestmark = pytest.mark.e2e


def run_predict(*args):
  return subprocess.run([sys.executable, 'predict.py', *args], cwd=REPO, capture_output=True,
                        text=True, timeout=600)


def test_digits_as_png_files_score_the_runs_evaluation(quickstart_runs, tmp_path):
  """The run trained on the digits as PNG files, predicting its own validation folder (the
  images its last evaluation scored): the same top-1, every file classified, a progress
  line for the folder, and nothing written but --out."""
  workdir, _ = quickstart_runs['folder']
  images = workdir.parent / 'digits_png' / 'validation'
  out = tmp_path / 'predictions.csv'
  completed = run_predict(f'--workdir={workdir}', str(images), f'--out={out}', '--top_k=3',
                          '--batch_size=50')
  assert completed.returncode == 0, completed.stderr[-2000:]
  rows = list(csv.DictReader(io.StringIO(out.read_text())))
  assert len(rows) == 360 and len(completed.stdout.splitlines()) == 360
  right = sum(os.path.basename(os.path.dirname(row['path'])) == row['name_1'] for row in rows)
  final = run_folder.read_run_status(str(workdir))['last_eval']
  assert right / len(rows) == pytest.approx(final['eval_accuracy'], abs=1e-6)
  assert '360/360 images' in completed.stderr
  assert os.listdir(tmp_path) == ['predictions.csv']


@pytest.fixture(scope='module')
def converted_network(tmp_path_factory):
  """A converted-folder checkpoint of MobileNet v3 small with seeded weights: an ImageNet
  network of 1000 classes, without downloading anything."""
  out = tmp_path_factory.mktemp('mobilenet_v3_small')
  source = SOURCES['mobilenet_v3_small']
  variables = seeded_variables(source.model, 224)
  variables['params']['classifier']['kernel'] *= 0.05  # logits of a few units: a spread top-5
  convert.write_checkpoint(str(out), source, variables, 1000, 'seeded', 256, 224)
  return out


def test_photographs_get_names_and_the_same_top5_as_load(converted_network, tmp_path):
  photos = sample_ilsvrc.sample_photographs(3)
  for index, photo in enumerate(photos):
    (tmp_path / f'{index}.jpg').write_bytes(photo)
  (tmp_path / 'broken.jpg').write_bytes(photos[0][:200])  # a truncated file
  out = tmp_path / 'predictions.jsonl'
  completed = run_predict(f'--workdir={converted_network}', str(tmp_path / '*.jpg'),
                          f'--out={out}')
  assert completed.returncode == 1, completed.stderr[-2000:]
  assert f'unreadable: {tmp_path / "broken.jpg"}' in completed.stderr
  assert '3 of 4 images classified' in completed.stderr
  lines = [json.loads(line) for line in out.read_text().splitlines()]
  assert [os.path.basename(line['path']) for line in lines] == ['0.jpg', '1.jpg', '2.jpg']

  net = trained.load(str(converted_network))
  # Decoded by TensorFlow as predict.py does (PIL's JPEG decoder may differ by a level).
  decoded = [tf.io.decode_jpeg(photo, channels=3).numpy() for photo in photos]
  probabilities = net.predict(decoded)
  lemmas = dict(trained.class_names.imagenet_classes())
  for line, expected in zip(lines, probabilities):
    top = line['top_k']
    assert len(top) == 5 and all(t['name'] == lemmas[trained.class_names.imagenet_synsets()[
        t['index']]] for t in top)
    assert [t['index'] for t in top] == list(np.argsort(-expected, kind='stable')[:5])
    np.testing.assert_allclose([t['probability'] for t in top],
                               np.sort(expected)[::-1][:5], atol=0.01)


@pytest.mark.parametrize('arguments, message', [
    (['--workdir={tmp}/nothing', '{tmp}'], 'does not exist'),
    (['--workdir={tmp}', '{tmp}'], 'no checkpoint in'),
    (['--workdir={tmp}', '{tmp}/images', '--out={tmp}/out.txt'], 'name a .csv or a .jsonl'),
    (['--workdir={tmp}', '{tmp}/nowhere/*.png'], 'no image file in'),
])
def test_mistakes_get_one_line_and_write_nothing(tmp_path, arguments, message):
  (tmp_path / 'images').mkdir()
  Image.new('L', (8, 8)).save(tmp_path / 'images' / 'one.png')
  before = sorted(str(p) for p in tmp_path.rglob('*'))
  completed = run_predict(*[a.format(tmp=tmp_path) for a in arguments])
  assert completed.returncode == 2
  errors = [line for line in completed.stderr.splitlines() if line.startswith('error:')]
  assert len(errors) == 1 and message in errors[0], completed.stderr[-2000:]
  assert sorted(str(p) for p in tmp_path.rglob('*')) == before
