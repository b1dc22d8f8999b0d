"""Bring your own footage: a CSV manifest of videos, frame folders or images.

    path,split,action,<privacy column>,...
    cam1/0001.mp4,train,enter,alice
    cam1/0002.mp4,test,leave,bob

``path`` is relative to the CSV's folder: a video file, a folder of frames or an
image, of any resolution and length. ``split`` is train, val or test (each must
have rows). ``action`` and the privacy columns hold labels as strings or integers.
One privacy column is a single-label budget task (accuracy). Several make a
multi-label one scored by macro AP (cmap): a column of only 0/1 is one binary
label; any other column gives one binary label per value (one-vs-rest). An empty
privacy cell is a missing label (masked) in a multi-label task and an error in a
single-label one.
"""
from __future__ import annotations

import csv
import hashlib
import os
import re

from ppvr_tf.data.builders.base import BUILDERS, SPLITS, ClipBuilder, DatasetError, Labels, Record
from ppvr_tf.data.tasks import MISSING, MULTI, SINGLE

LAYOUT = __doc__
REQUIRED = ("path", "split", "action")


def _sorted_labels(values) -> list[str]:
    """Integers in numeric order, other labels alphabetically."""
    values = sorted(set(values))
    if all(v.lstrip("-").isdigit() for v in values):
        return sorted(values, key=int)
    return values


def read_rows(path: str) -> tuple[list[str], list[dict]]:
    if not os.path.isfile(path):
        raise DatasetError(path, "manifest file not found")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in (reader.fieldnames or [])]
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    missing = [c for c in REQUIRED if c not in header]
    if missing or header[:3] != list(REQUIRED):
        raise DatasetError(path, f"the header must start with {','.join(REQUIRED)}, got {','.join(header)}")
    privacy = header[3:]
    if not privacy:
        raise DatasetError(path, "no privacy column: add at least one after path,split,action")
    for number, row in enumerate(rows, 2):
        if row["split"] not in SPLITS:
            raise DatasetError(path, f"line {number}: split must be one of {', '.join(SPLITS)}, "
                                     f"got {row['split']!r}")
        if not row["path"] or not row["action"]:
            raise DatasetError(path, f"line {number}: empty path or action")
    return privacy, rows


def privacy_encoder(path: str, columns: list[str], rows: list[dict]):
    """(Labels kind and names, row -> privacy vector) for the privacy columns."""
    if len(columns) == 1:
        column = columns[0]
        classes = _sorted_labels(r[column] for r in rows if r[column])
        for number, row in enumerate(rows, 2):
            if not row[column]:
                raise DatasetError(path, f"line {number}: empty {column!r}; a single-label budget "
                                         "task needs every label")
        return SINGLE, tuple(classes), lambda row: (float(classes.index(row[column])),)
    outputs = []  # (name, column, value that means 1; None for a 0/1 column)
    for column in columns:
        values = _sorted_labels(r[column] for r in rows if r[column])
        if set(values) <= {"0", "1"}:
            outputs.append((column, column, None))
        else:
            outputs.extend((f"{column}={v}", column, v) for v in values)

    def encode(row):
        return tuple(MISSING if not row[c] else float(row[c] == "1" if v is None else row[c] == v)
                     for _, c, v in outputs)
    return MULTI, tuple(name for name, _, _ in outputs), encode


def index(manifest: str) -> tuple[Labels, dict[str, list[Record]]]:
    columns, rows = read_rows(manifest)
    actions = _sorted_labels(r["action"] for r in rows)
    kind, names, encode = privacy_encoder(manifest, columns, rows)
    folder = os.path.dirname(os.path.abspath(manifest))
    splits: dict[str, list[Record]] = {name: [] for name in SPLITS}
    for number, row in enumerate(rows, 2):
        splits[row["split"]].append(Record(f"{number}:{row['path']}", os.path.join(folder, row["path"]),
                                           action=actions.index(row["action"]), privacy=encode(row)))
    for name, records in splits.items():
        if not records:
            raise DatasetError(manifest, f"the {name} split has no rows")
    return Labels(tuple(actions), kind, names), splits


@BUILDERS.register("manifest")
class Manifest(ClipBuilder, skip_registration=True):
    """Clips of the files a CSV manifest lists (labels_path: the CSV; variant: its name and
    content hash, so an edited manifest gets a new cache)."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = LAYOUT

    def index(self, root: str):
        return index(self.builder_config.labels_path)


def variant(manifest: str) -> str:
    if not os.path.isfile(manifest):
        raise DatasetError(manifest, "manifest file not found")
    with open(manifest, "rb") as f:
        digest = hashlib.sha1(f.read()).hexdigest()[:10]
    stem = re.sub(r"[^a-z0-9]+", "_", os.path.splitext(os.path.basename(manifest))[0].lower())
    return f"{stem}_{digest}"
