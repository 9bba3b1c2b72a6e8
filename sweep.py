r"""Ablation sweeps: many train.py runs from one sweep file, then a table and plots.

    python sweep.py --sweep=configs/sweeps/plain_vs_residual.py:small --workdir=/tmp/pvr
    python sweep.py --sweep=configs/sweeps/plain_vs_residual.py --workdir=/ckpt/pvr --dry_run
    python sweep.py --report --workdir=/tmp/pvr

A sweep file defines `get_sweep(variant)` (variant: the text after ':' in
--sweep, 'full' without it) returning a dict:

    description  the claim the sweep tests, with its source
    recipe       the base recipe, e.g. 'configs/resnet20_cifar10.py'
    overrides    config fields set in every run, e.g. {'num_epochs': 20}
    axes         {field: [values]}: one run per combination (a product), or
    runs         {run name: {field: value}}: an explicit list
    seeds        seeds to repeat every run with (default (0,))
    claim        {'statement': what the paper claims, with its source,
                  'expect': comparisons such as 'train_error[plain56] > train_error[plain20]'}
                 (claims.py: the metrics, and how groups of runs are named)

Each run is `python train.py --config=<recipe> --workdir=<workdir>/<run>
--config.<field>=<value> ...`, the real CLI; --dry_run prints these commands
instead, one per line, for any cluster scheduler. Runs go one after another.
A finished run is skipped when the sweep is started again and an unfinished one
resumes from its checkpoint (train.py's own resume); a failed run is reported
and the others go on. Ctrl-C stops the current run cleanly (it checkpoints) and
the sweep with it.

After the runs, and at any time with --report (also while runs are still in
progress, from their metrics.jsonl), it writes <workdir>/results.md (the claim's
verdict first, then each group's mean ± spread over seeds, then every run),
results.csv (one row per run: overrides, parameters, multiply-adds, training
error, final and best eval accuracy, train time, images/s) and curves.png
(training error and eval accuracy against steps, each group in one colour, a
thin line per seed); the verdict is printed too.
"""

import csv
import functools
import importlib.util
import itertools
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time

from absl import app, flags

import claims
from training import metrics_file, workdir as run_folder

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command line's flags; defined only when run, so that tests can import this file."""
  flags.DEFINE_string('sweep', None, 'Sweep file, optionally with a variant: '
                      'configs/sweeps/<name>.py[:small].')
  flags.DEFINE_string('workdir', None, 'Folder for the sweep: one sub-folder per run, results.',
                      required=True)
  flags.DEFINE_bool('dry_run', False, 'Print one train.py command per run instead of running.')
  flags.DEFINE_bool('report', False, 'Only rebuild results.md, results.csv and the plots from '
                    '<workdir>/sweep.json and the runs\' metrics.')

REPO = os.path.dirname(os.path.abspath(__file__))
SWEEP_KEYS = {'description', 'recipe', 'overrides', 'axes', 'runs', 'seeds', 'claim'}
STATUS_FILE = 'sweep_status.json'  # in each run's folder, written by this script


class SweepError(ValueError):
  """A sweep file or workdir that cannot work; the message says what to change."""


# --- Reading a sweep file ---------------------------------------------------------------


def load_python_file(path: str, what: str):
  if not os.path.isfile(path):
    raise SweepError(f'{what} {path} does not exist: pass a file such as '
                     'configs/sweeps/plain_vs_residual.py')
  spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0],
                                                path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except Exception as error:  # a broken file: say which and why, in one line
    raise SweepError(f'cannot load {what} {path} ({type(error).__name__}: '
                     f'{" ".join(str(error).split())})') from None
  return module


def format_value(value) -> str:
  """A config value as ml_collections' command-line flags parse it."""
  if isinstance(value, (tuple, list)):
    return '(' + ','.join(format_value(v) for v in value) + ('' if len(value) != 1 else ',') + ')'
  return str(value)


