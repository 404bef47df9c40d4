"""A real model server for the ``openai`` provider: llama.cpp's OpenAI-compatible server
(``llama_cpp.server`` from ``llama-cpp-python[server]``) running a GGUF file on this machine,
by default the embedded Qwen2.5-Coder-0.5B-Instruct. `compound serve-model` runs it.

A system then uses it as it would use vLLM, or OpenAI itself, through ``provider: openai``
(:func:`spec_lines` prints the lines):

    models:
      llm:
        provider: openai
        base_url: http://127.0.0.1:8080/v1
        model: qwen2.5-coder-0.5b

The model is loaded before the server listens, so a server that answers ``GET /v1/models``
is ready. llama.cpp runs one generation at a time per model; more concurrent calls wait.

The default model is instruction-tuned and its GGUF carries its chat template, which the
server applies to chat messages. A *base* model (``gemma-3-270m-q4_k_m``) carries none, so
llama.cpp wraps the messages in its fallback template: prompt it as a document to continue (a
few Question/Answer pairs, then the question) with ``temperature: 0``.

Example:
    >>> server = ModelServer(port=8081)
    >>> print(server.spec_lines())
    models:
      llm:
        provider: openai
        base_url: http://127.0.0.1:8081/v1
        model: qwen2.5-coder-0.5b
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compound.errors import UserError, require

if TYPE_CHECKING:
    from fastapi import FastAPI

DEFAULT_ALIAS = "qwen2.5-coder-0.5b"
DEFAULT_PORT = 8080


def default_threads() -> int:
    """Half the cores, at most 8: generation is bound by memory bandwidth, and the other half
    is left to the servers calling the model."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


@dataclass(frozen=True)
class ModelServer:
    """How to run llama.cpp's server.

    Args:
        model_path: a GGUF file, or the name of an embedded model
            (:data:`~compound.intelligence.llm.catalogue.CATALOGUE`); None: the embedded
            Qwen2.5-Coder-0.5B-Instruct.
        alias: the model id clients send (``model:`` in the spec).
        host, port: where it listens; 127.0.0.1 unless other machines must reach it.
        n_ctx: context length in tokens.
        threads: CPU threads for generation (default: :func:`default_threads`).
        chat_format: llama.cpp's chat format name; None: the GGUF's own template, else
            llama.cpp's fallback.
        api_key: a key clients must send (``Authorization: Bearer``); None: no key.
    """

    model_path: Path | None = None
    alias: str = DEFAULT_ALIAS
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    n_ctx: int = 2048
    threads: int | None = None
    chat_format: str | None = None
    api_key: str | None = None

    def model_file(self) -> Path:
        """The GGUF file to serve (the embedded one is assembled from its package once)."""
        if self.model_path is None:
            from compound.intelligence.llm.embedded import default_model_path

            return default_model_path()
        from compound.intelligence.llm.catalogue import CATALOGUE, model_file

        path = self.model_path.expanduser()
        if not path.is_file() and str(self.model_path) in CATALOGUE:
            return model_file(str(self.model_path))  # a catalogue name, not a file
        if not path.is_file():
            raise UserError(f"no GGUF model file at {path}; give the path of a .gguf file, or "
                            "leave the path out to serve the embedded default model")
        return path

    def app(self) -> FastAPI:
        """llama.cpp's FastAPI app, its model loaded."""
        require("sse_starlette", extra="model-server", what="compound serve-model")
        require("starlette_context", extra="model-server", what="compound serve-model")
        require("pydantic_settings", extra="model-server", what="compound serve-model")
        from llama_cpp.server.app import create_app
        from llama_cpp.server.settings import ModelSettings, ServerSettings

        threads = self.threads or default_threads()
        model: dict[str, Any] = {"model": str(self.model_file()), "model_alias": self.alias,
                                 "n_ctx": self.n_ctx, "n_threads": threads,
                                 "n_threads_batch": threads, "verbose": False}
        if self.chat_format:
            model["chat_format"] = self.chat_format
        server = ServerSettings(host=self.host, port=self.port, api_key=self.api_key)
        return create_app(server_settings=server,  # type: ignore[no-any-return]
                          model_settings=[ModelSettings(**model)])

    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/v1"

    def spec_lines(self) -> str:
        """The ``models:`` lines of a compound.yaml that uses this server."""
        lines = ["models:", "  llm:", "    provider: openai", f"    base_url: {self.base_url()}",
                 f"    model: {self.alias}"]
        if self.api_key:
            lines.append("    api_key_env: MODEL_SERVER_KEY   # holding the server's key")
        return "\n".join(lines)

    def run(self, *, log_level: str = "warning") -> None:
        """Serve until interrupted."""
        import uvicorn

        uvicorn.run(self.app(), host=self.host, port=self.port, log_level=log_level,
                    access_log=False)
