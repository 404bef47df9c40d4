"""A small client for sending user signals to a served compound system.

Each method sends one signal to ``POST /v1/feedback`` and returns the stored record once the
server has committed it (its ``id`` and ``ts``), or raises :class:`FeedbackRejected` with the
server's message (an unknown run, a wrong value, a missing key).

Example:
    >>> from fastapi import FastAPI
    >>> from fastapi.testclient import TestClient
    >>> app = FastAPI()
    >>> @app.post("/v1/feedback", status_code=201)
    ... def feedback(body: dict) -> dict:
    ...     return {**body, "id": 1, "ts": 0.0}
    >>> client = FeedbackClient("http://test", http=TestClient(app))
    >>> client.thumbs("ab" * 16, up=True)["value"]
    'up'
"""

from __future__ import annotations

from typing import Any, Literal

import httpx

from compound.errors import RuntimeFailure
from compound.intelligence.llm.bounded_http import bounded_client
from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import LLMError


class FeedbackRejected(RuntimeFailure):
    """The server did not accept a signal; ``status`` and ``message`` say why."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"the server refused the signal ({status}): {message}")


class FeedbackClient:
    """Records user signals against run ids.

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``.
        api_key: a key with the ``write`` scope (None when the server runs without auth).
        timeout_s: the longest one request may take, all of it (a server that trickles its
            answer is given up at that time).
        http: an ``httpx.Client`` to send with (tests pass a ``TestClient``).
    """

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout_s: float = 10.0,
                 http: httpx.Client | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = http or bounded_client(httpx, timeout_s=timeout_s, base_url=base_url)
        self._headers = headers
        self.base_url = base_url
        self.timeout_s = timeout_s

    def send(self, run_id: str, kind: str, value: Any = None, **fields: Any) -> dict[str, Any]:
        """Send one signal of any kind; returns the stored record.

        Raises:
            FeedbackRejected: the server answered with an error.
        """
        body = {"run_id": run_id, "kind": kind, **fields}
        if value is not None:
            body["value"] = value
        with Deadline.scope(self.timeout_s, label=f"{self.timeout_s:g}s"):
            try:
                response = self._http.post("/v1/feedback", json=body, headers=self._headers)
            except LLMError as exc:  # the deadline passed, whatever the server was doing
                raise RuntimeFailure(
                    f"the server at {self.base_url} did not answer a signal within "
                    f"{self.timeout_s:g}s (connection, first byte and whole answer); check "
                    "that it runs and is not overloaded, or raise timeout_s") from exc
        if response.status_code != 201:
            try:
                message = response.json()["error"]["message"]
            except Exception:
                message = response.text[:500]
            raise FeedbackRejected(response.status_code, message)
        data: dict[str, Any] = response.json()
        return data

    def thumbs(self, run_id: str, *, up: bool, **fields: Any) -> dict[str, Any]:
        return self.send(run_id, "thumbs", "up" if up else "down", **fields)

    def rate(self, run_id: str, rating: int, **fields: Any) -> dict[str, Any]:
        return self.send(run_id, "rating", rating, **fields)

    def edit(self, run_id: str, edited: str, **fields: Any) -> dict[str, Any]:
        return self.send(run_id, "edit", edited, **fields)

    def retry(self, run_id: str, *, new_run_id: str | None = None, **fields: Any
              ) -> dict[str, Any]:
        if new_run_id is not None:
            fields["new_run_id"] = new_run_id
        return self.send(run_id, "retry", **fields)

    def suggestion(self, run_id: str, outcome: Literal["accepted", "ignored"], **fields: Any
                   ) -> dict[str, Any]:
        return self.send(run_id, "suggestion", outcome, **fields)

    def comment(self, run_id: str, text: str, **fields: Any) -> dict[str, Any]:
        return self.send(run_id, "comment", text, **fields)

    def correct(self, run_id: str, value: str | int | float, *, step: str | None = None,
                **fields: Any) -> dict[str, Any]:
        """The right label (or number) for the prediction of ``step``."""
        if step is not None:
            fields["step"] = step
        return self.send(run_id, "correction", value, **fields)

    def close(self) -> None:
        self._http.close()
