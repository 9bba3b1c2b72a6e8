"""ResNet-50 on ImageNet at a batch of 32,768 with LARS (You, Gitman & Ginsburg 2017,
"Large Batch Training of Convolutional Networks"), as the MLPerf Training reference
(mlcommons/training, image_classification/tensorflow2, lars_util.py) sets it for that
batch: rate 31.2 (absolute, not per 256 images), linear warmup from 0 over 25 epochs,
then polynomial decay of power 2 to 1e-4; LARS trust coefficient 0.001, ε 0, momentum
0.9 applied after the trust ratio; biases and BatchNorm parameters neither decayed nor
adapted; label smoothing 0.1.

MLPerf fixes neither the batch nor the length; this recipe's choices: batch 32,768
(the largest of You et al.'s ResNet-50 runs), 72 epochs, weight decay 5e-5. A batch of
32,768 rarely fits a machine at once: grad_accum_steps splits each device's share into
micro-batches (8 here, e.g. 4,096 images per micro-step over 8 devices, 512 each) while
the update stays one of 32,768 images; raise it on fewer devices. BatchNorm statistics
are then those of each micro-batch.
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
  config.batch_size = 32768
  config.grad_accum_steps = 8
  config.num_epochs = 72.0
  config.optimizer = 'lars'
  config.learning_rate = 31.2  # absolute, at batch 32,768
  config.lr_reference_batch = 32768
  config.lr_schedule = 'polynomial'
  config.lr_poly_power = 2.0
  config.lr_poly_end = 1e-4
  config.warmup_epochs = 25.0
  config.warmup_from_zero = True
  config.momentum = 0.9
  config.lars_trust_coefficient = 0.001
  config.lars_epsilon = 0.0
  config.weight_decay = 5e-5
  config.label_smoothing = 0.1
  config.half_precision = True
  config.log_every_steps = 20
  config.checkpoint_every_steps = 200
  return config
