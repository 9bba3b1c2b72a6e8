"""Writes trained/imagenet_classes.tsv: ImageNet-1k's 1000 classes as WordNet synset ids
and their lemmas ("n02123045<TAB>tabby, tabby cat"), in the order of torchvision's and
timm's classifiers (sorted synset ids, tensorflow-datasets' imagenet2012 labels.txt).

The lemmas are WordNet's; they are read once from the synset tables that timm ships
(timm/data/_info/imagenet_synsets.txt and imagenet_synset_to_lemma.txt) and checked here
against tensorflow-datasets' synset order. Run with any Python that has timm and tfds:

    python tools/make_imagenet_classes.py --timm_info=<site-packages>/timm/data/_info \
        --tfds_labels=<site-packages>/tensorflow_datasets/datasets/imagenet2012/labels.txt
"""

import argparse
import os

OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'trained',
                   'imagenet_classes.tsv')


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument('--timm_info', required=True)
  parser.add_argument('--tfds_labels', required=True)
  args = parser.parse_args()
  with open(os.path.join(args.timm_info, 'imagenet_synsets.txt')) as file:
    synsets = [line.strip() for line in file if line.strip()]
  with open(args.tfds_labels) as file:
    tfds_order = [line.strip() for line in file if line.strip()]
  if synsets != tfds_order:
    raise SystemExit('timm\'s synset order differs from tensorflow-datasets\'')
  lemmas = {}
  with open(os.path.join(args.timm_info, 'imagenet_synset_to_lemma.txt')) as file:
    for line in file:
      synset, _, lemma = line.rstrip('\n').partition('\t')
      lemmas[synset] = lemma.strip()
  with open(OUT, 'w') as file:
    for synset in synsets:
      file.write(f'{synset}\t{lemmas[synset]}\n')
  print(f'wrote {len(synsets)} classes to {OUT}')


if __name__ == '__main__':
  main()
