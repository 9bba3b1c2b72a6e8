"""ResNet-110 with stochastic depth on CIFAR-10, Huang, Sun, Liu, Sedra &
Weinberger 2016, "Deep networks with stochastic depth", §4 (CIFAR-10).

What the paper did: linear decay of the survival probability to p_L = 0.5 for
the last block, 500 epochs, batch 128, learning rate 0.1 ÷10 at epochs 250 and
375, Nesterov momentum 0.9 (dampening 0), weight decay 1e-4, the standard
augmentation of He et al. (4-pixel translations by padding and random 32×32
crops, horizontal flips). Reported error: 5.25 % (Table 1; 6.41 % with
constant depth).

Differences, and why:
  * Per-channel mean/std normalisation.
  * `resize(32)` leaves CIFAR-10 as it is and brings smaller images to 32×32.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'resnet110_stochastic_depth'
  config.num_classes = 10
  config.dataset = 'cifar10'
  config.image_size = 32
  config.train_preprocess = 'resize(32)|pad_random_crop(32, 4)|flip_lr'
  config.eval_preprocess = 'resize(32)'
  config.batch_size = 128
  config.num_epochs = 500.0
  config.learning_rate = 0.2  # the paper's 0.1 at batch 128: 0.1 × 256 / 128
  config.lr_schedule = 'step'
  config.lr_step_epochs = (250, 375)
  config.lr_step_factor = 0.1
  config.warmup_epochs = 0.0
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 1e-4
  # p_L, the survival probability of the last of the 54 blocks (the model's default too).
  config.model_options.stochastic_depth = 0.5
  config.log_every_steps = 100
  config.eval_every_epochs = 5.0
  config.checkpoint_every_steps = 2000
  return config
