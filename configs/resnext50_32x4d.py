"""ResNeXt-50 (32×4d) on ImageNet, Xie, Girshick, Dollár, Tu & He 2017,
"Aggregated residual transformations for deep neural networks", §4
(implementation details) and §5.1.

What the paper did: built on fb.resnet.torch (Gross & Wilber); 224×224
random crops with the scale and aspect-ratio augmentation of Szegedy et al. as
fb.resnet.torch implements it (with its colour jitter, PCA lighting and
flips); SGD on 8 GPUs with batch 256 (32 per GPU), momentum 0.9, weight decay
1e-4, learning rate 0.1 divided by 10 three times with fb.resnet.torch's
schedule, He initialisation; evaluation on the single 224×224 centre crop of
the image resized to a shorter side of 256. The authors' code (ResNeXt,
built on fb.resnet.torch) runs 100 epochs, ÷10 every 30 (epochs 30, 60, 90),
with Nesterov momentum (dampening 0). Reported top-1 error: 22.2 % (Table 3).

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
  config.model = 'resnext50_32x4d'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  # fb.resnet.torch: RandomSizedCrop, ColorJitter(0.4, 0.4, 0.4), Lighting(0.1), flip.
  config.train_preprocess = ('inception_crop(224)|color_distort(brightness=0.2, saturation=0.4, '
                             'hue=0.0, contrast=0.4)|pca_lighting(0.1)|flip_lr')
  config.eval_preprocess = 'resize_short(256)|center_crop(224)'
  config.batch_size = 256
  config.num_epochs = 100.0
  config.learning_rate = 0.1  # the paper's rate, at its batch of 256
  config.lr_schedule = 'step'
  config.lr_step_epochs = (30, 60, 90)
  config.lr_step_factor = 0.1
  config.warmup_epochs = 0.0
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 1e-4
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
