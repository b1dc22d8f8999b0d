"""Scores against values computed by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ppvr_tf.evaluation import metrics


def test_average_precision_by_hand():
    # ranked: 0.9(+) 0.8(-) 0.7(+) 0.1(-): P@1 = 1, P@3 = 2/3 -> AP = (1 + 2/3) / 2
    assert math.isclose(metrics.average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]), 5 / 6)


def test_average_precision_ties_share_one_threshold():
    # 0.5(+) and 0.5(-) tie at rank 1-2: one threshold with precision 1/2, recall 1/2
    # then 0.2(+): precision 2/3, recall 1 -> AP = 0.5 * 0.5 + 0.5 * 2/3
    assert math.isclose(metrics.average_precision([1, 0, 1], [0.5, 0.5, 0.2]), 0.25 + 1 / 3)


def test_macro_ap_is_mean_over_labels_and_skips_labels_without_positives():
    labels = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.1], [0.6, 0.3, 0.2], [0.7, 0.4, 0.9]])
    # label 0: ranked 0.9(+) 0.7(-) 0.6(+) 0.2(-) -> (1 + 2/3) / 2; label 1: 0.8(+) 0.4(-) 0.3(+) 0.1 -> same
    per_label = metrics.per_label_average_precision(labels, scores)
    assert math.isclose(per_label[0], 5 / 6) and math.isclose(per_label[1], 5 / 6) and math.isnan(per_label[2])
    assert math.isclose(metrics.macro_average_precision(labels, scores), 5 / 6)


def test_accuracy_and_macro_f1():
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    labels = np.array([0, 0, 0, 1])
    assert metrics.accuracy(labels, logits) == 0.75
    # class 0: tp 2, fp 0, fn 1 -> 0.8; class 1: tp 1, fp 1, fn 0 -> 2/3
    assert math.isclose(metrics.macro_f1(labels, np.argmax(logits, -1), 2), (0.8 + 2 / 3) / 2)
    # a class never true nor predicted scores 0 and still counts in the mean
    assert math.isclose(metrics.macro_f1(labels, np.argmax(logits, -1), 3), (0.8 + 2 / 3) / 3)


def test_confusion_matrix_counts_true_class_by_predicted_class():
    labels, predicted = np.array([0, 0, 0, 1, 2, 2]), np.array([0, 1, 0, 1, 0, 2])
    counts = metrics.confusion_matrix(labels, predicted, 4)
    assert counts.tolist() == [[2, 1, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]


def test_missing_annotations_are_left_out_of_ap_and_losses():
    import tensorflow as tf

    from ppvr_tf.data import tasks
    from ppvr_tf.training import losses
    labels = np.array([[1, -1], [0, 1], [-1, 0], [1, 1]], np.float32)
    scores = np.array([[0.9, 0.2], [0.8, 0.7], [0.1, 0.3], [0.7, 0.6]], np.float32)
    ap = metrics.per_label_average_precision(labels, scores)
    assert math.isclose(ap[0], metrics.average_precision([1, 0, 1], [0.9, 0.8, 0.7]))
    assert math.isclose(ap[1], metrics.average_precision([1, 0, 1], [0.7, 0.3, 0.6]))
    task = tasks.BudgetTask(tasks.MULTI, 2)
    logits = tf.constant(np.log(scores / (1 - scores)))
    kept = labels >= 0
    expected = tf.nn.sigmoid_cross_entropy_with_logits(labels=np.maximum(labels, 0), logits=logits).numpy()[kept]
    assert math.isclose(float(losses.budget_loss(task, labels, logits)), float(expected.mean()), rel_tol=1e-5)
    hits = ((scores > 0.5) == (labels == 1))[kept]
    assert math.isclose(float(losses.budget_accuracy(task, labels, logits)), float(hits.mean()), rel_tol=1e-6)


def test_the_best_of_blind_guessers_is_the_quantile_of_their_maximum():
    """kth_dev's test split: 192 clips, 12 people; the suite: 6 attacks x 3 seeds."""
    rng = np.random.default_rng(0)
    simulated = rng.binomial(192, 1 / 12, size=(200_000, 18)).max(axis=1) / 192
    bound = metrics.best_of_blind_guessers(192, 1 / 12, 18)
    assert bound == pytest.approx(np.quantile(simulated, 0.95), abs=1 / 192)
    assert np.mean(simulated <= bound) >= 0.95 > np.mean(simulated <= bound - 1 / 192)
    one = metrics.best_of_blind_guessers(192, 1 / 12, 1)
    assert one < bound < metrics.best_of_blind_guessers(192, 1 / 12, 100)  # more attackers, more luck
    assert metrics.best_of_blind_guessers(192, 1 / 12, 18, quantile=0.5) < bound
    with pytest.raises(ValueError, match="guessers"):
        metrics.best_of_blind_guessers(192, 1 / 12, 0)
