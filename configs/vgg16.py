"""VGG-16 (configuration D) on ImageNet, Simonyan & Zisserman 2015.

What the paper did (§3.1, training): SGD with batch 256, momentum 0.9, weight
decay 5e-4, dropout 0.5 in the first two FC layers, learning rate 1e-2 divided
by 10 when the validation accuracy stopped improving (three times in all),
stopped after 370K iterations (74 epochs). Training images isotropically
rescaled to a shorter side S, fixed (256 or 384) or drawn per image from
[256, 512] ("scale jittering", the best setting for D), then one random
224×224 crop per image per iteration, random horizontal flips and AlexNet's
random RGB colour shift. The mean RGB value is subtracted. Deeper nets were
initialised from configuration A (or with Glorot's initialisation, which the
paper notes works as well); the jittered models were fine-tuned from a model
trained at S = 384. Testing (§3.2, §4.1): the image rescaled to a shorter side
Q = 384 (the middle of the jittering range) and the network applied densely,
fully convolutionally, over the whole image.

Differences, and why:
  * "÷10 when the validation accuracy stopped improving" is the 'plateau'
    schedule: evaluated every epoch, ÷10 after 5 evaluations without a relative
    improvement of 1e-4 in validation top-1 error (patience our choice; the
    reductions are not capped at three).
  * Scale jittering from scratch, not fine-tuned from an S = 384 model; Glorot
    initialisation rather than staged training from configuration A.
  * Evaluation: one 224×224 centre crop at the paper's test scale Q = 384, so
    objects appear at the scale of the training crops; the paper's dense
    evaluation sees the whole image, which train.py's fixed-size evaluation
    cannot.
  * The paper's L2 penalty covers every weight; train.py decays only
    convolution and dense kernels, not biases.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'vgg16'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  # §3.1: S in [256, 512], random 224 crops, flips, AlexNet's RGB colour shift.
  config.train_preprocess = 'scale_jitter(256, 512)|random_crop(224)|flip_lr|pca_lighting(0.1)'
  config.eval_preprocess = 'resize_short(384)|center_crop(224)'  # Q = 384 (§4.1)
  config.batch_size = 256
  config.num_epochs = 74.0
  config.learning_rate = 0.01  # the paper's rate, at its batch of 256
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
