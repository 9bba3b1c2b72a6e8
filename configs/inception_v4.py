"""Inception-v4 on ImageNet, Szegedy et al. 2017, "Inception-v4, Inception-ResNet
and the impact of residual connections on learning", §4 (training methodology).

The paper: 20 replicas trained asynchronously with RMSProp (decay 0.9, epsilon
1.0), learning rate 0.045 decayed by 0.94 every two epochs, 299×299 crops,
dropout with keep probability 0.8 before the classifier (Fig. 9); it gives no
batch size, length, weight decay or label smoothing.

train.py has SGD with momentum only. As for Inception v3 (configs/inception_v3.py):
SGD momentum 0.9 at 0.1 per 256 images with 5 epochs of warmup (Goyal et al.
2017), a cosine schedule in place of the exponential decay, 100 epochs (the
length of the v3 paper), label smoothing 0.1 (v3's §7, on which this paper
builds), weight decay 4e-5 (the authors' TF-slim code). The same recipe trains
the Inception-ResNet networks of the paper: --config.model=inception_resnet_v2
(or inception_resnet_v2_tfslim, the released 55.8 M-parameter network).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'inception_v4'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 299
  config.batch_size = 1024
  config.num_epochs = 100.0
  config.learning_rate = 0.1  # per 256 images (Goyal et al. 2017); the paper's RMSProp used 0.045
  config.lr_schedule = 'cosine'
  config.warmup_epochs = 5.0
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 4e-5
  config.label_smoothing = 0.1
  config.model_options.dropout_rate = 0.2  # Fig. 9: keep 0.8
  config.half_precision = True
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
