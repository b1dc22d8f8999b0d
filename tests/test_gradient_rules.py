"""The update rules do what the paper's equations say."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import make_trainer, weights
from ppvr_tf.models import budget, degradation
from ppvr_tf.models.degradation import degrade_clips
from ppvr_tf.training import losses
from ppvr_tf.training.gradient_reversal import reverse_gradient


def test_reversal_layer_negates_and_scales_the_gradient():
    x = tf.constant([[0.5, -1.0, 2.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        plain = tf.reduce_sum(tf.sin(x) * x)
        reversed_ = tf.reduce_sum(tf.sin(reverse_gradient(x, 2.5)) * reverse_gradient(x, 2.5))
    np.testing.assert_allclose(reversed_.numpy(), plain.numpy())
    np.testing.assert_allclose(tape.gradient(reversed_, x), -2.5 * tape.gradient(plain, x), rtol=1e-6)


def _grads(loss_fn, variables):
    with tf.GradientTape() as tape:
        loss = loss_fn()
    return tape.gradient(loss, variables)


def test_grl_step_gives_fd_the_gradient_of_lt_minus_gamma_lb(tiny_dataset, batch):
    trainer = make_trainer(tiny_dataset, "grl", gamma=1.5, lr=0.1)
    fd, ft, fb = trainer.degradation, trainer.target, trainer.budgets[0]
    d_vars = fd.trainable_variables
    task = tiny_dataset.budget_task

    def lt():
        return losses.classification_loss(batch["actions"], ft(degrade_clips(fd, batch["clips"]), training=True)) \
            + tf.add_n(ft.losses)

    def lb():
        return losses.budget_loss(task, batch["budget"], fb(degrade_clips(fd, batch["clips"]), training=True))

    expected = [gt - 1.5 * gb for gt, gb in zip(_grads(lt, d_vars), _grads(lb, d_vars))]
    expected_b = _grads(lb, fb.trainable_variables)
    before, before_b = weights(d_vars), weights(fb.trainable_variables)
    trainer.update("adversarial", batch)
    for b, a, g in zip(before, weights(d_vars), expected):
        np.testing.assert_allclose(b - a, 0.1 * g.numpy(), rtol=2e-3, atol=1e-6)
    # the budget model descends its own loss in the same backward pass
    for b, a, g in zip(before_b, weights(fb.trainable_variables), expected_b):
        np.testing.assert_allclose(b - a, 0.1 * g.numpy(), rtol=2e-3, atol=1e-6)


def _entropy(trainer, batch, index: int = 0):
    degraded = degrade_clips(trainer.degradation, batch["clips"])
    return float(losses.budget_entropy(trainer.budget_task, trainer.budgets[index](degraded, training=True)))


def _budget_loss(trainer, batch):
    degraded = degrade_clips(trainer.degradation, batch["clips"])
    return float(losses.budget_loss(trainer.budget_task, batch["budget"],
                                    trainer.budgets[0](degraded, training=True)))


def test_entropy_step_raises_budget_entropy_and_budget_step_lowers_lb(tiny_dataset, batch):
    trainer = make_trainer(tiny_dataset, "entropy", lr=0.05, gamma=10.0)
    for _ in range(20):  # a confident budget model first
        trainer.update("budget", batch)
    low_entropy, budget_weights = _entropy(trainer, batch), weights(trainer.budgets[0].trainable_variables)
    for _ in range(5):
        trainer.update("adversarial", batch)
    assert _entropy(trainer, batch) > low_entropy + 0.05
    for now, then in zip(weights(trainer.budgets[0].trainable_variables), budget_weights):
        np.testing.assert_array_equal(now, then)  # θB untouched by the fD step

    high_loss = _budget_loss(trainer, batch)
    for _ in range(5):
        trainer.update("budget", batch)
    assert _budget_loss(trainer, batch) < high_loss


def test_kbeam_ascends_against_the_argmin_budget_model(tiny_dataset, batch):
    trainer = make_trainer(tiny_dataset, "kbeam", num_budgets=2, lr=0.1)
    for _ in range(10):
        trainer.update("budget", batch)
    logs = {k: float(v) for k, v in trainer.update("kbeam_select", batch).items()}
    trainer.schedule.state.phase = "kbeam_select"
    trainer.schedule.advance(logs)
    j = trainer.schedule.state.beam_choice
    assert j == int(np.argmin([logs["lb_00"], logs["lb_01"]]))
    trainer.beam_choice.assign(j)

    fd, task = trainer.degradation, tiny_dataset.budget_task
    d_vars = fd.trainable_variables

    def lb(model):
        return lambda: losses.budget_loss(task, batch["budget"],
                                          model(degrade_clips(fd, batch["clips"]), training=False))

    ascent = _grads(lb(trainer.budgets[j]), d_vars)
    other = _grads(lb(trainer.budgets[1 - j]), d_vars)
    before = weights(d_vars)
    trainer.update("kbeam_ascent", batch)
    deltas = [a - b for a, b in zip(weights(d_vars), before)]
    for delta, g in zip(deltas, ascent):  # θD ← θD + αD ∇LB,j
        np.testing.assert_allclose(delta, 0.1 * g.numpy(), rtol=2e-3, atol=1e-6)
    assert not all(np.allclose(d, 0.1 * g.numpy(), rtol=2e-3, atol=1e-6) for d, g in zip(deltas, other))


def test_restart_reinitialises_budget_weights_and_moments(tiny_dataset, batch):
    import keras
    trainer = make_trainer(tiny_dataset, "entropy", num_budgets=2, optimizer=keras.optimizers.Adam, lr=1e-2)
    for _ in range(3):
        trainer.update("budget", batch)
    trained = [weights(b.weights) for b in trainer.budgets]
    trainer.reinitialize_budgets()
    for model, old in zip(trainer.budgets, trained):
        kernels = [(o, n) for o, n in zip(old, weights(model.weights)) if o.ndim == 4]
        assert kernels and all(not np.allclose(o, n) for o, n in kernels)
    moments = [v for v in trainer.b_optimizer.variables if "momentum" in v.path or "velocity" in v.path]
    assert moments and all(not np.any(v.numpy()) for v in moments)
    assert int(trainer.b_optimizer.iterations.numpy()) == 3  # the step count is kept


def test_multi_label_budget_task_entropy_and_budget_steps(batch):
    from ppvr_tf.data import pipeline
    from conftest import TINY
    dataset = pipeline.load_synthetic(TINY, "attributes")
    data = next(iter(pipeline.training_stream(dataset, batch_size=8, seed=1)))
    trainer = make_trainer(dataset, "entropy", lr=0.05, gamma=10.0)
    for _ in range(20):
        trainer.update("budget", data)
    low = _entropy(trainer, data)
    for _ in range(5):
        trainer.update("adversarial", data)
    high = _entropy(trainer, data)
    assert low + 0.02 < high <= np.log(2.0) + 1e-6  # Bernoulli entropy, at most log 2 per attribute


def test_cross_dataset_budget_terms_use_the_privacy_clips(tiny_dataset, batch):
    """Paper §3.6: fB learns on fD(privacy clips), here one-frame images, not on the action clips."""
    trainer = make_trainer(tiny_dataset, "entropy", lr=0.1)
    fd, fb = trainer.degradation, trainer.budgets[0]
    images = batch["clips"][:, :1] * 0.5  # another dataset's images as one-frame clips
    cross = {**batch, "budget_clips": images}
    expected = losses.budget_loss(tiny_dataset.budget_task, batch["budget"],
                                  fb(degrade_clips(fd, images), training=True))
    logs = trainer.update("budget", cross)
    np.testing.assert_allclose(logs["loss_b_min"], expected, rtol=1e-5)
    entropy = trainer.update("adversarial", cross)["entropy_b_min"]
    assert np.isfinite(entropy)


def _inversion_trainer(dataset, **kwargs):
    from ppvr_tf.models.inversion import InversionBudget

    def factory(index):
        return InversionBudget("cnn@0.25", dataset.clip_shape, dataset.budget_task.outputs, width=8, blocks=1)
    return make_trainer(dataset, "entropy", budget_factory=factory, **kwargs)


def test_the_inversion_budget_learns_to_invert_fd_and_read_raw_video(tiny_dataset, batch):
    """Its budget step fits g to fD(x) -> x and R to raw x as well as R(g(fD(x))); fD is frozen."""
    import keras
    trainer = _inversion_trainer(tiny_dataset, optimizer=keras.optimizers.Adam, lr=1e-2)
    fb, task = trainer.budgets[0], tiny_dataset.budget_task
    degraded = degrade_clips(trainer.degradation, batch["clips"])

    def errors():
        rebuilt = float(tf.reduce_mean(tf.square(fb.reconstruct(degraded) - batch["clips"])))
        raw = float(losses.budget_loss(task, batch["budget"], fb.reader(batch["clips"], training=True)))
        return rebuilt, raw, float(losses.budget_loss(task, batch["budget"], fb(degraded, training=True)))
    before, d_weights = errors(), weights(trainer.degradation.trainable_variables)
    for _ in range(15):
        trainer.update("budget", batch)
    after = errors()
    assert all(a < 0.8 * b for a, b in zip(after, before)), (before, after)
    for now, then in zip(weights(trainer.degradation.trainable_variables), d_weights):
        np.testing.assert_array_equal(now, then)


def test_fd_raises_the_entropy_of_the_reader_behind_the_inversion(tiny_dataset, batch):
    trainer = _inversion_trainer(tiny_dataset, lr=0.05, gamma=10.0)
    for _ in range(20):
        trainer.update("budget", batch)
    low = _entropy(trainer, batch)
    for _ in range(5):
        trainer.update("adversarial", batch)
    assert _entropy(trainer, batch) > low + 0.05
    trainer.reinitialize_budgets()  # restarting builds a fresh one of the same shape
    assert np.isfinite(_entropy(trainer, batch))


def test_a_clip_level_budget_model_sees_motion_and_fd_raises_its_entropy(tiny_dataset, batch):
    """c3d in the ensemble: it tells a clip from its frames shuffled in time (a frame
    average cannot), and the entropy step works against it like any fB."""
    shape, outputs = tiny_dataset.clip_shape, tiny_dataset.budget_task.outputs
    temporal = budget.build_budget_model("c3d@0.0625", shape, outputs)
    clips = np.asarray(batch["clips"])
    reversed_in_time = clips[:, ::-1]
    assert not np.allclose(temporal(clips), temporal(reversed_in_time), rtol=1e-3, atol=0.0)
    names = ("cnn@0.25", "c3d@0.0625")
    trainer = make_trainer(tiny_dataset, "entropy", num_budgets=2, lr=0.05, gamma=10.0, budget_factory=lambda i:
                           budget.build_budget_model(names[i], shape, outputs))
    for _ in range(20):
        trainer.update("budget", batch)
    low = [_entropy(trainer, batch, i) for i in (0, 1)]
    for _ in range(5):
        trainer.update("adversarial", batch)
    assert _entropy(trainer, batch, 1) > low[1] + 0.05


def test_restart_from_pretrained_restores_the_weights_fb_pretraining_left(tiny_dataset):
    """--restart_from=pretrained: when fB's pretraining ends its weights are kept, and every
    restart puts them back (the attack suite's `pretrained` adversary, met in training)."""
    from ppvr_tf.data import pipeline
    from ppvr_tf.training import phases
    from ppvr_tf.training.trainer import pretrained_copies

    trainer = make_trainer(tiny_dataset, "entropy", restart_every=1, restart_from="pretrained", max_iter=3,
                           pretrain_identity_steps=1, pretrain_target_steps=1, pretrain_budget_steps=3,
                           max_target_steps=1, max_budget_steps=2, restart_budget_steps=1)
    trainer.pretrained_budgets = pretrained_copies(trainer.budgets)
    step, data = trainer.make_train_function(), iter(pipeline.training_stream(tiny_dataset, 8, seed=0))
    while trainer.schedule.phase != phases.ADVERSARIAL:
        step(data)
    pretrained = weights(trainer.budgets[0].weights)
    for kept, now in zip(weights(trainer.pretrained_budgets.weights[0]), pretrained):
        np.testing.assert_array_equal(kept, now)
    moved = False  # fB learns on in the th2 loop ...
    while trainer.schedule.phase != phases.RESTART:
        step(data)
        moved = moved or any(not np.allclose(p, n) for p, n in zip(pretrained, weights(trainer.budgets[0].weights)))
    assert moved
    for kept, now in zip(pretrained, weights(trainer.budgets[0].weights)):  # ... and restarts from there
        np.testing.assert_array_equal(kept, now)


def _logit_excess(fd, clips, bound: float) -> float:
    """Mean squared excess of fD's output logits over ±bound (what ``LogitBound`` charges)."""
    logits = keras.Model(fd.inputs[0], fd.get_layer("to_unit_range").input)
    z = np.asarray(logits(np.asarray(clips).reshape(-1, *clips.shape[2:])))
    return float(np.mean(np.maximum(np.abs(z) - bound, 0.0) ** 2))


def test_the_logit_margin_charges_logits_near_zero_and_descent_moves_them_out():
    """``--fd_logit_margin``: ``LogitBound`` charges nothing in margin <= |z| <= bound, the
    squared distance outside it, and its gradient moves logits near 0 away from 0 (to the
    side they are on). That every fD update descends fD's ``LogitBound``: the test below."""
    band = degradation.LogitBound(bound=4.0, margin=2.0)
    z = tf.Variable(np.array([-5.0, -3.0, -0.5, 0.25, 2.0, 3.5, 6.0], np.float32).reshape(1, 7, 1, 1))
    with tf.GradientTape() as tape:
        charged = band(z)
    expected = np.mean(np.square([1.0, 0.0, 1.5, 1.75, 0.0, 0.0, 2.0]))
    np.testing.assert_allclose(float(charged), expected, rtol=1e-6)
    step = -np.asarray(tape.gradient(charged, z)).ravel()
    assert step[2] < 0 < step[3]  # -0.5 further down, 0.25 further up
    assert step[0] > 0 > step[6] and step[1] == step[4] == step[5] == 0  # back inside ±4; the band is free
    assert float(degradation.LogitBound(4.0)(z)) < expected  # without a margin only the bound is charged


def test_the_logit_margin_charges_from_its_iteration_on(tiny_dataset):
    """``--fd_logit_margin_from=2``: through pretraining and iteration 1 fD's penalty is the
    bound's alone; from iteration 2 on the margin charges too."""
    from ppvr_tf.data import pipeline
    from ppvr_tf.training import phases

    trainer = make_trainer(tiny_dataset, "entropy", max_iter=3, pretrain_identity_steps=1, pretrain_target_steps=1,
                           pretrain_budget_steps=1, max_target_steps=1, max_budget_steps=1,
                           fd_factory=lambda: degradation.mcu_net(0.5, 1, logit_bound=4.0, logit_margin=3.0))
    trainer.logit_margin_from = 2
    [penalty] = degradation.logit_margins(trainer.degradation)
    step, data = trainer.make_train_function(), iter(pipeline.training_stream(tiny_dataset, 8, seed=0))
    seen = []
    while not trainer.schedule.done:
        phase, iteration = trainer.schedule.phase, trainer.schedule.state.iteration
        step(data)
        seen.append((phase in phases.PRETRAINING, iteration + 1, float(penalty.margin_on.numpy())))
    assert {on for pretraining, _, on in seen if pretraining} == {0.0}
    assert {(iteration, on) for pretraining, iteration, on in seen if not pretraining} == {(1, 0.0), (2, 1.0),
                                                                                          (3, 1.0)}
    z = tf.zeros((1, 2, 2, 1))  # every logit 3 inside the margin
    for on, charge in ((0.0, 0.0), (1.0, 9.0)):
        penalty.margin_on.assign(on)
        assert float(penalty(z)) == charge


@pytest.mark.parametrize("method, phase", [("entropy", "adversarial"), ("entropy", "target"),
                                           ("grl", "adversarial"), ("kbeam", "kbeam_ascent"),
                                           ("entropy", "pretrain_identity")])
def test_every_fd_update_pulls_the_mcu_logits_into_their_bound(tiny_dataset, batch, method, phase):
    """``--fd_logit_bound``: an mcu fD whose logits reach tens (output gain ×40) comes back
    towards ±1 under each rule that moves θD; the same fD without the bound does not."""
    excess = {}
    for bound in (1.0, 0.0):
        trainer = make_trainer(tiny_dataset, method, num_budgets=2 if method == "kbeam" else 1, lr=2e-2,
                               optimizer=keras.optimizers.Adam,
                               fd_factory=lambda: degradation.mcu_net(0.5, 1, logit_bound=bound))
        last = [layer for layer in trainer.degradation.layers if isinstance(layer, keras.layers.DepthwiseConv2D)][-1]
        last.kernel.assign(40.0 * last.kernel)
        trainer.beam_choice = 0
        before = _logit_excess(trainer.degradation, batch["clips"], 1.0)
        for _ in range(15):
            trainer.update(phase, batch)
        excess[bound] = _logit_excess(trainer.degradation, batch["clips"], 1.0) / before
    assert excess[1.0] < 0.5 and excess[1.0] < 0.5 * excess[0.0], excess
