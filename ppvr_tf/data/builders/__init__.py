"""One tfds builder per dataset of the paper, plus a bring-your-own CSV manifest.

Each module's docstring says where to put the files. ``BUILDERS`` maps the
``--dataset`` / ``--privacy_dataset`` names to the builder classes.
"""
from ppvr_tf.data.builders.hmdb51 import Hmdb51
from ppvr_tf.data.builders.manifest import Manifest
from ppvr_tf.data.builders.pa_hmdb51 import PaHmdb51
from ppvr_tf.data.builders.sbu import Sbu
from ppvr_tf.data.builders.ucf101 import Ucf101
from ppvr_tf.data.builders.vispr import Vispr

BUILDERS = {"sbu": Sbu, "ucf101": Ucf101, "hmdb51": Hmdb51, "pa_hmdb51": PaHmdb51,
            "vispr": Vispr, "manifest": Manifest}
