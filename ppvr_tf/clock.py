"""Durations as the progress lines print them (``m:ss``, ``h:mm:ss``), and back."""
from __future__ import annotations


def clock(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}" if minutes >= 60 else f"{minutes}:{seconds:02d}"


def seconds_of(text: str) -> int:
    """The seconds ``clock`` printed as ``text``."""
    seconds = 0
    for part in text.split(":"):
        seconds = 60 * seconds + int(part)
    return seconds
