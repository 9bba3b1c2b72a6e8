"""Stochastic depth (Huang et al. 2016): ResNet-110 trained with and without it.

The paper's CIFAR-10 test error: 6.41 % constant depth, 5.25 % stochastic depth
(linear decay to a survival probability of 0.5); its training loss stays higher
with stochastic depth (Fig. 3), the mark of a regulariser.
full: configs/resnet110_stochastic_depth_cifar10.py. small: ResNet-20 on the
digits at 16×16, 30 epochs, two seeds: a regulariser needs a run long enough to
fit the training set (after 5 epochs stochastic depth was still 21 points behind).
"""

STATEMENT = ('Huang et al. 2016 (Table 1, Fig. 3): stochastic depth lowers the test error '
             '(ResNet-110 on CIFAR-10: 6.41 % to 5.25 %) while the training loss stays higher.')


def claim(plain, dropped):
  return {'statement': STATEMENT,
          'expect': [f'eval_top1[{dropped}] > eval_top1[{plain}]',
                     f'train_loss[{dropped}] > train_loss[{plain}]']}


def get_sweep(variant):
  if variant == 'small':
    plain, dropped = 'resnet20', 'resnet20_stochastic_depth'
    return {'description': STATEMENT + ' Small variant: ResNet-20, digits at 16×16, '
                                       '30 epochs, 2 seeds.',
            'recipe': 'configs/quickstart.py',
            'overrides': {'image_size': 16, 'num_epochs': 30.0, 'eval_every_epochs': 5.0,
                          'log_every_steps': 20},
            'axes': {'model': [plain, dropped]}, 'seeds': (0, 1),
            'claim': claim(plain, dropped)}
  plain, dropped = 'resnet110', 'resnet110_stochastic_depth'
  return {'description': STATEMENT, 'recipe': 'configs/resnet110_stochastic_depth_cifar10.py',
          'overrides': {}, 'axes': {'model': [plain, dropped]}, 'claim': claim(plain, dropped)}
