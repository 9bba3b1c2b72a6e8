"""WRN-28-10 on CIFAR-10, Zagoruyko & Komodakis 2016, "Wide residual networks",
§3 (experimental results, training details).

What the paper did: SGD with Nesterov momentum 0.9 (dampening 0), batch 128,
learning rate 0.1 multiplied by 0.2 at epochs 60, 120 and 160 of 200, weight
decay 5e-4, mean/std normalisation, horizontal flips and random 32×32 crops of
the image padded by 4 pixels on each side, "filling missing pixels with
reflections of original image". Reported error 3.89 % without dropout (Table
5; 3.80 % with dropout 0.3 between the convolutions:
model_options.dropout_rate = 0.3).

Differences, and why:
  * pad_random_crop pads with zeros, not with reflections of the image: the
    preprocessing ops have no reflection padding. The crops see black borders
    where the paper's saw mirrored content.
  * `resize(32)` leaves CIFAR-10 as it is and brings smaller images to 32×32.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'wrn28_10'
  config.num_classes = 10
  config.dataset = 'cifar10'
  config.image_size = 32
  config.train_preprocess = 'resize(32)|pad_random_crop(32, 4)|flip_lr'  # zeros, not reflections
  config.eval_preprocess = 'resize(32)'
  config.batch_size = 128
  config.num_epochs = 200.0
  config.learning_rate = 0.2  # the paper's 0.1 at batch 128: 0.1 × 256 / 128
  config.lr_schedule = 'step'
  config.lr_step_epochs = (60, 120, 160)
  config.lr_step_factor = 0.2
  config.warmup_epochs = 0.0
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 5e-4
  config.model_options.dropout_rate = 0.0  # the paper's main result; 0.3 for WRN-28-10-dropout
  config.log_every_steps = 100
  config.eval_every_epochs = 4.0
  config.checkpoint_every_steps = 2000
  return config
