"""Mean ± spread of A_T and A_B^N over training seeds, one group of runs per configuration.

    python tools/seed_spread.py --group='float32=runs/f32_seed*/results.json' \
        --group='mixed_bfloat16=runs/bf16_seed*/results.json' --out=spread.json

Prints a markdown table (mean ± sample standard deviation, min-max, every seed) and
writes the same numbers as JSON (``--out``).
"""
from __future__ import annotations

import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from ppvr_tf.evaluation import seeds  # noqa: E402

flags.DEFINE_multi_string("group", [], "NAME=GLOB: the results.json files of one configuration's seeds.")
flags.DEFINE_string("out", "", "Write the groups' numbers as JSON to this file.")
F = flags.FLAGS


def main(argv: list[str]) -> None:
    if len(argv) > 1 or not F.group:
        raise app.UsageError("give one or more --group=NAME=GLOB")
    groups = {}
    try:
        for group in F.group:
            name, _, pattern = group.partition("=")
            paths = sorted(glob.glob(pattern))
            if not name or not paths:
                raise seeds.SeedsError(f"--group={group!r}: expected NAME=GLOB matching results.json files")
            groups[name] = seeds.spread([seeds.load(path) for path in paths])
    except seeds.SeedsError as error:
        sys.exit(f"seed_spread: {error}")
    print(seeds.markdown(groups), end="")
    if F.out:
        seeds.write(F.out, groups)


if __name__ == "__main__":
    app.run(main)
