"""Every recipe of configs/ (found by glob: a new one is covered without listing it) passes
train.py's checks, and its own train_preprocess and eval_preprocess strings run on real
images: photographs for the ImageNet recipes, the embedded 8×8 digits for the small-image
ones (CIFAR-10 and the quickstart), one batch each of uint8 image_size² images."""


import numpy as np
import pytest

import input_pipeline
from configs import default
from tests.helpers import RECIPES, load_recipe, run_train, write_image_folder
from training import configuration

BATCH = 4


def small_images(config) -> bool:
  """CIFAR-like recipes (and the quickstart) run on the digits; the others on photographs."""
  return config.dataset in input_pipeline.SMALL_IMAGE_DATASETS


@pytest.fixture(scope='module')
def photographs(tmp_path_factory):
  """An image folder of real photographs (2 classes × 4 per split), loaded once."""
  root = tmp_path_factory.mktemp('photos')
  write_image_folder(str(root), per_class=4)
  return input_pipeline.load_source(f'image_folder:{root}')


@pytest.fixture(scope='module')
def digits():
  return input_pipeline.load_source('digits')


def test_the_glob_finds_the_recipes():
  assert {'alexnet', 'resnet50', 'resnet50_goyal', 'resnet20_cifar10', 'quickstart'} <= set(
      RECIPES)


@pytest.mark.parametrize('name', RECIPES)
def test_recipe_passes_the_checks(name):
  config = load_recipe(name)
  configuration.validate_config(config, default.FIELDS)
  if config.lr_schedule == 'plateau':  # train.py refuses a run too short to ever divide
    assert config.num_epochs / config.eval_every_epochs > config.lr_plateau_patience


@pytest.mark.parametrize('name', RECIPES)
def test_recipe_preprocessing_runs_on_real_images(name, request):
  config = load_recipe(name)
  source = request.getfixturevalue('digits' if small_images(config) else 'photographs')
  size, eval_size = config.image_size, config.eval_image_size or config.image_size
  processing = input_pipeline.create_preprocessing(source, size, config.train_preprocess,
                                                   config.eval_preprocess, eval_size)
  if config.train_preprocess:  # the recipe's own strings, not the source's defaults
    assert str(processing.train) == config.train_preprocess
    assert str(processing.eval) == config.eval_preprocess
  train = next(input_pipeline.train_batches(source, BATCH, size, seed=0,
                                            preprocess=config.train_preprocess))
  evaluation = next(input_pipeline.eval_batches(source, BATCH, eval_size,
                                                config.eval_preprocess))
  for batch, side in ((train, size), (evaluation, eval_size)):
    assert batch['image'].shape == (BATCH, side, side, processing.channels)
    assert batch['image'].dtype == np.uint8
    assert batch['image'].max() > 0  # pixels, not padding


# The paper's rate at the paper's batch (learning_rate is per 256 images), optimiser and
# schedule: the numbers each recipe's docstring cites.
PAPER = {
    'alexnet': (0.01, 128, 'sgd', 'plateau'),
    'zfnet': (0.01, 128, 'sgd', 'plateau'),
    'vgg16': (0.01, 256, 'sgd', 'plateau'),
    'googlenet': (0.01, 32, 'sgd', 'exponential'),  # the BVLC solver's batch of 32
    'inception_v3': (0.045, 1600, 'rmsprop', 'exponential'),
    'inception_v4': (0.045, 640, 'rmsprop', 'exponential'),
    'resnet50': (0.1, 256, 'sgd', 'plateau'),
    'resnet50_goyal': (0.4, 1024, 'sgd', 'step'),
    'resnet20_cifar10': (0.1, 128, 'sgd', 'step'),
    'preact_resnet164_cifar10': (0.1, 128, 'sgd', 'step'),
    'resnet110_stochastic_depth_cifar10': (0.1, 128, 'sgd', 'step'),
    'densenet121': (0.1, 256, 'sgd', 'step'),
    'densenet_bc100_k12_cifar10': (0.1, 64, 'sgd', 'step'),
    'fractalnet20_cifar10': (0.02, 100, 'sgd', 'step'),
    'mobilenet_v1': (0.045, 1536, 'rmsprop', 'exponential'),
    'mobilenet_v2': (0.045, 1536, 'rmsprop', 'exponential'),
    'mobilenet_v3_large': (0.1, 4096, 'rmsprop', 'exponential'),
    'nasnet_a_mobile': (0.04 * 50, 1600, 'rmsprop', 'exponential'),  # 50 replicas × 32
    'nasnet_a_large': (0.015 * 100, 1600, 'rmsprop', 'exponential'),  # 100 replicas × 16
    'se_resnet50': (0.6, 1024, 'sgd', 'step'),
    'wrn28_10_cifar10': (0.1, 128, 'sgd', 'step'),
    'wide_resnet50_2': (0.1, 256, 'sgd', 'step'),
    'resnext50_32x4d': (0.1, 256, 'sgd', 'step'),
    'resnet50_bag_of_tricks': (0.4, 1024, 'sgd', 'cosine'),
    'resnet50_bag_of_tricks_distill': (0.4, 1024, 'sgd', 'cosine'),
    'resnet50_rsb_a1': (5e-3, 2048, 'lamb', 'cosine'),
    'resnet50_rsb_a2': (5e-3, 2048, 'lamb', 'cosine'),
    'resnet50_rsb_a3': (8e-3, 2048, 'lamb', 'cosine'),
    'resnet50_lars': (31.2, 32768, 'lars', 'polynomial'),
}


