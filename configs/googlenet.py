"""GoogLeNet on ImageNet, Szegedy et al. 2015, "Going deeper with convolutions", §6.

The paper trains with asynchronous SGD (DistBelief), momentum 0.9, a fixed
schedule that lowers the learning rate by 4 % every 8 epochs, Polyak averaging
of the weights for the final model, and crops of 8 % to 100 % of the image
area with aspect ratios 3/4 to 4/3 (the random crops of input_pipeline.py).
The auxiliary classifiers' losses are weighted by 0.3; dropout 40 % before the
classifier (70 % in the auxiliary heads, the model's default).

The paper gives no learning rate, batch size, weight decay or length. Those
here are the authors' Caffe reference solver (BVLC bvlc_googlenet): learning
rate 0.01 at batch 32 (whose 0.96 step every 320k iterations is the paper's
4 % every 8 epochs), weight decay 2e-4, 60 epochs (its quick solver, 2.4 M
iterations of 32 images) decaying to zero.

What train.py cannot do: asynchronous updates (here synchronous SGD over the
global batch) and Polyak averaging (not available; the final weights are used).
The 4 %-per-8-epochs decay is smooth and exponential, not the ÷10 jumps of
'step'; 'cosine' is the supported schedule that decays smoothly, and annealing
to zero recovers much of what weight averaging gives at the end of training.
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'googlenet'
  config.num_classes = 1000
  config.dataset = 'imagenet2012'
  config.image_size = 224
  config.batch_size = 256
  config.num_epochs = 60.0
  config.learning_rate = 0.08  # Caffe's 0.01 at batch 32, × 256 / 32
  config.lr_schedule = 'cosine'
  config.warmup_epochs = 0.0
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 2e-4
  config.label_smoothing = 0.0
  config.aux_loss_weight = 0.3  # §5: "their loss gets added to the total loss with a weight 0.3"
  config.model_options.dropout_rate = 0.4
  config.half_precision = False
  config.log_every_steps = 100
  config.checkpoint_every_steps = 2000
  return config
