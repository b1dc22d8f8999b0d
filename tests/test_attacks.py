"""The attack suite: every attack learns identity from raw clips and through invertible
fDs, and the reconstruction attack undoes an invertible fD."""
from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY
from ppvr_tf.data import pipeline
from ppvr_tf import reporting
from ppvr_tf.evaluation import attacks, metrics, seeds, tradeoff, two_fold
from ppvr_tf.models import target

DATA = dataclasses.replace(TINY, train_clips=128, val_clips=32, test_clips=64, num_identities=4)
FIT = attacks.Training(epochs=8, lr=3e-3, patience=8, batch_size=16, frames_per_clip=2, inversion_epochs=10,
                       augment=False, flip=False)
CHANCE = 1 / DATA.num_identities
# what the best of the raw suite's 5 attackers would reach 999 times in 1000 without reading anything
LEARNED = metrics.best_of_blind_guessers(DATA.test_clips, CHANCE, guessers=5, quantile=0.999)
INVERTIBLE = {"raw": lambda frames: frames,
              "channels swapped": lambda frames: frames[..., ::-1],
              "half as bright": lambda frames: 0.5 * frames}


@pytest.fixture(scope="module")
def dataset():
    return pipeline.load_synthetic(DATA)


@pytest.fixture(scope="module")
def raw_attackers():
    """Trained on raw X once for the module, as one run's evaluations share them."""
    return attacks.RawAttackers()


def views(dataset, frame_filter) -> attacks.Views:
    splits = dict(zip(("train", "val", "test"), (dataset.train, dataset.val, dataset.test)))
    return attacks.Views(dataset.budget_task, {n: s.budget for n, s in splits.items()},
                         {n: two_fold.degrade(lambda f: f, s.clip_dataset()) for n, s in splits.items()},
                         {n: two_fold.degrade(frame_filter, s.clip_dataset()) for n, s in splits.items()},
                         is_raw=False)


def temporal(clip_shape, outputs):
    return target.c3d(tuple(clip_shape), outputs, width=0.125, fc_units=256, dropout=0.0, batch_norm=True)


@pytest.mark.parametrize("fd", ["raw", "channels swapped"])
def test_every_attack_beats_chance_on_raw_clips_and_through_an_invertible_fd(dataset, raw_attackers, fd,
                                                                             shown_lines):
    with two_fold.deterministic_ops():
        results, inversion = attacks.run_suite(attacks.ATTACKS, views(dataset, INVERTIBLE[fd]), ("cnn@0.5",), [1],
                                               FIT, temporal, raw_attackers, fd)
    assert [r.kind for r in results] == ["scratch", "temporal", "pretrained", "reconstruction", "reconstruction"]
    counters = [line.split("[")[-1] for line in shown_lines() if "): training seed " in line]
    assert [c.split(",")[0].rstrip("]") for c in counters] == [f"model {k} of 5" for k in range(1, 6)]
    assert all(c.endswith(" left]") for c in counters[1:])
    for r in results:
        assert r.score > LEARNED, (r.name, r.score)
        assert r.scores == [round(r.score, 4)] == [r.mean]
    assert inversion is not None


def test_reconstruction_undoes_an_invertible_fd_and_reads_identity_as_on_raw(dataset, raw_attackers):
    seeds = [1, 1001]
    with two_fold.deterministic_ops():
        raw, _ = attacks.run_suite(("scratch",), views(dataset, INVERTIBLE["raw"]), ("cnn@0.5",), seeds, FIT,
                                   temporal, raw_attackers)
        rebuilt, g = attacks.run_suite(("reconstruction",), views(dataset, INVERTIBLE["half as bright"]),
                                       ("cnn@0.5",), seeds, FIT, temporal, raw_attackers)
    as_is = rebuilt[0]
    assert as_is.psnr_db > 25.0
    assert as_is.score >= raw[0].score - 0.1  # the raw-trained attacker reads g(fD(X)) like X
    frames = dataset.test.head(2)
    restored = attacks.reconstruct(g, two_fold.degrade(INVERTIBLE["half as bright"], frames))
    assert restored.shape == frames.shape and restored.dtype == np.uint8


