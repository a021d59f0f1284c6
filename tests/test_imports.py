"""The import graph of src/genzoo, drawn from the source (``ast``, nothing imported): no cycle among the imports a
module runs when it is imported, and no module importing one of a higher layer.

Layers, lowest first (a module imports its own layer and those below): the foundation (errors, the Lightning
compatibility shims, logging, config rules, checkpoint files), the parts (losses, nets, data, metrics, sampling,
plots), the families (models), what watches a run (callbacks, loggers), the spine that builds and runs it
(composition, building, training, evaluation, preflight, resume), and the report scripts.

Exempt: imports inside a function, and those under ``if TYPE_CHECKING:``. A function's import runs when it is
called, after every module has loaded, so it cannot form an import-time cycle; genzoo defers imports that way on
purpose (the preflight checks refuse bad input before Lightning or torch is imported; a rarely used path does not
slow every start). The few that reach upwards are listed in ``LAZY_UPWARD`` with their reason, so a new one is seen.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "genzoo"

LAYERS = [
    ("foundation", ["genzoo", "genzoo.errors", "genzoo.lightning_compat", "genzoo.quiet", "genzoo.run_log",
                    "genzoo.logging_utils", "genzoo.config_rules", "genzoo.optim", "genzoo.checkpoints",
                    "genzoo.checkpoint_io", "genzoo.run_record"]),
    ("parts", ["genzoo.losses", "genzoo.nets", "genzoo.data", "genzoo.metrics", "genzoo.sampling", "genzoo.plotting",
               "genzoo.theory"]),
    ("models", ["genzoo.models"]),
    ("watchers", ["genzoo.callbacks", "genzoo.loggers"]),
    ("spine", ["genzoo.composition", "genzoo.building", "genzoo.training", "genzoo.run_summary", "genzoo.evaluation",
               "genzoo.preflight", "genzoo.validation", "genzoo.unknown_keys", "genzoo.resume"]),
    ("reports", ["genzoo.reports"]),
]

#: imports inside functions that reach a higher layer, and why each is there
LAZY_UPWARD = {
    ("genzoo.config_rules", "genzoo.models.base"): "the family class a model._target_ names is checked to be one",
    ("genzoo.models.guard", "genzoo.callbacks.metrics"): "the last step's metrics go to the loggers at once",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def imported(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The genzoo modules an import statement of ``module`` names (a submodule where it names one)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def imports(module: str) -> tuple[set[str], set[str]]:
    """(imports run when ``module`` is imported, imports inside its functions), genzoo modules only."""
    at_import, in_functions = set(), set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(ast.Module(body=child.orelse, type_ignores=[]), in_function)  # the body never runs
                continue
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                (in_functions if inner else at_import).update(
                    m for m in imported(module, child) if m in MODULES and m != module)
            visit(child, inner)

    visit(ast.parse(MODULES[module].read_text()), False)
    return at_import, in_functions


GRAPH = {m: imports(m) for m in MODULES}


def layer(module: str) -> int:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or (p != "genzoo" and module.startswith(p + ".")) for p in prefixes):
            return i
    raise KeyError(module)


def test_the_graph_is_drawn():
    """The parser finds what is there (a graph of no edges would pass everything below)."""
    assert "genzoo.building" in GRAPH["genzoo.training"][0]
    assert "genzoo.data.tensors" in GRAPH["genzoo.data.base"][0]
    assert "genzoo.lightning_compat" in GRAPH["genzoo.loggers"][0]  # from genzoo import lightning_compat
    assert "genzoo.resume" in GRAPH["genzoo.training"][1]  # inside apply_resume_rules
    assert len(MODULES) > 50


def test_every_module_has_a_layer():
    unplaced = []
    for m in MODULES:
        try:
            layer(m)
        except KeyError:
            unplaced.append(m)
    assert not unplaced, f"place these modules in a layer of tests/test_imports.py: {unplaced}"


def test_no_cycle_among_the_imports_a_module_runs_when_imported():
    state: dict[str, str] = {}
    cycles = []

    def walk(m: str, path: list[str]) -> None:
        state[m] = "open"
        for n in sorted(GRAPH[m][0]):
            if state.get(n) == "open":
                cycles.append(path[path.index(n):] + [n])
            elif n not in state:
                walk(n, [*path, n])
        state[m] = "done"

    for m in sorted(MODULES):
        if m not in state:
            walk(m, [m])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("lazy", [False, True], ids=["at_import", "in_functions"])
def test_no_module_imports_a_higher_layer(lazy):
    upward = [(m, n) for m in MODULES for n in GRAPH[m][lazy] if layer(n) > layer(m)]
    if lazy:
        upward = [edge for edge in upward if edge not in LAZY_UPWARD]
    assert not upward, "\n".join(f"{m} ({LAYERS[layer(m)][0]}) imports {n} ({LAYERS[layer(n)][0]})" for m, n in upward)


def test_the_exempt_upward_imports_are_still_there():
    """An entry of LAZY_UPWARD that no longer exists is dropped from it (the list stays what the code does)."""
    gone = [edge for edge in LAZY_UPWARD if edge[1] not in GRAPH[edge[0]][1]]
    assert not gone, gone
