"""One tfds builder per dataset of the paper, plus a bring-your-own CSV manifest.

Each module's docstring says where to put the files; each registers its builder in
``BUILDERS`` under its ``--dataset`` / ``--privacy_dataset`` name (``@BUILDERS.register``).
"""
from ppvr_tf.data.builders import hmdb51, manifest, pa_hmdb51, sbu, ucf101, vispr  # noqa: F401  (they register)
from ppvr_tf.data.builders.base import BUILDERS  # noqa: F401
