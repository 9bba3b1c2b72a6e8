"""Inception v3 on ImageNet, Szegedy et al. 2016, "Rethinking the Inception
architecture for computer vision", §8 (training methodology) and §7 (label smoothing).

The paper: 50 replicas of batch 32 trained asynchronously for 100 epochs with
RMSProp (decay 0.9, epsilon 1.0), learning rate 0.045 decayed by 0.94 every two
epochs, gradients clipped at norm 2.0, label smoothing 0.1, 299×299 crops, the
auxiliary classifier on the 17×17 grid.

train.py has SGD with momentum only, so this recipe is the supported one
closest to it: SGD momentum 0.9 with the linear-scaling rule of Goyal et al.
2017 (0.1 per 256 images, 5 epochs of warmup: RMSProp's rate does not carry
over to SGD), a cosine schedule over the paper's 100 epochs in place of the
0.94-every-two-epochs exponential decay (both decay smoothly; the exponential
one ends at 0.045 · 0.94^50 ≈ 0.002), no gradient clipping (not available),
label smoothing 0.1. Not in the paper, taken from the authors' TF-slim
training code: weight decay 4e-5, auxiliary loss weight 0.4, dropout 0.2
(keep 0.8) before the classifier.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'inception_v3'
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
  config.aux_loss_weight = 0.4
  config.model_options.dropout_rate = 0.2
  config.half_precision = True
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
