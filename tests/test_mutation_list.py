"""tools/mutation.py stays usable: every mutation names code that exists once, and tests that exist
(a change that rewrites the code a mutation names must move the mutation with it); and the tool
runs, catching a known mutation, on a tiny setting."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _tool():
    spec = importlib.util.spec_from_file_location("hpo_mutation_tool", REPO / "tools" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mutation", _tool().MUTATIONS, ids=lambda m: m.id)
def test_each_mutation_names_code_that_occurs_once_and_existing_tests(mutation) -> None:
    source = (REPO / "src" / "hpo" / mutation.file).read_text()
    assert source.count(mutation.original) == 1, f"{mutation.id}: move it to the code as it is now"
    assert mutation.original != mutation.mutated
    assert all((REPO / "tests" / name).exists() for name in mutation.tests)


@pytest.mark.slow
def test_the_tool_catches_a_swapped_direction(tmp_path) -> None:
    out = tmp_path / "m.json"
    result = subprocess.run([sys.executable, str(REPO / "tools" / "mutation.py"), "-k", "prune.direction", "--json", str(out)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "caught 1 of 1 mutations (100%)" in result.stdout
