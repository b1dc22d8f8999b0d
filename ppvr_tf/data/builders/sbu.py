"""SBU Kinect Interaction (Yun et al. 2012): 8 two-person interactions, 21 sets of
7 actors; the budget task is the actor pair (13 classes, paper §4.1).

Put the release under one root, as published::

    ROOT/sXXsYY/<01..08>/<NNN>/rgb_*.png   (+ depth_*.png, skeleton files: ignored)

Sets with the same two actors (in either role) are one class. Split (the paper
names none): per actor pair, its videos in a fixed name-hashed order, a quarter
to test, a tenth to validation (at least one each), the rest to training — so
every pair is seen in training and judged in test.
"""
from __future__ import annotations

import glob
import os
import zlib

from ppvr_tf.data.builders.base import BUILDERS, ClipBuilder, DatasetError, Labels, Record
from ppvr_tf.data.tasks import SINGLE

LAYOUT = __doc__
ACTIONS = ("approaching", "departing", "kicking", "punching", "pushing", "hugging",
           "shaking_hands", "exchanging")
_PAIRS = (("s01s02", "s02s01"), ("s01s03",), ("s01s07", "s07s01"), ("s02s03", "s03s02"),
          ("s02s06", "s06s02"), ("s02s07",), ("s03s04", "s04s03"), ("s03s05", "s05s03"),
          ("s03s06", "s06s03"), ("s04s02",), ("s04s06", "s06s04"), ("s05s02",), ("s07s03",))
PAIR_OF_SET = {name: index for index, sets in enumerate(_PAIRS) for name in sets}
PAIR_NAMES = tuple("+".join(sorted({s[:3], s[3:]})) for s, *_ in _PAIRS)


def videos(root: str) -> list[tuple[str, int, int]]:
    """(frame folder, action, actor pair) of every video under ``root``."""
    found = []
    for set_dir in sorted(glob.glob(os.path.join(root, "s??s??"))):
        name = os.path.basename(set_dir)
        if name not in PAIR_OF_SET:
            raise DatasetError(set_dir, f"unknown SBU set {name!r}: not one of the 21 published sets")
        for action_dir in sorted(glob.glob(os.path.join(set_dir, "[0-9][0-9]"))):
            action = int(os.path.basename(action_dir)) - 1
            if not 0 <= action < len(ACTIONS):
                raise DatasetError(action_dir, f"unknown action folder; expected 01..{len(ACTIONS):02d}")
            for video_dir in sorted(d for d in glob.glob(os.path.join(action_dir, "*")) if os.path.isdir(d)):
                found.append((video_dir, action, PAIR_OF_SET[name]))
    if not found:
        raise DatasetError(root, "no SBU videos (expected sXXsYY/<01..08>/<NNN>/rgb_*.png)")
    return found


def split_pair(keys: list[str]) -> dict[str, str]:
    """Video key (``sXXsYY/AA/NNN``) -> split, for one actor pair's videos."""
    ordered = sorted(keys, key=lambda key: (zlib.crc32(key.encode()), key))
    n_test = max(1, round(len(ordered) / 4))
    n_val = max(1, round(len(ordered) / 10)) if len(ordered) > 2 else 0
    return {f: "test" if i < n_test else "val" if i < n_test + n_val else "train"
            for i, f in enumerate(ordered)}


def index(root: str) -> tuple[Labels, dict[str, list[Record]]]:
    found = videos(root)
    keys = [os.path.relpath(folder, root).replace(os.sep, "/") for folder, _, _ in found]
    assignment = {}
    for pair in range(len(_PAIRS)):
        assignment.update(split_pair([k for k, (_, _, p) in zip(keys, found) if p == pair]))
    splits: dict[str, list[Record]] = {"train": [], "val": [], "test": []}
    for key, (folder, action, pair) in zip(keys, found):
        splits[assignment[key]].append(
            Record(key, os.path.join(folder, "rgb_*.png"), action=action, privacy=(float(pair),)))
    return Labels(ACTIONS, SINGLE, PAIR_NAMES), splits


@BUILDERS.register("sbu")
class Sbu(ClipBuilder, skip_registration=True):
    """SBU Kinect Interaction RGB clips with actor-pair identity labels."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = LAYOUT

    def index(self, root: str):
        return index(root)
