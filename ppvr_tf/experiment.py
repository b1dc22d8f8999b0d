"""An experiment end to end: pretraining -> adversarial training -> two-fold evaluation.

Everything a run writes lives in its workdir::

    config.json                   the configuration (a resumed run must match it)
    checkpoints/                  weights, optimizer moments, schedule (resume point)
    saved_model/degradation/      fD, camera side   (serve(frames))
    saved_model/target/           fT, cloud side    (serve(clips))
    tensorboard/                  scalars and raw | degraded frames
    results.json, tradeoff.png, training.png (learned fDs), frames.png
"""
from __future__ import annotations

import dataclasses
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from ppvr_tf import reporting
from ppvr_tf.config import ConfigError, ExperimentConfig, validate
from ppvr_tf.data import loader, pipeline
from ppvr_tf.data.pipeline import Dataset
from ppvr_tf.evaluation import attacks, metrics, raw_cache, two_fold
from ppvr_tf.export import saved_model
from ppvr_tf.io_utils import atomic_write_text
from ppvr_tf.models import baselines, budget, degradation, inversion, target
from ppvr_tf.training import callbacks, distribute, precision, schedule as sched
from ppvr_tf.training.optimizers import FusedAdam
from ppvr_tf.training.trainer import AdversarialTrainer, pretrained_copies


@dataclasses.dataclass(frozen=True)
class Workdir:
    root: str

    def __getattr__(self, name):
        paths = {"config": "config.json", "checkpoints": "checkpoints", "results": "results.json",
                 "plot": "tradeoff.png", "frames": "frames.png", "training_plot": "training.png",
                 "tensorboard": "tensorboard",
                 "degradation": "saved_model/degradation", "target": "saved_model/target"}
        if name not in paths:
            raise AttributeError(name)
        return os.path.join(self.root, paths[name])


def load_dataset(cfg: ExperimentConfig) -> Dataset:
    if cfg.dataset == "synthetic":
        return pipeline.load_synthetic(cfg.data, cfg.budget_task)
    d = cfg.data
    return loader.load(cfg.dataset, cfg.source, (d.num_frames, d.height, d.width, 3))


def target_factory(cfg: ExperimentConfig):
    """fT of the configured kind and shape for any clip shape and class count."""
    build = target.TARGETS[cfg.model.target_model]
    return lambda clip_shape, num_classes: build(cfg.model, clip_shape, num_classes)


def build_trainer(cfg: ExperimentConfig, dataset: Dataset, schedule: sched.Schedule,
                  strategy: tf.distribute.Strategy | None = None) -> AdversarialTrainer:
    """fD, fT, the M budget models and the trainer with its three optimizers (+ identity).

    Models and optimizers are made in the strategy's scope; the trainer, which holds no
    weights of its own, outside it, and ``fit`` runs in the scope. Made in the scope, Keras
    would build the trainer in ``fit`` by reducing a batch across replicas, which
    MultiWorkerMirroredStrategy cannot do for a dict of tensors."""
    m, o = cfg.model, cfg.optim
    strategy = strategy or tf.distribute.get_strategy()
    clip_shape = dataset.clip_shape
    names = m.budget_names

    def budget_factory(index: int) -> keras.Model:
        if index == len(names):  # --inversion_budget
            return inversion.InversionBudget(names[0], clip_shape, dataset.budget_task.outputs, name=f"fb_{index}")
        return budget.build_budget_model(names[index], clip_shape, dataset.budget_task.outputs,
                                         model_name=f"fb_{index}")

    with strategy.scope(), precision.policy(cfg.precision):
        fd, ft = degradation_model(cfg), target_factory(cfg)(clip_shape, dataset.num_actions)
        budgets = [budget_factory(i) for i in range(len(names) + m.inversion_budget)]
        pretrained = pretrained_copies(budgets) if cfg.schedule.restart_from == "pretrained" else None
        optimizers = dict(d_optimizer=FusedAdam(o.lr_degradation),
                          t_optimizer=FusedAdam(o.lr_target),
                          b_optimizer=FusedAdam(o.lr_budget),
                          identity_optimizer=FusedAdam(o.lr_identity))
    if strategy.num_replicas_in_sync > 1:
        for model in (ft, *budgets):
            distribute.synchronize_batch_statistics(model)
    trainer = AdversarialTrainer(fd, ft, budgets, dataset.budget_task, schedule, o.gamma, budget_factory,
                                 pretrained, m.fd_logit_margin_from)
    with strategy.scope():
        trainer.compile(**optimizers)
    return trainer


