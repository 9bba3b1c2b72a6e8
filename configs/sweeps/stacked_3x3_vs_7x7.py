"""Three stacked 3×3 convolutions against one 7×7 (Simonyan & Zisserman 2015, §2.3).

Both see a 7×7 window; the stack has 27C² weights instead of 49C² and two more
non-linearities. `vgg16_one_conv_per_stage` replaces each stage's stack of n 3×3
convolutions by one (2n+1)×(2n+1) convolution.
full: ImageNet with configs/vgg16.py. small: the BatchNorm versions on the digits
at 32×32, 3 epochs, two seeds: the weights' side of the claim holds exactly; the
accuracy side is measured, at a scale where both networks fit the digits.
"""

STATEMENT = ('Simonyan & Zisserman 2015 (§2.3): a stack of 3×3 convolutions has the receptive '
             'field of one large convolution with fewer weights (27C² against 49C² for three '
             'against 7×7) and discriminates better.')


def claim(stack, single):
  return {'statement': STATEMENT,
          'expect': [f'parameters[{single}] > parameters[{stack}]',
                     f'eval_top1[{stack}] > eval_top1[{single}]']}


def get_sweep(variant):
  if variant == 'small':
    stack, single = 'vgg16_bn', 'vgg16_bn_one_conv_per_stage'
    return {'description': STATEMENT + ' Small variant: BatchNorm VGG-16s, digits, 3 epochs, '
                                       '2 seeds.',
            'recipe': 'configs/quickstart.py',
            'overrides': {'num_epochs': 3.0, 'eval_every_epochs': 1.0, 'log_every_steps': 10,
                          'learning_rate': 0.1},
            'axes': {'model': [stack, single]}, 'seeds': (0, 1),
            'claim': claim(stack, single)}
  stack, single = 'vgg16', 'vgg16_one_conv_per_stage'
  return {'description': STATEMENT, 'recipe': 'configs/vgg16.py', 'overrides': {},
          'axes': {'model': [stack, single]}, 'claim': claim(stack, single)}
