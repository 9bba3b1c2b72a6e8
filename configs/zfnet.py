"""ZFNet on ImageNet, Zeiler & Fergus 2014 §3 ("Training details"):

SGD with batch 128, learning rate 1e-2, momentum 0.9, the rate annealed by hand
when the validation error plateaus, 70 epochs; dropout 0.5 in FC6 and FC7; 224×224
crops of images resized to 256 (with horizontal flips).

Differences forced by train.py or chosen here:
  * "Annealed manually on plateaus" becomes a 'step' schedule ÷10 at epochs 30
    and 55 of 70 (the number and epochs of the reductions are not given).
  * The paper mentions no weight decay; we keep AlexNet's 5e-4 (train.py decays
    kernels only), on which ZFNet's set-up is based.
  * The paper renormalises every convolutional filter whose RMS exceeds 0.1 back
    to 0.1 (to stop a few first-layer filters from dominating); train.py cannot
    constrain weights, so this is not done.
  * Weights: see models/alexnet.py (the paper: 1e-2, biases 0).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'zfnet'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.batch_size = 128
  config.num_epochs = 70.0
  config.learning_rate = 0.02  # 0.01 at batch 128
  config.lr_schedule = 'step'
  config.lr_step_epochs = (30, 55)
  config.warmup_epochs = 0.0
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 5e-4
  config.label_smoothing = 0.0
  config.model_options.dropout_rate = 0.5
  config.half_precision = False
  return config
