"""The package's floors, and the imports between them.

compound is built in floors: each module may import from its own floor and from those below
it, never from one above. Every ``import`` statement counts, at module level, inside a
function or under ``TYPE_CHECKING``: an import hidden from the interpreter is still a
dependency a reader has to hold in mind. Two tests keep the house in order:

* no import cycle between modules;
* an import from a lower floor to a higher one only where :data:`UPWARD` lists it, with the
  reason.

To see the graph: ``python tests/test_architecture.py`` prints each floor's modules and every
import that crosses floors upward.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "compound"

#: The floors, lowest first. A module belongs to the floor of the longest name listed that
#: is the module or a package above it.
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    # plain values, parsing and printing, privacy, user code references, plugins, starting
    # or joining Ray: no concept of compound's own
    ("foundation", (
        "compound.errors", "compound.lazy", "compound.version", "compound.console",
        "compound.json_values", "compound.type_fit", "compound.linear_regex",
        "compound.yaml_loader", "compound.specfile", "compound.datafiles",
        "compound.expansion_limits", "compound.conditions", "compound.public_data",
        "compound.plugins", "compound.privacy", "compound.code", "compound.datafetch",
        "compound.ray_runtime",
    )),
    # pure functions scoring outputs, used by ML training, evaluation, monitoring, strategy
    ("metrics", ("compound.metrics",)),
    # the spec (steps 1-2): what a compound.yaml says, and the gate its criteria become
    ("spec", (
        "compound.system", "compound.gating", "compound.loop_defaults",
        "compound.intelligence.spec",
        "compound.intelligence.ml.params", "compound.orchestration.spec",
        "compound.orchestration.retrieval.filters", "compound.strategy.spec",
        "compound.evaluation.spec", "compound.workflow.spec", "compound.workflow.type_names",
        "compound.production.spec", "compound.production.serving_spec",
    )),
    ("store", ("compound.store",)),
    ("intelligence", ("compound.intelligence",)),
    ("orchestration", ("compound.orchestration",)),
    ("workflow", ("compound.workflow",)),
    ("strategy", ("compound.strategy",)),
    # guardrails, serving, monitoring (step 8): below evaluation, which judges them too
    ("production", ("compound.production",)),
    ("evaluation", ("compound.evaluation",)),
    ("lifecycle", ("compound.lifecycle",)),
    # batch work on Ray (eval rows, batch predictions, training folds): drives the floors
    # below from outside, as the CLI does
    ("scale", ("compound.scale",)),
    # what a user touches: the CLI, the checks and the design review it prints, the scaffolds,
    # the top-level names
    ("interface", ("compound", "compound.checking", "compound.design_review", "compound.cli",
                   "compound.scaffolds")),
]

#: The imports that go up a floor, each with the reason it stays.
UPWARD: dict[tuple[str, str], str] = {
    ("compound.code.reading", "compound.orchestration.tools"): (
        "compound check reads a spec folder's @tool function without importing it and builds "
        "the same Tool a run builds, so a tool's schema is checked by the one code that makes "
        "it"),
    ("compound.system", "compound.orchestration.context.template_checks"): (
        "loading a spec parses every template with the one template language, which lives "
        "with the context builder that renders templates"),
}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The package's modules that ``name`` imports, anywhere in its code."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # `from a import b` imports the module a.b when there is one, else a name of a
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            if target in known and target != name:
                yield target


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: set(imports(name, path, known)) for name, path in found.items()}


def floor_of(module: str) -> int:
    best, floor = -1, -1
    for index, (_, names) in enumerate(FLOORS):
        for prefix in names:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, floor = len(prefix), index
    if floor < 0:
        raise AssertionError(f"{module} is on no floor: add it to FLOORS in {__file__}")
    return floor


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def upward(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(a, b) for a, targets in edges.items() for b in targets
            if floor_of(b) > floor_of(a)}


def test_every_module_is_on_a_floor():
    for module in graph():
        floor_of(module)


def test_no_import_cycles():
    edges = graph()
    found = cycles(edges)
    lines = []
    for component in found:
        members = set(component)
        lines.append(" <-> ".join(component))
        lines += [f"    {a} -> {b}" for a in component for b in sorted(edges[a] & members)]
    assert not found, "import cycles:\n" + "\n".join(lines)


def test_imports_go_down_a_floor_except_the_explained_ones():
    found = upward(graph())
    unexplained = sorted(found - set(UPWARD))
    assert not unexplained, "imports from a lower floor to a higher one:\n" + "\n".join(
        f"    {a} ({FLOORS[floor_of(a)][0]}) -> {b} ({FLOORS[floor_of(b)][0]})"
        for a, b in unexplained
    )
    assert not set(UPWARD) - found, f"UPWARD lists imports that are gone: {set(UPWARD) - found}"
    assert len(UPWARD) <= 4


if __name__ == "__main__":
    edges = graph()
    for component in cycles(edges):
        print("cycle:", " <-> ".join(component))
    for a, b in sorted(upward(edges)):
        print(f"up: {a} ({FLOORS[floor_of(a)][0]}) -> {b} ({FLOORS[floor_of(b)][0]})")
    sys.exit(0)
