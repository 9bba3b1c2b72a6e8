"""ResNet-50 on ImageNet with the large-batch recipe of Goyal et al. 2017,
"Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour" (§5.1, Table 2):

learning rate 0.1 per 256 images scaled linearly with the batch, 5 epochs of
gradual warmup, ÷10 at epochs 30, 60 and 80 of 90, SGD momentum 0.9, weight
decay 1e-4 (not on BatchNorm parameters), the last BatchNorm scale of every
residual block initialised to zero; the scale and aspect-ratio augmentation of
Szegedy et al. (as in fb.resnet.torch) with horizontal flips, and the single
224×224 centre crop for evaluation. Activations in bfloat16.

The paper's own recipe (He et al. 2016 §3.4) is configs/resnet50.py.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'resnet50'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.train_preprocess = 'inception_crop(224)|flip_lr'
  config.eval_preprocess = 'resize_short(256)|center_crop(224)'
  config.batch_size = 1024
  config.num_epochs = 90.0
  config.learning_rate = 0.1  # per 256 images: 0.4 at batch 1024 (the linear scaling rule)
  config.lr_schedule = 'step'
  config.lr_step_epochs = (30, 60, 80)
  config.warmup_epochs = 5.0
  config.momentum = 0.9
  config.weight_decay = 1e-4
  config.model_options.zero_init_last_bn = True
  config.half_precision = True
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
