"""The import rules of ARCHITECTURE.md, checked by walking every import of the code.

- Layers: a package of ``pace_linkage`` imports only itself and the packages listed for it in :data:`MAY_IMPORT`
  (the layers below it). ``flows`` may import anything of the library; nothing in ``pace_linkage`` imports
  ``flows`` or Prefect. ``synthetic`` imports only the config and errors of the library.
- No cycle between modules (an import inside a function counts: it is still a dependency).
- No private name (a leading underscore) is imported from another module.
- No module of the library, flows or generator is over 600 lines.
Imports under ``if TYPE_CHECKING:`` are for type hints only and do not count.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pace_linkage", "flows", "synthetic")

# the library's units: a sub-package, or a top-level module of pace_linkage; what each may import besides itself
BOTTOM = {"pace_linkage.errors", "pace_linkage.schema", "pace_linkage.counting"}
LOW = BOTTOM | {"pace_linkage.redact"}
MAY_IMPORT: dict[str, set[str]] = {
    "pace_linkage.errors": set(),
    "pace_linkage.schema": set(),
    "pace_linkage.counting": set(),
    "pace_linkage.redact": set(),
    "pace_linkage.engine": BOTTOM,
    "pace_linkage.config": BOTTOM | {"pace_linkage.engine"},
    "pace_linkage.normalise": BOTTOM | {"pace_linkage.config"},
    "pace_linkage.features": BOTTOM | {"pace_linkage.config"},
    "pace_linkage.ingest": LOW | {"pace_linkage.config", "pace_linkage.normalise", "pace_linkage.features"},
    "pace_linkage.store": LOW,
    "pace_linkage.report": LOW,
}
MAY_IMPORT["pace_linkage.evaluate"] = set().union(*MAY_IMPORT.values(), MAY_IMPORT) - {"pace_linkage.evaluate"}
MAY_IMPORT["pace_linkage.study"] = MAY_IMPORT["pace_linkage.evaluate"] | {"pace_linkage.evaluate"}
MAY_IMPORT["pace_linkage.incremental"] = MAY_IMPORT["pace_linkage.study"]  # beside study, not above it
MAY_IMPORT["pace_linkage.workbench"] = MAY_IMPORT["pace_linkage.study"] | {"pace_linkage.study",
                                                                           "pace_linkage.incremental"}
MAY_IMPORT["pace_linkage.pipeline"] = MAY_IMPORT["pace_linkage.study"] | {"pace_linkage.study",
                                                                          "pace_linkage.incremental"}
MAY_IMPORT["pace_linkage"] = BOTTOM  # the package's face: its public names are imported on first use
FORBIDDEN_IN_LIBRARY = ("prefect", "prefect_dask", "flows")


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return skip


def imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import statement of the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.extend((a.name, [], node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.append((base, [a.name for a in node.names], node.lineno))
    return out


def unit(module: str) -> str:
    """The layer a library module belongs to: pace_linkage.<package> or pace_linkage.<module>."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "pace_linkage" and len(parts) > 1 else parts[0]


MODULES = modules()


def resolve(target: str, names: list[str]) -> list[str]:
    """The project modules an import reaches (``from pkg import mod`` reaches ``pkg.mod``)."""
    found = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
    if target in MODULES and (not names or len(found) < len(names)):
        found.append(target)  # names defined by the module itself (or a plain ``import target``)
    return found


def graph() -> dict[str, set[str]]:
    return {m: {t for target, names, _ in imports(m, p) for t in resolve(target, names)} for m, p in MODULES.items()}


def test_every_library_package_imports_only_the_layers_below_it():
    problems = []
    for mod, path in MODULES.items():
        if not mod.startswith("pace_linkage"):
            continue
        own = unit(mod)
        allowed = MAY_IMPORT.get(own)
        assert allowed is not None, f"{mod}: its package {own} has no place in the layers (add it to MAY_IMPORT)"
        for target, names, line in imports(mod, path):
            if target.split(".")[0] in FORBIDDEN_IN_LIBRARY:
                problems.append(f"{path.relative_to(ROOT)}:{line}: the library imports {target}")
            for reached in resolve(target, names):
                if unit(reached) != own and unit(reached) not in allowed:
                    problems.append(f"{path.relative_to(ROOT)}:{line}: {own} may not import {reached}")
    assert not problems, "\n".join(problems)


def test_the_generator_uses_only_the_config_and_errors_of_the_library():
    problems = [f"{p.relative_to(ROOT)}:{line}: synthetic imports {t}"
                for m, p in MODULES.items() if m.startswith("synthetic")
                for target, names, line in imports(m, p) for t in resolve(target, names)
                if t.startswith("pace_linkage") and unit(t) not in {"pace_linkage.config", "pace_linkage.errors"}]
    assert not problems, "\n".join(problems)


def test_no_import_cycle_between_modules():
    g = graph()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    assert not cycles, "modules that import each other: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_no_private_name_is_imported_from_another_module():
    problems = [f"{p.relative_to(ROOT)}:{line}: imports {n} from {target}"
                for m, p in MODULES.items() for target, names, line in imports(m, p)
                if target.split(".")[0] in PACKAGES for n in names
                if n.startswith("_") and not n.startswith("__")]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_over_600_lines(package):
    long = [f"{p.relative_to(ROOT)} ({n} lines)" for m, p in MODULES.items() if m.split(".")[0] == package
            for n in [len(p.read_text(encoding="utf-8").splitlines())] if n > 600]
    assert not long, "split along a seam a newcomer would recognise: " + ", ".join(long)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_function_is_over_80_lines(package):
    long = []
    for m, p in MODULES.items():
        if m.split(".")[0] != package:
            continue
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 80:
                long.append(f"{p.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})")
    assert not long, "cut into named steps: " + ", ".join(long)


CITATION = re.compile(r"\b(issue|property|properties) #?\d+|RELIABILITY\.md|STYLE\.md|STACK\.md|/work/shared",
                      re.IGNORECASE)


def test_code_cites_no_issue_number_and_no_document_outside_the_repository():
    files = [*MODULES.values(), *(p for p in (ROOT / "tests").rglob("*.py") if p != Path(__file__).resolve())]
    cited = [f"{p.relative_to(ROOT)}:{i}" for p in files
             for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if CITATION.search(line)]
    assert not cited, "state the rule itself instead: " + ", ".join(cited)
