"""Target models fT: action recognition on (degraded) clips, by name (``TARGETS``)."""
from __future__ import annotations

import keras
from keras import layers, regularizers

from ppvr_tf.models.conv3d import Conv3D
from ppvr_tf.models.fast_conv import PixelConv3D, enabled as fast_conv_enabled
from ppvr_tf.registry import Registry

TARGETS: Registry = Registry("target model")  # name -> (ModelConfig, clip shape, classes) -> fT


def c3d(input_shape: tuple[int, int, int, int], num_classes: int, width: float = 1.0,
        fc_units: int = 4096, dropout: float = 0.5, weight_decay: float = 5e-4,
        batch_norm: bool = False, fast_conv: str = "auto", name: str = "ft_c3d") -> keras.Model:
    """C3D (Tran et al.) with a width multiplier, for any clip size.

    3x3x3 convs 64 | 128 | 256x2 | 512x2 | 512x2, pool (1,2,2) then 2x2x2, two fully
    connected layers, L2 weight decay. Pools use 'same' padding, so small clips
    shrink to 1 instead of failing: any T, H, W >= 1 works. ``batch_norm`` adds
    batch normalisation after every conv (not in the original C3D), which lets
    quick runs train from scratch at a high learning rate.
    """
    reg = regularizers.L2(weight_decay) if weight_decay else None
    first_conv = PixelConv3D if fast_conv_enabled(fast_conv) else Conv3D  # a faster input gradient

    def conv(x, filters: int, first: bool = False):
        conv3d = first_conv if first else Conv3D
        x = conv3d(max(4, int(round(filters * width))), 3, padding="same",
                   use_bias=not batch_norm, kernel_regularizer=reg)(x)
        if batch_norm:
            x = layers.BatchNormalization(momentum=0.9)(x)
        return layers.ReLU()(x)

    clips = keras.Input(input_shape, name="clips")
    x = conv(clips, 64, first=True)
    x = layers.MaxPool3D((1, 2, 2), padding="same")(x)
    x = conv(x, 128)
    x = layers.MaxPool3D(2, padding="same")(x)
    for filters in (256, 512, 512):
        x = conv(conv(x, filters), filters)
        x = layers.MaxPool3D(2, padding="same")(x)
    x = layers.Flatten()(x)
    units = max(16, int(round(fc_units * width)))
    for _ in range(2):
        x = layers.Dense(units, activation="relu", kernel_regularizer=reg)(x)
        x = layers.Dropout(dropout)(x)
    logits = layers.Dense(num_classes, kernel_regularizer=reg, name="logits", dtype="float32")(x)
    return keras.Model(clips, logits, name=name)


@TARGETS.register("c3d")
def _c3d_of(m, clip_shape: tuple[int, int, int, int], num_classes: int) -> keras.Model:
    """The paper's fT, shaped by ``m``'s target_* fields."""
    return c3d(tuple(clip_shape), num_classes, width=m.target_width, fc_units=m.target_fc_units,
               dropout=m.target_dropout, weight_decay=m.target_weight_decay, batch_norm=m.target_batch_norm,
               fast_conv=m.fast_conv)
