"""ppvr-sweep's engine: many ppvr-train runs, one privacy-utility plane.

Each run is ``NAME: FLAGS`` — the ppvr-train flags of that run (a flagfile and
overrides). Flags given to the sweep itself (``--flagfile=flags/smoke.flags``, say) come
last, so they apply to every run. Each run is a ppvr-train process with its own workdir
``W/NAME`` and log ``W/NAME.log``: a run that finished (its ``results.json`` exists) is
not run again, and one that was interrupted resumes from its checkpoint.

``jobs`` runs go at once, each capped to its share of the cores. One synthetic run does
not keep 2 cores busy (the host's work between steps, ops too small to split), so two
one-core runs side by side finish sooner than one after the other on both cores.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent import futures

from absl import logging

from ppvr_tf.evaluation import tradeoff


class SweepError(RuntimeError):
    """A run spec that cannot be read, or runs that failed (named, with their logs)."""


@dataclasses.dataclass(frozen=True)
class Run:
    name: str
    flags: tuple[str, ...]


def parse_run(spec: str) -> Run:
    """``NAME: --flag=value ...`` -> Run."""
    name, sep, flags = spec.partition(":")
    name = name.strip()
    if not sep or not name or not name.replace("_", "").replace("-", "").replace(".", "").isalnum():
        raise SweepError(f"--run={spec!r}: expected 'NAME: --flag=value ...' with a plain NAME "
                         "(letters, digits, '_', '-', '.')")
    run = Run(name, tuple(shlex.split(flags)))
    for flag in run.flags:
        if flag.startswith("--flagfile=") and not os.path.exists(flag.split("=", 1)[1]):
            raise SweepError(f"run {name}: {flag.split('=', 1)[1]} not found (relative paths start where "
                             "ppvr-sweep runs: the repository root for flags/...)")
    return run


def parse_runs(specs: list[str]) -> list[Run]:
    runs = [parse_run(spec) for spec in specs]
    names = [run.name for run in runs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SweepError(f"--run: names must be unique, repeated: {', '.join(duplicates)}")
    return runs


def _train(run: Run, workdir: str, common: list[str], threads: int) -> tuple[int, float]:
    log_path = os.path.join(workdir, f"{run.name}.log")
    command = [sys.executable, "-m", "ppvr_tf.cli.train", *run.flags, *common,
               f"--workdir={os.path.join(workdir, run.name)}"]
    started = time.time()
    with open(log_path, "a") as log:
        log.write(f"$ {shlex.join(command)}\n")
        log.flush()
        code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT, env=thread_limits(threads))
    return code, time.time() - started


def _start(tag: str, run: Run, workdir: str, common: list[str], threads: int) -> tuple[int, float]:
    logging.info("%s %s: running (log: %s/%s.log)", tag, run.name, workdir, run.name)
    return _train(run, workdir, common, threads)


def thread_limits(threads: int) -> dict[str, str]:
    """The environment of a run capped to ``threads`` cores (0: no cap): TensorFlow's op
    thread pools, oneDNN's OpenMP and OpenCV's detectors each read their own variable."""
    env = dict(os.environ)
    if threads > 0:
        for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                     "OPENCV_FOR_THREADS_NUM"):
            env[name] = str(threads)
    return env


def results_path(workdir: str, run: Run) -> str:
    return os.path.join(workdir, run.name, "results.json")


def run_all(runs: list[Run], workdir: str, common: list[str], jobs: int = 1) -> list[tradeoff.Point]:
    """Runs what is not finished, ``jobs`` at a time, then returns every finished run's point."""
    os.makedirs(workdir, exist_ok=True)
    total = len(runs)
    pending = []
    for index, run in enumerate(runs, 1):
        if os.path.exists(results_path(workdir, run)):
            logging.info("[%d/%d] %s: finished earlier", index, total, run.name)
        else:
            pending.append((index, run))
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else 0
    failed = []
    with futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        started = {}
        for index, run in pending:
            started[pool.submit(_start, f"[{index}/{total}]", run, workdir, common, threads)] = (index, run)
        for future in futures.as_completed(started):
            index, run = started[future]
            code, seconds = future.result()
            if code != 0:
                failed.append(run.name)
                logging.error("[%d/%d] %s: failed after %.0f s (exit %d)", index, total, run.name, seconds, code)
                continue
            p = load_point(workdir, run)
            logging.info("[%d/%d] %s: %.0f s, A_T %.3f, A_B^N %.3f, worst case %.3f", index, total, run.name,
                         seconds, p.target_accuracy, p.budget_score, p.worst_case_budget_score)
    points = [load_point(workdir, run) for run in runs if os.path.exists(results_path(workdir, run))]
    if points:
        tradeoff.write_all(workdir, points, title=f"{len(points)} runs: privacy against utility")
    if failed:
        names = [run.name for run in runs if run.name in failed]
        raise SweepError(f"runs failed: {', '.join(names)} (logs: {workdir}/NAME.log); "
                         "re-run the same command to retry them")
    return points


def load_point(workdir: str, run: Run) -> tradeoff.Point:
    path = results_path(workdir, run)
    try:
        with open(path) as f:
            return tradeoff.point(run.name, json.load(f))
    except (json.JSONDecodeError, KeyError) as error:
        raise SweepError(f"{path}: not a ppvr-train results file ({error})") from None
