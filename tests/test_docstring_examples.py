"""Every docstring example in the package runs, as part of plain ``python -m pytest``.

One test per module of ``src/compound``: it imports the module (so a module whose optional
extra is missing from the dev install fails here, by name) and runs every example that
:mod:`doctest` finds in it. A ``>>>`` line that doctest does not find (an example in a
comment, or in an object defined elsewhere) fails too, so no example is silently left out;
and an example marked ``# doctest: +SKIP`` must be listed in ``SKIPPED`` with why it cannot
run.
"""

from __future__ import annotations

import doctest
import importlib
import io
import re
from pathlib import Path

import pytest

import compound

PACKAGE = Path(compound.__file__).parent

# module -> (examples marked +SKIP, why running them is impossible here); keep it empty
# unless an example would start a server, reach the network or need what a test cannot have.
SKIPPED: dict[str, tuple[int, str]] = {}

# examples that load the real embedded model: they run, marked like the other integration tests
INTEGRATION = {"compound.intelligence.llm.embedded"}

_PROMPT = re.compile(r"^\s*>>>", re.MULTILINE)
_SKIP = re.compile(r"#\s*doctest:[^\n]*\+SKIP")


def _modules() -> list[str]:
    """Every importable module of the package, found on disk (nothing is imported here)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        folders = [PACKAGE.parent.joinpath(*parts[:end]) for end in range(1, len(parts))]
        if path.stem == "__main__" or not all((f / "__init__.py").is_file() for f in folders):
            continue  # a data folder (scaffold files, static assets) holds no modules
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = _modules()


def _params() -> list[object]:
    return [pytest.param(name, marks=pytest.mark.integration) if name in INTEGRATION else name
            for name in MODULES]


@pytest.mark.parametrize("name", _params())
def test_docstring_examples_run(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an example that writes a relative path writes it here
    module = importlib.import_module(name)
    source = Path(module.__file__ or "").read_text(encoding="utf-8")
    tests = doctest.DocTestFinder().find(module, name)
    found = sum(len(test.examples) for test in tests)
    assert found == len(_PROMPT.findall(source)), (
        f"{name}: {len(_PROMPT.findall(source))} '>>>' lines in the source but doctest finds "
        f"{found} examples; put each example in the docstring of an object defined in the "
        "module")
    skipped = len(_SKIP.findall(source))
    assert skipped == SKIPPED.get(name, (0, ""))[0], (
        f"{name}: {skipped} examples marked +SKIP; run them (with ScriptedLLM, MemoryStore, "
        "a tiny inline dataset) or list them in SKIPPED with the reason")
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = io.StringIO()
    failed = sum(runner.run(test, out=report.write).failed for test in tests)
    assert failed == 0, f"{name}: {failed} examples failed\n{report.getvalue()}"


def test_the_collection_sees_the_whole_package() -> None:
    assert "compound" in MODULES
    assert "compound.workflow.graph" in MODULES
    assert "compound.evaluation.runner" in MODULES
    assert not any("scaffolds.files" in name or "__main__" in name for name in MODULES)
    assert len(MODULES) > 200
