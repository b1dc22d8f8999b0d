"""Model builders: shapes, the zoo, per-pixel standardisation, training-time arithmetic, bf16."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from ppvr_tf.config import ModelConfig
from ppvr_tf.models import budget, degradation, fast_conv, target
from ppvr_tf.training import precision


@pytest.mark.parametrize("name", ["cnn@0.5", "cnn_flat@1.0", "mobilenet_v1@0.25", "mobilenet_v2@0.35",
                                  "resnet50_v1", "resnet50_v2"])
def test_zoo_models_average_frame_logits_over_time(name):
    model = budget.build_budget_model(name, (2, 32, 32, 3), 5)
    clips = np.random.default_rng(0).random((3, 2, 32, 32, 3)).astype(np.float32)
    logits = np.asarray(model(clips))
    assert logits.shape == (3, 5)
    frames = np.asarray(model.frame_model(model.standardise(clips.reshape(6, 32, 32, 3))))
    np.testing.assert_allclose(logits, frames.reshape(3, 2, 5).mean(axis=1), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["cnn@0.5", "cnn_flat@1.0", "mobilenet_v1@0.25", "mobilenet_v2@0.35",
                                  "resnet50_v1", "resnet50_v2"])
def test_zoo_models_train_and_predict_under_mixed_bfloat16(name):
    """Budget models and the evaluation's attackers, built as a bf16 run builds them."""
    with precision.policy("mixed_bfloat16"):
        model = budget.build_budget_model(name, (2, 32, 32, 3), 5)
    clips = np.random.default_rng(0).random((3, 2, 32, 32, 3)).astype(np.float32)
    for training in (True, False):
        logits = model(clips, training=training)
        assert logits.dtype == tf.float32 and np.all(np.isfinite(np.asarray(logits)))
    assert "bfloat16" in {layer.compute_dtype for layer in model.frame_model.layers}


def test_unknown_or_too_small_attackers_are_refused():
    with pytest.raises(ValueError, match="unknown budget model"):
        budget.parse_name("vgg16")
    with pytest.raises(ValueError, match="at least 32x32"):
        budget.check_frame_size("mobilenet_v2@0.35", 16, 16)


def test_pixel_standardisation_removes_a_fixed_overlay():
    layer = budget.PixelStandardisation()
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(64, 8, 8, 3)).astype(np.float32)
    overlay = 50.0 * rng.normal(size=(1, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(layer(signal + overlay, training=True)),
                               np.asarray(layer(signal, training=True)), atol=1e-3)


@pytest.mark.parametrize("kind", ["transformer", "mcu"])
def test_learned_fds_keep_frame_shape_and_range(kind):
    fd = degradation.build_degradation(ModelConfig(kind, fd_width=0.125, fd_residual_blocks=1, fd_grayscale=True))
    out = np.asarray(fd(np.random.default_rng(0).random((2, 24, 40, 3)).astype(np.float32)))
    assert out.shape == (2, 24, 40, 3) and out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(out[..., 0], out[..., 2])  # grayscale output
    assert fd.count_params() < degradation.build_degradation(ModelConfig(kind)).count_params()


def test_the_mcu_fd_is_a_hundredth_of_the_papers():
    mcu, paper = degradation.mcu_net(1.0, 2), degradation.transformer_net(1.0, 5)
    assert mcu.count_params() * 100 < paper.count_params()


@pytest.mark.parametrize("bottleneck", [False, True])
def test_the_mcu_bottleneck_makes_the_output_from_quarter_resolution_features_alone(bottleneck):
    """With ``bottleneck`` fD's output is a function of its 1/4-resolution features (the
    network splits there into two models that compose to fD); without, the 1/2-stage skip
    joins in and the output cannot be computed from them."""
    fd = degradation.mcu_net(0.5, 1, bottleneck=bottleneck)
    first_up = next(layer for layer in fd.layers if isinstance(layer, degradation.NearestUpsample2x))
    quarter = first_up.input._keras_history.operation.input  # the features the first x2 step takes
    if not bottleneck:
        with pytest.raises(ValueError, match="not connected"):
            keras.Model(quarter, fd.output)
        return
    frames = np.random.default_rng(0).random((2, 16, 24, 3)).astype(np.float32)
    head, tail = keras.Model(fd.inputs, quarter), keras.Model(quarter, fd.output)
    assert head(frames).shape[1:3] == (4, 6)
    np.testing.assert_allclose(np.asarray(tail(head(frames))), np.asarray(fd(frames)), atol=1e-6)


def test_c3d_takes_any_clip_size_and_scales_with_width():
    small = target.c3d((3, 20, 28, 3), 7, width=0.0625, fc_units=256)
    assert small(np.zeros((2, 3, 20, 28, 3), np.float32)).shape == (2, 7)
    assert target.c3d((16, 112, 112, 3), 101, width=1.0).count_params() > 50e6  # the real C3D


def test_training_instance_norm_is_as_accurate_as_the_exported_form():
    """Values and gradients of both float32 forms against a float64 reference, also for a
    channel whose mean (300) dwarfs its spread (0.1): there E[x^2] - E[x]^2 taken without
    the shift would lose every digit of the variance."""
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, (3, 12, 10, 4))
    x[..., 3] = 300.0 + 0.1 * x[..., 3]
    weights = rng.normal(size=x.shape)

    def run(norm, dtype):
        xs, scale, offset = (tf.constant(v, dtype) for v in (x, [1.0, 2.0, 0.5, 1.5], [0.0, 0.1, -0.2, 0.3]))
        with tf.GradientTape() as tape:
            tape.watch([xs, scale, offset])
            y = norm(xs, scale, offset, 1e-3)
            loss = tf.reduce_sum(y * tf.constant(weights, dtype))
        return [t.numpy().astype(np.float64) for t in (y, *tape.gradient(loss, [xs, scale, offset]))]

    reference = run(degradation.instance_norm, tf.float64)
    exported = run(degradation.instance_norm, tf.float32)
    trained = run(degradation.instance_norm_for_training, tf.float32)
    for ref, e, t in zip(reference, exported, trained):
        scale = np.abs(ref).max()
        assert np.abs(t - ref).max() <= 2 * np.abs(e - ref).max() + 1e-5 * scale


