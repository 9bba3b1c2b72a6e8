"""evaluate.py as a user runs it: the quickstart run's checkpoint under every protocol, any
batch size and device count, an ensemble of seeds, ILSVRC-format photographs, and one-line
answers to mistakes that write nothing.

The quickstart run (conftest.py) is trained once and shared: tests write only into copies
of it or into their own folders."""

import json
import os
import shutil

import pytest

from tests.helpers import QUICKSTART, run_evaluate, run_train, start_train, write_image_folder
from training import workdir as run_folder

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def results(folder) -> list[dict]:
  return json.loads((folder / 'eval.json').read_text())['results']


def evaluate_ok(*args, devices=None) -> str:
  completed = run_evaluate(*args, devices=devices)
  assert completed.returncode == 0, completed.stderr[-3000:]
  return completed.stdout


def test_evaluate_reproduces_the_runs_final_top1_for_any_batch_and_device_count(
    quickstart_runs, tmp_path):
  """The quickstart run's last evaluation (train.py, 2 devices, batch 32) is what
  evaluate.py's `center` protocol measures on its newest checkpoint, example for example,
  whatever the eval batch size and device count: one implementation."""
  workdir, _ = quickstart_runs['embedded']
  final = run_folder.read_run_status(str(workdir))['last_eval']
  # Neither the run's device count nor its batch: one image a step on one device, and
  # batches of 7 on 3 devices, padded to 9 with masked examples (each evaluate.py start
  # takes about 13 s on two cores, so two of them rather than more).
  for devices, batch_size in ((1, 1), (3, 7)):
    out = tmp_path / f'{devices}_{batch_size}'
    evaluate_ok(f'--workdir={workdir}', f'--batch_size={batch_size}', f'--out={out}',
                devices=devices)
    (result,) = results(out)
    assert result['eval_accuracy'] == final['eval_accuracy'], (devices, batch_size)
    assert result['eval_loss'] == pytest.approx(final['eval_loss'], rel=1e-4)
    assert (result['num_examples'], result['checkpoint_step'], result['devices']) == (
        360, 1320, devices)


def test_the_papers_protocols_run_on_the_quickstart_checkpoint(quickstart_runs, tmp_path):
  """ten_crop, multi_scale and googlenet_144 through the CLI, written into the run folder (a
  copy); digits are not mirrored (a mirrored 2 is no 2) unless asked; --best picks the
  checkpoint with the best eval accuracy of those kept."""
  workdir = tmp_path / 'run'
  shutil.copytree(quickstart_runs['embedded'][0], workdir)
  output = evaluate_ok(f'--workdir={workdir}', '--best',
                       '--protocol=ten_crop,multi_scale,googlenet_144,ten_crop(mirror=True)')
  got = {r['protocol']: r for r in results(workdir)}
  assert {name: r['views_per_image'] for name, r in got.items()} == {
      'ten_crop(32, mirror=False)': 5, 'multi_scale(32, 48, 64, mirror=False)': 75,
      'googlenet_144(32, 36, 40, 44, mirror=False)': 72, 'ten_crop(32)': 10}
  for name, result in got.items():
    assert result['num_examples'] == 360 and result['eval_accuracy'] > 0.8, name
    assert result['eval_error'] == pytest.approx(1 - result['eval_accuracy'])
    assert name in output
  kept = sorted(int(step) for step in os.listdir(workdir / 'checkpoints') if step.isdigit())
  evals = {}
  for line in (workdir / 'metrics.jsonl').read_text().splitlines():
    event = json.loads(line)
    if 'eval_accuracy' in event and event['step'] in kept:
      evals[event['step']] = event['eval_accuracy']
  best = max(evals.values())
  assert evals[got['ten_crop(32)']['checkpoint_step']] == best
  markdown = (workdir / 'eval.md').read_text()
  assert '| ten_crop(32, mirror=False) | 5 | lenet5 |' in markdown


def test_an_ensemble_of_three_seeds_averages_their_softmax(quickstart_runs, tmp_path):
  """Two more seeds of the quickstart (shortened to 2 epochs) and the run itself: each
  member's numbers are its own run's, and the ensemble's loss is at most the members' mean
  (the log of an average of probabilities is at least the average of their logs)."""
  workdir, _ = quickstart_runs['embedded']
  seeds = [tmp_path / f'seed{seed}' for seed in (1, 2)]
  processes = [start_train(QUICKSTART, f'--config.seed={i + 1}', '--config.num_epochs=2',
                           workdir=seed) for i, seed in enumerate(seeds)]
  for process in processes:
    assert process.wait(timeout=600) == 0, process.stderr.read()[-2000:]
  members = [workdir] + seeds
  out = tmp_path / 'ensemble'
  output = evaluate_ok(f'--ensemble={",".join(map(str, members))}', f'--out={out}',
                       '--protocol=center,ten_crop')
  assert 'ensemble of 3' in output
  center, ten_crop = results(out)
  assert (center['views_per_image'], ten_crop['views_per_image']) == (1, 5)
  for result in (center, ten_crop):
    assert [m['checkpoint'] for m in result['members']] == [
        str(member / 'checkpoints') for member in members]
    mean_loss = sum(m['eval_loss'] for m in result['members']) / 3
    assert result['eval_loss'] <= mean_loss
  for member, result in zip(members, center['members']):
    final = run_folder.read_run_status(str(member))['last_eval']
    assert result['eval_accuracy'] == final['eval_accuracy']


