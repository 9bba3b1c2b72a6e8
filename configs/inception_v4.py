"""Inception-v4 on ImageNet, Szegedy et al. 2017, "Inception-v4, Inception-ResNet
and the impact of residual connections on learning", §4 (training methodology).

What the paper did: 20 replicas trained asynchronously with RMSProp (decay
0.9, ε = 1.0), learning rate 0.045 decayed every two epochs by an exponential
rate of 0.94, a running average of the parameters for evaluation, 299×299
inputs, dropout with keep probability 0.8 before the classifier (Fig. 9). It
gives no batch size, length, weight decay, label smoothing or augmentation.

Differences, and why:
  * Synchronous: one update per global batch of 640 images, assuming v3's 32
    per replica (20 × 32), at the paper's rate 0.045.
  * Taken from Inception v3 (configs/inception_v3.py), on which the paper
    builds: 100 epochs, label smoothing 0.1, Inception's augmentation and
    single-crop view, RMSProp momentum 0.9, weight decay 4e-5 and the
    running average's decay 0.9999 (the authors' TF-slim code). v3's gradient
    clipping is not named by this paper and is off.
  * bfloat16 activations (half_precision), for speed.

The same recipe trains the paper's Inception-ResNet networks:
--config.model=inception_resnet_v2 (or inception_resnet_v2_tfslim, the
released 55.8 M-parameter network).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'inception_v4'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 299
  config.train_preprocess = 'inception_crop(299)|flip_lr|color_distort'
  config.eval_preprocess = 'center_crop(0.875)|resize(299)'
  config.batch_size = 640  # 20 replicas × 32 (v3's per-replica batch; an assumption)
  config.num_epochs = 100.0
  config.learning_rate = 0.018  # the paper's 0.045 at batch 640: 0.045 × 256 / 640
  config.lr_schedule = 'exponential'
  config.lr_decay_rate = 0.94
  config.lr_decay_epochs = 2.0
  config.warmup_epochs = 0.0
  config.optimizer = 'rmsprop'
  config.rmsprop_decay = 0.9
  config.rmsprop_epsilon = 1.0
  config.momentum = 0.9  # RMSProp's momentum (TF-slim)
  config.grad_clip_norm = 0.0
  config.ema_decay = 0.9999
  config.weight_decay = 4e-5
  config.label_smoothing = 0.1
  config.model_options.dropout_rate = 0.2  # Fig. 9: keep 0.8
  config.half_precision = True
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
