"""`python -m models compare`: the ImageNet networks' table against models.summary, the
registry's cited accuracies and the released weights' quoted ones, the figure and its
labels, and the measured panel (`python benchmark.py --compare`)."""

import ast
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import models
from models import compare, released, summary
from tests.models import helpers


def label_boxes(figure):
  """The rendered boxes of the accuracy panel's labels, their texts, the panel's frame, and
  its legend's box, in display pixels."""
  renderer = figure.canvas.get_renderer()
  accuracy = figure.axes[0]
  labels = [text for text in accuracy.texts if text.get_text()]
  legend = accuracy.get_legend()
  return ([label.get_window_extent(renderer) for label in labels],
          [label.get_text() for label in labels], accuracy.get_window_extent(renderer),
          legend.get_window_extent(renderer) if legend else None)


def assert_labels_apart_and_inside(figure):
  boxes, texts, frame, legend = label_boxes(figure)
  for i, box in enumerate(boxes):
    assert (frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0
            and box.y1 <= frame.y1), f'{texts[i]!r} leaves the axes'
    assert legend is None or not box.overlaps(legend), f'{texts[i]!r} is on the legend'
    for j in range(i):
      assert not box.overlaps(boxes[j]), f'{texts[i]!r} overlaps {texts[j]!r}'
  return texts


@pytest.mark.slow  # summarises every ImageNet network (traced, about a minute on two cores)
def test_the_table_is_the_summary_and_the_registry():
  rows = compare.table_rows()
  assert [row.name for row in rows] == [
      name for name in models.names() if models.spec(name).num_classes == 1000]
  for row in rows:
    table = summary.summarize(row.name)
    spec = models.spec(row.name)
    assert row.input_size == spec.input_size
    assert row.params == table.total_params - table.auxiliary_params
    assert row.macs == table.total_macs
    assert row.top1 == spec.paper_top1
    # A cited number names its table; a missing one says why.
    assert row.source, f'{row.name}: no citation and no reason'
    source = released.SOURCES.get(row.name)
    assert row.released_top1 == (source.top1 if source else None)
  papers = {row.name: row for row in rows if row.top1 is not None}
  assert {'resnext50_32x4d', 'inception_v3', 'nasnet_a_large', 'mobilenet_v2'} <= set(papers)
  assert 70 < papers['nasnet_a_mobile'].top1 < papers['nasnet_a_large'].top1 < 90
  assert 'resnet50' not in papers  # He et al. report 10-crop and dense results only
  # The lecture's figure (Canziani et al.) is drawn whole, by released weights where the
  # papers give no single-crop top-1.
  drawn = {row.name: row.drawn_from for row in rows if row.drawn_from}
  lecture = ['alexnet_torchvision', 'vgg16', 'vgg19', 'googlenet_torchvision', 'resnet18',
             'resnet34', 'resnet50', 'resnet101', 'resnet152', 'inception_v3', 'inception_v4']
  assert set(lecture) <= set(drawn)
  assert drawn['resnet50'] == 'released weights (torchvision)'
  assert drawn['inception_v4_tfslim'] == 'released weights (timm)'
  markdown = compare.format_table(rows)
  assert markdown.count('\n') == len(rows) + 1
  assert '| resnet50 |' in markdown and 'crop' in markdown
  labels = assert_labels_apart_and_inside(compare.figure(rows))
  assert sorted(label.split()[0] for label in labels) == sorted(drawn)


