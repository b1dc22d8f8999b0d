"""Edge export: the flatbuffers, the C array, LiteRT and TFLite Micro agreement, the
op check, evaluation through the interpreter, and the anonymizer on real footage."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, TINY
from fixtures import SHARED
from ppvr_tf.config import ExperimentConfig, ModelConfig, OptimConfig
from ppvr_tf.data import pipeline
from ppvr_tf.evaluation.two_fold import EvalConfig, degrade
from ppvr_tf.export import saved_model
from ppvr_tf.models import degradation
from tflite_export import c_array, export, model_info
from ppvr_tf.evaluation.litert_fd import TFLiteFrameFilter, interpreter

CONFIG = ExperimentConfig(data=TINY, model=ModelConfig(fd_width=0.125, fd_residual_blocks=1, budget_family="cnn",
                                                     target_width=0.0625, target_fc_units=256),
                          optim=OptimConfig(batch_size=8),
                          eval=EvalConfig(attackers=("cnn@0.25",), attacks=("scratch",), attacker_seeds=1,
                                          attacker_epochs=1, target_epochs=1))


def identity_trained_fd() -> keras.Model:
    """A small transformer fD fitted towards the identity, like fD's first pretraining."""
    keras.utils.set_random_seed(0)
    fd = degradation.transformer_net(0.125, 1)
    frames = pipeline.load_synthetic(TINY).train.head(32).reshape(-1, 16, 16, 3).astype(np.float32) / 255
    fd.compile(keras.optimizers.Adam(3e-3), "mse")
    fd.fit(frames, frames, epochs=15, batch_size=32, verbose=0)
    return fd


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    source = str(root / "saved_model" / "degradation")
    saved_model.export(identity_trained_fd(), source, (16, 16, 3), "degradation", CONFIG.to_json())
    out = str(root / "out")
    report = export.run(source, out, calibration_frames=64, verification_frames=32)
    return source, out, report


