"""The quickstart: LeNet-5 (LeCun et al. 1998) on the UCI handwritten digits that
scikit-learn ships, so it runs offline on any laptop in a couple of minutes.

The 8×8 scans are upsampled to the 32×32 input of LeNet-5 and augmented by
small random translations (pad-and-crop, without flips: a mirrored digit is
another digit). The preprocessing strings stay empty, so the data's defaults
apply ('resize(32)|pad_random_crop(32, 4)' and 'resize(32)' here): they follow
image_size, which the small sweeps of configs/sweeps/ change (80×80, 96×96).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'lenet5'
  config.dataset = 'digits'
  config.image_size = 32
  config.train_preprocess = ''  # the data's default, at image_size (see docstring)
  config.eval_preprocess = ''
  config.batch_size = 32
  config.num_epochs = 30.0
  config.learning_rate = 0.4  # 0.05 at batch 32
  config.lr_schedule = 'cosine'
  config.weight_decay = 5e-4
  config.log_every_steps = 200
  config.eval_every_epochs = 5.0
  config.checkpoint_every_steps = 1000
  return config