def test_released_weights_place_the_networks_their_papers_leave_out():
  rows = {row.name: row for row in compare.table_rows(
      ['alexnet', 'alexnet_torchvision', 'googlenet', 'googlenet_torchvision', 'resnet18',
       'mobilenet_v2', 'se_resnet50_caffe', 'vgg16_one_conv_per_stage'])}
  # The paper's AlexNet has no single-crop top-1 and no weights of its own: the released
  # variant stands for it, under its own name.
  assert rows['alexnet'].drawn_from == '' and rows['alexnet'].drawn_top1 is None
  assert rows['alexnet'].released_variants == ('alexnet_torchvision',)
  assert rows['googlenet'].released_variants == ('googlenet_torchvision',)
  torchvision = rows['alexnet_torchvision']
  assert torchvision.drawn_top1 == released.SOURCES['alexnet_torchvision'].top1
  assert torchvision.drawn_from == 'released weights (torchvision)'
  assert rows['resnet18'].drawn_from == 'released weights (torchvision)'
  assert rows['se_resnet50_caffe'].drawn_from == 'released weights (timm)'
  # Where both exist, the paper's number is drawn and the table shows both.
  assert rows['mobilenet_v2'].drawn_from == 'paper'
  assert rows['mobilenet_v2'].drawn_top1 == models.spec('mobilenet_v2').paper_top1
  assert rows['mobilenet_v2'].released_top1 == released.SOURCES['mobilenet_v2'].top1
  assert rows['vgg16_one_conv_per_stage'].drawn_from == ''
  lines = {line.split(' | ')[0][2:]: line
           for line in compare.format_table(list(rows.values())).splitlines()[2:]}
  assert lines['alexnet'].endswith('| as alexnet_torchvision (released weights) |')
  assert lines['resnet18'].endswith('| released weights (torchvision) |')
  assert 'torchvision resnet18, resnet18-f37072fd.pth' in lines['resnet18']
  assert '| 72.0 % |' in lines['mobilenet_v2'] and '| 71.9 % |' in lines['mobilenet_v2']
  assert lines['vgg16_one_conv_per_stage'].endswith('| no |')
  by_name = {row['name']: row for row in compare.to_json(list(rows.values()))}
  assert by_name['resnet18']['drawn_from'] == 'released weights (torchvision)'
  # The figure tells the kinds apart: a legend entry and a marker of each.
  figure = compare.figure(list(rows.values()))
  legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
  assert legend == ['top-1 of the paper', 'top-1 of released weights (torchvision)',
                    'top-1 of released weights (timm)']
  labels = assert_labels_apart_and_inside(figure)
  assert sorted(label.split()[0] for label in labels) == [
      'alexnet_torchvision', 'googlenet_torchvision', 'mobilenet_v2', 'resnet18',
      'se_resnet50_caffe']


def crowded_rows(count: int = 40) -> list[compare.Row]:
  """Rows as dense as the real figure's thickest cluster, with names as long as its longest."""
  rng = np.random.default_rng(0)
  kinds = [(76.0, None, ''), (None, 75.0, released.TORCHVISION), (None, 77.0, released.TIMM)]
  rows = []
  for index in range(count):
    paper, quoted, library = kinds[index % 3]
    offset = rng.uniform(-3, 3)
    rows.append(compare.Row(
        f'network_{index}_with_a_long_name', 224, int(rng.uniform(2e6, 140e6)),
        int(10 ** rng.uniform(9.4, 10.2)), paper and paper + offset, 'made up',
        released_top1=quoted and quoted + offset, released_library=library))
  return rows


def test_labels_overlap_nothing_and_stay_inside_the_axes():
  rows = crowded_rows()
  figure = compare.figure(rows)
  labels = assert_labels_apart_and_inside(figure)
  assert len(labels) == len(rows)  # each placed: none left out for want of room
  # Moved labels keep a leader line to their point.
  assert any(not text.get_text() and text.arrow_patch for text in figure.axes[0].texts)
  # With the measured panel beside it, the accuracy panel is narrower: still apart.
  for row in rows[:3]:
    row.images_per_sec, row.memory_bytes = {1: 10.0, 4: 30.0}, {1: 2**20, 4: 2**22}
  assert len(assert_labels_apart_and_inside(compare.figure(rows, device='cpu'))) == len(rows)


def test_placement_is_deterministic_and_reports_what_does_not_fit():
  anchors = [(50.0, 50.0)] * 12  # one spot, twelve labels
  centres = compare.place_labels(anchors, [(30.0, 10.0)] * 12, (0, 0, 100, 100))
  assert centres == compare.place_labels(anchors, [(30.0, 10.0)] * 12, (0, 0, 100, 100))
  boxes = [(x - 15, y - 5, x + 15, y + 5) for x, y in centres]
  for i, (x0, y0, x1, y1) in enumerate(boxes):
    assert 0 <= x0 and x1 <= 100 and 0 <= y0 and y1 <= 100
    for other in boxes[:i]:
      assert not (x0 < other[2] and other[0] < x1 and y0 < other[3] and other[1] < y1)
  # Wider than the bounds: no place, said so.
  assert compare.place_labels([(50.0, 50.0)], [(120.0, 10.0)], (0, 0, 100, 100)) == [None]


