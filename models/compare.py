r"""The lecture's "Comparing complexity" figures (Canziani, Paszke & Culurciello 2017,
"An analysis of deep neural network models for practical applications", Figs. 1-3),
computed from the registry.

    python -m models compare                           # the table
    python -m models compare --plot=/tmp/compare.png   # top-1 vs multiply-adds, bubbles ∝ parameters
    python benchmark.py --compare --model=resnet50,vgg16 --plot=/tmp/c.png   # measured too

For every ImageNet network of the registry (1000 classes): parameters and
multiply-adds at the paper's input (models.summary, auxiliary classifiers left out:
they are not part of the network at inference) and two single-crop top-1s, each with
where it is printed: the one its paper reports (the registry's cited `paper_top1`),
and the one its publishers quote for the released weights it loads exactly
(models.released: torchvision's or timm's tables).

Each network is drawn once, at its paper's top-1 where the paper gives a single-crop
one, else at its released weights' (a square, not a circle, in the colour of the
library). Canziani et al. measured every network on released weights; the papers'
numbers come first here because they are what each paper claims, and the table shows
both wherever both exist. Many of the lecture's networks have no single-crop top-1 in
their paper (AlexNet's and ResNet's 10-crop tables, VGG's dense evaluation,
GoogLeNet's top-5 only), so they are drawn by their released weights. Where the
released network departs from the paper's text and is registered apart (torchvision's
AlexNet of "one weird trick" as `alexnet_torchvision`, its BatchNorm GoogLeNet as
`googlenet_torchvision`; `Source.variant_of`), the point is the released network, under
its own name: the weights fit it, not the paper's network, whose row names the variant
drawn for it. A network with neither number is listed with the reason, and not drawn.

Measured speed and memory (Canziani et al. Figs. 3-4) come from benchmark.py
(`python benchmark.py --compare`), which times train.py's evaluation step and fills
`Row.images_per_sec` and `Row.memory_bytes`: the networks sit below the training code
and time nothing themselves. `plot` draws the second panel from those fields.
"""

import dataclasses
import math

import numpy as np

from models import registry, released, summary

BATCH_SIZES = (1, 4, 16, 64)
PAPER = 'paper'

# How each kind of top-1 is drawn: marker and colour (the legend's labels are the keys).
STYLES = {
    PAPER: ('o', 'tab:blue'),
    f'released weights ({released.TORCHVISION})': ('s', 'tab:orange'),
    f'released weights ({released.TIMM})': ('s', 'tab:green'),
}
LARGEST_BUBBLE = 1500  # points², for the network with the most parameters
LABEL_FONT_SIZE = 7


@dataclasses.dataclass
class Row:
  name: str
  input_size: int
  params: int  # at inference: auxiliary classifiers excluded
  macs: int
  top1: float | None  # the paper's single-crop top-1, percent
  source: str  # where top1 is printed, or why there is none
  # The quoted single-crop top-1 of the released weights this very network loads
  # (models.released), their library, and which weights.
  released_top1: float | None = None
  released_library: str = ''
  released_weights: str = ''
  # Registered variants whose released weights stand for this paper's network.
  released_variants: tuple[str, ...] = ()
  # Filled by benchmark.py --compare, per batch size: forward images per second and
  # memory in bytes.
  images_per_sec: dict[int, float] = dataclasses.field(default_factory=dict)
  memory_bytes: dict[int, int | None] = dataclasses.field(default_factory=dict)

  @property
  def drawn_top1(self) -> float | None:
    """The top-1 the plot places this network at: the paper's, else the released weights'."""
    return self.top1 if self.top1 is not None else self.released_top1

  @property
  def drawn_from(self) -> str:
    """Whose top-1 `drawn_top1` is: a key of STYLES, or '' when the network is not drawn."""
    if self.top1 is not None:
      return PAPER
    if self.released_top1 is not None:
      return f'released weights ({self.released_library})'
    return ''


def imagenet_networks() -> list[str]:
  """Registered names of the networks built for ImageNet's 1000 classes."""
  return [name for name in registry.names() if registry.spec(name).num_classes == 1000]


def check_names(names: list[str]) -> None:
  """Raises ValueError, naming the valid choices, unless every name is an ImageNet network."""
  for name in names:
    if registry.spec(name).num_classes != 1000:  # an unknown name raises here, listing all
      raise ValueError(f'{name} is not an ImageNet network: pick among '
                       f'{", ".join(imagenet_networks())}')


