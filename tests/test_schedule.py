"""The host-side outer loop: threshold loops, K-beam, restarting, persistence."""
from __future__ import annotations

import pytest

from ppvr_tf.training import schedule as S
from ppvr_tf.training.callbacks import PhasePace


def _run(schedule, logs_for_phase, steps):
    seen, restarts = [], []
    for _ in range(steps):
        if schedule.done:
            break
        phase = schedule.phase
        seen.append(phase)
        if schedule.advance(logs_for_phase(phase, len(seen))):
            restarts.append(len(seen))
    return seen, restarts


def test_pretraining_then_cycle_order():
    s = S.Schedule(S.ScheduleConfig(method="entropy", max_iter=1, pretrain_identity_steps=2,
                                    pretrain_target_steps=1, pretrain_budget_steps=0, threshold_window=1))
    seen, _ = _run(s, lambda p, i: {"val_acc_t": 1.0, "acc_b_min": 1.0}, 20)
    assert seen == ["pretrain_identity", "pretrain_identity", "pretrain_target", "adversarial", "target", "budget"]
    assert s.done


def test_threshold_loops_switch_exactly_when_accuracy_passes_th1_and_th2():
    s = S.Schedule(S.ScheduleConfig(method="grl", max_iter=1, th1=0.8, th2=0.9, threshold_window=1,
                                    pretrain_identity_steps=0, pretrain_target_steps=0, pretrain_budget_steps=0))
    target_acc = iter([0.5, 0.8, 0.81])  # 0.8 is not > th1: the loop goes on
    budget_acc = iter([0.2, 0.9, 0.95])

    def logs(phase, _):
        if phase == "target":
            return {"val_acc_t": next(target_acc)}
        if phase == "budget":
            return {"acc_b_min": next(budget_acc)}
        return {}

    seen, _ = _run(s, logs, 20)
    assert seen == ["adversarial"] + ["target"] * 3 + ["budget"] * 3
    assert s.done and not s.state.capped_loops


def test_loops_are_capped_and_counted():
    s = S.Schedule(S.ScheduleConfig(method="entropy", max_iter=2, max_target_steps=4, max_budget_steps=2,
                                    pretrain_identity_steps=0, pretrain_target_steps=0, pretrain_budget_steps=0))
    seen, _ = _run(s, lambda p, i: {"val_acc_t": 0.0, "acc_b_min": 0.0}, 100)
    assert seen.count("target") == 8 and seen.count("budget") == 4
    assert s.state.capped_loops == {"target": 2, "budget": 2}


@pytest.mark.parametrize("method", ["grl", "entropy", "kbeam"])
def test_max_steps_is_what_a_schedule_whose_loops_never_pass_takes(method):
    s = S.Schedule(S.ScheduleConfig(method=method, max_iter=5, restart_every=2, d_iter=3, max_target_steps=4,
                                    max_budget_steps=2, restart_budget_steps=6, pretrain_identity_steps=2,
                                    pretrain_target_steps=3, pretrain_budget_steps=1))
    seen, _ = _run(s, lambda p, i: {"val_acc_t": 0.0, "acc_b_min": 0.0, "lb_00": 0.0}, 1000)
    assert s.done and len(seen) == s.max_steps()


def test_restart_every_r_iterations_then_retrain_budget():
    s = S.Schedule(S.ScheduleConfig(method="entropy", max_iter=5, restart_every=2, th2=0.5, threshold_window=1,
                                    pretrain_identity_steps=0, pretrain_target_steps=0, pretrain_budget_steps=0))
    seen, restarts = _run(s, lambda p, i: {"val_acc_t": 1.0, "acc_b_min": 1.0}, 100)
    assert s.state.restarts == 2 and seen.count("restart") == 2
    assert [seen[i] for i in restarts] == ["restart", "restart"]  # reinitialise right before retraining


def test_kbeam_cycle_runs_d_iter_ascent_steps_against_argmin():
    s = S.Schedule(S.ScheduleConfig(method="kbeam", max_iter=1, d_iter=3, threshold_window=1,
                                    pretrain_identity_steps=0, pretrain_target_steps=0, pretrain_budget_steps=0))
    logs = {"lb_00": 0.9, "lb_01": 0.1, "lb_02": 0.5, "val_acc_t": 1.0, "acc_b_min": 1.0}
    seen, _ = _run(s, lambda p, i: logs, 20)
    assert seen == ["kbeam_select"] + ["kbeam_ascent"] * 3 + ["budget", "target"]
    assert s.state.beam_choice == 1


