"""Runs of the whole library: config checks, divergence, SavedModels, the CLI, resume."""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, TINY
from ppvr_tf import experiment, reporting
from ppvr_tf.config import ConfigError, ExperimentConfig, ModelConfig, OptimConfig, validate
from ppvr_tf.evaluation import attacks, metrics, raw_cache
from ppvr_tf.evaluation.two_fold import EvalConfig
from ppvr_tf.export import saved_model
from ppvr_tf.models import degradation
from ppvr_tf.training import precision
from ppvr_tf.training.callbacks import TrainingDiverged
from ppvr_tf.training.schedule import ScheduleConfig

SMOKE = [f"--flagfile={ROOT}/flags/synthetic/entropy.flags", f"--flagfile={ROOT}/flags/smoke.flags"]


def tiny_config(**schedule) -> ExperimentConfig:
    return ExperimentConfig(
        data=TINY, model=ModelConfig(fd_width=0.125, fd_residual_blocks=1, target_width=0.0625,
                                     target_fc_units=256, budget_family="cnn", budget_width=0.25,
                                     budget_width_step=0.0),
        schedule=ScheduleConfig(**{"max_iter": 2, "pretrain_identity_steps": 2, "pretrain_target_steps": 2,
                                   "pretrain_budget_steps": 2, "max_target_steps": 2, "max_budget_steps": 2,
                                   **schedule}),
        optim=OptimConfig(batch_size=8, lr_degradation=1e-3, lr_target=1e-3, lr_budget=1e-3),
        eval=EvalConfig(attackers=("cnn@0.25",), attacks=("scratch",), attacker_seeds=1, attacker_epochs=1,
                        target_epochs=1),
        checkpoint_every=4)


@pytest.mark.parametrize("change, flag", [
    ({"schedule": ScheduleConfig(method="adam")}, "method"),
    ({"schedule": ScheduleConfig(th1=1.5)}, "th1"),
    ({"schedule": ScheduleConfig(th2=0.0)}, "th2"),
    ({"model": ModelConfig(num_budget_models=0)}, "num_budget_models"),
    ({"data": dataclasses.replace(TINY, height=18)}, "frame_height"),
    ({"data": dataclasses.replace(TINY, appearance="grey")}, "appearance"),
    ({"model": ModelConfig(budget_family="mobilenet_v1")}, "budget_family"),  # needs 32x32 frames
    ({"eval": EvalConfig(attackers=("vgg@1",))}, "attackers"),
    ({"eval": EvalConfig(attackers=("cnn@1.0", "c3d@0.5"))}, "attackers"),  # that is --attacks=temporal
    ({"model": ModelConfig(budget_family="cnn", degradation="pixelate")}, "degradation"),
    ({"model": ModelConfig(budget_family="cnn", degradation="downsample", downsample_rate=0)}, "downsample_rate"),
    ({"model": ModelConfig(budget_family="cnn", degradation="blur", blur_sigma=0.0)}, "blur_sigma"),
    ({"model": ModelConfig(budget_family="cnn", motion_thresholds=(0.2, 0.1))}, "motion_thresholds"),
    ({"model": ModelConfig(budget_family="cnn", degradation="bdq", fd_skip=True)}, "fd_skip"),
    ({"model": ModelConfig(budget_family="cnn", degradation="mcu", fd_skip=True, fd_logit_bound=6.0)},
     "fd_logit_bound"),  # with the skip there is no sigmoid to bound
    ({"model": ModelConfig(budget_family="cnn", fd_logit_bound=8.0)}, "fd_logit_bound"),  # the transformer fD
    ({"model": ModelConfig(budget_family="cnn", degradation="mcu", fd_logit_bound=-1.0)}, "fd_logit_bound"),
    ({"model": ModelConfig(budget_family="cnn", degradation="mcu", fd_logit_margin=2.0)},
     "fd_logit_margin"),  # a margin needs a bound above it
    ({"model": ModelConfig(budget_family="cnn", degradation="mcu", fd_logit_bound=6.0, fd_logit_margin=6.0)},
     "fd_logit_margin"),
    ({"model": ModelConfig(budget_family="cnn", degradation="mcu", fd_logit_bound=6.0, fd_logit_margin_from=2)},
     "fd_logit_margin_from"),  # a switch for a margin there is not
    ({"model": ModelConfig(budget_family="cnn", fd_levels=1)}, "fd_levels"),
    ({"model": ModelConfig(budget_family="cnn", degradation="bdq", fd_levels=4)}, "fd_levels"),
    ({"model": ModelConfig(budget_family="cnn", fd_bottleneck=True)}, "fd_bottleneck"),  # the transformer fD
    ({"model": ModelConfig(budget_family="cnn", inversion_budget=True),
      "schedule": ScheduleConfig(method="kbeam")}, "inversion_budget"),
    ({"schedule": ScheduleConfig(restart_from="pretrained")}, "restart_from"),  # with no restarts
    ({"schedule": ScheduleConfig(degradation_steps=0)}, "degradation_steps"),
    ({"schedule": ScheduleConfig(method="kbeam", degradation_steps=2)}, "degradation_steps"),  # that is --d_iter
])
def test_invalid_settings_fail_naming_the_flag(change, flag):
    base = dataclasses.replace(tiny_config(), **{"model": ModelConfig(budget_family="cnn")})
    cfg = dataclasses.replace(base, **change)
    with pytest.raises(ConfigError) as error:
        validate(cfg)
    assert error.value.flag == flag and f"--{flag}" in str(error.value)


