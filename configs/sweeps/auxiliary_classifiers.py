"""GoogLeNet with and without its auxiliary classifiers (Szegedy et al. 2015, §5).

The paper weighs the two auxiliary losses by 0.3 and reports "a relatively
minor effect (around 0.5 %)"; aux_loss_weight=0 trains without them (the heads
are still computed, but receive no gradient).
full: ImageNet with configs/googlenet.py. small: the digits at 96×96, 2 epochs,
two seeds. GoogLeNet without BatchNorm, at the rate it trains with, is still far
from fitting the digits after 2 epochs (4 runs take about 9 minutes on two
cores); an effect of half a point is then within what two seeds spread, and the
verdict says so.
"""

STATEMENT = ('Szegedy et al. 2015 (§5): auxiliary classifiers weighted 0.3 help by about '
             '0.5 % top-1.')


def get_sweep(variant):
  claim = {'statement': STATEMENT, 'expect': ['eval_top1[0.3] > eval_top1[0.0]']}
  if variant == 'small':
    return {'description': STATEMENT + ' Small variant: digits at 96×96, 2 epochs, 2 seeds.',
            'recipe': 'configs/quickstart.py',
            # configs/googlenet.py's rate (Caffe's 0.01 at batch 32): the quickstart's
            # 0.05 makes the unnormalised GoogLeNets diverge within a few steps.
            'overrides': {'learning_rate': 0.08, 'model': 'googlenet', 'image_size': 96,
                          'num_epochs': 2.0, 'eval_every_epochs': 1.0, 'log_every_steps': 10},
            'axes': {'aux_loss_weight': [0.3, 0.0]}, 'seeds': (0, 1), 'claim': claim}
  return {'description': STATEMENT, 'recipe': 'configs/googlenet.py', 'overrides': {},
          'axes': {'aux_loss_weight': [0.3, 0.0]}, 'claim': claim}
