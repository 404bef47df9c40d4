"""The manifest's converters reproduce the shared datasets byte for byte from the original
sources: each source is served from a git snapshot of its repository through a mirror on
127.0.0.1 and fetched with the real manifest entry (skipped when the snapshot or the shared
dataset is not on this machine)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from compound import datafetch
from compound.datafetch import MANIFEST, fetch
from compound.public_data import DatasetMissing, dataset_path

SNAPSHOTS = Path("/work/.mirror")
# dataset -> (snapshot, {source filename: path in the repository})
SOURCES = {
    "banking77": ("jianguoz+Few-Shot-Intent-Detection", {
        f"{split}.{kind}": f"Datasets/BANKING77/{split}/{kind}"
        for split in ("train", "valid", "test") for kind in ("seq.in", "label")}),
    "snips": ("jianguoz+Few-Shot-Intent-Detection", {
        f"{split}.{kind}": f"Datasets/SNIPS/{split}/{kind}"
        for split in ("train", "valid", "test") for kind in ("seq.in", "label")}),
    "pubmedqa": ("pubmedqa+pubmedqa", {"ori_pqal.json": "data/ori_pqal.json",
                                       "test_ground_truth.json": "data/test_ground_truth.json",
                                       "LICENSE": "LICENSE"}),
    "tabular": ("pycaret+datasets", {"income.csv": "data/common/income.csv",
                                     "credit.csv": "data/common/credit.csv"}),
}


def _git_show(repo: Path, path: str) -> bytes:
    return subprocess.run(["git", "--git-dir", str(repo), "show", f"HEAD:{path}"],
                          capture_output=True, check=True).stdout


@pytest.mark.dataset
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_fetch_from_the_original_files_equals_the_shared_dataset(
    name: str, mirror: Any, tmp_path: Path
) -> None:
    snapshot, files = SOURCES[name]
    repo = SNAPSHOTS / snapshot / "repo"
    if not repo.exists():
        pytest.skip(f"no git snapshot of {snapshot} on this machine ({repo})")
    try:
        shared = [dataset_path(o.path) for o in MANIFEST[name].outputs]
    except DatasetMissing as exc:
        pytest.skip(str(exc))
    for filename, path in files.items():
        mirror.files[f"{name}/{filename}"] = _git_show(repo, path)
    assert {s.filename for s in MANIFEST[name].sources} == set(files)
    fetch([name], root=tmp_path / "cache", mirror=mirror.url)
    for output, reference in zip(MANIFEST[name].outputs, shared, strict=True):
        assert (tmp_path / "cache" / output.path).read_bytes() == reference.read_bytes()


def test_every_dataset_has_a_converter_and_pins_each_file() -> None:
    for entry in MANIFEST.values():
        assert entry.convert in datafetch.convert.CONVERTERS
        assert all(len(o.sha256) == 64 for o in entry.outputs)
        assert all(o.path.startswith(f"{entry.name}/") for o in entry.outputs)
        assert all(s.url.startswith("https://") for s in entry.sources)