def table_rows(names: list[str] | None = None) -> list[Row]:
  """One row per network (every ImageNet network by default), without measurements."""
  variants = {}
  for source in released.SOURCES.values():
    if source.variant_of:
      variants.setdefault(source.variant_of, []).append(source.model)
  rows = []
  for name in names or imagenet_networks():
    spec = registry.spec(name)
    table = summary.summarize(name)
    source = released.SOURCES.get(name)
    rows.append(Row(
        name, table.image_size, table.total_params - table.auxiliary_params, table.total_macs,
        spec.paper_top1, spec.paper_top1_source,
        released_top1=source.top1 if source else None,
        released_library=source.library if source else '',
        released_weights=f'{source.name}, {source.weights}' if source else '',
        released_variants=tuple(variants.get(name, ()))))
  return rows


def format_table(rows: list[Row]) -> str:
  """A markdown table: the registry's numbers, then any measurements."""
  measured = sorted({size for row in rows for size in row.images_per_sec})
  header = ['network', 'input', 'parameters', 'multiply-adds', 'top-1 (paper)', 'source',
            'top-1 (released weights)', 'released weights', 'drawn']
  header += [f'img/s @{size}' for size in measured]
  header += [f'memory @{size}' for size in measured]
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join(['---', '---:', '---:', '---:', '---:', '---', '---:', '---', '---'] +
                          ['---:'] * 2 * len(measured)) + '|']
  for row in rows:
    if row.drawn_from:
      drawn = row.drawn_from
    elif row.released_variants:
      drawn = 'as ' + ', '.join(row.released_variants) + ' (released weights)'
    else:
      drawn = 'no'
    if row.released_weights:
      weights = f'{row.released_library} {row.released_weights}'
    else:  # the paper's network: the weights are its registered variant's
      weights = ', '.join(f'see {name}' for name in row.released_variants) or '—'
    cells = [row.name, str(row.input_size), f'{row.params / 1e6:.1f} M',
             f'{row.macs / 1e9:.2f} G', _percent(row.top1), row.source,
             _percent(row.released_top1),
             weights, drawn]
    cells += [f'{row.images_per_sec[size]:,.1f}' if size in row.images_per_sec else ''
              for size in measured]
    cells += [_mebibytes(row.memory_bytes.get(size)) for size in measured]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines)


def _percent(value: float | None) -> str:
  return f'{value:.1f} %' if value is not None else '—'


def _mebibytes(value: int | None) -> str:
  return f'{value / 2**20:,.0f} MiB' if value else 'n/a'


# --- Labels that overlap nothing -----------------------------------------------------------

# Directions tried around a point, in degrees: beside it first, then above and below, then
# the diagonals, so that a label reads next to its point wherever there is room.
_DIRECTIONS = (0, 180, 90, 270, 30, 150, 210, 330, 60, 120, 240, 300)


def place_labels(anchors, sizes, bounds, obstacles=(), gap: float = 3.0,
                 keep_clear: float = 4.0) -> list[tuple[float, float] | None]:
  """Centres for labels of `sizes` ((width, height) each) beside their `anchors`, such that
  every label box lies inside `bounds` and no two boxes, nor a box and an `obstacles` box,
  intersect (boxes are (x0, y0, x1, y1); all in display pixels).

  Greedy and deterministic: the most crowded anchors choose first; each takes the first
  free candidate on rings of growing distance (a label height apart), in `_DIRECTIONS`'
  order and then all round the ring. A candidate that covers another anchor (a square of
  `keep_clear` pixels around it) is taken only where no other fits. None for a label that
  no place inside `bounds` fits. Boxes keep `gap` / 2 pixels from each other, so that
  rounding cannot make them touch."""
  anchors = np.asarray(anchors, float).reshape(-1, 2)
  sizes = np.asarray(sizes, float).reshape(-1, 2)
  count = len(anchors)
  x0, y0, x1, y1 = bounds
  step = max(float(np.median(sizes[:, 1])) if count else 1.0, 1.0)
  rings = np.arange(gap, math.hypot(x1 - x0, y1 - y0) + step, step)
  anchor_boxes = np.concatenate([anchors - keep_clear, anchors + keep_clear], axis=1)
  placed = [tuple(box) for box in obstacles]
  # Crowded first: how many other anchors lie within one label width.
  separation = np.hypot(*(anchors[:, None, :] - anchors[None, :, :]).transpose(2, 0, 1))
  crowding = [(-(int(np.sum(separation[i] < sizes[i, 0])) - 1), i) for i in range(count)]
  centres = [None] * count
  for _, i in sorted(crowding):
    (ax, ay), (width, height) = anchors[i], sizes[i]
    others = np.asarray(placed).reshape(-1, 4) + np.array([-gap, -gap, gap, gap]) / 2
    anchors_left = np.delete(anchor_boxes, i, axis=0)
    fallback = None
    # A few rings at a time: most labels fit on the first, and the far ones are many.
    for chunk in range(0, len(rings), 8):
      xs, ys = _ring_candidates(ax, ay, width, height, rings[chunk:chunk + 8], step)
      boxes = np.stack([xs - width / 2, ys - height / 2, xs + width / 2, ys + height / 2], 1)
      free = ((boxes[:, 0] >= x0) & (boxes[:, 1] >= y0) & (boxes[:, 2] <= x1) &
              (boxes[:, 3] <= y1) & ~_intersect(boxes, others).any(axis=1))
      clean = free & ~_intersect(boxes, anchors_left).any(axis=1)
      if clean.any():
        k = int(np.argmax(clean))
        centres[i], box = (float(xs[k]), float(ys[k])), boxes[k]
        break
      if fallback is None and free.any():
        k = int(np.argmax(free))
        fallback = (float(xs[k]), float(ys[k])), boxes[k]
    else:
      if fallback is not None:
        centres[i], box = fallback
    if centres[i] is not None:
      placed.append(tuple(box))
  return centres


