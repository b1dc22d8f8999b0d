"""A procedurally generated smart-camera dataset: the embedded default.

Nothing to download: clips are drawn from a seeded generator, so every run of the
same configuration sees the same pixels. Each clip shows one actor in front of a
textured wall, filmed by a noisy camera with random exposure.

What makes it a fair benchmark rather than a toy:

* **Actions** come in two kinds, as in real video. *Motion* actions (walk left,
  walk right, wave) are defined by how the body moves. *Object* actions (drink,
  phone, read) share one still pose and differ only by the shape of the object in
  the actor's hand, like HMDB51's drink / eat / smoke. A motion-only encoding
  (frame differences) therefore cannot tell the object actions apart.
* **Privacy** lives in the actor's own appearance: skin tone, shirt and trouser
  colour, striped or plain shirt, slim or broad build, short or tall. Colour and
  build survive naive down-sampling and blur, so those do not protect privacy.
* The identity label is multi-class (one per actor, like SBU's actor pairs); four
  binary "can tell" attributes (dark skin, broad build, striped shirt, hat) give a
  multi-label budget task like PA-HMDB51's.
* ``identity_action_correlation`` makes who-does-what dependent (0 = independent).
* ``appearance`` takes cues away (one gray for skin, clothes and hat; no stripes): control
  datasets that measure how much identity each cue carries (docs/learned_fd.md §14).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ppvr_tf.options import option
ACTIONS = ("walk_left", "walk_right", "wave", "drink", "phone", "read")
MOTION_ACTIONS = ("walk_left", "walk_right", "wave")
ATTRIBUTES = ("dark_skin", "broad_build", "striped_shirt", "hat")

# Appearance palettes (RGB in [0, 1]); luminances differ, so grayscale alone leaks them.
_SKIN = np.array([[0.96, 0.80, 0.69], [0.87, 0.67, 0.50], [0.62, 0.42, 0.28], [0.36, 0.22, 0.14]])
_SHIRT = np.array([[0.85, 0.10, 0.10], [0.10, 0.45, 0.85], [0.15, 0.70, 0.20],
                   [0.95, 0.85, 0.10], [0.55, 0.20, 0.70], [0.95, 0.55, 0.10],
                   [0.90, 0.90, 0.90], [0.15, 0.15, 0.15]])
_TROUSERS = np.array([[0.10, 0.12, 0.35], [0.35, 0.30, 0.25], [0.05, 0.05, 0.05], [0.60, 0.60, 0.55]])
_OBJECT = np.array([[0.9, 0.2, 0.6], [0.2, 0.8, 0.8], [0.8, 0.8, 0.2], [0.95, 0.95, 0.95]])
_GRAY = np.array([0.5, 0.5, 0.5])
# --appearance: (own colours, stripes) of every actor
_CUES = {"full": (True, True), "plain": (True, False), "gray": (False, True), "silhouette": (False, False)}
APPEARANCES = tuple(_CUES)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and seeds of the synthetic dataset."""

    num_frames: int = option(8, "Frames per clip (T).")
    height: int = option(32, "Frame height the models see (real data: the crop).", flag="frame_height")
    width: int = option(32, "Frame width the models see (real data: the crop).", flag="frame_width")
    num_identities: int = option(10, "Synthetic: number of actors.")
    train_clips: int = option(1200, "Synthetic: training clips.")
    val_clips: int = option(300, "Synthetic: validation clips.")
    test_clips: int = option(600, "Synthetic: test clips.")
    identity_action_correlation: float = option(0.0, "Synthetic: P(identity tied to action).")
    appearance: str = option("full", "Synthetic: the cues that tell actors apart: full (colours, stripes, build, "
                             "height), plain (no stripes), gray (skin, clothes and hat in one gray), silhouette "
                             "(gray and plain: build and height only).")
    noise_std: float = 0.03
    seed: int = option(0, "Synthetic: seed of the rendered clips.", flag="data_seed")


@dataclasses.dataclass(frozen=True)
class Actor:
    """Fixed appearance of one identity."""

    skin: int
    shirt: int
    trousers: int
    broad: bool
    tall: bool
    striped: bool


@dataclasses.dataclass(frozen=True)
class Look:
    """The colours and pattern an actor is painted with in one dataset."""

    skin: np.ndarray
    shirt: np.ndarray
    trousers: np.ndarray
    striped: bool

    @classmethod
    def of(cls, actor: Actor, appearance: str = "full") -> "Look":
        own_colours, stripes = _CUES[appearance]
        colours = [_SKIN[actor.skin], _SHIRT[actor.shirt], _TROUSERS[actor.trousers]] if own_colours else [_GRAY] * 3
        return cls(*colours, striped=actor.striped and stripes)


