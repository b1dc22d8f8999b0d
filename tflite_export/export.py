"""``ppvr-export``: a trained fD -> everything a device and its firmware need.

``OUT/`` receives (all at once, or nothing):

    fd_int8.tflite     full-integer int8 (int8 input and output, batch 1, builtin ops)
    fd_float16.tflite  float16 weights
    fd_float32.tflite  float32
    fd_int8.cc/.h      the int8 flatbuffer as a C array (16-byte aligned) for firmware
    metadata.json      input/output shape, scale, zero point; op list; arena, MACs, bytes
    verification.json  int8 and float16 against the float SavedModel on held-out frames
                       (PSNR, max error) through LiteRT and through TFLite Micro

int8 is calibrated on frames of the run's own training data; held-out frames come from
its test split. When post-training int8 misses the PSNR bar, fD is fine-tuned with
quantisation in the loop (``qat.py``) and the better of the two int8 models is kept;
the report gives both. A model with an op TFLite Micro lacks is not exported: the report is
written alone and the command fails.
"""
from __future__ import annotations

import json
import os
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import logging

from ppvr_tf import experiment
from ppvr_tf.evaluation.litert_fd import TFLiteFrameFilter, interpreter, io_details
from ppvr_tf.export.saved_model import ServingModel
from ppvr_tf.io_utils import atomic_directory, atomic_write_text
from tflite_export import c_array, convert, equalise, fd_source, micro, model_info

PSNR_BAR_DB = 30.0  # int8 against float: the fidelity the export must reach, by default
ARRAY_NAME = "fd_int8"


class ExportError(RuntimeError):
    """The model cannot be exported as asked (the report says why)."""


