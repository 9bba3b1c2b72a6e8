"""configs/resnet50_bag_of_tricks.py with knowledge distillation, He et al. 2019 §5.3
(Hinton et al. 2015): the student's loss is (1 - w)·CE(label) + w·T²·CE(softmax(r/T),
softmax(z/T)) with the teacher's logits r, w = 0.5 and T = 20 (the paper's released
GluonCV code; its equation (5) writes the two terms unweighted).

The paper's teacher is a ResNet-152-D trained with its own refinements (cosine, label
smoothing, mixup). The nearest released weights are torchvision's ResNet-152, which is
not that teacher (plain ResNet-152 v1.5, 78.3 % top-1, no mixup); convert it and pass
its folder:

    python -m trained.convert --model=resnet152 --weights=resnet152-394f9c45.pth \
        --out=converted/resnet152_torchvision
    python train.py --config=configs/resnet50_bag_of_tricks_distill.py --workdir=... \
        --config.teacher=converted/resnet152_torchvision

The teacher takes the same (mixed) images in inference mode, normalised as its folder
records; its variables are read once and never written to this run's checkpoints.
"""

from configs import resnet50_bag_of_tricks


def get_config():
  config = resnet50_bag_of_tricks.get_config()
  config.teacher = 'converted/resnet152_torchvision'
  config.distill_weight = 0.5
  config.distill_temperature = 20.0
  return config
