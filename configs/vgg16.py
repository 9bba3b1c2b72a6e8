"""VGG-16 (configuration D) on ImageNet, Simonyan & Zisserman 2015 §3.1:

SGD with batch 256, momentum 0.9, weight decay 5e-4, dropout 0.5 in the first
two FC layers, learning rate 1e-2 divided by 10 when the validation accuracy
stopped improving (three times in all), stopped after 370K iterations (74 epochs);
224×224 crops.

Differences forced by train.py or chosen here:
  * "÷10 on a validation plateau" becomes a 'step' schedule ÷10 at fixed epochs
    25, 50 and 65 of 74 (three reductions, their epochs our choice).
  * The paper's L2 penalty covers every weight; train.py decays only
    convolution and dense kernels, not biases.
  * The paper rescales training images to a side S (256, 384, or random in
    [256, 512], §3.1) before cropping, and initialises the deeper nets from
    configuration A; here the input pipeline's random-crop augmentation and
    Glorot initialisation (which the paper notes works as well) are used.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'vgg16'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.batch_size = 256
  config.num_epochs = 74.0
  config.learning_rate = 0.01  # the paper's rate, at its batch of 256
  config.lr_schedule = 'step'
  config.lr_step_epochs = (25, 50, 65)
  config.warmup_epochs = 0.0
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 5e-4
  config.label_smoothing = 0.0
  config.model_options.dropout_rate = 0.5
  config.half_precision = False
  return config
