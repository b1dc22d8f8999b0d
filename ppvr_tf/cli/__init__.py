"""Entry points: they parse flags and call the library, nothing more."""
from ppvr_tf.cli.runtime import quiet_tensorflow

quiet_tensorflow()  # before any entry point imports TensorFlow