def test_each_iteration_books_where_its_phases_ended_and_a_resume_keeps_the_records_whole():
    config = S.ScheduleConfig(method="entropy", max_iter=3, th1=0.5, th2=0.5, threshold_window=1,
                              max_budget_steps=3, restart_every=2, restart_budget_steps=1,
                              pretrain_identity_steps=1, pretrain_target_steps=0, pretrain_budget_steps=0)
    budget_acc = iter([0.1, 0.9, 0.1, 0.2, 0.3, 0.9, 0.6, 0.1, 0.7])  # loops of 2, 3 (capped), restart 1, 1, 1

    def logs(phase, step):
        if phase in ("budget", "restart"):
            return {"acc_b_min": next(budget_acc)}
        return {"acc_b_max": step / 100} if phase == "adversarial" else {"val_acc_t": 1.0}

    s = S.Schedule(config)
    _run(s, logs, 9)  # into iteration 2's th2 loop: resume from there
    s = S.Schedule.from_json(config, s.to_json())
    seen, _ = _run(s, logs, 100)
    first, second, third = s.state.per_iteration
    assert first == {"adversarial": {"steps": 1, "acc_b_max": 0.02}, "target": {"steps": 1, "val_acc_t": 1.0},
                     "budget": {"steps": 2, "acc_b_min": 0.9}}
    assert second["budget"] == {"steps": 3, "acc_b_min": 0.3} and "restart" not in second
    assert third["restart"] == {"steps": 1, "acc_b_min": 0.9} and third["budget"] == {"steps": 1, "acc_b_min": 0.6}
    assert s.done and not s.state.current


def test_state_round_trips_through_json():
    config = S.ScheduleConfig(method="entropy", max_iter=3)
    s = S.Schedule(config)
    _run(s, lambda p, i: {"val_acc_t": 1.0, "acc_b_min": 1.0}, 7)
    restored = S.Schedule.from_json(config, s.to_json())
    assert restored.state == s.state


def test_a_finished_run_given_more_iterations_goes_on_as_the_longer_run_would():
    def config(max_iter):
        return S.ScheduleConfig(method="entropy", max_iter=max_iter, restart_every=2, threshold_window=1,
                                max_target_steps=3, max_budget_steps=3, restart_budget_steps=2,
                                pretrain_identity_steps=1, pretrain_target_steps=1, pretrain_budget_steps=1)

    def logs(phase, i):
        return {"val_acc_t": (i % 3) / 2, "acc_b_min": (i % 4) / 3}
    whole = S.Schedule(config(5))
    whole_seen, whole_restarts = _run(whole, logs, 1000)
    first = S.Schedule(config(4))  # ends at iteration 4, where the longer run restarts
    seen, restarts = _run(first, logs, 1000)
    assert first.done and not first.extend()  # nothing to add at the same max_iter
    resumed = S.Schedule.from_json(config(5), first.to_json())
    assert resumed.extend() and resumed.phase == "restart"  # re-initialise fB, then retrain it
    more, more_restarts = _run(resumed, lambda p, i: logs(p, i + len(seen)), 1000)
    assert seen + more == whole_seen
    assert restarts + [len(seen)] + [len(seen) + i for i in more_restarts] == whole_restarts
    assert resumed.state == whole.state
    assert not S.Schedule.from_json(config(3), first.to_json()).extend()  # fewer: stays done


def test_remaining_steps_count_pretraining_exactly_then_price_iterations_at_their_mean():
    s = S.Schedule(S.ScheduleConfig(method="entropy", max_iter=4, max_target_steps=5, max_budget_steps=5,
                                    threshold_window=1, pretrain_identity_steps=2, pretrain_target_steps=3,
                                    pretrain_budget_steps=0))
    assert s.remaining_steps() == (2 + 3 + 4 * (1 + 5 + 5), True)  # before any iteration: the caps
    _run(s, lambda p, i: {}, 4)
    assert s.phase == "pretrain_target" and s.remaining_steps() == (1 + 4 * 11, True)
    # every iteration takes 1 fD step, 2 fT steps and 3 fB steps: 6 a time, 6 * 4 in all
    passes = {"target": iter([0.0, 1.0] * 4), "budget": iter([0.0, 0.0, 1.0] * 4)}
    logs = lambda p, i: {"val_acc_t": next(passes["target"])} if p == "target" else (  # noqa: E731
        {"acc_b_min": next(passes["budget"])} if p == "budget" else {})
    _run(s, logs, 1 + 6)
    assert s.state.iteration == 1 and s.remaining_steps() == (3 * 6, False)
    assert s.remaining_by_phase() == ({"adversarial": 3 * 1, "target": 3 * 2, "budget": 3 * 3}, False)
    _run(s, logs, 1 + 2 + 1)  # the second iteration, one step into its th2 loop
    assert s.remaining_by_phase() == ({"adversarial": 2 * 1, "target": 2 * 2, "budget": 2 * 3 + 2}, False)
    _run(s, logs, 100)
    assert s.done and s.remaining_steps() == (0, False)


def test_the_time_left_prices_each_phase_at_its_own_pace_after_its_traced_first_step():
    pace = PhasePace()
    assert pace.seconds_for({"budget": 10}) is None  # nothing timed yet
    for phase, seconds in [("target", 100.0), ("target", 1.0), ("target", 1.0),  # the first traces
                           ("adversarial", 60.0), ("adversarial", 4.0)]:
        pace.book(phase, seconds)
    # fT steps at 1 s, fD steps at 4 s, fB (not timed yet) at the mean of the timed steps, 2 s
    assert pace.seconds_for({"target": 10, "adversarial": 5, "budget": 3}) == 10 * 1 + 5 * 4 + 3 * 2


