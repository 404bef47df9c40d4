"""The :class:`Predictor` component: a registered model serving one input or many.

Online and batch prediction go through the same code: :meth:`Predictor.run` is a batch of
one. :meth:`Predictor.predict_batch` encodes and scores inputs in chunks of ``batch_size`` so
that vectorised scoring (sparse matrix products, tree traversal over arrays) does the work,
not a Python loop per row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from compound.errors import UserError
from compound.intelligence.ml.schema import Label
from compound.intelligence.ml.types import Contribution, Prediction

if TYPE_CHECKING:
    import pandas as pd

    from compound.intelligence.embedders import Embedder
    from compound.intelligence.ml.model import TrainedModel
    from compound.store import Store
    from compound.system import System


class Predictor:
    """A trained ML model as a component with a typed ``run()``.

    Args:
        name: the model's name in the spec (``models.<name>``).
        store: where the registry keeps versions; needed unless ``model`` is given.
        version: the version to serve; the production version when None.
        model: an already-loaded model (from training, or tests); skips the registry.
        batch_size: rows encoded and scored together in :meth:`predict_batch`.
        alternatives: how many runner-up classes each prediction carries.
        embedder: the embedder for models whose features include embeddings; built from the
            recorded name when omitted.

    Example:
        >>> from compound.store import MemoryStore
        >>> predictor = Predictor(name="intent", store=MemoryStore())
        >>> try:
        ...     predictor.load()
        ... except UserError as exc:
        ...     print(str(exc).split(";")[0])
        model 'intent' has no production version yet
    """

    def __init__(
        self,
        *,
        name: str,
        store: Store | None = None,
        version: int | None = None,
        model: TrainedModel | None = None,
        batch_size: int = 4096,
        alternatives: int = 2,
        embedder: Embedder | None = None,
    ) -> None:
        if store is None and model is None:
            raise UserError(f"Predictor '{name}' needs a store to load from, or a model")
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1; received {batch_size}")
        self.name = name
        self.store = store
        self.version = version
        self.batch_size = batch_size
        self.alternatives = alternatives
        self.embedder = embedder
        self._model = model

    @classmethod
    def from_system(
        cls, system: System, name: str, *, version: int | None = None, **options: Any
    ) -> Predictor:
        """The predictor ``name`` of a loaded spec, loaded now from the spec's store (which is
        closed again once the artifact is read).

        Raises:
            UserError: ``name`` is not a predictor of ``system``, or has no such version.
            ArtifactError: the artifact is damaged.
        """
        from compound.intelligence.registry import predictor_spec
        from compound.store import open_store

        predictor_spec(system, name)
        with open_store(system) as store:
            predictor = cls(name=name, store=store, version=version, **options)
            predictor.load()
        return predictor

    @property
    def model(self) -> TrainedModel:
        """The loaded model (loading it on first use)."""
        if self._model is None:
            self.load()
        assert self._model is not None
        return self._model

    def load(self) -> None:
        """Load the artifact from the registry. Idempotent.

        Raises:
            UserError: no such version, or no production version.
            ArtifactError: the artifact is damaged.
        """
        if self._model is not None:
            return
        from compound.intelligence.registry import ModelRegistry

        assert self.store is not None
        registry = ModelRegistry(self.store)
        record = registry.resolve(self.name, self.version)
        self._model = registry.load_model(record, embedder=self.embedder)
        self.version = record.version

    def run(self, example: Mapping[str, Any] | str) -> Prediction:
        """Predict one input: a mapping of feature to value, or a string for a model with one
        text feature."""
        return self.predict_batch([example])[0]

    def predict_batch(
        self, examples: Sequence[Mapping[str, Any] | str] | pd.DataFrame
    ) -> list[Prediction]:
        """Predict many inputs, in chunks of ``batch_size``; results keep the input order."""
        model = self.model
        frame = model.schema.frame_of(examples, source=f"input to model '{self.name}'")
        found: list[Prediction] = []
        for start in range(0, len(frame), self.batch_size):
            chunk = frame.iloc[start:start + self.batch_size]
            encoded = model.schema.encode(chunk, source=f"input to model '{self.name}'")
            found.extend(self._predictions(model.outputs(encoded)))
        return found

    def explain(
        self, example: Mapping[str, Any] | str, *, top: int = 3, label: Label | None = None
    ) -> list[Contribution]:
        """The features that moved this input's score most, largest effect first.

        Args:
            example: one input, as for :meth:`run`.
            top: how many features to return (all of them when larger than their number).
            label: the class to explain (classification); by default the predicted one.
                A contribution above 0 pushes toward this class.

        Returns:
            up to ``top`` :class:`Contribution` objects, by absolute contribution.

        Raises:
            NotExplainable: the model's learner cannot attribute scores to features (only
                tree learners can).
            UserError: a malformed input, ``top`` below 1, or an unknown ``label``.
        """
        return self.explain_batch([example], top=top, label=label)[0]

    def explain_batch(
        self, examples: Sequence[Mapping[str, Any] | str], *, top: int = 3,
        label: Label | None = None,
    ) -> list[list[Contribution]]:
        """:meth:`explain` for many inputs, in chunks of ``batch_size``; results keep the
        input order. With ``label`` None each input's own predicted class is explained."""
        if top < 1:
            raise UserError(f"top must be at least 1; received {top}")
        model = self.model
        source = f"input to model '{self.name}'"
        frame = model.schema.frame_of(examples, source=source)
        columns = model.schema.columns
        fixed = None if label is None or not model.is_classifier else self._class_index(label)
        if label is not None and not model.is_classifier:
            raise UserError(f"model '{self.name}' is a {model.task} model; it has no classes, "
                            "so explain it without a label")
        found: list[list[Contribution]] = []
        for start in range(0, len(frame), self.batch_size):
            encoded = model.schema.encode(frame.iloc[start:start + self.batch_size],
                                          source=source)
            blocks = model.learner.contributions(encoded)
            if not model.is_classifier:
                rows = blocks[:, 0, :]
            elif fixed is not None:
                rows = blocks[:, fixed, :]
            else:
                predicted = model.outputs(encoded).proba.argmax(axis=1)  # type: ignore[union-attr]
                rows = blocks[np.arange(len(blocks)), predicted, :]
            order = np.argsort(-np.abs(rows[:, :len(columns)]), axis=1, kind="stable")[:, :top]
            for offset, (row, picked) in enumerate(zip(rows, order, strict=True)):
                example = examples[start + offset]
                given = example if isinstance(example, Mapping) else {columns[0]: example}
                found.append([Contribution(columns[i], _plain(given[columns[i]]), float(row[i]))
                              for i in picked])
        return found

    def _class_index(self, label: Label) -> int:
        classes = list(self.model.classes or [])
        for index, known in enumerate(classes):
            if known == label or str(known) == str(label):
                return index
        raise UserError(f"model '{self.name}' has no class {label!r}; its classes: "
                        f"{', '.join(repr(c) for c in classes)}")

    def rank(self, items: Sequence[Mapping[str, Any]] | pd.DataFrame) -> list[tuple[int, float]]:
        """Order the items of one query, best first: ``(input index, score)`` pairs."""
        values = np.array([p.value for p in self.predict_batch(items)], dtype=float)
        order = np.argsort(-values, kind="stable")
        return [(int(i), float(values[i])) for i in order]

    def _predictions(self, outputs: Any) -> list[Prediction]:
        name, version = self.name, self.version
        if outputs.proba is None:
            return [Prediction(None, None, v, name, version) for v in outputs.values.tolist()]
        proba = outputs.proba
        keep = min(self.alternatives + 1, proba.shape[1])
        if keep == proba.shape[1] == 2:  # binary: no sort needed
            first = proba.argmax(axis=1)
            top = np.column_stack([first, 1 - first])
        else:
            top = np.argsort(-proba, axis=1, kind="stable")[:, :keep]
        labels = np.array(self.model.classes or [], dtype=object)[top].tolist()
        chances = np.take_along_axis(proba, top, axis=1).tolist()
        return [
            Prediction(ls[0], ps[0], None, name, version, tuple(zip(ls[1:], ps[1:], strict=True)))
            for ls, ps in zip(labels, chances, strict=True)
        ]


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds; anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value
