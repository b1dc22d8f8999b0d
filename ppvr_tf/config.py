"""One experiment's configuration, built from flags and checked before any work starts."""
from __future__ import annotations

import dataclasses
import json

from ppvr_tf import options
from ppvr_tf.data import loader, synthetic, video
from ppvr_tf.data.builders import pa_hmdb51, vispr
from ppvr_tf.data.loader import SourceConfig
from ppvr_tf.data.synthetic import SyntheticConfig
from ppvr_tf.evaluation import attacks
from ppvr_tf.evaluation.two_fold import EvalConfig
from ppvr_tf.models import baselines, budget, degradation, target
from ppvr_tf.models.fast_conv import MODES as FAST_CONV_MODES
from ppvr_tf.options import option
from ppvr_tf.training import distribute, precision
from ppvr_tf.training import methods
from ppvr_tf.training.schedule import ScheduleConfig


class ConfigError(ValueError):
    """A bad setting; ``flag`` names the flag to fix."""

    def __init__(self, flag: str, message: str):
        super().__init__(f"--{flag}: {message}")
        self.flag = flag


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    degradation: str = option(
        "transformer", "fD: transformer (the paper's), mcu (for microcontrollers), bdq (the peer), identity "
        "(raw), or a fixed baseline: downsample, blur, crop_face, crop_whole, motion.")
    fd_width: float = option(1.0, "Channel multiplier of the transformer fD.")
    fd_residual_blocks: int = option(5, "Residual blocks of the transformer fD.")
    fd_grayscale: bool = option(False, "fD output converted to gray (the paper's SBU runs).")
    fd_skip: bool = option(False, "Transformer and mcu fD: fD(x) = clip(x + delta(x), 0, 1), starting as the "
                           "identity (not the paper's; its fD cannot be the identity).")
    fd_logit_bound: float = option(0.0, "mcu fD: a penalty keeps its output logits within about +-bound "
                                   "(0: none), so that int8 keeps the output's fidelity.")
    fd_logit_margin: float = option(0.0, "mcu fD with --fd_logit_bound: the same penalty also keeps its output "
                                    "logits at least this far from 0 (0: none), so the output stays near-binary "
                                    "and int8 noise does not flip pixels.")
    fd_logit_margin_from: int = option(0, "With --fd_logit_margin: the adversarial iteration (from 1) from which "
                                       "the margin charges, so fD and fT first learn on a graded output "
                                       "(0: from fD's first pretraining step).")
    fd_levels: int = option(0, "Transformer and mcu fD: each output channel leaves the camera as one of this many "
                            "values, switched at learned thresholds (0: no such bottleneck; not the paper's).")
    fd_bottleneck: bool = option(False, "mcu fD: build the output from the 1/4-resolution features alone, without "
                                 "the skip from the 1/2-resolution stage (no fine detail passes; not the paper's).")
    target_model: str = option("c3d", "fT: c3d (the paper's).")
    target_width: float = option(1.0, "Channel multiplier of C3D.")
    target_fc_units: int = option(4096, "C3D fully connected units (before the width multiplier).")
    target_dropout: float = option(0.5, "C3D dropout.")
    target_batch_norm: bool = option(False, "Batch norm after C3D convs (quick runs).")
    target_weight_decay: float = option(5e-4, "C3D L2 weight decay.")
    budget_family: str = option("mobilenet_v1", "Family of the budget models fB.")
    budget_width: float = option(0.6, "Width multiplier of the first budget model.")
    budget_width_step: float = option(-0.02, "Width change from one budget model to the next.")
    num_budget_models: int = option(1, "M (entropy/grl ensemble) or K (kbeam beams).")
    fast_conv: str = option("auto", "Train fD's 9x9 conv to RGB and fT's first conv (its input gradient) by "
                            "kernel rows: the same sums in another order, faster with oneDNN on CPUs "
                            "(docs/benchmarks.md). auto: on machines without a GPU or TPU.",
                            choices=FAST_CONV_MODES)
    inversion_budget: bool = option(False, "One more budget model, R(g(fD(x))): an inversion network g and a "
                                    "reader R that also learns from raw x (the reconstruction attack, in training).")
    # the fixed baselines (models/baselines.py), used when ``degradation`` names one
    downsample_rate: int = option(4, "Baseline downsample: the rate r (the paper's 1 to 56).")
    downsample_keep_size: bool = option(True, "Baseline downsample: upsample back to the frame size (else fT "
                                        "sees the low resolution).")
    blur_sigma: float = option(2.0, "Baseline blur: Gaussian sigma in pixels.")
    motion_sigma: float = option(1.0, "Baseline motion: Gaussian sigma before the frame difference.")
    motion_thresholds: tuple[float, ...] = option(
        (0.05, 0.15), "Baseline motion: increasing thresholds on the blurred difference; k give 2k+1 levels.")

    @property
    def budget_names(self) -> list[str]:
        return budget.ensemble_names(self.budget_family, self.num_budget_models,
                                     self.budget_width, self.budget_width_step)


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    gamma: float = option(2.0, "Weight γ of the budget term.")
    lr_degradation: float = option(1e-4, "αD.")
    lr_target: float = option(1e-5, "αT.")
    lr_budget: float = option(1e-2, "αB.")
    lr_identity: float = option(1e-3, "Learning rate of fD-to-identity pretraining.")
    batch_size: int = option(16, "Clips per training batch (global).")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    dataset: str = option("synthetic", "synthetic, sbu, ucf101, hmdb51 or manifest.")
    budget_task: str = option("identity", "Synthetic: identity (single-label) or attributes (multi-label).")
    data: SyntheticConfig = SyntheticConfig()  # synthetic data; its clip shape serves all
    source: SourceConfig = SourceConfig()  # real data
    model: ModelConfig = ModelConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    optim: OptimConfig = OptimConfig()
    eval: EvalConfig = EvalConfig()
    strategy: str = option("default", "tf.distribute strategy: one device, all local devices, the workers of "
                           "TF_CONFIG (every worker runs the same command; worker 0 writes), or a TPU (untested).",
                           choices=tuple(distribute.STRATEGIES))
    precision: str = option(
        "float32", "Arithmetic of training and of the two-fold evaluation's fresh models: float32, or "
        "mixed_bfloat16 (bf16 compute, float32 variables and outputs; fast on CPUs with AMX or AVX512-BF16), "
        "or auto (mixed_bfloat16 on the CPU kinds it was shown to train on, precision.SHOWN_TO_TRAIN; float32 "
        "elsewhere). Exported models are float32.", choices=(*precision.PRECISIONS, precision.AUTO))
    checkpoint_every: int = option(50, "Steps between checkpoints (one Keras epoch).")
    seed: int = option(0, "Seed of weights and data order.")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ExperimentConfig":
        return options.from_dict(cls, json.loads(text))


