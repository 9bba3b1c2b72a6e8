r"""Writes the module order of the networks whose weights come as .safetensors files.

    python trained/layouts/make_layouts.py

A `.safetensors` file stores its tensors sorted by name, so the order in which the
network registers its modules (which trained/convert.py pairs with the order in which the
registry network calls its layers) is not in the file. This script records it once, per
network, from the library itself: <registry name>.txt lists the state dict's tensor names
in registration order. Run it in a scratch environment with torch and timm.
"""

import os

import timm

# registry name -> timm's model name, for every source shipped as .safetensors
SAFETENSORS_SOURCES = {
    'inception_v4_tfslim': 'inception_v4',
    'inception_resnet_v2_tfslim': 'inception_resnet_v2',
    'mobilenet_v1_relu6': 'mobilenetv1_100',
}

if __name__ == '__main__':
  folder = os.path.dirname(os.path.abspath(__file__))
  for registry_name, timm_name in SAFETENSORS_SOURCES.items():
    names = list(timm.create_model(timm_name).state_dict())
    with open(os.path.join(folder, f'{registry_name}.txt'), 'w') as file:
      file.write(f'# timm {timm.__version__} {timm_name}: state dict names in module '
                 'registration order\n')
      file.write('\n'.join(names) + '\n')
    print(f'{registry_name}: {len(names)} names')
