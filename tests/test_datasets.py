"""Every builder on small data in the official layouts; bad input gives named errors."""
from __future__ import annotations

import glob
import os
import threading

import numpy as np
import pytest

import fixtures
from ppvr_tf.data import loader, pipeline, tasks, video
from ppvr_tf.data.builders import base, hmdb51, manifest, pa_hmdb51, sbu, ucf101, vispr

SPEC = video.ClipSpec(num_frames=4, height=24, width=32)


def build(builder_class, root, tmp_path, variant="default", **kwargs):
    config = base.clip_config(variant, SPEC, **kwargs)
    return base.prepare(builder_class, root, config, str(tmp_path / "cache"))


def counts(builder):
    return {name: info.num_examples for name, info in builder.info.splits.items()}


def test_ucf101_builds_with_official_lists_and_case_mismatch(tmp_path):
    root = fixtures.make_ucf101(str(tmp_path / "ucf"))
    builder = build(ucf101.Ucf101, root, tmp_path, variant="1")
    labels = base.labels_of(builder)
    assert labels.action_names == fixtures.UCF_CLASSES and labels.privacy_kind == tasks.NONE
    assert counts(builder) == {"train": 9, "val": 3, "test": 6}
    actions, _ = base.read_labels(builder, "test")
    assert sorted(actions) == [0, 0, 1, 1, 2, 2]  # HandstandPushups/ videos were found
    clip = next(iter(base.clip_dataset(builder, "train")))
    assert clip.shape == (4, 24, 32, 3) and clip.dtype.name == "uint8"


def test_hmdb51_official_and_privacy_splits(tmp_path):
    root = fixtures.make_hmdb51(str(tmp_path / "hmdb"))
    official = hmdb51.index(root, "1")[1]
    assert len(official["test"]) == 3 and len(official["train"]) + len(official["val"]) == 12
    pa_dir = fixtures.make_pa_hmdb51(str(tmp_path / "pa"))
    private = hmdb51.index(root, "pa", pa_dir)[1]
    assert sorted(r.key for r in private["test"]) == sorted(
        f"{a}/{fixtures.hmdb_video(a, i)}" for a in fixtures.HMDB_ACTIONS for i in (4, 5))
    assert len(private["train"]) + len(private["val"]) == 12  # every other video, unused ones too
    assert hmdb51.is_validation("x.avi") == hmdb51.is_validation("x.avi")


def test_pa_hmdb51_clip_labels(tmp_path):
    root = fixtures.make_hmdb51(str(tmp_path / "hmdb"))
    pa_dir = fixtures.make_pa_hmdb51(str(tmp_path / "pa"))
    builder = build(pa_hmdb51.PaHmdb51, root, tmp_path, variant="binary", labels_path=pa_dir)
    assert base.labels_of(builder).privacy_names == tuple(pa_hmdb51.ATTRIBUTES)
    _, privacy = base.read_labels(builder, "test")
    # One centred 4-frame window of 12 frames: frames 4-7. skin 1 on 4-5 -> 1; face
    # unlabeled on 4-7 -> missing; gender [1,2] -> 1; nudity 0; relationship index % 2.
    assert privacy.shape == (6, 5)
    np.testing.assert_array_equal(privacy[:, :4], [[1, tasks.MISSING, 1, 0]] * 6)
    assert sorted(privacy[:, 4]) == [0, 0, 0, 1, 1, 1]
    labels = pa_hmdb51.frame_labels(pa_hmdb51.read_all(pa_dir)[fixtures.hmdb_video("kick", 5)][1],
                                    "multiclass")
    clip = pa_hmdb51.clip_label(labels, np.arange(0, 4))
    names = pa_hmdb51.label_names("multiclass")
    assert clip[names.index("gender=male")] == clip[names.index("gender=female")] == 1
    assert clip[names.index("gender=cannot_tell")] == 0
    assert clip[names.index("face=whole")] == 1 and clip[names.index("face=invisible")] == 0
    np.testing.assert_array_equal(pa_hmdb51.clip_label(labels, np.arange(20, 24)), [tasks.MISSING] * 15)


def test_vispr_images_become_one_frame_clips(tmp_path):
    root = fixtures.make_vispr(str(tmp_path / "vispr"))
    builder = build(vispr.Vispr, root, tmp_path, variant="pa_hmdb51")
    assert counts(builder) == {"train": 4, "val": 4, "test": 4}
    _, privacy = base.read_labels(builder, "train")
    assert sorted(map(tuple, privacy)) == sorted([(1, 1, 1, 0, 0), (0, 0, 0, 0, 0), (0, 0, 0, 1, 1),
                                                  (0, 1, 0, 0, 0)])
    assert next(iter(base.clip_dataset(builder, "test"))).shape == (1, 24, 32, 3)


