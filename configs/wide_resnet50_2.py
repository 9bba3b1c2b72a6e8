"""WRN-50-2-bottleneck on ImageNet, Zagoruyko & Komodakis 2016, "Wide residual
networks" (ImageNet section): ResNet-50 with the inner width of every
bottleneck doubled (68.9 M parameters), reported top-1 error 21.9 %.

The paper states no ImageNet schedule of its own (its ImageNet networks are
compared with the ResNets of Gross & Wilber's fb.resnet.torch); this recipe is
that ResNet recipe (an assumption): SGD with momentum 0.9, batch 256, learning
rate 0.1 divided by 10 at epochs 30, 60 and 80 of 90, weight decay 1e-4, scale
and aspect-ratio augmentation and horizontal flips.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'wide_resnet50_2'
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
