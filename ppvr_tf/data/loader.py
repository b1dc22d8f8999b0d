"""From flags to a ``Dataset``: builds (once) and reads the tfds caches of real datasets.

Same-dataset runs take actions and privacy from one source (SBU, a manifest).
Cross-dataset runs (paper §3.6) take actions from UCF101/HMDB51 and privacy from
VISPR; the HMDB51 experiment judges both tasks on PA-HMDB51 (``--split=pa``,
``--privacy_test_dataset=pa_hmdb51``) without retraining anything on it.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
from absl import logging

from ppvr_tf.data import video
from ppvr_tf.data.builders import BUILDERS, base, manifest
from ppvr_tf.data.pipeline import Dataset, Split
from ppvr_tf.data.tasks import MULTI, NONE, SINGLE, BudgetTask
from ppvr_tf.options import option

REAL_DATASETS = ("sbu", "ucf101", "hmdb51", "manifest")  # --dataset values besides synthetic
PRIVACY_DATASETS = ("vispr",)
PRIVACY_TEST_DATASETS = ("pa_hmdb51",)
ACTION_ONLY = ("ucf101", "hmdb51")
SHUFFLE_BUFFER = 256  # clips of 120x160x16 take about 1 MB each


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """Where real data lives and how clips are cut from it."""

    data_dir: str = option("", "Root of --dataset in its official layout.")
    split: str = option("1", "UCF101/HMDB51 split 1-3; HMDB51 'pa': test = PA-HMDB51 videos.")
    manifest: str = option("", "--dataset=manifest: CSV with header path,split,action,<privacy>...")
    privacy_dataset: str = option("", "Cross-dataset training: privacy labels from here (vispr).")
    privacy_data_dir: str = option("", "Root of --privacy_dataset.")
    attribute_set: str = option("ucf101", "VISPR attributes: ucf101 (the paper's 7) or pa_hmdb51 (5).")
    privacy_test_dataset: str = option("", "Judge privacy on this dataset instead (pa_hmdb51).")
    pa_hmdb51_dir: str = option("", "PA-HMDB51 annotations (the folder with PrivacyAttributes/).")
    pa_view: str = option("binary", "PA-HMDB51 labels: binary (can tell) or multiclass.")
    cache_dir: str = option("~/tensorflow_datasets", "Where decoded clips are cached (TFRecord).")
    resize_height: int = option(120, "Real data: frames are resized to this height, then cropped.")
    resize_width: int = option(160, "Real data: frames are resized to this width, then cropped.")
    clips_per_video: int = option(1, "Real data: clips cut from each video.")
    frame_stride: int = option(1, "Real data: take every n-th frame within a clip.")
    clip_selection: str = option("even", "Real data: which clips: evenly spaced, or those where most "
                                 "moves (frame differences).", choices=video.SELECTIONS)
    limit_videos: int = option(0, "Real data: at most this many videos per split (0: all).")
    decode_workers: int = option(0, "Real data: decoding threads (0: one per CPU).")
    strict: bool = option(False, "Real data: stop at an undecodable video instead of skipping it.")


def _builder(name: str, root: str, variant: str, source: SourceConfig, num_frames: int,
             labels_path: str = "") -> base.ClipBuilder:
    spec = video.ClipSpec(num_frames, source.resize_height, source.resize_width,
                          source.clips_per_video, source.frame_stride, source.clip_selection)
    config = base.clip_config(variant, spec, source.limit_videos, source.decode_workers,
                              source.strict, labels_path=labels_path)
    logging.info("dataset %s (%s) from %s; cache in %s", name, config.name, root, source.cache_dir)
    return base.prepare(BUILDERS[name], root, config, os.path.expanduser(source.cache_dir))


def _splits(builder: base.ClipBuilder, names, crop) -> list[Split]:
    labels = base.labels_of(builder)
    splits = []
    for name in names:
        actions, privacy = base.read_labels(builder, name)
        budget = privacy[:, 0].astype(np.int64) if labels.privacy_kind == SINGLE else privacy
        splits.append(Split(lambda b=builder, n=name: base.clip_dataset(b, n), actions, budget,
                            crop=crop, shuffle_buffer=SHUFFLE_BUFFER))
    return splits


def _skipped(*builders: base.ClipBuilder) -> dict[str, list[str]]:
    return {f"{b.name}/{split}": problems for b in builders
            for split, problems in b.info.metadata.get("skipped", {}).items() if problems}


def _budget_task(labels: base.Labels, where: str) -> BudgetTask:
    if labels.privacy_kind == NONE:
        raise ValueError(f"{where} has no privacy labels: add --privacy_dataset=vispr")
    return BudgetTask(SINGLE if labels.privacy_kind == SINGLE else MULTI,
                      len(labels.privacy_names), labels.privacy_names)


def load(dataset: str, source: SourceConfig, clip_shape: tuple[int, int, int, int]) -> Dataset:
    """The Dataset of a real dataset (decoding and caching it the first time)."""
    crop = clip_shape[1:3]
    num_frames = clip_shape[0]
    if dataset == "manifest":
        action_builder = _builder("manifest", os.path.dirname(os.path.abspath(source.manifest)),
                                  manifest.variant(source.manifest), source, num_frames,
                                  labels_path=os.path.abspath(source.manifest))
    else:
        variant = source.split if dataset in ACTION_ONLY else "default"
        action_builder = _builder(dataset, source.data_dir, variant, source, num_frames,
                                  labels_path=source.pa_hmdb51_dir if source.split == "pa" else "")
    action_labels = base.labels_of(action_builder)
    train, val, test = _splits(action_builder, ("train", "val", "test"), crop)
    if not source.privacy_dataset:
        task = _budget_task(action_labels, dataset)
        return Dataset(train, val, test, action_labels.action_names, task, clip_shape,
                       skipped=_skipped(action_builder))

    privacy_builder = _builder(source.privacy_dataset, source.privacy_data_dir, source.attribute_set,
                               source, num_frames)
    privacy_labels = base.labels_of(privacy_builder)
    privacy = _splits(privacy_builder, ("train", "val", "test"), crop)
    builders = [action_builder, privacy_builder]
    if source.privacy_test_dataset:
        test_builder = _builder(source.privacy_test_dataset, source.data_dir, source.pa_view, source,
                                num_frames, labels_path=source.pa_hmdb51_dir)
        test_labels = base.labels_of(test_builder)
        if test_labels.privacy_names != privacy_labels.privacy_names:
            raise ValueError(f"--privacy_test_dataset={source.privacy_test_dataset} labels "
                             f"{test_labels.privacy_names} differ from the training privacy labels "
                             f"{privacy_labels.privacy_names}: use --attribute_set=pa_hmdb51 "
                             "--pa_view=binary")
        privacy[2] = _splits(test_builder, ("test",), crop)[0]
        builders.append(test_builder)
    return Dataset(train, val, test, action_labels.action_names,
                   _budget_task(privacy_labels, source.privacy_dataset), clip_shape,
                   privacy=tuple(privacy), skipped=_skipped(*builders))
