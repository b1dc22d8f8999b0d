"""Small datasets written in the exact official layouts (REFERENCE §5), for tests.

Frames are 160x120 like UCF101's after the paper's resize: a background whose
colour is the identity and a bright square whose path is the action, so a run on
them has something to learn.
"""
from __future__ import annotations

import json
import os

import cv2
import numpy as np

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")
PALETTE = [(200, 60, 60), (60, 200, 60), (60, 60, 200), (200, 200, 60), (60, 200, 200), (200, 60, 200)]


def frames(action: int, identity: int, count: int = 12, height: int = 120, width: int = 160) -> np.ndarray:
    """RGB uint8 (count, height, width, 3)."""
    out = np.empty((count, height, width, 3), np.uint8)
    out[:] = PALETTE[identity % len(PALETTE)]
    for t in range(count):
        angle = 2 * np.pi * (action + 1) * t / (4 * count)
        y = int(height / 2 + height / 4 * np.sin(angle + action))
        x = int(width / 2 + width / 4 * np.cos(angle * (action % 2 * 2 - 1)))
        out[t, max(y - 10, 0):y + 10, max(x - 10, 0):x + 10] = 255
    return out


def write_avi(path: str, clip: np.ndarray, fps: int = 25) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (clip.shape[2], clip.shape[1]))
    for frame in clip:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_image(path: str, image: np.ndarray) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def truncate(path: str, keep: float = 0.4) -> str:
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:int(len(data) * keep)])
    return path


def _write_lines(path: str, lines: list[str], newline: str = "\n") -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write("".join(line + newline for line in lines))


# UCF101: a folder HandstandPushups/ with files and lists spelling it HandStandPushups.
UCF_CLASSES = ("ApplyEyeMakeup", "HandStandPushups", "Archery")
UCF_GROUPS = {"train": (8, 9, 10), "val": (24,), "test": (1, 2)}


def make_ucf101(root: str) -> str:
    train, test = [], []
    for label, name in enumerate(UCF_CLASSES):
        folder = "HandstandPushups" if name == "HandStandPushups" else name
        for kind, groups in UCF_GROUPS.items():
            for group in groups:
                relative = f"{folder}/v_{name}_g{group:02d}_c01.avi"
                write_avi(os.path.join(root, "UCF-101", relative), frames(label, group))
                (test.append(relative) if kind == "test" else train.append(f"{relative} {label + 1}"))
    lists = os.path.join(root, "ucfTrainTestlist")
    _write_lines(os.path.join(lists, "classInd.txt"),
                 [f"{i + 1} {n}" for i, n in enumerate(UCF_CLASSES)], "\r\n")
    _write_lines(os.path.join(lists, "trainlist01.txt"), train, "\r\n")
    _write_lines(os.path.join(lists, "testlist01.txt"), test, "\r\n")
    return root


# HMDB51: 3 actions x 6 videos; ids 1 train (4), 2 test (1), 0 unused (1).
HMDB_ACTIONS = ("brush_hair", "kick", "wave")


def hmdb_video(action: str, index: int) -> str:
    return f"{action}_person{index}_f_cm_np1_fr_med_{index}.avi"


def make_hmdb51(root: str) -> str:
    for label, action in enumerate(HMDB_ACTIONS):
        lines = []
        for index in range(6):
            name = hmdb_video(action, index)
            write_avi(os.path.join(root, "hmdb51_org", action, name), frames(label, index), fps=30)
            lines.append(f"{name} {1 if index < 4 else 2 if index == 4 else 0}")
        for split in (1, 2, 3):
            _write_lines(os.path.join(root, "testTrainMulti_7030_splits", f"{action}_test_split{split}.txt"),
                         lines)
    return root


