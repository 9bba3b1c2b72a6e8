"""MobileNet v2 (α=1, 224×224) on ImageNet, Sandler et al. 2018 §6.1
("Training setup").

What the paper did: TensorFlow's RMSPropOptimizer with decay and momentum 0.9,
BatchNorm after every layer, weight decay 4e-5, learning rate 0.045 decayed
by 0.98 every epoch (the MobileNet v1 setup), 16 asynchronous GPU workers with
batch 96; no epoch count, augmentation or evaluation view. Reported: 72.0 %
top-1 (Table 4).

Differences, and why:
  * Synchronous: one update per global batch of 1536 images (16 × 96) at the
    paper's rate 0.045, where each worker applied its own 96-image gradient.
  * RMSProp's ε = 1.0 is TF-slim's default (the paper names none).
  * Inception's random-size crops and flips, no colour distortion (the paper
    describes no augmentation); evaluation on the centre 87.5 % of the shorter
    side (Inception's single crop).
  * 300 epochs (the paper gives no length): the 0.98 decay leaves 0.2 % of the
    rate by then. Dropout 0.2 before the classifier is the model's default
    (TF-slim's keep probability 0.8).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'mobilenet_v2'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.train_preprocess = 'inception_crop(224)|flip_lr'
  config.eval_preprocess = 'center_crop(0.875)|resize(224)'
  config.batch_size = 1536  # 16 workers × 96
  config.num_epochs = 300.0
  config.learning_rate = 0.0075  # the paper's 0.045 at batch 1536: 0.045 × 256 / 1536
  config.lr_schedule = 'exponential'
  config.lr_decay_rate = 0.98
  config.lr_decay_epochs = 1.0
  config.warmup_epochs = 0.0
  config.optimizer = 'rmsprop'
  config.rmsprop_decay = 0.9
  config.rmsprop_epsilon = 1.0
  config.momentum = 0.9  # RMSProp's momentum
  config.weight_decay = 4e-5
  config.label_smoothing = 0.0
  config.model_options.width_multiplier = 1.0
  config.model_options.dropout_rate = 0.2
  config.log_every_steps = 100
  config.checkpoint_every_steps = 5000
  return config