def test_cli_rejects_an_unknown_method_at_start_up(tmp_path):
    run = subprocess.run([sys.executable, "-m", "ppvr_tf.cli.train", *SMOKE, "--method=sgd",
                          f"--workdir={tmp_path}"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode != 0 and "--method" in run.stderr and "sgd" in run.stderr
    assert not os.listdir(tmp_path)  # nothing written


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = tiny_config(pretrain_identity_steps=4, pretrain_target_steps=0, pretrain_budget_steps=0)
    cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, lr_degradation=float("inf")))
    workdir = experiment.Workdir(str(tmp_path))
    with pytest.raises(TrainingDiverged, match="last good checkpoint is .*ckpt-4"):
        experiment.train(cfg, experiment.load_dataset(cfg), workdir, verbose=0)
    reader = tf.train.load_checkpoint(workdir.checkpoints)
    assert tf.train.latest_checkpoint(workdir.checkpoints).endswith("ckpt-4")
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert np.all(np.isfinite(value)), name


def test_saved_model_round_trip_gives_the_same_outputs(tmp_path):
    fd = degradation.transformer_net(0.125, 1)
    frames = np.random.default_rng(0).random((3, 16, 16, 3)).astype(np.float32)
    path = str(tmp_path / "fd")
    saved_model.export(fd, path, (16, 16, 3), "degradation", tiny_config().to_json())
    loaded = saved_model.ServingModel(path)
    np.testing.assert_allclose(loaded(frames), fd(frames), atol=1e-5)
    assert loaded.metadata["role"] == "degradation"
    assert ExperimentConfig.from_json(json.dumps(loaded.metadata["config"])) == tiny_config()


def _read_results(workdir):
    with open(os.path.join(workdir, "results.json")) as f:
        return json.load(f)


