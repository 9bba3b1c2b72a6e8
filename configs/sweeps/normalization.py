"""BatchNorm against LRN against no normalisation, on VGG configuration A.

Simonyan & Zisserman 2015 (Table 3) found that LRN (A-LRN) does not improve
configuration A; Ioffe & Szegedy 2015 showed BatchNorm speeds training up.
full: ImageNet with configs/vgg16.py's recipe. small: the digits at 32×32.
"""


def get_sweep(variant):
  description = ('VGG-11 without normalisation, with LRN (A-LRN, Simonyan & Zisserman 2015, '
                 'Table 3: no gain) and with BatchNorm (Ioffe & Szegedy 2015).')
  if variant == 'small':
    return {'description': description + ' Small variant: digits.',
            'recipe': 'configs/quickstart.py',
            'overrides': {'num_epochs': 3.0, 'eval_every_epochs': 1.0, 'log_every_steps': 10},
            'axes': {'model': ['vgg11', 'vgg11_lrn', 'vgg11_bn']}}
  return {'description': description, 'recipe': 'configs/vgg16.py', 'overrides': {},
          'axes': {'model': ['vgg11', 'vgg11_lrn', 'vgg11_bn']}}
