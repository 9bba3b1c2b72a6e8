"""AlexNet on ImageNet, Krizhevsky, Sutskever & Hinton 2012.

What the paper did:
  * Data (§2, §4.1): every image rescaled so that its shorter side is 256 and
    its central 256×256 patch kept; training on random 224×224 patches of it
    and their horizontal reflections, with PCA colour noise ("lighting": the
    principal components of ImageNet's RGB values times N(0, 0.1²) draws, once
    per image); the mean image subtracted. Testing averages ten patches (four
    corners and the centre, and their reflections).
  * Learning (§5): SGD with batch 128, momentum 0.9, weight decay 5e-4,
    learning rate 0.01 for every layer, divided by 10 whenever the validation
    error stopped improving at the current rate (three times before the end),
    about 90 epochs. Dropout 0.5 in FC6 and FC7 (§4.2).

Differences, and why:
  * Crops are 227×227, not 224: the paper's "224" does not give CONV1's 55×55
    outputs (models/alexnet.py); 227 crops of the 256×256 centre keep its recipe.
  * Evaluation is one view, the centre 227×227 of the 256-side image, not the
    ten-patch average (train.py evaluates one view per image).
  * "÷10 when the validation error stopped improving" is the 'plateau' schedule:
    evaluated every epoch, ÷10 after 5 evaluations without a relative
    improvement of 1e-4 in validation top-1 error. The paper gives no patience;
    5 epochs is our choice. The paper's three reductions are not a cap: a 4th
    plateau before epoch 90 would divide again.
  * Pixels are normalised by per-channel mean and std on the device, not by
    the mean image.
  * The paper decays every weight (v ← 0.9 v - 0.0005 ε w - ε ∂L/∂w); train.py
    decays only convolution and dense kernels, not biases.
  * Initialisation: see models/alexnet.py.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'alexnet'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 227
  # §2 and §4.1: shorter side 256, its central 256×256, random crops, flips, PCA lighting.
  config.train_preprocess = ('resize_short(256)|center_crop(256)|random_crop(227)|flip_lr|'
                             'pca_lighting(0.1)')
  config.eval_preprocess = 'resize_short(256)|center_crop(227)'
  config.batch_size = 128
  config.num_epochs = 90.0
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