def test_a_low_resolution_fd_is_scaled_up_for_raw_trained_attackers(dataset, raw_attackers):
    small = lambda frames: tf.image.resize(frames, (8, 8), method="area")  # noqa: E731
    v = views(dataset, small)
    assert v.degraded["test"].shape[2:4] == (8, 8)
    with two_fold.deterministic_ops():
        results, _ = attacks.run_suite(("pretrained", "reconstruction"), v, ("cnn@0.5",), [1], FIT, temporal,
                                       raw_attackers)
    assert all(r.score > CHANCE for r in results)
    assert results[1].psnr_db > 15.0


def test_psnr_of_known_errors():
    raw = np.full((1, 2, 4, 4, 3), 100, np.uint8)
    assert attacks.psnr_db(raw, raw + 1) == pytest.approx(10 * np.log10(255 ** 2))
    assert attacks.psnr_db(raw, raw + 10) == pytest.approx(10 * np.log10(255 ** 2 / 100))


def test_schema_2_round_trips_and_results_1_files_still_read(tmp_path):
    attack = attacks.AttackResult("reconstruction:cnn@0.5", "reconstruction", 0.5, [0.5, 0.25], 0.375, None,
                                  0.4, 1.0, psnr_db=21.5)
    scratch = attacks.AttackResult("cnn@0.5", "scratch", 0.25, [0.25], 0.25, None, 0.2, 1.0)
    result = two_fold.TwoFoldResult(0.9, 0.9, 0.25, "accuracy", [scratch], "fresh", [scratch, attack], 0.5)
    degraded = json.loads(json.dumps(result.to_json()))
    assert degraded["attacks"][1] == dataclasses.asdict(attack)
    assert "psnr_db" not in degraded["attacks"][0] and degraded["attackers"] == [degraded["attacks"][0]]
    results = {"schema": reporting.SCHEMA, "kind": "learned", "degradation": "fd", "budget_metric": "accuracy",
               "raw": None, "degraded": degraded, "chance": {"target_accuracy": 0.5, "budget_score": 0.25},
               "warnings": [], "config": {"seed": 3, "model": {"degradation": "transformer", "num_budget_models": 1,
                                                   "downsample_rate": 4, "blur_sigma": 2.0}}}
    path = tmp_path / "results.json"
    reporting.write_results(str(path), results)
    point = tradeoff.point("fd", json.loads(path.read_text()))
    assert (point.budget_score, point.worst_case_budget_score) == (0.25, 0.5)
    assert seeds.load(str(path))["worst_case_budget_score"] == 0.5
    table = reporting.summary_table(results)
    assert "worst case" in table and "0.500" in table and "reconstruction:cnn@0.5=0.500" in table
    blind = reporting.summary_table({**results, "chance": {**results["chance"], "worst_case_blind": 0.375}})
    assert "0.375" in blind.splitlines()[-1].split("worst case:")[0]  # the chance row's worst case
    old = {**results, "schema": "ppvr_tf.results/1", "degraded": {"target_accuracy": 0.9, "budget_score": 0.3,
                                                                 "attackers": [{"name": "cnn", "score": 0.3}]}}
    del old["warnings"]
    assert tradeoff.point("old", old).worst_case_budget_score == 0.3  # nothing but A_B^N was measured
    assert "cnn=0.300" in reporting.summary_table(old)
    assert "confuses" not in table  # no confusion matrix, no line
    confused = {**results, "action_names": ["wave", "drink", "read"],
                "degraded": {**degraded, "target_confusion": [[9, 1, 0], [0, 7, 3], [1, 4, 5]]}}
    assert reporting.summary_table(confused).splitlines()[-1] == (
        "fT on fD(X) confuses drink and read most: 7 of its 9 test errors")


