"""Did the progress display's time left come true? A ppvr-train log, judged against its end.

    python tools/time_left_check.py RUN.log --out=time_left.json --plot=time_left.png

At 10, 25, 50, 75 and 90 % of the training time: when the latest progress line was
printed, the end it predicted (elapsed + time left) and its error against the end the
``training done`` line shows, as a table; ``--out`` writes them (and every estimate) as
JSON, ``--plot`` the predicted end against the time it was printed.
"""
from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from ppvr_tf import reporting  # noqa: E402
from ppvr_tf.io_utils import atomic_write_text  # noqa: E402
from ppvr_tf.clock import clock  # noqa: E402

flags.DEFINE_string("out", "", "Write the comparison as JSON here.")
flags.DEFINE_string("plot", "", "Write a plot of the predicted end against elapsed time here (.png).")
F = flags.FLAGS


def markdown(accuracy: dict) -> str:
    lines = [f"training took {clock(accuracy['training_seconds'])}",
             "| at | printed at | predicted end | error |", "|---|---|---|---|"]
    for row in accuracy["at"]:
        bound = " (at most)" if row["upper_bound"] else ""
        lines.append(f"| {row['fraction']:.0%} | {clock(row['elapsed_s'])} | {clock(row['predicted_end_s'])}{bound} "
                     f"| {row['error_s']:+d} s ({row['error_percent']:+.1f} %) |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise app.UsageError("give one ppvr-train log")
    try:
        with open(argv[1], errors="replace") as f:
            accuracy = reporting.time_left_accuracy(f.read().splitlines())
    except (OSError, ValueError) as error:
        sys.exit(f"time_left_check: {argv[1]}: {error}")
    print(markdown(accuracy), end="")
    if F.out:
        atomic_write_text(F.out, json.dumps(accuracy, indent=1) + "\n")
    if F.plot:
        reporting.time_left_plot(F.plot, accuracy, os.path.basename(argv[1]))


if __name__ == "__main__":
    app.run(main)
