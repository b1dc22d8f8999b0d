"""Scores of the two-fold protocol, with the paper's definitions.

``macro_average_precision`` matches scikit-learn's
``average_precision_score(y, s, average='macro')``: per label,
AP = sum_n (R_n - R_{n-1}) P_n over the distinct score thresholds, then the mean
over labels. Labels without a single positive example have no defined AP and
are left out of the mean (scikit-learn would warn and count them as 0), and so
are missing annotations (negative labels).
"""
from __future__ import annotations

import math

import numpy as np


def accuracy(labels: np.ndarray, logits: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """AP of one binary label; NaN when there is no positive example. Negative
    labels mark missing annotations and are left out."""
    labels, scores = np.asarray(labels), np.asarray(scores)
    annotated = labels >= 0
    labels, scores = labels[annotated].astype(bool), scores[annotated]
    positives = labels.sum()
    if positives == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="mergesort")
    sorted_scores, sorted_labels = np.asarray(scores)[order], labels[order]
    # Precision and recall at each distinct threshold (the last index of each tie run).
    last_of_tie = np.r_[np.nonzero(np.diff(sorted_scores))[0], len(sorted_scores) - 1]
    true_pos = np.cumsum(sorted_labels)[last_of_tie]
    precision = true_pos / (last_of_tie + 1)
    recall = true_pos / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def per_label_average_precision(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    return np.array([average_precision(labels[:, k], scores[:, k]) for k in range(labels.shape[1])])


def macro_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """cMAP: the mean of the per-label APs (labels with positives only)."""
    return float(np.nanmean(per_label_average_precision(labels, scores)))


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[i, j]: the examples of class i predicted as class j (rows sum to the class sizes)."""
    counts = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(counts, (np.asarray(labels, np.int64), np.asarray(predictions, np.int64)), 1)
    return counts


def macro_f1(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> float:
    """Unweighted mean of the per-class F1 scores (classes absent from both count 0)."""
    counts = confusion_matrix(labels, predictions, num_classes)
    hits = np.diag(counts)
    wrong = counts.sum(axis=0) + counts.sum(axis=1) - 2 * hits  # false positives + false negatives
    return float(np.mean(np.where(hits > 0, 2 * hits / np.maximum(2 * hits + wrong, 1), 0.0)))


def multilabel_macro_f1(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean over binary labels of the F1 of predicting "present" (logit > 0), counting only
    annotated entries; a label never present nor predicted is left out."""
    scores = []
    for k in range(labels.shape[1]):
        annotated = labels[:, k] >= 0
        truth, predicted = labels[annotated, k] == 1, logits[annotated, k] > 0
        tp, wrong = np.sum(truth & predicted), np.sum(truth != predicted)
        if tp + wrong:
            scores.append(2 * tp / (2 * tp + wrong))
    return float(np.mean(scores)) if scores else float("nan")


def best_of_blind_guessers(samples: int, chance: float, guessers: int, quantile: float = 0.95) -> float:
    """The accuracy the best of ``guessers`` attackers reaches on ``samples`` test clips when
    none of them reads anything (each right with probability ``chance``, independently):
    the ``quantile`` of their maximum. The worst case over a suite is a maximum over many
    noisy estimates, so an fD that hides everything still scores above chance; a worst case
    under this bound cannot be told apart from such an fD.

    P(best <= k) = F(k)^guessers, F the binomial CDF, so the bound is the smallest k / samples
    with F(k) >= quantile^(1 / guessers)."""
    if samples < 1 or guessers < 1 or not 0.0 <= chance <= 1.0:
        raise ValueError(f"need samples >= 1, guessers >= 1 and chance in [0, 1], got {samples}, {guessers}, {chance}")
    if chance in (0.0, 1.0):
        return chance
    ks = np.arange(samples + 1)
    log_factorial = np.array([math.lgamma(k + 1) for k in ks])
    log_pmf = (log_factorial[samples] - log_factorial[ks] - log_factorial[samples - ks]
               + ks * np.log(chance) + (samples - ks) * np.log1p(-chance))
    cdf = np.cumsum(np.exp(log_pmf - log_pmf.max()))
    return float(np.searchsorted(cdf / cdf[-1], quantile ** (1.0 / guessers) - 1e-12) / samples)
