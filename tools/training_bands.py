"""Did fD get ahead of its budget models? ``training.per_iteration`` of a run, in bands.

    python tools/training_bands.py RUN/results.json --width=55

One row per band of iterations (numbered as the run numbered them, also after a resume
from an older checkpoint): the most accurate fB's accuracy on its batch at fD's step, the
least accurate one's where the th2 loop stopped (means over the band), and the steps the
th1 and th2 loops took and how many stopped at their caps. The numbers the docs quote as
"at the end of each th2 loop the weaker fB read ...".
"""
from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from ppvr_tf import reporting  # noqa: E402

flags.DEFINE_integer("width", 55, "Iterations per band.")
F = flags.FLAGS

COLUMNS = ("iterations", "fB at fD's step (most accurate)", "fB at th2's end (least accurate)",
           "th1 steps (capped loops)", "th2 steps (capped loops)")


def markdown(bands: list[dict]) -> str:
    def cell(value):
        return "—" if value is None else f"{value:.2f}"
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for b in bands:
        lines.append(f"| {b['first']}–{b['last']} | {cell(b['acc_b_max_at_fd_step'])} | "
                     f"{cell(b['acc_b_min_at_th2_end'])} | {b['th1_steps']} ({b['th1_capped']}) | "
                     f"{b['th2_steps']} ({b['th2_capped']}) |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise app.UsageError("give one results.json")
    try:
        with open(argv[1]) as f:
            results = json.load(f)
        bands = reporting.training_bands(results, F.width)
    except KeyError as error:
        sys.exit(f"training_bands: {argv[1]}: not a results.json of a training run (no {error})")
    except (OSError, ValueError) as error:
        sys.exit(f"training_bands: {argv[1]}: {error}")
    print(markdown(bands), end="")


if __name__ == "__main__":
    app.run(main)