def test_sbu_actor_pairs_and_split(tmp_path):
    root = fixtures.make_sbu(str(tmp_path / "sbu"))
    labels, splits = sbu.index(root)
    assert len(labels.privacy_names) == 13 and labels.action_names == sbu.ACTIONS
    pairs = {name: {int(r.privacy[0]) for r in records} for name, records in splits.items()}
    assert pairs["train"] == pairs["test"] == {0, 1, 6}  # s01s02 and s02s01 are one class
    assert sum(map(len, splits.values())) == 32
    assert all(r.path.endswith("rgb_*.png") for r in splits["train"])
    builder = build(sbu.Sbu, root, tmp_path)
    clip = next(iter(base.clip_dataset(builder, "train")))
    assert int(np.asarray(clip).max()) == 255  # rgb frames, not the black depth ones


def test_manifest_single_and_multi_label(tmp_path):
    single = fixtures.make_manifest(str(tmp_path / "m"), "single")
    labels, splits = manifest.index(single)
    assert labels.privacy_kind == tasks.SINGLE and labels.privacy_names == ("alice", "bob")
    assert labels.action_names == ("enter", "leave")
    assert [len(splits[s]) for s in ("train", "val", "test")] == [7, 2, 3]
    multi = fixtures.make_manifest(str(tmp_path / "m"), "multi")
    labels, splits = manifest.index(multi)
    assert labels.privacy_kind == tasks.MULTI
    assert labels.privacy_names == ("person=alice", "person=bob", "badge", "zone=0", "zone=1", "zone=2")
    row5 = next(r for s in splits.values() for r in s if r.key.startswith("7:"))  # CSV line 7 = index 5
    assert row5.privacy == (1.0, 0.0, 1.0, tasks.MISSING, tasks.MISSING, tasks.MISSING)  # alice, badge 1


def test_loader_cross_dataset_hmdb51_vispr_pa(tmp_path):
    source = loader.SourceConfig(
        data_dir=fixtures.make_hmdb51(str(tmp_path / "hmdb")), split="pa",
        privacy_dataset="vispr", privacy_data_dir=fixtures.make_vispr(str(tmp_path / "vispr")),
        attribute_set="pa_hmdb51", privacy_test_dataset="pa_hmdb51",
        pa_hmdb51_dir=fixtures.make_pa_hmdb51(str(tmp_path / "pa")), cache_dir=str(tmp_path / "cache"),
        resize_height=24, resize_width=32)
    data = loader.load("hmdb51", source, (4, 16, 16, 3))
    assert data.cross_dataset and data.budget_task.names == tuple(pa_hmdb51.ATTRIBUTES)
    assert len(data.test) == 6 and len(data.privacy[0]) == 4 and len(data.privacy[2]) == 6
    batch = next(iter(pipeline.training_stream(data, batch_size=2)))
    assert batch["clips"].shape == (2, 4, 16, 16, 3) and batch["budget_clips"].shape == (2, 1, 16, 16, 3)
    assert batch["budget"].shape == (2, 5)


# -- bad input ------------------------------------------------------------------

def test_missing_root_and_split_file(tmp_path):
    with pytest.raises(base.DatasetError, match="dataset root not found"):
        build(ucf101.Ucf101, str(tmp_path / "absent"), tmp_path, variant="1")
    root = fixtures.make_ucf101(str(tmp_path / "ucf"))
    with pytest.raises(base.DatasetError, match=r"trainlist02\.txt: split/list file not found"):
        ucf101.index(root, 2)


def test_unknown_class_names_the_list_and_line(tmp_path):
    root = fixtures.make_ucf101(str(tmp_path / "ucf"))
    with open(os.path.join(root, "ucfTrainTestlist", "testlist01.txt"), "a") as f:
        f.write("Juggling/v_Juggling_g01_c01.avi\r\n")
    with pytest.raises(base.DatasetError, match=r"testlist01\.txt: line 7: unknown class 'Juggling'"):
        ucf101.index(root, 1)


