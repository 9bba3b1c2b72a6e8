"""ResNet-50 on ImageNet with the refinements of He, Zhang, Zhang, Zhang, Xie & Li 2019,
"Bag of Tricks for Image Classification with Convolutional Neural Networks" (§3–§5,
Table 6's "ResNet-50 + cosine + label smoothing + mixup" row without distillation).

What the paper did, and what this recipe sets:
  * §2.1 baseline: Inception-style crops (area 8–100 %, aspect 3/4–4/3) resized to 224,
    flips, hue/saturation/brightness scaled by factors in [0.6, 1.4], PCA lighting noise
    N(0, 0.1); evaluation on the 224 centre crop of the image resized to a shorter side
    of 256; SGD with Nesterov momentum 0.9, weight decay 1e-4.
  * §3.1 large batch: batch 1024 at rate 0.4 (0.1 × 1024/256), linear warmup from 0
    over 5 epochs, zero γ in each residual block's last BatchNorm, no decay of biases or
    BatchNorm parameters (train.py never decays them).
  * §5.1 cosine decay; §5.2 label smoothing ε = 0.1; §5.4 mixup α = 0.2, trained for
    200 epochs instead of 120 ("mixup needs a longer schedule").

Differences, and why:
  * The colour jitter is `color_distort` (Inception's, additive brightness ±0.2 of the
    range, saturation and contrast × [0.6, 1.4], no hue) rather than GluonCV's
    multiplicative brightness; PCA lighting as AlexNet's (pca_lighting(0.1)).
  * Kernels start from He initialisation (the registry's), not Xavier (§2.1).
  * Half precision is bfloat16 (the paper: float16 with loss scaling, §3.2).
  * The registry's resnet50 is ResNet-B (the stride on the 3×3 convolution, §4.1);
    the paper's best row (ResNet-50-D, §4.2) also changes the stem and shortcut.
The distillation variant (§5.3, ResNet-152 teacher) is
configs/resnet50_bag_of_tricks_distill.py.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'resnet50'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.train_preprocess = ('inception_crop(224)|flip_lr|color_distort(0.2, 0.4, 0.0, 0.4)'
                             '|pca_lighting(0.1)')
  config.eval_preprocess = 'resize_short(256)|center_crop(224)'
  config.batch_size = 1024
  config.num_epochs = 200.0  # §5.4: 200 with mixup (120 without)
  config.learning_rate = 0.1  # per 256 images: 0.4 at batch 1024 (§3.1)
  config.lr_schedule = 'cosine'  # §5.1
  config.warmup_epochs = 5.0  # §3.1, from 0
  config.warmup_from_zero = True
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = True  # §2.1: Nesterov Accelerated Gradient
  config.weight_decay = 1e-4
  config.label_smoothing = 0.1  # §5.2
  config.mixup_alpha = 0.2  # §5.4
  config.model_options.zero_init_last_bn = True  # §3.1, zero γ
  config.half_precision = True
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