def test_every_format_is_written_and_described(exported):
    _, out, report = exported
    for name in ("fd_int8.tflite", "fd_float32.tflite", "fd_float16.tflite", "fd_int8.cc", "fd_int8.h",
                 "metadata.json", "verification.json"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    metadata = json.load(open(os.path.join(out, "metadata.json")))
    assert metadata["input"]["dtype"] == metadata["output"]["dtype"] == "int8"
    assert metadata["input"]["shape"] == [1, 16, 16, 3]
    assert metadata["model_bytes"] == os.path.getsize(os.path.join(out, "fd_int8.tflite"))
    assert {"CONV_2D", "TRANSPOSE_CONV"} <= set(metadata["ops"])
    assert metadata["arena_bytes"] == report["arena_bytes"] > 0
    # MACs: the 9x9 first conv alone is 16*16*(8*0.125... rounded) channels * 9*9*3
    first = interpreter(open(os.path.join(out, "fd_int8.tflite"), "rb").read())
    assert metadata["macs_per_frame"] == model_info.macs_per_frame(first) > 16 * 16 * 9 * 9 * 3


def test_int8_litert_and_micro_agree_with_float(exported):
    _, _, report = exported
    assert report["passed"] and report["unsupported_ops"] == []
    assert report["litert_float32_vs_float"]["max_abs_error"] < 1e-4
    assert report["litert_int8_vs_float"]["psnr_db"] >= export.PSNR_BAR_DB
    assert report["micro_int8_vs_float"]["psnr_db"] >= export.PSNR_BAR_DB


def test_c_array_holds_the_same_flatbuffer(exported):
    _, out, _ = exported
    with open(os.path.join(out, "fd_int8.tflite"), "rb") as f:
        model = f.read()
    with open(os.path.join(out, "fd_int8.cc")) as f:
        assert c_array.parse(f.read()) == model
    assert f"fd_int8_len;  // {len(model)} bytes" in open(os.path.join(out, "fd_int8.h")).read()


def test_an_op_tflite_micro_lacks_is_reported_not_exported(tmp_path):
    frames = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(frames)
    x = keras.layers.Lambda(lambda t: tf.nn.local_response_normalization(t))(x)
    fd = keras.Model(frames, keras.layers.Conv2D(3, 1, activation="sigmoid")(x))
    source = str(tmp_path / "fd")
    saved_model.export(fd, source, (16, 16, 3), "degradation", CONFIG.to_json())
    with pytest.raises(export.ExportError, match="LOCAL_RESPONSE_NORMALIZATION"):
        export.run(source, str(tmp_path / "out"), calibration_frames=16, verification_frames=8)
    report = json.load(open(tmp_path / "out" / "verification.json"))
    assert report["unsupported_ops"] == ["LOCAL_RESPONSE_NORMALIZATION"] and not report["passed"]
    assert not os.path.exists(tmp_path / "out" / "fd_int8.cc")


def test_tflite_and_saved_model_judge_the_same(exported):
    source, out, _ = exported
    clips = pipeline.load_synthetic(TINY).test.head(8)
    from_saved = degrade(saved_model.ServingModel(source), clips)
    from_float = degrade(TFLiteFrameFilter(os.path.join(out, "fd_float32.tflite")), clips)
    from_int8 = degrade(TFLiteFrameFilter(os.path.join(out, "fd_int8.tflite")), clips)
    assert np.abs(from_saved.astype(int) - from_float).max() <= 1
    assert np.mean(np.abs(from_saved.astype(int) - from_int8)) < 8  # a few int8 steps
    results = {}
    for name in ("fd_float32.tflite", source):
        path = name if os.path.isabs(name) else os.path.join(out, name)
        run = subprocess.run([sys.executable, "-m", "ppvr_tf.cli.evaluate", f"--saved_model={path}",
                              "--fresh_target", "--noevaluate_raw", "--attacks=scratch",  # compared below
                              f"--output={out}/{os.path.basename(path)}.json"],
                             capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        results[name] = json.load(open(f"{out}/{os.path.basename(path)}.json"))["degraded"]
    tflite, saved = results.values()
    assert tflite["target_accuracy"] == pytest.approx(saved["target_accuracy"], abs=1 / 16)
    assert tflite["budget_score"] == pytest.approx(saved["budget_score"], abs=1 / 16)


def test_anonymize_real_surveillance_footage(exported, tmp_path):
    _, out, _ = exported
    video = os.path.join(SHARED, "opencv_samples", "vtest.avi")
    if not os.path.exists(video):
        pytest.skip(f"real sample video not found at {video}")
    target = str(tmp_path / "anon.avi")
    run = subprocess.run([sys.executable, "-m", "tflite_export.anonymize", f"--model={out}/fd_int8.tflite",
                          f"--input={video}", f"--output={target}", "--max_frames=25"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout)
    assert summary["frames"] == 25 and summary["fd_frames_per_second"] > 0
    capture = cv2.VideoCapture(target)
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 25 and int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)) == 16
    assert os.path.getsize(str(tmp_path / "anon_preview.png")) > 0


def test_microcontroller_fd_meets_the_device_bounds_at_112_and_exports_for_a_gray_120x160_sensor(tmp_path):
    """<= 20 MMAC per 112x112 frame, <= 64 KB int8 flatbuffer, <= 256 KB TFLite Micro
    arena — as ppvr-export measures them (the converter's graph, TFLite Micro's allocator)
    — for an fD trained at 16x16 and exported at the camera's size."""
    cfg = dataclasses.replace(CONFIG, model=ModelConfig(degradation="mcu", fd_width=1.0, fd_residual_blocks=2))
    source = str(tmp_path / "fd")
    fd = degradation.build_degradation(cfg.model)
    saved_model.export(fd, source, (16, 16, 3), "degradation", cfg.to_json())
    report = export.run(source, str(tmp_path / "out"), calibration_frames=32, verification_frames=8,
                        input_size=(112, 112))
    metadata = json.load(open(tmp_path / "out" / "metadata.json"))
    assert metadata["frame_shape"] == [112, 112, 3] and metadata["input"]["shape"] == [1, 112, 112, 3]
    assert metadata["macs_per_frame"] <= 20_000_000
    assert metadata["model_bytes"] <= 64 * 1024
    assert metadata["arena_bytes"] <= 256 * 1024
    assert report["passed"] and report["micro_int8_vs_float"]["psnr_db"] >= export.PSNR_BAR_DB
    assert "TRANSPOSE_CONV" not in metadata["ops"] and "RESIZE_NEAREST_NEIGHBOR" in metadata["ops"]

    report = export.run(source, str(tmp_path / "gray"), calibration_frames=32, verification_frames=8,
                        input_size=(120, 160), input_format="gray")
    gray = json.load(open(tmp_path / "gray" / "metadata.json"))
    assert gray["input"]["shape"] == [1, 120, 160, 1] and gray["input_format"] == "gray"
    assert gray["macs_per_frame"] > metadata["macs_per_frame"]  # more pixels, whatever the channels
    assert report["passed"] and report["micro_int8_vs_float"]["psnr_db"] >= export.PSNR_BAR_DB
    with pytest.raises(ValueError, match="multiples of 4"):
        export.run(source, str(tmp_path / "odd"), input_size=(30, 30))
    assert not os.path.exists(tmp_path / "odd")


@pytest.mark.parametrize("kind", ["transformer", "mcu"])
def test_the_tf_keras_mirror_for_quantisation_aware_training_is_the_same_fd(kind):
    """tfmot needs tf_keras: the mirror must compute what the Keras 3 fD computes, with
    its weights, and tfmot must be able to wrap every one of its layers."""
    from tflite_export import qat

    keras.utils.set_random_seed(1)
    fd = degradation.build_degradation(ModelConfig(kind, fd_width=0.25, fd_residual_blocks=1, fd_grayscale=True))
    for variable in fd.trainable_variables:  # away from the initial ones/zeros
        variable.assign(variable + np.random.default_rng(2).normal(0, 0.05, variable.shape))
    for norm in (layer for layer in fd.layers if isinstance(layer, degradation.InstanceNorm)):
        norm.epsilon = list(np.linspace(1e-3, 1e-2, norm.scale.shape[0]))  # as the int8 export leaves it
    frames = np.random.default_rng(0).random((4, 16, 24, 3)).astype(np.float32)
    twin = qat.mirror(fd)
    np.testing.assert_allclose(twin(frames).numpy(), np.asarray(fd(frames)), atol=1e-5)
    fake_quantised = qat.quantised(twin)  # in training, each fake quantiser spans its batch
    assert np.abs(fake_quantised(frames, training=True).numpy() - np.asarray(fd(frames))).mean() < 0.05
    assert os.environ.get("TF_USE_LEGACY_KERAS") is None  # tfmot's switch stays inside qat.py


@pytest.mark.parametrize("level, shown", [("2", False), ("0", True)])
def test_the_converters_cpp_lines_reach_the_console_only_when_asked(level, shown, tmp_path, capfd, monkeypatch):
    """The int8 quantiser prints a C++ line per conversion; TF_CPP_MIN_LOG_LEVEL=0 brings it back."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", level)
    keras.utils.set_random_seed(0)
    fd = degradation.mcu_net(width=0.5, blocks_per_stage=1)
    capfd.readouterr()
    _int8(fd, np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32), tmp_path, "fd")
    printed = capfd.readouterr()
    assert ("fully_quantize" in printed.out + printed.err) == shown


def _int8(fd: keras.Model, frames: np.ndarray, tmp_path, name: str) -> bytes:
    """fD as the export converts it: fixed at the frames' size, int8 calibrated on them."""
    from tflite_export import convert, fd_source

    return convert.convert(fd_source.at_size(fd, frames.shape[1:], str(tmp_path / name)), "int8", [frames])


def _int8_psnr(fd: keras.Model, frames: np.ndarray, tmp_path, name: str) -> float:
    output = TFLiteFrameFilter.from_bytes(_int8(fd, frames, tmp_path, name)).run([frames])
    return export.psnr(np.asarray(fd(frames)), output)


def test_an_fd_with_output_levels_runs_on_tflite_micro_and_sends_only_its_levels(tmp_path):
    from tflite_export import micro

    keras.utils.set_random_seed(0)
    fd = degradation.build_degradation(ModelConfig("mcu", fd_width=0.5, fd_residual_blocks=1, fd_levels=4))
    frames = np.random.default_rng(0).random((8, 16, 16, 3)).astype(np.float32)
    model = _int8(fd, frames, tmp_path, "levels")
    assert micro.unsupported_ops(model) == []  # one 4-D comparison per threshold
    output = TFLiteFrameFilter.from_bytes(model).run([frames])
    distance_to_a_level = np.abs(output * 3 - np.round(output * 3)) / 3
    assert distance_to_a_level.max() < 0.01 and len(np.unique(np.round(output * 3))) > 1


def test_channel_equalisation_keeps_fd_and_what_int8_loses_at_the_instance_norm(tmp_path):
    """Channels of unequal spread and offset feeding the instance norm: rescaled to unit
    spread and zero mean, fD computes the same, and int8 rounds the norm's input far less."""
    from tflite_export import equalise

    keras.utils.set_random_seed(0)
    fd = degradation.mcu_net(width=0.5, blocks_per_stage=1)
    conv = next(layer for layer in fd.layers if isinstance(layer, keras.layers.Conv2D))
    kernel, bias = conv.get_weights()
    spread = np.geomspace(0.02, 2.0, kernel.shape[-1]).astype(np.float32)  # a 100x range, as training leaves it
    conv.set_weights([kernel * spread, bias + 3 * spread])
    frames = pipeline.load_synthetic(TINY).train.head(16).reshape(-1, 16, 16, 3).astype(np.float32) / 255
    before, reference = _int8_psnr(fd, frames, tmp_path, "before"), np.asarray(fd(frames))
    equalise.equalised(fd, frames)
    np.testing.assert_allclose(np.asarray(fd(frames)), reference, atol=1e-4)
    norm = next(layer for layer in fd.layers if isinstance(layer, degradation.InstanceNorm))
    fed = np.asarray(keras.Model(fd.inputs, conv.output)(frames))
    np.testing.assert_allclose(fed.std(axis=(1, 2)).mean(axis=0), 1.0, rtol=1e-3)
    np.testing.assert_allclose(fed.mean(axis=(0, 1, 2)), 0.0, atol=1e-3)
    assert len(norm.epsilon) == kernel.shape[-1] and max(norm.epsilon) > min(norm.epsilon)
    assert _int8_psnr(fd, frames, tmp_path, "after") > before + 3.0


def test_the_int8_trace_follows_the_error_op_by_op_to_the_output(tmp_path):
    """One row per op output in execution order; the last is fD's output, as judged whole."""
    from tflite_export import convert, fd_source, int8_trace

    keras.utils.set_random_seed(0)
    fd = degradation.mcu_net(width=0.5, blocks_per_stage=1)
    frames = pipeline.load_synthetic(TINY).train.head(8).reshape(-1, 16, 16, 3).astype(np.float32) / 255
    fixed = fd_source.at_size(fd, frames.shape[1:], str(tmp_path / "fd"))
    float32, int8 = convert.convert(fixed, "float32"), convert.convert(fixed, "int8", [frames])
    rows = int8_trace.trace(float32, int8, frames)
    assert rows[0]["op"] == "CONV_2D" and len({r["tensor"] for r in rows}) == len(rows)
    assert {"MEAN", "RSQRT", "RESIZE_NEAREST_NEIGHBOR", "LOGISTIC"} <= {r["op"] for r in rows}
    reference = TFLiteFrameFilter.from_bytes(float32).run([frames])
    error = TFLiteFrameFilter.from_bytes(int8).run([frames]) - reference
    output_snr = 10 * np.log10(np.mean(reference ** 2) / np.mean(error ** 2))
    assert rows[-1]["op"] == "LOGISTIC" and abs(rows[-1]["snr_db"] - output_snr) < 0.1


def test_quantisation_aware_fine_tuning_runs_when_post_training_int8_misses_the_bar(exported, tmp_path, shown_lines):
    """A bar post-training int8 cannot reach sends the export through tfmot: both int8
    models are reported, the better one is written, and TFLite Micro runs it. The console
    shows each phase and each fine-tuning epoch with the time left."""
    source, _, first = exported
    bar = first["int8_post_training"]["psnr_db"] + 1.0
    report = export.run(source, str(tmp_path / "out"), calibration_frames=64, verification_frames=32,
                        qat_frames=64, qat_epochs=2, psnr_bar_db=bar)
    lines = shown_lines()
    assert [line for line in lines if line.startswith("converting: ")] == ["converting: float32",
                                                                          "converting: float16", "converting: int8"]
    epochs = [line for line in lines if line.startswith("quantisation-aware fine-tuning: epoch ")]
    assert [line.split()[3] for line in epochs] == ["1/2", "2/2"] and "left]" in epochs[-1]
    assert any(line.startswith("TFLite Micro: ") for line in lines)
    post, aware = report["int8_post_training"], report["int8_quantisation_aware"]
    assert post == first["int8_post_training"] and aware["epochs"] == 2 and aware["frames"] == 64
    best = "quantisation_aware" if aware["psnr_db"] > post["psnr_db"] else "post_training"
    assert report["int8_method"] == best
    assert report["litert_int8_vs_float"]["psnr_db"] == max(post["psnr_db"], aware["psnr_db"])
    assert report["micro_int8_vs_float"]["psnr_db"] >= report["litert_int8_vs_float"]["psnr_db"] - 1.0
    metadata = json.load(open(tmp_path / "out" / "metadata.json"))
    assert metadata["int8_method"] == best and metadata["input"]["shape"] == [1, 16, 16, 3]
    assert report["passed"] == (report["micro_int8_vs_float"]["psnr_db"] >= bar
                                and report["litert_int8_vs_float"]["psnr_db"] >= bar)
    shown = export.summary(report, metadata)
    assert f"{report['litert_int8_vs_float']['psnr_db']:.2f} dB PSNR through LiteRT" in shown
    assert (f"{metadata['model_bytes']:,} B of int8 flatbuffer" in shown
            and shown.startswith(f"int8 ({best.replace('_', '-')})"))


def test_the_mcu_fd_with_its_input_skip_runs_on_tflite_micro(tmp_path):
    """clip(x + Δ(x), 0, 1) becomes an ADD whose int8 output range is the clip: TFLite
    Micro has every op, and int8 keeps the float fD."""
    from tflite_export import micro

    keras.utils.set_random_seed(0)
    fd = degradation.build_degradation(ModelConfig("mcu", fd_width=0.5, fd_residual_blocks=1, fd_skip=True))
    for variable in fd.trainable_variables:  # Δ away from its zero start
        variable.assign(variable + np.random.default_rng(2).normal(0, 0.05, variable.shape))
    frames = np.random.default_rng(0).random((8, 16, 16, 3)).astype(np.float32)
    model = _int8(fd, frames, tmp_path, "skip")
    assert micro.unsupported_ops(model) == [] and "ADD" in model_info.op_names(interpreter(model))
    output = TFLiteFrameFilter.from_bytes(model).run([frames])
    float_output = np.asarray(fd(frames))
    assert np.abs(float_output - frames).mean() > 0.01  # Δ does something
    assert export.psnr(float_output, output) >= export.PSNR_BAR_DB
