"""NASNet-A on ImageNet, Zoph, Vasudevan, Shlens & Le 2018, "Learning transferable
architectures for scalable image recognition", §4.2 and Appendix A.7.

`nasnet_a_mobile` (4 @ 1056, 224×224); configs/nasnet_a_large.py takes the same
recipe with the large network's numbers (6 @ 4032, 331×331).

What the paper says (A.7): training and testing "almost identical" to Inception v3's
(configs/inception_v3.py): its augmentation, synchronous SGD over 50 workers, RMSProp
with decay 0.9 and ε 1.0, Inception v3's exponential learning-rate decay, label
smoothing 0.1, a running average of the parameters with decay 0.9999 for evaluation,
an auxiliary classifier 2/3 of the way up weighted 0.4, L2 regularisation, dropout 0.5
before the classifier; ScheduledDropPath (§4, A.5).

What it leaves out comes from the training notes of the authors' released TF-slim code
(research/slim/nets/nasnet/nasnet.py): 50 replicas of 32 images at a learning rate of
0.04 each (mobile) or 100 replicas of 16 at 0.015 (large), decayed by 0.97 every 2.4
epochs; gradients clipped to a global norm of 10; weight decay 4e-5 (mobile) or 5e-5
(large); RMSProp momentum 0.9 (TF-slim's); ScheduledDropPath's final probability 0.3
in the large network, none in the mobile one, rising over 250,000 steps. Evaluation is
Inception's single central crop of 87.5 %.

Differences, and why:
  * The replicas' rates become one synchronous global batch's: 0.04 × 50 at 1,600
    images (mobile), 0.015 × 100 at 1,600 (large); learning_rate is per 256 images here.
  * Length: neither source gives an epoch count; 250,000 steps of 1,600 images, the
    span of the released drop-path schedule, is 312 epochs. train.py stretches
    ScheduledDropPath over the run's own length (model option total_training_steps).
  * bfloat16 activations (half_precision), for speed.
"""

from configs import default


def recipe(large: bool):
  """The recipe of the mobile network, or with `large` of the large one."""
  config = default.get_config()
  config.model = 'nasnet_a_large' if large else 'nasnet_a_mobile'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 331 if large else 224
  config.train_preprocess = f'inception_crop({config.image_size})|flip_lr|color_distort'
  config.eval_preprocess = f'center_crop(0.875)|resize({config.image_size})'
  config.batch_size = 1600  # 100 × 16 (large), 50 × 32 (mobile)
  config.num_epochs = 312.0  # 250,000 steps of 1,600 images (see the docstring)
  # Per 256 images: 0.015 × 100 × 256 / 1600 (large), 0.04 × 50 × 256 / 1600 (mobile).
  config.learning_rate = 0.24 if large else 0.32
  config.lr_schedule = 'exponential'
  config.lr_decay_rate = 0.97
  config.lr_decay_epochs = 2.4
  config.warmup_epochs = 0.0
  config.optimizer = 'rmsprop'
  config.rmsprop_decay = 0.9
  config.rmsprop_epsilon = 1.0
  config.momentum = 0.9
  config.grad_clip_norm = 10.0
  config.ema_decay = 0.9999
  config.weight_decay = 5e-5 if large else 4e-5
  config.label_smoothing = 0.1
  config.aux_loss_weight = 0.4
  config.half_precision = True
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config


def get_config():
  return recipe(large=False)
