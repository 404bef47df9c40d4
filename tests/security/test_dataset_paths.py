"""A ``shared:`` dataset path never reads outside the datasets folder (issue 14)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compound.public_data import UnsafeDatasetPath, check_relative, dataset_path
from compound.system import System

ESCAPES = [
    "../../etc/passwd",
    "banking77/../../x",
    "banking77/../../../etc/passwd",
    "/etc/passwd",
    "~/secrets.jsonl",
    "C:/Windows/win.ini",
    "banking77\\..\\..\\x",
    "banking77//train.jsonl",
    "./banking77/train.jsonl",
    "banking77/./train.jsonl",
    "",
    "banking77/train.jsonl\x00.txt",
]


@pytest.fixture
def datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A datasets folder (the only root searched) with one set, and a secret next to it."""
    root = tmp_path / "datasets"
    (root / "banking77").mkdir(parents=True)
    (root / "banking77" / "train.jsonl").write_text('{"text": "hi", "label": "x"}\n')
    (tmp_path / "secret.txt").write_text("the secret\n")
    (tmp_path / "x").write_text("outside\n")
    monkeypatch.setenv("COMPOUND_DATA", str(root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return root


def test_a_plain_path_inside_the_folder_resolves(datasets: Path) -> None:
    assert dataset_path("banking77/train.jsonl") == datasets / "banking77" / "train.jsonl"


@pytest.mark.parametrize("relative", ESCAPES)
def test_paths_that_leave_the_folder_are_refused(datasets: Path, relative: str) -> None:
    with pytest.raises(UnsafeDatasetPath, match="not a plain path inside the datasets folder"):
        dataset_path(relative)
    with pytest.raises(UnsafeDatasetPath):
        check_relative(relative)


def test_a_dotdot_path_to_an_existing_file_is_refused_not_read(datasets: Path) -> None:
    # banking77/../../secret.txt exists on disk: it must be refused, not returned
    assert (datasets / "banking77" / ".." / ".." / "secret.txt").exists()
    with pytest.raises(UnsafeDatasetPath):
        dataset_path("banking77/../../secret.txt")


def test_a_symlink_out_of_the_folder_is_refused(datasets: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path / "secret.txt", datasets / "banking77" / "valid.jsonl")
    os.symlink(tmp_path, datasets / "escape")
    with pytest.raises(UnsafeDatasetPath, match="outside the datasets folder"):
        dataset_path("banking77/valid.jsonl")
    with pytest.raises(UnsafeDatasetPath, match="outside the datasets folder"):
        dataset_path("escape/secret.txt")


def test_a_symlink_that_stays_inside_is_fine(datasets: Path) -> None:
    os.symlink(datasets / "banking77" / "train.jsonl", datasets / "banking77" / "alias.jsonl")
    assert dataset_path("banking77/alias.jsonl").read_text().startswith('{"text"')


def test_a_spec_with_a_traversing_shared_path_names_its_file_and_line(
    datasets: Path, tmp_path: Path
) -> None:
    spec = tmp_path / "compound.yaml"
    spec.write_text(
        "name: leak\nloop: prediction\ntask: t\nmodels:\n  m:\n    kind: predictor\n"
        "    task: text_classification\n    dataset: shared:banking77/../../secret.txt\n"
        "    target: label\n    features: [text]\n"
    )
    system = System.load(spec)
    with pytest.raises(UnsafeDatasetPath) as caught:
        system.resolve_path("shared:banking77/../../secret.txt")
    assert str(caught.value).startswith(f"{spec}:8: ")
    assert "the secret" not in str(caught.value)