def test_models_imports_nothing_above_it():
  """The ground floor (DESIGN.md): models/ imports no module of the project outside it."""
  project = {name[:-3] if name.endswith('.py') else name for name in os.listdir(helpers.REPO)
             if name.endswith('.py') or os.path.isfile(os.path.join(helpers.REPO, name,
                                                                     '__init__.py'))}
  project -= {'models'}
  folder = os.path.join(helpers.REPO, 'models')
  for filename in sorted(os.listdir(folder)):
    if not filename.endswith('.py'):
      continue
    with open(os.path.join(folder, filename), encoding='utf-8') as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if isinstance(node, ast.Import):
        imported = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom) and not node.level:
        imported = [node.module]
      else:
        continue
      above = {name.split('.')[0] for name in imported} & project
      assert not above, f'models/{filename} imports {above}'


def test_a_plot_without_measurements_and_one_with(tmp_path):
  rows = compare.table_rows(['alexnet_torchvision', 'inception_v3', 'resnext50_32x4d',
                             'mobilenet_v2'])
  compare.plot(rows, str(tmp_path / 'accuracy.png'))
  for row, speed in zip(rows, (100.0, 50.0, 80.0, 400.0)):
    row.images_per_sec = {1: speed, 4: 2 * speed}
    row.memory_bytes = {1: 2**20, 4: 2**22}
  compare.plot(rows, str(tmp_path / 'both.png'), device='cpu')
  one = np.asarray(Image.open(tmp_path / 'accuracy.png'))
  two = np.asarray(Image.open(tmp_path / 'both.png'))
  assert two.shape[1] > 1.4 * one.shape[1]  # the second panel
  markdown = compare.format_table(rows)
  assert 'img/s @4' in markdown and '| 200.0 |' in markdown and '4 MiB' in markdown


def test_batch_sizes_are_checked():
  assert compare.check_batch_sizes('1,4,16,64') == (1, 4, 16, 64)
  for bad in ('', '0,4', 'a', '1,,2'):
    with pytest.raises(ValueError, match='positive integers'):
      compare.check_batch_sizes(bad)


@pytest.mark.e2e
def test_compare_measures_and_plots_through_the_command_line(tmp_path):
  # Two of the ImageNet networks whose forward pass compiles fastest (about 5 s each at
  # 224 px on two cores, against 13 s for MobileNet v3 small or AlexNet), named out of
  # alphabetical order: the rows keep the command line's.
  plot = tmp_path / 'compare.png'
  result = subprocess.run(
      [sys.executable, 'benchmark.py', '--compare', '--model=resnet18,mobilenet_v1',
       '--batch_sizes=1,2', '--steps=1', f'--plot={plot}', '--json',
       '--compilation_cache_dir='], cwd=helpers.REPO, capture_output=True, text=True,
      timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  rows = json.loads(result.stdout.strip().splitlines()[-1])
  assert [row['name'] for row in rows] == ['resnet18', 'mobilenet_v1']
  for row in rows:
    assert set(row['images_per_sec']) == {'1', '2'}
    assert all(speed > 0 for speed in row['images_per_sec'].values())
    assert all(memory > 0 for memory in row['memory_bytes'].values())  # XLA's analysis on CPU
  assert Image.open(plot).size[0] > 1000
  for command in ([sys.executable, '-m', 'models', 'compare', '--models=resnet20'],
                  [sys.executable, 'benchmark.py', '--compare', '--model=resnet20']):
    bad = subprocess.run(command, cwd=helpers.REPO, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith(
        'error: resnet20 is not an ImageNet network')


def test_measure_names_the_command_it_moved_to(capsys):
  # models/ measures nothing (it sits below train.py's evaluation step): the old flag gets
  # the command that does, with its own arguments, and measures nothing.
  from models import __main__ as command_line
  assert command_line.main(['compare', '--measure', '--models=resnet50,vgg16', '--steps=2',
                            '--plot=my plot.png']) == 2
  assert capsys.readouterr().err.strip().endswith(
      "python benchmark.py --compare --model=resnet50,vgg16 --batch_sizes=1,4,16,64 "
      "--steps=2 '--plot=my plot.png'")
