"""tf.distribute strategies by name, and which worker writes what.

``multi_worker`` reads its cluster from ``TF_CONFIG``, which the launcher sets in
every worker's environment, e.g. for worker 1 of two on one host::

    TF_CONFIG='{"cluster": {"worker": ["localhost:12345", "localhost:12346"]},
                "task": {"type": "worker", "index": 1}}'

Every worker runs the same ``ppvr-train`` command on the same (shared) workdir and
gets an equal share of each global batch. Worker 0 (or a task of type ``chief``) is
the chief: it owns the checkpoints, TensorBoard and results. Saving a checkpoint is
a step every worker must take together, so the others save into scratch
directories of their own that nobody reads.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Iterator

import keras
import tensorflow as tf
from absl import logging

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``default`` (one device), ``mirrored`` (all local GPUs, or CPUs), ``multi_worker``
    (TF_CONFIG's cluster, collectives over gRPC) or ``tpu`` (``TPU_NAME``; untested here)."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            logging.warning("--strategy=multi_worker without TF_CONFIG: training as a single worker")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if name != "default":
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the one process that writes checkpoints and results."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 \
        and "chief" not in resolver.cluster_spec().jobs


@contextlib.contextmanager
def checkpoint_directory(strategy: tf.distribute.Strategy, directory: str) -> Iterator[str]:
    """``directory`` on the chief; elsewhere a scratch directory, removed afterwards."""
    if is_chief(strategy):
        yield directory
        return
    scratch = tempfile.mkdtemp(prefix="ppvr_worker_checkpoints_")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def synchronize_batch_statistics(model: keras.Model) -> None:
    """Batch statistics (batch norm's and the like, any layer with ``synchronized``) over
    the global batch, not each replica's share, so N replicas train as one device does."""
    for layer in model.layers:
        if hasattr(layer, "synchronized"):
            layer.synchronized = True
        if isinstance(layer, keras.Model):
            synchronize_batch_statistics(layer)


# -- inside a replica's update rule ---------------------------------------------
def replica_gradients(tape: tf.GradientTape, loss, variables) -> list:
    """This replica's gradients, scaled so the optimizer's cross-replica sum is a mean."""
    scale = 1.0 / tf.distribute.get_strategy().num_replicas_in_sync
    return [None if g is None else g * scale for g in tape.gradient(loss, variables)]


def apply_in_order(updates) -> None:
    """Applies several optimizers one after the other.

    Each apply all-reduces its gradients across replicas; unordered, two replicas
    may start different all-reduces first and deadlock or mismatch. Gating each
    update's gradients on the previous optimizer's step counter fixes the order.
    """
    previous = None
    for optimizer, grads, variables in updates:
        if previous is not None:
            with tf.control_dependencies([tf.convert_to_tensor(previous.iterations)]):
                grads = [None if g is None else tf.identity(g) for g in grads]
        optimizer.apply(grads, variables)
        previous = optimizer


def global_mean(per_replica) -> tf.Tensor:
    """Per-model batch means, stacked, over the global batch rather than this replica's
    share: min/max/argmin over models must pick the same model on every replica."""
    values = tf.stack(per_replica)
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    return context.all_reduce(tf.distribute.ReduceOp.MEAN, tf.stop_gradient(values))
