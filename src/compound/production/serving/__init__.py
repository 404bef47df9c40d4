"""Serving a compound system over HTTP: FastAPI under uvicorn.

* :mod:`.app`: the app (:func:`create_app`, :func:`app_from_system`, :func:`serve`);
* :mod:`.runner`, :mod:`.events`, :mod:`.tracer`: runs, live step and token events;
* :mod:`.api_workflows`, :mod:`.api_openai`, :mod:`.api_feedback`, :mod:`.api_ops`: endpoints;
* :mod:`.keys`, :mod:`.state`, :mod:`.limits`, :mod:`.errors`, :mod:`.middleware`: API keys,
  scopes, body and rate limits, error responses, request metrics;
* :mod:`.batcher`, :mod:`.served_llm`: ML predictions batched across requests, LLMs behind a
  queue;
* :mod:`.address`: whether this machine can listen where a server is asked to.

Names are imported on first use: FastAPI loads only when something here is used.
"""

import typing as _typing

from compound.lazy import attach as _attach

_EXPORTS = {
    "create_app": "compound.production.serving.app",
    "app_from_system": "compound.production.serving.app",
    "serve": "compound.production.serving.app",
    "ApiKeys": "compound.production.serving.keys",
    "AsyncBatcher": "compound.production.serving.batcher",
    "LLMQueue": "compound.production.serving.served_llm",
    "ServedLLM": "compound.production.serving.served_llm",
    "WorkflowRunner": "compound.production.serving.runner",
}

__all__ = [
    "ApiKeys",
    "AsyncBatcher",
    "LLMQueue",
    "ServedLLM",
    "WorkflowRunner",
    "app_from_system",
    "create_app",
    "serve",
]

if _typing.TYPE_CHECKING:
    from compound.production.serving.app import app_from_system, create_app, serve
    from compound.production.serving.batcher import AsyncBatcher
    from compound.production.serving.keys import ApiKeys
    from compound.production.serving.runner import WorkflowRunner
    from compound.production.serving.served_llm import LLMQueue, ServedLLM


__getattr__, __dir__ = _attach(__name__, _EXPORTS)
