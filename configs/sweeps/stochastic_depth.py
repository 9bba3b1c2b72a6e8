"""Stochastic depth (Huang et al. 2016): ResNet-110 trained with and without it.

The paper's CIFAR-10 test error: 6.41 % constant depth, 5.25 % stochastic depth
(linear decay to a survival probability of 0.5).
full: configs/resnet110_stochastic_depth_cifar10.py. small: ResNet-20 on digits.
"""


def get_sweep(variant):
  description = ('Huang et al. 2016 (Table 1): stochastic depth lowers ResNet-110\'s '
                 'CIFAR-10 error from 6.41 % to 5.25 %.')
  if variant == 'small':
    return {'description': description + ' Small variant: ResNet-20, digits.',
            'recipe': 'configs/quickstart.py',
            'overrides': {'num_epochs': 5.0, 'eval_every_epochs': 1.0, 'log_every_steps': 20},
            'axes': {'model': ['resnet20', 'resnet20_stochastic_depth']}}
  return {'description': description, 'recipe': 'configs/resnet110_stochastic_depth_cifar10.py',
          'overrides': {}, 'axes': {'model': ['resnet110', 'resnet110_stochastic_depth']}}
