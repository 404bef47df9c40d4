"""The columns a model reads and how: text, numbers or categories; and the target it learns.

:func:`infer_schema` decides each feature's kind from the spec and the training data and
checks the values; :meth:`FeatureSchema.encode` turns training rows or prediction inputs into
the typed frame a learner takes. A category the model never saw becomes a missing value (the
trees send it down their default branch): that is handled, not an error.

Example:
    >>> import pandas as pd
    >>> schema = FeatureSchema(columns=("city", "age"), kinds={"city": "categorical",
    ...                        "age": "numeric"}, categories={"city": ["Oslo", "Rome"]})
    >>> frame = schema.encode(pd.DataFrame({"city": ["Rome", "Lima"], "age": [30, 41]}))
    >>> frame["city"].isna().tolist()
    [False, True]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from compound.errors import UserError
from compound.intelligence.ml.data import check_columns, pandas_module
from compound.intelligence.ml.params import CLASSIFICATION_TASKS
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    import pandas as pd

    from compound.intelligence.spec import PredictorSpec

Kind = Literal["text", "numeric", "categorical"]
Label = str | int | bool


@dataclass(frozen=True)
class FeatureSchema:
    """The input columns of a model, the kind of each, and the categories seen in training."""

    columns: tuple[str, ...]
    kinds: dict[str, Kind]
    categories: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": list(self.columns), "kinds": self.kinds, "categories": self.categories}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSchema:
        return cls(tuple(data["columns"]), dict(data["kinds"]), dict(data["categories"]))

    def encode(self, frame: pd.DataFrame, *, source: str = "input") -> pd.DataFrame:
        """The typed frame a learner reads: text as str, numbers as float, categories as
        pandas categoricals over the training categories (unseen values become missing).

        Raises:
            UserError: a column is missing, or holds values of the wrong type.
        """
        pd = pandas_module()
        check_columns(frame, self.columns, source=source)
        out: dict[str, Any] = {}
        for name in self.columns:
            column = frame[name]
            kind = self.kinds[name]
            if kind == "text":
                out[name] = _text(column, name, source)
            elif kind == "numeric":
                out[name] = _numbers(column, name, source)
            else:
                out[name] = pd.Categorical.from_codes(
                    _category_codes(column, self.categories[name]),
                    categories=self.categories[name],
                )
        return pd.DataFrame(out, index=frame.index)

    def frame_of(self, inputs: Any, *, source: str = "input") -> pd.DataFrame:
        """Prediction inputs as a DataFrame: a DataFrame, a list of mappings, or (for a model
        with one text feature) a list of strings."""
        pd = pandas_module()
        if isinstance(inputs, pd.DataFrame):
            return inputs
        rows = list(inputs)
        if rows and all(isinstance(r, str) for r in rows):
            if len(self.columns) != 1 or self.kinds[self.columns[0]] != "text":
                raise UserError(
                    f"{source}: this model reads {', '.join(self.columns)}; pass one mapping per "
                    "input (a bare string works only for a model with one text feature)"
                )
            return pd.DataFrame({self.columns[0]: rows})
        needed = set(self.columns)
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise UserError(
                    f"{source}: input {index} is a {type(row).__name__}; expected a mapping of "
                    f"feature name to value with keys {', '.join(self.columns)}"
                )
            if not needed <= row.keys():
                missing = [c for c in self.columns if c not in row]
                hints = "".join(did_you_mean(m, [str(k) for k in row]) for m in missing)
                raise UserError(
                    f"{source}: input {index} has no {', '.join(repr(m) for m in missing)}"
                    f"{hints}; the model reads {', '.join(self.columns)} (send None for a "
                    "missing value)"
                )
        return pd.DataFrame.from_records(rows, columns=list(self.columns)) if rows else (
            pd.DataFrame({c: [] for c in self.columns})
        )


def _where(column: pd.Series, bad: np.ndarray) -> str:
    position = int(np.flatnonzero(bad)[0])
    return f"{int(bad.sum())} value(s), first at row {position + 1}: {column.iloc[position]!r:.60}"


def _text(column: pd.Series, name: str, source: str) -> list[str]:
    values = column.tolist()
    bad = np.array([not isinstance(v, str) for v in values], dtype=bool)
    if bad.any():
        raise UserError(
            f"{source}: text feature '{name}' must hold strings; found {_where(column, bad)}. "
            "Fill or drop those rows, or make the model tabular"
        )
    return values


def _numbers(column: pd.Series, name: str, source: str) -> np.ndarray:
    pd = pandas_module()
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=float, na_value=np.nan)
    values = column.tolist()
    bad = np.array(
        [not (v is None or (isinstance(v, int | float) and not isinstance(v, bool))
              or (isinstance(v, float) and math.isnan(v))) for v in values],
        dtype=bool,
    )
    if bad.any():
        raise UserError(
            f"{source}: numeric feature '{name}' holds non-numbers ({_where(column, bad)}); "
            f"send numbers, or list '{name}' under 'categorical' in the spec and retrain"
        )
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)


def _category(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _category_codes(column: pd.Series, categories: list[str]) -> np.ndarray:
    """Each value's position among ``categories``; -1 (missing) for unseen or empty."""
    pd = pandas_module()
    index = pd.Index(categories, dtype=object)
    if isinstance(column.dtype, pd.StringDtype):
        values: Any = column.to_numpy(dtype=object, na_value=None)
    else:
        values = [_category(v) for v in column.tolist()]
    return np.asarray(index.get_indexer(values), dtype=np.int64)


