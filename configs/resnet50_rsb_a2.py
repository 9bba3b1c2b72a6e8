"""ResNet-50 on ImageNet with procedure A2 of Wightman, Touvron & Jégou 2021 ("ResNet
strikes back", Table 1; 79.8 % top-1): A1 (configs/resnet50_rsb_a1.py) for 300 epochs,
weight decay 0.02, Mixup α 0.1, and no label smoothing; the rest as A1 (LAMB 5e-3 at
batch 2048, BCE, RandAugment 7/0.5, CutMix 1.0, repeated augmentation, stochastic depth
0.05, 224 px, test crop 0.95). What differs from the paper is said in A1's recipe.
"""

from configs import resnet50_rsb_a1


def get_config():
  config = resnet50_rsb_a1.get_config()
  config.num_epochs = 300.0
  config.weight_decay = 0.02
  config.mixup_alpha = 0.1
  config.label_smoothing = 0.0
  return config
