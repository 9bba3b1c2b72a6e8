"""ResNeXt-50 (32×4d) on ImageNet, Xie, Girshick, Dollár, Tu & He 2017,
"Aggregated residual transformations for deep neural networks", §4
(implementation details):

SGD on 8 GPUs with batch 256 (32 per GPU), momentum 0.9, weight decay 1e-4,
learning rate 0.1 divided by 10 three times with the schedule of Gross &
Wilber's fb.resnet.torch (epochs 30, 60 and 80 of 90), scale and aspect-ratio
augmentation, He initialisation. Reported top-1 error: 22.2 % (Table 3).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'resnext50_32x4d'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.batch_size = 256
  config.num_epochs = 90.0
  config.learning_rate = 0.1  # at batch 256
  config.lr_schedule = 'step'
  config.lr_step_epochs = (30, 60, 80)
  config.warmup_epochs = 0.0
  config.momentum = 0.9
  config.weight_decay = 1e-4
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
