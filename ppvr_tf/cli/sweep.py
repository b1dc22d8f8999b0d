"""ppvr-sweep --flagfile=flags/sweeps/synthetic.flags --workdir=W [--flagfile=flags/smoke.flags]

Runs every ``--run=NAME: FLAGS`` as a ppvr-train process (finished runs are skipped,
interrupted ones resume), then writes W/tradeoff.png, W/tradeoff.md and W/tradeoff.csv.
Any ppvr-train flag given to the sweep applies to every run, after the run's own.
"""
from __future__ import annotations

import sys

from absl import app, flags, logging

from ppvr_tf.cli import flags as ppvr_flags
from ppvr_tf.cli.runtime import quiet_tensorflow

quiet_tensorflow()

flags.DEFINE_multi_string("run", [], "One run of the sweep: 'NAME: --flagfile=... --flag=value ...'.")
flags.DEFINE_integer("jobs", 1, "Runs at once, each on its share of the cores (2 on a 2-core machine "
                     "finishes the synthetic sweep sooner than 1).", lower_bound=1)
F = ppvr_flags.F
_PER_RUN = ("workdir",)  # set by the sweep for each run


def common_flags() -> list[str]:
    """The ppvr-train flags given to the sweep, as they would be given to each run."""
    module = ppvr_flags.__name__
    return [F[flag.name].serialize() for flag in F.flags_by_module_dict()[module]
            if flag.present and flag.name not in _PER_RUN]


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not F.workdir or not F.run:
        raise app.UsageError("give --workdir and at least one --run (a sweep flagfile has them)")
    from ppvr_tf import sweep
    try:
        # the raw video is judged once, as its own run, not beside every run
        points = sweep.run_all(sweep.parse_runs(F.run), F.workdir, ["--noevaluate_raw", *common_flags()],
                                F.jobs)
    except sweep.SweepError as error:
        sys.exit(f"ppvr-sweep: {error}")
    logging.info("%d runs: %s/tradeoff.png, tradeoff.md, tradeoff.csv", len(points), F.workdir)
    with open(f"{F.workdir}/tradeoff.md") as f:
        print(f.read())


def run() -> None:
    app.run(main)


if __name__ == "__main__":
    run()