def _checkpoint(trainer: AdversarialTrainer, schedule_text: tf.Variable) -> tf.train.Checkpoint:
    return tf.train.Checkpoint(
        degradation=trainer.degradation, target=trainer.target,
        **{f"budget_{i}": model for i, model in enumerate(trainer.budgets)},
        d_optimizer=trainer.d_optimizer, t_optimizer=trainer.t_optimizer,
        b_optimizer=trainer.b_optimizer, identity_optimizer=trainer.identity_optimizer,
        pretrained_budgets=trainer.pretrained_budgets, schedule=schedule_text)


def _check_resumable(cfg: ExperimentConfig, workdir: Workdir, chief: bool = True) -> None:
    """A workdir belongs to one configuration: resuming with another would mix runs.
    The strategy may change: any number of workers resumes the same global batch. So
    may ``max_iter`` grow: the iterations so far are those of the longer run."""
    if os.path.exists(workdir.config):
        with open(workdir.config) as f:
            previous = ExperimentConfig.from_json(f.read())
        longer = max(previous.schedule.max_iter, cfg.schedule.max_iter)
        how = {"strategy": cfg.strategy, "eval": previous.eval.measured(),  # not what is computed
               "schedule": dataclasses.replace(previous.schedule, max_iter=longer)}
        if dataclasses.replace(previous, **how) != dataclasses.replace(cfg, eval=cfg.eval.measured()):
            raise ValueError(f"{workdir.config}: this workdir holds a run with a different "
                             "configuration (only --max_iter may grow); use a new --workdir "
                             "(or delete this one)")
    if chief:
        atomic_write_text(workdir.config, cfg.to_json())


