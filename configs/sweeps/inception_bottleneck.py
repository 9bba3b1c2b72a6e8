"""1×1 bottlenecks make Inception affordable (Szegedy et al. 2015, §4 and Fig. 2).

`googlenet_naive` uses the naive modules of Fig. 2(a): no 1×1 reductions before
the 3×3 and 5×5 convolutions and no pool projection, so widths and cost grow
from module to module. full: ImageNet with configs/googlenet.py.
small: the cost side of the claim, which shows at any scale: parameters,
multiply-adds and training images/s on the digits at 80×80 (the smallest input
GoogLeNet's auxiliary heads take; the naive network costs 1.7 G multiply-adds per
image there), half an epoch, two seeds. Accuracy after half an epoch says
nothing about either design, so the small claim leaves it out.
"""

STATEMENT = ('Szegedy et al. 2015 (§4): without 1×1 dimension reductions the Inception '
             'modules blow up in width and computation.')
COST = ['parameters[googlenet_naive] > parameters[googlenet]',
        'multiply_adds[googlenet_naive] > multiply_adds[googlenet]',
        'images_per_sec[googlenet] > images_per_sec[googlenet_naive]']


def get_sweep(variant):
  if variant == 'small':
    return {'description': STATEMENT + ' Small variant: digits at 80×80, half an epoch, '
                                       '2 seeds; cost only.',
            'recipe': 'configs/quickstart.py',
            # configs/googlenet.py's rate (Caffe's 0.01 at batch 32): the quickstart's
            # 0.05 makes the unnormalised GoogLeNets diverge within a few steps.
            'overrides': {'learning_rate': 0.08, 'image_size': 80, 'num_epochs': 0.5,
                          'eval_every_epochs': 0.5, 'log_every_steps': 5},
            'axes': {'model': ['googlenet', 'googlenet_naive']}, 'seeds': (0, 1),
            'claim': {'statement': STATEMENT, 'expect': COST}}
  return {'description': STATEMENT, 'recipe': 'configs/googlenet.py', 'overrides': {},
          'axes': {'model': ['googlenet', 'googlenet_naive']},
          'claim': {'statement': STATEMENT, 'expect': COST}}
