"""The layering of DESIGN.md section 1, enforced: bot -> adapters, jobs -> engine, and no cycles.

- engine/ imports no chat platform, scheduler or outer package;
- adapters/ import neither bot/ nor jobs/; jobs/ import neither bot/ nor adapters/;
- outside engine/, code uses only the engine's public surface (`from engine import ...`);
- no import cycles among our modules, counting imports inside functions too.
"""

import ast
from collections.abc import Iterable, Iterator
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import engine

REPO = Path(engine.__file__).resolve().parents[1]
PACKAGES = ("bot", "adapters", "jobs", "engine")
FORBIDDEN = {
    "engine": {"telegram", "discord", "apscheduler", "bot", "adapters", "jobs"},
    "adapters": {"bot", "jobs", "apscheduler"},
    "jobs": {"bot", "adapters", "telegram", "discord"},
    "bot": {"telegram", "discord"},  # platforms belong to their adapters
}
Graph = dict[str, set[str]]


def module_name(path: Path, root: Path = REPO) -> str:
    """`engine/understanding/ocr.py` -> `engine.understanding.ocr`; packages by their dir."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources(root: Path = REPO) -> dict[str, str]:
    """Every module of our packages, by dotted name."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(path, root)] = path.read_text(encoding="utf-8")
    return found


def _resolve(module: str, level: int, importer: str, is_package: bool) -> str:
    if not level:
        return module
    base = importer.split(".")
    base = base[: len(base) - level + (1 if is_package else 0)]
    return ".".join([*base, module] if module else base)


def imports(name: str, source: str, known: Iterable[str]) -> Iterator[str]:
    """Dotted names this module imports anywhere in it (a from-import of a submodule names it)."""
    known = set(known)
    is_package = f"{name}.__init__" in known or any(k.startswith(name + ".") for k in known)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node.module or "", node.level, name, is_package)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield sub if sub in known else target


def graph(modules: dict[str, str]) -> Graph:
    """Edges between our own modules."""
    return {
        name: {m for m in imports(name, src, modules) if m in modules and m != name}
        for name, src in modules.items()
    }


def cycles(edges: Graph) -> list[list[str]]:
    """The import cycle graphlib finds first, as its sorted modules (none: [])."""
    try:
        TopologicalSorter(edges).prepare()
    except CycleError as exc:
        return [sorted(set(exc.args[1]))]
    return []


def violations(modules: dict[str, str]) -> list[str]:
    """Every import that breaks a layering rule, as `module -> imported`."""
    bad: list[str] = []
    for name, src in modules.items():
        layer = name.split(".")[0]
        for imported in imports(name, src, modules):
            top = imported.split(".")[0]
            if top in FORBIDDEN[layer] or (layer != "engine" and imported.startswith("engine.")):
                bad.append(f"{name} -> {imported}")
    return sorted(set(bad))


# --- the checker finds what it should --------------------------------------------------------


def test_checker_finds_forbidden_imports_and_private_engine_use() -> None:
    modules = {
        "engine.a": "import os\nfrom telegram.ext import Application\n"
        "def f():\n    import discord\n    from bot.config import load_settings\n",
        "adapters.x": "from engine import SearchService\nfrom engine.service import Hidden\n",
        "jobs.t": "from adapters.base import JobFunc\n",
    }
    assert violations(modules) == [
        "adapters.x -> engine.service",
        "engine.a -> bot.config",
        "engine.a -> discord",
        "engine.a -> telegram.ext",
        "jobs.t -> adapters.base",
    ]


def test_checker_finds_cycles_through_function_level_and_relative_imports() -> None:
    modules = {
        "bot.cli": "def demo():\n    from bot import demo\n",
        "bot.demo": "from .evalrun import x\n",
        "bot.evalrun": "from bot.cli import progress\n",
        "bot.console": "import tqdm\n",
        "bot": "",
    }
    assert cycles(graph(modules)) == [["bot.cli", "bot.demo", "bot.evalrun"]]
    assert cycles(graph({"a": "import b\n", "b": "import os\n"})) == []


# --- the tree obeys ---------------------------------------------------------------------------


def test_every_package_has_sources() -> None:
    names = set(sources())
    assert {"engine.service", "engine.types", "adapters.base", "bot.app", "jobs.tasks"} <= names


def test_no_layering_violations() -> None:
    assert violations(sources()) == []


def test_no_import_cycles() -> None:
    assert cycles(graph(sources())) == []


@pytest.mark.parametrize("name", engine.__all__)
def test_every_public_engine_name_resolves(name: str) -> None:
    assert getattr(engine, name) is not None


def test_the_public_surface_lists_each_name_once() -> None:
    assert len(engine.__all__) == len(set(engine.__all__))
    assert set(engine.__all__) == set(engine._WHERE)
