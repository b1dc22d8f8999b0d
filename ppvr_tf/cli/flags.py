"""Command-line flags of the experiments, and their translation into an ExperimentConfig.

Defaults are the paper's (SBU column of REFERENCE §2); the flagfiles under
``flags/`` set each experiment. Unset flags keep these defaults.
"""
from __future__ import annotations

from absl import flags

from ppvr_tf.config import ConfigError, ExperimentConfig, ModelConfig, OptimConfig
from ppvr_tf.data.loader import SourceConfig
from ppvr_tf.data.synthetic import SyntheticConfig
from ppvr_tf.evaluation import raw_cache
from ppvr_tf.evaluation.attacks import ATTACKS
from ppvr_tf.evaluation.two_fold import EvalConfig
from ppvr_tf.training.distribute import STRATEGIES
from ppvr_tf.training.precision import AUTO, PRECISIONS, resolve
from ppvr_tf.training import methods
from ppvr_tf.training.schedule import ScheduleConfig

F = flags.FLAGS

# Run
flags.DEFINE_string("workdir", None, "Where checkpoints, SavedModels and results go.")
flags.DEFINE_enum("strategy", "default", list(STRATEGIES),
                  "tf.distribute strategy: one device, all local devices, the workers of TF_CONFIG "
                  "(every worker runs the same command; worker 0 writes), or a TPU (untested).")
flags.DEFINE_enum("precision", "float32", [*PRECISIONS, AUTO],
                  "Arithmetic of training and of the two-fold evaluation's fresh models: float32, or "
                  "mixed_bfloat16 (bf16 compute, float32 variables and outputs; fast on CPUs with AMX "
                  "or AVX512-BF16), or auto (mixed_bfloat16 on the CPU kinds it was shown to train "
                  "on, precision.SHOWN_TO_TRAIN; float32 elsewhere). "
                  "Exported models are float32.")
flags.DEFINE_integer("checkpoint_every", 50, "Steps between checkpoints (one Keras epoch).")
flags.DEFINE_integer("seed", 0, "Seed of weights and data order.")
flags.DEFINE_integer("verbose", 2, "Keras fit verbosity (0 silent, 1 bar, 2 a line per epoch).")
# Data
flags.DEFINE_string("dataset", "synthetic", "synthetic, sbu, ucf101, hmdb51 or manifest.")
flags.DEFINE_string("budget_task", "identity", "Synthetic: identity (single-label) or attributes (multi-label).")
flags.DEFINE_integer("num_frames", 8, "Frames per clip (T).")
flags.DEFINE_integer("frame_height", 32, "Frame height the models see (real data: the crop).")
flags.DEFINE_integer("frame_width", 32, "Frame width the models see (real data: the crop).")
flags.DEFINE_string("data_dir", "", "Root of --dataset in its official layout.")
flags.DEFINE_string("split", "1", "UCF101/HMDB51 split 1-3; HMDB51 'pa': test = PA-HMDB51 videos.")
flags.DEFINE_string("manifest", "", "--dataset=manifest: CSV with header path,split,action,<privacy>...")
flags.DEFINE_string("privacy_dataset", "", "Cross-dataset training: privacy labels from here (vispr).")
flags.DEFINE_string("privacy_data_dir", "", "Root of --privacy_dataset.")
flags.DEFINE_string("attribute_set", "ucf101", "VISPR attributes: ucf101 (the paper's 7) or pa_hmdb51 (5).")
flags.DEFINE_string("privacy_test_dataset", "", "Judge privacy on this dataset instead (pa_hmdb51).")
flags.DEFINE_string("pa_hmdb51_dir", "", "PA-HMDB51 annotations (the folder with PrivacyAttributes/).")
flags.DEFINE_string("pa_view", "binary", "PA-HMDB51 labels: binary (can tell) or multiclass.")
flags.DEFINE_string("cache_dir", "~/tensorflow_datasets", "Where decoded clips are cached (TFRecord).")
flags.DEFINE_integer("resize_height", 120, "Real data: frames are resized to this height, then cropped.")
flags.DEFINE_integer("resize_width", 160, "Real data: frames are resized to this width, then cropped.")
flags.DEFINE_integer("clips_per_video", 1, "Real data: clips cut from each video.")
flags.DEFINE_enum("clip_selection", "even", ["even", "motion"],
                  "Real data: which clips: evenly spaced, or those where most moves (frame differences).")
