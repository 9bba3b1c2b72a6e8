"""Class names people can read: ImageNet-1k's WordNet lemmas, beside their synset ids.

ImageNet's classes are WordNet synsets (Deng et al. 2009); tensorflow-datasets and the
released classifiers order them by synset id ("n01440764" first). imagenet_classes.tsv
keeps each id with its lemmas ("n02123045<TAB>tabby, tabby cat"), one class a line in
that order: the data table tools/make_imagenet_classes.py wrote. A dataset's own names
(an image folder's subfolders, a tfds dataset's label names) are shown as they are.
"""

import functools
import os

TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'imagenet_classes.tsv')
IMAGENET_CLASSES = 1000


@functools.cache
def imagenet_classes() -> tuple[tuple[str, str], ...]:
  """(synset id, lemmas) of the 1000 classes, in the classifiers' order."""
  with open(TABLE, encoding='utf-8') as file:
    rows = tuple(tuple(line.rstrip('\n').split('\t')) for line in file)
  if len(rows) != IMAGENET_CLASSES or any(len(row) != 2 or not row[1] for row in rows):
    raise ValueError(f'{TABLE} is damaged: it should hold {IMAGENET_CLASSES} lines of '
                     '"synset<TAB>lemmas"; restore it from the repository')
  return rows


def imagenet_synsets() -> list[str]:
  return [synset for synset, _ in imagenet_classes()]


def readable(names) -> tuple[str, ...]:
  """`names` with ImageNet synset ids replaced by their lemmas; other names unchanged."""
  lemmas = dict(imagenet_classes())
  return tuple(lemmas.get(name, name) for name in names)