def _positive(flag: str, value) -> None:
    if value <= 0:
        raise ConfigError(flag, f"must be positive, got {value}")


def validate(cfg: ExperimentConfig) -> None:
    """Raises ConfigError naming the flag for any setting the run could not honour."""
    s, m, o, d, e = cfg.schedule, cfg.model, cfg.optim, cfg.data, cfg.eval
    if cfg.dataset == "synthetic":
        _validate_synthetic(cfg)
    elif cfg.dataset in loader.REAL_DATASETS:
        _validate_source(cfg)
    else:
        raise ConfigError("dataset", f"unknown dataset {cfg.dataset!r}; available: synthetic, "
                                     f"{', '.join(loader.REAL_DATASETS)}")
    _one_of("method", s.method, methods.METHODS.names())
    if m.num_budget_models < 1:
        raise ConfigError("num_budget_models", f"M (or K) must be at least 1, got {m.num_budget_models}")
    for flag, value in (("th1", s.th1), ("th2", s.th2)):
        if not 0.0 < value <= 1.0:
            raise ConfigError(flag, f"threshold must lie in (0, 1], got {value}")
    for flag, value in (("max_iter", s.max_iter), ("d_iter", s.d_iter), ("degradation_steps", s.degradation_steps),
                        ("batch_size", o.batch_size), ("num_frames", d.num_frames), ("frame_height", d.height),
                        ("frame_width", d.width), ("fd_width", m.fd_width),
                        ("target_width", m.target_width), ("checkpoint_every", cfg.checkpoint_every),
                        ("threshold_window", s.threshold_window)):
        _positive(flag, value)
    for flag, value in (("restart_every", s.restart_every), ("gamma", o.gamma),
                        ("pretrain_identity_steps", s.pretrain_identity_steps),
                        ("pretrain_target_steps", s.pretrain_target_steps),
                        ("pretrain_budget_steps", s.pretrain_budget_steps)):
        if value < 0:
            raise ConfigError(flag, f"must not be negative, got {value}")
    _one_of("degradation", m.degradation, degradation.LEARNED.names() + baselines.FIXED.names())
    _one_of("target_model", m.target_model, target.TARGETS.names())
    _validate_baseline(m)
    if m.fd_skip and m.degradation == "bdq":  # the raw video and fixed baselines learn nothing
        raise ConfigError("fd_skip", "only the transformer and mcu fDs have an input skip, not 'bdq'")
    if m.fd_logit_bound < 0 or (m.fd_logit_bound and (m.degradation != "mcu" or m.fd_skip)):
        raise ConfigError("fd_logit_bound", f"a non-negative bound for the mcu fD's sigmoid (none with --fd_skip), "
                                            f"got {m.fd_logit_bound} for {m.degradation!r}")
    if m.fd_logit_margin < 0 or (m.fd_logit_margin and m.fd_logit_margin >= m.fd_logit_bound):
        raise ConfigError("fd_logit_margin", f"a margin from 0 to below --fd_logit_bound ({m.fd_logit_bound}), "
                                             f"got {m.fd_logit_margin}")
    if m.fd_logit_margin_from < 0 or (m.fd_logit_margin_from and not m.fd_logit_margin) \
            or m.fd_logit_margin_from > s.max_iter:
        raise ConfigError("fd_logit_margin_from", f"an iteration from 0 to --max_iter ({s.max_iter}), with "
                                                  f"--fd_logit_margin; got {m.fd_logit_margin_from}")
    if m.fd_bottleneck and m.degradation != "mcu":
        raise ConfigError("fd_bottleneck", f"only the mcu fD has a 1/2-resolution skip to leave out, not "
                                           f"{m.degradation!r}")
    if m.fd_levels and (m.fd_levels < 2 or m.degradation not in ("transformer", "mcu")):
        raise ConfigError("fd_levels", f"at least 2 levels, for the transformer or mcu fD; got {m.fd_levels} "
                                       f"for {m.degradation!r}")
    if s.degradation_steps != 1 and s.method == "kbeam":
        raise ConfigError("degradation_steps", "K-beam's fD takes --d_iter ascent steps per iteration")
    if s.restart_from == "pretrained" and not (s.restart_every and s.pretrain_budget_steps):
        raise ConfigError("restart_from", "restarting from pretrained budget models needs --restart_every > 0 "
                                          "and --pretrain_budget_steps > 0")
    if m.inversion_budget and s.method == "kbeam":
        raise ConfigError("inversion_budget", "K-beam's beams are one family; use --method=entropy or grl")
    multiple = degradation.side_multiple(m.degradation)
    if d.height % multiple or d.width % multiple:
        raise ConfigError("frame_height" if d.height % multiple else "frame_width",
                          f"the {m.degradation} fD needs frame sides that are multiples of {multiple}, "
                          f"got {d.height}x{d.width}")
    for flag, names in (("budget_family", m.budget_names), ("attackers", e.attackers)):
        if not names:
            raise ConfigError(flag, "needs at least one model")
        for name in names:
            try:
                budget.check_frame_size(name, d.height, d.width)
            except ValueError as error:
                raise ConfigError(flag, str(error)) from None
    clip_level = [name for name in e.attackers if budget.is_clip_level(name)]
    if clip_level:  # the zoo learns from a few frames of each clip
        raise ConfigError("attackers", f"{', '.join(clip_level)} reads whole clips: that is --attacks=temporal")
    if not e.attacks:
        raise ConfigError("attacks", "needs at least one attack")
    for attack in e.attacks:
        _one_of("attacks", attack, attacks.ATTACKS)
    _positive("attacker_seeds", e.attacker_seeds)
    if cfg.precision not in precision.PRECISIONS:
        raise ConfigError("precision", f"must be one of {', '.join(precision.PRECISIONS)}, got {cfg.precision!r}")
    if cfg.strategy not in distribute.STRATEGIES:
        raise ConfigError("strategy", f"must be one of {', '.join(distribute.STRATEGIES)}, got {cfg.strategy!r}")