flags.DEFINE_integer("frame_stride", 1, "Real data: take every n-th frame within a clip.")
flags.DEFINE_integer("limit_videos", 0, "Real data: at most this many videos per split (0: all).")
flags.DEFINE_integer("decode_workers", 0, "Real data: decoding threads (0: one per CPU).")
flags.DEFINE_bool("strict", False, "Real data: stop at an undecodable video instead of skipping it.")
flags.DEFINE_integer("num_identities", 10, "Synthetic: number of actors.")
flags.DEFINE_integer("train_clips", 1200, "Synthetic: training clips.")
flags.DEFINE_integer("val_clips", 300, "Synthetic: validation clips.")
flags.DEFINE_integer("test_clips", 600, "Synthetic: test clips.")
flags.DEFINE_float("identity_action_correlation", 0.0, "Synthetic: P(identity tied to action).")
flags.DEFINE_integer("data_seed", 0, "Synthetic: seed of the rendered clips.")
# Models
flags.DEFINE_string("degradation", "transformer",
                    "fD: transformer (the paper's), mcu (for microcontrollers), bdq (the peer), identity "
                    "(raw), or a fixed baseline: downsample, blur, crop_face, crop_whole, motion.")
flags.DEFINE_integer("downsample_rate", 4, "Baseline downsample: the rate r (the paper's 1 to 56).")
flags.DEFINE_bool("downsample_keep_size", True,
                  "Baseline downsample: upsample back to the frame size (else fT sees the low resolution).")
flags.DEFINE_float("blur_sigma", 2.0, "Baseline blur: Gaussian sigma in pixels.")
flags.DEFINE_float("motion_sigma", 1.0, "Baseline motion: Gaussian sigma before the frame difference.")
flags.DEFINE_list("motion_thresholds", ["0.05", "0.15"],
                  "Baseline motion: increasing thresholds on the blurred difference; k give 2k+1 levels.")
flags.DEFINE_float("fd_width", 1.0, "Channel multiplier of the transformer fD.")
flags.DEFINE_integer("fd_residual_blocks", 5, "Residual blocks of the transformer fD.")
flags.DEFINE_bool("fd_grayscale", False, "fD output converted to gray (the paper's SBU runs).")
flags.DEFINE_bool("fd_skip", False, "Transformer fD: fD(x) = clip(x + delta(x), 0, 1), starting as the identity "
                  "(not the paper's; its fD cannot be the identity).")
flags.DEFINE_float("target_width", 1.0, "Channel multiplier of C3D.")
flags.DEFINE_integer("target_fc_units", 4096, "C3D fully connected units (before the width multiplier).")
flags.DEFINE_float("target_dropout", 0.5, "C3D dropout.")
flags.DEFINE_bool("target_batch_norm", False, "Batch norm after C3D convs (quick runs).")
flags.DEFINE_float("target_weight_decay", 5e-4, "C3D L2 weight decay.")
flags.DEFINE_string("budget_family", "mobilenet_v1", "Family of the budget models fB.")
flags.DEFINE_float("budget_width", 0.6, "Width multiplier of the first budget model.")
flags.DEFINE_float("budget_width_step", -0.02, "Width change from one budget model to the next.")
flags.DEFINE_integer("num_budget_models", 1, "M (entropy/grl ensemble) or K (kbeam beams).")
flags.DEFINE_bool("inversion_budget", False, "One more budget model, R(g(fD(x))): an inversion network g "
                  "and a reader R that also learns from raw x (the reconstruction attack, in training).")