def test_training_bands_number_a_record_that_starts_late_and_count_capped_loops():
    """tools/training_bands.py: a record that lost its first iterations to a resume keeps
    the run's own iteration numbers; means and cap counts are per band."""
    from ppvr_tf import reporting
    config = S.ScheduleConfig(method="entropy", max_iter=5, th1=0.5, th2=0.45, threshold_window=1,
                              max_target_steps=2, max_budget_steps=3, pretrain_identity_steps=0,
                              pretrain_target_steps=0, pretrain_budget_steps=0)
    iteration = {"n": 0}

    def logs(phase, _):
        if phase == "adversarial":
            iteration["n"] += 1
            return {"acc_b_max": iteration["n"] / 10}
        if phase == "target":  # th1's loop: passes at once in odd iterations, capped in even ones
            return {"val_acc_t": 1.0 if iteration["n"] % 2 else 0.0}
        return {"acc_b_min": 0.1 * iteration["n"]}  # passes th2 = 0.45 in iteration 5 only
    s = S.Schedule(config)
    _run(s, logs, 1000)
    training = {"iterations": 5, "per_iteration": s.state.per_iteration[1:]}  # iteration 1 lost to a resume
    results = {"training": training, "config": {"schedule": {"max_target_steps": 2, "max_budget_steps": 3}}}
    bands = reporting.training_bands(results, width=3)
    assert [(b["first"], b["last"]) for b in bands] == [(2, 4), (5, 5)]
    assert bands[0]["acc_b_max_at_fd_step"] == pytest.approx(0.3)
    assert bands[0]["acc_b_min_at_th2_end"] == pytest.approx(0.3)
    assert (bands[0]["th1_steps"], bands[0]["th1_capped"]) == (5, 2)  # 2 + 1 + 2
    assert (bands[0]["th2_steps"], bands[0]["th2_capped"]) == (9, 3)
    assert (bands[1]["th2_steps"], bands[1]["th2_capped"]) == (1, 0)
    with pytest.raises(ValueError, match="per_iteration"):
        reporting.training_bands({"training": None}, width=3)


@pytest.mark.parametrize("method", ["grl", "entropy"])
def test_degradation_steps_repeat_fds_step_before_the_threshold_loops(method):
    s = S.Schedule(S.ScheduleConfig(method=method, max_iter=2, degradation_steps=3, threshold_window=1,
                                    pretrain_identity_steps=0, pretrain_target_steps=0, pretrain_budget_steps=0))
    seen, _ = _run(s, lambda p, i: {"val_acc_t": 1.0, "acc_b_min": 1.0, "acc_b_max": i}, 100)
    assert seen == (["adversarial"] * 3 + ["target", "budget"]) * 2
    fd_step = s.state.per_iteration[1]["adversarial"]
    assert (fd_step["steps"], fd_step["acc_b_max"]) == (3, 8)  # the last of the three
    assert s.max_steps() == 2 * (3 + s.config.max_target_steps + s.config.max_budget_steps)


def test_the_time_left_check_judges_the_last_estimate_before_each_fraction_against_the_end():
    """tools/time_left_check.py: each progress line predicts elapsed + left; a resumed run
    is judged on the lines after its clock restarted; other lines are skipped."""
    from ppvr_tf import reporting
    lines = ["[0:10] step 5  pretraining fT on fD(X)  loss_t 1.0  at most 50:00 left",  # before the resume
             "[0:02] step 1  pretraining fD towards the identity  loss_identity 0.000",
             "12:00:01 dataset synthetic: clips ...",
             "[1:00] step 90  iteration 1/4, fD step against fB  acc_b_max 0.5  at most 9:00 left",
             "[5:00] step 300  iteration 2/4, th2 loop: fB  acc_b_min 0.5  ~6:00 left",
             "[9:00] step 600  iteration 4/4, th1 loop: fT  val_acc_t 0.9  ~1:00:05 left",
             "[10:00] step 700  iteration 4/4, th2 loop: fB  acc_b_min 1.0; training done",
             "[0:05] fT fitted again ..."]
    accuracy = reporting.time_left_accuracy(lines, fractions=(0.05, 0.5, 0.95))
    assert accuracy["training_seconds"] == 600 and len(accuracy["estimates"]) == 3
    assert [(a["fraction"], a["elapsed_s"], a["error_s"], a["upper_bound"]) for a in accuracy["at"]] == [
        (0.5, 300, 660 - 600, False), (0.95, 540, 540 + 3605 - 600, False)]  # none printed by 5 %
    with pytest.raises(ValueError, match="training done"):
        reporting.time_left_accuracy(lines[:4])
