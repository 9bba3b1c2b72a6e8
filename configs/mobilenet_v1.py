"""MobileNet v1 (α=1, 224×224) on ImageNet, after Howard et al. 2017 §3.2
("Network Structure and Training"): RMSProp with asynchronous gradient descent,
less regularisation and augmentation than for large models, and little or no
weight decay on the depthwise filters; the paper gives no rate, schedule or
epoch count. Sandler et al. 2018 §6.1 gives the v1 setup's rate: 0.045,
decayed by 0.98 per epoch, with weight decay 4e-5. train.py has SGD only and
no exponential decay, so this recipe uses SGD with Nesterov momentum 0.9 at
0.045 for a batch of 256 and a cosine schedule over 150 epochs (after 150
epochs the 0.98 decay leaves 5 % of the rate, cosine 0). train.py decays every
convolution kernel, the depthwise ones included. Reported: 70.6 % top-1
(Table 8).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'mobilenet_v1'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.batch_size = 256
  config.num_epochs = 150.0
  config.learning_rate = 0.045  # at batch 256
  config.lr_schedule = 'cosine'
  config.warmup_epochs = 0.0
  config.momentum = 0.9
  config.nesterov = True
  config.weight_decay = 4e-5
  config.label_smoothing = 0.0
  config.model_options.width_multiplier = 1.0
  config.log_every_steps = 100
  config.checkpoint_every_steps = 5000
  return config
