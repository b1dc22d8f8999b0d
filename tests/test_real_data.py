"""The parsers against the real published files in ../shared/data (skipped if absent)."""
from __future__ import annotations

import dataclasses
import glob
import json
import os

import numpy as np
import pytest

from fixtures import SHARED
from ppvr_tf.data import video
from ppvr_tf.data.builders import pa_hmdb51, ucf101, vispr


def shared(*parts: str) -> str:
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip(f"real sample data not found at {path} (see ../shared/data/README.md)")
    return path


def independent_counts(folder: str) -> dict:
    """Per attribute: annotated frames, and frames with a value != 0 — computed directly
    from the segments, without the library."""
    counts = {a: [0, 0] for a in pa_hmdb51.ATTRIBUTES}
    for path in glob.glob(os.path.join(folder, "*.json")):
        with open(path) as f:
            for attributes in json.load(f).values():
                for attribute in counts:
                    covered, visible = set(), set()
                    for start, end, value in attributes[attribute]:
                        values = value if isinstance(value, list) else [value]
                        covered.update(range(start, end + 1))
                        if any(v != 0 for v in values):
                            visible.update(range(start, end + 1))
                    counts[attribute][0] += len(covered)
                    counts[attribute][1] += len(visible)
    return counts


def test_pa_hmdb51_annotations_parse_and_frame_counts_match():
    folder = shared("pa_hmdb51", "PrivacyAttributes")
    assert len(pa_hmdb51.annotation_files(shared("pa_hmdb51"))) == 51
    videos = pa_hmdb51.read_all(shared("pa_hmdb51"))
    assert len(videos) == 515
    labels = {name: pa_hmdb51.frame_labels(attributes, "binary") for name, (_, attributes) in videos.items()}
    assert sum(len(v) for v in labels.values()) == 52533  # REFERENCE §5
    expected = independent_counts(folder)
    for column, attribute in enumerate(pa_hmdb51.label_names("binary")):
        annotated = sum(int((~np.isnan(v[:, column])).sum()) for v in labels.values())
        visible = sum(int(np.nansum(v[:, column])) for v in labels.values())
        assert [annotated, visible] == expected[attribute], attribute
    # The multi-class view: each annotated frame has at least one value of each attribute.
    name, (_, attributes) = next(iter(sorted(videos.items())))
    multi = pa_hmdb51.frame_labels(attributes, "multiclass")
    assert multi.shape[1] == 15
    annotated = ~np.isnan(multi[:, 0])
    assert np.all(np.nansum(multi[annotated, :4], axis=1) >= 1)


def test_pa_hmdb51_list_values_count_as_every_value():
    videos = pa_hmdb51.read_all(shared("pa_hmdb51"))
    name = next(n for n, (_, a) in sorted(videos.items())
                if any(isinstance(s[2], list) and sorted(s[2]) == [1, 2] for s in a["gender"]))
    start, end, _ = next(s for s in videos[name][1]["gender"] if isinstance(s[2], list))
    multi = pa_hmdb51.frame_labels(videos[name][1], "multiclass")
    gender = pa_hmdb51.label_names("multiclass").index("gender=male")
    np.testing.assert_array_equal(multi[start, gender:gender + 2], [1.0, 1.0])


def test_ucf101_lists_as_released():
    lists = shared("ucf101_lists")
    classes = ucf101.read_classes(os.path.join(lists, "classInd.txt"))
    train = ucf101.read_list(os.path.join(lists, "trainlist01.txt"), classes)
    test = ucf101.read_list(os.path.join(lists, "testlist01.txt"), classes)
    assert (len(classes), len(train), len(test)) == (101, 9537, 3783)
    assert {label for _, label in train} == {label for _, label in test} == set(range(101))
    # The folder is HandstandPushups, classInd says HandStandPushups: they must meet.
    handstand = classes.index("HandStandPushups")
    assert any(path.startswith("HandstandPushups/") and label == handstand for path, label in test)
    with open(os.path.join(lists, "trainlist01.txt"), "rb") as f:
        assert b"\r\n" in f.read(200)  # the lists really are CRLF
    # Labels in the train list agree with the folder names.
    with open(os.path.join(lists, "trainlist01.txt")) as f:
        ids = [int(line.split()[1]) - 1 for line in f.read().splitlines() if line.strip()]
    assert ids == [label for _, label in train]


