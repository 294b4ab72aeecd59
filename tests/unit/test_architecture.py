"""The engine is platform-neutral: it must not import chat platforms, schedulers or the app."""

import ast
from pathlib import Path

import pytest

import engine

FORBIDDEN = {"telegram", "discord", "apscheduler", "bot", "adapters", "jobs"}
ENGINE_ROOT = Path(engine.__file__).resolve().parent


def imported_modules(source: str) -> set[str]:
    """Top-level names of every absolute import in `source` (relative ones stay inside)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def engine_files() -> list[Path]:
    return sorted(p for p in ENGINE_ROOT.rglob("*.py") if ".venv" not in p.parts)


def test_checker_finds_forbidden_imports() -> None:
    source = (
        "import os\n"
        "from telegram.ext import Application\n"
        "def f():\n"
        "    import discord\n"
        "    from bot.config import load_settings\n"
        "from . import sibling\n"
    )
    assert imported_modules(source) & FORBIDDEN == {"telegram", "discord", "bot"}


def test_engine_has_sources() -> None:
    names = {p.name for p in engine_files()}
    assert {"text.py", "library.py", "service.py"} <= names


@pytest.mark.parametrize("path", engine_files(), ids=lambda p: str(p.relative_to(ENGINE_ROOT)))
def test_engine_module_imports_no_platform_code(path: Path) -> None:
    bad = imported_modules(path.read_text(encoding="utf-8")) & FORBIDDEN
    assert not bad, f"{path.relative_to(ENGINE_ROOT)} imports {sorted(bad)}"