def _one_of(flag: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(flag, f"got {value!r}; expected one of {', '.join(allowed)}")


def _validate_baseline(m: ModelConfig) -> None:
    _positive("downsample_rate", m.downsample_rate)
    _positive("blur_sigma", m.blur_sigma)
    _positive("motion_sigma", m.motion_sigma)
    t = m.motion_thresholds
    if not t or any(v <= 0 for v in t) or list(t) != sorted(set(t)):
        raise ConfigError("motion_thresholds", f"need one or more positive thresholds in increasing order, got {list(t)}")


def _validate_synthetic(cfg: ExperimentConfig) -> None:
    d = cfg.data
    if cfg.budget_task not in ("identity", "attributes"):
        raise ConfigError("budget_task", f"must be 'identity' or 'attributes', got {cfg.budget_task!r}")
    _positive("num_identities", d.num_identities)
    for flag, value in (("train_clips", d.train_clips), ("val_clips", d.val_clips), ("test_clips", d.test_clips)):
        if value < cfg.optim.batch_size:
            raise ConfigError(flag, f"{value} clips cannot fill one batch of --batch_size={cfg.optim.batch_size}")
    if not 0.0 <= d.identity_action_correlation <= 1.0:
        raise ConfigError("identity_action_correlation", "must lie in [0, 1]")
    _one_of("appearance", d.appearance, synthetic.APPEARANCES)


def _validate_source(cfg: ExperimentConfig) -> None:
    """Settings of real data; the files themselves are checked when they are read."""
    src, d = cfg.source, cfg.data
    if cfg.dataset == "manifest":
        if not src.manifest:
            raise ConfigError("manifest", "--dataset=manifest needs --manifest=FILE.csv")
    elif not src.data_dir:
        raise ConfigError("data_dir", f"--dataset={cfg.dataset} needs --data_dir (its root, "
                                      "in the official layout)")
    if cfg.dataset in loader.ACTION_ONLY and not src.privacy_dataset:
        raise ConfigError("privacy_dataset", f"{cfg.dataset} has no privacy labels: train across "
                                             "datasets with --privacy_dataset=vispr")
    if src.privacy_dataset:
        _one_of("privacy_dataset", src.privacy_dataset, loader.PRIVACY_DATASETS)
        _one_of("attribute_set", src.attribute_set, tuple(vispr.ATTRIBUTE_SETS))
        if not src.privacy_data_dir:
            raise ConfigError("privacy_data_dir", "--privacy_dataset needs its root directory")
    if cfg.dataset in loader.ACTION_ONLY:
        _one_of("split", src.split, ("1", "2", "3", "pa") if cfg.dataset == "hmdb51" else ("1", "2", "3"))
    if src.privacy_test_dataset:
        _one_of("privacy_test_dataset", src.privacy_test_dataset, loader.PRIVACY_TEST_DATASETS)
        if not src.privacy_dataset:
            raise ConfigError("privacy_test_dataset", "needs --privacy_dataset (what attackers learn from)")
    if (src.split == "pa" or src.privacy_test_dataset) and not src.pa_hmdb51_dir:
        raise ConfigError("pa_hmdb51_dir", "PA-HMDB51 needs its annotation folder")
    _one_of("pa_view", src.pa_view, pa_hmdb51.VIEWS)
    for flag, value in (("resize_height", src.resize_height), ("resize_width", src.resize_width),
                        ("clips_per_video", src.clips_per_video), ("frame_stride", src.frame_stride)):
        _positive(flag, value)
    _one_of("clip_selection", src.clip_selection, video.SELECTIONS)
    if d.height > src.resize_height or d.width > src.resize_width:
        raise ConfigError("frame_height", f"the crop {d.height}x{d.width} is larger than the resized "
                                          f"frames {src.resize_height}x{src.resize_width}")
    if src.limit_videos < 0:
        raise ConfigError("limit_videos", "must not be negative")