def test_cli_end_to_end_then_evaluate_the_saved_model(tmp_path):
    workdir = str(tmp_path / "run")
    run = subprocess.run([sys.executable, "-m", "ppvr_tf.cli.train", *SMOKE, f"--workdir={workdir}"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "A_T" in run.stdout and "raw" in run.stdout and "degraded" in run.stdout
    results = _read_results(workdir)
    for key in ("raw", "degraded"):
        part = results[key]
        assert 0.0 <= part["target_accuracy"] <= 1.0 and 0.0 <= part["budget_score"] <= 1.0
        assert part["budget_metric"] == "accuracy" and len(part["attackers"]) == 2
        assert part["budget_score"] == max(a["score"] for a in part["attackers"])
        assert part["worst_case_budget_score"] == max(a["score"] for a in part["attacks"])
        assert part["worst_case_budget_score"] >= part["budget_score"]
        confusion = np.array(part["target_confusion"])  # [true action][predicted action]
        assert confusion.shape == (len(results["action_names"]),) * 2
        assert confusion.sum() == results["data"]["clips"]["test"]
        assert np.trace(confusion) / confusion.sum() == pytest.approx(part["target_accuracy"])
    assert results["schema"] == "ppvr_tf.results/2" and isinstance(results["warnings"], list)
    # on raw video the pretrained and reconstruction attacks would repeat the scratch ones
    assert [a["kind"] for a in results["raw"]["attacks"]] == ["scratch", "scratch", "temporal"]
    kinds = [a["kind"] for a in results["degraded"]["attacks"]]
    assert kinds == ["scratch", "scratch", "temporal", "pretrained", "reconstruction", "reconstruction"]
    assert all(a["psnr_db"] > 0 for a in results["degraded"]["attacks"] if a["kind"] == "reconstruction")
    # 6 attacks x the smoke run's attacker seeds, each blind, on the test clips
    guessers = sum(len(a["scores"]) for a in results["degraded"]["attacks"])
    blind = results["chance"]["worst_case_blind"]
    test_clips, chance = results["data"]["clips"]["test"], results["chance"]["budget_score"]
    assert blind == metrics.best_of_blind_guessers(test_clips, chance, guessers)
    chance_row = next(line for line in run.stdout.splitlines() if line.startswith("chance "))
    assert blind > chance and f"{blind:.3f}" in chance_row
    for name in ("tradeoff.png", "training.png", "frames.png", "saved_model/degradation/saved_model.pb",
                 "saved_model/target/saved_model.pb", "config.json"):
        assert os.path.exists(os.path.join(workdir, name)), name
    assert glob.glob(os.path.join(workdir, "tensorboard", "events.out.tfevents.*"))

    out = str(tmp_path / "eval.json")
    run = subprocess.run([sys.executable, "-m", "ppvr_tf.cli.evaluate",
                          f"--saved_model={workdir}/saved_model/degradation", f"--output={out}",
                          "--attacks=scratch,reconstruction", "--noevaluate_raw",
                          "--precision=mixed_bfloat16"],  # the fresh attackers' arithmetic only
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    evaluated = json.load(open(out))
    assert (results["config"]["precision"], evaluated["config"]["precision"]) == ("float32", "mixed_bfloat16")
    assert [a["kind"] for a in evaluated["degraded"]["attacks"]] == ["scratch"] * 2 + ["reconstruction"] * 2
    assert os.path.exists(tmp_path / "frames.png")  # raw, fD(X) and g(fD(X)) beside the results
    # the same fD and fT on the same test clips give the same A_T
    assert evaluated["degraded"]["target_accuracy"] == pytest.approx(results["degraded"]["target_accuracy"])


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    workdir = str(tmp_path / "run")
    command = [sys.executable, "-m", "ppvr_tf.cli.train", *SMOKE, "--max_iter=16", "--checkpoint_every=5",
               "--attacks=scratch", "--noevaluate_raw", "--finetune_target_epochs=0",
               f"--workdir={workdir}"]  # training is what resumes
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not glob.glob(f"{workdir}/checkpoints/ckpt-1[05].index"):
        time.sleep(0.5)
    first.send_signal(signal.SIGKILL)
    first.wait()
    saved = int(tf.train.latest_checkpoint(f"{workdir}/checkpoints").rsplit("-", 1)[1])
    assert saved >= 10

    with open(f"{workdir}/config.json") as f:  # the workdir is guarded against another configuration
        other = ExperimentConfig.from_json(f.read())
    other = dataclasses.replace(other, eval=dataclasses.replace(other.eval, attackers=("cnn@0.25",)))
    with pytest.raises(ValueError, match="different configuration"):
        experiment._check_resumable(other, experiment.Workdir(workdir))
    second = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"resumed from {workdir}/checkpoints/ckpt-{saved} at step {saved}" in second.stderr
    training = _read_results(workdir)["training"]
    assert training["total_steps"] > saved
    assert len(training["per_iteration"]) == 16  # resumed, the record is whole
    assert all("adversarial" in it and "budget" in it for it in training["per_iteration"])


def test_mixed_bfloat16_trains_in_bf16_and_exports_float32_models(tmp_path):
    cfg = dataclasses.replace(tiny_config(method="grl", d_iter=2), precision="mixed_bfloat16")
    dataset = experiment.load_dataset(cfg)
    workdir = experiment.Workdir(str(tmp_path))
    trainer = experiment.train(cfg, dataset, workdir, verbose=0)
    convs = [layer for model in (trainer.degradation, trainer.target, trainer.budgets[0].frame_model)
             for layer in model.layers if "conv" in type(layer).__name__.lower()]
    assert convs and {layer.compute_dtype for layer in convs} == {"bfloat16"}
    assert {v.dtype for v in trainer.trainable_variables} == {"float32"}
    clips = dataset.test.head(2).astype(np.float32) / 255.0
    logits = trainer(clips)
    assert logits.dtype == tf.float32 and np.all(np.isfinite(logits.numpy()))
    assert trainer.schedule.done

    experiment.export(trainer, cfg, dataset, workdir)
    fd = saved_model.ServingModel(workdir.degradation)
    frames = clips[:, 0]
    exported = np.asarray(fd(frames))
    assert exported.dtype == np.float32
    # the float32 copy computes what the bf16 trainer's fD does, to bf16's precision
    np.testing.assert_allclose(exported, degradation.degrade_clips(trainer.degradation, clips)[:, 0],
                               atol=0.05)
    target = saved_model.ServingModel(workdir.target)
    np.testing.assert_allclose(np.asarray(target(clips)), logits, atol=0.1 * np.abs(logits).max() + 0.05)


def test_the_two_fold_evaluation_trains_its_fresh_models_in_the_run_precision(monkeypatch):
    cfg = dataclasses.replace(tiny_config(), precision="mixed_bfloat16")
    policies = []
    fit = attacks.fit_model

    def spy(model, *args, **kwargs):
        policies.append(model.dtype_policy.name)
        return fit(model, *args, **kwargs)
    monkeypatch.setattr(attacks, "fit_model", spy)
    results, _ = experiment.two_fold_results(cfg, experiment.load_dataset(cfg), lambda frames: frames, None)
    assert policies == ["mixed_bfloat16"] * 4  # raw and degraded: a fresh fT and one attacker each
    assert 0.0 <= results["degraded"]["target_accuracy"] <= 1.0
    assert keras.config.dtype_policy().name == "float32"  # the policy ends with the evaluation


def test_the_raw_reference_is_kept_between_runs_and_keyed_by_what_it_depends_on(tmp_path, monkeypatch):
    cfg = dataclasses.replace(tiny_config(), eval=dataclasses.replace(
        tiny_config().eval, attacks=("scratch", "pretrained"), raw_cache_dir=str(tmp_path)))
    dataset = experiment.load_dataset(cfg)
    first, _ = experiment.two_fold_results(cfg, dataset, lambda frames: frames * 0.5, None)
    kept = [name for d in os.listdir(tmp_path) for name in os.listdir(tmp_path / d)]
    assert sorted(kept) == ["cnn@0.25_s1_4x16x16x3.weights.h5", "key.json", "reference_s0.json"]

    def no_training(*args, **kwargs):
        raise AssertionError("a kept raw model was trained again")
    monkeypatch.setattr(attacks, "fit_model", no_training)
    monkeypatch.setattr(experiment.two_fold, "train_fresh_target", no_training)
    cache = raw_cache.RawCache.open(str(tmp_path), experiment.raw_cache_key(cfg, dataset))
    again = experiment.raw_reference(cfg, dataset, attacks.RawAttackers(cache), cache)
    assert again.to_json() == first["raw"]
    views = attacks.Views(dataset.budget_task, {"train": dataset.train.budget, "val": dataset.val.budget},
                          {"train": dataset.train.head(len(dataset.train))}, {}, is_raw=True)
    kept_model = attacks.RawAttackers(cache).get("cnn@0.25", 1, views, cfg.eval.attack_training())
    assert kept_model.count_params() > 0  # loaded, not trained
    no_scratch = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, attacks=("pretrained",)))
    assert experiment.raw_cache_key(no_scratch, dataset) != experiment.raw_cache_key(cfg, dataset)
    other_data = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, seed=cfg.data.seed + 1))
    assert (experiment.raw_cache_key(other_data, experiment.load_dataset(other_data))["data"]
            != experiment.raw_cache_key(cfg, dataset)["data"])
    refreshed = raw_cache.RawCache.open(str(tmp_path), experiment.raw_cache_key(cfg, dataset), refresh=True)
    with pytest.raises(AssertionError, match="trained again"):
        experiment.raw_reference(cfg, dataset, attacks.RawAttackers(refreshed), refreshed)