@pytest.mark.parametrize('name', sorted(PAPER))
def test_recipe_trains_at_its_papers_rate(name):
  rate, batch, optimizer, schedule = PAPER[name]
  config = load_recipe(name)
  # learning_rate is per lr_reference_batch images (256, or a recipe's absolute rate at its
  # own batch): the paper's rate r at its batch B is r × lr_reference_batch / B.
  assert config.learning_rate == pytest.approx(rate * config.lr_reference_batch / batch)
  if name != 'googlenet':  # GoogLeNet keeps batch 256, the rate scaled from Caffe's 32
    assert config.batch_size == batch
  assert (config.optimizer, config.lr_schedule) == (optimizer, schedule)


@pytest.mark.e2e
@pytest.mark.slow
def test_cifar_recipe_trains_with_its_preprocessing_on_the_digits(tmp_path):
  """train.py runs the CIFAR-10 recipe's own augmentation on 8×8 digits and says so."""
  result = run_train('--config=configs/resnet20_cifar10.py', '--config.dataset=digits',
                     '--config.num_train_steps=3', '--config.batch_size=8',
                     '--config.log_every_steps=1', '--config.eval_every_epochs=100',
                     workdir=tmp_path)
  assert result.returncode == 0, result.stderr[-2000:]
  banner = [line for line in result.stdout.splitlines() if line.startswith('preprocessing:')]
  assert banner and banner[0].startswith(
      'preprocessing: train resize(32)|pad_random_crop(32, 4)|flip_lr | eval resize(32)'), (
          result.stdout[-2000:])


# The recipes of today's procedures, each started through train.py on the digits with
# their optimiser, loss, mixing, repeated augmentation, accumulation and schedule; the
# network is resnet20 at 32 px (the recipes' own preprocessing strings run on photographs
# above), with the CIFAR augmentation plus the recipe's RandAugment where it has one.
MODERN = {
    'resnet50_rsb_a1': ['--config.train_preprocess=resize(32)|pad_random_crop(32, 4)|'
                        'rand_augment(2, 7, 0.5)'],
    'resnet50_rsb_a3': ['--config.train_preprocess=resize(32)|pad_random_crop(32, 4)|'
                        'rand_augment(2, 6, 0.5)', '--config.eval_image_size=40',
                        '--config.eval_preprocess=resize(40)'],
    # Two micro-batches rather than the recipe's 8: CPUs unroll them (training/steps.py).
    'resnet50_lars': ['--config.train_preprocess=', '--config.grad_accum_steps=2'],
    'resnet50_bag_of_tricks_distill': ['--config.train_preprocess='],
}


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize('name', sorted(MODERN))
def test_todays_recipes_start_through_train_py(name, tmp_path, quickstart_runs):
  """A few steps each; the distillation recipe's teacher is the quickstart's LeNet-5."""
  teacher = ([f'--config.teacher={quickstart_runs["embedded"][0]}']
             if load_recipe(name).teacher else [])
  result = run_train(f'--config=configs/{name}.py', '--config.dataset=digits',
                     '--config.num_classes=-1', '--config.model=resnet20',
                     '--config.image_size=32', '--config.eval_preprocess=',
                     '--config.batch_size=16', '--config.num_train_steps=3',
                     '--config.log_every_steps=1', '--config.half_precision=False',
                     *MODERN[name], *teacher, workdir=tmp_path)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'step 3/3' in result.stdout and 'eval at step 3' in result.stdout, result.stdout
