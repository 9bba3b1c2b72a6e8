"""Squeeze-and-excitation networks: Hu, Shen, Albanie, Sun & Wu 2018,
"Squeeze-and-excitation networks" (CVPR 2018; TPAMI 2019).

An SE module recalibrates the channels of a feature map U (H×W×C): squeeze by
global average pooling to C numbers, excite with FC (C/r) → ReLU → FC (C) →
sigmoid, and scale each channel of U by its gate (Eqs. 2-4, r = 16). In an
SE-ResNet it acts on the residual branch, after the last BN and before the
addition with the identity (Fig. 3), through the `attention` field of
models/resnet.py's blocks: the networks are models/resnet.py's ResNet.

    name                  base network        params      paper (Table 1/2)
    se_resnet50           ResNet-50           28,088,024  28.1 M
    se_resnext50_32x4d    ResNeXt-50 32×4d    27,559,896  27.5 M

Biases: the two FC layers have biases (the paper's Fig. 3 draws plain FC
layers, and the authors' released Caffe models implement them as 1×1
convolutions with biases); they add Σ_s N_s (C_s/16 + C_s) = 16,048 parameters
to ResNet-50. Eq. 5's count of the SE overhead, 2/r Σ_s N_s C_s² = 2,514,944,
leaves them out; both totals round to 28.1 M. `use_bias=False` gives the
biasless count (28,071,976 for se_resnet50).

Strides: SE-ResNet-50 is the original ResNet-50 (He et al. 2016a), which
strides the first 1×1 convolution of a downsampling bottleneck, as do the
authors' released models; SE-ResNeXt-50 strides the grouped 3×3 convolution,
as ResNeXt does. The choice does not change the parameter count.

Released models: the authors' Caffe models (timm's `legacy_seresnet50` and
`legacy_seresnext50_32x4d` ports) pool the stem in ceil mode without padding, where
ResNet pads by 1: `se_resnet50_caffe` and `se_resnext50_32x4d_caffe` are those networks,
the only difference.
"""

from functools import partial

from models.layers import SqueezeExcitation
from models.registry import register
from models.resnet import BottleneckBlock, ResNet


register('se_resnet50', partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BottleneckBlock,
                                stride_on_3x3=False, attention=SqueezeExcitation),
         parameters=28_088_024, paper_parameters='28.1',
         paper_top1=76.71, paper_top1_source='Hu et al. 2018, Table 2 (single 224 crop, 23.29 % '
                                             'top-1 error)')
register('se_resnext50_32x4d', partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BottleneckBlock,
                                       groups=32, width_per_group=4,
                                       attention=SqueezeExcitation),
         parameters=27_559_896, paper_parameters='27.5',
         paper_top1=78.90, paper_top1_source='Hu et al. 2018, Table 2 (single 224 crop, 21.10 % '
                                             'top-1 error)')
# The authors' released Caffe models: the stem's max pool in ceil mode, without padding.
register('se_resnet50_caffe', partial(ResNet, stage_sizes=(3, 4, 6, 3), block=BottleneckBlock,
                                      stride_on_3x3=False, attention=SqueezeExcitation,
                                      stem_pool_padding='SAME'),
         parameters=28_088_024,
         paper_top1_source="the released variant: the paper's number is se_resnet50's")
register('se_resnext50_32x4d_caffe', partial(ResNet, stage_sizes=(3, 4, 6, 3),
                                             block=BottleneckBlock, groups=32, width_per_group=4,
                                             attention=SqueezeExcitation, stem_pool_padding='SAME'),
         parameters=27_559_896,
         paper_top1_source="the released variant: the paper's number is se_resnext50_32x4d's")
