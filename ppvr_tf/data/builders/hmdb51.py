"""HMDB51 (Kuehne et al. 2011): 51 actions, 6,766 clips; official splits 1-3 and the
privacy split of the PA-HMDB51 experiments.

Put the release under one root, as published::

    ROOT/hmdb51_org/<action>/<video>.avi
    ROOT/testTrainMulti_7030_splits/<action>_test_split{1,2,3}.txt   (lines "<video>.avi <id>")

Split ids: 1 train, 2 test, 0 unused. Validation: a fixed tenth of the training
videos (chosen by a hash of the name, so it never changes). Variant ``pa``: test
= the 515 PA-HMDB51 videos, train = every other HMDB51 video (the paper's §5.5);
it needs the PA-HMDB51 annotation folder (``--pa_hmdb51_dir``).
"""
from __future__ import annotations

import glob
import os
import zlib

from ppvr_tf.data.builders import pa_hmdb51
from ppvr_tf.data.builders.base import BUILDERS, ClipBuilder, DatasetError, Labels, Record, read_lines
from ppvr_tf.data.tasks import NONE

LAYOUT = __doc__
VIDEOS = "hmdb51_org"
SPLITS = "testTrainMulti_7030_splits"
SPLIT_IDS = {"1": "train", "2": "test", "0": None}


def is_validation(name: str, fraction: float = 0.1) -> bool:
    """A fixed, name-determined subset of the training videos."""
    return zlib.crc32(name.encode()) % 1000 < fraction * 1000


def read_split_file(path: str) -> list[tuple[str, str | None]]:
    """(video file name, 'train' | 'test' | None) for each line of an action's split file."""
    entries = []
    for number, line in enumerate(read_lines(path), 1):
        parts = line.split()
        if len(parts) != 2 or parts[1] not in SPLIT_IDS:
            raise DatasetError(path, f"line {number}: expected '<video>.avi <0|1|2>', got {line!r}")
        entries.append((parts[0], SPLIT_IDS[parts[1]]))
    return entries


def actions_in(root: str) -> list[str]:
    folder = os.path.join(root, VIDEOS)
    if not os.path.isdir(folder):
        raise DatasetError(folder, "video folder not found")
    actions = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    if not actions:
        raise DatasetError(folder, "holds no action folders")
    return actions


def _assign(splits: dict, name: str, kind: str | None, record: Record) -> None:
    if kind == "train" and is_validation(name):
        kind = "val"
    if kind:
        splits[kind].append(record)


def index(root: str, variant: str, pa_dir: str = "") -> tuple[Labels, dict[str, list[Record]]]:
    actions = actions_in(root)
    splits: dict[str, list[Record]] = {"train": [], "val": [], "test": []}
    if variant == "pa":
        private = set(pa_hmdb51.video_names(pa_dir))
        for label, action in enumerate(actions):
            for path in sorted(glob.glob(os.path.join(root, VIDEOS, action, "*.avi"))):
                name = os.path.basename(path)
                _assign(splits, name, "test" if name in private else "train",
                        Record(f"{action}/{name}", path, action=label))
        return Labels(tuple(actions), NONE), splits
    for label, action in enumerate(actions):
        split_file = os.path.join(root, SPLITS, f"{action}_test_split{variant}.txt")
        for name, kind in read_split_file(split_file):
            path = os.path.join(root, VIDEOS, action, name)
            _assign(splits, name, kind, Record(f"{action}/{name}", path, action=label))
    return Labels(tuple(actions), NONE), splits


@BUILDERS.register("hmdb51")
class Hmdb51(ClipBuilder, skip_registration=True):
    """HMDB51 clips for action recognition (variant: split 1-3, or pa)."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = LAYOUT

    def index(self, root: str):
        return index(root, self.builder_config.variant, self.builder_config.labels_path)
