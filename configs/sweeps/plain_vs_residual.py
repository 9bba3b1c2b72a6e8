"""Deeper plain networks train worse; residual ones do not (He et al. 2016, Fig. 6).

full: the paper's CIFAR-10 experiment, plain-20/56 against ResNet-20/56 with the
§4.2 recipe (configs/resnet20_cifar10.py: 64k iterations, batch 128).
small: plain-20 against ResNet-20 on the embedded digits, a few minutes on a CPU.
"""


def get_sweep(variant):
  description = ('He et al. 2016 (Fig. 6): a 56-layer plain network has higher training '
                 'error than a 20-layer one; with identity shortcuts the deeper one is better.')
  if variant == 'small':
    return {'description': description + ' Small variant: 20 layers, embedded digits.',
            'recipe': 'configs/quickstart.py',
            'overrides': {'num_epochs': 5.0, 'eval_every_epochs': 1.0, 'log_every_steps': 20},
            'axes': {'model': ['plain20', 'resnet20']}}
  return {'description': description, 'recipe': 'configs/resnet20_cifar10.py',
          'overrides': {}, 'axes': {'model': ['plain20', 'plain56', 'resnet20', 'resnet56']}}
