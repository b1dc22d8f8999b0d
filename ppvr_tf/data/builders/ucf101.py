"""UCF101 (Soomro et al. 2012): 101 actions, 13,320 YouTube videos, official splits 1-3.

Put the release under one root, as published::

    ROOT/UCF-101/<Class>/v_<Class>_gXX_cYY.avi
    ROOT/ucfTrainTestlist/classInd.txt, trainlist0N.txt, testlist0N.txt

The lists are read as released: CRLF line ends, 1-based class ids, and names
matched case-insensitively (the folder is ``HandstandPushups`` while classInd
and the file names say ``HandStand``). Validation: the training videos of the
last two groups (g24, g25; about a tenth), so no actor appears in both halves.
"""
from __future__ import annotations

import os
import re

from ppvr_tf.data.builders.base import BUILDERS, ClipBuilder, DatasetError, Labels, Record, read_lines
from ppvr_tf.data.tasks import NONE

LAYOUT = __doc__
VAL_GROUPS = (24, 25)
LISTS = "ucfTrainTestlist"
VIDEOS = "UCF-101"


def read_classes(path: str) -> list[str]:
    """classInd.txt (``1 ApplyEyeMakeup``) as names in id order."""
    classes = {}
    for number, line in enumerate(read_lines(path), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DatasetError(path, f"line {number}: expected '<id> <ClassName>', got {line!r}")
        classes[int(parts[0])] = parts[1]
    if sorted(classes) != list(range(1, len(classes) + 1)):
        raise DatasetError(path, "class ids must run 1..N without gaps")
    return [classes[i] for i in sorted(classes)]


def read_list(path: str, classes: list[str]) -> list[tuple[str, int]]:
    """(relative video path, class index) of a train or test list."""
    lookup = {name.lower(): index for index, name in enumerate(classes)}
    entries = []
    for number, line in enumerate(read_lines(path), 1):
        relative = line.split()[0]
        folder = relative.split("/")[0].lower()
        if folder not in lookup:
            raise DatasetError(path, f"line {number}: unknown class {relative.split('/')[0]!r} "
                                     "(not in classInd.txt)")
        entries.append((relative, lookup[folder]))
    return entries


def group_of(relative: str) -> int:
    match = re.search(r"_g(\d+)_c\d+", relative)
    return int(match.group(1)) if match else 0


class CaseInsensitiveFiles:
    """Finds ``Class/file.avi`` under a root whatever the case of its folder and name."""

    def __init__(self, root: str):
        if not os.path.isdir(root):
            raise DatasetError(root, "video folder not found")
        self.root = root
        self.files = {}
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                self.files[os.path.relpath(path, root).lower()] = path

    def find(self, relative: str) -> str:
        # A listed file missing from disk is left to the decoder to report (and skip).
        return self.files.get(relative.lower(), os.path.join(self.root, relative))


def index(root: str, split: int) -> tuple[Labels, dict[str, list[Record]]]:
    lists = os.path.join(root, LISTS)
    classes = read_classes(os.path.join(lists, "classInd.txt"))
    files = CaseInsensitiveFiles(os.path.join(root, VIDEOS))
    splits: dict[str, list[Record]] = {"train": [], "val": [], "test": []}
    for kind in ("train", "test"):
        for relative, label in read_list(os.path.join(lists, f"{kind}list0{split}.txt"), classes):
            name = "val" if kind == "train" and group_of(relative) in VAL_GROUPS else kind
            splits[name].append(Record(relative, files.find(relative), action=label))
    return Labels(tuple(classes), NONE), splits


@BUILDERS.register("ucf101")
class Ucf101(ClipBuilder, skip_registration=True):
    """UCF101 clips for action recognition (variant: split number 1-3)."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = LAYOUT

    def index(self, root: str):
        return index(root, int(self.builder_config.variant))
