"""The packages' layering beyond what import-linter checks (its contracts in pyproject.toml, run by ``make lint``):
an import of our own code inside a function is there only to defer a heavy package, never to dodge a cycle."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
# Our modules that a function may import late, and the heavy package each loads as it is imported: the read side
# (hpsweep matrix, summary, status, a no-op re-run) must not pay for it.
DEFERRED = {
    "hpsweep.train.data": "torch",
    "hpsweep.train.models": "timm",
    "hpsweep.sweep.studies": "optuna",
    "hpsweep.sweep.packs": "submitit",
    "hpsweep.sweep.on_ray": "ray",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _late_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import of ours inside a function."""
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            found += [(node.lineno, name) for name in names if name.split(".")[0] == "hpsweep"]
    return found


SOURCES = sorted((SRC / "hpsweep").rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: _module_name(path))
def test_a_function_imports_our_code_only_to_defer_a_heavy_package(path):
    late = [(line, name) for line, name in _late_imports(ast.parse(path.read_text())) if name not in DEFERRED]
    assert not late, (f"{_module_name(path)} imports our code inside a function at {late}: import it at the top "
                      f"(a cycle means a module belongs in another layer: docs/ARCHITECTURE.md); only "
                      f"{', '.join(DEFERRED)} may be imported late, for the package each loads")


@pytest.mark.parametrize("module", DEFERRED)
def test_what_may_be_imported_late_does_load_its_heavy_package_at_the_top(module):
    path = SRC / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text())
    top = [alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names]
    top += [node.module or "" for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert any(DEFERRED[module] in name for name in top), \
        f"{module} no longer imports {DEFERRED[module]}: nothing to defer, import it at the top"
