"""train.py as a user runs it: the quickstart recipe, and one-line answers to mistakes."""

import os

import pytest

from tests.helpers import QUICKSTART as QUICK, run_train, write_image_folder
from training import metrics_file


def final_accuracy(workdir) -> float:
  evals = [e for e in metrics_file.read_events(str(workdir / 'metrics.jsonl'))
           if 'eval_accuracy' in e]
  assert evals[-1]['step'] == 1320
  return evals[-1]['eval_accuracy']


@pytest.mark.e2e
@pytest.mark.slow
def test_quickstart_reaches_97_percent_on_the_digits_and_on_them_as_png_files(quickstart_runs):
  """The README's quickstart command: LeNet-5 on the embedded digits; and on the same digits
  written as a folder of grayscale PNG files, which train.py recognises as 1-channel small
  images (no Inception crops, no flips) and trains as well."""
  for _, output in quickstart_runs.values():
    assert 'done: 1320 steps' in output
  folder_banner = quickstart_runs['folder'][1]
  assert '1437 sampled images' not in folder_banner  # a sample, not every file
  assert ': 1 channel, 8×8: small images, mean/std from the training images' in folder_banner
  assert 'preprocessing: train resize(32)|pad_random_crop(32, 4) | eval resize(32) | 1 channel' in (
      folder_banner)
  embedded = final_accuracy(quickstart_runs['embedded'][0])
  folder = final_accuracy(quickstart_runs['folder'][0])
  assert embedded >= 0.97 and folder >= 0.97
  # The same pixels through two sources; 1.5 % is 5 of the 360 test images (measured: 98.6 %
  # and 97.5 % after the train step changed only its floating-point rounding).
  assert abs(embedded - folder) <= 0.015


def write_broken_recipe(tmp_path):
  path = tmp_path / 'broken_recipe.py'
  path.write_text('def get_config(:\n')
  return path


def write_empty_image_folder(tmp_path):
  for split in ('train', 'validation'):
    os.makedirs(tmp_path / 'images' / split / 'cat')
  return tmp_path / 'images'


def write_folder_with_a_corrupt_image(tmp_path):
  write_image_folder(str(tmp_path / 'images'), per_class=2, corrupt=('train/dog/1.jpg',))
  return tmp_path / 'images'


# (arguments, given tmp_path; the one error line's expected content)
BAD_INPUTS = {
    'misspelt field': (lambda t: [QUICK, '--config.batch_sise=32'],
                       "unknown config field 'batch_sise': did you mean 'batch_size'?"),
    'unknown model': (lambda t: [QUICK, '--config.model=resnet99'],
                      "config.model='resnet99' is not allowed: use a registered model (did you "
                      'mean resnet56, resnet50'),
    'bad choice': (lambda t: [QUICK, '--config.lr_schedule=linear'],
                   "config.lr_schedule='linear' is not allowed: use one of cosine, step, "
                   'exponential, polynomial, constant, plateau'),
    'batch not divisible': (lambda t: [QUICK, '--config.batch_size=33'],
                            'config.batch_size=33 does not divide over 2 devices: use a '
                            'multiple of 2'),
    'not a number': (lambda t: [QUICK, '--config.batch_size=many'],
                     'flag --config.batch_size=many'),
    'missing recipe': (lambda t: ['--config=configs/no_such_recipe.py'],
                       'cannot load the --config recipe file'),
    'recipe syntax error': (lambda t: [f'--config={write_broken_recipe(t)}'],
                            'cannot load the --config recipe file (SyntaxError'),
    'unknown dataset': (lambda t: [QUICK, '--config.dataset=no_such_dataset'],
                        "unknown dataset 'no_such_dataset'"),
    'missing ILSVRC tars': (lambda t: [QUICK, '--config.dataset=imagenet2012',
                                       f'--config.data_dir={t / "tfds"}',
                                       f'--config.manual_dir={t / "tars"}'],
                            'ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar not found: put'),
    'empty image folder': (lambda t: [QUICK, f'--config.dataset=image_folder:'
                                             f'{write_empty_image_folder(t)}'],
                           'holds no image files'),
    'corrupt image, fail chosen': (
        lambda t: [QUICK, f'--config.dataset=image_folder:{write_folder_with_a_corrupt_image(t)}',
                   '--config.corrupt_images=fail'],
        '1 image files cannot be decoded, e.g.'),
    'image too small for the model': (
        lambda t: [QUICK, '--config.model=googlenet', '--config.image_size=32'],
        'config.image_size=32 is too small for googlenet'),
    'unknown preprocessing op': (
        lambda t: [QUICK, '--config.train_preprocess=pad_random_crop(32, 4)|flip_rl'],
        "train_preprocess: unknown preprocessing op 'flip_rl' (did you mean flip_lr?)"),
    'crop larger than the image': (
        lambda t: [QUICK, '--config.train_preprocess=random_crop(40)'],
        'random_crop takes a 40×40 crop from an image whose shorter side is 8'),
    'preprocessing to another size': (
        lambda t: [QUICK, '--config.eval_preprocess=resize(28)'],
        "eval_preprocess 'resize(28)' makes images 28×28, not image_size 32×32"),
    'field of another optimiser': (
        lambda t: [QUICK, '--config.rmsprop_epsilon=0.001'],
        "config.rmsprop_epsilon=0.001 is not allowed: use a positive number with "
        "optimizer='rmsprop'"),
    'plateau without evaluations': (
        lambda t: [QUICK, '--config.lr_schedule=plateau', '--config.eval_every_epochs=30'],
        'lr_schedule=plateau divides the rate after 2 evaluations without improvement, but '
        'this run evaluates'),
    'bad on_nonfinite': (lambda t: [QUICK, '--config.on_nonfinite=ignore'],
                         "config.on_nonfinite='ignore' is not allowed: use 'stop' or 'skip'"),
}


