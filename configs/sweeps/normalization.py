"""BatchNorm against LRN against no normalisation, on VGG configuration A.

Simonyan & Zisserman 2015 (Table 3) found that LRN (A-LRN) does not improve
configuration A; Ioffe & Szegedy 2015 showed BatchNorm speeds training up.
full: ImageNet with configs/vgg16.py's recipe. small: the digits at 32×32,
3 epochs, two seeds, one learning rate for all three (0.1 at batch 256, the rate
of the other small VGG sweeps): the comparison is how far each network's training
error falls in the same steps. (At the quickstart's 0.4 even the BatchNorm network
barely moved in 3 epochs, and the seeds' spread covered the differences.)
"""

STATEMENT = ('Ioffe & Szegedy 2015: BatchNorm lets a network train faster; Simonyan & '
             'Zisserman 2015 (Table 3): LRN does not improve VGG-11 (A-LRN).')
EXPECT = ['train_error[vgg11_bn] < train_error[vgg11]',
          'train_error[vgg11_bn] < train_error[vgg11_lrn]']


def get_sweep(variant):
  models = ['vgg11', 'vgg11_lrn', 'vgg11_bn']
  if variant == 'small':
    return {'description': STATEMENT + ' Small variant: digits, 3 epochs, 2 seeds.',
            'recipe': 'configs/quickstart.py',
            'overrides': {'num_epochs': 3.0, 'eval_every_epochs': 1.0, 'log_every_steps': 10,
                          'learning_rate': 0.1},
            'axes': {'model': models}, 'seeds': (0, 1),
            'claim': {'statement': STATEMENT, 'expect': EXPECT}}
  return {'description': STATEMENT, 'recipe': 'configs/vgg16.py', 'overrides': {},
          'axes': {'model': models}, 'claim': {'statement': STATEMENT, 'expect': EXPECT}}
