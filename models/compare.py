r"""The lecture's "Comparing complexity" figures (Canziani, Paszke & Culurciello 2017,
"An analysis of deep neural network models for practical applications", Figs. 1-3),
computed from the registry.

    python -m models compare                           # the table
    python -m models compare --plot=/tmp/compare.png   # top-1 vs multiply-adds, bubbles ∝ parameters
    python -m models compare --measure --models=resnet50,vgg16 --plot=/tmp/c.png

For every ImageNet network of the registry (1000 classes): parameters and
multiply-adds at the paper's input (models.summary, auxiliary classifiers left out:
they are not part of the network at inference) and the single-crop top-1 its paper
reports (the registry's cited `paper_top1`). A network whose paper reports no
single-crop top-1 (10-crop or dense evaluation only, or a released variant the paper
does not describe) is listed with the reason instead, and drawn without a point.

`--measure` adds forward (inference) images per second and memory at batch sizes 1, 4,
16 and 64 on the current device, timed by benchmark.py's own `time_steps` around
train.py's own evaluation step; memory is the device's peak where the device reports
one, else the compiled program's size from XLA's memory analysis (arguments, outputs
and temporaries: what the CPU backend can tell). The plot then gets a second panel,
forward time per image against batch size, one line per network (Canziani et al. Fig. 3).
"""

import dataclasses

from models import registry, summary

BATCH_SIZES = (1, 4, 16, 64)


@dataclasses.dataclass
class Row:
  name: str
  input_size: int
  params: int  # at inference: auxiliary classifiers excluded
  macs: int
  top1: float | None  # the paper's single-crop top-1, percent
  source: str  # where top1 is printed, or why there is none
  # With --measure, per batch size: forward images per second and memory in bytes.
  images_per_sec: dict[int, float] = dataclasses.field(default_factory=dict)
  memory_bytes: dict[int, int | None] = dataclasses.field(default_factory=dict)


def imagenet_networks() -> list[str]:
  """Registered names of the networks built for ImageNet's 1000 classes."""
  return [name for name in registry.names() if registry.spec(name).num_classes == 1000]


def table_rows(names: list[str] | None = None) -> list[Row]:
  """One row per network (every ImageNet network by default), without measurements."""
  rows = []
  for name in names or imagenet_networks():
    spec = registry.spec(name)
    table = summary.summarize(name)
    rows.append(Row(name, table.image_size, table.total_params - table.auxiliary_params,
                    table.total_macs, spec.paper_top1, spec.paper_top1_source))
  return rows


def measure(row: Row, batch_sizes=BATCH_SIZES, num_steps: int = 3) -> None:
  """Fills `row`'s forward speed and memory at each batch size (benchmark.py's timing)."""
  import benchmark  # JAX-only; imported here so that the table needs no compilation
  for batch_size in batch_sizes:
    result = benchmark.forward_speed(row.name, batch_size, num_steps=num_steps)
    row.images_per_sec[batch_size] = result['images_per_sec']
    row.memory_bytes[batch_size] = result['memory_bytes']


def format_table(rows: list[Row]) -> str:
  """A markdown table: the registry's numbers, then any measurements."""
  measured = sorted({size for row in rows for size in row.images_per_sec})
  header = ['network', 'input', 'parameters', 'multiply-adds', 'top-1 (paper)', 'source']
  header += [f'img/s @{size}' for size in measured]
  header += [f'memory @{size}' for size in measured]
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join(['---', '---:', '---:', '---:', '---:', '---'] +
                          ['---:'] * 2 * len(measured)) + '|']
  for row in rows:
    cells = [row.name, str(row.input_size), f'{row.params / 1e6:.1f} M',
             f'{row.macs / 1e9:.2f} G', f'{row.top1:.1f} %' if row.top1 is not None else '—',
             row.source]
    cells += [f'{row.images_per_sec[size]:,.1f}' if size in row.images_per_sec else ''
              for size in measured]
    cells += [_mebibytes(row.memory_bytes.get(size)) for size in measured]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def _mebibytes(value: int | None) -> str:
  return f'{value / 2**20:,.0f} MiB' if value else 'n/a'


def plot(rows: list[Row], path: str, device: str = '') -> None:
  """Top-1 against G multiply-adds with bubble area ∝ parameters and every point labelled
  (Canziani et al. Fig. 2); with measurements, a second panel of forward milliseconds per
  image against batch size (their Fig. 3)."""
  import matplotlib  # Imported here: only the plot draws.
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt

  measured = [row for row in rows if row.images_per_sec]
  figure, axes = plt.subplots(1, 2 if measured else 1, figsize=(16 if measured else 10, 7),
                              squeeze=False)
  accuracy = axes[0][0]
  points = [row for row in rows if row.top1 is not None]
  largest = max((row.params for row in points), default=1)
  for row in points:
    # Area ∝ parameters: the largest network's bubble is 3000 points².
    area = 3000 * row.params / largest
    accuracy.scatter(row.macs / 1e9, row.top1, s=area, alpha=0.45)
    accuracy.annotate(f'{row.name}\n{row.params / 1e6:.1f} M', (row.macs / 1e9, row.top1),
                      fontsize=7, ha='center', va='center')
  accuracy.set_xscale('log')
  accuracy.set_xlabel('G multiply-adds per image (log scale)')
  accuracy.set_ylabel("top-1 accuracy, single crop (%, the paper's)")
  without = [row.name for row in rows if row.top1 is None]
  accuracy.set_title('Top-1 vs multiply-adds; bubble area ∝ parameters\n'
                     f'({len(without)} networks without a single-crop top-1 in their paper '
                     'are not drawn)', fontsize=10)
  accuracy.grid(True, which='both', alpha=0.3)
  if measured:
    speed = axes[0][1]
    for row in measured:
      sizes = sorted(row.images_per_sec)
      speed.plot(sizes, [1000 / row.images_per_sec[size] for size in sizes], marker='o',
                 label=row.name)
    speed.set_xscale('log', base=2)
    speed.set_yscale('log')
    speed.set_xlabel('batch size')
    speed.set_ylabel('forward time per image (ms, log scale)')
    speed.set_title(f'Forward time per image vs batch size{f" ({device})" if device else ""}',
                    fontsize=10)
    speed.grid(True, which='both', alpha=0.3)
    speed.legend(fontsize=7, ncol=2)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)


def to_json(rows: list[Row]) -> list[dict]:
  return [{**dataclasses.asdict(row),
           'images_per_sec': {str(k): v for k, v in row.images_per_sec.items()},
           'memory_bytes': {str(k): v for k, v in row.memory_bytes.items()}} for row in rows]


def check_batch_sizes(text: str) -> tuple[int, ...]:
  """'1,4,16,64' -> (1, 4, 16, 64); raises ValueError on anything else."""
  try:
    sizes = tuple(int(part) for part in text.split(','))
  except ValueError:
    sizes = ()
  if not sizes or any(size < 1 for size in sizes):
    raise ValueError(f'--batch_sizes={text!r} is not a comma-separated list of positive '
                     'integers such as 1,4,16,64')
  return sizes
