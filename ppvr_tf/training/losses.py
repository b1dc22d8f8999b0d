"""Losses and accuracies of the two tasks; the budget task single-label or multi-label
(``data/tasks.py``)."""
from __future__ import annotations

import tensorflow as tf

from ppvr_tf.data.tasks import SINGLE, BudgetTask


def classification_loss(labels, logits):
    """Mean softmax cross-entropy (the paper's KL to one-hot labels)."""
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=logits))


def classification_accuracy(labels, logits):
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return tf.reduce_mean(tf.cast(tf.equal(predictions, tf.cast(labels, tf.int32)), tf.float32))


def _annotated(labels, logits):
    """Multi-label targets as floats, and the mask of entries someone annotated
    (negative labels mean "missing", e.g. a PA-HMDB51 clip with no labelled frame)."""
    labels = tf.cast(labels, logits.dtype)
    return tf.maximum(labels, 0.0), tf.cast(labels >= 0.0, logits.dtype)


def _masked_mean(values, mask):
    return tf.reduce_sum(values * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def budget_loss(task: BudgetTask, labels, logits):
    """LB: softmax cross-entropy, or mean sigmoid cross-entropy over the annotated attributes."""
    if task.kind == SINGLE:
        return classification_loss(labels, logits)
    targets, mask = _annotated(labels, logits)
    return _masked_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits), mask)


def budget_entropy(task: BudgetTask, logits):
    """HB: mean entropy of the attacker's prediction (Bernoulli entropy per attribute)."""
    if task.kind == SINGLE:
        log_p = tf.nn.log_softmax(logits)
        return tf.reduce_mean(-tf.reduce_sum(tf.exp(log_p) * log_p, axis=-1))
    p = tf.sigmoid(logits)
    # H(p) = -p log p - (1-p) log(1-p), written with stable log-sigmoids.
    return tf.reduce_mean(-p * tf.math.log_sigmoid(logits) - (1.0 - p) * tf.math.log_sigmoid(-logits))


def budget_accuracy(task: BudgetTask, labels, logits):
    """Training accuracy for the th2 loop: top-1, or mean per-attribute binary accuracy."""
    if task.kind == SINGLE:
        return classification_accuracy(labels, logits)
    targets, mask = _annotated(labels, logits)
    hits = tf.cast(tf.equal(tf.cast(logits > 0, logits.dtype), targets), logits.dtype)
    return _masked_mean(hits, mask)