# Training
flags.DEFINE_string("method", "entropy", f"Optimisation scheme: one of {', '.join(methods.names())}.")
flags.DEFINE_float("gamma", 2.0, "Weight γ of the budget term.")
flags.DEFINE_float("lr_degradation", 1e-4, "αD.")
flags.DEFINE_float("lr_target", 1e-5, "αT.")
flags.DEFINE_float("lr_budget", 1e-2, "αB.")
flags.DEFINE_float("lr_identity", 1e-3, "Learning rate of fD-to-identity pretraining.")
flags.DEFINE_integer("batch_size", 16, "Clips per training batch (global).")
flags.DEFINE_float("th1", 0.85, "Target validation accuracy threshold (th1 loop).")
flags.DEFINE_float("th2", 0.99, "Budget training accuracy threshold (th2 loop).")
flags.DEFINE_integer("max_iter", 67, "Adversarial iterations.")
flags.DEFINE_integer("d_iter", 30, "K-beam ascent steps per iteration.")
flags.DEFINE_integer("restart_every", 0, "Restart the budget models every R iterations (0: never).")
flags.DEFINE_integer("restart_budget_steps", 1000, "Cap of retraining restarted budget models.")
flags.DEFINE_integer("max_target_steps", 200, "Cap of one th1 loop.")
flags.DEFINE_integer("max_budget_steps", 200, "Cap of one th2 loop.")
flags.DEFINE_integer("threshold_window", 3, "Steps whose mean accuracy the threshold loops test.")
flags.DEFINE_integer("pretrain_identity_steps", 100, "Steps of fD-to-identity pretraining.")
flags.DEFINE_integer("pretrain_target_steps", 500, "Steps of fT pretraining on fD(X).")
flags.DEFINE_integer("pretrain_budget_steps", 200, "Steps of fB pretraining on fD(X).")
# Evaluation
flags.DEFINE_list("attackers", ["cnn@1.0", "cnn_flat@1.0", "mobilenet_v2@0.35"],
                  "Fresh attackers of the two-fold evaluation (zoo names).")
flags.DEFINE_integer("attacker_epochs", 30, "Epochs of each fresh attacker (early-stopped).")
flags.DEFINE_float("attacker_lr", 1e-3, "Learning rate of the fresh attackers.")
flags.DEFINE_integer("attacker_train_frames", 2, "Random frames per clip in attacker training (0: all).")
flags.DEFINE_list("attacks", list(ATTACKS),
                  "The attack suite of the privacy evaluation (the leak is the worst case over all): "
                  "scratch (the zoo, from scratch on fD(X)), temporal (C3D on whole clips), pretrained "
                  "(trained on raw X, fine-tuned on fD(X)), reconstruction (white box: g learns fD(X) -> X).")
flags.DEFINE_integer("attacker_seeds", 3, "Run every attack this many times (its score: the best seed).")
flags.DEFINE_integer("inversion_epochs", 15, "Epochs of the reconstruction attack's inversion network g.")
flags.DEFINE_bool("evaluate_raw", True, "Also judge the raw video (a sweep judges it once, as its own run).")
flags.DEFINE_string("raw_cache_dir", raw_cache.DEFAULT_ROOT,
                    "Where the raw reference (its results and raw-trained attackers) is kept between runs, "
                    "keyed by the data, the evaluation flags, precision, seed and code version ('' keeps nothing).")
flags.DEFINE_bool("refresh_raw", False, "Compute the raw reference again and replace the kept one.")
flags.DEFINE_integer("eval_target_epochs", 30, "Epochs of a freshly trained fT (raw reference).")
flags.DEFINE_float("eval_target_lr", 1e-3, "Learning rate of a freshly trained fT.")
flags.DEFINE_integer("eval_patience", 8, "Early-stopping patience (epochs) in evaluation.")
flags.DEFINE_integer("eval_batch_size", 32, "Batch size of evaluation training.")
flags.DEFINE_bool("eval_augment", True, "Random shifts of the clips the evaluation's fresh fT and attackers "
                  "learn from, and flips for attackers (a few hundred real clips overfit without); fT is "
                  "never flipped: mirroring changes actions such as walking left.")