def run_name(overrides: dict) -> str:
  """A folder name that says what the run changes: model=resnet20,seed=0."""
  return ','.join(f'{key}={format_value(value)}' for key, value in overrides.items()).replace(
      '/', '_')


def expand(sweep: dict) -> list[dict]:
  """The sweep's runs: [{'name', 'overrides' (the run's own), 'all_overrides'}]."""
  if bool(sweep.get('axes')) == bool(sweep.get('runs')):
    raise SweepError('a sweep defines exactly one of axes (a product) or runs (a list)')
  if sweep.get('axes'):
    fields = list(sweep['axes'])
    variations = [dict(zip(fields, values))
                  for values in itertools.product(*(sweep['axes'][f] for f in fields))]
    names = [run_name(v) for v in variations]
    # A claim names a run of a one-axis sweep by its value: plain56, not model=plain56.
    groups = [format_value(v[fields[0]]) for v in variations] if len(fields) == 1 else names
  else:
    names, variations = list(sweep['runs']), list(sweep['runs'].values())
    groups = names
  runs = []
  for seed in sweep.get('seeds', (0,)):
    for name, group, variation in zip(names, groups, variations):
      own = {**variation, 'seed': seed}
      runs.append({'name': f'{name},seed={seed}', 'group': group, 'overrides': own,
                   'all_overrides': {**sweep.get('overrides', {}), **own}})
  return runs


def group_of(run: dict) -> str:
  """The run's group: the same run over all seeds (sweep.json before groups: its name)."""
  return run.get('group') or run['name'].rsplit(',seed=', 1)[0]


def validate(sweep: dict, runs: list[dict]) -> None:
  """Every overridden field exists in the recipe and every model is registered."""
  unknown = set(sweep) - SWEEP_KEYS
  if unknown:
    raise SweepError(f'unknown sweep keys {sorted(unknown)}: use {sorted(SWEEP_KEYS)}')
  validate_claim(sweep.get('claim'), {group_of(run) for run in runs})
  recipe = load_python_file(os.path.join(REPO, sweep['recipe']), 'recipe').get_config()
  for run in runs:
    for field in run['all_overrides']:
      node = recipe
      for part in field.split('.'):
        if part not in node:
          raise SweepError(f'run {run["name"]}: {sweep["recipe"]} has no config field {field!r}')
        node = node[part]
  model_names = {run['all_overrides'].get('model', recipe.model) for run in runs}
  import models  # Imported here: --dry_run of a valid sweep needs no JAX beyond this check.
  for name in sorted(model_names):
    if name not in models.names():
      raise SweepError(f'model {name!r} of the sweep is not registered: '
                       '`python -m models list` shows the names')


def validate_claim(claim, groups: set[str]) -> None:
  """A claim has a statement and comparisons that claims.py reads, between the sweep's groups."""
  if claim is None:
    return
  if not isinstance(claim, dict) or set(claim) != {'statement', 'expect'} or not claim['expect']:
    raise SweepError("a sweep's claim is {'statement': text, 'expect': [comparisons]}")
  for text in claim['expect']:
    try:
      comparison = claims.parse(text)
    except claims.ClaimError as error:
      raise SweepError(str(error)) from None
    for group in (comparison.left, comparison.right):
      if group not in groups:
        raise SweepError(f'claim {text!r} names {group!r}, which is no run of the sweep: '
                         f'use one of {", ".join(sorted(groups))}')


def load_sweep(argument: str) -> tuple[str, dict, list[dict]]:
  path, _, variant = argument.partition(':')
  module = load_python_file(path, 'sweep file')
  if not hasattr(module, 'get_sweep'):
    raise SweepError(f'sweep file {path} defines no get_sweep(variant) function')
  sweep = module.get_sweep(variant or 'full')
  runs = expand(sweep)
  validate(sweep, runs)
  name = os.path.splitext(os.path.basename(path))[0] + (f':{variant}' if variant else '')
  return name, sweep, runs


