"""Building a BM25 index prints no library log lines into the user's output."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("bm25s")

from compound.orchestration.retrieval.lexical import LexicalIndex


def test_indexing_emits_no_bm25s_debug_records(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.NOTSET)  # a root handler that shows everything it is sent
    index = LexicalIndex()
    index.build(["a", "b"], ["how do I activate my card", "my card has not arrived"])
    assert index.search("card", 2)
    noisy = [r for r in caplog.records
             if r.name.startswith("bm25s") and r.levelno < logging.WARNING]
    assert noisy == [], [r.getMessage() for r in noisy]