def data_config() -> SyntheticConfig:
    return SyntheticConfig(num_frames=F.num_frames, height=F.frame_height, width=F.frame_width,
                           num_identities=F.num_identities, train_clips=F.train_clips,
                           val_clips=F.val_clips, test_clips=F.test_clips,
                           identity_action_correlation=F.identity_action_correlation,
                           seed=F.data_seed)


def source_config() -> SourceConfig:
    return SourceConfig(
        data_dir=F.data_dir, split=F.split, manifest=F.manifest, privacy_dataset=F.privacy_dataset,
        privacy_data_dir=F.privacy_data_dir, attribute_set=F.attribute_set,
        privacy_test_dataset=F.privacy_test_dataset, pa_hmdb51_dir=F.pa_hmdb51_dir, pa_view=F.pa_view,
        cache_dir=F.cache_dir, resize_height=F.resize_height, resize_width=F.resize_width,
        clips_per_video=F.clips_per_video, frame_stride=F.frame_stride, clip_selection=F.clip_selection,
        limit_videos=F.limit_videos,
        decode_workers=F.decode_workers, strict=F.strict)


def eval_config() -> EvalConfig:
    return EvalConfig(attackers=tuple(F.attackers), attacker_epochs=F.attacker_epochs,
                      attacker_lr=F.attacker_lr, target_epochs=F.eval_target_epochs,
                      target_lr=F.eval_target_lr, patience=F.eval_patience,
                      batch_size=F.eval_batch_size, attacker_train_frames=F.attacker_train_frames,
                      attacker_seeds=F.attacker_seeds, evaluate_raw=F.evaluate_raw,
                      raw_cache_dir=F.raw_cache_dir or None, refresh_raw=F.refresh_raw, attacks=tuple(F.attacks),
                      inversion_epochs=F.inversion_epochs, augment=F.eval_augment)


def _floats(flag: str, values: list[str]) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in values)
    except ValueError:
        raise ConfigError(flag, f"needs numbers, got {','.join(values)}") from None


def experiment_config() -> ExperimentConfig:
    """The configuration the parsed flags describe (not yet validated)."""
    model = ModelConfig(
        degradation=F.degradation, fd_width=F.fd_width, fd_residual_blocks=F.fd_residual_blocks,
        fd_grayscale=F.fd_grayscale, fd_skip=F.fd_skip, target_width=F.target_width, target_fc_units=F.target_fc_units,
        target_dropout=F.target_dropout, target_batch_norm=F.target_batch_norm,
        target_weight_decay=F.target_weight_decay, budget_family=F.budget_family,
        budget_width=F.budget_width, budget_width_step=F.budget_width_step,
        num_budget_models=F.num_budget_models, inversion_budget=F.inversion_budget,
        downsample_rate=F.downsample_rate,
        downsample_keep_size=F.downsample_keep_size, blur_sigma=F.blur_sigma, motion_sigma=F.motion_sigma,
        motion_thresholds=_floats("motion_thresholds", F.motion_thresholds))
    schedule = ScheduleConfig(
        method=F.method, max_iter=F.max_iter, th1=F.th1, th2=F.th2, d_iter=F.d_iter,
        restart_every=F.restart_every, pretrain_identity_steps=F.pretrain_identity_steps,
        pretrain_target_steps=F.pretrain_target_steps, pretrain_budget_steps=F.pretrain_budget_steps,
        max_target_steps=F.max_target_steps, max_budget_steps=F.max_budget_steps,
        restart_budget_steps=F.restart_budget_steps, threshold_window=F.threshold_window)
    optim = OptimConfig(gamma=F.gamma, lr_degradation=F.lr_degradation, lr_target=F.lr_target,
                        lr_budget=F.lr_budget, lr_identity=F.lr_identity, batch_size=F.batch_size)
    return ExperimentConfig(dataset=F.dataset, budget_task=F.budget_task, data=data_config(),
                            source=source_config(),
                            model=model, schedule=schedule, optim=optim, eval=eval_config(),
                            strategy=F.strategy, precision=resolve(F.precision),
                            checkpoint_every=F.checkpoint_every, seed=F.seed)