def psnr(reference: np.ndarray, output: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for images in [0, 1]."""
    mse = float(np.mean((reference.astype(np.float64) - output) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def fidelity(reference: np.ndarray, output: np.ndarray) -> dict:
    error = np.abs(reference.astype(np.float64) - output)
    return {"psnr_db": round(psnr(reference, output), 2), "max_abs_error": round(float(error.max()), 5),
            "mean_abs_error": round(float(error.mean()), 5)}


def samples_of(split, count: int, seed: int, pairs: bool = False) -> list[np.ndarray]:
    """Model inputs for ``count`` samples spread over the first clips of a split, in [0, 1]:
    ``[frames]``, or ``[frames, previous frames]`` for an fD that needs the previous frame."""
    t = split.clip_dataset().element_spec.shape[0] or 1
    clips = split.head(min(len(split), -(-count // max(1, t - pairs)) * 2)).astype(np.float32) / 255.0
    inputs = [clips[:, 1:], clips[:, :-1]] if pairs else [clips]
    inputs = [x.reshape(-1, *x.shape[2:]) for x in inputs]
    pick = np.sort(np.random.default_rng(seed).choice(len(inputs[0]), size=min(count, len(inputs[0])), replace=False))
    return [x[pick] for x in inputs]


LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601, what gray sensors approximate


def as_sensor(inputs: list[np.ndarray], shape: tuple[int, int, int]) -> list[np.ndarray]:
    """Frames in [0, 1] as a sensor of ``shape`` (H, W, C) gives them: resized (area
    averaging), and gray (one channel) when C is 1."""
    out = []
    for frames in inputs:
        if frames.shape[1:3] != shape[:2]:
            frames = np.clip(tf.image.resize(frames, shape[:2], antialias=True).numpy(), 0.0, 1.0)
        if shape[2] == 1:
            frames = frames @ LUMA[:, None]
        out.append(frames.astype(np.float32))
    return out


def _rebuilt(saved_model_dir: str, as_trained: bool):
    """The per-frame fD as Keras layers, or None for a SavedModel this version of ppvr_tf
    cannot rebuild from its config: that one is exported as its graph, at its trained size."""
    try:
        return fd_source.keras_model(saved_model_dir)
    except ValueError:
        if as_trained:
            return None
        raise


def as_rgb(frames: np.ndarray) -> np.ndarray:
    return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames


def _float_reference(fd, inputs: list[np.ndarray]) -> np.ndarray:
    """The float fD's output: per frame, or on (previous, current) two-frame clips; gray
    frames go in as their three-channel replicate, as on the device."""
    inputs = [as_rgb(x) for x in inputs]
    if len(inputs) == 1:
        return np.asarray(fd(inputs[0]), np.float32)
    current, previous = inputs
    return np.asarray(fd(np.stack([previous, current], axis=1)), np.float32)[:, 1]


QAT_MODES = ("auto", "always", "never")  # auto: when post-training int8 misses the bar


def run(saved_model_dir: str, out_dir: str, calibration_frames: int = 200,
        verification_frames: int = 64, seed: int = 0, qat: str = "auto", qat_frames: int = 2000,
        qat_epochs: int = 8, qat_learning_rate: float = 3e-3, psnr_bar_db: float = PSNR_BAR_DB,
        input_size: tuple[int, int] | None = None, input_format: str = "rgb") -> dict:
    """Converts, checks and writes; returns the verification report. ``input_size``
    (H, W) and ``input_format`` (rgb or gray) give the camera's frames; by default the
    size fD was trained at, in RGB."""
    if qat not in QAT_MODES:
        raise ValueError(f"qat must be one of {', '.join(QAT_MODES)}, not {qat!r}")
    if input_format not in fd_source.INPUT_FORMATS:
        raise ValueError(f"input_format must be one of {', '.join(fd_source.INPUT_FORMATS)}, not {input_format!r}")
    cfg = fd_source.config(saved_model_dir)
    trained = fd_source.frame_shape(saved_model_dir)
    pairs = len(trained) == 4  # an fD over clips (BDQ) runs on (frame, previous frame) on the camera
    trained = trained[1:] if pairs else trained
    shape = (*(input_size or trained[:2]), 1 if input_format == "gray" else 3)
    as_trained = shape == tuple(trained)
    if not as_trained:
        fd_source.check_size(cfg, *shape[:2])
        if pairs and input_format == "gray":
            raise ExportError("--input_format=gray: an fD over clips (BDQ) takes RGB frames")
    logging.info("fD at %dx%d %s; int8 calibrated on %d training frames, checked on %d test frames",
                 shape[0], shape[1], input_format, calibration_frames, verification_frames)
    dataset = experiment.load_dataset(cfg)
    calibration = as_sensor(samples_of(dataset.train, calibration_frames, seed, pairs), shape)
    held_out = as_sensor(samples_of(dataset.test, verification_frames, seed + 1, pairs), shape)
    fd = fd_source.keras_model(saved_model_dir) if pairs else _rebuilt(saved_model_dir, as_trained)
    reference = _float_reference(ServingModel(saved_model_dir) if as_trained else fd, held_out)
    report = {"frames": len(reference), "psnr_bar_db": psnr_bar_db, "frame_shape": list(shape),
              "equalised": not pairs and fd is not None}
    with tempfile.TemporaryDirectory() as tmp:
        frame_dir = os.path.join(tmp, "frame")
        if pairs:
            fixed = fd_source.frame_pair(fd, shape, frame_dir)
        elif fd is None:
            fixed = fd_source.fixed_batch(saved_model_dir, shape, frame_dir)
        else:  # the same function, in the form int8 keeps best
            fixed = fd_source.at_size(equalise.equalised(fd, as_rgb(calibration[0])), shape, frame_dir)
        models = {}
        for kind in convert.KINDS:
            logging.info("converting: %s", kind)
            models[kind] = convert.convert(fixed, kind, calibration)
        int8_output = TFLiteFrameFilter.from_bytes(models["int8"]).run(held_out)
        post_training = fidelity(reference, int8_output)
        logging.info("int8, post-training: %.2f dB PSNR against the float fD (bar %.1f dB)",
                     post_training["psnr_db"], psnr_bar_db)
        report["int8_post_training"] = post_training
        report["int8_method"] = "post_training"
        if qat == "always" or (qat == "auto" and post_training["psnr_db"] < psnr_bar_db):
            logging.info("quantisation-aware fine-tuning: %d epochs on %d training frames", qat_epochs, qat_frames)
            try:
                if pairs or fd is None:
                    raise ExportError("quantisation-aware fine-tuning needs a per-frame fD that ppvr_tf "
                                      "rebuilds from its config")
                tuned, tuned_output, report["int8_quantisation_aware"] = _quantisation_aware(
                    fd, as_sensor(samples_of(dataset.train, qat_frames, seed + 2), (*shape[:2], 3))[0],
                    qat_epochs, qat_learning_rate, shape,
                    calibration, held_out, reference, os.path.join(tmp, "qat"))
            except ExportError as error:
                if qat == "always":
                    raise
                report["int8_quantisation_aware"] = {"error": str(error)}
                logging.warning("quantisation-aware fine-tuning: %s", error)
            else:
                logging.info("int8, quantisation-aware: %.2f dB PSNR", report["int8_quantisation_aware"]["psnr_db"])
                if report["int8_quantisation_aware"]["psnr_db"] > post_training["psnr_db"]:
                    models["int8"], int8_output, report["int8_method"] = tuned, tuned_output, "quantisation_aware"
    int8 = interpreter(models["int8"])
    io = io_details(int8)
    lite = {kind: int8_output if kind == "int8" else TFLiteFrameFilter.from_bytes(model).run(held_out)
            for kind, model in models.items()}
    for kind, output in lite.items():
        report[f"litert_{kind}_vs_float"] = fidelity(reference, output)
    report["unsupported_ops"] = micro.unsupported_ops(models["int8"])
    metadata = {"frame_shape": list(shape), "input_format": input_format, **io, "ops": model_info.op_names(int8),
                "macs_per_frame": model_info.macs_per_frame(int8), "model_bytes": len(models["int8"]),
                "float16_bytes": len(models["float16"]), "float32_bytes": len(models["float32"]),
                "int8_method": report["int8_method"], "source": os.path.abspath(saved_model_dir),
                "config": json.loads(cfg.to_json())}  # lets ppvr-evaluate rebuild the data
    if report["unsupported_ops"]:
        report["passed"] = False
        atomic_write_text(os.path.join(out_dir, "verification.json"), json.dumps(report, indent=2))
        raise ExportError(f"not exported: TFLite Micro lacks {', '.join(report['unsupported_ops'])} "
                          f"(report: {out_dir}/verification.json)")
    logging.info("TFLite Micro: the smallest arena, then the int8 model on the test frames")
    first = [x[0] for x in held_out]
    recorded = micro.recorded_arena_bytes(models["int8"], first, io)
    arena = micro.arena_bytes(models["int8"], first, io, recorded)
    report["recorded_arena_bytes"] = recorded
    on_device = micro.run(models["int8"], held_out, io, arena)
    report["micro_int8_vs_float"] = fidelity(reference, on_device)
    report["micro_vs_litert_int8_max_step"] = int(round(float(np.abs(on_device - lite["int8"]).max())
                                                        / io["output"]["scale"]))
    report["arena_bytes"] = arena
    report["passed"] = bool(min(report["litert_int8_vs_float"]["psnr_db"],
                                report["micro_int8_vs_float"]["psnr_db"]) >= psnr_bar_db)
    metadata["arena_bytes"] = arena
    _write(out_dir, models, metadata, report)
    return report


def summary(report: dict, metadata: dict) -> str:
    """What the export gave, in two lines (every number: verification.json, metadata.json)."""
    return (f"int8 ({report['int8_method'].replace('_', '-')}) against the float fD: "
            f"{report['litert_int8_vs_float']['psnr_db']:.2f} dB PSNR through LiteRT, "
            f"{report['micro_int8_vs_float']['psnr_db']:.2f} dB on TFLite Micro (bar {report['psnr_bar_db']:.1f} dB)\n"
            f"{'x'.join(map(str, metadata['frame_shape']))}: {metadata['macs_per_frame'] / 1e6:.2f} M MAC per frame, "
            f"{metadata['model_bytes']:,} B of int8 flatbuffer, TFLite Micro arena {metadata['arena_bytes']:,} B")


def _quantisation_aware(fd, frames: np.ndarray, epochs: int, learning_rate: float, shape: tuple,
                        calibration: list[np.ndarray], held_out: list[np.ndarray], reference: np.ndarray,
                        work_dir: str) -> tuple[bytes, np.ndarray, dict]:
    """int8 from tfmot fine-tuning of ``fd`` towards its own float frames, its output on
    ``held_out`` and its fidelity."""
    from tflite_export import qat  # tfmot and tf_keras load only when needed

    started = time.time()
    try:
        student = qat.fine_tune(fd, frames, epochs, learning_rate=learning_rate)
    except (qat.QATError, ValueError) as error:
        raise ExportError(f"quantisation-aware fine-tuning: {error}") from None
    model = convert.convert(qat.save_fixed_batch(student, shape, work_dir), "int8", calibration)
    output = TFLiteFrameFilter.from_bytes(model).run(held_out)
    return model, output, {**fidelity(reference, output), "frames": len(frames), "epochs": epochs,
                           "learning_rate": learning_rate, "seconds": round(time.time() - started, 1)}


def _write(out_dir: str, models: dict, metadata: dict, report: dict) -> None:
    with atomic_directory(out_dir) as tmp:
        for kind, model in models.items():
            with open(os.path.join(tmp, f"fd_{kind}.tflite"), "wb") as f:
                f.write(model)
        with open(os.path.join(tmp, f"{ARRAY_NAME}.cc"), "w") as f:
            f.write(c_array.source(ARRAY_NAME, models["int8"]))
        with open(os.path.join(tmp, f"{ARRAY_NAME}.h"), "w") as f:
            f.write(c_array.header(ARRAY_NAME, len(models["int8"])))
        for name, content in (("metadata.json", metadata), ("verification.json", report)):
            with open(os.path.join(tmp, name), "w") as f:
                json.dump(content, f, indent=2)