@pytest.mark.parametrize("attribute_set,size", [("pa_hmdb51", 5), ("ucf101", 7)])
def test_vispr_annotations_map_to_attribute_sets(attribute_set, size):
    files = sorted(glob.glob(os.path.join(shared("vispr", "annotations"), "*2017", "*.json")))
    assert len(files) == 300
    vectors = np.array([vispr.attribute_vector(vispr.read_annotation(f)["labels"], attribute_set)
                        for f in files])
    assert vectors.shape == (300, size)
    for f, vector in zip(files, vectors):
        labels = set(vispr.read_annotation(f)["labels"])
        if attribute_set == "pa_hmdb51":
            assert vector[1] == float(bool(labels & {"a9_face_complete", "a10_face_partial"}))
            assert vector[0] == float("a17_color" in labels)
        else:
            assert vector[-1] == float(not labels or "a0_safe" in labels)
    assert vectors.sum(axis=0).min() >= 0 and vectors.any(axis=0).sum() >= 3  # real labels vary


def test_vispr_split_lists_have_the_published_sizes():
    sizes = {s: len(open(shared("vispr", f"{s}2017.txt")).read().split()) for s in ("train", "val", "test")}
    assert sizes == {"train": 10000, "val": 4167, "test": 8000}


def test_real_clips_decode():
    spec = video.ClipSpec(num_frames=16, height=120, width=160)
    ucf = video.read_video(shared("ucf101_sample", "test.avi"), spec)
    assert ucf.shape[1:] == (120, 160, 3) and len(ucf) > 16 and ucf.std() > 10
    [(clip, indices)] = video.read_clips(shared("ucf101_sample", "test.avi"), spec)
    assert clip.shape == (16, 120, 160, 3) and np.all(np.diff(indices) == 1)
    np.testing.assert_array_equal(clip, ucf[indices])  # the window is the centre of the video
    assert indices[0] == (len(ucf) - 16) // 2
    surveillance = video.read_clips(shared("opencv_samples", "vtest.avi"),
                                    video.ClipSpec(num_frames=8, clips_per_video=5, frame_stride=2))
    assert [int(w[0]) for _, w in surveillance] == [0, 195, 390, 585, 780]  # 795 frames, 5 windows of span 15
    assert all(c.shape == (8, 120, 160, 3) and np.all(np.diff(w) == 2) for c, w in surveillance)
    photo = video.read_image(shared("opencv_samples", "messi5.jpg"), spec)
    assert photo.shape == (1, 120, 160, 3)


def test_motion_selection_finds_the_clips_where_people_move_in_real_kth_footage():
    """KTH runners cross the frame and leave it empty: evenly spaced clips show empty
    scenes, the clips picked by frame differences show the runner."""
    path = shared("kth_dev", "running", "person01_running_d1.mp4")
    spec = video.ClipSpec(num_frames=8, height=60, width=80, clips_per_video=4, frame_stride=2)
    every = video.read_video(path, spec)
    energy = video.motion_energy(every)
    moving = video.read_clips(path, dataclasses.replace(spec, selection="motion"))
    even = video.read_clips(path, spec)
    assert len(moving) == len(even) == 4
    spans = [(int(w[0]), int(w[-1])) for _, w in moving]
    assert all(b[0] > a[1] for a, b in zip(spans, spans[1:]))  # in time order, not overlapping
    for clip, window in moving:
        np.testing.assert_array_equal(clip, every[window])

    def motion(windows):
        return np.mean([energy[w].sum() for _, w in windows])
    assert motion(moving) > 1.5 * motion(even)
    assert video.ClipSpec(selection="motion").name.endswith("_motion")  # a different cache
    assert "_motion" not in spec.name


def test_motion_selection_in_a_short_video_overlaps_rather_than_fails():
    frames = np.zeros((10, 8, 8, 3), np.uint8)
    frames[6:, 2:4, 2:4] = 255  # something appears at frame 6
    spec = video.ClipSpec(num_frames=4, height=8, width=8, clips_per_video=3, selection="motion")
    windows = video.motion_windows(frames, spec)
    assert len(windows) == 3 and all(6 in w for w in windows)  # too short to keep them apart
