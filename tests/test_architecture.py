"""The import rules of docs/ARCHITECTURE.md, checked on the source: who may import whom, and no cycles.

Imports are read with ``ast`` from every module of ``vcam/`` and ``overlay/``, those inside functions too
(a lazy import is still a dependency); ``if TYPE_CHECKING:`` imports are type hints only and not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vcam", "overlay")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path, *, top_level_only: bool = False) -> set[str]:
    """The vcam/overlay modules ``path`` imports (``from x import y`` counts x.y when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    nodes = tree.body if top_level_only else list(_walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & MODULES
            found |= submodules or {node.module}  # from a package import a module: that module, not the package
    return {name for name in found if name.split(".")[0] in PACKAGES and name in MODULES}


def _walk(node: ast.AST):
    for child in ast.iter_child_nodes(node):
        if _type_checking(child):
            continue
        yield child
        yield from _walk(child)


FILES = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
MODULES = set(FILES)
GRAPH = {name: imports_of(path) for name, path in FILES.items()}


def under(name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether module ``name`` is one of ``prefixes`` or inside one of them (``vcam.cli`` is not under ``vcam.c``)."""
    return any(name == p or name.startswith(p + ".") or (p.endswith("*") and name.startswith(p[:-1]))
               for p in prefixes)


def importers_of(prefixes: tuple[str, ...], among: tuple[str, ...]) -> dict[str, set[str]]:
    """For each module under ``among``, the modules under ``prefixes`` it imports (only those that do)."""
    out = {}
    for name, deps in GRAPH.items():
        if under(name, among):
            bad = {d for d in deps if under(d, prefixes)}
            if bad:
                out[name] = bad
    return out


def test_the_overlay_depends_on_vcam_types_only():
    outside = {name: {d for d in deps if not d.startswith("overlay")} - {"vcam.types"}
               for name, deps in GRAPH.items() if name.startswith("overlay")}
    assert {k: v for k, v in outside.items() if v} == {}


@pytest.mark.parametrize("base", ["vcam.types", "vcam.errors", "vcam.features", "vcam.limits", "vcam.records",
                                  "vcam.room"])
def test_the_vocabulary_depends_on_nothing_but_itself(base):
    allowed = {"vcam", "vcam.types", "vcam.errors", "vcam.features", "vcam.limits", "vcam.room"}
    assert GRAPH[base] - allowed == set()


def test_the_pipeline_does_no_io_it_never_reaches_sources_outputs_feed_session_or_the_shells():
    io = ("vcam.sources", "vcam.outputs", "vcam.feed", "vcam.session", "vcam.daemon", "vcam.runtime", "vcam.tray*",
          "vcam.cli*", "vcam.config", "vcam.controls")
    assert importers_of(io, ("vcam.pipeline",)) == {}


def test_the_writers_only_format_records_they_never_run_the_pipeline():
    writers = ("vcam.records", "vcam.room", "vcam.feed.events", "vcam.session")
    assert importers_of(("vcam.pipeline", "vcam.daemon", "vcam.sources", "vcam.outputs"), writers) == {}


def test_nothing_below_the_shells_imports_them():
    shells = ("vcam.cli*", "vcam.tray*", "vcam.doctor", "vcam.daemon", "vcam.__main__")
    below = tuple(sorted(name for name in MODULES if not under(name, shells) and name != "vcam"))
    assert importers_of(shells, below) == {}


def test_module_level_imports_have_no_cycle():
    graph = {name: imports_of(path, top_level_only=True) for name, path in FILES.items()}
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> list[str] | None:
        state[name] = 1
        for dep in sorted(graph.get(name, ())):
            if state.get(dep) == 1:
                return trail + [name, dep]
            if dep not in state and (cycle := visit(dep, trail + [name])):
                return cycle
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state:
            assert visit(name, []) is None, "an import cycle"