def train_command(sweep: dict, run: dict, workdir: str) -> list[str]:
  return ([sys.executable, 'train.py', f'--config={sweep["recipe"]}',
           f'--workdir={os.path.join(workdir, run["name"])}']
          + [f'--config.{field}={format_value(value)}'
             for field, value in run['all_overrides'].items()])


# --- Running ----------------------------------------------------------------------------


def read_status(run_dir: str) -> dict:
  """What this script recorded of a run: its state and seconds of wall time."""
  return run_folder.read_json(os.path.join(run_dir, STATUS_FILE))


def execute(command: list[str], run_dir: str, label: str) -> int:
  """Runs one train.py to its end, showing its progress; its exit status.

  train.py's stdout (its own progress lines) is shown and logged; its stderr
  (error lines and the libraries' start-up notices) goes to train.log only.
  """
  os.makedirs(run_dir, exist_ok=True)
  with open(os.path.join(run_dir, 'train.log'), 'a', encoding='utf-8') as log:
    # A session of its own: a terminal's Ctrl-C reaches only this script, which
    # passes exactly one SIGINT on (a second one would stop train.py at once).
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=log,
                               text=True, start_new_session=True)
    try:
      for line in process.stdout:
        log.write(line)
        log.flush()
        print(f'[{label}] {line.rstrip()}', flush=True)
      process.wait()
    except KeyboardInterrupt:  # Ctrl-C: let the run checkpoint and stop, then stop too
      process.send_signal(signal.SIGINT)
      process.wait()
      raise
  return process.returncode


def last_line(path: str) -> str:
  """The last non-empty line of a run's train.log: its error line when it failed."""
  try:
    with open(path, encoding='utf-8', errors='replace') as f:
      lines = [line.strip() for line in f if line.strip()]
  except OSError:
    return ''
  return lines[-1] if lines else ''


def outcome(returncode: int, interrupted: bool, run_status: dict) -> str:
  """finished, stopped or failed: from train.py's exit status and its run.json."""
  if returncode == 0 and run_status.get('status') == 'finished':
    return 'finished'
  if returncode == 0 or interrupted:
    return 'stopped'
  return 'failed'


def run_sweep(name: str, sweep: dict, runs: list[dict], workdir: str) -> int:
  """Runs every unfinished run; the number that failed."""
  failed = []
  for index, run in enumerate(runs, 1):
    run_dir = os.path.join(workdir, run['name'])
    status = read_status(run_dir)
    label = f'{index}/{len(runs)} {run["name"]}'
    if status.get('state') == 'finished':
      print(f'[{label}] finished earlier: skipped', flush=True)
      continue
    print(f'[{label}] {"resuming" if status else "starting"}', flush=True)
    start = time.time()
    interrupted = False
    try:
      returncode = execute(train_command(sweep, run, workdir), run_dir, label)
    except KeyboardInterrupt:
      interrupted, returncode = True, 0
    seconds = status.get('seconds', 0.0) + time.time() - start
    state = outcome(returncode, interrupted, run_folder.read_run_status(run_dir))
    if state == 'failed':
      failed.append(run['name'])
      print(f'[{label}] failed (exit status {returncode}): '
            f'{last_line(os.path.join(run_dir, "train.log"))}; '
            f'see {os.path.join(run_dir, "train.log")}', flush=True)
    run_folder.write_json_atomically(os.path.join(run_dir, STATUS_FILE),
                                  {'state': state, 'seconds': seconds, 'returncode': returncode})
    if state == 'stopped':
      print(f'sweep {name} stopped during {run["name"]}: run the same command again to '
            'continue', flush=True)
      raise KeyboardInterrupt
  return len(failed)


# --- Results ----------------------------------------------------------------------------


def last_fifth(events: list[dict]) -> list[dict]:
  """The logged events of the last fifth of the steps logged so far (at least one)."""
  if not events:
    return []
  first, last = events[0]['step'], events[-1]['step']
  threshold = last - (last - first) / 5
  return [e for e in events if e['step'] >= threshold]


