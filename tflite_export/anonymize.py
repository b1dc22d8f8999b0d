"""ppvr-anonymize: run the exported int8 fD over a video or a camera, frame by frame,
as the camera would, and write what would leave it.

    ppvr-anonymize --model=OUT/fd_int8.tflite --input=street.avi --output=street_fd.avi

Frames are resized (aspect kept, centre cut) to the model's input size (and made gray
for a model exported with --input_format=gray); the output
video has that size and the input's frame rate. Beside it, ``<output>_preview.png``
shows a raw frame next to its anonymized version. Prints frames per second of fD
alone (one LiteRT thread) and of the whole loop.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import cv2
import numpy as np
from absl import app, flags, logging

from ppvr_tf.cli.runtime import quiet_tensorflow

quiet_tensorflow()

flags.DEFINE_string("model", None, "fd_int8.tflite (or any fD flatbuffer) from ppvr-export.")
flags.DEFINE_string("input", None, "A video file, or a camera index such as 0.")
flags.DEFINE_string("output", None, "The anonymized video (.avi: MJPG, .mp4: mp4v).")
flags.DEFINE_integer("max_frames", 0, "Stop after this many frames (0: the whole video).")
flags.DEFINE_integer("threads", 1, "LiteRT threads (1: like a single-core camera).")
F = flags.FLAGS
CODECS = {".avi": "MJPG", ".mp4": "mp4v"}


def open_source(source: str) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        raise ValueError(f"{source}: cannot be opened as a video or camera")
    return capture


def anonymize(model: str, source: str, output: str, max_frames: int = 0, threads: int = 1) -> dict:
    from ppvr_tf.data.video import resize_cover
    from ppvr_tf.evaluation.litert_fd import TFLiteFrameFilter
    from ppvr_tf.io_utils import save_png
    from tflite_export.export import LUMA
    extension = os.path.splitext(output)[1].lower()
    if extension not in CODECS:
        raise ValueError(f"{output}: the output must end in {' or '.join(CODECS)}")
    fd = TFLiteFrameFilter(model, threads)
    height, width, channels = fd.frame_shape
    capture = open_source(source)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    fd_handle, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(output)), suffix=extension)
    os.close(fd_handle)
    writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*CODECS[extension]), fps, (width, height))
    count, fd_seconds, started, preview, previous = 0, 0.0, time.time(), None, None
    try:
        while not max_frames or count < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            rgb = resize_cover(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), height, width)
            sensor = rgb if channels == 3 else (rgb @ LUMA)[..., None]  # a gray model: a gray sensor
            current = sensor[None].astype(np.float32) / 255.0
            t0 = time.perf_counter()
            pair = [current, current if previous is None else previous]  # BDQ also takes the last frame
            out = fd.run(pair if fd.per_clip else pair[:1])[0]
            fd_seconds += time.perf_counter() - t0
            previous = current
            out = np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)
            if out.shape[-1] == 1:
                out = np.repeat(out, 3, axis=-1)
            writer.write(cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
            if preview is None:
                preview = np.concatenate([rgb, np.full((height, 4, 3), 255, np.uint8), out], axis=1)
            count += 1
            if count % 100 == 0:
                logging.info("%d frames, fD %.1f frames/s", count, count / fd_seconds)
        writer.release()
        if count == 0:
            raise ValueError(f"{source}: no frame could be read")
        os.replace(tmp, output)
    finally:
        writer.release()
        capture.release()
        if os.path.exists(tmp):
            os.remove(tmp)
    preview_path = os.path.splitext(output)[0] + "_preview.png"
    _save_preview(preview_path, preview, save_png)
    total = time.time() - started
    return {"frames": count, "frame_shape": [height, width], "fd_frames_per_second": round(count / fd_seconds, 1),
            "total_frames_per_second": round(count / total, 1), "threads": threads,
            "output": os.path.abspath(output), "preview": os.path.abspath(preview_path)}


def _save_preview(path: str, image: np.ndarray, save_png) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 8 * image.shape[0] / image.shape[1] + 0.5))
    ax.imshow(image)
    ax.set_title("camera frame  |  what leaves the camera (int8 fD)")
    ax.axis("off")
    save_png(path, fig)
    plt.close(fig)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not (F.model and F.input and F.output):
        raise app.UsageError("--model, --input and --output are required")
    try:
        summary = anonymize(F.model, F.input, F.output, F.max_frames, F.threads)
    except (ValueError, FileNotFoundError) as error:
        sys.exit(f"ppvr-anonymize: {error}")
    print(json.dumps(summary, indent=2))


def run() -> None:
    app.run(main)


if __name__ == "__main__":
    run()
