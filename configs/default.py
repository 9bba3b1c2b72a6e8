"""The shared base of every recipe: each field declared once, with its meaning and rule.

A recipe file calls `get_config()` from here and changes what its paper did.
Every field can be overridden on the command line: --config.batch_size=512.
train.py checks each field against its rule before any work; the list of
fields, with defaults and allowed values, is printed by

    python -m configs.default
"""

from training import compilation_cache, optimizers
from training.configuration import (Field, Rule, at_least_zero, build_config,
                                    describe_fields, fraction_below_one, increasing_positive,
                                    one_of, only_when, positive, registered_model)

FIELDS = (
    # Model.
    Field('model', 'resnet50', 'A name of the registry (`python -m models list`).',
          registered_model()),
    Field('num_classes', -1, 'Classifier outputs; -1 takes the number of classes from the '
          'dataset.', Rule(lambda value, config: value == -1 or value > 0,
                           'a positive number, or -1 to take it from the dataset')),
    Field('model_options', {}, 'Constructor arguments of the model beyond num_classes and '
          'dtype (e.g. zero_init_last_bn for residual networks).', open_ended=True),

    # Starting from other weights (training/initialization.py).
    Field('init_from', '', "A run folder or checkpoint folder (train.py's, or one that "
          '`python -m trained.convert` wrote) whose matching variables (path and shape) start '
          "this run; the rest is initialised afresh. '' = a fresh start."),
    Field('init_from_rules', '', "With init_from: comma-separated 'pattern=replacement' rules "
          "on variable paths ('conv[45]_.*=' re-initialises those; 'a/(.*)=b/\\1' loads b's "
          'variables into a).', Rule(lambda value, config: not value or config.init_from,
                                     "'' unless init_from is set")),
    Field('trainable', 'all', "'all', or 'head': only the classifier learns (a linear probe; "
          'the rest runs in inference mode, its BatchNorm statistics frozen).',
          one_of('all', 'head')),
    Field('probe_stages', '', "A linear probe on the network's stage maps: comma-separated "
          "stage indices or layer names (e.g. '3,4' or 'layer4'; models/features.py lists "
          "each network's), each map globally average-pooled, the vectors concatenated and "
          "classified by one new Dense layer ('probe'); the network's own head is not built. "
          "With init_from and trainable=head: a linear probe of frozen features. '' = the "
          'whole network.',
          Rule(lambda value, config: value == '' or isinstance(value, str) and all(
              item.strip().lstrip('-').isdigit() or item.strip().replace('/', '_').isidentifier()
              for item in value.split(',')),
               "'' or stage indices and layer names joined by ',', e.g. '3,4'")),

    # Data.
    Field('dataset', 'imagenet2012', "'digits', 'image_folder:<root>', or a tfds dataset name."),
    Field('data_dir', '', "tfds data_dir; '' = tfds' default (~/tensorflow_datasets)."),
    Field('manual_dir', '', "Where ILSVRC2012_img_{train,val}.tar are; '' = "
          '<data_dir>/downloads/manual.'),
    Field('image_size', 224, 'Side of the square network input, in pixels.',
          positive('a positive number of pixels')),
    Field('eval_image_size', 0, 'Side of the evaluation images; 0 = image_size ("ResNet '
          'strikes back" A3 and FixRes: train at 160, test at 224).', at_least_zero()),
    Field('train_preprocess', '', "Training augmentation: preprocessing ops joined by '|', "
          "e.g. 'inception_crop(224)|flip_lr' (`python -m preprocessing` lists them); '' = "
          'what the data is: Inception crops and flips for photographs, pad-and-crop for '
          'small images.'),
    Field('eval_preprocess', '', "The evaluation view, ops joined by '|', e.g. "
          "'resize_short(256)|center_crop(224)'; '' = the centre crop of 0.875 of the "
          'shorter side for photographs, the image itself for small images.'),
    Field('repeated_augmentation', 1, 'k > 1: each epoch takes n / k images, each k times '
          "with its own augmentation, the copies on different devices (DeiT's repeated "
          'augmentation; "ResNet strikes back": 3).', positive()),
    Field('corrupt_images', 'skip', "Image files that cannot be decoded (image_folder datasets): "
          "'skip' leaves them out and reports them; 'fail' stops before training, listing them.",
          one_of('skip', 'fail')),

    # Optimisation.
    Field('batch_size', 256, 'Global batch: over all devices of all hosts.', positive()),
    Field('num_epochs', 90.0, 'Length of training in epochs of the training split.',
          Rule(lambda value, config: config.num_train_steps > 0 or value > 0,
               'positive (or set num_train_steps)')),
    Field('num_train_steps', -1, 'Length of training in steps; -1: num_epochs decides.'),
    Field('learning_rate', 0.1, 'For a batch of lr_reference_batch (256), scaled linearly with '
          'batch_size.', at_least_zero()),
    Field('lr_reference_batch', 256, 'The batch learning_rate is stated for (Goyal et al.: '
          '256); a recipe with an absolute rate at its own batch sets its batch_size here.',
          positive()),
    Field('lr_schedule', 'cosine', "'cosine', 'step' (× lr_step_factor at lr_step_epochs), "
          "'exponential' (× lr_decay_rate every lr_decay_epochs), 'polynomial' (to "
          "lr_poly_end, power lr_poly_power), 'constant', or 'plateau' (÷ "
          'lr_plateau_factor when the validation error has not improved for '
          'lr_plateau_patience evaluations).', one_of(*optimizers.LR_SCHEDULES)),
    Field('lr_step_epochs', (30, 60, 80), "Epochs at which the 'step' schedule multiplies the "
          'rate by lr_step_factor.', increasing_positive('(30, 60, 80)')),
    Field('lr_step_factor', 0.1, "The 'step' schedule's factor (Wide ResNet: 0.2).",
          only_when('lr_schedule', 'step', 0.1,
                    Rule(lambda value, config: 0 < value < 1, 'in (0, 1)'))),
    Field('lr_decay_rate', 0.94, "The 'exponential' schedule's factor (Inception v3: 0.94).",
          only_when('lr_schedule', 'exponential', 0.94,
                    Rule(lambda value, config: 0 < value < 1, 'in (0, 1)'))),
    Field('lr_decay_epochs', 2.0, "Epochs between the 'exponential' schedule's decays.",
          only_when('lr_schedule', 'exponential', 2.0, positive())),
    Field('lr_poly_power', 2.0, "The 'polynomial' schedule's power (MLPerf's LARS: 2).",
          only_when('lr_schedule', 'polynomial', 2.0, positive())),
    Field('lr_poly_end', 1e-4, "The 'polynomial' schedule's final rate (MLPerf's LARS: 1e-4).",
          only_when('lr_schedule', 'polynomial', 1e-4, at_least_zero())),
    Field('lr_plateau_factor', 10.0, "The 'plateau' schedule divides the rate by this.",
          only_when('lr_schedule', 'plateau', 10.0,
                    Rule(lambda value, config: value > 1, 'more than 1'))),
    Field('lr_plateau_patience', 2, "Evaluations without improvement of the validation error "
          "before the 'plateau' schedule divides the rate.",
          only_when('lr_schedule', 'plateau', 2, positive())),
    Field('warmup_epochs', 0.0, 'Linear warmup to the peak rate (Goyal et al. 2017).',
          at_least_zero()),
    Field('warmup_from_zero', False, 'Warm up from 0 (Bag of Tricks §3.1, timm, MLPerf) '
          'instead of from learning_rate (Goyal et al. §2.2).'),
    Field('optimizer', 'sgd', "'sgd' (with momentum), 'rmsprop' (TensorFlow's, as the "
          "Inception and MobileNet papers used it), 'adamw' (decoupled weight decay), 'lamb' "
          "(timm's, as in \"ResNet strikes back\") or 'lars' (the MLPerf ResNet reference's).",
          one_of(*optimizers.OPTIMIZERS)),
    Field('momentum', 0.9, 'Momentum of SGD, RMSProp or LARS (AdamW and LAMB: adam_b1).',
          only_when('optimizer', ('sgd', 'rmsprop', 'lars'), 0.9, fraction_below_one())),
    Field('nesterov', False, 'Nesterov momentum (SGD).', only_when('optimizer', 'sgd', False)),
    Field('rmsprop_decay', 0.9, "RMSProp's decay of the mean square.",
          only_when('optimizer', 'rmsprop', 0.9, fraction_below_one())),
    Field('rmsprop_epsilon', 1.0, "RMSProp's ε, inside the square root (Inception v3: 1.0).",
          only_when('optimizer', 'rmsprop', 1.0, positive())),
    Field('adam_b1', 0.9, "AdamW's and LAMB's decay of the gradient's moving average (β1).",
          only_when('optimizer', ('adamw', 'lamb'), 0.9, fraction_below_one())),
    Field('adam_b2', 0.999, "AdamW's and LAMB's decay of the squared gradient's moving "
          'average (β2).', only_when('optimizer', ('adamw', 'lamb'), 0.999,
                                     fraction_below_one())),
    Field('adam_epsilon', 1e-8, "AdamW's and LAMB's ε, outside the square root (torch's AdamW: "
          "1e-8; timm's Lamb: 1e-6).",
          only_when('optimizer', ('adamw', 'lamb'), 1e-8, positive())),
    Field('lars_trust_coefficient', 0.001, "LARS's trust coefficient η: a kernel's rate is "
          'lr·η·‖w‖ / (‖g‖ + weight_decay·‖w‖ + lars_epsilon) (MLPerf: 0.001).',
          only_when('optimizer', 'lars', 0.001, positive())),
    Field('lars_epsilon', 0.0, "LARS's ε in the trust ratio's denominator (MLPerf: 0; timm: "
          '1e-8).', only_when('optimizer', 'lars', 0.0, at_least_zero())),
    Field('grad_clip_norm', 0.0, 'Clip the gradient to this global norm; 0 = off (Inception '
          'v3: 2.0).', at_least_zero()),
    Field('ema_decay', 0.0, 'Exponential moving average of the weights and BatchNorm '
          'statistics, used for evaluation and the best checkpoint; 0 = off (Inception v3: '
          '0.9999).', fraction_below_one()),
    Field('weight_decay', 1e-4, 'Weight decay λ of convolution and dense kernels: λ·w added '
          'to the gradient under SGD, RMSProp and LARS (LARS: inside the trust ratio); '
          'decoupled under AdamW and LAMB (lr·λ·w taken off the weights, outside the moments).',
          at_least_zero()),
    Field('label_smoothing', 0.0, 'Label smoothing of the cross-entropy targets.',
          fraction_below_one()),
    Field('aux_loss_weight', 0.3, "Weight of auxiliary classifiers' losses, for models that "
          'have them.', at_least_zero()),

    # The loss, batch mixing and distillation (training/steps.py, training/mixing.py).
    Field('loss', 'softmax_cross_entropy', "'softmax_cross_entropy', or "
          "'sigmoid_binary_cross_entropy': a sigmoid per class, averaged over examples × "
          'classes as timm\'s BinaryCrossEntropy ("ResNet strikes back").',
          one_of('softmax_cross_entropy', 'sigmoid_binary_cross_entropy')),
    Field('bce_target_threshold', 0.0, 'With the binary cross-entropy: soft targets above this '
          'become 1, the rest 0; 0 = targets kept soft.',
          only_when('loss', 'sigmoid_binary_cross_entropy', 0.0, fraction_below_one())),
    Field('mixup_alpha', 0.0, 'Mixup (Zhang et al. 2018): λ ~ Beta(α, α), images and targets '
          'blended with the batch reversed; 0 = off (Bag of Tricks: 0.2).', at_least_zero()),
    Field('cutmix_alpha', 0.0, 'CutMix (Yun et al. 2019): a box of the reversed batch pasted '
          'in, targets mixed by its area; 0 = off ("ResNet strikes back": 1.0).',
          at_least_zero()),
    Field('mix_prob', 1.0, 'The share of batches mixed, with mixup_alpha or cutmix_alpha.',
          Rule(lambda value, config: 0 <= value <= 1, 'in [0, 1]')),
    Field('mix_switch_prob', 0.5, 'With both alphas: the share of mixed batches that CutMix '
          'mixes (the rest: Mixup).', Rule(lambda value, config: 0 <= value <= 1, 'in [0, 1]')),
    Field('grad_accum_steps', 1, "Each device runs its share of the batch as this many "
          'micro-batches, one after another, and the optimiser steps once: batch_size stays '
          'the images per update; memory holds one micro-batch.', positive()),
    Field('teacher', '', "Knowledge distillation (Hinton et al. 2015): a run folder or "
          "checkpoint folder (train.py's or `python -m trained.convert`'s) whose network, in "
          "inference mode, gives soft targets; '' = none."),
    Field('distill_weight', 0.5, 'With a teacher: the loss is (1 - w)·loss + w·T²·CE(teacher, '
          'student) at temperature T (Bag of Tricks code: w = 0.5).',
          Rule(lambda value, config: 0 <= value <= 1 if config.teacher else value == 0.5,
               lambda value: "in [0, 1] with a teacher; it applies to nothing else "
               "(default 0.5)")),
    Field('distill_temperature', 20.0, 'With a teacher: the softmax temperature T of both '
          'networks in the distillation term (Bag of Tricks code: 20).',
          Rule(lambda value, config: value > 0 if config.teacher else value == 20.0,
               lambda value: "positive with a teacher; it applies to nothing else "
               "(default 20.0)")),

    # Numerics and reproducibility.
    Field('half_precision', False, 'bfloat16 activations; float32 parameters and loss.'),
    Field('seed', 0, 'Initialisation, shuffling, augmentation and dropout.'),
    Field('deterministic', False, 'True: bit-identical resumption (tf.data in a fixed order, '
          "XLA's deterministic GPU kernels); slower input pipeline and, on GPUs, slower "
          'scatter/reductions.'),
    Field('compilation_cache_dir', compilation_cache.default_cache_dir(),
          "Compiled steps are kept here, so that a restart of the same program loads them "
          "instead of compiling (JAX's persistent cache; JAX_COMPILATION_CACHE_DIR or the "
          "user's cache folder by default). '' = off."),
    Field('on_nonfinite', 'stop', "'stop': a NaN or Inf loss or gradient stops the run (the "
          "newest good checkpoint stays); 'skip': the update is skipped and counted.",
          one_of('stop', 'skip')),

    # Several hosts (jax.distributed): from the cluster's environment (Cloud TPU pods,
    # SLURM, Open MPI) or, where given, from the three fields after it, which must then
    # be set on every process.
    Field('distributed', False, "True: initialise JAX's multi-process runtime."),
    Field('coordinator_address', '', 'host:port of process 0, e.g. 10.0.0.1:1234.'),
    Field('num_processes', -1, 'Processes of the job; -1: detected.'),
    Field('process_id', -1, "This process's index; -1: detected."),

    # What the run shows and keeps.
    Field('log_every_steps', 100, 'Steps between progress lines and metrics.', positive()),
    Field('eval_every_epochs', 1.0, 'Epochs between evaluations.', positive()),
    Field('eval_in_memory_mb', 1024, 'An eval split whose preprocessed batches take at most '
          'this many MB stays in memory after the first evaluation, so later ones skip '
          'decoding (digits, CIFAR: yes; ImageNet at 224 px, 7.5 GB: no). 0 = never.',
          at_least_zero()),
    Field('checkpoint_every_steps', 1000, 'Steps between checkpoints (every evaluation '
          'checkpoints too).', positive()),
    Field('keep_checkpoints', 3, 'The newest ones kept; the best by eval accuracy is kept as '
          'well.', positive()),
)


def get_config():
  return build_config(FIELDS)


if __name__ == '__main__':
  print(describe_fields(FIELDS))
