"""The fixed baselines transform known inputs as specified: real detectors on real
photos, downsampling in the frequency domain, blur, and the motion-only encoding."""
from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from fixtures import SHARED
from ppvr_tf.models import baselines

SAMPLES = os.path.join(SHARED, "opencv_samples")


def _rgb(path: str) -> np.ndarray:
    if not os.path.exists(path):
        pytest.skip(f"real sample not found at {path}")
    return cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0


def _first_frame(path: str) -> np.ndarray:
    if not os.path.exists(path):
        pytest.skip(f"real sample video not found at {path}")
    ok, frame = cv2.VideoCapture(path).read()
    assert ok, path
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB).astype(np.float32)[None] / 255.0


def _blacked(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    assert (before[0].max(-1) == 0).mean() < 0.01  # the picture itself has hardly any pure black
    return after[0].max(-1) == 0


def test_cropping_face_blacks_out_the_face_in_a_real_photo():
    photo = _rgb(os.path.join(SAMPLES, "messi5.jpg"))  # 548x342; the face is around (277, 104)
    blacked = _blacked(photo, baselines.CropFace()(photo))
    assert blacked[104, 277] and blacked[90:120, 260:295].all()
    assert blacked.mean() < 0.1  # the face, not the picture


def test_cropping_whole_blacks_out_the_walkers_in_real_footage():
    frame = _first_frame(os.path.join(SAMPLES, "vtest.avi"))  # the two near walkers stand at these points
    blacked = _blacked(frame, baselines.CropWhole()(frame))
    assert blacked[262, 268] and blacked[253, 670]
    assert blacked.mean() < 0.2


def test_cropping_leaves_frames_without_people_untouched():
    wall = np.full((2, 64, 64, 3), 0.6, np.float32)
    np.testing.assert_array_equal(baselines.CropFace()(wall), wall)
    np.testing.assert_array_equal(baselines.CropWhole()(wall), wall)


def _spectrum_above(frames: np.ndarray, cutoff: float) -> float:
    """Energy of the (mean-removed) spectrum at frequencies above ``cutoff`` cycles/pixel."""
    f = np.fft.fftfreq(frames.shape[1])
    high = (np.abs(f)[:, None] > cutoff) | (np.abs(f)[None, :] > cutoff)
    spectrum = np.abs(np.fft.fft2(frames - frames.mean(axis=(1, 2), keepdims=True), axes=(1, 2))) ** 2
    return float(spectrum[:, high].sum())


@pytest.mark.parametrize("rate", [2, 4, 8])
def test_downsampling_keeps_the_size_and_removes_frequencies_above_the_new_nyquist(rate):
    frames = np.random.default_rng(0).random((4, 64, 64, 3)).astype(np.float32)
    out = np.asarray(baselines.downsample(rate)(frames))
    assert out.shape == frames.shape
    nyquist = 0.5 / rate
    assert _spectrum_above(out, nyquist) < 0.05 * _spectrum_above(frames, nyquist)
    low = np.asarray(baselines.downsample(rate, keep_size=False)(frames))
    assert low.shape == (4, 64 // rate, 64 // rate, 3)
    np.testing.assert_allclose(low[:, 0, 0], frames[:, :rate, :rate].mean(axis=(1, 2)), atol=1e-5)


def test_blur_keeps_flat_frames_and_smooths_more_with_sigma():
    flat = np.full((1, 32, 32, 3), 0.3, np.float32)
    np.testing.assert_allclose(np.asarray(baselines.blur(2.0)(flat)), flat, atol=1e-6)
    noise = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    spreads = [float(np.asarray(baselines.blur(s)(noise)).std()) for s in (0.5, 1.0, 3.0)]
    assert spreads[0] > spreads[1] > spreads[2] and spreads[0] < noise.std()


def test_motion_encoding_keeps_only_what_moves_at_a_few_levels():
    clips = np.full((1, 4, 32, 32, 3), 0.5, np.float32)
    for t in range(4):  # a bright square walks right, 3 pixels a frame
        clips[0, t, 10:18, 4 + 3 * t:12 + 3 * t] = 1.0
    out = np.asarray(baselines.motion_encoding(sigma=1.0, thresholds=(0.05, 0.15))(clips))
    assert out.shape == clips.shape
    assert set(np.unique(out)) <= {0.0, 0.25, 0.5, 0.75, 1.0}
    np.testing.assert_array_equal(out[0, 0], 0.5)  # no previous frame, no motion
    assert (out[0, 1:, :, 25:] == 0.5).all() and (out[0, 1:, 25:] == 0.5).all()  # the still background
    assert (out[0, 1:] > 0.5).any() and (out[0, 1:] < 0.5).any()  # leading and trailing edges
    still = np.repeat(clips[:, :1], 4, axis=1)
    np.testing.assert_array_equal(np.asarray(baselines.motion_encoding()(still)), 0.5)
