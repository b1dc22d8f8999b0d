"""Degradations nothing learns: the paper's empirical baselines and a fixed motion encoding.

The two-fold protocol judges them exactly like a learned fD. Downsampling, blur and the
motion encoding are Keras models of fixed weights, so they export and run like any fD;
the two croppings run OpenCV's own detectors frame by frame (REFERENCE §6: they need
OpenCV 4.x). The motion encoding works on clips — it needs the previous frame — and says
so by taking (N, T, H, W, 3) input.
"""
from __future__ import annotations

import math

from typing import Callable

import cv2
import keras
import numpy as np
import tensorflow as tf
from keras import layers

from ppvr_tf.registry import Registry


class Downsample(layers.Layer):
    """Area averaging by ``rate`` (the anti-aliasing a camera's binning does), then back to
    the input size (bilinear) or left at the low resolution."""

    def __init__(self, rate: int, keep_size: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.keep_size = rate, keep_size

    def _low(self, side):
        return tf.maximum(1, tf.cast(tf.round(side / self.rate), tf.int32))

    def call(self, x):
        size = tf.shape(x)[1:3]
        low = tf.image.resize(x, [self._low(size[0]), self._low(size[1])], method="area")
        return tf.image.resize(low, size, method="bilinear") if self.keep_size else low

    def compute_output_shape(self, input_shape):
        if self.keep_size:
            return input_shape
        low = (lambda side: None if side is None else max(1, round(side / self.rate)))
        return (input_shape[0], low(input_shape[1]), low(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "keep_size": self.keep_size}


def gaussian_kernel(sigma: float, radius: int | None = None) -> np.ndarray:
    """Normalised 1-D Gaussian taps over ``radius`` (default 3 sigma) each side."""
    radius = max(1, math.ceil(3 * sigma)) if radius is None else radius
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


class GaussianBlur(layers.Layer):
    """Separable Gaussian blur per channel, borders mirrored (no dark frame edge). Takes
    frames (N, H, W, C) or clips (N, T, H, W, C)."""

    def __init__(self, sigma: float, radius: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.sigma, self.radius = sigma, radius
        self.taps = gaussian_kernel(sigma, radius)

    def call(self, x):
        shape = tf.shape(x)
        frames = tf.reshape(x, tf.concat([[-1], shape[-3:]], 0))
        r = len(self.taps) // 2
        frames = tf.pad(frames, [[0, 0], [r, r], [r, r], [0, 0]], mode="REFLECT")
        rows = tf.tile(tf.reshape(tf.cast(self.taps, x.dtype), (-1, 1, 1, 1)), (1, 1, x.shape[-1], 1))
        frames = tf.nn.depthwise_conv2d(frames, rows, (1, 1, 1, 1), "VALID")
        frames = tf.nn.depthwise_conv2d(frames, tf.transpose(rows, (1, 0, 2, 3)), (1, 1, 1, 1), "VALID")
        return tf.reshape(frames, shape)

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma, "radius": self.radius}


def downsample(rate: int, keep_size: bool = True) -> keras.Model:
    frames = keras.Input((None, None, 3), name="frames")
    return keras.Model(frames, Downsample(rate, keep_size)(frames), name=f"downsample_{rate}")


def blur(sigma: float) -> keras.Model:
    frames = keras.Input((None, None, 3), name="frames")
    return keras.Model(frames, GaussianBlur(sigma)(frames), name=f"blur_{sigma:g}")


class FrameDifference(layers.Layer):
    """x_t - x_{t-1} over a clip (N, T, H, W, C); the first frame has no past and gets 0."""

    def call(self, clips):
        return clips - tf.concat([clips[:, :1], clips[:, :-1]], axis=1)


class FixedQuantiser(layers.Layer):
    """Counts the thresholds a signed difference passes, and maps the level to [0, 1]:
    0.5 is no motion; k thresholds give 2k + 1 levels."""

    def __init__(self, thresholds: tuple[float, ...], **kwargs):
        super().__init__(**kwargs)
        self.thresholds = tuple(thresholds)

    def call(self, d):
        t = tf.constant(self.thresholds, d.dtype)
        level = (tf.reduce_sum(tf.cast(d[..., None] > t, d.dtype), -1)
                 - tf.reduce_sum(tf.cast(d[..., None] < -t, d.dtype), -1))
        return 0.5 + level / (2.0 * len(self.thresholds))

    def get_config(self):
        return {**super().get_config(), "thresholds": self.thresholds}


def motion_encoding(sigma: float = 1.0, thresholds: tuple[float, ...] = (0.05, 0.15)) -> keras.Model:
    """Gaussian blur -> difference of consecutive frames -> coarse fixed quantisation.
    Only what moves survives, at a few grey levels: the untrained baseline the learned fD
    must beat where actions are defined by motion."""
    clips = keras.Input((None, None, None, 3), name="clips")
    out = FixedQuantiser(thresholds)(FrameDifference()(GaussianBlur(sigma)(clips)))
    return keras.Model(clips, out, name="motion_encoding")


def _blacked_out(frames: np.ndarray, detect, min_side: int) -> np.ndarray:
    """Frames (N, H, W, 3) in [0, 1] with every detected box set to black. Small frames are
    enlarged so their shorter side is ``min_side`` for the detector."""
    out = np.array(frames, np.float32, copy=True)
    for frame in out:
        h, w = frame.shape[:2]
        scale = max(1.0, min_side / min(h, w))
        image = cv2.resize(np.round(frame * 255).astype(np.uint8), (round(w * scale), round(h * scale)),
                           interpolation=cv2.INTER_LINEAR)
        for x, y, bw, bh in detect(cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            x0, y0 = int(x / scale), int(y / scale)
            x1, y1 = math.ceil((x + bw) / scale), math.ceil((y + bh) / scale)
            frame[max(0, y0):min(h, y1), max(0, x0):min(w, x1)] = 0.0
    return out


class CropFace:
    """Cropping-Face: faces found by OpenCV's frontal-face Haar cascade are blacked out."""

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_side: int = 160):
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if self.cascade.empty():
            raise RuntimeError("OpenCV's frontal-face Haar cascade did not load (OpenCV 4.x ships it)")
        self.scale_factor, self.min_neighbors, self.min_side = scale_factor, min_neighbors, min_side

    def _detect(self, bgr: np.ndarray):
        gray = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        return self.cascade.detectMultiScale(gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors)

    def __call__(self, frames, training: bool = False) -> np.ndarray:
        return _blacked_out(np.asarray(frames), self._detect, self.min_side)


class CropWhole:
    """Cropping-Whole: people found by OpenCV's HOG people detector are blacked out."""

    def __init__(self, scale: float = 1.05, min_side: int = 256):
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.scale, self.min_side = scale, min_side

    def _detect(self, bgr: np.ndarray):
        boxes, _ = self.hog.detectMultiScale(bgr, winStride=(8, 8), padding=(8, 8), scale=self.scale)
        return boxes

    def __call__(self, frames, training: bool = False) -> np.ndarray:
        return _blacked_out(np.asarray(frames), self._detect, self.min_side)


FIXED: Registry[Callable[..., keras.Model | Callable]] = Registry("fixed degradation")


@FIXED.register("downsample")
def _downsample(m) -> keras.Model:
    return downsample(m.downsample_rate, m.downsample_keep_size)


@FIXED.register("blur")
def _blur(m) -> keras.Model:
    return blur(m.blur_sigma)


@FIXED.register("crop_face")
def _crop_face(m) -> CropFace:
    return CropFace()


@FIXED.register("crop_whole")
def _crop_whole(m) -> CropWhole:
    return CropWhole()


@FIXED.register("motion")
def _motion(m) -> keras.Model:
    return motion_encoding(m.motion_sigma, m.motion_thresholds)


def build_baseline(m) -> keras.Model | Callable:
    """The fixed degradation ``m.degradation`` with its parameters from ``m`` (a ``ModelConfig``)."""
    return FIXED[m.degradation](m)