@pytest.mark.e2e
@pytest.mark.parametrize('case', sorted(BAD_INPUTS))
def test_bad_input_gets_one_line_and_a_nonzero_exit(tmp_path, case):
  make_args, message = BAD_INPUTS[case]
  result = run_train(*make_args(tmp_path), workdir=tmp_path / 'run')
  assert result.returncode == 2
  errors = [line for line in result.stderr.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
  assert 'Traceback' not in result.stderr
  assert not (tmp_path / 'run' / 'checkpoints').exists()


@pytest.mark.e2e
@pytest.mark.parametrize('workdir', ['/proc/no_such_workdir', 'a_file/run'])
def test_a_workdir_that_cannot_be_written_is_refused_in_one_line(tmp_path, workdir):
  (tmp_path / 'a_file').write_text('not a folder')
  path = workdir if workdir.startswith('/') else tmp_path / workdir
  result = run_train(QUICK, workdir=path)
  assert result.returncode == 2
  errors = [line for line in result.stderr.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1 and f'cannot write to --workdir={path}' in errors[0], result.stderr
  assert 'Traceback' not in result.stderr


def snapshot(folder):
  """Every file under `folder` with its size and modification time, but the workdir's lock
  file, which each start takes and signs (training/workdir.py)."""
  return {os.path.relpath(os.path.join(root, name), folder):
          (os.path.getsize(os.path.join(root, name)), os.path.getmtime(os.path.join(root, name)))
          for root, _, names in os.walk(folder) for name in names if name != 'train.lock'}


@pytest.mark.e2e
@pytest.mark.slow
def test_refused_runs_leave_an_existing_workdir_as_it_was(tmp_path):
  workdir = tmp_path / 'run'
  first = run_train(QUICK, '--config.num_train_steps=4', '--config.log_every_steps=2',
                    workdir=workdir)
  assert first.returncode == 0, first.stderr[-2000:]
  before = snapshot(workdir)
  assert any(path.startswith('checkpoints') for path in before) and 'metrics.jsonl' in before
  refusals = {
      'another model': (['--config.model=lenet5_paper'],
                        'holds a checkpoint with model=\'lenet5\', this run has '
                        "model='lenet5_paper': use another --workdir to start fresh"),
      'another image size': (['--config.image_size=36'], 'holds a checkpoint with image_size=32'),
      'indivisible batch': (['--config.batch_size=33'], 'does not divide over 2 devices'),
      'image too small': (['--config.model=googlenet', '--config.image_size=32'],
                          'too small for googlenet'),
  }
  for name, (args, message) in refusals.items():
    result = run_train(QUICK, '--config.num_train_steps=8', *args, workdir=workdir)
    assert result.returncode == 2, name
    assert message in result.stderr.strip().splitlines()[-1], (name, result.stderr[-1000:])
    assert snapshot(workdir) == before, name