@pytest.mark.parametrize("kind", ["transformer", "mcu"])
def test_the_skip_fd_starts_as_the_identity_learns_and_clips_to_the_unit_range(kind):
    keras.utils.set_random_seed(0)  # how fast Δ learns depends on its initial weights
    fd = degradation.build_degradation(ModelConfig(kind, fd_width=0.125, fd_residual_blocks=1, fd_skip=True))
    frames = np.random.default_rng(2).random((4, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(fd(frames, training=True), frames, atol=1e-6)
    target = np.clip(frames * 1.5 - 0.2, 0.0, 1.0)
    optimizer = keras.optimizers.Adam(1e-2)
    losses = []
    for _ in range(80):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(fd(frames, training=True) - target))
        optimizer.apply(tape.gradient(loss, fd.trainable_variables), fd.trainable_variables)
        losses.append(float(loss))
    assert losses[-1] < 0.9 * losses[0]  # Δ learns (its zero start passes gradients)
    out = np.asarray(fd(frames * 4.0 - 2.0))
    assert out.min() >= 0.0 and out.max() <= 1.0
    unskipped = degradation.build_degradation(ModelConfig(kind, fd_width=0.125, fd_residual_blocks=1))
    assert np.abs(np.asarray(unskipped(frames)) - frames).mean() > 0.05  # without the skip fD starts elsewhere


@pytest.mark.parametrize("kind", ["transformer", "mcu"])
def test_fd_levels_send_only_that_many_values_and_train_fd_and_thresholds(kind):
    keras.utils.set_random_seed(0)
    fd = degradation.build_degradation(ModelConfig(degradation=kind, fd_width=0.125, fd_residual_blocks=1,
                                                   fd_skip=kind == "transformer", fd_levels=4))
    frames = np.random.default_rng(3).random((4, 16, 16, 3)).astype(np.float32)
    for training in (False, True):  # fT and fB learn from what the camera sends
        values = np.unique(np.round(np.asarray(fd(frames, training=training)) * 3, 4))
        assert set(values) <= {0.0, 1.0, 2.0, 3.0} and len(values) > 1
    if kind == "transformer":  # it starts as the identity: the staircase of the frames themselves
        np.testing.assert_allclose(fd(frames), np.round(frames * 3) / 3, atol=1e-6)
    target = 1.0 - frames
    optimizer = keras.optimizers.Adam(1e-2)
    levels = fd.get_layer("output_levels")
    start, losses = np.asarray(levels.thresholds), []
    for _ in range(40):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(fd(frames, training=True) - target))
        optimizer.apply(tape.gradient(loss, fd.trainable_variables), fd.trainable_variables)
        losses.append(float(loss))
    assert losses[-1] < 0.9 * losses[0]  # the straight-through gradient reaches fD's weights
    assert np.abs(np.asarray(levels.thresholds) - start).max() > 1e-3  # and the thresholds


