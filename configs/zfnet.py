"""ZFNet on ImageNet, Zeiler & Fergus 2014 §3 ("Training details").

What the paper did: each image resized so that its smallest dimension is 256,
its centre 256×256 region kept, the per-pixel mean subtracted, and 10
sub-crops of 224×224 (corners and centre, with and without a horizontal flip)
used for training; SGD with batch 128, learning rate 1e-2 and momentum 0.9, the
rate annealed by hand when the validation error plateaus, 70 epochs; dropout
0.5 in FC6 and FC7; weights initialised to 1e-2 and biases to 0; every
convolutional filter whose RMS exceeds 0.1 renormalised back to 0.1.

Differences, and why:
  * Training crops are taken at any position of the 256×256 centre (random_crop),
    not only at its four corners and centre: a superset of the paper's ten views.
  * "Annealed manually on plateaus" is the 'plateau' schedule: evaluated every
    epoch, ÷10 after 5 evaluations without a relative improvement of 1e-4 in
    validation top-1 error. The paper gives neither the factor nor the patience
    (÷10 as in AlexNet, on which it builds; 5 epochs our choice).
  * Evaluation is the centre 224×224 of the 256-side image (one view).
  * The paper mentions no weight decay; we keep AlexNet's 5e-4 (train.py decays
    kernels only), on which ZFNet's set-up is based.
  * The filter renormalisation (RMS <= 0.1) is not done: train.py cannot
    constrain weights.
  * Pixels are normalised by per-channel mean and std, not the per-pixel mean.
  * Weights: see models/alexnet.py (the paper: 1e-2, biases 0).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'zfnet'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.train_preprocess = 'resize_short(256)|center_crop(256)|random_crop(224)|flip_lr'
  config.eval_preprocess = 'resize_short(256)|center_crop(224)'
  config.batch_size = 128
  config.num_epochs = 70.0
  config.learning_rate = 0.02  # the paper's 0.01 at batch 128: 0.01 × 256 / 128
  config.lr_schedule = 'plateau'
  config.lr_plateau_factor = 10.0
  config.lr_plateau_patience = 5  # epochs without improvement (our choice; see docstring)
  config.warmup_epochs = 0.0
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 5e-4
  config.label_smoothing = 0.0
  config.model_options.dropout_rate = 0.5
  config.half_precision = False
  config.eval_every_epochs = 1.0  # the plateau schedule watches every epoch's validation error
  return config
