"""Errors of bad input data: each names the file (or folder) and what is wrong with it."""
from __future__ import annotations


class DataError(ValueError):
    def __init__(self, path: str, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path


class MediaError(DataError):
    """A video, frame folder or image that cannot be read."""


class DatasetError(DataError):
    """A dataset directory, list or annotation file that does not hold what it should."""
