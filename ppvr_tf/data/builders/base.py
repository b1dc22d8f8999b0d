"""The shared tfds builder: an index of labelled media -> a cache of decoded clips.

Each dataset module parses its official layout into ``Record``s (one per video,
frame folder or image) and says what the labels mean (``Labels``). This base
decodes the records in parallel threads (OpenCV releases the GIL), cuts the clips
of ``ClipSpec`` and lets tfds write them as TFRecords. tfds writes into a
temporary directory and renames it when every split is complete, so a failed or
interrupted build leaves nothing half-built behind.

A record that cannot be decoded is skipped with a warning and counted in the
cache's ``metadata.json`` (``skipped``); with ``strict`` it stops the build.
"""
from __future__ import annotations

import abc
import concurrent.futures
import contextlib
import dataclasses
import fcntl
import os
from typing import Callable, Iterable, Iterator

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from ppvr_tf.data import video
from ppvr_tf.data.errors import DatasetError, MediaError
from ppvr_tf.registry import Registry

SPLITS = ("train", "val", "test")
BUILDERS: Registry[type["ClipBuilder"]] = Registry("dataset")  # --dataset / --privacy_dataset name -> builder


@dataclasses.dataclass(frozen=True)
class Labels:
    """What a dataset's labels mean."""

    action_names: tuple[str, ...]  # empty for privacy-only data (VISPR)
    privacy_kind: str  # SINGLE (class id), MULTI (binary vector) or NONE
    privacy_names: tuple[str, ...] = ()  # classes (single) or binary labels (multi)

    def to_metadata(self) -> dict:
        return {"action_names": list(self.action_names), "privacy_kind": self.privacy_kind,
                "privacy_names": list(self.privacy_names)}

    @classmethod
    def from_metadata(cls, raw: dict) -> "Labels":
        return cls(tuple(raw["action_names"]), raw["privacy_kind"], tuple(raw["privacy_names"]))


FrameLabeller = Callable[[np.ndarray], np.ndarray]  # frame indices of a clip -> its privacy vector


@dataclasses.dataclass(frozen=True)
class Record:
    """One labelled video, frame folder or image of a split."""

    key: str
    path: str
    action: int = -1
    privacy: tuple[float, ...] = ()  # (class id,) or the binary vector; () if none
    frame_privacy: FrameLabeller | None = None  # labels that depend on the clip's frames


@dataclasses.dataclass
class ClipConfig(tfds.core.BuilderConfig):
    """A dataset variant (``variant``: split number, attribute set, ...) and its clip recipe."""

    variant: str = "default"
    labels_path: str = ""  # labels kept outside the root: PA-HMDB51 annotations, a manifest CSV
    clip: video.ClipSpec = video.ClipSpec()
    limit: int = 0  # keep at most this many records per split (0: all), for quick runs
    workers: int = 0  # decoding threads (0: one per CPU)
    strict: bool = False  # an undecodable record stops the build instead of being skipped


def clip_config(variant: str, clip: video.ClipSpec, limit: int = 0, workers: int = 0,
                strict: bool = False, labels_path: str = "") -> ClipConfig:
    name = f"{variant}_{clip.name}" + (f"_limit{limit}" if limit else "")
    return ClipConfig(name=name, variant=variant, labels_path=labels_path, clip=clip,
                      limit=limit, workers=workers, strict=strict)


class ClipBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Subclasses implement ``index`` for their official layout."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [clip_config("default", video.ClipSpec())]

    @abc.abstractmethod
    def index(self, root: str) -> tuple[Labels, dict[str, list[Record]]]:
        """The labels and the records of each split found under ``root``."""

    def _info(self) -> tfds.core.DatasetInfo:
        spec = self.builder_config.clip
        return tfds.core.DatasetInfo(
            builder=self, description=self.__doc__,
            features=tfds.features.FeaturesDict({
                "clip": tfds.features.Video((None, spec.height, spec.width, 3)),
                "action": tfds.features.Scalar(np.int64),
                "privacy": tfds.features.Tensor(shape=(None,), dtype=np.float32),
                "key": tfds.features.Text()}),
            metadata=tfds.core.MetadataDict())

    def _split_generators(self, dl_manager):
        root = str(dl_manager.manual_dir)  # ``prepare`` has checked that it exists
        labels, splits = self.index(root)
        for name, records in splits.items():
            if not records:
                raise DatasetError(root, f"the {name} split is empty: no {self.name} records "
                                         "were found for it")
        self.info.metadata["labels"] = labels.to_metadata()
        self.info.metadata["skipped"] = {}
        limit = self.builder_config.limit
        return {name: self._generate_examples(name, records[:limit] if limit else records)
                for name, records in splits.items()}

    def _generate_examples(self, split: str, records: list[Record]) -> Iterator[tuple[str, dict]]:
        spec, skipped = self.builder_config.clip, []
        for record, clips in _decode_all(records, spec, self.builder_config.workers):
            if isinstance(clips, MediaError):
                if self.builder_config.strict:
                    raise clips
                logging.warning("skipping %s", clips)
                skipped.append(str(clips))
                continue
            for window, (clip, indices) in enumerate(clips):
                privacy = (record.frame_privacy(indices) if record.frame_privacy
                           else np.asarray(record.privacy, np.float32))
                yield f"{record.key}#{window}", {"clip": clip, "action": record.action,
                                                 "privacy": privacy, "key": record.key}
        self.info.metadata["skipped"][split] = skipped
        if skipped:
            logging.warning("%s/%s: skipped %d of %d records that could not be decoded",
                            self.name, split, len(skipped), len(records))
        if len(skipped) == len(records):
            raise DatasetError(split, f"none of the {len(records)} records could be decoded "
                                      f"(first problem: {skipped[0] if skipped else 'no records'})")


def _decode_all(records: list[Record], spec: video.ClipSpec, workers: int
                ) -> Iterable[tuple[Record, list | MediaError]]:
    """Decodes in parallel threads, in order, with a bounded number in flight."""
    def decode(record):
        try:
            return record, video.read_clips(record.path, spec)
        except MediaError as error:
            return record, error

    workers = workers or os.cpu_count() or 1
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        pending = []
        for record in records:
            pending.append(pool.submit(decode, record))
            if len(pending) > 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


def prepare(builder_class: type[ClipBuilder], root: str, config: ClipConfig,
            cache_dir: str) -> ClipBuilder:
    """The builder with its cache built (decoding ``root`` once; later runs reuse it).

    Runs started together (a sweep's ``--jobs``, seeds side by side) take turns: the first
    builds the cache and the others find it built; unguarded, the second to finish failed
    to move its copy into place."""
    with preparation_lock(cache_dir, builder_class.name, config.name):
        builder = builder_class(config=config, data_dir=cache_dir)
        if not builder.is_prepared() and not os.path.isdir(root):
            raise DatasetError(root, f"dataset root not found (and no cache in {cache_dir}); expected:\n"
                                     f"{builder.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=root))
    return builder


@contextlib.contextmanager
def preparation_lock(cache_dir: str, name: str, config_name: str) -> Iterator[None]:
    """An exclusive lock, across processes, on one builder configuration's cache (closing
    the file releases it)."""
    folder = os.path.join(cache_dir, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f".{config_name}.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def labels_of(builder: ClipBuilder) -> Labels:
    return Labels.from_metadata(builder.info.metadata["labels"])


def read_labels(builder: ClipBuilder, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(actions, privacy) of a split in ``as_dataset`` order, without decoding a clip."""
    ds = builder.as_dataset(split, shuffle_files=False,
                            decoders={"clip": tfds.decode.SkipDecoding()})
    actions, privacy = [], []
    for example in ds.map(lambda ex: (ex["action"], ex["privacy"])).as_numpy_iterator():
        actions.append(example[0])
        privacy.append(example[1])
    return np.asarray(actions, np.int64), np.asarray(privacy, np.float32)


def read_lines(path: str) -> list[str]:
    """Non-empty lines of a text list, whatever its line ends (UCF101's are CRLF)."""
    if not os.path.isfile(path):
        raise DatasetError(path, "split/list file not found")
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f.read().splitlines() if line.strip()]


def clip_dataset(builder: ClipBuilder, split: str) -> tf.data.Dataset:
    """The uint8 clips of a split, in ``read_labels`` order."""
    return builder.as_dataset(split, shuffle_files=False).map(lambda ex: ex["clip"])