def run_results(run: dict, run_dir: str) -> dict:
  """One results row from a run's folder (whatever it holds so far)."""
  status = read_status(run_dir)
  events = metrics_file.read_events(os.path.join(run_dir, metrics_file.FILE_NAME))
  train = [e for e in events if 'train_loss' in e]
  evals = [e for e in events if 'eval_accuracy' in e]
  info = run_folder.read_run_status(run_dir)
  # This script's record of the run, else train.py's run.json ('running' may be a
  # run killed outright), else whether it has logged anything.
  recorded = status.get('state') or info.get('status')
  state = (('running or stopped' if recorded == 'running' else recorded)
           or ('running or stopped' if events else 'not started'))
  final = last_fifth(train)
  with_accuracy = [e['train_accuracy'] for e in final if 'train_accuracy' in e]
  row = {'run': run['name'], 'status': state, **run['overrides'],
         'model': info.get('model', run['all_overrides'].get('model', '')),
         'parameters': info.get('parameters', ''),
         'multiply_adds': multiply_adds(info) if info else '',
         'steps': f'{train[-1]["step"] if train else 0}/{info.get("total_steps", "?")}',
         'train_error': 1 - statistics.fmean(with_accuracy) if with_accuracy else '',
         'final_eval_accuracy': evals[-1]['eval_accuracy'] if evals else '',
         'best_eval_accuracy': max(e['eval_accuracy'] for e in evals) if evals else '',
         'final_train_loss': statistics.fmean(e['train_loss'] for e in final) if final else '',
         'best_train_loss': min(e['train_loss'] for e in train) if train else '',
         'train_minutes': round(status['seconds'] / 60, 2) if 'seconds' in status else '',
         'images_per_sec': (round(statistics.median(e['images_per_sec'] for e in train
                                                    if 'images_per_sec' in e), 1)
                            if any('images_per_sec' in e for e in train) else '')}
  return {'row': row, 'group': group_of(run), 'train': train, 'evals': evals}


# claims.METRICS by the results column each is read from.
CLAIM_COLUMNS = {
    'train_loss': 'final_train_loss', 'best_train_loss': 'best_train_loss',
    'train_error': 'train_error', 'eval_top1': 'final_eval_accuracy',
    'best_eval_top1': 'best_eval_accuracy', 'parameters': 'parameters',
    'multiply_adds': 'multiply_adds', 'images_per_sec': 'images_per_sec',
}


def group_values(results: list[dict]) -> dict[str, dict[str, list[float]]]:
  """{group: {metric: [value of each finished seed]}}, the groups in the sweep's order.
  Only finished runs count: a run cut short would be judged on part of its training."""
  values: dict[str, dict[str, list[float]]] = {}
  for result in results:
    metrics = values.setdefault(result['group'], {})
    if result['row']['status'] != 'finished':
      continue
    for metric, column in CLAIM_COLUMNS.items():
      value = result['row'].get(column, '')
      if value != '':
        metrics.setdefault(metric, []).append(float(value))
  return values


def multiply_adds(info: dict) -> int | str:
  """Forward multiply-adds per image of the run's network, from the model summary; '' where
  run.json does not describe a network this project builds (damaged, or another's)."""
  try:
    return count_multiply_adds(info['model'], info['image_size'], info['num_classes'],
                               info.get('channels'))
  except (KeyError, TypeError, ValueError):
    return ''


@functools.cache  # a sweep's seeds (and often its runs) share the network and input
def count_multiply_adds(model: str, image_size: int, num_classes: int, channels) -> int:
  import jax  # Imported here: only reports need the abstract trace.
  # The count is a shape computation: no accelerator needed, and none is probed (which
  # would print a notice per missing platform before the verdict).
  jax.config.update('jax_platforms', 'cpu')
  from models import summary
  return summary.summarize(model, image_size, num_classes, channels).total_macs