def _ring_candidates(x, y, width, height, distances, step):
  """Centres of a width × height box `distances` pixels clear of (x, y), ring by ring: the
  preferred directions first, then enough others that neighbours lie about `step` apart."""
  xs, ys = [], []
  for distance in distances:
    around = max(len(_DIRECTIONS),
                 math.ceil(2 * math.pi * (distance + max(width, height) / 2) / step))
    angles = np.concatenate([np.radians(_DIRECTIONS),
                             np.linspace(0, 2 * math.pi, around, endpoint=False)])
    xs.append(x + np.cos(angles) * (width / 2 + distance))
    ys.append(y + np.sin(angles) * (height / 2 + distance))
  return np.concatenate(xs), np.concatenate(ys)


def _intersect(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
  """[i, j]: whether box i and box j of the other set intersect."""
  if not len(others):
    return np.zeros((len(boxes), 0), bool)
  a, b = boxes[:, None, :], others[None, :, :]
  return ((a[..., 0] < b[..., 2]) & (b[..., 0] < a[..., 2]) & (a[..., 1] < b[..., 3]) &
          (b[..., 1] < a[..., 3]))


# --- The figure ----------------------------------------------------------------------------


def figure(rows: list[Row], device: str = ''):
  """Top-1 against G multiply-adds with bubble area ∝ parameters and every point labelled
  (Canziani et al. Fig. 2): circles at the papers' top-1, squares at the released weights'
  (module docstring); labels placed by `place_labels`, with a leader line where one sits
  away from its point. With measurements, a second panel of forward milliseconds per image
  against batch size (their Fig. 3). Returns the matplotlib Figure, ready to save at its
  own dpi (the label offsets are fixed in its pixels)."""
  # No pyplot: no global backend or figure list to manage.
  from matplotlib.backends.backend_agg import FigureCanvasAgg
  from matplotlib.figure import Figure

  measured = [row for row in rows if row.images_per_sec]
  result = Figure(figsize=(21 if measured else 13, 9.5), dpi=110)
  canvas = FigureCanvasAgg(result)
  axes = result.subplots(1, 2 if measured else 1, squeeze=False,
                         gridspec_kw={'width_ratios': [13, 8]} if measured else None)
  accuracy = axes[0][0]
  points = [row for row in rows if row.drawn_from]
  largest = max((row.params for row in points), default=1)
  areas = []
  for row in points:
    marker, colour = STYLES[row.drawn_from]
    # Area ∝ parameters, the same for both shapes: a square of side √s covers s points²,
    # a circle of diameter √s only π s / 4.
    area = LARGEST_BUBBLE * row.params / largest
    areas.append(area)
    accuracy.scatter(row.macs / 1e9, row.drawn_top1, s=area * (math.pi / 4 if marker == 's'
                                                               else 1),
                     marker=marker, color=colour, alpha=0.35, edgecolors=colour, linewidths=0.8)
    # The centre, solid: what a label or its leader line points at inside overlapping bubbles.
    accuracy.scatter(row.macs / 1e9, row.drawn_top1, s=5, marker=marker, color=_darker(colour))
  for kind, (marker, colour) in STYLES.items():
    if any(row.drawn_from == kind for row in points):
      accuracy.scatter([], [], s=60, marker=marker, color=colour, alpha=0.6,
                       label=f"top-1 of the {kind}" if kind == PAPER else f'top-1 of {kind}')
  accuracy.set_xscale('log')
  if points:
    macs = [row.macs / 1e9 for row in points]
    top1 = [row.drawn_top1 for row in points]
    # Room around the extreme points for their bubbles and labels.
    accuracy.set_xlim(min(macs) / 2.2, max(macs) * 2.2)
    accuracy.set_ylim(min(top1) - 3, max(top1) + 2.5)
  accuracy.set_xlabel('G multiply-adds per image (log scale)')
  accuracy.set_ylabel('top-1 accuracy, single crop (%)')
  without = [row.name for row in rows if not row.drawn_from]
  title = 'Top-1 vs multiply-adds; bubble area ∝ parameters (label: network, parameters)'
  if without:
    title += (f'\n({len(without)} networks with no single-crop top-1 from their paper or their '
              'released weights are not drawn)')
  accuracy.set_title(title, fontsize=10)
  accuracy.grid(True, which='both', alpha=0.3)
  legend = accuracy.legend(loc='lower right', fontsize=8, markerscale=1) if points else None
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
  # The layout first: the labels are placed in the pixels it leaves.
  result.tight_layout()
  _label(accuracy, points, areas, canvas.get_renderer(), legend)
  return result


def _label(axes, points: list[Row], areas: list[float], renderer, legend) -> None:
  """Adds each point's label where `place_labels` puts it, and leader lines."""
  dpi = axes.figure.dpi
  labels = []
  for row in points:
    _, colour = STYLES[row.drawn_from]
    label = axes.annotate(f'{row.name} {row.params / 1e6:.1f} M',
                          (row.macs / 1e9, row.drawn_top1), xytext=(0, 0),
                          textcoords='offset points', ha='center', va='center',
                          fontsize=LABEL_FONT_SIZE,
                          color='black' if row.drawn_from == PAPER else _darker(colour))
    label.set_in_layout(False)
    labels.append(label)
  extents = [label.get_window_extent(renderer) for label in labels]
  anchors = axes.transData.transform([(row.macs / 1e9, row.drawn_top1) for row in points])
  frame = axes.get_window_extent(renderer)
  inset = 2.0  # pixels: off the frame line
  obstacles = [tuple(legend.get_window_extent(renderer).extents)] if legend else []
  centres = place_labels(anchors, [(box.width, box.height) for box in extents],
                         (frame.x0 + inset, frame.y0 + inset, frame.x1 - inset,
                          frame.y1 - inset), obstacles)
  left_out = []
  for row, label, extent, anchor, centre, area in zip(points, labels, extents, anchors,
                                                      centres, areas):
    if centre is None:
      label.remove()
      left_out.append(row.name)
      continue
    # Where va='center' and ha='center' put the box, relative to the anchor.
    shift = (extent.x0 + extent.x1) / 2 - anchor[0], (extent.y0 + extent.y1) / 2 - anchor[1]
    offset = np.subtract(centre, anchor) - shift
    label.xyann = tuple(offset * 72 / dpi)
    half_width, half_height = extent.width / 2, extent.height / 2
    nearest = np.clip((0.0, 0.0), offset - (half_width, half_height),
                      offset + (half_width, half_height))
    if np.hypot(*nearest) > 0.6 * extent.height:  # too far to read as the point's own
      radius = math.sqrt(area / math.pi)  # points
      line = axes.annotate('', (row.macs / 1e9, row.drawn_top1),
                           xytext=tuple(nearest * 72 / dpi), textcoords='offset points',
                           arrowprops={'arrowstyle': '-', 'color': '0.45', 'lw': 0.6,
                                       'shrinkA': 0, 'shrinkB': min(radius, 4)})
      line.set_in_layout(False)
  if left_out:
    axes.text(0.01, 0.01, 'unlabelled (no room): ' + ', '.join(left_out),
              transform=axes.transAxes, fontsize=LABEL_FONT_SIZE, va='bottom')


def _darker(colour: str) -> tuple[float, float, float]:
  from matplotlib import colors
  return tuple(0.7 * channel for channel in colors.to_rgb(colour))


def plot(rows: list[Row], path: str, device: str = '') -> None:
  """Writes `figure(rows, device)` to the PNG file `path`."""
  drawn = figure(rows, device)
  drawn.savefig(path, dpi=drawn.dpi)


def to_json(rows: list[Row]) -> list[dict]:
  return [{**dataclasses.asdict(row), 'drawn_top1': row.drawn_top1, 'drawn_from': row.drawn_from,
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