@dataclasses.dataclass
class ClipSet:
    """A split: uint8 clips (N, T, H, W, 3) with their labels."""

    clips: np.ndarray
    actions: np.ndarray
    identities: np.ndarray
    attributes: np.ndarray  # (N, len(ATTRIBUTES)) in {0, 1}

    def __len__(self) -> int:
        return len(self.actions)


def make_actors(num_identities: int, seed: int) -> list[Actor]:
    """Draws distinct actors; the cast depends only on the seed and the count."""
    rng = np.random.default_rng([seed, 7])
    actors: list[Actor] = []
    seen: set[tuple] = set()
    while len(actors) < num_identities:
        actor = Actor(skin=int(rng.integers(len(_SKIN))), shirt=int(rng.integers(len(_SHIRT))),
                      trousers=int(rng.integers(len(_TROUSERS))), broad=bool(rng.integers(2)),
                      tall=bool(rng.integers(2)), striped=bool(rng.integers(2)))
        key = dataclasses.astuple(actor)
        if key not in seen:
            seen.add(key)
            actors.append(actor)
    return actors


def _fill(frame: np.ndarray, y0: float, y1: float, x0: float, x1: float, colour) -> None:
    """Paints an axis-aligned box given in pixel coordinates (clipped to the frame)."""
    h, w = frame.shape[:2]
    ya, yb = max(0, int(round(y0))), min(h, int(round(y1)))
    xa, xb = max(0, int(round(x0))), min(w, int(round(x1)))
    if ya < yb and xa < xb:
        frame[ya:yb, xa:xb] = colour


def _draw_object(frame: np.ndarray, action: str, cy: float, cx: float, s: float, colour) -> None:
    """The held object: its shape is the only cue for drink / phone / read."""
    if action == "drink":  # a cup: square body with a handle on the side
        _fill(frame, cy - 1.5 * s, cy + 1.5 * s, cx - 1.5 * s, cx + 1.5 * s, colour)
        _fill(frame, cy - 0.5 * s, cy + 0.5 * s, cx + 1.5 * s, cx + 2.5 * s, colour)
    elif action == "phone":  # a phone: tall thin bar
        _fill(frame, cy - 3.0 * s, cy + 3.0 * s, cx - 0.75 * s, cx + 0.75 * s, colour)
    elif action == "read":  # a book: wide flat slab
        _fill(frame, cy - 1.0 * s, cy + 1.0 * s, cx - 3.5 * s, cx + 3.5 * s, colour)


