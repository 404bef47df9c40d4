"""Reading and checking a predictor's data: formats, columns, types, targets. Every problem is
a UserError naming the file, what was expected and what was received."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ml_cases import tabular_rows, write_csv, write_jsonl

from compound.errors import UserError
from compound.intelligence.ml.data import read_table
from compound.intelligence.ml.schema import FeatureSchema, encode_target, infer_schema
from compound.intelligence.spec import PredictorSpec

pd = pytest.importorskip("pandas")


def spec(**fields: object) -> PredictorSpec:
    base: dict[str, object] = {"kind": "predictor", "task": "tabular_classification",
                               "dataset": "d.csv", "target": "churn"}
    return PredictorSpec.model_validate({**base, **fields})


def test_reads_jsonl_csv_and_parquet_alike(tmp_path: Path) -> None:
    rows = tabular_rows(20)
    frames = [
        read_table(write_jsonl(tmp_path / "d.jsonl", rows)),
        read_table(write_csv(tmp_path / "d.csv", rows)),
    ]
    pd.DataFrame(rows).to_parquet(tmp_path / "d.parquet")
    frames.append(read_table(tmp_path / "d.parquet"))
    for frame in frames:
        assert frame.columns.tolist() == ["income", "city", "noise", "churn"]
        assert frame["city"].tolist() == [r["city"] for r in rows]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "the file is empty"),
        ("header.csv", "a,b\n", "holds no rows"),
        ("blank.jsonl", "\n\n", "holds no records"),
        ("bad.jsonl", '{"a": 1}\n{"a": \n', r"bad.jsonl:2: not valid JSON"),
        ("list.jsonl", "[1, 2]\n", "expected a JSON object"),
        ("data.xlsx", "x", "unknown data format '.xlsx'"),
        ("broken.parquet", "not parquet", "not a readable Parquet file"),
    ],
)
def test_unreadable_files_say_why(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        read_table(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such data file"):
        read_table(tmp_path / "nope.csv")


def test_misspelt_columns_get_a_did_you_mean(tmp_path: Path) -> None:
    frame = pd.DataFrame(tabular_rows(10))
    with pytest.raises(UserError, match=r"no column 'incme' \(did you mean 'income'\?\)"):
        infer_schema(spec(features=["incme", "city"]), frame, source="d.csv")
    with pytest.raises(UserError, match=r"no column 'chrn' \(did you mean 'churn'\?\)"):
        infer_schema(spec(target="chrn"), frame, source="d.csv")


def test_kinds_are_inferred_and_categories_recorded() -> None:
    frame = pd.DataFrame(tabular_rows(50))
    schema = infer_schema(spec(), frame, source="d.csv")
    assert schema.kinds == {"income": "numeric", "city": "categorical", "noise": "numeric"}
    assert schema.categories["city"] == ["lima", "oslo", "pune", "rome"]
    coded = infer_schema(spec(categorical=["noise"], features=["city", "noise"]), frame,
                         source="d.csv")
    assert coded.kinds["noise"] == "categorical"


def test_wrong_types_are_errors() -> None:
    mixed = pd.DataFrame({"income": [10, "n/a", 30], "churn": [0, 1, 0]})
    with pytest.raises(UserError, match=r"numeric feature 'income' holds non-numbers.*'n/a'"):
        infer_schema(spec(), mixed, source="d.jsonl")
    texts = pd.DataFrame({"text": ["fine", 42, None], "churn": ["a", "b", "a"]})
    text_spec = spec(task="text_classification", features=["text"])
    with pytest.raises(UserError, match=r"text feature 'text' must hold strings.*row 2"):
        infer_schema(text_spec, texts, source="d.jsonl")


def test_target_problems() -> None:
    one_class = pd.Series(["a"] * 5)
    with pytest.raises(UserError, match=r"has one class \('a'\) in 5 rows"):
        encode_target(spec(), one_class, source="d.csv")
    with pytest.raises(UserError, match="missing in 1 row"):
        encode_target(spec(), pd.Series(["a", None, "b"]), source="d.csv")
    with pytest.raises(UserError, match="must be strings, whole numbers or booleans"):
        encode_target(spec(), pd.Series([0.5, 1.5]), source="d.csv")
    with pytest.raises(UserError, match="do not occur in the training data"):
        encode_target(spec(), pd.Series(["a", "z"]), source="t.csv", classes=["a", "b"])
    ranking = spec(task="ranking", group="q")
    with pytest.raises(UserError, match="relevance grades"):
        encode_target(ranking, pd.Series([0.5, 1.0]), source="d.csv")
    y, classes = encode_target(spec(), pd.Series([1.0, 0.0, 1.0]), source="d.csv")
    assert classes == [0, 1] and y.tolist() == [1, 0, 1]


def test_unseen_categories_become_missing_not_errors() -> None:
    schema = FeatureSchema(("city", "n"), {"city": "categorical", "n": "numeric"},
                           {"city": ["oslo", "rome"]})
    frame = schema.encode(pd.DataFrame({"city": ["rome", "atlantis", None], "n": [1, 2, None]}))
    assert frame["city"].isna().tolist() == [False, True, True]
    assert np.isnan(frame["n"].iloc[2])


def test_prediction_inputs_are_checked() -> None:
    schema = FeatureSchema(("city", "n"), {"city": "categorical", "n": "numeric"},
                           {"city": ["oslo"]})
    with pytest.raises(UserError, match="no column 'n'"):
        schema.encode(pd.DataFrame({"city": ["oslo"]}))
    with pytest.raises(UserError, match="input 1 has no 'n'"):
        schema.frame_of([{"city": "oslo", "n": 1}, {"city": "oslo"}])
    with pytest.raises(UserError, match="a bare string works only"):
        schema.frame_of(["just text"])
    with pytest.raises(UserError, match="input 0 is a int"):
        schema.frame_of([3])
