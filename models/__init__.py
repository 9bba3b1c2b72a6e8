"""Model zoo: one file per architecture family, all reachable through the registry.

    import models
    model = models.create('resnet50', num_classes=1000, dtype=jnp.bfloat16)
    models.names()  # every registered name
"""

# Importing a family file registers its named variants.
from models import lenet  # noqa: F401
from models import resnet  # noqa: F401
from models.registry import ModelSpec, create, names, spec

__all__ = ['ModelSpec', 'create', 'names', 'spec']
