"""Command-line flags of the experiments, made from the configuration dataclasses.

Every field declared with ``ppvr_tf.options.option`` (in ``config.py`` and the configs it
nests) is one absl flag with the field's default and help; :func:`experiment_config`
builds the dataclasses back from the parsed flags. Defaults are the paper's (SBU column of
REFERENCE §2); the flagfiles under ``flags/`` set each experiment.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from absl import flags

from ppvr_tf import options
from ppvr_tf.config import ConfigError, ExperimentConfig
from ppvr_tf.training.precision import resolve

F = flags.FLAGS

flags.DEFINE_string("workdir", None, "Where checkpoints, SavedModels and results go.")
flags.DEFINE_integer("verbose", 1, "Training output: 0 none, 1 progress lines (phase, iteration, key numbers, "
                     "time left), 2 also Keras' line per epoch.")


def _define(option: options.Option) -> None:
    if option.choices:
        flags.DEFINE_enum(option.flag, option.default, list(option.choices), option.help)
    elif options.element_type(option.kind) is not None:
        flags.DEFINE_list(option.flag, [str(v) for v in option.default], option.help)
    elif option.kind is bool:
        flags.DEFINE_bool(option.flag, option.default, option.help)
    elif option.kind is int:
        flags.DEFINE_integer(option.flag, option.default, option.help)
    elif option.kind is float:
        flags.DEFINE_float(option.flag, option.default, option.help)
    else:  # str, or str | None where '' means None
        flags.DEFINE_string(option.flag, option.default, option.help)


def _define_all(cls: type) -> None:
    for option in options.options(cls):
        _define(option)
    for inner in options.nested(cls).values():
        _define_all(inner)


_define_all(ExperimentConfig)


def _value(option: options.Option) -> Any:
    value = F[option.flag].value
    element = options.element_type(option.kind)
    if element is not None:
        try:
            return tuple(element(v) for v in value)
        except ValueError:
            raise ConfigError(option.flag, f"needs {element.__name__} values, got {','.join(value)}") from None
    if option.kind == str | None:
        return value or None
    return value


def from_flags(cls: type, only_given: bool = False) -> dict[str, Any]:
    """The fields of ``cls`` its flags set (all of them, or only those given on the command
    line), by field name; nested configs are not included."""
    return {o.field: _value(o) for o in options.options(cls) if not only_given or F[o.flag].present}


def given(cls: type) -> bool:
    """Whether any flag of ``cls`` (not of its nested configs) was given on the command line."""
    return any(F[o.flag].present for o in options.options(cls))


def build(cls: type) -> Any:
    """``cls`` with its nested configs, every field from its flag."""
    return cls(**from_flags(cls), **{name: build(inner) for name, inner in options.nested(cls).items()})


def experiment_config() -> ExperimentConfig:
    """The configuration the parsed flags describe (not yet validated)."""
    cfg = build(ExperimentConfig)
    return dataclasses.replace(cfg, precision=resolve(cfg.precision))
