"""SE-ResNet-50 on ImageNet, Hu, Shen, Albanie, Sun & Wu 2018,
"Squeeze-and-excitation networks" (section "Implementation").

What the paper did: random-size cropping to 224×224 (Szegedy et al.) and
random horizontal flips, mean-channel subtraction, a data-balancing strategy
for mini-batch sampling; synchronous SGD with momentum 0.9, batch 1024,
learning rate 0.6 divided by 10 every 30 epochs, 100 epochs from scratch, He
initialisation, reduction ratio r = 16; evaluation on the 224×224 centre crop
of the image resized to a shorter side of 256. Reported top-1 error: 23.29 %
(Table 2).

Differences, and why:
  * No class-balanced mini-batch sampling: batches are uniform shuffles.
  * The paper does not state the weight decay; this recipe keeps ResNet's 1e-4.
  * Per-channel mean/std normalisation.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'se_resnet50'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.train_preprocess = 'inception_crop(224)|flip_lr'
  config.eval_preprocess = 'resize_short(256)|center_crop(224)'
  config.batch_size = 1024
  config.num_epochs = 100.0
  config.learning_rate = 0.15  # the paper's 0.6 at batch 1024: 0.6 × 256 / 1024
  config.lr_schedule = 'step'
  config.lr_step_epochs = (30, 60, 90)
  config.lr_step_factor = 0.1
  config.warmup_epochs = 0.0
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 1e-4
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
