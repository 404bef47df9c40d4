"""The graph, its steps and the engine import each other in one direction only (step, plan,
engine, graph): no cycle, counting imports made under ``TYPE_CHECKING`` and inside functions
(a cycle hidden there still ties the modules together)."""

from __future__ import annotations

import ast
from pathlib import Path

import compound.workflow

FOLDER = Path(compound.workflow.__file__).parent


def imports_of(module: str) -> set[str]:
    tree = ast.parse((FOLDER / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "compound.workflow."):
            found.add(node.module.rsplit(".", 1)[1])  # type: ignore[union-attr]
    return found


def test_the_graph_step_and_engine_modules_are_on_no_import_cycle() -> None:
    modules = sorted(p.stem for p in FOLDER.glob("*.py") if p.stem != "__init__")
    edges = {m: imports_of(m) & set(modules) for m in modules}

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        seen = set()
        while stack:
            module, path = stack.pop()
            for imported in edges[module]:
                if imported == start:
                    return [*path, start]
                if imported not in seen:
                    seen.add(imported)
                    stack.append((imported, [*path, imported]))
        return None

    cycles = [c for m in ("engine", "graph", "plan", "records", "step")
              if (c := cycle_from(m)) is not None]
    assert not cycles, f"import cycles: {[' -> '.join(c) for c in cycles]}"