def claim_lines(plan: dict, values: dict) -> list[str]:
  """The verdict line and one line per comparison; nothing for a sweep without a claim."""
  claim = plan.get('claim')
  if not claim:
    return []
  return claims.report_lines(claim['statement'], claims.judge(claim['expect'], values))


def group_table(values: dict, finished: dict[str, int], seeds: dict[str, int]) -> list[str]:
  """Each group's metrics as mean ± spread over its finished seeds."""
  shown = ['train_error', 'train_loss', 'eval_top1', 'best_eval_top1', 'parameters',
           'multiply_adds', 'images_per_sec']
  lines = ['| group | seeds finished | ' + ' | '.join(m.replace('_', ' ') for m in shown) + ' |',
           '|' + '---|' * (len(shown) + 2)]
  for group, metrics in values.items():
    cells = [claims.format_summary(m, claims.summarize(metrics[m])) if metrics.get(m) else ''
             for m in shown]
    lines.append(f'| {group} | {finished[group]}/{seeds[group]} | ' + ' | '.join(cells) + ' |')
  return lines


def _is_planned_run(run) -> bool:
  """A run of sweep.json as load_sweep makes it, its name a folder inside the sweep's."""
  name = run.get('name') if isinstance(run, dict) else None
  return (isinstance(name, str) and name not in ('', '.', '..') and os.sep not in name
          and '\0' not in name and isinstance(run.get('overrides'), dict)
          and isinstance(run.get('all_overrides'), dict)
          and isinstance(run.get('group', ''), str))


def read_plan(workdir: str) -> dict:
  """<workdir>/sweep.json, checked: it names the folders the report reads."""
  path = os.path.join(workdir, 'sweep.json')
  plan = run_folder.read_json(path)
  if not plan:
    raise SweepError(f'{workdir} holds no sweep.json: pass the --workdir of a sweep '
                     '(sweep.py writes sweep.json when it starts)')
  if not (all(isinstance(plan.get(key), str) for key in ('name', 'description', 'recipe'))
          and isinstance(plan.get('overrides'), dict) and isinstance(plan.get('runs'), list)
          and all(_is_planned_run(run) for run in plan['runs'])):
    raise SweepError(f'{path} is not a sweep.json this script wrote (a name and runs, each '
                     'run a folder of the sweep): start the sweep in a new --workdir')
  return plan


def write_report(workdir: str) -> tuple[str, list[str]]:
  """results.md, results.csv and curves.png; returns results.md's path and the claim's
  verdict lines (empty for a sweep without a claim)."""
  plan = read_plan(workdir)
  results = [run_results(run, os.path.join(workdir, run['name'])) for run in plan['runs']]
  rows = [r['row'] for r in results]
  columns = list(dict.fromkeys(key for row in rows for key in row))
  with open(os.path.join(workdir, 'results.csv'), 'w', newline='', encoding='utf-8') as f:
    writer = csv.DictWriter(f, columns)
    writer.writeheader()
    writer.writerows(rows)
  plot(results, plan['name'], workdir)
  values = group_values(results)
  seeds = {group: sum(r['group'] == group for r in results) for group in values}
  finished = {group: sum(r['group'] == group and r['row']['status'] == 'finished'
                         for r in results) for group in values}
  verdict = claim_lines(plan, values)

  def cell(column, value):
    if isinstance(value, float):
      if column.endswith('accuracy') or column == 'train_error':
        return f'{value:.2%}'
      return f'{value:,.4g}'
    return f'{value:,}' if isinstance(value, int) and not isinstance(value, bool) else str(value)

  shown = [c for c in columns if c not in ('final_train_loss', 'best_train_loss')]
  lines = [f'# Sweep {plan["name"]}', '', plan['description'], '']
  if verdict:
    lines += [f'**{verdict[0]}**', '', *verdict[1:], '']
  lines += [f'Recipe `{plan["recipe"]}`; every run also sets '
            + (', '.join(f'`{k}={format_value(v)}`' for k, v in plan['overrides'].items())
               or 'nothing else') + '.', '',
            '## Groups: mean ± spread over seeds',
            '', 'Spread: half the range over the finished seeds. Training error and loss: '
            'over the last fifth of the logged steps.', '',
            *group_table(values, finished, seeds), '', '## Runs', '',
            '| ' + ' | '.join(c.replace('_', ' ') for c in shown) + ' |',
            '|' + '---|' * len(shown)]
  lines += ['| ' + ' | '.join(cell(c, row.get(c, '')) for c in shown) + ' |' for row in rows]
  lines += ['', '![training error and eval accuracy](curves.png)',
            '', f'Rebuild at any time: `python sweep.py --report --workdir={workdir}`', '']
  path = os.path.join(workdir, 'results.md')
  with open(path, 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines))
  return path, verdict


