"""Decoding videos, frame folders and images into fixed-length clips (OpenCV).

The paper's clip recipe: resize frames to 120x160, cut T = 16 consecutive
frames, crop 112x112 (random crop in training, centre crop in evaluation — the
crop happens in the tf.data pipeline, so the cache keeps the resized frames).
Every failure raises ``MediaError`` naming the file and what is wrong with it.
"""
from __future__ import annotations

import dataclasses
import glob
import os
from typing import Callable

import cv2
import numpy as np

from ppvr_tf.data.errors import MediaError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    num_frames: int = 16  # T
    height: int = 120  # frames are resized (aspect kept, centre cut) to height x width
    width: int = 160
    clips_per_video: int = 1  # windows of T frames per video
    frame_stride: int = 1  # take every n-th frame inside a window
    selection: str = "even"  # "even": evenly spaced windows; "motion": the windows that move most

    @property
    def name(self) -> str:
        """Part of the cache's name: a different recipe is a different cache."""
        return (f"t{self.num_frames}_{self.height}x{self.width}_c{self.clips_per_video}"
                f"_s{self.frame_stride}" + ("_motion" if self.selection == "motion" else ""))


SELECTIONS = ("even", "motion")


def resize_cover(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scales ``frame`` to cover height x width (aspect kept) and cuts the centre."""
    h, w = frame.shape[:2]
    scale = max(height / h, width / w)
    new_h, new_w = max(height, round(h * scale)), max(width, round(w * scale))
    resized = cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_AREA)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return resized[top:top + height, left:left + width]


def _rgb(frame: np.ndarray, spec: ClipSpec) -> np.ndarray:
    return resize_cover(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), spec.height, spec.width)


def _open(path: str) -> cv2.VideoCapture:
    if not os.path.isfile(path):
        raise MediaError(path, "no such video file")
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise MediaError(path, "OpenCV cannot open it (not a video, or an unsupported codec)")
    return capture


def _check_length(path: str, decoded: int, announced: int) -> None:
    if decoded == 0:
        raise MediaError(path, "no decodable frame (empty or corrupt video)")
    if announced > 0 and decoded < announced - max(2, announced // 20):
        raise MediaError(path, f"truncated: decoded {decoded} of the {announced} frames "
                               "its header announces")


def _scan(path: str, spec: ClipSpec, keep: Callable[[int], bool]) -> tuple[dict[int, np.ndarray], int]:
    """Decodes the whole video (so a truncated file is noticed) but converts and keeps
    only the frames ``keep`` asks for: memory stays flat however long the video is."""
    capture = _open(path)
    try:
        announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        kept, index = {}, 0
        while capture.grab():
            if keep(index):
                ok, frame = capture.retrieve()
                if not ok:
                    break
                kept[index] = _rgb(frame, spec)
            index += 1
    finally:
        capture.release()
    _check_length(path, index, announced)
    return kept, index


def read_video(path: str, spec: ClipSpec) -> np.ndarray:
    """All frames of a video file, resized: uint8 (F, H, W, 3).

    A file OpenCV cannot open, one without a single decodable frame, or one that
    stops well before the frame count in its header (a truncated download) raises.
    """
    kept, count = _scan(path, spec, lambda index: True)
    return np.stack([kept[i] for i in range(count)])


def _video_clips(path: str, spec: ClipSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    if spec.selection == "motion":
        return _clips_of(read_video(path, spec), spec)
    capture = _open(path)
    announced = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    windows = _windows(announced, spec) if announced > 0 else []
    wanted = {int(i) for w in windows for i in w}
    kept, count = _scan(path, spec, wanted.__contains__)
    if count != announced:  # the header was wrong (or silent): place the windows on what is there
        windows = _windows(count, spec)
        needed = {int(i) for w in windows for i in w}
        if not needed <= kept.keys():
            kept, _ = _scan(path, spec, needed.__contains__)
    return [(np.stack([kept[int(i)] for i in w]), w) for w in windows]


def read_image(path: str, spec: ClipSpec) -> np.ndarray:
    """One image as a one-frame clip: uint8 (1, H, W, 3)."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        problem = "no such image file" if not os.path.isfile(path) else "not a readable image"
        raise MediaError(path, problem)
    return _rgb(image, spec)[None]


def frame_files(pattern: str) -> list[str]:
    """Frame images of a folder (every image in it) or a glob pattern such as
    ``.../rgb_*.png``, in name order."""
    if os.path.isdir(pattern):
        pattern = os.path.join(pattern, "*")
    elif not os.path.isdir(os.path.dirname(pattern)):
        raise MediaError(pattern, "no such frame folder")
    files = sorted(f for f in glob.glob(pattern) if f.lower().endswith(IMAGE_EXTENSIONS))
    if not files:
        raise MediaError(pattern, "no frame images found")
    return files


def read_clips(path: str, spec: ClipSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    """The clips of ``spec`` cut from a video file, a frame folder or glob, or an image,
    whichever ``path`` is: (uint8 clip (T, H, W, 3), its frame indices) per window.
    An image is a one-frame clip."""
    if os.path.isdir(path) or any(c in path for c in "*?["):
        files = frame_files(path)
        if spec.selection == "motion":
            return _clips_of(np.concatenate([read_image(f, spec) for f in files]), spec)
        return [(np.concatenate([read_image(files[i], spec) for i in w]), w)
                for w in _windows(len(files), spec)]
    if path.lower().endswith(IMAGE_EXTENSIONS):
        return [(read_image(path, spec), np.zeros(1, np.int64))]
    return _video_clips(path, spec)


def _clips_of(frames: np.ndarray, spec: ClipSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(frames[w], w) for w in (motion_windows(frames, spec) if spec.selection == "motion"
                                     else _windows(len(frames), spec))]


def motion_energy(frames: np.ndarray) -> np.ndarray:
    """How much each frame differs from the previous one (mean absolute grey-level
    difference; 0 for the first frame): where something moves in front of the camera."""
    grey = frames.astype(np.float32).mean(axis=-1)
    return np.concatenate([[0.0], np.abs(np.diff(grey, axis=0)).mean(axis=(1, 2))])


def motion_windows(frames: np.ndarray, spec: ClipSpec) -> list[np.ndarray]:
    """The ``clips_per_video`` windows with the most motion, greedily, each one apart from
    those taken (overlapping only when the video is too short), in time order.

    Real footage often shows an empty scene for long stretches (the runner has left the
    frame): evenly spaced windows would label those as the action."""
    energy = motion_energy(frames)
    span = (spec.num_frames - 1) * spec.frame_stride + 1
    starts = np.arange(max(len(frames) - span, 0) + 1)
    scores = np.array([energy[window_indices(s, len(frames), spec)].sum() for s in starts])
    taken: list[int] = []
    for _ in range(min(spec.clips_per_video, len(starts))):
        apart = np.array([all(abs(s - t) >= span for t in taken) for s in starts])
        candidates = np.flatnonzero(apart) if apart.any() else np.setdiff1d(starts, taken)
        taken.append(int(candidates[np.argmax(scores[candidates])]))
    return [window_indices(s, len(frames), spec) for s in sorted(taken)]


def _windows(num_frames: int, spec: ClipSpec) -> list[np.ndarray]:
    return [window_indices(start, num_frames, spec) for start in window_starts(num_frames, spec)]


def window_starts(num_frames: int, spec: ClipSpec) -> list[int]:
    """First frames of ``clips_per_video`` evenly spaced windows (one centred window if 1)."""
    span = (spec.num_frames - 1) * spec.frame_stride + 1
    room = max(num_frames - span, 0)
    if spec.clips_per_video == 1:
        return [room // 2]
    return sorted({round(i * room / (spec.clips_per_video - 1)) for i in range(spec.clips_per_video)})


def window_indices(start: int, num_frames: int, spec: ClipSpec) -> np.ndarray:
    """Frame indices of the window at ``start``; short videos repeat their last frame."""
    indices = start + spec.frame_stride * np.arange(spec.num_frames)
    return np.minimum(indices, num_frames - 1)
