"""The package layout: each concern in one folder, dependencies pointing one way, no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "segmentation", "measurement", "sample_data")
# sub-packages of pipeline/, each allowed to import only the ones after it (and pipeline's top-level modules)
LAYERS = ("cli", "batch", "longitudinal", "outputs", "targets", "dicom", "pet")
# leaf modules (importing nothing of the project) that every layer may use
SHARED_LEAVES = ("pipeline.dicom.values",)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py")) if "generated" not in p.parts
    }


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules ``path`` imports, anywhere in the file (function-level imports included)."""
    out: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph = {name: _imports(path, name, known) for name, path in modules.items()}
    # importing a package's submodule also runs the package's __init__: not a dependency on its contents
    return {
        name: {d for d in deps if not (name.startswith(d + ".") and modules[d].name == "__init__.py")}
        for name, deps in graph.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_modules() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def _layer(module: str) -> str | None:
    if module in SHARED_LEAVES:
        return None
    parts = module.split(".")
    return parts[1] if parts[0] == "pipeline" and len(parts) > 2 and parts[1] in LAYERS else None


@pytest.mark.parametrize("layer", LAYERS)
def test_pipeline_subpackages_depend_one_way(layer: str) -> None:
    allowed = set(LAYERS[LAYERS.index(layer) + 1 :])
    wrong = sorted(
        f"{name} imports {dep}"
        for name, deps in _graph().items()
        if _layer(name) == layer
        for dep in deps
        if (other := _layer(dep)) is not None and other != layer and other not in allowed
    )
    assert not wrong, "\n".join(wrong)


def test_shared_leaves_import_nothing_of_the_project() -> None:
    graph = _graph()
    assert {leaf: graph[leaf] for leaf in SHARED_LEAVES} == {leaf: set() for leaf in SHARED_LEAVES}


def test_lower_packages_do_not_import_the_pipeline() -> None:
    wrong = sorted(
        f"{name} imports {dep}"
        for name, deps in _graph().items()
        if name.split(".")[0] in ("segmentation", "measurement")
        for dep in deps
        if dep.split(".")[0] in ("pipeline", "sample_data")
    )
    assert not wrong, "\n".join(wrong)


def test_top_level_of_pipeline_is_small() -> None:
    top = sorted(p.name for p in (ROOT / "pipeline").glob("*.py"))
    assert len(top) <= 10, top
