"""FractalNet (20 layers: B=5 blocks of C=3 columns) on CIFAR-10, Larsson et al.
2017 §4 ("Training").

What the paper did: SGD with batch 100 and momentum 0.9 for 400 epochs,
learning rate 0.02 "dropped by a factor of ten whenever the number of
remaining epochs halves" (at 200, 300, 350, 375, ...), Xavier initialisation,
standard augmentation on C10+ (translations and horizontal mirroring), and the
regularised setting "+ drop-path + dropout": local drop-path 0.15 mixed 50/50
per mini-batch with global drop-path (the model's defaults) and dropout 0, 0.1,
0.2, 0.3, 0.4 per block. Reported: 4.60 % error on C10+ (Table 1).

Differences, and why:
  * The schedule: remaining epochs halve at 200, 300, 350, 375, 387.5, ...
    without end; 'step' at the first four is the closest train.py schedule. By
    epoch 375 the rate is 2e-6, 1e-4 of the start, and the last 25 epochs at
    that rate change nothing the further drops would.
  * Translations are 4-pixel zero padding with random 32×32 crops (the paper
    names no amount; 4 is He et al.'s).
  * He initialisation (the zoo's) instead of Xavier's.
  * The paper names no weight decay, so none is used.
  * `resize(32)` leaves CIFAR-10 as it is and brings smaller images to 32×32.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'fractalnet20'
  config.num_classes = 10
  config.dataset = 'cifar10'
  config.image_size = 32
  config.train_preprocess = 'resize(32)|pad_random_crop(32, 4)|flip_lr'  # C10+
  config.eval_preprocess = 'resize(32)'
  config.batch_size = 100
  config.num_epochs = 400.0
  config.learning_rate = 0.0512  # the paper's 0.02 at batch 100: 0.02 × 256 / 100
  config.lr_schedule = 'step'
  config.lr_step_epochs = (200, 300, 350, 375)
  config.lr_step_factor = 0.1
  config.warmup_epochs = 0.0
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 0.0
  config.label_smoothing = 0.0
  config.model_options.dropout_rates = (0.0, 0.1, 0.2, 0.3, 0.4)
  config.model_options.local_drop_probability = 0.15
  config.model_options.global_drop_fraction = 0.5
  config.log_every_steps = 100
  config.eval_every_epochs = 4.0
  config.checkpoint_every_steps = 5000
  return config