def plot(results: list[dict], title: str, workdir: str) -> None:
  """curves.png: training error (as He et al. 2016 draw in Fig. 6) and eval accuracy
  against steps; one colour per group, a thin line per seed."""
  import matplotlib  # Imported here: only reports draw.
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt
  figure, (error_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(13, 5))
  colours = {}
  for result in results:
    first_of_group = result['group'] not in colours  # labelled once in the legend
    colour = colours.setdefault(result['group'], f'C{len(colours) % 10}')
    label = result['group'] if first_of_group else None
    train = [e for e in result['train'] if 'train_accuracy' in e]
    if train:
      error_axes.plot([e['step'] for e in train], [1 - e['train_accuracy'] for e in train],
                      color=colour, linewidth=0.9, alpha=0.8, label=label)
    evals = result['evals']
    if evals:
      accuracy_axes.plot([e['step'] for e in evals], [e['eval_accuracy'] for e in evals],
                         color=colour, linewidth=1.2, marker='o' if len(evals) < 30 else None,
                         markersize=3, alpha=0.8, label=label)
  for axes, label in ((error_axes, 'training error (training batches)'),
                      (accuracy_axes, 'eval top-1 accuracy')):
    axes.set_xlabel('training step')
    axes.set_ylabel(label)
    axes.set_title(f'{title}: {label}')
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
      axes.legend(fontsize='small')
  figure.tight_layout()
  figure.savefig(os.path.join(workdir, 'curves.png'), dpi=100)
  plt.close(figure)


# --- Command line -----------------------------------------------------------------------


def report(workdir: str) -> None:
  """Writes the results and prints the claim's verdict and where the results are."""
  path, verdict = write_report(workdir)
  for line in verdict:
    print(line)
  print(f'wrote {path}')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  try:
    if FLAGS.report:
      report(FLAGS.workdir)
      return
    if not FLAGS.sweep:
      raise SweepError('pass --sweep=configs/sweeps/<name>.py[:small] (or --report)')
    name, sweep, runs = load_sweep(FLAGS.sweep)
    if FLAGS.dry_run:
      for run in runs:
        print(shlex.join(['python'] + train_command(sweep, run, FLAGS.workdir)[1:]))
      return
    os.makedirs(FLAGS.workdir, exist_ok=True)
    run_folder.write_json_atomically(
        os.path.join(FLAGS.workdir, 'sweep.json'),
        {'name': name, 'description': sweep['description'], 'recipe': sweep['recipe'],
         'overrides': sweep.get('overrides', {}), 'claim': sweep.get('claim'), 'runs': runs})
    try:
      failed = run_sweep(name, sweep, runs, FLAGS.workdir)
    except KeyboardInterrupt:
      report(FLAGS.workdir)
      sys.exit(130)
    report(FLAGS.workdir)
    if failed:
      print(f'error: {failed} of {len(runs)} runs failed; their train.log says why',
            file=sys.stderr)
      sys.exit(1)
  except (SweepError, claims.ClaimError, OSError) as error:
    print(f'error: {error}', file=sys.stderr)
    sys.exit(2)


if __name__ == '__main__':
  define_flags()
  app.run(main)
