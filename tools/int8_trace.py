"""Where post-training int8 loses fidelity in an exported fD, op by op.

    python tools/int8_trace.py --saved_model=RUN/saved_model/degradation --input_size=112x112
    python tools/int8_trace.py --saved_model=... --input_size=112x112 --noequalise --out=trace.json

Builds fD at the camera's size as ``ppvr-export`` does (calibrated on the run's training
frames, channel-equalised unless ``--noequalise``), converts it to float32 and int8, and
prints each int8 tensor's SNR against the float32 one on held-out frames
(``tflite_export/int8_trace.py``); ``--out`` writes the rows as JSON.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from ppvr_tf.cli.runtime import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

flags.DEFINE_string("saved_model", None, "fD's SavedModel directory (ppvr-train's saved_model/degradation).")
flags.DEFINE_string("input_size", "", "HxW; default: the size fD was trained at.")
flags.DEFINE_enum("input_format", "rgb", ["rgb", "gray"], "The sensor's pixels (as ppvr-export's).")
flags.DEFINE_integer("calibration_frames", 200, "Training frames int8 is calibrated on.")
flags.DEFINE_integer("frames", 16, "Held-out frames the tensors are compared on.")
flags.DEFINE_bool("equalise", True, "Equalise the channels that feed instance norms first, as ppvr-export does.")
flags.DEFINE_string("out", None, "Where to write the rows as JSON.")
flags.mark_flag_as_required("saved_model")
F = flags.FLAGS


def main(argv):
    del argv
    from ppvr_tf import experiment
    from ppvr_tf.io_utils import atomic_write_text
    from tflite_export import convert, equalise, export, fd_source, int8_trace

    trained = fd_source.frame_shape(F.saved_model)
    size = fd_source.parse_size(F.input_size) or trained[:2]
    shape = (*size, 1 if F.input_format == "gray" else 3)
    cfg = fd_source.config(F.saved_model)
    fd_source.check_size(cfg, *size)
    dataset = experiment.load_dataset(cfg)
    calibration = export.as_sensor(export.samples_of(dataset.train, F.calibration_frames, 0), shape)[0]
    held_out = export.as_sensor(export.samples_of(dataset.test, F.frames, 1), shape)[0]
    fd = fd_source.keras_model(F.saved_model)
    if F.equalise:
        fd = equalise.equalised(fd, export.as_rgb(calibration))
    with tempfile.TemporaryDirectory() as tmp:
        fixed = fd_source.at_size(fd, shape, tmp)
        rows = int8_trace.trace(convert.convert(fixed, "float32"), convert.convert(fixed, "int8", [calibration]),
                                held_out)
    for row in rows:
        print(f"{row['op']:24s} {row['tensor'][-56:]:56s} {row['snr_db']:6.1f} dB   |x| max {row['max_abs']:8.3g}")
    if F.out:
        atomic_write_text(F.out, json.dumps({"saved_model": os.path.abspath(F.saved_model), "frame_shape": list(shape),
                                             "equalised": F.equalise, "rows": rows}, indent=2))


if __name__ == "__main__":
    app.run(main)
