"""Dataset versions in the store: save, list, load by ``name[@version]``, diff two versions.

The rows of a version are one blob (``datasets/<version>``, JSONL), written once however many
names point at it; the collection ``datasets`` holds one document per ``name@version`` with its
row count, splits, fields and when it was first saved.

Example:
    >>> from compound.store import MemoryStore
    >>> registry = DatasetRegistry(MemoryStore())
    >>> v1 = registry.save(Dataset([{"id": "a", "q": "1"}], name="faq"))
    >>> v2 = registry.save(Dataset([{"id": "a", "q": "1!"}, {"id": "b", "q": "2"}], name="faq"))
    >>> d = registry.diff("faq@" + v1.version, "faq")
    >>> d.added, d.removed, d.changed
    (['b'], [], ['a'])
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from compound.errors import UserError
from compound.evaluation.datasets import Dataset, canonical_json
from compound.specfile import did_you_mean
from compound.store import Store

COLLECTION = "datasets"


@dataclass(frozen=True)
class DatasetInfo:
    """What the store records about one dataset version."""

    name: str
    version: str
    rows: int
    splits: dict[str, int]
    fields: list[str]
    source: str
    created: float
    id_field: str | None = None
    split_field: str = "split"

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class DatasetDiff:
    """Rows added, removed and changed (by id) between two versions."""

    a: str
    b: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0


class DatasetRegistry:
    """Saves and finds dataset versions in a :class:`~compound.store.Store`.

    Args:
        store: where versions are kept.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, dataset: Dataset) -> DatasetInfo:
        """Keep ``dataset`` (idempotent: saving the same rows again changes nothing)."""
        key = dataset.ref
        existing = self.store.get(COLLECTION, key)
        if existing is not None:
            return DatasetInfo(**existing)
        info = DatasetInfo(
            name=dataset.name, version=dataset.version, rows=len(dataset),
            splits=dataset.splits(), fields=dataset.fields(), source=dataset.source,
            created=time.time(), id_field=dataset.id_field, split_field=dataset.split_field,
        )
        with self.store.transaction():
            blob = f"datasets/{dataset.version}"
            if self.store.get_blob(blob) is None:
                self.store.put_blob(blob, dataset.to_jsonl())
            self.store.put(COLLECTION, key, info.__dict__)
        return info

    def list(self, name: str | None = None) -> list[DatasetInfo]:
        """Versions, grouped by name, oldest first within a name."""
        prefix = f"{name}@" if name else ""
        infos = [DatasetInfo(**doc) for _, doc in self.store.items(COLLECTION, prefix=prefix)]
        return sorted(infos, key=lambda i: (i.name, i.created))

    def info(self, ref: str) -> DatasetInfo:
        """The version ``ref`` names: ``name`` (the latest), ``name@version`` or a prefix of
        the version.

        Raises:
            UserError: nothing matches, listing what exists.
        """
        name, _, version = ref.partition("@")
        versions = self.list(name)
        if not versions:
            names = sorted({i.name for i in self.list()})
            raise UserError(
                f"no dataset named '{name}' in the store{did_you_mean(name, names)}; stored: "
                f"{', '.join(names) or 'none'} (add one with 'compound datasets add')"
            )
        if not version:
            return versions[-1]
        matches = [i for i in versions if i.version.startswith(version)]
        if len(matches) != 1:
            known = ", ".join(i.version for i in versions)
            problem = "no version" if not matches else "several versions"
            raise UserError(
                f"dataset '{name}' has {problem} starting with '{version}'; versions: {known}"
            )
        return matches[0]

    def load(self, ref: str) -> Dataset:
        """The rows of ``ref`` as a :class:`Dataset`."""
        info = self.info(ref)
        data = self.store.get_blob(f"datasets/{info.version}")
        if data is None:
            raise UserError(f"dataset {info.ref}: its rows are missing from the store")
        return Dataset.from_jsonl_bytes(
            data, name=info.name, id_field=info.id_field, split_field=info.split_field,
            source=f"store:{info.ref}",
        )

    def diff(self, a: str, b: str) -> DatasetDiff:
        """Compare two versions row by row, matching rows by id."""
        left, right = self.load(a), self.load(b)
        lrows = dict(zip(left.ids(), (canonical_json(r) for r in left.rows), strict=True))
        rrows = dict(zip(right.ids(), (canonical_json(r) for r in right.rows), strict=True))
        common = [k for k in lrows if k in rrows]
        return DatasetDiff(
            a=left.ref, b=right.ref,
            added=[k for k in rrows if k not in lrows],
            removed=[k for k in lrows if k not in rrows],
            changed=[k for k in common if lrows[k] != rrows[k]],
            unchanged=sum(1 for k in common if lrows[k] == rrows[k]),
        )
