"""Three stacked 3×3 convolutions against one 7×7 (Simonyan & Zisserman 2015, §2.3).

Both see a 7×7 window; the stack has 27C² weights instead of 49C² and two more
non-linearities. `vgg16_one_conv_per_stage` replaces each stage's stack of n 3×3
convolutions by one (2n+1)×(2n+1) convolution.
full: ImageNet with configs/vgg16.py. small: the BatchNorm versions on the digits.
"""


def get_sweep(variant):
  description = ('Simonyan & Zisserman 2015 (§2.3): a stack of three 3×3 convolutions has '
                 'the receptive field of one 7×7 with 45 % fewer weights and discriminates '
                 'better.')
  if variant == 'small':
    return {'description': description + ' Small variant: BatchNorm VGG-16s, digits.',
            'recipe': 'configs/quickstart.py',
            'overrides': {'num_epochs': 3.0, 'eval_every_epochs': 1.0, 'log_every_steps': 10,
                          'learning_rate': 0.1},
            'axes': {'model': ['vgg16_bn', 'vgg16_bn_one_conv_per_stage']}}
  return {'description': description, 'recipe': 'configs/vgg16.py', 'overrides': {},
          'axes': {'model': ['vgg16', 'vgg16_one_conv_per_stage']}}
