"""MobileNet v2 (α=1, 224×224) on ImageNet, after Sandler et al. 2018 §6.1
("Training setup"): RMSProp with decay and momentum 0.9, weight decay 4e-5,
learning rate 0.045 decayed by 0.98 every epoch (the v1 setup), batch 96 over
16 asynchronous workers; no epoch count. train.py has SGD only and no exponential decay, so
this recipe keeps the rate and the weight decay, uses SGD with Nesterov
momentum 0.9, and a cosine schedule over 300 epochs in place of the 0.98 per
epoch decay (after 300 epochs that decay leaves 0.2 % of the rate, cosine 0).
Dropout 0.2 before the classifier is the model's default. Reported: 72.0 %
top-1 (Table 4).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'mobilenet_v2'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.batch_size = 256
  config.num_epochs = 300.0
  config.learning_rate = 0.045  # at batch 256
  config.lr_schedule = 'cosine'
  config.warmup_epochs = 0.0
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 4e-5
  config.label_smoothing = 0.0
  config.model_options.width_multiplier = 1.0
  config.model_options.dropout_rate = 0.2
  config.log_every_steps = 100
  config.checkpoint_every_steps = 5000
  return config
