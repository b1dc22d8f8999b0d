"""PA-HMDB51 (Wu et al. 2020): 515 HMDB51 videos with frame-wise privacy labels.

Needs the HMDB51 videos (``ROOT/hmdb51_org/<action>/<video>.avi``) and the
annotation folder of the PA-HMDB51 release (``--pa_hmdb51_dir``, holding
``PrivacyAttributes/<action>.json``, or the JSON files themselves). Each file maps
a video name to attributes, each a list of inclusive ``[start, end, value]`` frame
segments; a value may be a list (``[1, 2]``: a man and a woman both visible).

From frames to a clip's label, per attribute:
- only the frames of the clip that some segment covers count; if none does, the
  label is missing (``MISSING``: masked out of the losses and the AP);
- a list value counts as every value in it;
- the clip has a value if any counted frame has it (one frame showing a face
  exposes the face).
Views: ``binary`` (the paper's: "can tell", value != 0, one label per attribute,
the same 5 labels as VISPR's ``pa_hmdb51`` set) and ``multiclass`` (one-vs-rest:
one binary label per attribute value, 15 in all).
"""
from __future__ import annotations

import functools
import glob
import json
import os

import numpy as np

from ppvr_tf.data.builders.base import BUILDERS, ClipBuilder, DatasetError, Labels, Record
from ppvr_tf.data.tasks import MISSING, MULTI

LAYOUT = __doc__
# Attribute -> names of its values (codes 0..n-1), in the order of the binary labels.
ATTRIBUTES = {
    "skin_color": ("invisible", "white", "brown_yellow", "black"),
    "face": ("invisible", "partial", "whole"),
    "gender": ("cannot_tell", "male", "female"),
    "nudity": ("none", "partial", "semi"),
    "relationship": ("cannot_tell", "can_tell"),
}
VIEWS = ("binary", "multiclass")


def annotation_files(pa_dir: str) -> list[str]:
    folder = os.path.join(pa_dir, "PrivacyAttributes")
    folder = folder if os.path.isdir(folder) else pa_dir
    files = sorted(glob.glob(os.path.join(folder, "*.json")))
    if not files:
        raise DatasetError(pa_dir, "no PA-HMDB51 annotation files (PrivacyAttributes/<action>.json)")
    return files


def read_annotations(path: str) -> dict[str, dict]:
    """One action's file: video name -> {attribute: [[start, end, value], ...]}, validated."""
    try:
        with open(path, encoding="utf-8") as f:
            videos = json.load(f)
    except json.JSONDecodeError as error:
        raise DatasetError(path, f"not valid JSON ({error})") from None
    if not isinstance(videos, dict):
        raise DatasetError(path, "expected an object mapping video names to annotations")
    for name, attributes in videos.items():
        for attribute, codes in ATTRIBUTES.items():
            segments = attributes.get(attribute) if isinstance(attributes, dict) else None
            if not isinstance(segments, list):
                raise DatasetError(path, f"{name}: attribute {attribute!r} missing or not a list")
            for segment in segments:
                if not _valid_segment(segment, len(codes)):
                    raise DatasetError(path, f"{name}/{attribute}: bad segment {segment!r}; "
                                             f"expected [start, end, value in 0..{len(codes) - 1}]")
    return videos


def _values(value) -> list[int]:
    return list(value) if isinstance(value, list) else [value]


def _valid_segment(segment, num_codes: int) -> bool:
    if not (isinstance(segment, list) and len(segment) == 3):
        return False
    start, end, value = segment
    return (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end
            and all(isinstance(v, int) and 0 <= v < num_codes for v in _values(value)))


def read_all(pa_dir: str) -> dict[str, tuple[str, dict]]:
    """Video name -> (action, attributes) over every annotation file."""
    videos = {}
    for path in annotation_files(pa_dir):
        action = os.path.splitext(os.path.basename(path))[0]
        for name, attributes in read_annotations(path).items():
            videos[name] = (action, attributes)
    return videos


def video_names(pa_dir: str) -> list[str]:
    return sorted(read_all(pa_dir))


def label_names(view: str) -> tuple[str, ...]:
    if view == "binary":
        return tuple(ATTRIBUTES)
    return tuple(f"{a}={v}" for a, values in ATTRIBUTES.items() for v in values)


def frame_labels(attributes: dict, view: str) -> np.ndarray:
    """(frames, labels) 0/1 per annotated frame; NaN where no segment covers the frame."""
    ends = [segment[1] for a in ATTRIBUTES for segment in attributes[a]]
    length = max(ends) + 1 if ends else 0
    columns = []
    for attribute, codes in ATTRIBUTES.items():
        onehot = np.full((length, len(codes)), np.nan, np.float32)
        for start, end, value in attributes[attribute]:
            onehot[start:end + 1] = np.where(np.isnan(onehot[start:end + 1]), 0.0, onehot[start:end + 1])
            for v in _values(value):
                onehot[start:end + 1, v] = 1.0
        columns.append(onehot if view == "multiclass" else
                       np.where(np.isnan(onehot[:, :1]), np.nan, onehot[:, 1:].max(axis=1, keepdims=True)))
    return np.concatenate(columns, axis=1)


def clip_label(labels: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """A clip's labels from its frames' (see the module docstring); MISSING if none annotated."""
    inside = labels[indices[indices < len(labels)]]
    if inside.size == 0:
        return np.full(labels.shape[1], MISSING, np.float32)
    annotated = ~np.isnan(inside)
    best = np.where(annotated, inside, -np.inf).max(axis=0)
    return np.where(annotated.any(axis=0), best, MISSING).astype(np.float32)


def index(root: str, pa_dir: str, view: str) -> tuple[Labels, dict[str, list]]:
    if view not in VIEWS:
        raise DatasetError(pa_dir, f"unknown PA-HMDB51 view {view!r}; expected one of {VIEWS}")
    videos = read_all(pa_dir)
    actions = sorted({action for action, _ in videos.values()})
    records = []
    for name, (action, attributes) in sorted(videos.items()):
        labeller = functools.partial(clip_label, frame_labels(attributes, view))
        records.append(Record(f"{action}/{name}", os.path.join(root, "hmdb51_org", action, name),
                              action=actions.index(action), frame_privacy=labeller))
    return Labels(tuple(actions), MULTI, label_names(view)), {"test": records}


@BUILDERS.register("pa_hmdb51")
class PaHmdb51(ClipBuilder, skip_registration=True):
    """PA-HMDB51 clips with clip-level privacy labels (variant: binary or multiclass)."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = LAYOUT

    def index(self, root: str):
        return index(root, self.builder_config.labels_path, self.builder_config.variant)
