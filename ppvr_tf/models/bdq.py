"""BDQ (Kumawat & Nagahara, CVPR 2022): Blur -> Difference -> Quantisation, the strongest
published peer, as an fD that our adversarial methods train (REFERENCE §4).

B is a fixed 5x5 Gaussian (sigma 3); D the difference of consecutive frames, so only
motion survives; Q a staircase of ``levels`` sigmoids whose thresholds are the only
weights: training moves them to keep what the action needs and merge what identifies.
It works on whole clips — each frame needs the one before — so it takes (N, T, H, W, 3).
On a camera it runs frame by frame on (current, previous): ``on_device`` builds that model.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from ppvr_tf.models.baselines import FrameDifference, GaussianBlur


class LearnedQuantiser(layers.Layer):
    """q(d) = mean_i sigmoid(hardness * (d - b_i)): a soft staircase in [0, 1] with
    learnable thresholds b_i; 0.5 at no motion when the thresholds are symmetric."""

    def __init__(self, levels: int = 15, hardness: float = 50.0, **kwargs):
        super().__init__(**kwargs)
        self.levels, self.hardness = levels, hardness

    def build(self, input_shape):
        # evenly over the differences that occur: mostly small, at most +-1
        start = np.linspace(-0.5, 0.5, self.levels).astype(np.float32)
        self.thresholds = self.add_weight(shape=(self.levels,), name="thresholds",
                                          initializer=keras.initializers.Constant(start))

    def call(self, d):
        steps = tf.sigmoid(self.hardness * (d[..., None] - self.thresholds))
        return tf.reduce_mean(steps, axis=-1)

    def get_config(self):
        return {**super().get_config(), "levels": self.levels, "hardness": self.hardness}


def bdq(levels: int = 15, sigma: float = 3.0, radius: int = 2, name: str = "fd_bdq") -> keras.Model:
    """Always float32, whatever ``--precision`` says: its few element-wise ops gain nothing
    from bf16, and bf16 rounds a frame value near 1 by up to 0.002, so a frame difference
    by up to 0.004: 0.2 at the quantiser's hardness of 50, a twentieth of a sigmoid's rise."""
    clips = keras.Input((None, None, None, 3), name="clips")
    x = FrameDifference(dtype="float32")(GaussianBlur(sigma, radius, dtype="float32")(clips))
    return keras.Model(clips, LearnedQuantiser(levels, dtype="float32")(x), name=name)


# Bytes of one band's staircase tensor (int8: one byte per pixel, colour and level): the
# arena holds one band's at a time, not the whole frame's (565 KB at 112x112x3x15).
BAND_BYTES = 32 * 1024
CONCAT_INPUTS = 10  # the most TFLite Micro's CONCATENATION takes


def on_device(fd: keras.Model, frame_shape: tuple[int, int, int]) -> keras.Model:
    """The camera's BDQ at a fixed frame size: (current frame, previous frame) -> frame,
    with ``fd``'s thresholds.

    The staircase is written as ops an int8 microcontroller has: each pixel value becomes
    one channel, a 1x1 conv maps it to ``levels`` channels of hardness * (d - b_i),
    LOGISTIC, and a 1x1 conv with weights 1/levels takes the mean. It runs on bands of
    rows, one after the other, so its ``levels``-wide tensor is one band's, not the frame's."""
    blur = next(layer for layer in fd.layers if isinstance(layer, GaussianBlur))
    quantiser = next(layer for layer in fd.layers if isinstance(layer, LearnedQuantiser))
    height, width, colours = frame_shape
    current = keras.Input(frame_shape, name="frame")
    previous = keras.Input(frame_shape, name="previous_frame")
    same_blur = GaussianBlur(blur.sigma, blur.radius)
    d = layers.Subtract()([same_blur(current), same_blur(previous)])
    staircase = layers.Conv2D(quantiser.levels, 1, activation="sigmoid", name="staircase")
    mean = layers.Conv2D(1, 1, use_bias=False, name="mean")
    rows = max(1, BAND_BYTES // (width * colours * quantiser.levels))
    bands = []
    for top in range(0, height, rows):
        band = min(rows, height - top)
        x = layers.Cropping2D(((top, height - top - band), (0, 0)))(d) if band < height else d
        pixels = layers.Reshape((band * width * colours, 1, 1))(x)  # one value per pixel and colour
        bands.append(layers.Reshape((band, width, colours))(mean(staircase(pixels))))
    model = keras.Model([current, previous], _stack_rows(bands), name=f"{fd.name}_on_device")
    thresholds = np.asarray(quantiser.thresholds, np.float32)
    staircase.set_weights([np.full((1, 1, 1, quantiser.levels), quantiser.hardness, np.float32),
                           -quantiser.hardness * thresholds])
    mean.set_weights([np.full((1, 1, quantiser.levels, 1), 1.0 / quantiser.levels, np.float32)])
    return model


def _stack_rows(bands: list) -> keras.KerasTensor:
    """Concatenates row bands, at most ``CONCAT_INPUTS`` per op (a tree for more)."""
    while len(bands) > 1:
        groups = [bands[i:i + CONCAT_INPUTS] for i in range(0, len(bands), CONCAT_INPUTS)]
        bands = [layers.Concatenate(axis=1)(group) if len(group) > 1 else group[0] for group in groups]
    return bands[0]
