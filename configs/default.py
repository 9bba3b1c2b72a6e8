"""The shared base of every recipe: fields, their meaning and defaults.

A recipe file calls `get_config()` from here and changes what its paper did.
Every field can be overridden on the command line: --config.batch_size=512.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()

  # Model: a name of the registry (python -c "import models; print(models.names())").
  config.model = 'resnet50'
  # -1: take the number of classes from the dataset.
  config.num_classes = -1
  # Constructor arguments of the model beyond num_classes and dtype
  # (e.g. zero_init_last_bn for residual networks).
  config.model_options = ml_collections.ConfigDict()

  # Data: 'digits', 'image_folder:<root>', or a tfds dataset name.
  config.dataset = 'imagenet2012'
  config.data_dir = ''  # tfds data_dir; '' = tfds' default (~/tensorflow_datasets)
  config.manual_dir = ''  # where ILSVRC2012_img_{train,val}.tar are; '' = <data_dir>/downloads/manual
  config.image_size = 224
  # Image files that cannot be decoded (image_folder datasets): 'skip' leaves them
  # out and reports them; 'fail' stops before training, listing them.
  config.corrupt_images = 'skip'

  # Optimisation.
  config.batch_size = 256  # global: over all devices of all hosts
  config.num_epochs = 90.0
  config.num_train_steps = -1  # -1: num_epochs of the training split
  config.learning_rate = 0.1  # for a batch of 256, scaled linearly with batch_size
  config.lr_schedule = 'cosine'  # 'cosine', 'step' (÷10 at lr_step_epochs) or 'constant'
  config.lr_step_epochs = (30, 60, 80)
  config.warmup_epochs = 0.0
  config.momentum = 0.9
  config.nesterov = False
  config.weight_decay = 1e-4
  config.label_smoothing = 0.0
  config.aux_loss_weight = 0.3  # weight of auxiliary classifiers' losses, for models that have them

  # Numerics and reproducibility.
  config.half_precision = False  # bfloat16 activations, float32 parameters and loss
  config.seed = 0
  # True: bit-identical resumption (tf.data in a fixed order, XLA's deterministic
  # GPU kernels); slower input pipeline and, on GPUs, slower scatter/reductions.
  config.deterministic = False
  # 'stop': a NaN or Inf loss or gradient stops the run (the newest good
  # checkpoint stays); 'skip': the update is skipped and counted.
  config.on_nonfinite = 'stop'

  # Several hosts (jax.distributed). distributed=True initialises JAX's multi-process
  # runtime: from the cluster's environment (Cloud TPU pods, SLURM, Open MPI) or, where
  # given, from the three fields below, which must then be set on every process.
  config.distributed = False
  config.coordinator_address = ''  # host:port of process 0, e.g. 10.0.0.1:1234
  config.num_processes = -1
  config.process_id = -1

  # What the run shows and keeps.
  config.log_every_steps = 100
  config.eval_every_epochs = 1.0
  config.checkpoint_every_steps = 1000
  config.keep_checkpoints = 3  # the newest ones; the best by eval accuracy is kept as well
  return config