def make_pa_hmdb51(root: str) -> str:
    """Annotations for videos 4 and 5 of each HMDB51 fixture action (12 frames each):
    one attribute with a gap, a list value, and frames past the last segment."""
    folder = os.path.join(root, "PrivacyAttributes")
    os.makedirs(folder, exist_ok=True)
    for action in HMDB_ACTIONS:
        videos = {}
        for index in (4, 5):
            videos[hmdb_video(action, index)] = {
                "review": True, "note": "",
                "skin_color": [[0, 5, 1], [6, 9, 0]],
                "face": [[0, 3, 2], [8, 11, 0]],  # frames 4-7 unlabeled
                "gender": [[0, 11, [1, 2]]],
                "nudity": [[0, 11, 0]],
                "relationship": [[0, 11, index % 2]],
            }
        with open(os.path.join(folder, f"{action}.json"), "w") as f:
            json.dump(videos, f)
    return root


# VISPR: 4 images per split with labels covering both attribute sets.
VISPR_LABELS = (["a4_gender", "a9_face_complete", "a17_color"], [], ["a12_semi_nudity", "a64_rel_personal"],
                ["a59_sports", "a10_face_partial"])


def make_vispr(root: str) -> str:
    for split in ("train", "val", "test"):
        lines = []
        for index, labels in enumerate(VISPR_LABELS):
            image_id = f"2017_{10000000 + 100 * len(split) + index}"
            image = frames(index, index, count=1, height=240, width=180)[0]  # portrait: resize_cover cuts
            write_image(os.path.join(root, "images", f"{split}2017", f"{image_id}.jpg"), image)
            annotation = {"id": image_id, "image_path": f"images/{split}2017/{image_id}.jpg", "labels": labels}
            relative = f"annotations/{split}2017/{image_id}.json"
            os.makedirs(os.path.join(root, os.path.dirname(relative)), exist_ok=True)
            with open(os.path.join(root, relative), "w") as f:
                json.dump(annotation, f)
            lines.append(relative)
        _write_lines(os.path.join(root, f"{split}2017.txt"), lines)
    return root


# SBU: sets s01s02 and s02s01 (one actor pair), s01s03, s03s04; 8 actions; PNG frames.
SBU_SETS = ("s01s02", "s02s01", "s01s03", "s03s04")


def make_sbu(root: str, frames_per_video: int = 8) -> str:
    for identity, set_name in enumerate(SBU_SETS):
        for action in range(8):
            folder = os.path.join(root, set_name, f"{action + 1:02d}", "001")
            for t, frame in enumerate(frames(action, identity, frames_per_video, 120, 160)):
                write_image(os.path.join(folder, f"rgb_{t:06d}.png"), frame)
                write_image(os.path.join(folder, f"depth_{t:06d}.png"), np.zeros_like(frame))
    return root


def make_manifest(root: str, privacy: str = "single") -> str:
    """Videos, a frame folder and an image of two actions and two people; returns the CSV path.

    ``privacy``: ``single`` (one column: person) or ``multi`` (person, a 0/1 column and gaps).
    """
    rows = []
    for index in range(12):
        action, person = index % 2, index // 2 % 2
        split = "test" if index >= 9 else "val" if index >= 7 else "train"
        if index == 3:
            path = f"frames/{index:02d}"
            for t, frame in enumerate(frames(action, person, 10)):
                write_image(os.path.join(root, path, f"{t:04d}.png"), frame)
        else:  # any resolution and length: a portrait phone clip, a 16:9 camera, ...
            path = f"videos/clip_{index:02d}.avi"
            height, width = {6: (200, 90), 8: (360, 640)}.get(index, (120, 160))
            write_avi(os.path.join(root, path), frames(action, person, 10 + index, height, width))
        row = [path, split, ("enter", "leave")[action], ("alice", "bob")[person]]
        if privacy == "multi":
            row += [str(index % 2), "" if index == 5 else str(index % 3)]
        rows.append(",".join(row))
    header = "path,split,action,person" + (",badge,zone" if privacy == "multi" else "")
    path = os.path.join(root, f"manifest_{privacy}.csv")
    _write_lines(path, [header, *rows])
    return path
