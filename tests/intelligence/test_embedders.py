"""Embedders: the shared contract (fake and real), the cache, and the ONNX MiniLM specifics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from compound.errors import UserError
from compound.intelligence.embedders import (
    CachedEmbedder,
    Embedder,
    EmbeddingCache,
    FakeEmbedder,
    OnnxEmbedder,
    make_embedder,
)

TEXTS = [
    "The cat sat on the mat.",
    "A cat was sitting on the mat.",
    "Interest rates rose by half a point in March.",
    "",
    "Ünïcödé text — with punctuation!",
]


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OnnxEmbedder]:
    pytest.importorskip("onnxruntime", reason="needs compound[retrieval]")
    embedder = OnnxEmbedder(cache_dir=tmp_path_factory.mktemp("models"), threads=1)
    embedder.load()
    yield embedder


@pytest.fixture(params=["fake", pytest.param("minilm", marks=pytest.mark.integration)])
def embedder(request: pytest.FixtureRequest) -> Embedder:
    if request.param == "fake":
        return FakeEmbedder(dim=32)
    return request.getfixturevalue("minilm")


# -- the contract every embedder meets -------------------------------------------------------


def test_embeds_to_unit_float32_rows_in_order(embedder: Embedder) -> None:
    vectors = embedder.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), embedder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([embedder.embed_query(t) for t in TEXTS])
    np.testing.assert_allclose(vectors, one_by_one, atol=2e-3)


def test_similar_texts_are_closer_than_unrelated_ones(embedder: Embedder) -> None:
    cat, sitting_cat, rates = embedder.embed(TEXTS[:3])
    assert cat @ sitting_cat > cat @ rates


def test_empty_list_and_wrong_inputs(embedder: Embedder) -> None:
    assert embedder.embed([]).shape == (0, embedder.dim)
    with pytest.raises(UserError, match="list of strings"):
        embedder.embed("a bare string")
    with pytest.raises(UserError, match="item 1 is a int"):
        embedder.embed(["ok", 3])  # type: ignore[list-item]


def test_same_text_same_vector(embedder: Embedder) -> None:
    first = embedder.embed(["repeatable"])
    second = embedder.embed(["something else", "repeatable"])[1]
    np.testing.assert_allclose(first[0], second, atol=2e-3)


# -- the cache ---------------------------------------------------------------------------------


def test_cache_embeds_each_text_once_and_keeps_order(tmp_path: Path) -> None:
    inner = FakeEmbedder(dim=16)
    cached = CachedEmbedder(inner, EmbeddingCache(tmp_path / "cache.sqlite"))
    first = cached.embed(["a b", "c d"])
    again = cached.embed(["c d", "e f", "a b", "c d"])
    assert inner.texts_embedded == 3
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_array_equal(again[2], first[0])
    assert (cached.hits, cached.misses) == (3, 3)


def test_cache_survives_reopening_and_separates_models(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    CachedEmbedder(FakeEmbedder(dim=16), EmbeddingCache(path)).embed(["kept"])
    reopened = FakeEmbedder(dim=16)
    CachedEmbedder(reopened, EmbeddingCache(path)).embed(["kept"])
    assert reopened.texts_embedded == 0
    other_model = FakeEmbedder(dim=8)
    CachedEmbedder(other_model, EmbeddingCache(path)).embed(["kept"])
    assert other_model.texts_embedded == 1


def test_make_embedder_names_and_errors() -> None:
    assert isinstance(make_embedder("fake", dim=8), FakeEmbedder)
    with pytest.raises(UserError, match="did you mean 'minilm'"):
        make_embedder("minilmm")
    with pytest.raises(UserError, match="check its options"):
        make_embedder("fake", colour="red")


def test_onnx_embedder_settings_are_checked_without_loading() -> None:
    assert OnnxEmbedder(max_tokens=256).model_id == "all-MiniLM-L6-v2+none+256"
    with pytest.raises(UserError, match="max_tokens"):
        OnnxEmbedder(max_tokens=4000)
    with pytest.raises(UserError, match="quantize"):
        OnnxEmbedder(quantize="int4")  # type: ignore[arg-type]


# -- the real MiniLM ----------------------------------------------------------------------------


@pytest.mark.integration
def test_minilm_runs_the_shipped_graph_by_default(minilm: OnnxEmbedder) -> None:
    onnx = pytest.importorskip("onnx")
    assert minilm.quantize == "none"
    assert minilm.running_model_ is not None
    ops = {node.op_type for node in onnx.load(str(minilm.running_model_)).graph.node}
    assert "MatMulInteger" not in ops


@pytest.mark.integration
def test_minilm_prepares_int8_graph_once(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    int8 = OnnxEmbedder(quantize="dynamic-int8", cache_dir=tmp_path, threads=1)
    int8.load()
    prepared = int8.running_model_
    assert prepared is not None and prepared.exists()
    ops = {node.op_type for node in onnx.load(str(prepared)).graph.node}
    assert "MatMulInteger" in ops
    stamp = prepared.stat().st_mtime_ns
    again = OnnxEmbedder(quantize="dynamic-int8", cache_dir=tmp_path, threads=1)
    again.load()
    assert again.running_model_ == prepared and prepared.stat().st_mtime_ns == stamp


@pytest.mark.integration
def test_minilm_int8_agrees_with_the_float_graph(minilm: OnnxEmbedder, tmp_path: Path) -> None:
    int8 = OnnxEmbedder(quantize="dynamic-int8", cache_dir=tmp_path, threads=1)
    a, b = int8.embed(TEXTS[:3]), minilm.embed(TEXTS[:3])
    assert (a * b).sum(axis=1).min() > 0.97


@pytest.mark.integration
def test_minilm_truncates_long_text_and_counts_its_tokens(minilm: OnnxEmbedder) -> None:
    long_text = "protein folding " * 2000
    assert minilm.count_tokens(long_text) > 4000
    head = minilm.embed([long_text])[0]
    np.testing.assert_allclose(head, minilm.embed([long_text[:4000]])[0], atol=2e-3)
