"""Where the public datasets used by tests, examples and benchmarks are found.

One place resolves them, in this order:

1. ``$COMPOUND_DATA`` (a folder laid out like ``shared/datasets``);
2. ``../shared/datasets`` next to the repository (or the working directory);
3. the user cache ``~/.cache/compound/datasets``, where a dataset you fetched once lives.

compound never downloads a dataset behind your back at run time: when one is missing the
error says where it is expected and where its public source is.
"""

from __future__ import annotations

import os
from pathlib import Path

from compound.errors import UserError

SOURCES: dict[str, str] = {
    "scifact": "BEIR SciFact (allenai/scifact, CC BY-NC 2.0), BEIR layout",
    "banking77": "Banking77 (PolyAI), JSONL with 'text' and 'label'",
    "snips": "SNIPS intents, JSONL with 'text' and 'label'",
    "pubmedqa": "PubMedQA expert-labelled set (pqal.jsonl)",
    "hotpotqa": "HotpotQA dev, distractor setting (dev500.jsonl)",
    "prompt-injections": "deepset/prompt-injections, JSONL with 'text' and 'label'",
    "tabular": "UCI Adult income and Taiwan credit default CSVs",
}


class DatasetMissing(UserError):
    """A public dataset is not on this machine."""


def search_roots() -> list[Path]:
    """The folders searched for datasets, in order."""
    roots: list[Path] = []
    if env := os.environ.get("COMPOUND_DATA"):
        roots.append(Path(env).expanduser())
    repo_root = Path(__file__).resolve().parents[2]
    for base in (repo_root, Path.cwd()):
        roots.append(base.parent / "shared" / "datasets")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    roots.append(cache / "compound" / "datasets")
    return list(dict.fromkeys(roots))


def dataset_path(relative: str) -> Path:
    """The path of ``relative`` (e.g. ``"banking77/test.jsonl"``) in the first root holding it.

    Raises:
        DatasetMissing: naming the dataset, the folders searched and what to do.
    """
    for root in search_roots():
        candidate = root / relative
        if candidate.exists():
            return candidate
    name = relative.split("/", 1)[0]
    searched = ", ".join(str(r) for r in search_roots())
    raise DatasetMissing(
        f"dataset '{relative}' was not found (searched: {searched}). Put the '{name}' folder "
        f"({SOURCES.get(name, 'see shared/datasets/README.md')}) under one of these, or set "
        "COMPOUND_DATA to a folder that holds it."
    )