def test_raw_models_near_chance_are_flagged_not_reported_as_measurements():
    chance = {"target_accuracy": 0.5, "budget_score": 1 / 12}

    def raw(action, identity):
        return {"target_accuracy": action, "attacks": [{"name": "cnn@1.0", "score": identity}],
                "attackers": []}
    assert reporting.near_chance_warnings(raw(0.95, 0.45), chance) == []
    assert reporting.near_chance_warnings(None, chance) == []
    found = reporting.near_chance_warnings(raw(0.515, 0.09), chance)
    assert len(found) == 2 and "raw fT" in found[0] and "cnn@1.0" in found[1]
    table = reporting.summary_table({"budget_metric": "accuracy", "raw": None, "warnings": found,
                                     "degraded": {**raw(0.5, 0.1), "budget_score": 0.1}})
    assert table.count("WARNING") == 2


def test_the_temporal_attack_needs_clips_of_one_length(dataset, raw_attackers):
    """Cross-dataset runs learn privacy from single images: no motion, no temporal attack."""
    v = views(dataset, INVERTIBLE["raw"])
    images = attacks.Views(v.task, v.labels, v.raw, {**v.degraded, "train": v.degraded["train"][:, :1]}, False)
    results, _ = attacks.run_suite(("temporal",), images, ("cnn@0.5",), [1], FIT, temporal, raw_attackers)
    assert results == []


def test_augmentation_mirrors_attackers_clips_and_action_clips_only_when_asked():
    clip = np.zeros((2, 8, 8, 3), np.uint8)
    clip[:, :, :2] = 255  # a bright left edge; shifts move it by one pixel at most
    cfg = two_fold.EvalConfig()
    flipped = dataclasses.replace(cfg, target_flip=True)
    for training, mirrored in ((cfg.attack_training(), True), (cfg.target_training(), False),
                               (flipped.target_training(), True)):
        augment = attacks._flip_and_shift(seed=0, flip=training.flip)
        outs = [np.asarray(augment(tf.constant(clip), 0)[0]) for _ in range(40)]
        assert any(out[:, :, 4:].mean() > out[:, :, :4].mean() for out in outs) == mirrored


def test_frames_png_draws_every_version_of_a_clip_as_one_image(tmp_path):
    """raw, a half-size fD(X) and a one-channel g(fD(X)): rows of one mosaic, each frame in
    its column, smaller versions scaled back, white lines between."""
    raw = np.zeros((2, 3, 8, 8, 3))
    raw[:, 1] = 1.0  # the middle frame white
    rows = {"raw": raw, "fD(X)": raw[:, :, ::2, ::2] * 0.5, "g(fD(X))": raw[..., :1]}
    mosaic = reporting._mosaic([reporting._frames_at(clips[0], 8, 8) for clips in rows.values()], gap=2)
    assert mosaic.shape == (28, 28, 3)
    assert mosaic[:8, :8].max() == 0.0 and mosaic[:8, 10:18].min() == 1.0
    np.testing.assert_allclose(mosaic[10:18, 10:18], 0.5)
    np.testing.assert_allclose(mosaic[20:28, 10:18], 1.0)
    assert mosaic[8:10].min() == 1.0 and mosaic[:, 8:10].min() == 1.0
    reporting.frames_figure(str(tmp_path / "frames.png"), rows, ["a", "b"])
    assert os.path.getsize(tmp_path / "frames.png") > 1000


def test_every_evaluation_fit_reads_its_data_without_tf_data_autotuning(dataset, monkeypatch):
    """Keras drops its iterators after every epoch, and each drop waited for tf.data's
    autotuning thread to wake (docs/benchmarks.md): attackers, fT and g read without it."""
    seen = []
    fit = attacks.keras.Model.fit

    def spy(model, x, validation_data=None, **kwargs):
        seen.extend(ds.options().autotune.enabled for ds in (x, validation_data))
        return fit(model, x, validation_data=validation_data, **kwargs)
    monkeypatch.setattr(attacks.keras.Model, "fit", spy)
    quick = dataclasses.replace(FIT, epochs=1, inversion_epochs=1)
    suite, _ = attacks.run_suite(("scratch", "reconstruction"), views(dataset, INVERTIBLE["half as bright"]),
                                 ("cnn@0.25",), [0], quick, None, attacks.RawAttackers())
    assert len(suite) == 3 and seen == [False] * 8  # scratch, raw-trained, g, fine-tuned on g(fD(X))
