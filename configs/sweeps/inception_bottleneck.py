"""1×1 bottlenecks make Inception affordable (Szegedy et al. 2015, §4 and Fig. 2).

`googlenet_naive` uses the naive modules of Fig. 2(a): no 1×1 reductions before
the 3×3 and 5×5 convolutions and no pool projection, so widths and cost grow
from module to module. results.md lists parameters and multiply-adds with the
accuracy. full: ImageNet with configs/googlenet.py. small: the digits at 80×80
(the smallest input GoogLeNet's auxiliary heads take), one epoch: the naive
network costs 1.7 G multiply-adds per image there.
"""


def get_sweep(variant):
  description = ('Szegedy et al. 2015 (§4): without 1×1 dimension reductions the Inception '
                 'modules blow up in width and computation.')
  if variant == 'small':
    return {'description': description + ' Small variant: digits at 80×80, one epoch.',
            'recipe': 'configs/quickstart.py',
            # configs/googlenet.py's rate (Caffe's 0.01 at batch 32): the quickstart's
            # 0.05 makes the unnormalised GoogLeNets diverge within a few steps.
            'overrides': {'learning_rate': 0.08, 'image_size': 80, 'num_epochs': 1.0,
                          'eval_every_epochs': 0.5, 'log_every_steps': 10},
            'axes': {'model': ['googlenet', 'googlenet_naive']}}
  return {'description': description, 'recipe': 'configs/googlenet.py', 'overrides': {},
          'axes': {'model': ['googlenet', 'googlenet_naive']}}
