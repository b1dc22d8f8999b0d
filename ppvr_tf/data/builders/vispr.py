"""VISPR (Orekondy et al. 2017): 22,167 images with 68 multi-label privacy attributes.

Put the release under one root, as published::

    ROOT/images/{train,val,test}2017/2017_N.jpg
    ROOT/annotations/{train,val,test}2017/2017_N.json   (keys id, image_path, labels)
    ROOT/{train,val,test}2017.txt                        (lines annotations/<split>2017/2017_N.json)

Only an attribute set is learned (variant): the paper's 7 UCF101 attributes
(``ucf101``) or PA-HMDB51's 5 (``pa_hmdb51``, mapped as in REFERENCE §5 so that
a model trained here is tested on PA-HMDB51's binary view). An image without any
label is ``a0_safe``. Images become one-frame clips.
"""
from __future__ import annotations

import json
import os

from ppvr_tf.data.builders.base import BUILDERS, ClipBuilder, DatasetError, Labels, Record, read_lines
from ppvr_tf.data.tasks import MULTI

LAYOUT = __doc__
SAFE = "a0_safe"
# Attribute set -> (label name, the VISPR attribute ids any of which sets it).
ATTRIBUTE_SETS = {
    "ucf101": (("semi_nudity", ("a12_semi_nudity",)), ("occupation", ("a46_occupation",)),
               ("hobbies", ("a58_hobbies",)), ("sports", ("a59_sports",)),
               ("personal_relationship", ("a64_rel_personal",)),
               ("social_relationship", ("a65_rel_social",)), ("safe", (SAFE,))),
    "pa_hmdb51": (("skin_color", ("a17_color",)), ("face", ("a9_face_complete", "a10_face_partial")),
                  ("gender", ("a4_gender",)), ("nudity", ("a12_semi_nudity",)),
                  ("relationship", ("a64_rel_personal", "a65_rel_social"))),
}


def read_annotation(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            annotation = json.load(f)
    except FileNotFoundError:
        raise DatasetError(path, "annotation file not found") from None
    except json.JSONDecodeError as error:
        raise DatasetError(path, f"not valid JSON ({error})") from None
    if not (isinstance(annotation, dict) and isinstance(annotation.get("labels"), list)
            and isinstance(annotation.get("image_path"), str)):
        raise DatasetError(path, "expected an object with 'image_path' (string) and 'labels' (list)")
    return annotation


def attribute_vector(labels: list[str], attribute_set: str) -> tuple[float, ...]:
    present = set(labels) or {SAFE}
    return tuple(float(bool(present & set(ids))) for _, ids in ATTRIBUTE_SETS[attribute_set])


def index(root: str, attribute_set: str) -> tuple[Labels, dict[str, list[Record]]]:
    if attribute_set not in ATTRIBUTE_SETS:
        raise DatasetError(root, f"unknown VISPR attribute set {attribute_set!r}; "
                                 f"expected one of {sorted(ATTRIBUTE_SETS)}")
    splits = {}
    for split in ("train", "val", "test"):
        records = []
        for relative in read_lines(os.path.join(root, f"{split}2017.txt")):
            annotation = read_annotation(os.path.join(root, relative))
            records.append(Record(annotation.get("id", relative),
                                  os.path.join(root, annotation["image_path"]),
                                  privacy=attribute_vector(annotation["labels"], attribute_set)))
        splits[split] = records
    names = tuple(name for name, _ in ATTRIBUTE_SETS[attribute_set])
    return Labels((), MULTI, names), splits


@BUILDERS.register("vispr")
class Vispr(ClipBuilder, skip_registration=True):
    """VISPR images as one-frame clips with an attribute set's labels (variant: the set)."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = LAYOUT

    def index(self, root: str):
        return index(root, self.builder_config.variant)
