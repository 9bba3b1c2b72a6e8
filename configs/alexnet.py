"""AlexNet on ImageNet, Krizhevsky, Sutskever & Hinton 2012 §5 ("Details of learning"):

SGD with batch 128, momentum 0.9, weight decay 5e-4, learning rate 0.01 for
every layer, divided by 10 when the validation error stopped improving (three
times before the end), about 90 epochs; dropout 0.5 in FC6 and FC7 (§4.2).

Differences forced by train.py or chosen here:
  * "÷10 on a validation plateau" has no counterpart in train.py: a 'step'
    schedule ÷10 at fixed epochs 30, 60 and 80 of 90 stands for the paper's
    three reductions (their epochs are not given in the paper).
  * The paper decays every weight (v ← 0.9 v - 0.0005 ε w - ε ∂L/∂w); train.py
    decays only convolution and dense kernels, not biases.
  * Input 227×227 (the paper's "224" does not give CONV1's 55×55), random crops
    and flips from the input pipeline; the paper's PCA colour augmentation
    (§4.1) is not done. Initialisation: see models/alexnet.py.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'alexnet'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 227
  config.batch_size = 128
  config.num_epochs = 90.0
  config.learning_rate = 0.02  # 0.01 at batch 128
  config.lr_schedule = 'step'
  config.lr_step_epochs = (30, 60, 80)
  config.warmup_epochs = 0.0
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 5e-4
  config.label_smoothing = 0.0
  config.model_options.dropout_rate = 0.5
  config.half_precision = False
  return config
