"""DenseNet-121 on ImageNet, Huang et al. 2017 §4.2 ("Training"): SGD with batch
256 for 90 epochs, learning rate 0.1 divided by 10 at epochs 30 and 60, weight
decay 1e-4 and Nesterov momentum 0.9 without dampening, the standard
ResNet data augmentation (scale and aspect-ratio crops, flips). No dropout on
ImageNet. Reported: 25.02 % top-1 error (single crop, Table 3 / Fig. 3).

train.py decays only convolution and dense kernels (not BatchNorm scales and
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
  config.batch_size = 256
  config.num_epochs = 90.0
  config.learning_rate = 0.1  # the paper's rate at its batch of 256
  config.lr_schedule = 'step'
  config.lr_step_epochs = (30, 60)
  config.warmup_epochs = 0.0
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 1e-4
  config.label_smoothing = 0.0
  config.model_options.dropout_rate = 0.0
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
