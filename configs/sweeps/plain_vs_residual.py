"""Deeper plain networks train worse; residual ones do not (He et al. 2016, Fig. 6).

full: the paper's CIFAR-10 experiment, plain-20/56 against ResNet-20/56 with the
§4.2 recipe (configs/resnet20_cifar10.py: 64k iterations, batch 128).
small: the same four networks on the embedded digits at 16×16 (the CIFAR
networks' three stages end at 4×4), 5 epochs, two seeds: the 56-layer plain
network's training error stays far above the 20-layer one's, as in Fig. 6 (left),
while ResNet-56 trains (Fig. 6, right). Several minutes on two CPU cores.
"""

STATEMENT = ('He et al. 2016 (Fig. 6): the 56-layer plain network has a higher training '
             'error than the 20-layer one; with identity shortcuts the 56-layer network '
             'trains better than the plain one.')
EXPECT = ['train_error[plain56] > train_error[plain20]',
          'train_error[resnet56] < train_error[plain56]']
MODELS = ['plain20', 'plain56', 'resnet20', 'resnet56']


def get_sweep(variant):
  claim = {'statement': STATEMENT, 'expect': EXPECT}
  if variant == 'small':
    return {'description': STATEMENT + ' Small variant: digits at 16×16, 5 epochs, 2 seeds.',
            'recipe': 'configs/quickstart.py',
            'overrides': {'image_size': 16, 'num_epochs': 5.0, 'eval_every_epochs': 1.0,
                          'log_every_steps': 10},
            'axes': {'model': MODELS}, 'seeds': (0, 1), 'claim': claim}
  return {'description': STATEMENT, 'recipe': 'configs/resnet20_cifar10.py',
          'overrides': {}, 'axes': {'model': MODELS}, 'claim': claim}
