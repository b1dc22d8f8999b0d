"""Atomic file and directory writes: a reader sees the old output or the new, never half."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Callable, Iterator


def atomic_file(path: str, write: Callable[[str], None], suffix: str = "") -> None:
    """``write(tmp)`` fills a scratch file beside ``path`` that then replaces ``path``
    (``suffix``: the name ending a writer insists on, such as ``.weights.h5``)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix or os.path.basename(path))
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def atomic_write_text(path: str, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write(text)
    atomic_file(path, write)


@contextlib.contextmanager
def atomic_directory(path: str) -> Iterator[str]:
    """Yields a scratch directory that replaces ``path`` only if the block succeeds."""
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-" + os.path.basename(path))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 would outlive the rename
    try:
        yield tmp
        old = None
        if os.path.exists(path):
            old = tempfile.mkdtemp(dir=parent, prefix=".old-" + os.path.basename(path))
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_save_weights(model, path: str) -> None:
    """A Keras model's weights (``path`` ends in ``.weights.h5``), written atomically."""
    atomic_file(path, model.save_weights, suffix=".weights.h5")


def save_png(path: str, figure) -> None:
    """Saves a matplotlib figure atomically."""
    atomic_file(path, lambda tmp: figure.savefig(tmp, dpi=120, bbox_inches="tight"), suffix=".png")