@pytest.mark.parametrize("cpu_flags, expected", [
    ("fpu avx512f avx512_bf16 amx_bf16 amx_tile", "mixed_bfloat16"),  # AMX (Sapphire Rapids)
    ("fpu avx512f avx512_vnni avx512_bf16", "mixed_bfloat16"),  # AVX512-BF16, no AMX (Zen 4)
    ("fpu avx512f avx512_vnni", "float32"),  # AVX-512 without bf16: emulated
    ("fpu sse4_2 avx2", "float32")])
def test_auto_precision_is_bf16_only_on_the_cpus_it_was_shown_to_train_on(tmp_path, cpu_flags, expected,
                                                                          shown_lines):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {cpu_flags}\n\nprocessor\t: 1\nflags\t\t: {cpu_flags}\n")
    assert precision.resolve("auto", str(cpuinfo)) == expected
    assert precision.resolve("auto", str(tmp_path / "missing")) == "float32"
    assert precision.resolve("float32", str(cpuinfo)) == "float32"
    assert not any("emulates" in line for line in shown_lines())
    assert precision.resolve("mixed_bfloat16", str(cpuinfo)) == "mixed_bfloat16"  # asked for: kept, with a word
    assert any("emulates" in line for line in shown_lines()) == (expected == "float32")


