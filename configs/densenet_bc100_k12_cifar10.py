"""DenseNet-BC (L=100, k=12) on CIFAR-10, Huang et al. 2017.

What the paper did (§4.1, §4.2): SGD with batch 64 for 300 epochs, learning
rate 0.1 divided by 10 at 50 % and 75 % of the epochs (150 and 225), weight
decay 1e-4, Nesterov momentum 0.9 without dampening, the standard
augmentation ("C10+": mirroring and shifting, i.e. 4-pixel zero padding with
random 32×32 crops, and horizontal flips), mean/std normalisation. Dropout 0.2
is used only without augmentation, so it is off here. Reported: 4.51 % error on
C10+ with 0.8 M parameters (Table 2).

Differences, and why:
  * train.py decays only convolution and dense kernels (not BatchNorm scales and
    offsets, nor biases); the paper's Torch code decayed every parameter.
  * `resize(32)` leaves CIFAR-10 as it is and brings smaller images to 32×32.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'densenet_bc100_k12'
  config.num_classes = 10
  config.dataset = 'cifar10'
  config.image_size = 32
  config.train_preprocess = 'resize(32)|pad_random_crop(32, 4)|flip_lr'  # C10+
  config.eval_preprocess = 'resize(32)'
  config.batch_size = 64
  config.num_epochs = 300.0
  config.learning_rate = 0.4  # the paper's 0.1 at batch 64: 0.1 × 256 / 64
  config.lr_schedule = 'step'
  config.lr_step_epochs = (150, 225)
  config.lr_step_factor = 0.1
  config.warmup_epochs = 0.0
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 1e-4
  config.label_smoothing = 0.0
  config.model_options.dropout_rate = 0.0  # 0.2 for C10 without augmentation (§4.2)
  config.log_every_steps = 100
  config.eval_every_epochs = 4.0
  config.checkpoint_every_steps = 5000
  return config
