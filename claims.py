"""A sweep's claim as data, and its verdict from the runs' metrics.

A sweep file states what its paper claims as comparisons between groups of runs
(a group is one run over all its seeds):

    'claims': ['train_error[plain56] > train_error[plain20]',
               'train_error[resnet56] < train_error[plain56]']

`metric[group]` names a metric of METRICS and a group: the run's name without its
seed (`model=plain56`), or, in a sweep with one axis, that axis's value
(`plain56`). The claim holds when every comparison holds between the groups'
means over seeds. Each mean comes with a spread (half the range over seeds, so
mean ± spread covers every seed); where the two spreads together are at least the
difference, the verdict says that the seeds do not separate the two.
"""

import dataclasses
import re
import statistics

# What a claim can compare; each run's value of it comes from sweep.py's results.
METRICS = {
    'train_loss': 'final training loss (mean over the last fifth of the logged steps)',
    'best_train_loss': 'lowest logged training loss',
    'train_error': 'training error: 1 - accuracy on the training batches over the last fifth '
                   'of the logged steps (the running error the papers plot)',
    'eval_top1': 'final eval top-1 accuracy',
    'best_eval_top1': 'best eval top-1 accuracy',
    'parameters': 'trainable parameters',
    'multiply_adds': 'forward multiply-adds per image',
    'images_per_sec': 'training images per second',
}
PERCENT_METRICS = {'train_error', 'eval_top1', 'best_eval_top1'}
COUNT_METRICS = {'parameters', 'multiply_adds'}  # the same for every seed: shown without spread

COMPARISON = re.compile(r'^\s*(\w+)\[([^\]]+)\]\s*([<>])\s*(\w+)\[([^\]]+)\]\s*$')


class ClaimError(ValueError):
  """A claim that cannot be read; the message says how to write it."""


@dataclasses.dataclass(frozen=True)
class Comparison:
  """`metric[left] op metric[right]`, op '<' or '>'."""

  metric: str
  left: str
  op: str
  right: str

  def __str__(self):
    return f'{self.metric}[{self.left}] {self.op} {self.metric}[{self.right}]'


def parse(text: str) -> Comparison:
  match = COMPARISON.match(text)
  if not match:
    raise ClaimError(f'cannot read claim {text!r}: write metric[group] < metric[group] '
                     'or with >, e.g. train_error[plain56] > train_error[plain20]')
  metric, left, op, other_metric, right = match.groups()
  if metric != other_metric:
    raise ClaimError(f'claim {text!r} compares {metric} with {other_metric}: compare one '
                     'metric between two groups')
  if metric not in METRICS:
    raise ClaimError(f'claim {text!r}: unknown metric {metric!r}; use one of '
                     f'{", ".join(METRICS)}')
  return Comparison(metric, left.strip(), op, right.strip())


@dataclasses.dataclass(frozen=True)
class Summary:
  """One group's metric over its seeds."""

  mean: float
  spread: float  # half the range over seeds: mean ± spread covers every seed
  seeds: int


def summarize(values: list[float]) -> Summary:
  return Summary(statistics.fmean(values), (max(values) - min(values)) / 2, len(values))


def format_value(metric: str, value: float) -> str:
  if metric in PERCENT_METRICS:
    return f'{100 * value:.2f} %'
  if metric in COUNT_METRICS:
    return f'{value:,.0f}'
  return f'{value:.4g}'


def format_summary(metric: str, summary: Summary) -> str:
  text = format_value(metric, summary.mean)
  if summary.seeds > 1 and metric not in COUNT_METRICS:
    spread = (format_value(metric, summary.spread) if metric in PERCENT_METRICS
              else f'{summary.spread:.2g}')
    text += f' ± {spread}'
  return text


@dataclasses.dataclass
class Outcome:
  """One comparison judged: whether it holds, and whether the seeds separate it."""

  comparison: Comparison
  left: Summary | None
  right: Summary | None
  missing: str = ''  # why it cannot be judged yet

  @property
  def holds(self) -> bool:
    difference = self.left.mean - self.right.mean
    return difference < 0 if self.comparison.op == '<' else difference > 0

  @property
  def within_spread(self) -> bool:
    """The seeds' spreads together reach across the difference of the means."""
    return abs(self.left.mean - self.right.mean) <= self.left.spread + self.right.spread

  @property
  def unseparated(self) -> bool:
    """Within the spread, with more than one seed on a side (one seed has no spread)."""
    return self.within_spread and (self.left.seeds > 1 or self.right.seeds > 1)

  def describe(self) -> str:
    c = self.comparison
    if self.missing:
      return f'{c}: cannot be judged yet ({self.missing})'
    text = (f'{c.metric}: {c.left} {format_summary(c.metric, self.left)} {c.op} '
            f'{c.right} {format_summary(c.metric, self.right)}: '
            + ('yes' if self.holds else 'no'))
    if self.unseparated:
      difference = format_value(c.metric, abs(self.left.mean - self.right.mean))
      text += f' (the seeds\' spread is larger than the difference, {difference})'
    return text


def judge(claims: list[str], values: dict[str, dict[str, list[float]]]) -> list[Outcome]:
  """Each comparison of `claims` judged on `values`: {group: {metric: [value per seed]}}."""
  outcomes = []
  for text in claims:
    comparison = parse(text)
    sides, missing = [], []
    for group in (comparison.left, comparison.right):
      if group not in values:
        missing.append(f'no group {group!r}; groups: {", ".join(values)}')
        sides.append(None)
        continue
      seeds = values[group].get(comparison.metric, [])
      if not seeds:
        missing.append(f'{group} has no {comparison.metric} yet')
        sides.append(None)
      else:
        sides.append(summarize(seeds))
    outcomes.append(Outcome(comparison, *sides, missing='; '.join(missing)))
  return outcomes


def verdict(outcomes: list[Outcome]) -> str:
  """'holds', 'does not hold' or 'cannot be judged yet', with what weakens it."""
  if not outcomes:
    return 'states no comparison'
  if any(o.missing for o in outcomes):
    return 'cannot be judged yet'
  text = 'holds' if all(o.holds for o in outcomes) else 'does not hold'
  text += ' at this scale'
  unseparated = [o for o in outcomes if o.unseparated]
  if unseparated:
    text += (', but the seeds\' spread is larger than the difference in '
             + '; '.join(str(o.comparison) for o in unseparated))
  return text


def report_lines(statement: str, outcomes: list[Outcome]) -> list[str]:
  """The verdict line, then one line per comparison with its numbers."""
  return ([f'Claim: {statement} — {verdict(outcomes)}']
          + [f'- {o.describe()}' for o in outcomes])
