"""DenseNet-BC (L=100, k=12) on CIFAR-10, Huang et al. 2017 §4.2: SGD with batch
64 for 300 epochs, learning rate 0.1 divided by 10 at 50 % and 75 % of the
epochs (150 and 225), weight decay 1e-4, Nesterov momentum 0.9 without
dampening, standard augmentation (4-pixel pad-and-crop, horizontal flips: the
"C10+" setting). Dropout 0.2 is used only without augmentation, so it is off
here. Reported: 4.51 % error on C10+ with 0.8 M parameters (Table 2).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'densenet_bc100_k12'
  config.num_classes = 10
  config.dataset = 'cifar10'
  config.image_size = 32
  config.batch_size = 64
  config.num_epochs = 300.0
  config.learning_rate = 0.4  # 0.1 at batch 64, i.e. 0.4 per 256 images
  config.lr_schedule = 'step'
  config.lr_step_epochs = (150, 225)
  config.warmup_epochs = 0.0
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 1e-4
  config.label_smoothing = 0.0
  config.model_options.dropout_rate = 0.0  # 0.2 for C10 without augmentation (§4.2)
  config.log_every_steps = 100
  config.eval_every_epochs = 4.0
  config.checkpoint_every_steps = 5000
  return config
