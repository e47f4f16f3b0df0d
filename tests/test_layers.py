"""Which package may import which at run time (read from the source, no import): the config layer
builds samplers and pruners through the study package, so the study package must not import config
back (its type hints do, under ``TYPE_CHECKING`` only). A cycle dodged by a function-level import
is a cycle all the same."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "hpo"

# package -> packages of hpo it must never import at run time
FORBIDDEN = {
    "study": {"config", "executor", "engine", "cli", "results"},
    "space": {"config", "study", "executor", "engine", "cli"},
    "storage": {"config", "study", "executor", "engine", "cli"},
    "config": {"executor", "engine", "cli", "results"},
}


def _runtime_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import outside ``if TYPE_CHECKING:`` blocks, at any depth."""
    tree = ast.parse(path.read_text())
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_never_imports_the_layers_above_it(package: str) -> None:
    wrong = [
        f"{path.relative_to(SRC.parent)}:{line}: imports {module}"
        for path in sorted((SRC / package).glob("*.py"))
        for line, module in _runtime_imports(path)
        if module.startswith("hpo.") and module.split(".")[1] in FORBIDDEN[package]
    ]
    assert not wrong, "\n".join(wrong)


def test_config_imports_the_study_package_at_module_level_not_inside_a_function() -> None:
    tree = ast.parse((SRC / "config" / "_load.py").read_text())
    top = [n.module for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert "hpo.study" in top


# package -> the sections of the sweep config it may import at run time (never the whole sweep)
SECTIONS = {"data": {"DataConfig"}, "engine": {"DataConfig", "ModelConfig", "TrainConfig"}}


@pytest.mark.parametrize("package", sorted(SECTIONS))
def test_data_and_engine_take_their_sections_not_the_whole_sweep(package: str) -> None:
    wrong = []
    for path in sorted((SRC / package).glob("*.py")):
        tree = ast.parse(path.read_text())
        checking = {
            id(child)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING"
            for child in ast.walk(node)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hpo.config") and id(node) not in checking:
                wrong += [f"{path.name}:{node.lineno}: {a.name}" for a in node.names if a.name not in SECTIONS[package]]
    assert not wrong, "\n".join(wrong)
