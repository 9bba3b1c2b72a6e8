"""ResNet-50 on ImageNet with procedure A3 of Wightman, Touvron & Jégou 2021 ("ResNet
strikes back", Table 1; 78.1 % top-1): 100 epochs trained at 160 px and tested at 224
(test crop 0.95), LAMB at 8e-3 with weight decay 0.02 at batch 2048, RandAugment 6/0.5,
Mixup α 0.1 and CutMix α 1.0, BCE without label smoothing, no repeated augmentation and
no stochastic depth. What differs from the paper is said in configs/resnet50_rsb_a1.py.
"""

from configs import resnet50_rsb_a1


def get_config():
  config = resnet50_rsb_a1.get_config()
  config.image_size = 160
  config.eval_image_size = 224
  config.train_preprocess = 'inception_crop(160)|flip_lr|rand_augment(2, 6, 0.5)'
  config.eval_preprocess = 'resize_short(236)|center_crop(224)'
  config.num_epochs = 100.0
  config.learning_rate = 8e-3
  config.weight_decay = 0.02
  config.mixup_alpha = 0.1
  config.label_smoothing = 0.0
  config.repeated_augmentation = 1
  config.model_options.stochastic_depth = 1.0
  return config
