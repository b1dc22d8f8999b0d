"""Config fields declared with ``option`` are the flags: one default, one help, one name."""
from __future__ import annotations

import dataclasses

import pytest

from ppvr_tf import options
from ppvr_tf.cli import flags as ppvr_flags
from ppvr_tf.config import ConfigError, ExperimentConfig, ModelConfig
from ppvr_tf.evaluation.two_fold import EvalConfig
from ppvr_tf.options import option


@dataclasses.dataclass(frozen=True)
class _Inner:
    rate: float = option(0.5, "A rate.", flag="inner_rate")
    note: str = "not a flag"


@dataclasses.dataclass(frozen=True)
class _Outer:
    names: tuple[str, ...] = option(("a", "b"), "Names.")
    inner: _Inner = _Inner()


def _parse(*argv: str) -> ExperimentConfig:
    ppvr_flags.F.unparse_flags()
    ppvr_flags.F(["ppvr-train", *argv])
    try:
        return ppvr_flags.experiment_config()
    finally:
        ppvr_flags.F.unparse_flags()


def test_options_name_their_flags_and_skip_plain_fields():
    assert [(o.field, o.flag, o.default) for o in options.options(_Inner)] == [("rate", "inner_rate", 0.5)]
    assert options.nested(_Outer) == {"inner": _Inner}
    assert options.element_type(tuple[float, ...]) is float and options.element_type(int) is None


def test_every_flag_default_is_its_field_default():
    assert _parse() == dataclasses.replace(ExperimentConfig(), eval=dataclasses.replace(
        EvalConfig(), raw_cache_dir=ppvr_flags.F["raw_cache_dir"].default))


def test_flags_set_nested_fields_with_their_types():
    cfg = _parse("--frame_height=48", "--data_seed=7", "--eval_target_lr=0.01", "--motion_thresholds=0.1,0.3",
                 "--attacks=scratch,temporal", "--raw_cache_dir=", "--nofd_skip", "--precision=float32")
    assert (cfg.data.height, cfg.data.seed, cfg.eval.target_lr) == (48, 7, 0.01)
    assert cfg.model.motion_thresholds == (0.1, 0.3) and cfg.eval.attacks == ("scratch", "temporal")
    assert cfg.eval.raw_cache_dir is None  # '' keeps nothing


def test_a_list_flag_with_a_bad_element_names_the_flag():
    with pytest.raises(ConfigError, match="--motion_thresholds: needs float values"):
        _parse("--motion_thresholds=0.1,high")


def test_json_round_trip_restores_tuples_and_defaults_missing_fields():
    cfg = ExperimentConfig(model=ModelConfig(motion_thresholds=(0.2,)), eval=EvalConfig(attacks=("scratch",)))
    assert ExperimentConfig.from_json(cfg.to_json()) == cfg
    assert options.from_dict(_Outer, {"names": ["x"], "inner": {}}) == _Outer(names=("x",))
