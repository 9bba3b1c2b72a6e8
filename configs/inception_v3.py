"""Inception v3 on ImageNet, Szegedy et al. 2016, "Rethinking the Inception
architecture for computer vision", §8 (training methodology) and §7 (label smoothing).

What the paper did: 50 replicas, each with batch 32, trained asynchronously
for 100 epochs with RMSProp (decay 0.9, ε = 1.0), learning rate 0.045 decayed
every two epochs by an exponential rate of 0.94, gradients clipped at norm 2.0,
a running average of the parameters for evaluation, label smoothing 0.1,
299×299 inputs, the auxiliary classifier on the 17×17 grid. The augmentation
is Inception's (random-size crops, flips, photometric distortions: GoogLeNet
§6); single-crop results are reported on the centre crop.

Differences, and why:
  * Synchronous: one update per global batch of 1600 images (the 50 replicas
    × 32) at the paper's rate 0.045, where the paper's replicas each applied
    their own 32-image gradient. A batch of 1600 needs several accelerators
    (or fewer with --config.batch_size, the rate scaling linearly).
  * Not in the paper, from the authors' TF-slim code: RMSProp momentum 0.9,
    weight decay 4e-5, auxiliary loss weight 0.4, dropout 0.2 (keep 0.8) before
    the classifier, and the running average's decay, 0.9999 (with TensorFlow's
    num_updates warm-up; about 12 epochs at batch 1600).
  * Evaluation: the centre 87.5 % of the shorter side resized to 299 (the
    TF-slim single-crop view).
  * bfloat16 activations (half_precision), for speed; the paper used float32.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'inception_v3'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 299
  config.train_preprocess = 'inception_crop(299)|flip_lr|color_distort'
  config.eval_preprocess = 'center_crop(0.875)|resize(299)'
  config.batch_size = 1600  # 50 replicas × 32
  config.num_epochs = 100.0
  config.learning_rate = 0.0072  # the paper's 0.045 at batch 1600: 0.045 × 256 / 1600
  config.lr_schedule = 'exponential'
  config.lr_decay_rate = 0.94
  config.lr_decay_epochs = 2.0
  config.warmup_epochs = 0.0
  config.optimizer = 'rmsprop'
  config.rmsprop_decay = 0.9
  config.rmsprop_epsilon = 1.0
  config.momentum = 0.9  # RMSProp's momentum (TF-slim)
  config.grad_clip_norm = 2.0
  config.ema_decay = 0.9999
  config.weight_decay = 4e-5
  config.label_smoothing = 0.1
  config.aux_loss_weight = 0.4
  config.model_options.dropout_rate = 0.2
  config.half_precision = True
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
