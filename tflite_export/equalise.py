"""Channel equalisation before instance norm: the same fD, in a form int8 keeps.

int8 rounds each tensor on one grid for all its channels. The convolution that feeds an
instance norm has channels of different spread and offset, and the norm then scales each
channel to unit spread, so a channel that used a few int8 steps comes out as mostly
rounding noise, and that noise flows through the rest of fD (measured on a trained `mcu`
fD at 112x112: 16 dB SNR right after the norm, 21.6 dB PSNR at the output; docs/edge_export.md).

Instance norm does not change when a channel is multiplied by k > 0 and shifted, provided
its epsilon is multiplied by k^2. So each channel of the feeding convolution is rescaled to
unit typical spread and zero typical mean on the calibration frames, and the norm's epsilon
becomes one value per channel: fD's function is unchanged in real arithmetic (in float32,
to rounding), and every channel reaches the norm on the same int8 grid.
"""
from __future__ import annotations

import keras
import numpy as np

from ppvr_tf.models.degradation import InstanceNorm


def equalised(fd: keras.Model, frames: np.ndarray, batch_size: int = 64) -> keras.Model:
    """``fd`` (changed in place and returned) with every Conv2D that feeds an InstanceNorm
    rescaled and shifted per channel as measured on ``frames`` (N, H, W, 3) in [0, 1]."""
    for norm in (layer for layer in fd.layers if isinstance(layer, InstanceNorm)):
        conv = norm.input._keras_history.operation
        if not isinstance(conv, keras.layers.Conv2D) or not conv.use_bias:
            continue  # nothing to fold the rescaling into
        feed = keras.Model(fd.inputs, conv.output)
        y = np.asarray(feed.predict(frames, batch_size=batch_size, verbose=0), np.float64)
        spread = y.std(axis=(1, 2)).mean(axis=0)  # a channel's typical in-frame spread
        gain = 1.0 / np.maximum(spread, 1e-6)
        shift = y.mean(axis=(0, 1, 2)) * gain
        kernel, bias = conv.get_weights()
        conv.set_weights([kernel * gain.astype(kernel.dtype), (bias * gain - shift).astype(bias.dtype)])
        epsilon = np.broadcast_to(np.asarray(norm.epsilon, np.float64), gain.shape)
        norm.epsilon = [float(e) for e in epsilon * gain ** 2]
    return fd
