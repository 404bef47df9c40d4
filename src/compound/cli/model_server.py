"""`compound serve-model`: llama.cpp's OpenAI-compatible server running a GGUF model here (by
default the embedded Qwen2.5-Coder-0.5B-Instruct), for systems that reach their LLM with ``provider:
openai``, as they would reach vLLM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from compound.cli import app
from compound.console import console, console_err, styled
from compound.intelligence.llm.model_server import DEFAULT_ALIAS


@app.command("serve-model")
def serve_model_command(
    model: Annotated[Path | None, typer.Argument(
        help="a GGUF file, or an embedded model's name, e.g. "
        "gemma-3-270m-q4_k_m (default: the embedded default, Qwen2.5-Coder-0.5B-Instruct)")] = None,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8080,
    alias: Annotated[str, typer.Option(help="the model id clients send ('model:' in the "
                                            "spec)")] = DEFAULT_ALIAS,
    n_ctx: Annotated[int, typer.Option("--n-ctx", min=128, help="context length in "
                                                                "tokens")] = 2048,
    threads: Annotated[int | None, typer.Option(
        min=1, help="CPU threads (default: half the cores, at most 8)")] = None,
    chat_format: Annotated[str | None, typer.Option(
        help="llama.cpp chat format (default: the GGUF's template, else llama.cpp's "
        "fallback)")] = None,
    api_key_env: Annotated[str | None, typer.Option(
        help="an environment variable holding a key clients must send")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level")] = "warning",
) -> None:
    """Run llama.cpp's OpenAI-compatible server (llama-cpp-python's server) and print the
    compound.yaml lines that use it through 'provider: openai'."""
    import os

    from compound.errors import UserError, require
    from compound.intelligence.llm.model_server import ModelServer

    require("uvicorn", extra="model-server", what="compound serve-model")
    api_key = None
    if api_key_env is not None:
        api_key = os.environ.get(api_key_env)
        if not api_key:
            raise UserError(f"--api-key-env {api_key_env}: ${api_key_env} is not set; export "
                            "the key clients will send, or leave the option out")
    from compound.production.serving.address import check_can_listen

    check_can_listen(host, port)  # before the model loads
    server = ModelServer(model_path=model, alias=alias, host=host, port=port, n_ctx=n_ctx,
                         threads=threads, chat_format=chat_format, api_key=api_key)
    path = server.model_file()
    console_err.print(styled("loading {path} ...", path=str(path)))
    application = server.app()
    lines = server.spec_lines()
    if api_key_env is not None:
        lines = lines.replace("MODEL_SERVER_KEY", api_key_env)
    console_err.print(styled("serving [bold]{alias}[/] at {url} (OpenAI-compatible); use it "
                             "from a compound.yaml with:", alias=alias, url=server.base_url()))
    console.print(lines, markup=False, highlight=False)
    import uvicorn

    uvicorn.run(application, host=host, port=port, log_level=log_level, access_log=False)