def feature_columns(spec: PredictorSpec, frame: pd.DataFrame) -> list[str]:
    """The spec's features, or every column but the target and group."""
    if spec.features:
        return list(spec.features)
    return [str(c) for c in frame.columns if c not in (spec.target, spec.group)]


def infer_schema(spec: PredictorSpec, frame: pd.DataFrame, *, source: str) -> FeatureSchema:
    """Each feature's kind, from the spec and the training data, with the values checked.

    Raises:
        UserError: a named column is missing, or a column's values do not fit its kind.
    """
    pd = pandas_module()
    columns = feature_columns(spec, frame)
    check_columns(frame, [*columns, spec.target, *([spec.group] if spec.group else [])],
                  source=source)
    if not columns:
        raise UserError(f"{source}: no feature columns besides the target '{spec.target}'")
    kinds: dict[str, Kind] = {}
    categories: dict[str, list[str]] = {}
    for name in columns:
        column = frame[name]
        if spec.task == "text_classification":
            kinds[name] = "text"
        elif name in spec.categorical:
            kinds[name] = "categorical"
        elif pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            kinds[name] = "numeric"
        elif all(isinstance(v, str) for v in column.dropna().tolist()):
            kinds[name] = "categorical"
        else:
            _numbers(column, name, source)  # raises, naming the first non-number
            kinds[name] = "numeric"
        if kinds[name] == "categorical":
            seen = {_category(v) for v in column.tolist()} - {None}
            categories[name] = sorted(c for c in seen if c is not None)
    schema = FeatureSchema(tuple(columns), kinds, categories)
    schema.encode(frame, source=source)  # type-check every value once, at training time
    return schema


def encode_target(
    spec: PredictorSpec, column: pd.Series, *, source: str, classes: list[Label] | None = None
) -> tuple[np.ndarray, list[Label] | None]:
    """The target as numbers: class indices (with the class list) or values.

    Args:
        spec: the predictor.
        column: the target column.
        source: the file, for messages.
        classes: the training classes, when encoding a calibration or test split.

    Raises:
        UserError: missing values, a single class, a class unseen in training, or values of
            the wrong type for the task.
    """
    missing = column.isna().to_numpy()
    if missing.any():
        raise UserError(
            f"{source}: target '{spec.target}' is missing in {int(missing.sum())} row(s), first "
            f"at row {int(np.flatnonzero(missing)[0]) + 1}; drop or label those rows"
        )
    if spec.task in CLASSIFICATION_TASKS:
        labels = [_label(v, spec.target, source) for v in column.tolist()]
        if classes is None:
            classes = sorted(set(labels), key=lambda v: (str(type(v)), v))
            if len(classes) < 2:
                raise UserError(
                    f"{source}: target '{spec.target}' has one class ({classes[0]!r}) in "
                    f"{len(labels)} rows; a classifier needs examples of at least two classes"
                )
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted({str(v) for v in labels if v not in index})
        if unknown:
            raise UserError(
                f"{source}: target classes {', '.join(unknown[:5])} do not occur in the "
                "training data; a model cannot learn them. Add training examples of them"
            )
        return np.array([index[v] for v in labels], dtype=np.int64), classes
    values = _numbers(column, spec.target, source)
    if spec.task == "ranking" and (np.any(values < 0) or np.any(values != np.floor(values))):
        raise UserError(
            f"{source}: ranking target '{spec.target}' must hold relevance grades, whole "
            "numbers 0 or more (0 = not relevant)"
        )
    return values, None


def _label(value: Any, target: str, source: str) -> Label:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return int(value)
    raise UserError(
        f"{source}: class labels in '{target}' must be strings, whole numbers or booleans; "
        f"received {type(value).__name__} {value!r:.40}. For a numeric target use "
        "'task: regression'"
    )
