"""VGG's depth study: configurations A, B, D, E (Simonyan & Zisserman 2015, Table 3).

full: VGG-11/13/16/19 on ImageNet with configs/vgg16.py's recipe.
small: the batch-normalised VGG-11 and VGG-13 on the embedded digits at 32×32
(plain VGG needs the paper's staged initialisation to start training at all).
"""


def get_sweep(variant):
  description = ('Simonyan & Zisserman 2015 (Table 3): top-1 error falls from 11 to 19 '
                 'weight layers, 29.6 % (A) to 25.5 % (E) at single scale.')
  if variant == 'small':
    return {'description': description + ' Small variant: VGG-11/13 with BatchNorm, digits.',
            'recipe': 'configs/quickstart.py',
            'overrides': {'num_epochs': 3.0, 'eval_every_epochs': 1.0, 'log_every_steps': 10,
                          'learning_rate': 0.1},
            'axes': {'model': ['vgg11_bn', 'vgg13_bn']}}
  return {'description': description, 'recipe': 'configs/vgg16.py', 'overrides': {},
          'axes': {'model': ['vgg11', 'vgg13', 'vgg16', 'vgg19']}}
