"""SE-ResNet-50 on ImageNet, Hu, Shen, Albanie, Sun & Wu 2018,
"Squeeze-and-excitation networks", §6.1 (implementation):

synchronous SGD with momentum 0.9, batch 1024, learning rate 0.6 divided by
10 every 30 epochs, 100 epochs from scratch, He initialisation, reduction
ratio r = 16, random-size cropping to 224 and horizontal flips. Reported top-1
error: 23.29 % (Table 2). The paper does not state the weight decay; this
recipe keeps ResNet's 1e-4.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'se_resnet50'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.batch_size = 1024
  config.num_epochs = 100.0
  config.learning_rate = 0.15  # 0.6 at batch 1024
  config.lr_schedule = 'step'
  config.lr_step_epochs = (30, 60, 90)
  config.warmup_epochs = 0.0
  config.momentum = 0.9
  config.weight_decay = 1e-4
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
