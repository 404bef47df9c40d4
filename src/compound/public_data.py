"""Where the public datasets used by tests, examples and benchmarks are found.

One place resolves them, in this order:

1. ``$COMPOUND_DATA`` (a folder laid out like ``shared/datasets``);
2. ``../shared/datasets`` next to the repository (or the working directory);
3. the user cache ``~/.cache/compound/datasets`` (``$XDG_CACHE_HOME/compound/datasets``),
   where ``compound datasets fetch NAME`` puts a dataset.

compound never downloads a dataset behind your back at run time: when one is missing the
error says where it is expected and the command that fetches it.

A dataset path is always *inside* one of these folders: ``..``, absolute paths and symlinks
that lead out of the folder are refused with :class:`UnsafeDatasetPath`, so that a spec's
``shared:`` path cannot read an arbitrary file.

Example:
    >>> check_relative("banking77/train.jsonl")
    'banking77/train.jsonl'
    >>> try:
    ...     check_relative("banking77/../../etc/passwd")
    ... except UnsafeDatasetPath:
    ...     print("refused")
    refused
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from compound.errors import UserError

SOURCES: dict[str, str] = {
    "scifact": "BEIR SciFact (allenai/scifact, CC BY-NC 2.0), BEIR layout",
    "banking77": "Banking77 (PolyAI, CC BY 4.0), JSONL with 'text' and 'label'",
    "snips": "SNIPS intents, JSONL with 'text' and 'label'",
    "pubmedqa": "PubMedQA expert-labelled set (pqal.jsonl, MIT)",
    "hotpotqa": "HotpotQA dev, distractor setting (dev500.jsonl, CC BY-SA 4.0)",
    "prompt-injections": "deepset/prompt-injections (Apache-2.0), JSONL with 'text' and 'label'",
    "tabular": "UCI Adult income and Taiwan credit default CSVs",
}

_DRIVE = re.compile(r"^[A-Za-z]:")


class DatasetMissing(UserError):
    """A public dataset is not on this machine."""


class UnsafeDatasetPath(UserError):
    """A dataset path would lead outside the datasets folder."""


def cache_root() -> Path:
    """The user cache of datasets: ``$XDG_CACHE_HOME/compound/datasets`` (default
    ``~/.cache/compound/datasets``); ``compound datasets fetch`` writes here."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "compound" / "datasets"


def search_roots() -> list[Path]:
    """The folders searched for datasets, in order."""
    roots: list[Path] = []
    if env := os.environ.get("COMPOUND_DATA"):
        roots.append(Path(env).expanduser())
    repo_root = Path(__file__).resolve().parents[2]
    for base in (repo_root, Path.cwd()):
        roots.append(base.parent / "shared" / "datasets")
    roots.append(cache_root())
    return list(dict.fromkeys(roots))


def check_relative(relative: str) -> str:
    """``relative`` if it is a plain path inside a datasets folder (``NAME/FILE``).

    Raises:
        UnsafeDatasetPath: the path is empty, absolute, has a ``..``, ``.`` or empty part,
            a backslash or a NUL character.
    """
    text = str(relative)
    parts = text.split("/")
    bad = (not text or text.startswith(("/", "~")) or _DRIVE.match(text) is not None
           or "\\" in text or "\x00" in text or any(p in ("", ".", "..") for p in parts))
    if bad:
        raise UnsafeDatasetPath(
            f"dataset path {text!r} is not a plain path inside the datasets folder; expected "
            "NAME/FILE such as 'banking77/train.jsonl' (no '..', no absolute path, no empty "
            "part). For a file elsewhere, give its path without the 'shared:' prefix"
        )
    return text


def dataset_path(relative: str) -> Path:
    """The path of ``relative`` (e.g. ``"banking77/test.jsonl"``) in the first root holding it.

    Raises:
        UnsafeDatasetPath: ``relative`` leads outside the datasets folder (``..``, an absolute
            path, or a symlink pointing out of the folder).
        DatasetMissing: naming the dataset, the folders searched and what to do.
    """
    check_relative(relative)
    for root in search_roots():
        candidate = root / relative
        if candidate.exists():
            _inside(candidate, root, relative)
            return candidate
    name = relative.split("/", 1)[0]
    searched = ", ".join(str(r) for r in search_roots())
    fetch = (f"run 'compound datasets fetch {name}' to download it into {cache_root()}, or "
             if name in SOURCES else "")
    raise DatasetMissing(
        f"dataset '{relative}' was not found (searched: {searched}). To get it: {fetch}put "
        f"the '{name}' folder ({SOURCES.get(name, 'your own data')}) under one of these "
        "folders, or set COMPOUND_DATA to a folder that holds it."
    )


def _inside(candidate: Path, root: Path, relative: str) -> None:
    """Refuse a path whose real location (symlinks followed) is outside its root."""
    real, real_root = candidate.resolve(), root.resolve()
    if not real.is_relative_to(real_root):
        raise UnsafeDatasetPath(
            f"dataset path '{relative}' in {root} is a link to {real}, outside the datasets "
            f"folder; compound reads datasets only inside it. Copy the file into {root} "
            "instead of linking it, or point COMPOUND_DATA at the folder that holds it"
        )
