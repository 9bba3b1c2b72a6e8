"""pytest set-up shared by every test: two simulated CPU devices, quiet TensorFlow.

XLA reads XLA_FLAGS when JAX starts, so this runs before any test imports JAX;
subprocesses started by tests (the train.py CLI) inherit the same environment.
"""

import os

# Two simulated devices exercise the data-parallel code. The other two flags
# halve XLA's CPU compile time (the registry walk compiles 60 networks' training
# steps) at the price of slower generated code, which tests do not notice.
TEST_XLA_FLAGS = ('--xla_force_host_platform_device_count=2 '
                  '--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false')
os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') + ' ' + TEST_XLA_FLAGS).strip()
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import tensorflow as tf  # noqa: E402

tf.config.set_visible_devices([], 'GPU')
