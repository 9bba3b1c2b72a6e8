"""MobileNetV3-Large (224×224) on ImageNet, after Howard et al. 2019 §6.1
("Training setup"): RMSProp with momentum 0.9 on a 4×4 TPU pod, learning rate
0.1 at batch 4096 decayed by 0.01 every 3 epochs, dropout 0.2 ("0.8" keep
probability), weight decay 1e-5, Inception preprocessing and an exponential
moving average of the weights (decay 0.9999); no epoch count. train.py has SGD
only, no exponential decay and no weight averaging, so this recipe uses SGD
with Nesterov momentum 0.9, the linear-scaling rule with 5 warmup epochs
(Goyal et al. 2017) at 0.1 per 256 images, a cosine schedule over 300 epochs,
and keeps the weight decay and the dropout (the model's default). Reported:
75.2 % top-1 (Table 3).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'mobilenet_v3_large'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.batch_size = 1024
  config.num_epochs = 300.0
  config.learning_rate = 0.1  # per 256 images: 0.4 at batch 1024
  config.lr_schedule = 'cosine'
  config.warmup_epochs = 5.0
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 1e-5
  config.label_smoothing = 0.0
  config.model_options.dropout_rate = 0.2
  config.log_every_steps = 100
  config.checkpoint_every_steps = 5000
  return config
