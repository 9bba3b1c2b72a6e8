"""Model zoo: one file per architecture family, all reachable through the registry.

    import models
    model = models.create('resnet50', num_classes=1000, dtype=jnp.bfloat16)
    models.names()  # every registered name
"""

# Importing a family file registers its named variants.
from models import alexnet  # noqa: F401
from models import densenet  # noqa: F401
from models import fractalnet  # noqa: F401
from models import googlenet  # noqa: F401
from models import inception  # noqa: F401
from models import lenet  # noqa: F401
from models import nasnet  # noqa: F401
from models import mobilenet  # noqa: F401
from models import preact_resnet  # noqa: F401
from models import resnet  # noqa: F401
from models import senet  # noqa: F401
from models import vgg  # noqa: F401
from models import wide_resnet  # noqa: F401
from models.registry import ModelSpec, accepts_option, create, names, spec

__all__ = ['ModelSpec', 'accepts_option', 'create', 'names', 'spec']
