"""BDQ: a clip-level fD whose only weights are its quantiser's thresholds."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY
from ppvr_tf.config import ExperimentConfig, ModelConfig
from ppvr_tf.data import pipeline
from ppvr_tf.evaluation.two_fold import degrade
from ppvr_tf.export import saved_model
from ppvr_tf.models import bdq, degradation
from ppvr_tf.training import precision
from tflite_export import convert, export, micro
from ppvr_tf.evaluation.litert_fd import TFLiteFrameFilter, interpreter, io_details


def _walking_square() -> np.ndarray:
    clips = np.full((2, 4, 16, 16, 3), 0.5, np.float32)
    for t in range(4):
        clips[:, t, 4:10, 2 + 2 * t:8 + 2 * t] = [0.9, 0.2, 0.1]
    return clips


def test_only_motion_passes_and_the_output_is_a_frame():
    fd = bdq.bdq(levels=15)
    clips = _walking_square()
    out = np.asarray(degradation.degrade_clips(fd, clips))
    assert out.shape == clips.shape and out.min() >= 0.0 and out.max() <= 1.0
    still = np.asarray(fd(np.repeat(clips[:, :1], 4, axis=1)))
    np.testing.assert_allclose(still, still[0, 0, 0, 0, 0], atol=1e-6)  # nothing moves: one grey
    assert np.ptp(out[:, 1:]) > 0.2  # the moving square's edges stand out of the grey


def test_bdq_computes_in_float32_under_mixed_precision():
    """A bf16 run (--precision=mixed_bfloat16 or auto) builds fD under the bf16 policy;
    BDQ's quantiser needs float32 there too."""
    with precision.policy("mixed_bfloat16"):
        mixed = bdq.bdq()
    assert {layer.compute_dtype for layer in mixed.layers[1:]} == {"float32"}
    clips = _walking_square()
    np.testing.assert_array_equal(mixed(clips), bdq.bdq()(clips))


def test_the_quantiser_thresholds_receive_gradients():
    fd = bdq.bdq(levels=15)
    clips = tf.constant(_walking_square())
    thresholds = fd.trainable_variables
    assert [tuple(v.shape) for v in thresholds] == [(15,)]  # blur and difference are fixed
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(fd(clips) - 0.3))
    grad = tape.gradient(loss, thresholds)[0].numpy()
    assert np.isfinite(grad).all() and (np.abs(grad) > 0).sum() >= 3


# one band; bands of 5, 5, 5 and 1 rows; 16 bands of one row, concatenated in a tree
@pytest.mark.parametrize("band_rows", [16, 5, 1])
def test_the_camera_model_takes_frame_pairs_and_matches_the_clip_model(band_rows, monkeypatch):
    monkeypatch.setattr(bdq, "BAND_BYTES", band_rows * 16 * 3 * 15)
    fd = bdq.bdq(levels=15)
    thresholds = fd.trainable_variables[0]
    thresholds.assign(thresholds + np.random.default_rng(0).normal(0, 0.02, 15).astype(np.float32))
    clips = _walking_square()
    device = bdq.on_device(fd, (16, 16, 3))
    for t in range(1, 4):
        pair = device([clips[:, t], clips[:, t - 1]])
        np.testing.assert_allclose(np.asarray(pair), np.asarray(fd(clips))[:, t], atol=1e-5)
    kinds = [type(layer).__name__ for layer in device.layers]
    assert set(kinds) <= {"InputLayer", "GaussianBlur", "Subtract", "Reshape", "Conv2D", "Cropping2D",
                          "Concatenate"}
    assert kinds.count("Cropping2D") == {16: 0, 5: 4, 1: 16}[band_rows]


def test_the_camera_model_fits_a_microcontroller_at_112x112(tmp_path):
    """The staircase runs band by band, so TFLite Micro's arena holds one band's 15-level
    tensor, not the frame's (565 KB): under the 256 KB of a microcontroller's SRAM."""
    shape = (112, 112, 3)
    device = bdq.on_device(bdq.bdq(), shape)
    device.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False,
                  input_signature=[[tf.TensorSpec((1, *shape), tf.float32, name=n) for n in ("frame", "previous_frame")]])
    frames = np.random.default_rng(0).uniform(size=(2, 8, *shape)).astype(np.float32)
    model = convert.convert(str(tmp_path / "sm"), "int8", [frames[0], frames[1]])
    interp = interpreter(model)
    io = io_details(interp)
    sample = [frames[0, 0], frames[1, 0]]  # one (frame, previous frame) pair
    arena = micro.arena_bytes(model, sample, io, micro.recorded_arena_bytes(model, sample, io))
    assert arena < 256 * 1024


def test_ppvr_export_exports_bdq_at_the_camera_size(tmp_path):
    cfg = ExperimentConfig(data=TINY, model=ModelConfig(degradation="bdq"))
    saved_model.export(bdq.bdq(), str(tmp_path / "fd"), (4, 16, 16, 3), "degradation", cfg.to_json())
    report = export.run(str(tmp_path / "fd"), str(tmp_path / "out"), calibration_frames=16,
                        verification_frames=8, qat="never", input_size=(24, 32))
    metadata = json.load(open(tmp_path / "out" / "metadata.json"))
    assert [i["shape"] for i in metadata["inputs"]] == [[1, 24, 32, 3]] * 2 and not report["equalised"]


def test_ppvr_export_exports_bdq_as_a_frame_pair_model(tmp_path):
    """BDQ runs on (frame, previous frame) on the camera: int8, both inputs, TFLite Micro."""
    cfg = ExperimentConfig(data=TINY, model=ModelConfig(degradation="bdq"))
    fd = bdq.bdq()
    fd.trainable_variables[0].assign(np.linspace(-0.3, 0.3, 15).astype(np.float32))
    saved_model.export(fd, str(tmp_path / "fd"), (4, 16, 16, 3), "degradation", cfg.to_json())
    report = export.run(str(tmp_path / "fd"), str(tmp_path / "out"), calibration_frames=48,
                        verification_frames=24, qat="never")
    metadata = json.load(open(tmp_path / "out" / "metadata.json"))
    assert [i["shape"] for i in metadata["inputs"]] == [[1, 16, 16, 3]] * 2
    assert metadata["frame_shape"] == [16, 16, 3] and report["unsupported_ops"] == []
    assert report["passed"] and report["litert_int8_vs_float"]["psnr_db"] >= export.PSNR_BAR_DB
    # the first input is the current frame: swapping them flips the sign of the motion
    model = open(tmp_path / "out" / "fd_int8.tflite", "rb").read()
    current, previous = export.samples_of(pipeline.load_synthetic(TINY).test, 24, 1, pairs=True)
    lite = TFLiteFrameFilter.from_bytes(model)
    forward, backward = lite.run([current, previous]), lite.run([previous, current])
    reference = np.asarray(fd(np.stack([previous, current], axis=1)))[:, 1]
    assert np.abs(forward - reference).mean() < np.abs(backward - reference).mean()
    clips = pipeline.load_synthetic(TINY).test.head(4)
    judged = degrade(TFLiteFrameFilter.from_bytes(model), clips)  # what ppvr-evaluate runs
    float_judged = degrade(saved_model.ServingModel(str(tmp_path / "fd")), clips)
    assert judged.shape == float_judged.shape == clips.shape
    assert np.abs(judged.astype(int) - float_judged).mean() < 2  # int8 steps of 8-bit frames
