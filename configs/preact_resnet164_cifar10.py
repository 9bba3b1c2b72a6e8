"""Pre-activation ResNet-164 on CIFAR-10, He et al. 2016, "Identity mappings in deep
residual networks", §4 and the appendix (implementation details):

batch 128, learning rate 0.1, ÷10 at 32k and 48k iterations, stopped at 64k
(here on the 50k training images: epochs 82 and 123 of 164), momentum 0.9,
weight decay 1e-4, He initialisation, 4-pixel pad-and-crop and horizontal flips.
Reported error: 5.46 % (Table 3).

The paper warms up with 0.01 for the first 400 iterations (and says it is not
necessary for the pre-activation unit); train.py's warmup ramps from the
per-256 rate to the peak and cannot start lower, so there is no warmup here.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'preact_resnet164'
  config.num_classes = 10
  config.dataset = 'cifar10'
  config.image_size = 32
  config.batch_size = 128
  config.num_epochs = 164.0
  config.learning_rate = 0.2  # 0.1 at batch 128
  config.lr_schedule = 'step'
  config.lr_step_epochs = (82, 123)
  config.warmup_epochs = 0.0
  config.momentum = 0.9
  config.weight_decay = 1e-4
  config.log_every_steps = 100
  config.eval_every_epochs = 4.0
  config.checkpoint_every_steps = 2000
  return config