@pytest.fixture(scope='module')
def ilsvrc_run(tmp_path_factory, imagenet_data_dir, ilsvrc_manual_dir):
  """LeNet-5 trained for a few steps on the ILSVRC-format sample of real photographs."""
  workdir = tmp_path_factory.mktemp('ilsvrc_run')
  completed = run_train(QUICKSTART, '--config.dataset=imagenet2012',
                        f'--config.data_dir={imagenet_data_dir}',
                        f'--config.manual_dir={ilsvrc_manual_dir}', '--config.num_classes=-1',
                        '--config.train_preprocess=', '--config.eval_preprocess=',
                        '--config.batch_size=8', '--config.num_train_steps=3',
                        workdir=workdir)
  assert completed.returncode == 0, completed.stderr[-2000:]
  return workdir


def test_the_protocols_run_on_ilsvrc_photographs(ilsvrc_run):
  """Photographs: resized by their shorter side, corners of the rectangle, GoogLeNet's three
  squares, mirror images included (ImageNet classes keep their mirror images)."""
  evaluate_ok(f'--workdir={ilsvrc_run}', '--protocol=center,ten_crop,multi_scale,googlenet_144')
  got = {r['protocol']: r['views_per_image'] for r in results(ilsvrc_run)}
  assert got == {'center': 1, 'ten_crop(37)': 10, 'multi_scale(37, 55, 73)': 150,
                 'googlenet_144(37, 41, 46, 50)': 144}
  assert all(r['num_examples'] == 14 for r in results(ilsvrc_run))


def write_two_class_folder(tmp_path, _):
  write_image_folder(str(tmp_path / 'images'), per_class=2)
  return tmp_path / 'images'


# (arguments given the quickstart workdir, tmp_path and the ILSVRC run; the error's content)
BAD_INPUTS = {
    'no checkpoint': (lambda w, t, i: [f'--workdir={t}'], 'no checkpoint in '),
    'missing step': (lambda w, t, i: [f'--workdir={w}', '--step=7'],
                     'has no checkpoint of step 7: it has steps'),
    'another network': (lambda w, t, i: [f'--workdir={w}', '--config=configs/resnet20_cifar10.py'],
                        'holds a lenet5 network, --config names resnet20'),
    'another class count': (
        lambda w, t, i: [f'--workdir={w}', QUICKSTART,
                         f'--config.dataset=image_folder:{write_two_class_folder(t, w)}'],
        'has 10 classes, image_folder:'),
    'ensemble of other classes': (lambda w, t, i: [f'--ensemble={w},{i}'],
                                  'has num_classes=1000, the ensemble\'s first member '
                                  'num_classes=10'),
    'ensemble of another input size': (
        lambda w, t, i: [f'--ensemble={w},{w}', QUICKSTART, '--config.image_size=36'],
        'has image_size=32, the evaluation image_size=36'),
    # A protocol evaluate.py cannot take: refused by protocols.py in the same one line as an
    # unknown protocol's, whose message test_protocols.py checks against protocols.parse.
    'crops that do not fit': (lambda w, t, i: [f'--workdir={w}', '--protocol=ten_crop(20)'],
                              'do not fit an image of shorter side 20 + 2×4 padding'),
}


@pytest.mark.parametrize('case', sorted(BAD_INPUTS))
def test_bad_input_gets_one_line_a_nonzero_exit_and_writes_nothing(quickstart_runs, ilsvrc_run,
                                                                   tmp_path, case):
  workdir, _ = quickstart_runs['embedded']
  arguments, message = BAD_INPUTS[case]
  before = sorted(os.listdir(workdir))
  out = tmp_path / 'out'
  completed = run_evaluate(*arguments(workdir, tmp_path, ilsvrc_run), f'--out={out}')
  assert completed.returncode == 2
  lines = [line for line in completed.stderr.splitlines() if line.startswith('error:')]
  assert len(lines) == 1 and message in lines[0], completed.stderr[-2000:]
  assert not out.exists() and sorted(os.listdir(workdir)) == before


def test_members_trained_on_other_channels_are_refused_in_one_line(quickstart_runs, tmp_path):
  """A recipe that converts the digits to RGB in both pipelines trains (each pipeline is
  checked against its own recipe string) and evaluates; it is refused as an ensemble member
  beside the grayscale quickstart, and on the grayscale pipeline of another recipe."""
  gray, _ = quickstart_runs['embedded']
  rgb = tmp_path / 'rgb'
  trained = run_train(QUICKSTART, '--config.num_train_steps=3', '--config.batch_size=8',
                      '--config.train_preprocess=resize(32)|grayscale_to_rgb',
                      '--config.eval_preprocess=resize(32)|grayscale_to_rgb', workdir=rgb)
  assert trained.returncode == 0, trained.stderr[-2000:]
  assert '| 3 channels' in trained.stdout
  evaluate_ok(f'--workdir={rgb}')
  assert results(rgb)[0]['num_examples'] == 360
  refusals = {
      'ensemble': ([f'--ensemble={gray},{rgb}', f'--out={tmp_path / "out"}'],
                   f'{rgb / "checkpoints" / "3"} has channels=3, the ensemble\'s first member '
                   'channels=1: an ensemble\'s members must share classes, input size, '
                   'channels and dataset'),
      'grayscale data': ([f'--workdir={rgb}', QUICKSTART],
                         f'{rgb / "checkpoints" / "3"} was trained on 3-channel images, but the '
                         'evaluation makes 1-channel images of digits'),
  }
  for name, (arguments, message) in refusals.items():
    completed = run_evaluate(*arguments)
    assert completed.returncode == 2, (name, completed.stderr[-2000:])
    last = completed.stderr.strip().splitlines()[-1]
    assert last.startswith('error: ') and message in last, (name, completed.stderr[-1000:])
  assert not (tmp_path / 'out').exists()
