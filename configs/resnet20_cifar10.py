"""ResNet-20 on CIFAR-10, He et al. 2016 §4.2.

What the paper did: batch 128 (on two GPUs), learning rate 0.1, ÷10 at 32k and
48k iterations, stopped at 64k (chosen on a 45k/5k train/validation split),
momentum 0.9, weight decay 1e-4, He initialisation, BatchNorm, no dropout;
4 pixels padded on each side and a random 32×32 crop of the padded image or of
its horizontal flip; testing on the single original 32×32 view. Reported
error: 8.75 %.

Differences, and why:
  * The 50k training images, not 45k: the iterations become epochs 82 and 123
    of 164 (32k, 48k and 64k iterations of 128 on 50k images).
  * Per-channel mean/std normalisation, where the paper subtracts the per-pixel
    mean.
  * `resize(32)` opens both strings: it leaves CIFAR-10's 32×32 images as they
    are, and brings smaller images (the 8×8 embedded digits) to the input size.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'resnet20'
  config.num_classes = 10
  config.dataset = 'cifar10'
  config.image_size = 32
  config.train_preprocess = 'resize(32)|pad_random_crop(32, 4)|flip_lr'  # §4.2: pad 4, crop, flip
  config.eval_preprocess = 'resize(32)'  # the original 32×32 image
  config.batch_size = 128
  config.num_epochs = 164.0
  config.learning_rate = 0.2  # the paper's 0.1 at batch 128: 0.1 × 256 / 128
  config.lr_schedule = 'step'
  config.lr_step_epochs = (82, 123)
  config.lr_step_factor = 0.1
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 1e-4
  config.log_every_steps = 100
  config.eval_every_epochs = 4.0
  config.checkpoint_every_steps = 2000
  return config
