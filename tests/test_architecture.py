"""Imports follow the data flow (docs/architecture.md): a room imports only rooms below it."""
from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Bottom to top; a room may import rooms of lower layers only.
LAYERS = (
    {"ppvr_tf.clock", "ppvr_tf.io_utils", "ppvr_tf.options", "ppvr_tf.registry"},
    {"ppvr_tf.data", "ppvr_tf.reporting"},
    {"ppvr_tf.models"},
    {"ppvr_tf.training"},
    {"ppvr_tf.evaluation", "ppvr_tf.export", "ppvr_tf.perf"},
    {"ppvr_tf.config"},
    {"ppvr_tf.experiment", "ppvr_tf.sweep"},
    {"ppvr_tf.cli"},
    {"tflite_export"},
)


def _modules() -> dict[str, str]:
    found = {}
    for package in ("ppvr_tf", "tflite_export"):
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
                    found[module] = path
    return found


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[0] if parts[0] == "tflite_export" else ".".join(parts[:2])


def _imports(path: str, modules: dict[str, str]) -> set[str]:
    targets = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                        for a in node.names}
    return {t for t in targets if t.split(".")[0] in ("ppvr_tf", "tflite_export")}


def _layer(room: str) -> int:
    for index, rooms in enumerate(LAYERS):
        if room in rooms:
            return index
    raise AssertionError(f"{room} is in no layer: place it in LAYERS and docs/architecture.md")


def test_every_import_goes_down_the_layers():
    modules = _modules()
    upward = []
    for module, path in sorted(modules.items()):
        for target in _imports(path, modules):
            source_room, target_room = _room(module), _room(target)
            if source_room != target_room and _layer(target_room) >= _layer(source_room):
                upward.append(f"{module} imports {target}")
    assert not upward, "imports that go up or sideways:\n" + "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The rule above is not vacuous: an import from data into training is caught."""
    source = tmp_path / "x.py"
    source.write_text("from ppvr_tf.training.losses import budget_loss\n")
    modules = _modules()
    assert _imports(str(source), modules) == {"ppvr_tf.training.losses"}
    assert _layer(_room("ppvr_tf.training.losses")) > _layer(_room("ppvr_tf.data.loader"))