def test_fd_uses_the_training_form_only_when_training():
    fd = degradation.transformer_net(0.125, 1)
    frames = np.random.default_rng(1).random((2, 16, 16, 3)).astype(np.float32)
    assert any(isinstance(layer, degradation.InstanceNorm) for layer in fd.layers)
    np.testing.assert_allclose(fd(frames, training=True), fd(frames), atol=1e-5)
    ops = {op.type for op in tf.function(lambda f: fd(f, training=True)).get_concrete_function(
        tf.TensorSpec((None, 16, 16, 3))).graph.get_operations()}
    assert "SquaredDifference" not in ops  # not tf.nn.moments' two passes
    ops = {op.type for op in tf.function(lambda f: fd(f)).get_concrete_function(
        tf.TensorSpec((None, 16, 16, 3))).graph.get_operations()}
    assert "SquaredDifference" in ops


@pytest.mark.parametrize("layer, shape, convs", [
    (lambda: fast_conv.RowwiseConv2D(3, 9, padding="same", bias_initializer="random_normal"),
     (2, 13, 11, 5), {"Conv2D": [[1, 9, 5, 27], [9, 1, 27, 3]]}),
    (lambda: fast_conv.PixelConv3D(6, 3, padding="same", bias_initializer="random_normal"),
     (2, 5, 7, 6, 3), {"Conv3D": [[3, 3, 3, 3, 6], [1, 1, 3, 6, 27], [3, 3, 1, 27, 3]]}),
])
def test_few_channel_convs_train_as_the_plain_convs_they_export(layer, shape, convs):
    """fD's conv into RGB and fT's input gradient go by kernel rows: same values and
    gradients as the plain conv, through the row convolutions and not the slow ops."""
    layer = layer()
    x = tf.constant(np.random.default_rng(2).normal(size=shape), tf.float32)

    def run(training):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * tf.sin(y))
        return [y, *tape.gradient(loss, [x, layer.kernel, layer.bias])]

    for trained, plain in zip(run(True), run(False)):
        np.testing.assert_allclose(trained, plain, rtol=1e-4, atol=1e-4)

    @tf.function(input_signature=[tf.TensorSpec(shape)])
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True))
        return tape.gradient(loss, x)
    found: dict[str, list] = {}
    for op in gradient.get_concrete_function().graph.get_operations():
        if op.type in convs:
            found.setdefault(op.type, []).append(op.inputs[1].shape.as_list())
    assert {k: sorted(v) for k, v in found.items()} == {k: sorted(v) for k, v in convs.items()}


@pytest.mark.parametrize("mode, fast", [("on", True), ("off", False)])
def test_fast_conv_mode_picks_the_training_layers_and_keeps_the_weights_interchangeable(mode, fast):
    kinds = lambda model: {type(layer) for layer in model.layers}  # noqa: E731
    fd = degradation.build_degradation(ModelConfig(fd_width=0.125, fd_residual_blocks=1, fast_conv=mode))
    ft = target.c3d((2, 8, 8, 3), 3, width=0.0625, fc_units=64, fast_conv=mode)
    assert (fast_conv.RowwiseConv2D in kinds(fd), fast_conv.PixelConv3D in kinds(ft)) == (fast, fast)
    plain = degradation.build_degradation(ModelConfig(fd_width=0.125, fd_residual_blocks=1, fast_conv="off"))
    plain.set_weights(fd.get_weights())
    frames = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(fd(frames, training=True), plain(frames, training=True), atol=1e-4)
    assert fast_conv.enabled("auto") == (not tf.config.list_physical_devices("GPU"))
