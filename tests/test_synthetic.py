"""The synthetic dataset: deterministic, and hard in the ways real video is."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from ppvr_tf import experiment
from ppvr_tf.data import pipeline, synthetic

CFG = synthetic.SyntheticConfig(train_clips=120, val_clips=24, test_clips=24, noise_std=0.0)


@pytest.fixture(scope="module")
def train():
    return synthetic.generate_split(CFG, "train")


def test_same_config_same_pixels_other_seed_other_pixels(train):
    again = synthetic.generate_split(CFG, "train")
    np.testing.assert_array_equal(train.clips, again.clips)
    other = synthetic.generate_split(synthetic.SyntheticConfig(**{**CFG.__dict__, "seed": 1}), "train")
    assert not np.array_equal(train.clips, other.clips)


def test_shapes_labels_and_configurable_size():
    small = synthetic.generate_split(synthetic.SyntheticConfig(num_frames=5, height=24, width=40,
                                                               train_clips=7), "train")
    assert small.clips.shape == (7, 5, 24, 40, 3) and small.clips.dtype == np.uint8
    assert small.attributes.shape == (7, len(synthetic.ATTRIBUTES))


def test_object_actions_are_invisible_to_frame_differences(train):
    """drink / phone / read: a still pose, so consecutive frames are identical without noise."""
    still = np.isin(train.actions, [synthetic.ACTIONS.index(a) for a in ("drink", "phone", "read")])
    diffs = np.abs(np.diff(train.clips.astype(np.int16), axis=1)).reshape(len(train), -1).max(axis=1)
    assert still.any() and np.all(diffs[still] == 0)
    assert np.all(diffs[~still] > 0)  # motion actions move


def test_object_actions_differ_only_in_the_object(train):
    actors = synthetic.make_actors(CFG.num_identities, CFG.seed)
    clips = {a: synthetic.render_clip(np.random.default_rng(5), CFG, actors[0], a, False)
             for a in ("drink", "phone", "read")}
    changed = {a: np.argwhere(np.any(clips[a][0] != clips["drink"][0], axis=-1)) for a in ("phone", "read")}
    for a, pixels in changed.items():
        assert 0 < len(pixels) < 40, a  # a handful of pixels: the object, not the body


def test_identity_survives_blur_and_downsampling(train):
    """Mean colour of an 8x down-sampled clip still separates actors (privacy is not free)."""
    small = tf.image.resize(tf.reshape(tf.cast(train.clips, tf.float32), (-1, 32, 32, 3)), (4, 4),
                            antialias=True).numpy().reshape(len(train), -1)
    centroids = np.stack([small[train.identities == i].mean(0) for i in range(CFG.num_identities)])
    nearest = np.argmin(((small[:, None] - centroids[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == train.identities) > 3.0 / CFG.num_identities


@pytest.mark.parametrize("appearance, same_colours, stripes", [
    ("full", False, True), ("plain", False, False), ("gray", True, True), ("silhouette", True, False)])
def test_appearance_takes_away_colours_and_stripes_and_keeps_build_and_height(appearance, same_colours, stripes):
    """Two actors of one build and height, one striped, drawn with the same random draws:
    the clips differ by colour unless painted gray, and by stripes unless plain."""
    cfg = synthetic.SyntheticConfig(noise_std=0.0, appearance=appearance)
    actor = synthetic.Actor(skin=0, shirt=0, trousers=0, broad=True, tall=True, striped=False)
    other_colours = dataclasses.replace(actor, skin=3, shirt=2, trousers=3)
    striped = dataclasses.replace(other_colours, striped=True)
    other_build = dataclasses.replace(actor, broad=False, tall=False)

    def clip(who):
        return synthetic.render_clip(np.random.default_rng(5), cfg, who, "wave", False)
    assert np.array_equal(clip(actor), clip(other_colours)) == same_colours
    assert np.array_equal(clip(other_colours), clip(striped)) != stripes
    assert not np.array_equal(clip(actor), clip(other_build))  # build and height always show


def test_identity_action_correlation_ties_actors_to_actions():
    tied = synthetic.generate_split(synthetic.SyntheticConfig(train_clips=200, identity_action_correlation=1.0),
                                    "train")
    np.testing.assert_array_equal(tied.identities, tied.actions % 10)


def test_attribute_task_is_multi_label():
    ds = pipeline.load_synthetic(synthetic.SyntheticConfig(train_clips=16, val_clips=16, test_clips=16),
                                 "attributes")
    assert ds.budget_task.kind == "multi" and ds.train.budget.shape == (16, 4)
    assert ds.budget_task.metric == "cmap"


def test_a_resumed_stream_continues_where_the_uninterrupted_one_was(tiny_dataset):
    """Resuming at step k sees the batches an uninterrupted run sees from step k on,
    across reshuffled epochs (32 clips, batches of 8: step 5 is in the second epoch)."""
    whole = list(pipeline.training_stream(tiny_dataset, batch_size=8, seed=3).take(7))
    resumed = list(pipeline.training_stream(tiny_dataset, batch_size=8, seed=3, start_step=5).take(2))
    for expected, got in zip(whole[5:], resumed):
        for key in expected:
            np.testing.assert_array_equal(expected[key].numpy(), got[key].numpy())
    assert not np.array_equal(whole[0]["clips"].numpy(), resumed[0]["clips"].numpy())


def test_the_trainer_reads_its_stream_without_tf_data_autotuning(tiny_dataset):
    """The autotuning thread of a stream read for the whole training held up dropping it
    for as long as the thread slept (docs/benchmarks.md): the trainer's stream has none."""
    stream = experiment._sharded(pipeline.training_stream(tiny_dataset, batch_size=8))
    assert stream.options().autotune.enabled is False
    assert next(iter(stream))["clips"].shape == (8, *tiny_dataset.clip_shape)
