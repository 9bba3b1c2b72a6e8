"""MobileNet v1 (α=1, 224×224) on ImageNet, Howard et al. 2017 §3.2 ("Network
Structure and Training").

What the paper did: RMSProp with asynchronous gradient descent, as Inception
v3; less regularisation and augmentation than for large models (no side heads,
no label smoothing, fewer image distortions "by limiting the size of small
crops" of Inception's training), and very little or no weight decay on the
depthwise filters. It gives no rate, schedule, batch or length. Sandler et al.
2018 §6.1 states the "MobilenetV1 setup": learning rate 0.045 decayed by 0.98
per epoch, weight decay 4e-5, RMSProp with decay and momentum 0.9 (16
asynchronous workers with batch 96 for v2). Reported: 70.6 % top-1 (Table 8).

Differences, and why:
  * Synchronous: one update per global batch of 1536 images (v2's 16 workers ×
    96, assumed for v1) at the rate 0.045; RMSProp's ε = 1.0 is TF-slim's
    default (the papers name none).
  * Small crops are limited to 25 % of the image area (min_area=0.25; the
    paper gives no number) and there is no colour distortion.
  * train.py decays every convolution kernel, the depthwise ones included.
  * 150 epochs (the papers give no length): the 0.98 decay leaves 5 % of the
    rate by then.
  * Evaluation: the centre 87.5 % of the shorter side resized to 224 (Inception's
    single crop).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'mobilenet_v1'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.train_preprocess = 'inception_crop(224, min_area=0.25)|flip_lr'  # limited small crops
  config.eval_preprocess = 'center_crop(0.875)|resize(224)'
  config.batch_size = 1536  # 16 workers × 96 (v2's setup, assumed for v1)
  config.num_epochs = 150.0
  config.learning_rate = 0.0075  # 0.045 at batch 1536: 0.045 × 256 / 1536
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
  config.log_every_steps = 100
  config.checkpoint_every_steps = 5000
  return config
