"""ResNet-50 on ImageNet, He, Zhang, Ren & Sun 2016, "Deep residual learning for
image recognition", §3.4 (implementation).

What the paper did: each image resized with its shorter side drawn from
[256, 480] (scale augmentation), a random 224×224 crop of it or of its
horizontal flip, the per-pixel mean subtracted, and AlexNet's standard colour
augmentation; BatchNorm after every convolution, He initialisation, SGD with
batch 256, momentum 0.9, weight decay 1e-4, no dropout, learning rate 0.1
divided by 10 when the error plateaus, up to 60×10⁴ iterations (120 epochs of
the 1.28 M images). Testing: the standard 10-crop for comparisons, and fully
convolutional multi-scale averaging for the best results. Reported: 22.85 %
top-1, 6.71 % top-5 error (10-crop, Table 3).

Differences, and why:
  * "÷10 when the error plateaus" is the 'plateau' schedule: evaluated every
    epoch, ÷10 after 5 evaluations without a relative improvement of 1e-4 in
    validation top-1 error (the paper gives no patience; 5 is our choice, and
    the reductions are not capped).
  * Evaluation: one 224×224 centre crop of the image resized to a shorter side
    of 256, the centre view of the standard 10-crop.
  * Pixels are normalised by per-channel mean and std, not the per-pixel mean.
  * The registry's `resnet50` strides its bottlenecks on the 3×3 convolution
    ("v1.5", as most reimplementations); --config.model=resnet50_v1 has the
    paper's stride on the first 1×1.
  * train.py decays convolution and dense kernels only, not BatchNorm
    parameters or biases.

Goyal et al.'s large-batch recipe for the same network (batch 1024, warmup,
zero-initialised last BatchNorm, bfloat16) is configs/resnet50_goyal.py.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'resnet50'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  # §3.4: scale augmentation [256, 480], 224 crops, flips, AlexNet's colour augmentation.
  config.train_preprocess = 'scale_jitter(256, 480)|random_crop(224)|flip_lr|pca_lighting(0.1)'
  config.eval_preprocess = 'resize_short(256)|center_crop(224)'
  config.batch_size = 256
  config.num_epochs = 120.0  # 60×10⁴ iterations of 256 images
  config.learning_rate = 0.1  # the paper's rate, at its batch of 256
  config.lr_schedule = 'plateau'
  config.lr_plateau_factor = 10.0
  config.lr_plateau_patience = 5  # epochs without improvement (our choice; see docstring)
  config.warmup_epochs = 0.0
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 1e-4
  config.label_smoothing = 0.0
  config.model_options.zero_init_last_bn = False  # every BatchNorm scale starts at 1
  config.half_precision = False
  config.log_every_steps = 100
  config.eval_every_epochs = 1.0  # the plateau schedule watches every epoch's validation error
  config.checkpoint_every_steps = 2000
  return config
