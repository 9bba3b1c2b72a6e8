"""DenseNet-121 on ImageNet, Huang et al. 2017.

What the paper did (§4.1, §4.2): SGD with batch 256 for 90 epochs, learning
rate 0.1 divided by 10 at epochs 30 and 60, weight decay 1e-4 and Nesterov
momentum 0.9 without dampening; the training augmentation of Gross & Wilber's
fb.resnet.torch (random crops of 8-100 % of the area with aspect ratios 3/4 to
4/3 resized to 224, colour jitter of brightness, contrast and saturation by
±40 % in random order, AlexNet's PCA lighting noise of std 0.1, horizontal
flips), and a single 224×224 centre crop (or 10 crops) of the image resized to
a shorter side of 256 for testing. No dropout on ImageNet. Reported: 25.02 %
top-1 error (single crop, Table 3 / Fig. 3).

Differences, and why:
  * Brightness is shifted additively by up to ±0.2 of the range, fb.resnet.torch
    scales it by 1 ± 0.4 (the same shift at a mid-grey pixel): color_distort's
    brightness is additive. Its fixed set of four orders replaces a random
    permutation, and hue is left alone (hue=0.0), as in fb.resnet.torch.
  * train.py decays only convolution and dense kernels (not BatchNorm scales and
    offsets, nor the classifier's bias); the paper's Torch code decayed every
    parameter.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'densenet121'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  # fb.resnet.torch: RandomSizedCrop, ColorJitter(0.4, 0.4, 0.4), Lighting(0.1), flip.
  config.train_preprocess = ('inception_crop(224)|color_distort(brightness=0.2, saturation=0.4, '
                             'hue=0.0, contrast=0.4)|pca_lighting(0.1)|flip_lr')
  config.eval_preprocess = 'resize_short(256)|center_crop(224)'
  config.batch_size = 256
  config.num_epochs = 90.0
  config.learning_rate = 0.1  # the paper's rate, at its batch of 256
  config.lr_schedule = 'step'
  config.lr_step_epochs = (30, 60)
  config.lr_step_factor = 0.1
  config.warmup_epochs = 0.0
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 1e-4
  config.label_smoothing = 0.0
  config.model_options.dropout_rate = 0.0
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
