"""Pre-activation ResNet-164 on CIFAR-10, He et al. 2016, "Identity mappings in deep
residual networks", §4 and the appendix (implementation details).

What the paper did: batch 128, learning rate 0.1, ÷10 at 32k and 48k
iterations, stopped at 64k, momentum 0.9, weight decay 1e-4, He
initialisation, the translation and flipping augmentation of the first ResNet
paper (4 pixels of padding, random 32×32 crops, horizontal flips), and a
warmup at 0.01 for the first 400 iterations (which the paper says is not
necessary for the pre-activation unit). Reported error: 5.46 % (Table 3).

Differences, and why:
  * The 50k training images: epochs 82 and 123 of 164 stand for 32k, 48k and
    64k iterations of 128.
  * No warmup: train.py's warmup ramps from the per-256 rate up to the peak and
    cannot start lower, and the paper finds it unnecessary here.
  * Per-channel mean/std normalisation.
  * `resize(32)` leaves CIFAR-10 as it is and brings smaller images to 32×32.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'preact_resnet164'
  config.num_classes = 10
  config.dataset = 'cifar10'
  config.image_size = 32
  config.train_preprocess = 'resize(32)|pad_random_crop(32, 4)|flip_lr'
  config.eval_preprocess = 'resize(32)'
  config.batch_size = 128
  config.num_epochs = 164.0
  config.learning_rate = 0.2  # the paper's 0.1 at batch 128: 0.1 × 256 / 128
  config.lr_schedule = 'step'
  config.lr_step_epochs = (82, 123)
  config.lr_step_factor = 0.1
  config.warmup_epochs = 0.0
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 1e-4
  config.log_every_steps = 100
  config.eval_every_epochs = 4.0
  config.checkpoint_every_steps = 2000
  return config