def _draw_actor(frame: np.ndarray, actor: Actor, look: Look, action: str, t: int, x_center: float,
                hat: bool, object_colour, gain: float) -> None:
    h, w = frame.shape[:2]
    s = h / 32.0  # all body measures scale with the frame height
    ground = h - 2 * s
    height = (24.0 if actor.tall else 19.0) * s
    half_torso = (4.5 if actor.broad else 2.75) * s
    skin, shirt, trousers = look.skin * gain, look.shirt * gain, look.trousers * gain
    leg_len, torso_len, head = 0.36 * height, 0.38 * height, 0.2 * height
    hip = ground - leg_len
    shoulder = hip - torso_len

    # Legs: a walking gait swings them apart on alternate frames.
    stride = (1.5 * s if t % 2 else -1.5 * s) if action in ("walk_left", "walk_right") else 0.0
    leg_w = max(1.0, 0.4 * half_torso + 0.5 * s)
    _fill(frame, hip, ground, x_center - half_torso + stride, x_center - half_torso + stride + leg_w, trousers)
    _fill(frame, hip, ground, x_center + half_torso - stride - leg_w, x_center + half_torso - stride, trousers)
    _fill(frame, hip, hip + 2 * s, x_center - half_torso, x_center + half_torso, trousers)

    # Torso, with horizontal stripes for striped shirts.
    _fill(frame, shoulder, hip, x_center - half_torso, x_center + half_torso, shirt)
    if look.striped:
        y = shoulder + s
        while y < hip - 0.5 * s:
            _fill(frame, y, y + s, x_center - half_torso, x_center + half_torso, shirt * 0.35)
            y += 2 * s

    # Head (and hat).
    _fill(frame, shoulder - head, shoulder, x_center - 0.45 * head, x_center + 0.45 * head, skin)
    if hat:
        _fill(frame, shoulder - head - 1.5 * s, shoulder - 0.6 * head, x_center - 0.6 * head,
              x_center + 0.6 * head, np.array([0.05, 0.05, 0.05]) + 0.4 * look.trousers)

    # Arms: the left one hangs; the right one depends on the action.
    arm_w = max(1.0, 1.2 * s)
    _fill(frame, shoulder, shoulder + 0.8 * torso_len, x_center - half_torso - arm_w, x_center - half_torso, skin)
    right = x_center + half_torso
    if action == "wave":  # raised forearm swinging between two heights
        lift = (3.0 * s) if (t // 1) % 2 else 0.0
        _fill(frame, shoulder - 6 * s + lift, shoulder + s, right, right + arm_w, skin)
        _fill(frame, shoulder - 6 * s + lift, shoulder - 4 * s + lift, right, right + 3 * arm_w, skin)
    elif action in ("drink", "phone", "read"):  # one shared still pose, object in hand
        _fill(frame, shoulder, shoulder + arm_w, right, right + 4 * s, skin)
        _draw_object(frame, action, shoulder - 0.5 * s, right + 5.5 * s, s, object_colour)
    else:
        _fill(frame, shoulder, shoulder + 0.8 * torso_len, right, right + arm_w, skin)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A muted wall with a soft vertical texture and a floor."""
    wall = rng.uniform(0.25, 0.6, size=3)
    texture = 0.06 * np.sin(np.arange(w) * rng.uniform(0.3, 1.2) + rng.uniform(0, 6.3))
    frame = np.broadcast_to(wall, (h, w, 3)) + texture[None, :, None]
    floor = rng.uniform(0.15, 0.45, size=3)
    frame = frame.copy()
    frame[int(h * 0.94):] = floor
    return frame


def render_clip(rng: np.random.Generator, cfg: SyntheticConfig, actor: Actor, action: str,
                hat: bool) -> np.ndarray:
    """One clip as uint8 (T, H, W, 3)."""
    t_len, h, w = cfg.num_frames, cfg.height, cfg.width
    s = h / 32.0
    background = _background(rng, h, w)
    gain = rng.uniform(0.85, 1.15)
    object_colour = _OBJECT[rng.integers(len(_OBJECT))]
    speed = rng.uniform(1.0, 1.6) * s * (-1 if action == "walk_left" else 1)
    travel = speed * (t_len - 1) if action in ("walk_left", "walk_right") else 0.0
    margin = 7 * s
    lo, hi = margin - min(0.0, travel), w - margin - max(0.0, travel) - 6 * s
    x_start = rng.uniform(lo, max(lo, hi))
    look = Look.of(actor, cfg.appearance)
    clip = np.empty((t_len, h, w, 3), np.float32)
    for t in range(t_len):
        frame = background.copy()
        x = x_start + (speed * t if action in ("walk_left", "walk_right") else 0.0)
        _draw_actor(frame, actor, look, action, t, x, hat, object_colour, gain)
        clip[t] = frame
    clip += rng.normal(0.0, cfg.noise_std, clip.shape)
    return (np.clip(clip, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _draw_labels(rng: np.random.Generator, cfg: SyntheticConfig, n: int) -> tuple[np.ndarray, np.ndarray]:
    actions = rng.integers(len(ACTIONS), size=n)
    identities = rng.integers(cfg.num_identities, size=n)
    tied = rng.random(n) < cfg.identity_action_correlation
    identities[tied] = actions[tied] % cfg.num_identities
    return actions, identities


def generate_split(cfg: SyntheticConfig, split: str) -> ClipSet:
    """Renders one split ('train', 'val' or 'test'); identical for identical configs."""
    sizes = {"train": cfg.train_clips, "val": cfg.val_clips, "test": cfg.test_clips}
    if split not in sizes:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(sizes)}")
    n = sizes[split]
    rng = np.random.default_rng([cfg.seed, ("train", "val", "test").index(split)])
    actors = make_actors(cfg.num_identities, cfg.seed)
    actions, identities = _draw_labels(rng, cfg, n)
    hats = rng.random(n) < 0.5
    clips = np.empty((n, cfg.num_frames, cfg.height, cfg.width, 3), np.uint8)
    attributes = np.empty((n, len(ATTRIBUTES)), np.int32)
    for i in range(n):
        actor = actors[identities[i]]
        clips[i] = render_clip(rng, cfg, actor, ACTIONS[actions[i]], bool(hats[i]))
        attributes[i] = (actor.skin >= 2, actor.broad, actor.striped, hats[i])
    return ClipSet(clips=clips, actions=actions.astype(np.int32),
                   identities=identities.astype(np.int32), attributes=attributes)