def train(cfg: ExperimentConfig, dataset: Dataset, workdir: Workdir,
          strategy: tf.distribute.Strategy | None = None, verbose: int = 1) -> AdversarialTrainer:
    """Runs (or resumes) pretraining and adversarial training until the schedule is done.

    Any strategy resumes any checkpoint: every replica count trains the same global batch."""
    strategy = strategy or distribute.make_strategy(cfg.strategy)
    if cfg.optim.batch_size % strategy.num_replicas_in_sync:
        raise ConfigError("batch_size", f"the global batch {cfg.optim.batch_size} does not split evenly "
                                        f"over {strategy.num_replicas_in_sync} replicas")
    keras.utils.set_random_seed(cfg.seed)
    schedule_text = tf.Variable("", dtype=tf.string, trainable=False)
    trainer = build_trainer(cfg, dataset, sched.Schedule(cfg.schedule), strategy)
    checkpoint = _checkpoint(trainer, schedule_text)
    latest = tf.train.latest_checkpoint(workdir.checkpoints)  # the chief's, on every worker
    if latest:
        checkpoint.restore(latest).expect_partial()
        trainer.schedule = sched.Schedule.from_json(cfg.schedule, schedule_text.numpy().decode())
        if trainer.schedule.extend():  # --max_iter raised past a finished run: it trains on
            trainer.reinitialize_budgets()
        trainer.beam_choice.assign(trainer.schedule.state.beam_choice)
        logging.info("resumed from %s at step %d (iteration %d, phase %s)", latest,
                     trainer.schedule.state.total_steps, trainer.schedule.state.iteration,
                     trainer.schedule.phase)
    if trainer.schedule.done:
        return trainer
    with distribute.checkpoint_directory(strategy, workdir.checkpoints) as directory:
        manager = tf.train.CheckpointManager(checkpoint, directory, max_to_keep=2)
        saver = callbacks.ScheduledCheckpoint(checkpoint, manager, schedule_text)
        watchers = [callbacks.NonFiniteGuard(manager), saver]
        if verbose and distribute.is_chief(strategy):
            watchers.append(callbacks.Progress())
        if distribute.is_chief(strategy):
            sample = pipeline.to_unit_range(dataset.val.head(4)).numpy()
            watchers.append(callbacks.TensorBoardFrames(workdir.tensorboard, sample))
        step = trainer.schedule.state.total_steps
        stream = pipeline.training_stream(dataset, cfg.optim.batch_size, cfg.seed, start_step=step)
        initial_epoch = step // cfg.checkpoint_every  # an epoch: checkpoint_every steps
        epochs = -(-trainer.schedule.max_steps() // cfg.checkpoint_every)  # at most; the schedule stops it
        with strategy.scope():
            trainer.fit(_sharded(stream), epochs=epochs, initial_epoch=initial_epoch,
                        steps_per_epoch=cfg.checkpoint_every, verbose=2 if verbose >= 2 else 0,
                        shuffle=False, callbacks=watchers)
        saver.save()  # the final state, whatever the epoch boundary
    return trainer


def _sharded(stream: tf.data.Dataset) -> tf.data.Dataset:
    """Each worker takes its share of every global batch (the stream reads no files)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return stream.with_options(options)


def degradation_model(cfg: ExperimentConfig) -> keras.Model:
    """The learned fD the configuration describes, untrained."""
    return degradation.build_degradation(cfg.model)


def export(trainer: AdversarialTrainer, cfg: ExperimentConfig, dataset: Dataset, workdir: Workdir
           ) -> dict | None:
    """Writes fD and fT as SavedModels (float32: what the camera and the cloud get), fT
    fine-tuned on the exported fD(X) if the schedule asks; that fine-tuning's report."""
    fd, ft = trainer.degradation, trainer.target
    if cfg.precision != "float32" or cfg.schedule.finetune_target_epochs:  # copies, not the trainer's
        with precision.policy("float32"):
            fd, ft = degradation_model(cfg), target_factory(cfg)(dataset.clip_shape, dataset.num_actions)
        fd.set_weights(trainer.degradation.get_weights())
        ft.set_weights(trainer.target.get_weights())
    _export_fd(fd, cfg, dataset, workdir)
    report = None
    if cfg.schedule.finetune_target_epochs:
        report = finetune_target(ft, saved_model.ServingModel(workdir.degradation), cfg, dataset)
    saved_model.export(ft, workdir.target, dataset.clip_shape, "target", cfg.to_json())
    return report


def finetune_target(ft: keras.Model, fd, cfg: ExperimentConfig, dataset: Dataset) -> dict:
    """Fits ``ft`` again on fD(X_train) (fD frozen), in place, keeping whichever weights
    have the lowest validation loss, the ones it came with included: adversarial
    training leaves fT wherever the last th1 loop stopped, tuned to a moving fD."""
    started, batch = time.time(), cfg.eval.batch_size
    train, val = (two_fold.degrade(fd, s.clip_dataset(), batch) for s in (dataset.train, dataset.val))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def validation() -> tuple[float, float]:
        logits = attacks.predict(ft, val, batch)
        return float(loss(dataset.val.actions, logits)), metrics.accuracy(dataset.val.actions, logits)

    trained, (loss_before, accuracy_before) = ft.get_weights(), validation()
    fit = dataclasses.replace(cfg.eval.target_training(), epochs=cfg.schedule.finetune_target_epochs)
    attacks.fit_model(ft, loss, (train, dataset.train.actions), (val, dataset.val.actions), fit, cfg.seed,
                      progress="fT fitted again on the final fD(X)")
    loss_after, accuracy_after = validation()
    kept = "finetuned" if loss_after <= loss_before else "trained"
    if kept == "trained":
        ft.set_weights(trained)
    report = {"epochs": cfg.schedule.finetune_target_epochs, "kept": kept,
              "val_loss": [round(loss_before, 4), round(loss_after, 4)],
              "val_accuracy": [round(accuracy_before, 4), round(accuracy_after, 4)],
              "seconds": round(time.time() - started, 1)}
    logging.info("fT fine-tuned on the final fD(X): validation accuracy %.3f -> %.3f, loss %.3f -> %.3f; "
                 "kept the %s weights", accuracy_before, accuracy_after, loss_before, loss_after, kept)
    return report


def chance_levels(dataset: Dataset) -> dict:
    """What guessing the most frequent training label scores on the test split."""
    majority_action = np.bincount(dataset.train.actions).argmax()
    result = {"target_accuracy": float(np.mean(dataset.test.actions == majority_action))}
    train, _, test = dataset.privacy_splits
    if dataset.budget_task.metric == "accuracy":
        majority = np.bincount(train.budget).argmax()
        result["budget_score"] = float(np.mean(test.budget == majority))
    else:  # AP of a constant score is each label's positive rate (annotated entries only)
        labels = np.where(test.budget >= 0, test.budget, np.nan)
        result["budget_score"] = float(np.nanmean(np.nanmean(labels, axis=0)))
    return result


def blind_suite(dataset: Dataset, result: two_fold.TwoFoldResult, chance: float) -> dict:
    """``{"worst_case_blind": x}``: the worst case that ``result``'s suite (its attacks and
    seeds) would still show, 95 times in 100, on an fD that hides everything
    (``metrics.best_of_blind_guessers``); {} for cMAP tasks."""
    if dataset.budget_task.metric != "accuracy":
        return {}
    guessers = sum(len(a.scores) for a in result.attacks)
    test_clips = len(dataset.privacy_splits[2].budget)
    return {"worst_case_blind": metrics.best_of_blind_guessers(test_clips, chance, guessers)}


def budget_task_name(cfg: ExperimentConfig) -> str:
    """What the attackers predict, e.g. ``identity`` or ``vispr:pa_hmdb51->pa_hmdb51``."""
    src = cfg.source
    if cfg.dataset == "synthetic":
        return cfg.budget_task
    if not src.privacy_dataset:
        return {"sbu": "actor_pair"}.get(cfg.dataset, "manifest_columns")
    name = f"{src.privacy_dataset}:{src.attribute_set}"
    return f"{name}->{src.privacy_test_dataset}" if src.privacy_test_dataset else name


def two_fold_results(cfg: ExperimentConfig, dataset: Dataset, frame_filter, target_model
                     ) -> tuple[dict, keras.Model | None]:
    """results.json's evaluation part: the fD (with ``target_model``, or a fresh fT when it
    is None) beside the raw reference (identity fD, fresh fT; None if not evaluated); and
    the reconstruction attack's inversion network g (None if it did not run)."""
    factory, run_kind = target_factory(cfg), kind(cfg)
    cache = raw_cache.RawCache.open(cfg.eval.raw_cache_dir, raw_cache_key(cfg, dataset), cfg.eval.refresh_raw)
    raw, raw_attackers = None, two_fold.RawAttackers(cache)  # raw-trained attackers serve both
    with precision.policy(cfg.precision):  # the fresh fT and attackers train as fD did
        if cfg.eval.evaluate_raw or run_kind == "raw":
            raw = raw_reference(cfg, dataset, raw_attackers, cache)
        learned = raw if run_kind == "raw" else two_fold.evaluate(
            frame_filter, dataset, cfg.eval, target=target_model, target_factory=factory, seed=cfg.seed,
            label="degraded", raw_attackers=raw_attackers)
    chance = chance_levels(dataset)
    chance.update(blind_suite(dataset, learned, chance["budget_score"]))
    return {"schema": reporting.SCHEMA, "dataset": cfg.dataset, "kind": run_kind,
            "degradation": describe(cfg), "method": cfg.schedule.method if run_kind == "learned" else None,
            "action_names": list(dataset.action_names),
            "budget_task": budget_task_name(cfg), "budget_labels": list(dataset.budget_task.names),
            "budget_metric": dataset.budget_task.metric, "chance": chance,
            "raw": raw and raw.to_json(), "degraded": learned.to_json(),
            "warnings": reporting.near_chance_warnings(raw and raw.to_json(), chance)}, learned.inversion


def raw_reference(cfg: ExperimentConfig, dataset: Dataset, raw_attackers: two_fold.RawAttackers,
                  cache: raw_cache.RawCache) -> two_fold.TwoFoldResult:
    """The raw video judged like any fD (fresh fT, the suite's raw attacks), kept in
    ``cache`` for every later run on the same data and evaluation."""
    kept = cache.reference(cfg.seed)
    if kept is not None:
        logging.info("[raw] the raw reference of seed %d, as kept in %s", cfg.seed, cache.directory)
        return two_fold.TwoFoldResult.from_json(kept)
    result = two_fold.evaluate(lambda frames: frames, dataset, cfg.eval, target=None,
                               target_factory=target_factory(cfg), seed=cfg.seed, label="raw",
                               raw_attackers=raw_attackers, is_raw=True)
    cache.store_reference(cfg.seed, result.to_json())
    return result


def raw_cache_key(cfg: ExperimentConfig, dataset: Dataset) -> dict | None:
    """Everything the raw reference depends on (None when nothing is cached)."""
    if not cfg.eval.raw_cache_dir:
        return None
    evaluation = dataclasses.asdict(dataclasses.replace(cfg.eval.measured(), evaluate_raw=True))
    fresh_target = {k: v for k, v in dataclasses.asdict(cfg.model).items() if k.startswith("target_")}
    return {"data": raw_cache.data_fingerprint((dataset.train, dataset.val, dataset.test, *(dataset.privacy or ()))),
            "budget_task": budget_task_name(cfg), "eval": evaluation, "precision": cfg.precision,
            "target": fresh_target, "code": raw_cache.code_version()}


def run(cfg: ExperimentConfig, workdir_path: str, verbose: int = 1) -> dict | None:
    """Trains, exports and evaluates one experiment; returns the results dictionary, or
    None on a worker that is not the chief (the chief writes the results)."""
    validate(cfg)
    strategy = distribute.make_strategy(cfg.strategy)  # first: multi_worker sets up collectives
    chief = distribute.is_chief(strategy)
    workdir = Workdir(workdir_path)
    os.makedirs(workdir.root, exist_ok=True)
    _check_resumable(cfg, workdir, chief)
    started = time.time()
    dataset = load_dataset(cfg)
    data_summary = dataset.summary()
    logging.info("dataset %s: clips %s of shape %s, %d actions, budget task %s (%d outputs)",
                 cfg.dataset, data_summary["clips"], dataset.clip_shape, dataset.num_actions,
                 budget_task_name(cfg), dataset.budget_task.outputs)
    if data_summary["skipped_count"]:
        logging.warning("%d videos could not be decoded and were skipped (listed in results.json "
                        "under data.skipped)", data_summary["skipped_count"])
    if kind(cfg) != "learned":
        if not chief:
            return None
        fd, ft, training = _fixed(cfg, dataset, workdir), None, None
    else:
        trained = _learned(cfg, dataset, workdir, strategy, verbose)
        if trained is None:
            return None
        fd, ft, training = trained
    results, inversion = two_fold_results(cfg, dataset, fd, ft)
    results["training"] = training
    results["seconds"] = round(time.time() - started, 1)
    results["data"] = data_summary
    results["config"] = dataclasses.asdict(cfg)
    write_outputs(results, dataset, fd, inversion, workdir, title=f"{cfg.dataset}: {describe(cfg)}")
    return results


def _learned(cfg: ExperimentConfig, dataset: Dataset, workdir: Workdir,
             strategy: tf.distribute.Strategy, verbose: int):
    """Trains (or resumes) fD, fT and fB, exports fD and fT; fD and fT as exported
    (None on workers other than the chief)."""
    started = time.time()
    trainer = train(cfg, dataset, workdir, strategy, verbose=verbose)
    seconds = time.time() - started
    if not distribute.is_chief(strategy):
        return None
    if cfg.strategy == "multi_worker":  # the other workers have left: export from a local copy
        trainer = train(cfg, dataset, workdir, tf.distribute.get_strategy(), verbose=verbose)
    finetuned = export(trainer, cfg, dataset, workdir)
    state = trainer.schedule.state
    training = {"total_steps": state.total_steps, "iterations": state.iteration,
                "restarts": state.restarts, "steps_per_phase": state.steps_per_phase,
                "capped_loops": state.capped_loops, "seconds": round(seconds, 1),
                "per_iteration": state.per_iteration}
    if finetuned:
        training["target_finetune"] = finetuned
    return (saved_model.ServingModel(workdir.degradation),  # judge what was exported
            saved_model.ServingModel(workdir.target), training)


def _fixed(cfg: ExperimentConfig, dataset: Dataset, workdir: Workdir):
    """The raw video or a baseline: nothing to learn; Keras ones are exported like a learned fD."""
    if cfg.model.degradation == "identity":
        fd = degradation.identity_degradation()
    else:
        fd = baselines.build_baseline(cfg.model)
    if not isinstance(fd, keras.Model):
        return fd
    _export_fd(fd, cfg, dataset, workdir)
    return saved_model.ServingModel(workdir.degradation)


def _export_fd(fd: keras.Model, cfg: ExperimentConfig, dataset: Dataset, workdir: Workdir) -> None:
    shape = dataset.clip_shape if degradation.takes_clips(fd) else dataset.clip_shape[1:]
    saved_model.export(fd, workdir.degradation, shape, "degradation", cfg.to_json())


def kind(cfg: ExperimentConfig) -> str:
    """``raw`` (identity fD), ``baseline`` (fixed) or ``learned``."""
    m = cfg.model.degradation
    return "raw" if m == "identity" else "baseline" if m in baselines.FIXED else "learned"


def describe(cfg: ExperimentConfig) -> str:
    """One line naming the degradation and how it was made, for titles and tables."""
    m, s = cfg.model, cfg.schedule
    params = {"downsample": f"r={m.downsample_rate}" + ("" if m.downsample_keep_size else ", low-res"),
              "blur": f"sigma={m.blur_sigma:g}",
              "motion": f"sigma={m.motion_sigma:g}, thresholds={','.join(f'{t:g}' for t in m.motion_thresholds)}"}
    if kind(cfg) == "raw":
        return "raw video"
    if kind(cfg) == "baseline":
        return f"{m.degradation} {params.get(m.degradation, '')}".strip()
    return (f"{m.degradation} fD, {s.method}, M={m.num_budget_models}, "
            f"restart every {s.restart_every or '-'}")


def write_outputs(results: dict, dataset: Dataset, frame_filter, inversion: keras.Model | None,
                  workdir: Workdir, title: str) -> None:
    reporting.write_results(workdir.results, results)
    reporting.tradeoff_plot(workdir.plot, results, title)
    reporting.training_plot(workdir.training_plot, results)
    write_frames(workdir.frames, dataset, frame_filter, inversion)


def write_frames(path: str, dataset: Dataset, frame_filter, inversion: keras.Model | None) -> None:
    """frames.png: test clips raw, through fD and, if the attack ran, reconstructed by g."""
    clips = dataset.test.head(4)
    degraded = two_fold.degrade(frame_filter, clips)
    rows = {"raw": pipeline.to_unit_range(clips).numpy(), "fD(X)": pipeline.to_unit_range(degraded).numpy()}
    if inversion is not None:
        rows["g(fD(X))"] = pipeline.to_unit_range(attacks.reconstruct(inversion, degraded)).numpy()
    reporting.frames_figure(path, rows, [dataset.action_names[a] for a in dataset.test.actions[:4]])
