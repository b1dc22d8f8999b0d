"""The two-fold evaluation is reproducible, so two fDs meet the same attackers."""
from __future__ import annotations

import tensorflow as tf

from conftest import TINY
from ppvr_tf.data import pipeline
from ppvr_tf.evaluation import two_fold


def test_the_same_fd_and_seed_give_the_same_scores():
    dataset = pipeline.load_synthetic(TINY)
    cfg = two_fold.EvalConfig(attackers=("cnn@0.25",), attacks=("scratch", "reconstruction"),
                              attacker_seeds=1, attacker_epochs=2, target_epochs=2, patience=2, inversion_epochs=2)

    def blur(frames):
        return tf.nn.avg_pool2d(frames, 3, 1, "SAME")
    first, second = (two_fold.evaluate(blur, dataset, cfg, seed=3) for _ in range(2))
    assert [a.score for a in first.attacks] == [a.score for a in second.attacks]
    assert len(first.attacks) == 3 and first.attacks[-1].psnr_db == second.attacks[-1].psnr_db
    assert first.target_accuracy == second.target_accuracy
    from tensorflow.python.framework import config as tf_config
    assert not tf_config.is_op_determinism_enabled()  # training elsewhere keeps its fast kernels
