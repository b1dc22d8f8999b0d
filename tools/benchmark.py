"""What training costs on this machine, against what the machine can do.

    python tools/benchmark.py --out=benchmark.json
    python tools/benchmark.py --sections=ceiling,step --shapes=synthetic --modes=function --out=quick.json

Sections (``--sections``):
  ceiling    fp32 and bf16 matmul GFLOP/s through TensorFlow: the machine's measured peak.
  step       one fD update of grl, entropy and kbeam for each M in ``--budget_counts``, and
             the plain fT step on raw clips, at each shape in ``--shapes`` (``synthetic``:
             the synthetic default; ``paper``: 16x112x112 clips, C3D, MobileNet budget
             models, the paper's fD), run eagerly, as a tf.function and under XLA. FLOPs
             per step are counted from the traced step (``ppvr_tf.perf.flops``).
  pipeline   real videos (../shared/data) decoded through the datasets' pipeline: clips/s,
             and the paper-shape entropy step fed from them against fed from memory.
  eval       the two-fold evaluation's wall time (fresh fT, N attackers) on the synthetic default.
  inference  fD per frame (112x112 RGB; the mcu fD also 120x160 gray): Keras float, LiteRT
             float32 and int8 on one thread, with MACs per frame. The weights do not change
             the time, so the fDs are untrained, at the paper's and the flagfiles' sizes.

Prints one table and writes every row as JSON (``--out``), with the headline numbers
``ceiling_gflops_fp32``, ``adversarial_over_plain`` (entropy M=1 over the plain fT step,
tf.function, at the largest shape measured) and ``fraction_of_ceiling_paper_shape``.
A benchmark, not a test: it takes minutes at the synthetic shape, longer at the paper's.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from ppvr_tf.cli.runtime import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from ppvr_tf import experiment  # noqa: E402
from ppvr_tf.cli import flags as ppvr_flags  # noqa: E402
from ppvr_tf.data.pipeline import training_stream  # noqa: E402
from ppvr_tf.io_utils import atomic_write_text  # noqa: E402
from ppvr_tf.perf import flops  # noqa: E402
from ppvr_tf.training import losses, phases, schedule as sched  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECTIONS = ("ceiling", "step", "pipeline", "eval", "inference")
SAMPLE_VIDEOS = ("ucf101_sample/test.avi", "opencv_samples/vtest.avi")  # real footage in ../shared/data
# shape -> (the experiment flagfile it comes from, overrides for a benchmark of it)
SHAPES = {
    "synthetic": ("flags/synthetic/entropy.flags", []),
    "paper": ("flags/sbu/entropy_m1.flags", ["--dataset=synthetic", "--budget_task=identity"]),
}
# the phase whose update rule moves fD, by method
FD_PHASE = {"grl": phases.ADVERSARIAL, "entropy": phases.ADVERSARIAL, "kbeam": phases.KBEAM_ASCENT}

flags.DEFINE_string("out", "", "Write the results as JSON to this file.")
flags.DEFINE_list("sections", list(SECTIONS), f"Which of {', '.join(SECTIONS)} to run.")
flags.DEFINE_list("shapes", list(SHAPES), f"Step shapes: {', '.join(SHAPES)}.")
flags.DEFINE_list("methods", list(FD_PHASE), "Update rules to time.")
flags.DEFINE_list("budget_counts", ["1", "2", "4", "8"], "Budget ensemble sizes M.")
flags.DEFINE_list("modes", ["eager", "function", "xla"], "How the step runs.")
flags.DEFINE_list("precisions", ["float32"], "Training arithmetic (--precision) of the step rows: "
                  "float32, mixed_bfloat16.")
flags.DEFINE_integer("steps", 5, "Timed calls per measurement (after one warm-up call).")
flags.DEFINE_integer("paper_batch", 8, "Clips per step at the paper's shape.")
F = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class Options:
    """This tool's flags, read once: building each configuration re-parses absl's flags."""
    sections: tuple[str, ...]
    shapes: tuple[str, ...]
    methods: tuple[str, ...]
    budget_counts: tuple[int, ...]
    modes: tuple[str, ...]
    precisions: tuple[str, ...]
    steps: int
    paper_batch: int
    out: str

    @classmethod
    def from_flags(cls) -> "Options":
        return cls(tuple(F.sections), tuple(F.shapes), tuple(F.methods), tuple(map(int, F.budget_counts)),
                   tuple(F.modes), tuple(F.precisions), F.steps, F.paper_batch, F.out)


def timed(fn: Callable, *args, steps: int) -> float:
    """Seconds per call, after a first call that traces and compiles."""
    tf.nest.map_structure(np.asarray, fn(*args))
    started = time.perf_counter()
    for _ in range(steps):
        result = fn(*args)
    tf.nest.map_structure(np.asarray, result)  # wait for the last call's values
    return (time.perf_counter() - started) / steps


# -- ceilings ---------------------------------------------------------------------------
def ceilings(steps: int) -> dict:
    """Matmul GFLOP/s at sizes large enough to saturate every core; the best size counts."""
    result = {}
    for dtype in ("float32", "bfloat16"):
        best = 0.0
        for n in (1024, 2048, 4096):
            a = tf.random.uniform((n, n), dtype=tf.float32)
            a = tf.cast(a, dtype)
            matmul = tf.function(lambda x: tf.matmul(x, x))
            seconds = timed(matmul, a, steps=steps)
            best = max(best, 2 * n ** 3 / seconds / 1e9)
        result[dtype] = round(best, 1)
    return result


# -- training steps ---------------------------------------------------------------------
def shape_config(shape: str, method: str, budgets: int, paper_batch: int = 8, more: tuple[str, ...] = ()):
    flagfile, overrides = SHAPES[shape]
    batch = paper_batch if shape == "paper" else None
    extra = [f"--method={method}", f"--num_budget_models={budgets}", *overrides]
    if batch:
        extra += [f"--batch_size={batch}", *(f"--{s}_clips={batch}" for s in ("train", "val", "test"))]
    extra += list(more)
    ppvr_flags.F.unparse_flags()  # nothing of the previous configuration may carry over
    try:
        ppvr_flags.F(["benchmark", f"--flagfile={os.path.join(ROOT, flagfile)}", *extra])
        return ppvr_flags.experiment_config()
    finally:
        ppvr_flags.F.unparse_flags()
        ppvr_flags.F(["benchmark"])  # parsed again (at defaults), as absl's logging expects


def step_batch(cfg) -> tuple:
    """A trainer and one batch of its training stream."""
    dataset = experiment.load_dataset(cfg)
    trainer = experiment.build_trainer(cfg, dataset, sched.Schedule(cfg.schedule))
    batch = next(iter(training_stream(dataset, cfg.optim.batch_size)))
    return trainer, batch


def plain_step(trainer) -> Callable:
    """fT on raw clips: the reference cost of training the action model alone."""
    target, optimizer = trainer.target, trainer.t_optimizer

    def step(data):
        with tf.GradientTape() as tape:
            logits = target(data["clips"], training=True)
            loss = losses.classification_loss(data["actions"], logits)  # fT's LT, as the trainer has it
        optimizer.apply(tape.gradient(loss, target.trainable_variables), target.trainable_variables)
        return loss
    return step


def compiled(step: Callable, mode: str) -> Callable:
    return step if mode == "eager" else tf.function(step, jit_compile=mode == "xla")


def step_rows(shape: str, ceilings_: dict, opts: Options) -> list[dict]:
    """Each row's share of the ceiling is of its own arithmetic's (fp32 or bf16) ceiling."""
    return [row for precision in opts.precisions
            for row in _step_rows(shape, precision,
                                  ceilings_.get(keras.DTypePolicy(precision).compute_dtype, 0.0), opts)]


def _step_rows(shape: str, precision: str, ceiling: float, opts: Options) -> list[dict]:
    rows = []
    for method in opts.methods:
        for budgets in opts.budget_counts:
            cfg = shape_config(shape, method, budgets, opts.paper_batch, more=(f"--precision={precision}",))
            trainer, batch = step_batch(cfg)
            steps = {f"{method} M={budgets}": lambda data, p=FD_PHASE[method]: trainer.update(p, data)}
            if method == opts.methods[0] and budgets == opts.budget_counts[0]:
                steps = {"plain fT": plain_step(trainer), **steps}
            for name, step in steps.items():
                count = flops.step_flops(step, batch)
                for mode in opts.modes:
                    logging.info("%s %s %s ...", shape, name, mode)
                    row = {"shape": shape, "precision": precision, "step": name, "mode": mode,
                           "method": None if name == "plain fT" else method,
                           "budget_models": None if name == "plain fT" else budgets,
                           "batch": cfg.optim.batch_size}
                    rows.append({**row, **_measure(compiled(step, mode), batch, count, cfg.optim.batch_size,
                                                   ceiling, opts.steps)})
            keras.backend.clear_session()
    return rows


def _measure(step: Callable, batch: dict, count: int, clips: int, ceiling: float, steps: int) -> dict:
    try:
        seconds = timed(step, batch, steps=steps)
    except Exception as error:  # XLA may refuse an op; the row says so instead of the benchmark dying
        return {"error": f"{type(error).__name__}: {error}"[:300]}
    achieved = count / seconds / 1e9
    return {"seconds_per_step": round(seconds, 4), "clips_per_second": round(clips / seconds, 2),
            "gflop_per_step": round(count / 1e9, 3), "gflops": round(achieved, 2),
            "fraction_of_ceiling": round(achieved / ceiling, 4) if ceiling else None}


# -- input pipeline ---------------------------------------------------------------------
def pipeline_rates(opts: Options, videos_dir: str) -> dict:
    """Real videos through the datasets' pipeline (decoded once into the tfds cache, then
    read as the trainer reads them): how fast clips decode, and whether the paper-shape
    entropy step fed from them runs as fast as fed from a batch already in memory."""
    videos = [os.path.join(videos_dir, v) for v in SAMPLE_VIDEOS]
    missing = [v for v in videos if not os.path.isfile(v)]
    if missing:
        return {"error": f"sample videos not found: {', '.join(missing)}"}
    with tempfile.TemporaryDirectory() as folder:
        rows = ["path,split,action,person"]
        for index in range(12):  # each video several times, so every split has both
            name = f"video_{index:02d}.avi"
            os.symlink(videos[index % 2], os.path.join(folder, name))
            split = "train" if index < 8 else "val" if index < 10 else "test"
            rows.append(f"{name},{split},{('walk', 'play')[index % 2]},{('a', 'b')[index // 2 % 2]}")
        atomic_write_text(os.path.join(folder, "manifest.csv"), "\n".join(rows) + "\n")
        cfg = shape_config("paper", "entropy", 1, opts.paper_batch,
                           ("--dataset=manifest", f"--manifest={folder}/manifest.csv",
                            f"--cache_dir={folder}/cache", "--clips_per_video=4"))
        started = time.perf_counter()
        dataset = experiment.load_dataset(cfg)
        decode = time.perf_counter() - started
        clips = len(dataset.train) + len(dataset.val) + len(dataset.test)
        trainer = experiment.build_trainer(cfg, dataset, sched.Schedule(cfg.schedule))
        step = tf.function(lambda data: trainer.update(phases.ADVERSARIAL, data))
        stream = iter(training_stream(dataset, cfg.optim.batch_size))
        in_memory = timed(step, next(stream), steps=opts.steps)
        from_video = timed(lambda: step(next(stream)), steps=opts.steps)
    return {"videos": list(SAMPLE_VIDEOS), "clips_decoded": clips, "decode_seconds": round(decode, 1),
            "decoded_clips_per_second": round(clips / decode, 2), "batch": cfg.optim.batch_size,
            "seconds_per_step_in_memory": round(in_memory, 3), "seconds_per_step_from_video": round(from_video, 3),
            "step_clips_per_second": round(cfg.optim.batch_size / from_video, 2),
            "over_memory": round(from_video / in_memory, 4)}


# -- evaluation and inference -----------------------------------------------------------
def evaluation_time() -> dict:
    from ppvr_tf.evaluation import two_fold

    cfg = shape_config("synthetic", "entropy", 1)
    dataset = experiment.load_dataset(cfg)
    started = time.perf_counter()
    result = two_fold.evaluate(lambda frames: frames, dataset, cfg.eval,
                               target_factory=experiment.target_factory(cfg), label="benchmark")
    return {"attackers": len(cfg.eval.attackers), "seconds": round(time.perf_counter() - started, 1),
            "seconds_per_attacker": {a.name: a.seconds for a in result.attackers}}


# (name, fD as the experiments build it, the camera's frame: H, W, channels)
INFERENCE = (("paper fD (transformer)", {"degradation": "transformer"}, (112, 112, 3)),
             ("paper fD, width 0.25, skip", {"degradation": "transformer", "fd_width": 0.25,  # flags/synthetic
                                             "fd_residual_blocks": 3, "fd_skip": True}, (112, 112, 3)),
             ("paper fD, width 0.25", {"degradation": "transformer", "fd_width": 0.25,  # flags/kth
                                       "fd_residual_blocks": 3}, (112, 112, 3)),
             ("mcu fD", {"degradation": "mcu", "fd_residual_blocks": 2}, (112, 112, 3)),
             ("mcu fD", {"degradation": "mcu", "fd_residual_blocks": 2}, (120, 160, 1)))


def inference_rows(steps: int) -> list[dict]:
    from ppvr_tf.config import ModelConfig
    from ppvr_tf.evaluation import litert_fd
    from ppvr_tf.models import degradation
    from tflite_export import convert, fd_source, model_info

    rows = []
    for name, model_fields, shape in INFERENCE:
        frames = np.random.default_rng(0).uniform(size=(32, *shape)).astype(np.float32)
        spec = tf.TensorSpec((1, *shape), tf.float32, name="frames")
        fd = fd_source.on_sensor(degradation.build_degradation(ModelConfig(**model_fields)), shape)  # as exported
        size = f"{shape[0]}x{shape[1]} {'gray' if shape[-1] == 1 else 'rgb'}"
        serve = tf.function(fd.__call__, input_signature=[spec])
        rows.append({"fd": name, "frame": size, "runtime": "Keras float32, all cores",
                     "ms_per_frame": round(1000 * timed(serve, frames[:1], steps=steps), 2)})
        with tempfile.TemporaryDirectory() as folder:
            fd.export(folder, format="tf_saved_model", verbose=False, input_signature=[spec])
            for precision in ("float32", "int8"):
                model = convert.convert(folder, precision, [frames])
                interp = litert_fd.interpreter(model, threads=1)
                io = litert_fd.io_details(interp)["input"]
                index = interp.get_input_details()[io["position"]]["index"]
                interp.set_tensor(index, litert_fd.quantize(frames[:1], io))
                seconds = timed(lambda: interp.invoke(), steps=steps)
                rows.append({"fd": name, "frame": size, "runtime": f"LiteRT {precision}, 1 thread",
                             "ms_per_frame": round(1000 * seconds, 2), "frames_per_second": round(1 / seconds, 1),
                             "macs_per_frame": model_info.macs_per_frame(interp)})
    return rows


# -- report -----------------------------------------------------------------------------
def headline(results: dict) -> dict:
    steps = [r for r in results.get("steps", [])
             if "error" not in r and r["mode"] == "function" and r["precision"] == "float32"]
    shape = "paper" if any(r["shape"] == "paper" for r in steps) else "synthetic"

    def seconds(name):
        return next((r["seconds_per_step"] for r in steps if r["shape"] == shape and r["step"] == name), None)
    plain, entropy = seconds("plain fT"), seconds("entropy M=1")
    paper = [r["fraction_of_ceiling"] for r in steps if r["shape"] == "paper" and r["step"] == "entropy M=1"]
    return {"ceiling_gflops_fp32": results.get("ceilings", {}).get("float32"),
            "adversarial_over_plain": round(entropy / plain, 3) if plain and entropy else None,
            "adversarial_over_plain_shape": shape,
            "fraction_of_ceiling_paper_shape": paper[0] if paper else None,
            "pipeline_over_memory": results.get("pipeline", {}).get("over_memory")}


def table(results: dict) -> str:
    lines = [f"ceilings (GFLOP/s): {results.get('ceilings')}"]
    for r in results.get("steps", []):
        if "error" in r:
            lines.append(f"{r['shape']:9s} {r['precision']:14s} {r['step']:14s} {r['mode']:8s} "
                         f"error: {r['error'][:80]}")
        else:
            lines.append(f"{r['shape']:9s} {r['precision']:14s} {r['step']:14s} {r['mode']:8s} "
                         f"{r['seconds_per_step']:8.3f} s "
                         f"{r['clips_per_second']:8.1f} clips/s {r['gflop_per_step']:9.1f} GFLOP "
                         f"{r['gflops']:7.1f} GFLOP/s ({100 * (r['fraction_of_ceiling'] or 0):4.1f} %)")
    if "pipeline" in results:
        lines.append(f"input pipeline: {results['pipeline']}")
    if "evaluation" in results:
        lines.append(f"two-fold evaluation: {results['evaluation']}")
    for r in results.get("inference", []):
        lines.append(f"{r['fd']:28s} {r['frame']:14s} {r['runtime']:24s} {r['ms_per_frame']:8.2f} ms/frame")
    lines.append(json.dumps(headline(results)))
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    opts = Options.from_flags()
    unknown = (set(opts.sections) - set(SECTIONS)) | (set(opts.shapes) - set(SHAPES)) | (set(opts.methods) - set(FD_PHASE))
    if unknown:
        raise app.UsageError(f"unknown section, shape or method: {', '.join(sorted(unknown))}")
    results: dict = {"machine": {"cpus": os.cpu_count(), "tensorflow": tf.__version__}}
    if "ceiling" in opts.sections:
        results["ceilings"] = ceilings(opts.steps)
    if "step" in opts.sections:
        results["steps"] = [row for shape in opts.shapes for row in step_rows(shape, results.get("ceilings", {}), opts)]
    if "pipeline" in opts.sections:
        results["pipeline"] = pipeline_rates(opts, os.path.join(ROOT, "..", "shared", "data"))
    if "eval" in opts.sections:
        results["evaluation"] = evaluation_time()
    if "inference" in opts.sections:
        results["inference"] = inference_rows(opts.steps)
    results.update(headline(results))
    print(table(results))
    if opts.out:
        atomic_write_text(opts.out, json.dumps(results, indent=2))


if __name__ == "__main__":
    app.run(main)
