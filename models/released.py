"""Released ImageNet weights that registry networks reproduce exactly: where each comes
from, the single-crop top-1 its publishers report for it, and the evaluation transform it
expects (resize, crop, interpolation, mean, std).

Facts about networks, kept beside them: `python -m trained.convert` turns these files into
checkpoints, and `models compare` places the released networks by their quoted top-1.
"""

import dataclasses

TORCHVISION = 'torchvision'
TIMM = 'timm'


@dataclasses.dataclass(frozen=True)
class Source:
  """A released network that a registry network reproduces exactly, and its weights."""

  model: str  # the registry name
  library: str  # TORCHVISION or TIMM
  name: str  # the library's own name (torchvision.models.<name>, timm.create_model(<name>))
  weights: str  # the file its authors publish (torchvision URL's file, timm's hub id)
  top1: float  # ImageNet top-1 (%) those weights reach, as published (quoted, not measured)
  resize: int = 256  # evaluation: shorter side resized to this...
  crop: int = 224  # ...then the centre crop of this side
  interpolation: str = 'bilinear'
  mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # on the 0-1 scale
  std: tuple[float, float, float] = (0.229, 0.224, 0.225)
  # Module path prefixes of the registry network that the released definition registers
  # after all its other modules but the final classifier.
  registered_last: tuple[str, ...] = ()
  # (module of the source, module of the registry network) of each auxiliary classifier,
  # which saved files may lack (see the module docstring).
  auxiliary_heads: tuple[tuple[str, str], ...] = ()
  note: str = ''
  # The registry network of the paper that this released network departs from, where the
  # two are registered apart (`alexnet_torchvision` is `alexnet` as torchvision trained it):
  # `models compare` places the paper's network by these weights under this name.
  variant_of: str = ''


HALF = (0.5, 0.5, 0.5)


def _torchvision(model, weights, top1, name=None, **kwargs) -> Source:
  return Source(model, TORCHVISION, name or model, weights, top1, **kwargs)


# Published top-1 (quoted): torchvision's weight tables (IMAGENET1K_V1), timm's
# results/results-imagenet.csv. Resize, crop, interpolation, mean and std are each weights'
# own evaluation transform (torchvision's weight metadata, timm's pretrained configs).
SOURCES = {source.model: source for source in [
    _torchvision('resnet18', 'resnet18-f37072fd.pth', 69.758),
    _torchvision('resnet34', 'resnet34-b627a593.pth', 73.314),
    _torchvision('resnet50', 'resnet50-0676ba61.pth', 76.130,
                 note='IMAGENET1K_V2 (resnet50-11ad3fa6.pth, 80.858 %): --resize=232'),
    _torchvision('resnet101', 'resnet101-63fe2227.pth', 77.374),
    _torchvision('resnet152', 'resnet152-394f9c45.pth', 78.312),
    _torchvision('wide_resnet50_2', 'wide_resnet50_2-95faca4d.pth', 78.468),
    _torchvision('resnext50_32x4d', 'resnext50_32x4d-7cdf4587.pth', 77.618),
    _torchvision('resnext101_32x8d', 'resnext101_32x8d-8ba56ff5.pth', 79.312),
    _torchvision('vgg11', 'vgg11-8a719046.pth', 69.020),
    _torchvision('vgg13', 'vgg13-19584684.pth', 69.928),
    _torchvision('vgg16', 'vgg16-397923af.pth', 71.592),
    _torchvision('vgg19', 'vgg19-dcbb9e9d.pth', 72.376),
    _torchvision('vgg11_bn', 'vgg11_bn-6002323d.pth', 70.370),
    _torchvision('vgg13_bn', 'vgg13_bn-abd245e5.pth', 71.586),
    _torchvision('vgg16_bn', 'vgg16_bn-6c64b313.pth', 73.360),
    _torchvision('vgg19_bn', 'vgg19_bn-c79401a0.pth', 74.218),
    _torchvision('densenet121', 'densenet121-a639ec97.pth', 74.434),
    _torchvision('densenet161', 'densenet161-8d451a50.pth', 77.138),
    _torchvision('densenet169', 'densenet169-b2777c0a.pth', 75.600),
    _torchvision('densenet201', 'densenet201-c1103571.pth', 76.896),
    _torchvision('mobilenet_v2', 'mobilenet_v2-b0353104.pth', 71.878),
    _torchvision('mobilenet_v3_large', 'mobilenet_v3_large-8738ca79.pth', 74.042),
    _torchvision('mobilenet_v3_small', 'mobilenet_v3_small-047dcff4.pth', 67.668),
    # Released networks that differ from their papers' text: registry variants named so.
    _torchvision('alexnet_torchvision', 'alexnet-owt-7be5be79.pth', 56.522, name='alexnet',
                 variant_of='alexnet'),
    # torchvision's GoogLeNet and Inception v3 weights expect transform_input=True, which
    # re-normalises ImageNet-normalised pixels to mean 0.5, std 0.5: their real normalisation.
    _torchvision('googlenet_torchvision', 'googlenet-1378be20.pth', 69.778, name='googlenet',
                 mean=HALF, std=HALF, registered_last=('aux1', 'aux2'),
                 auxiliary_heads=(('aux1', 'aux1'), ('aux2', 'aux2')), variant_of='googlenet'),
    _torchvision('inception_v3_torchvision', 'inception_v3_google-0cc3c7bd.pth', 77.294,
                 name='inception_v3', resize=342, crop=299, mean=HALF, std=HALF,
                 auxiliary_heads=(('AuxLogits', 'aux'),), variant_of='inception_v3'),
    # timm: resize = floor(input size / crop_pct), as timm's eval transform computes it.
    Source('inception_v4_tfslim', TIMM, 'inception_v4.tf_in1k',
           'timm/inception_v4.tf_in1k model.safetensors', 80.144, resize=341, crop=299,
           interpolation='bicubic', mean=HALF, std=HALF, variant_of='inception_v4'),
    Source('inception_resnet_v2_tfslim', TIMM, 'inception_resnet_v2.tf_in1k',
           'timm/inception_resnet_v2.tf_in1k model.safetensors', 80.434, resize=333, crop=299,
           interpolation='bicubic', mean=HALF, std=HALF, variant_of='inception_resnet_v2'),
    Source('se_resnet50_caffe', TIMM, 'legacy_seresnet50.in1k', 'se_resnet50-ce0d4300.pth',
           77.650, variant_of='se_resnet50'),
    Source('se_resnext50_32x4d_caffe', TIMM, 'legacy_seresnext50_32x4d.in1k',
           'legacy_se_resnext50_32x4d-f3651bad.pth', 79.080, variant_of='se_resnext50_32x4d'),
    Source('mobilenet_v1_relu6', TIMM, 'mobilenetv1_100.ra4_e3600_r224_in1k',
           'timm/mobilenetv1_100.ra4_e3600_r224_in1k model.safetensors', 75.388,
           interpolation='bicubic', mean=HALF, std=HALF, variant_of='mobilenet_v1'),
]}
