"""VGG's depth study: configurations A, B, D, E (Simonyan & Zisserman 2015, Table 3).

full: VGG-11/13/16/19 on ImageNet with configs/vgg16.py's recipe.
small: the batch-normalised VGG-11 and VGG-13 on the embedded digits at 32×32
(plain VGG needs the paper's staged initialisation to start training at all),
3 epochs, two seeds. The paper's claim is about networks trained to the end;
in 3 epochs on 1,437 digits the deeper network is still catching up, so at this
scale the small variant measures where depth stands early in training, and its
verdict can say the claim does not hold here.
"""

STATEMENT = ('Simonyan & Zisserman 2015 (Table 3): top-1 error falls with depth, from 11 to '
             '19 weight layers (29.6 % for A to 25.5 % for E at single scale).')


def get_sweep(variant):
  if variant == 'small':
    return {'description': STATEMENT + ' Small variant: VGG-11/13 with BatchNorm, digits, '
                                       '3 epochs, 2 seeds.',
            'recipe': 'configs/quickstart.py',
            'overrides': {'num_epochs': 3.0, 'eval_every_epochs': 1.0, 'log_every_steps': 10,
                          'learning_rate': 0.1},
            'axes': {'model': ['vgg11_bn', 'vgg13_bn']}, 'seeds': (0, 1),
            'claim': {'statement': STATEMENT,
                      'expect': ['eval_top1[vgg13_bn] > eval_top1[vgg11_bn]']}}
  return {'description': STATEMENT, 'recipe': 'configs/vgg16.py', 'overrides': {},
          'axes': {'model': ['vgg11', 'vgg13', 'vgg16', 'vgg19']},
          'claim': {'statement': STATEMENT,
                    'expect': ['eval_top1[vgg13] > eval_top1[vgg11]',
                               'eval_top1[vgg16] > eval_top1[vgg13]',
                               'eval_top1[vgg19] > eval_top1[vgg16]']}}
