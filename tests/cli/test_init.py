"""`compound init`: a new system's folder, as a newcomer runs it (real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from compound.scaffolds import FILES, LOOPS, create
from compound.system import System


def compound(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "compound", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


@pytest.mark.parametrize("loop", LOOPS)
def test_init_writes_a_folder_named_after_the_system_that_checks(tmp_path: Path,
                                                                 loop: str) -> None:
    out = compound("init", "faq", "--loop", loop, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    spec = tmp_path / "faq" / "compound.yaml"
    assert yaml.safe_load(spec.read_text())["name"] == "faq"
    assert f"compound up {Path('faq')} --no-serve" in out.stdout
    checked = compound("check", "faq", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert f"valid {loop} system" in checked.stdout
    written = {p.relative_to(tmp_path / "faq").as_posix()
               for p in (tmp_path / "faq").rglob("*") if p.is_file()}
    assert "compound.yaml" in written and len(written) == len(FILES[loop]) + 1


def test_every_file_a_spec_names_is_in_its_scaffold(tmp_path: Path) -> None:
    for loop in LOOPS:
        made = create(tmp_path / loop, loop=loop)
        system = System.load(made.folder)
        paths = [m.dataset for m in system.predictors().values()]
        paths += [m.test_dataset for m in system.predictors().values() if m.test_dataset]
        paths += [ev.dataset.path for ev in system.evals.values()]
        paths += [d for r in system.retrievers.values() for d in r.documents]
        for path in paths:
            assert system.resolve_path(path).exists(), (loop, path)
        modules = {ref.split(":")[0] for ref in
                   [s.uses for w in system.workflows.values() for s in w.steps]
                   + [ev.target.function or "" for ev in system.evals.values()] if ":" in ref}
        for module in modules:
            assert (made.folder / f"{module}.py").is_file(), (loop, module)


def test_init_refuses_a_folder_that_holds_files_and_touches_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "faq"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    out = compound("init", "faq", cwd=tmp_path)
    assert out.returncode == 2
    assert "already holds files" in out.stderr and "Traceback" not in out.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert compound("init", "empty", cwd=tmp_path).returncode == 0  # an empty folder is fine


@pytest.mark.parametrize(("args", "message"), [
    (("faq", "--loop", "hybird"), "did you mean 'hybrid'"),
    (("faq/compound.yaml",), "takes the folder of the new system"),
    (("1st",), "must be a word"),
])
def test_init_says_what_was_wrong(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    out = compound("init", *args, cwd=tmp_path)
    assert out.returncode == 2, out.stdout
    assert message in out.stderr
    assert not any(tmp_path.iterdir())


def test_name_option_names_the_system_not_the_folder(tmp_path: Path) -> None:
    made = create(tmp_path / "some folder", loop="prediction", name="tickets")
    assert System.load(made.folder).name == "tickets"