def test_malformed_json_is_named(tmp_path):
    root = fixtures.make_vispr(str(tmp_path / "vispr"))
    bad = sorted(glob.glob(os.path.join(root, "annotations", "val2017", "*.json")))[0]
    with open(bad, "w") as f:
        f.write('{"id": "2017_1", "labels": [')
    with pytest.raises(base.DatasetError, match=f"{os.path.basename(bad)}: not valid JSON"):
        vispr.index(root, "ucf101")
    pa_dir = fixtures.make_pa_hmdb51(str(tmp_path / "pa"))
    with open(os.path.join(pa_dir, "PrivacyAttributes", "kick.json"), "w") as f:
        f.write('{"video.avi": {"face": [[0, 3, 7]]}}')
    with pytest.raises(base.DatasetError, match="kick.json: video.avi: attribute 'skin_color' missing"):
        pa_hmdb51.read_all(pa_dir)


def test_empty_split_and_bad_manifest(tmp_path):
    path = fixtures.make_manifest(str(tmp_path / "m"), "single")
    rows = open(path).read().splitlines()
    with open(path, "w") as f:
        f.write("\n".join(r for r in rows if ",val," not in r) + "\n")
    with pytest.raises(base.DatasetError, match="the val split has no rows"):
        manifest.index(path)
    with open(path, "w") as f:
        f.write("path,split,action,person\nvideos/clip_00.avi,training,enter,alice\n")
    with pytest.raises(base.DatasetError, match="line 2: split must be one of train, val, test"):
        manifest.index(path)
    with open(path, "w") as f:
        f.write("file,split,action\n")
    with pytest.raises(base.DatasetError, match="the header must start with path,split,action"):
        manifest.index(path)


def test_corrupt_video_is_skipped_and_counted_or_fatal_when_strict(tmp_path):
    root = fixtures.make_ucf101(str(tmp_path / "ucf"))
    broken = os.path.join(root, "UCF-101", "Archery", "v_Archery_g08_c01.avi")
    fixtures.truncate(broken)
    with pytest.raises(video.MediaError, match="v_Archery_g08_c01.avi: "):
        build(ucf101.Ucf101, root, tmp_path, variant="1", strict=True)
    cache = tmp_path / "cache"
    assert not glob.glob(str(cache / "ucf101" / "**" / "*.tfrecord*"), recursive=True)
    assert not glob.glob(str(cache / "ucf101" / "*" / "1.0.0")), "nothing half-built is left"
    builder = build(ucf101.Ucf101, root, tmp_path, variant="1")
    assert counts(builder)["train"] == 8
    skipped = builder.info.metadata["skipped"]["train"]
    assert len(skipped) == 1 and "v_Archery_g08_c01.avi: " in skipped[0]


def test_truncated_and_unreadable_videos_are_media_errors(tmp_path):
    whole = fixtures.write_avi(str(tmp_path / "long.avi"), fixtures.frames(0, 0, count=30))
    assert len(video.read_video(whole, SPEC)) == 30
    with pytest.raises(video.MediaError, match=r"long.avi: truncated: decoded \d+ of the 30 frames"):
        video.read_video(fixtures.truncate(whole), SPEC)
    path = tmp_path / "notes.avi"
    path.write_text("not a video")
    with pytest.raises(video.MediaError, match="notes.avi: OpenCV cannot open it"):
        video.read_video(str(path), SPEC)


def test_runs_started_together_take_turns_building_the_cache(tmp_path, monkeypatch):
    """A run that finds another building the same cache waits for it, then reuses it
    (unguarded, the later of two concurrent builds failed to move its copy into place)."""
    csv = fixtures.make_manifest(str(tmp_path / "m"), "single")
    root, config = os.path.dirname(csv), base.clip_config(manifest.variant(csv), SPEC, labels_path=csv)
    started, built = threading.Event(), []
    prepare_for_real = manifest.Manifest.download_and_prepare

    def spy(builder, **kwargs):
        started.set()
        prepare_for_real(builder, **kwargs)
        built.append(builder.is_prepared())
    monkeypatch.setattr(manifest.Manifest, "download_and_prepare", spy)
    cache = str(tmp_path / "cache")
    with base.preparation_lock(cache, manifest.Manifest.name, config.name):  # another run's build
        second = threading.Thread(target=base.prepare, args=(manifest.Manifest, root, config, cache))
        second.start()
        assert not started.wait(2.0), "prepared while another run held the cache"
    second.join(120)
    assert started.is_set() and built == [True]
    assert base.prepare(manifest.Manifest, root, config, cache).is_prepared()
