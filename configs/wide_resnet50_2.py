"""WRN-50-2-bottleneck on ImageNet, Zagoruyko & Komodakis 2016, "Wide residual
networks" (ImageNet section): ResNet-50 with the inner width of every
bottleneck doubled (68.9 M parameters), reported top-1 error 21.9 %.

What the paper did: it states no ImageNet schedule of its own; its ImageNet
networks are compared with, and trained like, the ResNets of Gross & Wilber's
fb.resnet.torch. This recipe is fb.resnet.torch's ImageNet recipe (an
assumption): SGD with Nesterov momentum 0.9 (dampening 0), batch 256, learning
rate 0.1 divided by 10 every 30 epochs for 90 epochs (at 30 and 60), weight
decay 1e-4; random crops of 8-100 % of the area with aspect ratios 3/4 to 4/3,
colour jitter (brightness, contrast, saturation ±40 %), PCA lighting 0.1 and
horizontal flips; the 224×224 centre crop of the image resized to 256 for
evaluation.

Differences, and why:
  * Brightness is shifted additively by up to ±0.2 of the range, fb.resnet.torch
    scales it by 1 ± 0.4 (the same shift at a mid-grey pixel); four fixed orders
    of the jitters replace a random permutation; no hue change, as there.
  * train.py decays only convolution and dense kernels, not BatchNorm
    parameters or biases.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'wide_resnet50_2'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  # fb.resnet.torch: RandomSizedCrop, ColorJitter(0.4, 0.4, 0.4), Lighting(0.1), flip.
  config.train_preprocess = ('inception_crop(224)|color_distort(brightness=0.2, saturation=0.4, '
                             'hue=0.0, contrast=0.4)|pca_lighting(0.1)|flip_lr')
  config.eval_preprocess = 'resize_short(256)|center_crop(224)'
  config.batch_size = 256
  config.num_epochs = 90.0
  config.learning_rate = 0.1  # fb.resnet.torch's rate, at its batch of 256
  config.lr_schedule = 'step'
  config.lr_step_epochs = (30, 60)
  config.lr_step_factor = 0.1
  config.warmup_epochs = 0.0
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 1e-4
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
