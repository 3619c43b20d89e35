"""No import cycle between the package's modules.

A cycle makes a module's names depend on which module the process happened to import first, and
it is what pushes imports into function bodies. Only module-level imports count (those that run
when the module loads); `if TYPE_CHECKING:` blocks never run, and imports inside functions run
later, when every module is loaded.
"""

import ast
from pathlib import Path

import viral_pipeline

PACKAGE_DIR = Path(viral_pipeline.__file__).parent
PACKAGE = PACKAGE_DIR.name


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module loads: at top level or in a top-level if/try."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += _module_level_imports(node.body)
            found += _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                found += _module_level_imports(block)
    return found


def _imported_modules(module: str, is_package: bool, tree: ast.Module, known: set[str]) -> set[str]:
    """The package's modules that `module` imports at module level."""
    imported: set[str] = set()
    for node in _module_level_imports(tree.body):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
            continue
        base = node.module or ""
        if node.level:  # relative: from the module's package, one level up per extra dot
            anchor = module.split(".") if is_package else module.split(".")[:-1]
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        # `from package import name` imports the submodule `name` when there is one.
        submodules = {f"{base}.{alias.name}" for alias in node.names} & known
        imported |= submodules or {base}
    return imported & known - {module}


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(path): path for path in PACKAGE_DIR.rglob("*.py")}
    known = set(paths)
    return {
        module: _imported_modules(
            module, path.name == "__init__.py", ast.parse(path.read_text()), known
        )
        for module, path in paths.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as the list of modules along it (first == last), or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> list[str] | None:
        path.append(module)
        on_path.add(module)
        for imported in sorted(graph[module]):
            if imported in on_path:
                return path[path.index(imported) :] + [imported]
            if imported not in done and (cycle := visit(imported)):
                return cycle
        path.pop()
        on_path.discard(module)
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done and (cycle := visit(module)):
            return cycle
    return None


def test_the_graph_sees_the_package_imports():
    graph = import_graph()
    assert "viral_pipeline.defs.resources" in graph["viral_pipeline.defs.predict.sensors"]
    assert "viral_pipeline.defs.predict.resources" in graph["viral_pipeline.definitions"]


def test_a_cycle_is_found_and_named():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_of_the_package_imports_itself_through_others():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
