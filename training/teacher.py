"""The teacher of knowledge distillation (config.teacher): a trained network read from a run
folder, a checkpoint folder or a `python -m trained.convert` folder.

Hinton et al. 2015 train a student on a teacher's softened predictions; He et al. 2019
("Bag of Tricks", §5.3) distil a ResNet-50 from a ResNet-152 on the same images. Here the
teacher runs in inference mode inside the student's compiled train step (training/steps.py,
`Objective`): only the variables evaluation uses are read (its moving averages where its
run kept them), replicated over the mesh, and they are an input of the step, never updated
nor written to the student's checkpoints.
"""

import ml_collections

from training import checkpoints, configuration, steps
from training.configuration import ConfigError
from training.workdir import WorkdirError


def load_teacher(config: ml_collections.ConfigDict, fields, num_classes: int, channels: int,
                 image_mean, image_std, mesh) -> steps.Teacher | None:
  """The network of config.teacher, checked against the student's classes, input size and
  channels; None without a teacher. Its recorded config is checked against `fields` (the
  declared config fields). A teacher that records no normalisation is fed the student's
  (`image_mean`, `image_std`)."""
  if not config.teacher:
    return None
  try:
    directory, step = checkpoints.locate_checkpoint(config.teacher)
  except WorkdirError as error:
    raise ConfigError(f'config.teacher: {error}') from None
  manager = checkpoints.open_checkpoints(directory)
  info = checkpoints.read_run_info_or_explain(manager, step)
  name = f'config.teacher={config.teacher}'
  if 'config' not in info:
    raise ConfigError(f'{name}: its checkpoint does not record its network (written before '
                      'checkpoints did): distil from a checkpoint of this version')
  try:  # the file may be damaged or crafted: the checks of a command line's config
    teacher_config = configuration.recorded_config(info['config'], fields)
  except (ConfigError, TypeError, KeyError, AttributeError) as error:
    raise ConfigError(f'{name}: its checkpoint carries a config that train.py refuses '
                      f'({" ".join(str(error).split())[:200]})') from None
  for key, mine in (('num_classes', num_classes), ('image_size', config.image_size),
                    ('channels', channels)):
    theirs = info.get(key)
    if theirs is not None and theirs != mine:
      raise ConfigError(f'{name} has {key}={theirs}, this run {key}={mine}: a teacher must '
                        'predict the same classes from the same images')
  network = steps.create_model(teacher_config, info['num_classes'])
  model = checkpoints.restore_eval_model(manager, step, network, config.image_size, channels,
                                         teacher_config.ema_decay > 0, mesh)
  mean = image_mean if info.get('image_mean') is None else info['image_mean']
  std = image_std if info.get('image_std') is None else info['image_std']
  return steps.Teacher(model, tuple(float(m) for m in mean), tuple(float(s) for s in std))
