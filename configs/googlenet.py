"""GoogLeNet on ImageNet, Szegedy et al. 2015, "Going deeper with convolutions".

What the paper did (§6, training methodology): asynchronous SGD (DistBelief)
with momentum 0.9, a fixed schedule that lowers the learning rate by 4 % every
8 epochs, Polyak averaging of the weights for the final model, patches of 8 %
to 100 % of the image area with aspect ratios 3/4 to 4/3, and Andrew Howard's
photometric distortions; late in the competition also random interpolation
methods for the resizing. The auxiliary classifiers' losses are weighted by
0.3 (§5); dropout 40 % before the classifier (70 % in the auxiliary heads, the
model's default). Testing (§7) averages up to 144 crops per image.

The paper gives no learning rate, batch size, weight decay or length. Those
here are the authors' Caffe reference solver (BVLC bvlc_googlenet,
solver.prototxt), which is the paper's schedule: learning rate 0.01 at batch
32, ×0.96 every 320k iterations (8 epochs), weight decay 2e-4, momentum 0.9,
10M iterations (250 epochs).

Differences, and why:
  * Synchronous SGD over the global batch (256 here, the rate scaled linearly
    from Caffe's 0.01 at 32) instead of asynchronous updates.
  * Polyak averaging is an exponential moving average of the weights and
    BatchNorm statistics with decay 0.9999 (about 2 epochs at batch 256): the
    paper names no window.
  * Bilinear resizing only (no random interpolation method); flips are added,
    as in every ImageNet recipe since AlexNet (the paper mirrors its test crops).
  * Evaluation is one view, the centre 87.5 % of the shorter side (Inception's
    single crop), not the 144-crop average.
  * 250 epochs is the reference solver's length; the rate is then still 0.28×
    its start (the schedule never anneals: the averaging does the rest).
    --config.num_epochs=60 gives the length of the released BVLC model.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'googlenet'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  # §6: 8-100 % of the area, aspect 3/4-4/3, photometric distortions (Howard 2013).
  config.train_preprocess = 'inception_crop(224, min_area=0.08, max_area=1.0)|flip_lr|color_distort'
  config.eval_preprocess = 'center_crop(0.875)|resize(224)'
  config.batch_size = 256
  config.num_epochs = 250.0  # Caffe's 10M iterations of 32 images
  config.learning_rate = 0.08  # Caffe's 0.01 at batch 32: 0.01 × 256 / 32
  config.lr_schedule = 'exponential'
  config.lr_decay_rate = 0.96  # §6: "decreasing the learning rate by 4% every 8 epochs"
  config.lr_decay_epochs = 8.0
  config.warmup_epochs = 0.0
  config.optimizer = 'sgd'
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 2e-4
  config.label_smoothing = 0.0
  config.ema_decay = 0.9999  # §6: Polyak averaging for the final model
  config.aux_loss_weight = 0.3  # §5: "their loss gets added to the total loss with a weight 0.3"
  config.model_options.dropout_rate = 0.4
  config.half_precision = False
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