@pytest.mark.parametrize("method", ["entropy", "kbeam"])
def test_each_phase_is_traced_once_however_many_steps_and_epochs(tmp_path, method):
    """No retracing between steps: every phase's compiled step is traced on its first
    call only, across epochs (checkpoint_every=4) and budget restarts."""
    cfg = tiny_config(method=method, max_iter=3, restart_every=1, restart_budget_steps=2)
    trainer = experiment.train(cfg, experiment.load_dataset(cfg), experiment.Workdir(str(tmp_path)), verbose=0)
    steps = trainer.schedule.state.steps_per_phase
    assert trainer.schedule.state.restarts >= 2 and sum(steps.values()) > 3 * cfg.checkpoint_every
    assert set(trainer.phase_steps) == {phase for phase, count in steps.items() if count}
    assert {phase: f.experimental_get_tracing_count() for phase, f in trainer.phase_steps.items()} == \
        {phase: 1 for phase in trainer.phase_steps}


def test_a_run_with_the_inversion_budget_and_pretrained_restarts_trains_checkpoints_and_resumes(tmp_path):
    cfg = tiny_config(max_iter=2, restart_every=1, restart_from="pretrained", restart_budget_steps=2)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, inversion_budget=True))
    dataset, workdir = experiment.load_dataset(cfg), experiment.Workdir(str(tmp_path))
    trainer = experiment.train(cfg, dataset, workdir, verbose=0)
    assert [type(b).__name__ for b in trainer.budgets] == ["TimeAveragedClassifier", "InversionBudget"]
    assert trainer.schedule.done
    resumed = experiment.build_trainer(cfg, dataset, trainer.schedule)
    experiment._checkpoint(resumed, tf.Variable("")).restore(
        tf.train.latest_checkpoint(workdir.checkpoints)).expect_partial()
    for now, saved in zip(resumed.budgets[1].weights, trainer.budgets[1].weights):
        np.testing.assert_array_equal(now.numpy(), saved.numpy())
    assert trainer.schedule.state.restarts == 1
    for now, saved in zip(resumed.pretrained_budgets.weights[1], trainer.pretrained_budgets.weights[1]):
        assert np.any(saved.numpy()) or not saved.shape.num_elements()
        np.testing.assert_array_equal(now.numpy(), saved.numpy())

    # the finished run given one iteration more trains on, through the restart it ended at
    experiment._check_resumable(cfg, workdir)  # writes config.json
    longer, shorter = (dataclasses.replace(cfg, schedule=dataclasses.replace(cfg.schedule, max_iter=n))
                       for n in (3, 1))
    with pytest.raises(ValueError, match="only --max_iter may grow"):
        experiment._check_resumable(shorter, workdir)
    experiment._check_resumable(longer, workdir)
    extended = experiment.train(longer, dataset, workdir, verbose=0)
    state = extended.schedule.state
    assert extended.schedule.done and (state.iteration, state.restarts) == (3, 2)
    assert state.steps_per_phase["restart"] > trainer.schedule.state.steps_per_phase["restart"]


