"""The raw reference, kept between runs.

What the raw video scores (a fresh fT, attackers trained on raw X) depends on the clips,
the evaluation's configuration, the fresh models' precision, the seed and the code, never
on the fD being judged. Computing it again for every run of a sweep or every
ppvr-evaluate costs most of an evaluation (over an hour on real footage on a CPU), so it
is kept in a directory keyed by all of those: the raw row of results.json (one per seed)
and the weights of every raw-trained attacker, which the pretrained and reconstruction
attacks start from. Files are written atomically; two runs in parallel at worst both
compute the same thing.
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
from typing import Iterable

import numpy as np

from ppvr_tf.data.pipeline import Split
from ppvr_tf.io_utils import atomic_write_text

DEFAULT_ROOT = os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "ppvr_tf", "raw_reference")


def code_version() -> str:
    """A hash of the package's source: changed code never reuses numbers of the old."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(package, "**", "*.py"), recursive=True)):
        digest.update(os.path.relpath(path, package).encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def data_fingerprint(splits: Iterable[Split]) -> str:
    """A hash of the clips and labels as the evaluation reads them (centre-cropped)."""
    digest = hashlib.sha256()
    for split in splits:
        digest.update(np.ascontiguousarray(split.actions).tobytes())
        digest.update(np.ascontiguousarray(split.budget).tobytes())
        for clips in split.clip_dataset().batch(256).as_numpy_iterator():
            digest.update(clips.tobytes())
    return digest.hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class RawCache:
    """One key's directory (None: nothing is kept). ``refresh`` computes everything again
    and overwrites what was there."""
    directory: str | None = None
    refresh: bool = False

    @classmethod
    def open(cls, root: str | None, key: dict, refresh: bool = False) -> "RawCache":
        """The directory under ``root`` for ``key`` (JSON-able), which is written beside
        the results so a person can see what a directory holds."""
        if not root:
            return cls()
        text = json.dumps(key, sort_keys=True, indent=1)
        directory = os.path.join(os.path.expanduser(root), hashlib.sha256(text.encode()).hexdigest()[:16])
        if not os.path.exists(os.path.join(directory, "key.json")):
            atomic_write_text(os.path.join(directory, "key.json"), text)
        return cls(directory, refresh)

    def reference(self, seed: int) -> dict | None:
        """The raw row of results.json stored for ``seed``, if any (and not refreshing)."""
        path = self._path(f"reference_s{seed}.json")
        if path is None or self.refresh or not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def store_reference(self, seed: int, result: dict) -> None:
        path = self._path(f"reference_s{seed}.json")
        if path is not None:
            atomic_write_text(path, json.dumps(result, indent=1))

    def weights(self, name: str, seed: int, shape: tuple) -> str | None:
        """Where the raw-trained attacker ``name`` of ``seed`` for clips of ``shape`` lives."""
        return self._path(f"{name}_s{seed}_{'x'.join(map(str, shape))}.weights.h5")

    def _path(self, name: str) -> str | None:
        return None if self.directory is None else os.path.join(self.directory, name)
