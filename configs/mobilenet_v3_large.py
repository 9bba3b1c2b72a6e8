"""MobileNetV3-Large (224×224) on ImageNet, Howard et al. 2019 §6.1 ("Training
setup").

What the paper did: synchronous training on a 4×4 TPU pod with TensorFlow's
RMSPropOptimizer and momentum 0.9, learning rate 0.1 at batch 4096 (128
images per chip), decayed by 0.01 (×0.99) every 3 epochs, dropout 0.2 ("0.8"
keep probability), weight decay 1e-5, Inception's image preprocessing, an
exponential moving average of the weights with decay 0.9999, BatchNorm with
average decay 0.99; no epoch count. Reported: 75.2 % top-1 (Table 3).

Differences, and why:
  * RMSProp's decay 0.9 and ε = 1e-3 (inside the square root) are those of
    the TPU training code of MnasNet, the search MobileNetV3 starts from; the
    paper says only "standard" (TensorFlow's defaults are decay 0.9 and ε 1e-10).
    With ε = 1.0 (the Inception value) RMSProp at this rate would behave like
    plain momentum SGD at 0.1 / 4096.
  * 5 epochs of linear warmup (not in the paper; large-batch practice, and the
    MnasNet TPU code's) and 300 epochs (the paper gives no length; the rate is
    0.37× its start by then, the moving average does the rest).
  * BatchNorm's running averages decay by 0.9 (the zoo's), not the paper's 0.99.
  * Evaluation: the centre 87.5 % of the shorter side resized to 224
    (Inception's single crop).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'mobilenet_v3_large'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.train_preprocess = 'inception_crop(224)|flip_lr|color_distort'  # Inception's
  config.eval_preprocess = 'center_crop(0.875)|resize(224)'
  config.batch_size = 4096
  config.num_epochs = 300.0
  config.learning_rate = 0.00625  # the paper's 0.1 at batch 4096: 0.1 × 256 / 4096
  config.lr_schedule = 'exponential'
  config.lr_decay_rate = 0.99
  config.lr_decay_epochs = 3.0
  config.warmup_epochs = 5.0
  config.optimizer = 'rmsprop'
  config.rmsprop_decay = 0.9
  config.rmsprop_epsilon = 1e-3
  config.momentum = 0.9  # RMSProp's momentum
  config.ema_decay = 0.9999
  config.weight_decay = 1e-5
  config.label_smoothing = 0.0
  config.model_options.dropout_rate = 0.2
  config.log_every_steps = 100
  config.checkpoint_every_steps = 5000
  return config
