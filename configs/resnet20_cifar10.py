"""ResNet-20 on CIFAR-10, He et al. 2016 §4.2: batch 128, learning rate 0.1,
÷10 at 32k and 48k iterations, stopped at 64k (182 epochs of 45k+5k images;
here 50k training images: epochs 82 and 123 of 164), momentum 0.9, weight
decay 1e-4, 4-pixel pad-and-crop and horizontal flips. Reported error: 8.75 %.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'resnet20'
  config.num_classes = 10
  config.dataset = 'cifar10'
  config.image_size = 32
  config.batch_size = 128
  config.num_epochs = 164.0
  config.learning_rate = 0.2  # 0.1 at batch 128
  config.lr_schedule = 'step'
  config.lr_step_epochs = (82, 123)
  config.momentum = 0.9
  config.weight_decay = 1e-4
  config.log_every_steps = 100
  config.eval_every_epochs = 4.0
  config.checkpoint_every_steps = 2000
  return config
