"""The served app: :func:`create_app` assembles the FastAPI application from workflows, a
store and the ``serve:`` settings; :func:`app_from_system` does it for a `compound.yaml`;
:func:`serve` runs an app under uvicorn.

What the app serves (the OpenAPI document at ``/openapi.json`` has every schema):

* ``POST /v1/workflows/{name}`` and ``.../stream``: run a workflow, JSON or Server-Sent Events;
* ``POST /v1/chat/completions``, ``GET /v1/models``: OpenAI-compatible chat;
* ``POST /v1/feedback``, ``GET /v1/feedback``: user signals against run ids;
* ``GET /v1/runs``, ``GET /v1/runs/{id}``: recent runs, and one with its trace;
* ``GET /v1/monitoring/series``, ``GET /v1/drift``, ``POST /v1/drift/check``, ``GET
  /v1/review``: what the dashboard shows; ``/v1/keys``: API key management;
* ``/healthz``, ``/readyz``, ``/metrics`` (Prometheus), ``/dashboard``.

Example:
    >>> from fastapi.testclient import TestClient
    >>> from compound.production.serving_spec import ServeSpec
    >>> from compound.store import MemoryStore
    >>> from compound.workflow import Workflow
    >>> def shout(text: str) -> str:
    ...     return text.upper()
    >>> app = create_app({"shout": Workflow([shout], name="shout")}, store=MemoryStore(),
    ...                  spec=ServeSpec(auth=False))
    >>> with TestClient(app) as client:
    ...     client.post("/v1/workflows/shout", json={"text": "hi"}).json()["output"]
    'HI'
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI
from fastapi.responses import RedirectResponse, Response

from compound.privacy.redactor import Redactor
from compound.privacy.spec import RedactionSpec
from compound.production.feedback.log import FeedbackLog
from compound.production.monitoring.monitor import Monitor
from compound.production.serving.api_feedback import router as feedback_router
from compound.production.serving.api_openai import router as openai_router
from compound.production.serving.api_ops import router as ops_router
from compound.production.serving.api_workflows import add_workflow_routes
from compound.production.serving.api_workflows import router as runs_router
from compound.production.serving.batcher import AsyncBatcher, batch_function, batch_predictors
from compound.production.serving.chat import chat_workflow
from compound.production.serving.errors import install_handlers
from compound.production.serving.json_body import JsonBodyCheck
from compound.production.serving.keys import ApiKeys
from compound.production.serving.limits import AuthFailureLimit, BodyLimit, RateLimiter
from compound.production.serving.middleware import RequestMetrics
from compound.production.serving.runner import WorkflowRunner
from compound.production.serving.served_llm import LLMQueue, ServedLLM
from compound.production.serving.state import READ, ServingState, State
from compound.production.serving.tracer import ServingTracer
from compound.production.serving_spec import ServeSpec
from compound.store.redacting import RedactingStore
from compound.workflow.tracing import StoreSink

if TYPE_CHECKING:
    from compound.intelligence.embedders import Embedder
    from compound.intelligence.llm import LLM
    from compound.production.monitoring.quality import OnlineEvaluator
    from compound.production.rails.engine import Guard
    from compound.store.base import Store
    from compound.strategy.review import ReviewQueue
    from compound.system import System
    from compound.workflow.graph import Workflow


def served_llm(name: str, llm: LLM, spec: ServeSpec, monitor: Monitor | None = None
               ) -> ServedLLM:
    """``llm`` behind its own queue, sized by ``spec.llm_queue``."""
    gauge = monitor.metrics.llm_waiting.labels(name) if monitor is not None else None
    if isinstance(llm, ServedLLM):
        if gauge is not None and llm.queue.on_change is None:
            llm.queue.on_change = gauge.set
        return llm
    queue_spec = spec.llm_queue
    concurrency = queue_spec.concurrency or (1 if llm.provider == "embedded" else 8)
    queue = LLMQueue(name, concurrency=concurrency, max_waiting=queue_spec.max_waiting,
                     wait_timeout_s=queue_spec.wait_timeout_s,
                     on_change=gauge.set if gauge is not None else None)
    return ServedLLM(llm, queue)


def create_app(workflows: Mapping[str, Workflow], *, store: Store, spec: ServeSpec | None = None,
               llms: Mapping[str, LLM] | None = None, system: System | None = None,
               name: str = "compound", embedder: Embedder | None = None,
               evaluators: list[OnlineEvaluator] | None = None,
               redaction: RedactionSpec | None = None,
               guards: Mapping[str, Guard | None] | None = None) -> FastAPI:
    """The FastAPI app serving ``workflows`` (see the module docstring).

    Args:
        workflows: the workflows to serve, by name. Predictor steps are batched across
            concurrent requests (:mod:`~compound.production.serving.batcher`).
        store: runs, traces, feedback, keys, monitoring and alerts are kept here, behind
            the redacting layer (:mod:`~compound.store.redacting`).
        spec: the ``serve:`` settings (defaults when None).
        llms: LLMs the OpenAI-compatible endpoint may name; each gets a queue (pass the same
            objects the workflows use, wrapped by :func:`served_llm`, to share one queue).
        system: the spec the app serves, if any (its name titles the API).
        name: the API's title when no system is given.
        embedder: for drift on text inputs (default: ``serve.drift.embedder``).
        evaluators: online evaluators (default: ``serve.online_evals``).
        redaction: what the store redacts (default: the system's ``store.redact``, else on).
        guards: the rails around each workflow's runs, by name (default: for each served
            workflow ``system`` declares, the rails that guard it and that none of its steps
            uses, :func:`~compound.production.rails.steps.run_guard`).
    """
    spec = spec or ServeSpec()
    redaction = redaction or (system.store.redact if system is not None else RedactionSpec())
    store = RedactingStore.from_spec(store, redaction)
    name = system.name if system is not None else name
    instance = f"{socket.gethostname()}-{os.getpid()}"
    monitor = Monitor(store, spec, instance=instance, embedder=embedder, evaluators=evaluators)
    sinks: list[Any] = [StoreSink(store)]
    redact: Redactor | None = None
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from compound.workflow.otlp import OTLPSink

        sinks.append(OTLPSink())
        # the store redacts what it writes; spans leaving the process need it on the way
        if redaction.enabled:
            redact = Redactor(pii=redaction.pii, entities=redaction.entities)
    tracer = ServingTracer(*sinks, observe=monitor.on_span, redact=redact)
    batchers: list[AsyncBatcher[Any, Any]] = []

    def make_batcher(component: Any) -> AsyncBatcher[Any, Any]:
        model = str(getattr(component, "name", "model"))
        histogram = monitor.metrics.batch_size.labels(model)
        function = batch_function(component)
        assert function is not None
        batcher: AsyncBatcher[Any, Any] = AsyncBatcher(
            function, max_size=spec.batch.max_size,
            max_wait_s=spec.batch.max_wait_ms / 1000, on_batch=histogram.observe, name=model)
        batchers.append(batcher)
        return batcher

    served = {n: batch_predictors(flow, make_batcher) for n, flow in workflows.items()
              if not spec.workflows or n in spec.workflows}
    if guards is None and system is not None:
        from compound.production.rails.steps import run_guard

        guards = {n: run_guard(system, n, store=store) for n in served
                  if n in system.workflows}
    queued = {n: served_llm(n, llm, spec, monitor) for n, llm in (llms or {}).items()}
    runner = WorkflowRunner(
        served, store=store, tracer=tracer, timeout_s=spec.timeout_s,
        checkpoints=spec.checkpoints, listeners=[monitor.on_run_end],
        unlisted={f"chat:{n}": chat_workflow(n, llm) for n, llm in queued.items()},
        guards={n: g for n, g in (guards or {}).items() if g is not None and n in served},
        review=_review_queue(system, store))
    limiter = (RateLimiter(requests_per_s=spec.rate_limit.requests_per_s,
                           burst=spec.rate_limit.burst) if spec.rate_limit else None)
    feedback = FeedbackLog(store, find_run=runner.record_of)
    # group commit: never on the event loop (inline_below_s=0), one transaction per batch
    writer: AsyncBatcher[Any, Any] = AsyncBatcher(feedback.record_many, max_size=256,
                                                  inline_below_s=0.0, name="feedback")
    state = ServingState(spec=spec, store=store, runner=runner, monitor=monitor,
                         keys=ApiKeys(store), feedback=feedback, limiter=limiter,
                         feedback_writer=writer, llms=queued, batchers=[*batchers, writer],
                         system=system, name=name)
    from compound.version import __version__

    app = FastAPI(
        title=f"{name} (compound)", version=__version__, lifespan=_lifespan,
        description=(system.task if system is not None else "A compound AI system.")
        + "\n\nWrite endpoints need an API key: `Authorization: Bearer ck_...`.",
    )
    app.state.compound = state
    install_handlers(app)
    add_workflow_routes(app, state)
    for router in (runs_router, feedback_router, openai_router, ops_router):
        app.include_router(router)
    _add_metrics_route(app, spec)
    from compound.production.dashboard import router as dashboard_router

    app.include_router(dashboard_router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard")

    if spec.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=spec.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.add_middleware(JsonBodyCheck)  # inside BodyLimit: it only ever buffers a capped body
    app.add_middleware(BodyLimit, max_bytes=spec.max_body_bytes)
    if limiter is not None and spec.auth:
        app.add_middleware(AuthFailureLimit, limiter=limiter)
    app.add_middleware(RequestMetrics, metrics=monitor.metrics)
    return app


def _review_queue(system: System | None, store: Store) -> ReviewQueue | None:
    """Where the runs the rails around them escalate go: the system's review queue, in the
    served (redacting) store; None without a system."""
    if system is None:
        return None
    from compound.strategy.review import ReviewQueue

    return ReviewQueue.of_system(system, store)


def _add_metrics_route(app: FastAPI, spec: ServeSpec) -> None:
    dependencies = [] if spec.metrics_public else [Depends(READ)]

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response, dependencies=dependencies,
             responses={200: {"content": {"text/plain": {}}, "description": "exposition"}})
    async def metrics(state: State) -> Response:
        rendered = state.monitor.metrics
        return Response(rendered.render(), media_type=rendered.content_type)


def _warm_up(state: ServingState) -> None:
    """Load every model, index and rail the served workflows use, and have each answer once,
    before declaring the app ready (runs on a thread at startup): the first requests never
    pay, or time out on, a cold start."""
    from compound.workflow.context import RunContext
    from compound.workflow.warmup import warm_up

    for name, llm in state.llms.items():
        state.not_ready.append(f"model '{name}'")
        try:
            llm.load()
            state.not_ready.remove(f"model '{name}'")
        except Exception as exc:
            state.not_ready[-1] = f"model '{name}' failed to load: {exc}"
    for name, flow in state.runner.workflows.items():
        waiting = f"workflow '{name}' warming up"
        state.not_ready.append(waiting)
        problems = [f"workflow '{name}' step '{w.step}' failed to warm up: {w.problem}"
                    for w in warm_up(flow, ctx=RunContext(store=state.store)) if w.problem]
        state.not_ready.remove(waiting)
        state.not_ready.extend(problems)
    for name, guard in state.runner.guards.items():
        waiting = f"the rails around workflow '{name}' loading"
        state.not_ready.append(waiting)
        try:
            guard.load()  # the injection rail trains its classifier on first use
            state.not_ready.remove(waiting)
        except Exception as exc:
            state.not_ready[state.not_ready.index(waiting)] = (
                f"the rails around workflow '{name}' failed to load: {exc}")
    state.ready.set()


async def _background(state: ServingState) -> None:
    """Write monitoring every ``flush_every_s``; check the inputs and the models' behaviour
    for drift every ``check_every_s``."""
    spec = state.spec
    last_check = time.monotonic()
    while True:
        await asyncio.sleep(spec.flush_every_s)
        try:
            await asyncio.to_thread(state.monitor.flush)
            if time.monotonic() - last_check >= spec.drift.check_every_s:
                last_check = time.monotonic()
                names = list(state.runner.workflows)
                if spec.drift.enabled:
                    await asyncio.to_thread(state.monitor.check_drift, names)
                if spec.drift.behaviour.enabled:
                    await asyncio.to_thread(state.monitor.check_behaviour, names)
        except Exception as exc:  # monitoring must never take the server down
            state.monitor.metrics.record_error("monitoring", type(exc).__name__)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServingState = app.state.compound
    threading.Thread(target=_warm_up, args=(state,), name="compound-warm-up", daemon=True).start()
    task = asyncio.create_task(_background(state))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(state.monitor.flush)
        state.runner.recorder.close()
        state.runner.tracer.close()
        state.runner.close()
        for batcher in state.batchers:
            batcher.close()


def app_from_system(system: System, *, store: Store | None = None,
                    spec: ServeSpec | None = None, embedder: Embedder | None = None) -> FastAPI:
    """The app serving a loaded spec's workflows and LLMs (its ``serve:`` section unless
    ``spec`` is given), with every LLM behind one queue shared by all its uses."""
    from compound.intelligence.llm.versions import system_llm
    from compound.store import open_store
    from compound.workflow.loader import build_workflow

    spec = spec or system.serve
    store = store or open_store(system)
    llms = {n: served_llm(n, system_llm(system, n, store), spec)
            for n in system.llms()}
    shared: dict[str, Any] = {f"llm:{n}": llm for n, llm in llms.items()}
    shared["store"] = store  # the strategy's cache keeps its entries in the served store
    workflows = {n: build_workflow(system, n, shared=shared) for n in system.workflows}
    # the rails around each run share the steps' models (and their queues)
    from compound.production.rails.steps import run_guard

    guards = {n: run_guard(system, n, store=store, shared=shared) for n in workflows}
    return create_app(workflows, store=store, spec=spec, llms=llms, system=system,
                      embedder=embedder, guards=guards)


def serve(app: FastAPI, *, host: str, port: int, log_level: str = "warning") -> None:
    """Run ``app`` under uvicorn until interrupted.

    Before serving, what startup allocated (routes, schemas, models, imported modules) is
    moved out of the cyclic garbage collector's reach (``gc.freeze``) and young collections
    are made rarer: a full collection over that heap pauses every request in flight for tens
    of milliseconds, the largest source of tail latency we measured.
    """
    import uvicorn

    from compound.privacy.server_log import uvicorn_log_config

    prepare_server_process()
    loop = "uvloop" if _has("uvloop") else "asyncio"
    http = "httptools" if _has("httptools") else "h11"
    # uvicorn's own lines (a traceback quoting a request) are redacted and visible too
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False, loop=loop,
                http=http, timeout_keep_alive=15, timeout_graceful_shutdown=10,
                log_config=uvicorn_log_config(log_level))


def prepare_server_process() -> None:
    """What a serving process does once its app is built, before the first request: failures
    go to the server log by id with their detail redacted, and the startup heap is frozen
    out of the garbage collector's reach (see :func:`serve`)."""
    import gc

    from compound.privacy.errors import log_errors_to

    log_errors_to()
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None
