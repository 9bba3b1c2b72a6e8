"""train.py as a user runs it: the quickstart recipe, and one-line answers to mistakes."""

import os

import pytest

import input_pipeline
import preprocessing
from tests.helpers import QUICKSTART as QUICK, load_recipe, run_train, write_image_folder
import train
from training import metrics_file
from training.configuration import ConfigError


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


# (arguments, given tmp_path; the one error line's expected content): one case for each
# place where train.py refuses its input, as a user meets it. The other refusals of those
# places are IN_PROCESS below: the same functions, without a Python and TensorFlow start.
BAD_INPUTS = {
    # parse_flags: an unknown field, a value absl cannot parse, a recipe file that is missing
    # or does not compile.
    'misspelt field': (lambda t: [QUICK, '--config.batch_sise=32'],
                       "unknown config field 'batch_sise': did you mean 'batch_size'?"),
    'not a number': (lambda t: [QUICK, '--config.batch_size=many'],
                     'flag --config.batch_size=many'),
    'missing recipe': (lambda t: ['--config=configs/no_such_recipe.py'],
                       'cannot load the --config recipe file'),
    'recipe syntax error': (lambda t: [f'--config={write_broken_recipe(t)}'],
                            'cannot load the --config recipe file (SyntaxError'),
    # configuration.validate_config, before the workdir is touched.
    'bad choice': (lambda t: [QUICK, '--config.lr_schedule=linear'],
                   "config.lr_schedule='linear' is not allowed: use one of cosine, step, "
                   'exponential, polynomial, constant, plateau'),
    # count_steps, the dataset's size against the batch.
    'batch not divisible': (lambda t: [QUICK, '--config.batch_size=33'],
                            'config.batch_size=33 does not divide over 2 devices: use a '
                            'multiple of 2'),
    # input_pipeline.load_source, and train.py's corrupt-image policy after it.
    'unknown dataset': (lambda t: [QUICK, '--config.dataset=no_such_dataset'],
                        "unknown dataset 'no_such_dataset'"),
    'corrupt image, fail chosen': (
        lambda t: [QUICK, f'--config.dataset=image_folder:{write_folder_with_a_corrupt_image(t)}',
                   '--config.corrupt_images=fail'],
        '1 image files cannot be decoded, e.g.'),
    # The preprocessing strings.
    'unknown preprocessing op': (
        lambda t: [QUICK, '--config.train_preprocess=pad_random_crop(32, 4)|flip_rl'],
        "train_preprocess: unknown preprocessing op 'flip_rl' (did you mean flip_lr?)"),
    # steps.check_input_size, once the network is built.
    'image too small for the model': (
        lambda t: [QUICK, '--config.model=googlenet', '--config.image_size=32'],
        'config.image_size=32 is too small for googlenet'),
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
  if 'is not allowed' in message:  # a field's own rule: refused before the workdir is touched
    assert not (tmp_path / 'run').exists()


# The quickstart recipe's fields changed (given tmp_path), and the message of the error
# train.train_and_evaluate raises: train.py's main() prints exactly that error, in one line,
# for each of these classes (the subprocess cases above, one per place).
IN_PROCESS = {
    # configuration.validate_config, as 'bad choice'.
    'unknown model': (lambda t: {'model': 'resnet99'},
                      "config.model='resnet99' is not allowed: use a registered model (did you "
                      'mean resnet56, resnet50'),
    'field of another optimiser': (lambda t: {'rmsprop_epsilon': 0.001},
                                   "config.rmsprop_epsilon=0.001 is not allowed: use a positive "
                                   "number with optimizer='rmsprop'"),
    'bad on_nonfinite': (lambda t: {'on_nonfinite': 'ignore'},
                         "config.on_nonfinite='ignore' is not allowed: use 'stop' or 'skip'"),
    # count_steps, as 'batch not divisible'.
    'plateau without evaluations': (
        lambda t: {'lr_schedule': 'plateau', 'eval_every_epochs': 30.0},
        'lr_schedule=plateau divides the rate after 2 evaluations without improvement, but '
        'this run evaluates'),
    # input_pipeline.load_source, as 'unknown dataset'.
    'missing ILSVRC tars': (lambda t: {'dataset': 'imagenet2012', 'data_dir': str(t / 'tfds'),
                                       'manual_dir': str(t / 'tars')},
                            'ILSVRC2012_img_train.tar, ILSVRC2012_img_val.tar not found: put'),
    'empty image folder': (lambda t: {'dataset': f'image_folder:{write_empty_image_folder(t)}'},
                           'holds no image files'),
    # The preprocessing strings, as 'unknown preprocessing op'.
    'crop larger than the image': (lambda t: {'train_preprocess': 'random_crop(40)'},
                                   'random_crop takes a 40×40 crop from an image whose shorter '
                                   'side is 8'),
    'preprocessing to another size': (lambda t: {'eval_preprocess': 'resize(28)'},
                                      "eval_preprocess 'resize(28)' makes images 28×28, not "
                                      'image_size 32×32'),
}


@pytest.mark.parametrize('case', sorted(IN_PROCESS))
def test_bad_input_is_refused_by_the_function_train_py_runs(tmp_path, case):
  make_fields, message = IN_PROCESS[case]
  config = load_recipe('quickstart')
  config.update(make_fields(tmp_path))
  with pytest.raises((ConfigError, input_pipeline.DatasetError,
                      preprocessing.PreprocessError)) as caught:
    train.train_and_evaluate(config, str(tmp_path / 'run'))
  assert message in str(caught.value) and '\n' not in str(caught.value)
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