def test_progress_lines_name_phases_and_iterations_and_say_what_is_left(tmp_path, capsys):
    cfg = tiny_config()
    experiment.train(cfg, experiment.load_dataset(cfg), experiment.Workdir(str(tmp_path)), verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert "pretraining fD towards the identity" in lines[0] and "left" not in lines[0]  # no pace yet
    assert any("pretraining" in line and "left" in line for line in lines)
    assert any("iteration 2/2" in line for line in lines) and "training done" in lines[-1]
    assert not any("Epoch" in line or ".0000" in line for line in lines)
    # each line names the step whose numbers it shows: fD's step logs acc_b_max, fB's acc_b_min
    fd_steps = [line for line in lines if "fD step against fB" in line]
    assert fd_steps and all("acc_b_max" in line and "acc_b_min" not in line for line in fd_steps)
    assert not any("pretraining fB" in line and "loss_t" in line for line in lines)
    judged = reporting.time_left_accuracy(lines)  # tools/time_left_check.py reads these very lines
    assert judged["estimates"] and judged["training_seconds"] >= judged["estimates"][-1]["elapsed_s"]


def test_target_finetuning_refits_ft_on_the_final_fd_and_never_ends_worse_on_validation(tmp_path, shown_lines):
    cfg = tiny_config(finetune_target_epochs=3)
    dataset = experiment.load_dataset(cfg)
    workdir = experiment.Workdir(str(tmp_path))
    trainer = experiment.train(cfg, dataset, workdir, verbose=0)
    trained = [w.copy() for w in trainer.target.get_weights()]
    report = experiment.finetune_target(trainer.target, trainer.degradation, cfg, dataset)
    epoch_lines = [line for line in shown_lines() if line.startswith("fT fitted again on the final fD(X): epoch")]
    assert epoch_lines and epoch_lines[-1].endswith(" left]")  # its last epoch, early-stopped or not
    (loss_before, loss_after), kept = report["val_loss"], report["kept"]
    assert kept == ("finetuned" if loss_after <= loss_before else "trained")
    changed = any(not np.array_equal(a, b) for a, b in zip(trained, trainer.target.get_weights()))
    assert changed == (kept == "finetuned")

    before_export = [w.copy() for w in trainer.target.get_weights()]
    report = experiment.export(trainer, cfg, dataset, workdir)  # fine-tunes and exports a copy
    assert report["epochs"] == 3
    assert all(np.array_equal(a, b) for a, b in zip(before_export, trainer.target.get_weights()))
    clips = dataset.test.head(4).astype(np.float32) / 255.0
    exported = np.asarray(saved_model.ServingModel(workdir.target)(clips))
    same = np.allclose(exported, np.asarray(trainer.target(clips, training=False)), atol=1e-4)
    assert same == (report["kept"] == "trained")
