"""ppvr-export --saved_model=DIR --out_dir=OUT (or --workdir=RUN to export from checkpoints)."""
from __future__ import annotations

import json
import os
import sys
import tempfile

from absl import app, flags

from ppvr_tf.cli.runtime import quiet_tensorflow

quiet_tensorflow()

flags.DEFINE_string("saved_model", None, "fD SavedModel written by ppvr-train (saved_model/degradation).")
flags.DEFINE_string("workdir", None, "Or: a ppvr-train workdir; fD is rebuilt from its last checkpoint.")
flags.DEFINE_string("out_dir", None, "Where the flatbuffers, C array and reports go.")
flags.DEFINE_integer("calibration_frames", 200, "Training frames that calibrate the int8 ranges.")
flags.DEFINE_integer("verification_frames", 64, "Held-out test frames for the fidelity report.")
flags.DEFINE_float("psnr_bar_db", 30.0, "int8 against float PSNR the export must reach.")
flags.DEFINE_enum("qat", "auto", ["auto", "always", "never"],
                  "Quantisation-aware fine-tuning (tfmot) of the int8 model: when post-training int8 "
                  "misses the PSNR bar (auto), always, or never. The better int8 model is kept.")
flags.DEFINE_integer("qat_frames", 2000, "Training frames the quantisation-aware fine-tuning fits.")
flags.DEFINE_integer("qat_epochs", 8, "Epochs of quantisation-aware fine-tuning.")
flags.DEFINE_float("qat_learning_rate", 3e-3, "Adam step size of quantisation-aware fine-tuning.")
flags.DEFINE_string("input_size", "", "The camera's frame size HxW, e.g. 120x160 (fD is fully convolutional: "
                    "any size its strides divide). Default: the size fD was trained at.")
flags.DEFINE_enum("input_format", "rgb", ["rgb", "gray"],
                  "The camera's pixels: rgb, or gray (one channel, replicated to RGB inside the model).")
F = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not F.out_dir or bool(F.saved_model) == bool(F.workdir):
        raise app.UsageError("give --out_dir and one of --saved_model or --workdir")
    from ppvr_tf.data.errors import DataError
    from tflite_export import export, fd_source
    try:
        input_size = fd_source.parse_size(F.input_size)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    with tempfile.TemporaryDirectory() as tmp:
        source = F.saved_model or fd_source.from_checkpoint(F.workdir, f"{tmp}/fd")
        try:
            report = export.run(source, F.out_dir, F.calibration_frames, F.verification_frames,
                                qat=F.qat, qat_frames=F.qat_frames, qat_epochs=F.qat_epochs,
                                qat_learning_rate=F.qat_learning_rate,
                                psnr_bar_db=F.psnr_bar_db, input_size=input_size, input_format=F.input_format)
        except (export.ExportError, DataError, FileNotFoundError, ValueError) as error:
            sys.exit(f"ppvr-export: {error}")
    print(export.summary(report, json.load(open(os.path.join(F.out_dir, "metadata.json")))))
    if not report["passed"]:
        sys.exit(f"ppvr-export: int8 fidelity below {F.psnr_bar_db} dB PSNR (see {F.out_dir}/verification.json)")


def run() -> None:
    app.run(main)


if __name__ == "__main__":
    run()
