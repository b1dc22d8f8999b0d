"""Configuration fields that are also command-line flags: one declaration, one source of truth.

A dataclass field declared with :func:`option` carries its flag's help text, and its name
on the command line where that differs from the field's. ``ppvr_tf.cli.flags`` defines the
absl flags from these fields and builds the dataclasses back from the parsed flags, so a
new setting is one line in its dataclass. Plain fields (no ``option``) are not flags.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, Iterator

_UNSET = object()


def option(default: Any, help: str, *, flag: str | None = None, choices: tuple[str, ...] | None = None,
           flag_default: Any = _UNSET) -> Any:
    """A dataclass field that is the flag ``--flag`` (default: the field's name).

    ``choices`` makes a closed set of values an enum flag. ``flag_default`` is the flag's
    default where the command line should differ from library callers (e.g. keeping
    results on disk); the flag's value then maps back through the field's type.
    """
    metadata = {"help": help, "flag": flag, "choices": choices,
                "flag_default": default if flag_default is _UNSET else flag_default}
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Option:
    """One flag-backed field of a config dataclass."""

    field: str
    flag: str
    kind: Any  # the field's resolved type, e.g. int, str | None, tuple[float, ...]
    help: str
    default: Any  # the flag's default
    choices: tuple[str, ...] | None


def options(cls: type) -> Iterator[Option]:
    """The flag-backed fields of ``cls`` (not of the dataclasses nested in it)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if "help" in f.metadata:
            yield Option(f.name, f.metadata["flag"] or f.name, hints[f.name], f.metadata["help"],
                         f.metadata["flag_default"], f.metadata["choices"])


def nested(cls: type) -> dict[str, type]:
    """Fields of ``cls`` that are themselves config dataclasses: name -> class."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])}


def element_type(kind: Any) -> type | None:
    """``float`` for ``tuple[float, ...]``; None for a type that is not a tuple."""
    if typing.get_origin(kind) is tuple:
        return typing.get_args(kind)[0]
    return None


def from_dict(cls: type, raw: dict) -> Any:
    """``cls`` (nested configs included) from ``dataclasses.asdict`` output read back from
    JSON: lists become tuples again; fields a dict lacks (older runs) keep their defaults."""
    hints = typing.get_type_hints(cls)
    inner = nested(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        value = raw[f.name]
        if f.name in inner:
            value = from_dict(inner[f.name], value)
        elif element_type(hints[f.name]) is not None:
            value = tuple(value)
        values[f.name] = value
    return cls(**values)
